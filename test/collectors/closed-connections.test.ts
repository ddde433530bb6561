// The tracker's memory of closed connections (src/collectors/sockets/closed-connections.ts): what a
// late count finds, for how long, and up to which bound, through the ring's growth and wrap.
import t from 'tap';
import { ClosedConnections } from '../../src/collectors/sockets/closed-connections.js';
import type { ConnectionInfo } from '../../src/model/connection.js';

function info(generation: number, extra: Partial<ConnectionInfo> = {}): ConnectionInfo {
  return {
    pid: 1000 + (generation % 7),
    fd: generation % 100,
    generation,
    role: generation % 2 === 0 ? 'client' : 'server',
    family: 'ipv4',
    transport: 'tcp',
    local: { address: '127.0.0.1', port: 40_000 + (generation % 20_000) },
    remote: { address: '10.0.0.2', port: 8080 },
    ...extra,
  };
}

t.test('a remembered connection comes back as it closed, without what it pointed to besides', async (t) => {
  const closed = new ClosedConnections(16, 10_000);
  const tls = { version: '1.3' };
  const given = { ...info(1, { netns: 4026531840, tls, family: 'ipv6', local: { address: '::1', port: 5432 } }), linkPartMemo: 'a>b' };
  closed.remember(given, 0);
  closed.remember(info(2, { role: 'unknown', transport: 'udp', family: 'unix' }), 0);
  const found = closed.find(1)!;
  const { linkPartMemo: _memo, ...expected } = given;
  t.same(found, expected, 'every field but the link part memo');
  t.notOk('linkPartMemo' in found);
  t.equal(found.tls, tls, 'the TLS facts are shared, not copied');
  t.not(found, given, 'a new object');
  t.not(closed.find(1), found, 'each find makes its own');
  const second = closed.find(2)!;
  t.same([second.role, second.transport, second.family], ['unknown', 'udp', 'unix']);
  t.notOk('netns' in second, 'no namespace told, none made up');
  t.notOk('tls' in second);
  t.equal(closed.find(3), undefined, 'never remembered');
});

t.test('forgotten after keepMs', async (t) => {
  const closed = new ClosedConnections(1000, 10_000);
  closed.remember(info(1), 0);
  closed.remember(info(2), 5_000);
  closed.remember(info(3), 9_999);
  t.ok(closed.find(1));
  closed.remember(info(4), 10_000);
  t.equal(closed.find(1), undefined, 'closed 10 s before the last close: gone');
  t.ok(closed.find(2));
  closed.remember(info(5), 15_001);
  t.equal(closed.find(2), undefined);
  t.same([closed.find(3)?.generation, closed.find(4)?.generation, closed.find(5)?.generation], [3, 4, 5]);
  t.equal(closed.size, 3);
});

t.test('bounded: the oldest go first, through growth and wrap-around', async (t) => {
  const bound = 5_000;
  const closed = new ClosedConnections(bound, 1e12);
  // Every third with a namespace and TLS facts, which the ring's growth moves along too.
  const rich = (g: number): ConnectionInfo => info(g, g % 3 === 0 ? { netns: 4026531840 + g, tls: { version: '1.3' } } : {});
  for (let g = 1; g <= 3 * bound + 123; g++) {
    closed.remember(rich(g), g);
    if (g % 997 === 0) {
      // Mid-way, while the ring is growing and after it wrapped: exactly the last `bound` are there.
      const oldestKept = Math.max(1, g - bound + 1);
      t.equal(closed.size, g - oldestKept + 1, `size after ${g}`);
      t.equal(closed.find(oldestKept - 1), undefined, `${oldestKept - 1} forgotten`);
      t.same(closed.find(oldestKept), rich(oldestKept), `${oldestKept} kept, intact`);
      const richKept = 3 * Math.ceil(oldestKept / 3);
      t.same(closed.find(richKept), rich(richKept), `${richKept} kept, intact`);
      t.same(closed.find(g), rich(g), `${g} kept, intact`);
    }
  }
  t.equal(closed.size, bound);
  const last = 3 * bound + 123;
  let found = 0;
  for (let g = 1; g <= last; g++) if (closed.find(g) !== undefined) found++;
  t.equal(found, bound, 'no more than the bound is found');
});

t.test('a generation remembered again is found at its latest, and outlives its first entry', async (t) => {
  const closed = new ClosedConnections(3, 1e12);
  closed.remember(info(7, { pid: 1 }), 0);
  closed.remember(info(7, { pid: 2 }), 1);
  t.equal(closed.find(7)?.pid, 2);
  closed.remember(info(8), 2);
  closed.remember(info(9), 3);
  t.equal(closed.find(7)?.pid, 2, 'the first entry went, the later one stays');
});

t.test('generations whose index cells coincide are all found, and forgotten in turn', async (t) => {
  // 256 slots at first, four index cells per slot: generations 1,024 apart share a cell.
  const closed = new ClosedConnections(100, 1e12);
  const generations = [5, 5 + 1024, 5 + 2 * 1024, 6, 5 + 3 * 1024];
  generations.forEach((g, i) => closed.remember(info(g), i));
  for (const g of generations) t.same(closed.find(g), info(g), `${g} found`);
  for (let g = 10_000; g < 10_100; g++) closed.remember(info(g), 10);
  t.equal(closed.size, 100);
  for (const g of generations) t.equal(closed.find(g), undefined, `${g} forgotten with the oldest`);
  t.equal(closed.find(5 + 4 * 1024), undefined);
});

t.test('against a plain model: random generations (colliding, repeated), times and bounds, through growth and wrap', async (t) => {
  let seed = 42;
  const random = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (const bound of [1, 7, 300, 2_000]) {
    const keepMs = 1_000;
    const closed = new ClosedConnections(bound, keepMs);
    // The model: every entry oldest first; the latest entry of a generation is the one found.
    let model: Array<{ generation: number; closedMs: number; pid: number }> = [];
    let now = 0;
    let mismatches = 0;
    for (let i = 0; i < 20_000; i++) {
      now += random(3);
      // Mostly a rising counter, sometimes one far back or far ahead (cells shared), sometimes one again.
      const kind = random(10);
      const generation = kind < 7 ? i : kind < 9 ? i + 1024 * (1 + random(8)) : random(i + 1);
      const pid = random(1_000_000);
      closed.remember(info(generation, { pid }), now);
      model.push({ generation, closedMs: now, pid });
      model = model.filter((e) => e.closedMs > now - keepMs).slice(-bound);
      if (i % 97 === 0 || i > 19_900) {
        const latest = new Map(model.map((e) => [e.generation, e.pid]));
        for (let g = Math.max(0, i - 3_000); g <= i + 9 * 1024; g += i % 2 === 0 ? 1 : 7) {
          if (closed.find(g)?.pid !== latest.get(g)) mismatches++;
        }
        if (closed.size !== model.length) mismatches++;
      }
    }
    t.equal(mismatches, 0, `bound ${bound}: every lookup as the model says`);
  }
});
