// setMmapThreshold: blocks over the threshold are mmapped, also after a larger block was freed
// (which by glibc's own policy raises the threshold). In a file of its own: malloc serves a block
// from free heap space before it considers mmap, and another test's freed heap would take these.
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import t from 'tap';
import { setMmapThreshold } from '../src/index.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Resident KiB of the main heap ([heap], brk): where malloc's blocks under the mmap threshold live. */
function heapKiB(): number {
  let kib = 0;
  let inHeap = false;
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) inHeap = line.endsWith('[heap]');
    else if (inHeap && line.startsWith('Rss:')) kib += Number(/(\d+)/.exec(line)![1]);
  }
  return kib;
}

t.test('setMmapThreshold: large blocks stay out of the heap, also after a larger one was freed', async (t) => {
  t.equal(setMmapThreshold(0), false, 'nothing set for 0');
  t.equal(setMmapThreshold(64 << 20), false, 'nothing set past 32 MiB');
  t.throws(() => setMmapThreshold('1' as unknown as number), /setMmapThreshold/);
  t.equal(setMmapThreshold(128 << 10), true);
  // glibc by itself would now raise its threshold to 4 MiB, and the 512 KiB blocks below would
  // come from the heap.
  let big: Buffer | null = Buffer.allocUnsafeSlow(4 << 20).fill(1);
  t.equal(big[0], 1);
  big = null;
  gc();
  await new Promise((r) => setImmediate(r));
  const before = heapKiB();
  const blocks = Array.from({ length: 64 }, (_, i) => Buffer.allocUnsafeSlow(512 << 10).fill(i));
  const grown = heapKiB() - before;
  t.comment(`[heap] ${before} KiB, +${grown} KiB after 32 MiB in 512 KiB blocks`);
  t.ok(grown < 4096, `the heap did not take the 32 MiB (+${grown} KiB)`);
  t.equal(blocks[63]![0], 63);
});
