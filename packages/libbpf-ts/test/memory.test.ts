// releaseFreeMemory: the pages of freed allocations that the allocator kept (free chunks between
// live ones, which glibc does not give back by itself) go back to the kernel.
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import t from 'tap';
import { releaseFreeMemory } from '../src/index.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function rssMiB(): number {
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  return Number(kb) / 1024;
}

t.test('free chunks between live ones are released', async (t) => {
  // 128 MiB in 32 KiB buffers (under malloc's mmap threshold: from the heap), one in eight kept.
  let all: Buffer[] = [];
  for (let i = 0; i < 4096; i++) all.push(Buffer.allocUnsafeSlow(32 << 10).fill(i));
  const kept = all.filter((_, i) => i % 8 === 0);
  all = [];
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  const before = rssMiB();
  const released = releaseFreeMemory();
  const after = rssMiB();
  t.comment(`RSS ${before.toFixed(0)} → ${after.toFixed(0)} MiB, ${kept.length} buffers kept`);
  t.equal(released, true, 'pages went back');
  t.ok(before - after >= 64, `at least half of the 112 MiB freed is returned (${(before - after).toFixed(0)} MiB)`);
  t.equal(kept[5]![100], 40, 'live buffers untouched');
});
