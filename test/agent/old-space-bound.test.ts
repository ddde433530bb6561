// The agent's bound on V8's old generation: a full GC once it grew by half of what the last one left
// (8 MiB at least), not before; V8's own full GCs move the mark; and the real collector empties the
// old space of garbage.
import t, { type Test } from 'tap';
import { OldSpaceBound, fullGc, oldSpaceUsed } from '../../src/agent/old-space-bound.js';

const MiB = 1 << 20;

/**
 * A bound over a pretend old space that starts at `usedMiB` and is left at `leftMiB` by a full GC;
 * then, step by step, the old space is set to a size, checked, and the full GCs run so far compared.
 */
function pretendHeap(t: Test, usedMiB: number, leftMiB: number, steps: Array<[usedMiB: number, collections: number, what: string]>): OldSpaceBound {
  let used = usedMiB * MiB;
  let collections = 0;
  const bound = new OldSpaceBound(() => {
    collections++;
    used = leftMiB * MiB;
  }, () => used, 8 * MiB);
  bound.start(60_000);
  t.teardown(() => bound.stop());
  for (const [mib, expected, what] of steps) {
    used = mib * MiB;
    bound.check();
    t.equal(collections, expected, what);
  }
  return bound;
}

t.test('little live: a full GC once the old space grew by 8 MiB since the last one', async (t) => {
  const bound = pretendHeap(t, 10, 11, [
    [17, 0, 'grown by 7 MiB: nothing run'],
    [18, 1, 'grown by 8 MiB: one full GC'],
    [18, 1, 'measured from what the GC left (11 MiB): not yet'],
    [6, 1, 'V8 collected by itself'],
    [14, 2, 'V8\'s own collection moved the mark down (6 MiB): 8 MiB over it runs one'],
  ]);
  t.equal(bound.stats().old_space_collections, 2, 'each one counted');
});

t.test('much live: the growth waited for is half of it', async (t) => {
  pretendHeap(t, 100, 110, [
    [149, 0, '100 MiB live, grown by 49: nothing run'],
    [150, 1, 'grown by 50: one full GC'],
  ]);
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
