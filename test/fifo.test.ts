// The FIFO and the insertion order kept beside a Map or Set (src/fifo.ts), and what they replace:
// the oldest of a Map found by iterating it, whose cost grows with the entries deleted before it.
import t from 'tap';
import { fullGc } from '../src/agent/old-space-bound.js';
import { Fifo, InsertionOrder } from '../src/fifo.js';

t.test('Fifo: oldest first, through its compactions', async (t) => {
  const q = new Fifo<number>();
  t.equal(q.shift(), undefined, 'empty');
  t.equal(q.oldest(), undefined);
  for (let i = 0; i < 20_000; i++) q.push(i);
  const out: number[] = [];
  for (let i = 0; i < 15_000; i++) out.push(q.shift()!);
  t.equal(q.length, 5_000);
  t.equal(q.oldest(), 15_000, 'the oldest left, after compactions past 4,096 taken');
  for (let i = 20_000; i < 20_010; i++) q.push(i);
  for (let v = q.shift(); v !== undefined; v = q.shift()) out.push(v);
  t.same(out, Array.from({ length: 20_010 }, (_, i) => i), 'every item, once, in order');
  t.equal(q.length, 0);
  q.push(1);
  q.push(2);
  q.push(3);
  q.retain((v) => v !== 2);
  t.same([q.shift(), q.shift(), q.shift()], [1, 3, undefined], 'retain keeps the order of what it keeps');
});

t.test('Fifo: an item taken out is not kept reachable by the queue', async (t) => {
  const gc = fullGc();
  t.not(gc, null, 'a full GC can be had (old-space-bound.ts)');
  const q = new Fifo<object>();
  let refs: Array<WeakRef<object>> = [];
  for (let i = 0; i < 100; i++) {
    const item = { i };
    refs.push(new WeakRef(item));
    q.push(item);
  }
  for (let i = 0; i < 50; i++) q.shift();
  // WeakRefs are cleared only after the job that read them: GC once the test's own turn is over.
  await new Promise((resolve) => setImmediate(resolve));
  gc!();
  await new Promise((resolve) => setImmediate(resolve));
  const alive = refs.map((r) => r.deref() !== undefined);
  refs = [];
  t.equal(alive.slice(0, 50).filter(Boolean).length, 0, 'the 50 taken out (far fewer than a compaction waits for) were collected');
  t.equal(alive.slice(50).filter(Boolean).length, 50, 'the 50 still queued were not');
  t.equal(q.length, 50);
});

t.test('InsertionOrder: the oldest key still there, skipping those gone, bounded', async (t) => {
  const set = new Set<string>();
  const order = new InsertionOrder(set);
  const add = (k: string): void => {
    set.add(k);
    order.added(k);
  };
  add('a');
  add('b');
  add('c');
  set.delete('a'); // gone on its own (the other end took it)
  t.equal(order.takeOldest(), 'b', 'a key gone is skipped');
  set.delete('b');
  t.equal(order.takeOldest(), 'c');
  set.delete('c');
  t.equal(order.takeOldest(), undefined, 'none left');

  // Keys that leave on their own do not pile up: they are dropped once they outnumber the others.
  for (let i = 0; i < 100_000; i++) {
    add(`k${i}`);
    set.delete(`k${i}`);
  }
  add('last');
  t.equal(order.takeOldest(), 'last', 'the one key there, found past 100,000 gone');
});

t.test('a bounded memory evicting its oldest stays cheap when full (against a Map\'s own order)', async (t) => {
  // Not a timing assertion: the steps each way of taking the oldest are counted. A Map's iterator
  // cannot be counted from JS, so its cost is shown by the work InsertionOrder does instead: one
  // shift per eviction, whatever was deleted before.
  const max = 16_384;
  const map = new Map<number, number>();
  let looked = 0;
  let notOldest = 0;
  // The map as the order sees it, its look-ups counted.
  const order = new InsertionOrder<number>({
    has: (k) => {
      looked++;
      return map.has(k);
    },
    get size() {
      return map.size;
    },
  });
  for (let i = 0; i < 5 * max; i++) {
    if (map.size >= max) {
      const oldest = order.takeOldest();
      if (oldest !== i - max) notOldest++;
      map.delete(oldest!);
    }
    map.set(i, i);
    order.added(i);
  }
  t.equal(notOldest, 0, 'each eviction took the key inserted max keys before');
  t.equal(looked, 4 * max, 'one look per eviction');
});
