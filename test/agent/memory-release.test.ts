// The agent's periodic release of free C heap pages: counted, timed, and what it gave back measured.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import t from 'tap';
import { FreeMemoryReleaser, fixMmapThreshold } from '../../src/agent/memory-release.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

t.test('each release is counted with its time and the RSS it gave back', async (t) => {
  const r = new FreeMemoryReleaser();
  // Garbage in the C heap: 64 MiB of 32 KiB buffers (below malloc's mmap threshold), one in eight kept.
  let all = Array.from({ length: 2048 }, (_, i) => Buffer.allocUnsafeSlow(32 << 10).fill(i));
  const kept = all.filter((_, i) => i % 8 === 0);
  all = [];
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((res) => setImmediate(res));
  }
  r.releaseNow();
  r.releaseNow();
  const s = r.stats();
  t.equal(s.free_memory_releases, 2);
  t.ok(s.free_memory_released_bytes_total >= 32 << 20, `${(s.free_memory_released_bytes_total / 2 ** 20).toFixed(0)} MiB of the 56 MiB freed given back`);
  t.equal(kept[3]![0], 24, 'what is in use stays');
});

t.test('start and stop: the timer runs between them only', async (t) => {
  const r = new FreeMemoryReleaser();
  r.start(20);
  await new Promise((res) => setTimeout(res, 110));
  r.stop();
  const n = r.stats().free_memory_releases;
  t.ok(n >= 2, `${n} releases in ~110 ms at one every 20 ms`);
  await new Promise((res) => setTimeout(res, 60));
  t.equal(r.stats().free_memory_releases, n, 'none after stop');
});

t.test('each release first has the agent\'s pools let go of their unused spares', async (t) => {
  let spares = 0;
  const r = new FreeMemoryReleaser(() => spares++);
  r.releaseNow();
  r.releaseNow();
  t.equal(spares, 2, 'once per release');
  t.equal(r.stats().free_memory_releases, 2);
});

t.test('the mmap threshold is fixed unless the environment sets one for glibc', (t) => {
  t.equal(fixMmapThreshold({ MALLOC_MMAP_THRESHOLD_: '262144' }), false, "the environment's own threshold stands");
  t.equal(fixMmapThreshold({}), true);
  t.end();
});
