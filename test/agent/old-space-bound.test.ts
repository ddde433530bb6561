// The agent's bound on V8's old generation: a full GC once it grew by half of what the last one left
// (8 MiB at least),
// not before; V8's own full GCs move the mark; and the real collector empties the old space of garbage.
import t from 'tap';
import { OldSpaceBound, fullGc, oldSpaceUsed } from '../../src/agent/old-space-bound.js';

const MiB = 1 << 20;

t.test('a full GC once the old space grew by the bound, measured from the last one', async (t) => {
  // Little live (half of it under 8 MiB): the growth waited for is 8 MiB.
  let used = 10 * MiB;
  let collections = 0;
  const b = new OldSpaceBound(() => {
    collections++;
    used = 11 * MiB; // what was live
  }, () => used, 8 * MiB);
  b.start(60_000);
  t.teardown(() => b.stop());
  used = 17 * MiB;
  b.check();
  t.equal(collections, 0, 'grown by 7 MiB: nothing run');
  used = 18 * MiB;
  b.check();
  t.equal(collections, 1, 'grown by 8 MiB: one full GC');
  used = 18 * MiB;
  b.check();
  t.equal(collections, 1, 'measured from what the GC left (11 MiB): not yet');
  used = 6 * MiB; // V8 collected by itself
  b.check();
  used = 14 * MiB;
  b.check();
  t.equal(collections, 2, 'V8\'s own collection moved the mark down (6 MiB): 8 MiB over it runs one');
  // Much live: the growth waited for is half of it.
  used = 100 * MiB;
  let left = 100 * MiB;
  const big = new OldSpaceBound(() => {
    collections++;
    used = left;
  }, () => used, 8 * MiB);
  big.start(60_000);
  t.teardown(() => big.stop());
  used = 149 * MiB;
  big.check();
  t.equal(collections, 2, '100 MiB live, grown by 49: nothing run');
  used = 150 * MiB;
  left = 110 * MiB;
  big.check();
  t.equal(collections, 3, 'grown by half of it: one full GC');
  t.equal(b.stats().old_space_collections, 2, 'each one counted');
});

t.test('without a collector it does nothing', async (t) => {
  const b = new OldSpaceBound(null, () => 100 * MiB, 1);
  b.start(1);
  b.check();
  b.stop();
  t.same(b.stats(), { old_space_collections: 0, old_space_collect_ms_total: 0 });
});

t.test('the real collector: promoted garbage leaves the old space', async (t) => {
  const gc = fullGc();
  t.type(gc, 'function', 'a full GC is at hand in this Node');
  // Objects that survive two young-generation GCs are promoted; then dropped, they are garbage there.
  let held: object[] = Array.from({ length: 300_000 }, (_, i) => ({ i, s: `x${i}` }));
  for (let i = 0; i < 3; i++) Array.from({ length: 200_000 }, (_, j) => ({ j })); // young-generation GCs meanwhile
  const withGarbage = oldSpaceUsed();
  t.equal(held.length, 300_000, 'held until now');
  held = [];
  gc!();
  t.ok(oldSpaceUsed() < withGarbage - 8 * MiB, `old space ${(withGarbage / MiB).toFixed(0)} → ${(oldSpaceUsed() / MiB).toFixed(0)} MiB`);
});
