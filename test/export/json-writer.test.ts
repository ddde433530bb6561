// JsonWriter's number writers against what JavaScript prints for the same values.
import t from 'tap';
import { JsonWriter } from '../../src/export/json-writer.js';
import { XorShift32 } from '../helpers/prng.js';

function written(f: (w: JsonWriter) => void, w = new JsonWriter(64)): string {
  w.reset();
  f(w);
  return Buffer.from(w.written()).toString('latin1');
}

t.test('nanos writes the digits String(bigint) does, from a kept second or afresh', async (t) => {
  const w = new JsonWriter(64);
  const now = 1_796_000_000_123_456_789n;
  const cases = [0n, 1n, 999_999_999n, 1_000_000_000n, now, now + 1n, now - 1n, now + 999_999_999n, now + 86_400_000_000_000n,
    now + 20n * 86_400_000_000_000n, now - 5n * 1_000_000_000n, 18_446_744_073_709_551_615n, 1_000_000_000_000_000_000n];
  for (const v of cases) t.equal(written((x) => x.nanos(v), w), String(v), String(v));
  // Times as spans bring them: near each other, now and then far apart or going back.
  const rng = new XorShift32(0x5eed);
  let mismatches = 0;
  let at = now;
  for (let i = 0; i < 20_000; i++) {
    const step = BigInt(rng.int(2_000_000_000)) - (rng.chance(0.1) ? 1_500_000_000n : 0n);
    at = rng.chance(0.001) ? BigInt(rng.next()) * BigInt(rng.next()) * BigInt(rng.int(4_000_000)) : at + step;
    if (at < 0n) at = -at;
    if (written((x) => x.nanos(at), w) !== String(at)) mismatches++;
  }
  t.equal(mismatches, 0, 'every time of a random walk written as String() writes it');
  t.equal(written((x) => x.raw('"').nanos(now).raw('","').nanos(now + 1_000n).raw('"'), w), `"${now}","${now + 1_000n}"`, 'amid other text');
});
