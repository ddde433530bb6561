// Stream reassembly: order, duplicates, overlaps, holes, skip markers and end-of-stream totals.
import t from 'tap';
import { StreamAssembler } from '../../src/collectors/sockets/stream.js';
import { XorShift32 } from '../helpers/prng.js';

function recorder() {
  const out: Array<string> = [];
  const asm = new StreamAssembler({
    data: (b) => out.push(`d:${Buffer.from(b).toString()}`),
    gap: (n) => out.push(`g:${n}`),
  }, 16, 4);
  return { out, asm };
}
const b = (s: string): Uint8Array => Buffer.from(s);

t.test('in-order chunks pass straight through, joining mid-stream', async (t) => {
  const { out, asm } = recorder();
  asm.chunk(1000, b('abc'), 1n);
  asm.chunk(1003, b('def'), 2n);
  t.same(out, ['d:abc', 'd:def']);
});

t.test('out-of-order chunks are reordered', async (t) => {
  const { out, asm } = recorder();
  asm.chunk(0, b('ab'), 1n);
  asm.chunk(4, b('ef'), 3n);
  asm.chunk(2, b('cd'), 2n);
  t.same(out, ['d:ab', 'd:cd', 'd:ef']);
  t.equal(asm.stats.reordered, 1);
});

t.test('duplicates are dropped and overlaps trimmed', async (t) => {
  const { out, asm } = recorder();
  asm.chunk(0, b('abcd'), 1n);
  asm.chunk(0, b('ab'), 1n);
  asm.chunk(2, b('cdef'), 2n);
  t.same(out, ['d:abcd', 'd:ef']);
  t.equal(asm.stats.duplicates, 1);
});

t.test('a hole becomes a gap once the window is exceeded', async (t) => {
  const { out, asm } = recorder();
  asm.chunk(0, b('a'), 1n);
  for (let i = 0; i < 5; i++) asm.chunk(10 + i, b(String(i)), 2n); // 5 held > window of 4
  t.same(out.slice(0, 3), ['d:a', 'g:9', 'd:0']);
  t.same(out.slice(3), ['d:1', 'd:2', 'd:3', 'd:4']);
  t.equal(asm.stats.bytesGap, 9);
  t.equal(asm.pendingBytes, 0);
});

t.test('window bounded by bytes too', async (t) => {
  const { out, asm } = recorder();
  asm.chunk(0, b('a'), 1n);
  asm.chunk(5, b('0123456789'), 2n);
  asm.chunk(15, b('0123456789'), 3n); // 20 bytes held > 16
  t.same(out, ['d:a', 'g:4', 'd:0123456789', 'd:0123456789']);
});

t.test('skip markers are gaps of known size, in order', async (t) => {
  const { out, asm } = recorder();
  asm.chunk(0, b('HEAD'), 1n);
  asm.skip(4, 5_000_000, 2n);
  asm.chunk(5_000_004, b('next'), 3n);
  t.same(out, ['d:HEAD', 'g:5000000', 'd:next']);
});

t.test('end() flushes held chunks and reports the uncaptured tail from the kernel total', async (t) => {
  const { out, asm } = recorder();
  asm.chunk(0, b('ab'), 1n);
  asm.chunk(4, b('ef'), 2n);
  asm.end(10, 3n);
  t.same(out, ['d:ab', 'g:2', 'd:ef', 'g:4']);
});

t.test('empty chunks and a stream that never started', async (t) => {
  const { out, asm } = recorder();
  asm.chunk(0, b(''), 1n);
  asm.end(100, 2n);
  t.same(out, [], 'no position known: nothing to report');
});

t.test('an assembler started over, whatever it held or counted, assembles as a new one', async (t) => {
  const r = new XorShift32(0x57a7);
  for (let round = 0; round < 200; round++) {
    // Random chunks of a stream: in order, reordered, duplicated, with holes and skip markers.
    const steps = Array.from({ length: 1 + r.int(12) }, () => ({ position: r.int(60), length: r.int(9), skip: r.chance(0.1) }));
    const feed = (asm: StreamAssembler, list: typeof steps): void => {
      list.forEach((s, i) => (s.skip ? asm.skip(s.position, s.length, BigInt(i)) : asm.chunk(s.position, Buffer.alloc(s.length, 97 + (i % 26)), BigInt(i))));
    };
    const used = recorder();
    feed(used.asm, steps);
    used.asm.startOver();
    used.out.length = 0;
    const fresh = recorder();
    const next = steps.slice(r.int(steps.length));
    feed(used.asm, next);
    feed(fresh.asm, next);
    used.asm.end(70, 99n);
    fresh.asm.end(70, 99n);
    t.same([used.out, used.asm.stats], [fresh.out, fresh.asm.stats], `round ${round}`);
  }
});
