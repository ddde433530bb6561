// The tracker's table of connections: by generation, then pid and fd; two of one generation chained.
import t from 'tap';
import { ConnectionTable, type TableEntry } from '../../src/collectors/sockets/connection-table.js';

interface Conn extends TableEntry<Conn> {
  name: string;
}

const conn = (name: string, pid: number, fd: number, generation: number): Conn => ({ name, info: { pid, fd, generation }, sameGeneration: null });

t.test('found by generation, pid and fd; others of the same generation chained and let go in any order', async (t) => {
  const table = new ConnectionTable<Conn>();
  const a = conn('a', 1, 3, 7);
  const b = conn('b', 2, 3, 7);
  const c = conn('c', 1, 4, 7);
  const d = conn('d', 1, 3, 8);
  for (const x of [a, b, c, d]) table.add(x);
  t.equal(table.size, 4);
  t.same([a, b, c, d].map((x) => table.find(x.info.pid, x.info.fd, x.info.generation)?.name), ['a', 'b', 'c', 'd']);
  t.equal(table.find(3, 3, 7), undefined, 'another pid: not held');
  t.equal(table.find(1, 3, 9), undefined, 'another generation: not held');
  t.ok(table.remove(b), 'the middle of a chain');
  t.same(table.all().map((x) => x.name).sort(), ['a', 'c', 'd']);
  t.ok(table.remove(c), 'the head of a chain');
  t.equal(table.find(1, 3, 7)?.name, 'a', 'the rest of the chain is still found');
  t.notOk(table.remove(b), 'not held any more: false');
  t.equal(b.sameGeneration, null, 'a connection let go points at nothing');
  t.ok(table.remove(a));
  t.ok(table.remove(d));
  t.same([table.size, table.all().length], [0, 0]);
});

t.test('all() is a copy: connections may be let go while it is walked', async (t) => {
  const table = new ConnectionTable<Conn>();
  for (let i = 0; i < 50; i++) table.add(conn(`c${i}`, i % 3, i, i % 5));
  for (const x of table.all()) table.remove(x);
  t.equal(table.size, 0);
  t.same(table.all(), []);
});
