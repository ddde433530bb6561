// CallPairer: entries and returns of many goroutines interleaved pair by goroutine (process, g,
// probe); a goroutine's recursive calls pair last-in first-out; returns with no entry and entries
// pushed out by the bound are counted, the oldest open entry going first.
import t from 'tap';
import { type Call, CallPairer } from '../../../src/collectors/dynlog/calls.js';
import type { DynlogEvent } from '../../../src/collectors/dynlog/decode.js';
import { XorShift32 } from '../../helpers/prng.js';

let clock = 0n;
/** An entry or return of probe `probeId` on goroutine `g` of process `pid`, at the next tick. */
function ev(g: number, isReturn: boolean, probeId = 1, pid = 100): DynlogEvent {
  clock += 1000n;
  return { tsNs: clock, g: 0xc000000000n + BigInt(g), goid: BigInt(g), spanTag: 0n, pid, tid: pid + (g % 4), probeId, isReturn, slots: [] };
}
const entry = (g: number, probeId?: number, pid?: number): DynlogEvent => ev(g, false, probeId, pid);
const exit = (g: number, probeId?: number, pid?: number): DynlogEvent => ev(g, true, probeId, pid);

t.test('50 goroutines, returns in a shuffled order: each return pairs with its own entry', async (t) => {
  const rng = new XorShift32(0xca115);
  const p = new CallPairer();
  const entries = new Map<number, DynlogEvent>();
  for (let g = 0; g < 50; g++) {
    const e = entry(g);
    entries.set(g, e);
    t.equal(p.add(e), null, 'an entry is held');
  }
  t.equal(p.open, 50);
  const order = Array.from({ length: 50 }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const wrong: string[] = [];
  for (const g of order) {
    const r = exit(g);
    const call = p.add(r);
    if (call?.entry !== entries.get(g) || call?.exit !== r) wrong.push(`g${g}`);
  }
  t.same(wrong, [], 'every call made of its goroutine\'s entry and return');
  t.same(p.stats, { paired: 50, unmatchedReturns: 0, evictedEntries: 0 });
  t.equal(p.open, 0);
});

t.test('the same g in another process, or another probe on the same g, is another call', async (t) => {
  const p = new CallPairer();
  const a = entry(1, 1, 100);
  const b = entry(1, 1, 200);
  const c = entry(1, 2, 100);
  [a, b, c].forEach((e) => p.add(e));
  t.equal(p.add(exit(1, 2, 100))?.entry, c);
  t.equal(p.add(exit(1, 1, 200))?.entry, b);
  t.equal(p.add(exit(1, 1, 100))?.entry, a);
  t.equal(p.open, 0);
});

t.test('recursive calls on one goroutine pair last-in first-out', async (t) => {
  const p = new CallPairer();
  const outer = entry(7);
  const middle = entry(7);
  const inner = entry(7);
  [outer, middle, inner].forEach((e) => p.add(e));
  const calls = [exit(7), exit(7), exit(7)].map((r) => p.add(r) as Call);
  t.same(calls.map((c) => c.entry), [inner, middle, outer]);
  t.ok(calls.every((c) => c.exit.tsNs > c.entry.tsNs), 'each call ends after it starts');
  t.same(p.stats, { paired: 3, unmatchedReturns: 0, evictedEntries: 0 });
});

t.test('a return whose entry was never seen is counted, and pairs nothing', async (t) => {
  const p = new CallPairer();
  t.equal(p.add(exit(3)), null);
  p.add(entry(4));
  t.equal(p.add(exit(3)), null, 'another goroutine\'s entry is not taken');
  t.same(p.stats, { paired: 0, unmatchedReturns: 2, evictedEntries: 0 });
  t.equal(p.open, 1);
});

t.test('at the bound the oldest open entry is evicted and counted', async (t) => {
  const p = new CallPairer(3);
  const [e1, e2, e3] = [entry(1), entry(2), entry(3)];
  [e1, e2, e3].forEach((e) => p.add(e));
  const e4 = entry(4);
  p.add(e4);
  t.equal(p.open, 3);
  t.equal(p.stats.evictedEntries, 1);
  t.equal(p.add(exit(1)), null, 'goroutine 1\'s entry was the oldest: gone');
  t.same([exit(2), exit(3), exit(4)].map((r) => p.add(r)?.entry), [e2, e3, e4]);
  t.same(p.stats, { paired: 3, unmatchedReturns: 1, evictedEntries: 1 });
});

t.test('the oldest is by entry, not by goroutine: a nested entry is younger than another goroutine\'s', async (t) => {
  const p = new CallPairer(3);
  const a1 = entry(1);
  const b1 = entry(2);
  const a2 = entry(1); // goroutine 1 again, nested (or after a panic left a1 open)
  const c1 = entry(3); // evicts a1
  const d1 = entry(4); // evicts b1, the oldest left: not a2
  [a1, b1, a2, c1, d1].forEach((e) => p.add(e));
  t.equal(p.stats.evictedEntries, 2);
  t.equal(p.add(exit(2)), null, 'b1 was evicted');
  t.same([exit(1), exit(3), exit(4)].map((r) => p.add(r)?.entry), [a2, c1, d1]);
  t.equal(p.open, 0);
});

t.test('an entry that evicts the last one of its own goroutine is still held', async (t) => {
  const p = new CallPairer(2);
  const stale = entry(1); // say its function panicked: its return never comes
  const other = entry(2);
  const again = entry(1); // the same goroutine calls again: stale, the oldest, goes
  [stale, other, again].forEach((e) => p.add(e));
  t.equal(p.open, 2);
  t.equal(p.add(exit(1))?.entry, again);
  t.equal(p.add(exit(2))?.entry, other);
  t.same(p.stats, { paired: 2, unmatchedReturns: 0, evictedEntries: 1 });
  t.equal(p.open, 0);
});
