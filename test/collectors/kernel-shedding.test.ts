// What user space writes into the kernel's shed_control (bpf/include/pairing.h): the share, when
// shedding begins (a margin past the write, so that a request one end kept before it is kept at
// the other too) and until when decisions left for the other end are still looked up.
import t from 'tap';
import { KernelShedShare } from '../../src/collectors/sockets/kernel-shedding.js';

/** A stand-in for the shed_control map: keeps what was written. */
function fakeMap() {
  const writes: Array<{ share: number; since: bigint; until: bigint; budget: number }> = [];
  const map = {
    typed: () => ({
      set: (_k: number, v: Buffer) => writes.push({ share: v.readUInt32LE(0), since: v.readBigUInt64LE(8), until: v.readBigUInt64LE(16), budget: v.readUInt32LE(24) }),
    }),
  };
  return { map: map as unknown as ConstructorParameters<typeof KernelShedShare>[0], writes };
}

/** A KernelShedShare writing to fakeMap, on a clock the test moves (`clock.now`, ns). */
function shareOnFakeMap() {
  const { map, writes } = fakeMap();
  const clock = { now: 5_000_000_000n };
  return { k: new KernelShedShare(map, () => clock.now), writes, clock };
}

t.test('shedding begins 10 ms after the write, ends with 2 s of look-ups, writes only changes', async (t) => {
  const { k, writes, clock } = shareOnFakeMap();
  k.keep(1);
  t.equal(writes.length, 0, 'keeping everything: nothing to write');
  k.keep(0.25);
  t.same(writes.at(-1), { share: 49152, since: clock.now + 10_000_000n, until: 0n, budget: 0 }, 'three quarters shed, from 10 ms on');
  const began = clock.now + 10_000_000n;
  clock.now += 1_000_000_000n;
  k.keep(0.5);
  t.same(writes.at(-1), { share: 32768, since: began, until: 0n, budget: 0 }, 'the share moves: shedding did not begin again');
  const written = writes.length;
  k.keep(0.5);
  t.equal(writes.length, written, 'the same share: no write');
  clock.now += 1_000_000_000n;
  k.keep(1);
  t.same(writes.at(-1), { share: 0, since: began, until: clock.now + 2_000_000_000n, budget: 0 }, 'shedding ends: decisions looked up for 2 s more');
  clock.now += 5_000_000_000n;
  k.keep(0.9);
  t.equal(writes.at(-1)!.since, clock.now + 10_000_000n, 'shedding begins again: a new start, 10 ms on');
  t.same(k.stats(), { kernel_shed_percent: 10, kernel_shed_share_updates: 4 });
  // A program may read the value while it is copied: each new share must find its times written.
  for (let i = 1; i < writes.length; i++) {
    const [before, after] = [writes[i - 1]!, writes[i]!];
    if (after.share !== before.share) t.same([after.since, after.until], [before.since, before.until], `write ${i}: the share changes alone`);
  }
});

t.test('a span budget: requests per quarter second, set once, shedding begins with it', async (t) => {
  const { k, writes, clock } = shareOnFakeMap();
  k.budget(0);
  t.equal(writes.length, 0, 'no budget: nothing to write');
  k.budget(201);
  t.same(writes.at(-1), { share: 0, since: clock.now + 10_000_000n, until: 0n, budget: 51 }, '201 a second: 51 a quarter second, from 10 ms on');
  const began = clock.now + 10_000_000n;
  clock.now += 1_000_000_000n;
  k.keep(0.5);
  t.same(writes.at(-1), { share: 32768, since: began, until: 0n, budget: 51 }, 'a share with the budget: shedding did not begin again');
  const written = writes.length;
  k.budget(201);
  t.equal(writes.length, written, 'the same budget: no write');
});
