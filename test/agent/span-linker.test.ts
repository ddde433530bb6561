// Client and server spans of one request on one host become parent and child.
import t from 'tap';
import { type LinkKey, SpanLinker, linkKey, linkKeyText } from '../../src/agent/span-linker.js';
import type { HttpExchange } from '../../src/model/http.js';
import type { SpanRecord } from '../../src/model/span.js';
import { withIds } from '../helpers/span-ids.js';
import { headerPairs } from '../../src/model/header-pairs.js';
import { linkPart } from '../../src/model/link-part.js';

function exchange(role: 'client' | 'server', ordinal = 0): HttpExchange {
  const a = { address: '127.0.0.1', port: 50000 };
  const b = { address: '::ffff:127.0.0.1', port: 8080 };
  return {
    protocol: 'http1', ordinal,
    connection: { pid: 1, fd: 3, generation: 1, role, family: 'ipv4', transport: 'tcp', local: role === 'client' ? a : b, remote: role === 'client' ? b : a },
    request: { kind: 'request', method: 'GET', target: '/x', version: '1.1', headers: headerPairs([]), bodySize: 0, bodyPrefix: new Uint8Array(), startNs: 0n, endNs: 0n },
    response: null,
  };
}

function span(kind: 'client' | 'server', id: string, parent?: string, trace = id.padStart(32, '0')): SpanRecord {
  return withIds({ traceId: trace, spanId: id.padStart(16, '0'), parentSpanId: parent, name: 'GET', kind, startTimeUnixNano: 0n, endTimeUnixNano: 1n,
    attributes: {}, status: { code: 'unset' }, resource: { key: 'r', attributes: {} } });
}

t.test('both ends of a connection give the same key', async (t) => {
  const text = (k: LinkKey | null): string | null => (k === null ? null : linkKeyText(k));
  t.equal(text(linkKey(exchange('client'), 'GET /x')), text(linkKey(exchange('server'), 'GET /x')));
  t.not(text(linkKey(exchange('client', 0), 'GET /x', 0)), text(linkKey(exchange('server', 1), 'GET /x', 1)));
  t.equal(text(linkKey(exchange('client'), 'GET /x', 3)), text(linkKey(exchange('server'), 'GET /x', 3)), 'the ordinal in the text, alike at both ends');
  t.equal(linkKey({ ...exchange('client'), connection: { ...exchange('client').connection, role: 'unknown' } }, 'GET /x'), null);
  t.equal(linkKey(exchange('client'), null), null, 'a protocol that cannot name its requests is not linked');
});

t.test('a connection part is made once per TCP connection; copies and datagram sockets keep theirs right', async (t) => {
  const ex = exchange('client');
  const part = linkPart(ex.connection);
  t.equal(part, '127.0.0.1:50000>127.0.0.1:8080');
  t.equal(linkPart(ex.connection), part, 'asked again: the same');
  // The tracker resolves a role late by a copy: an unknown role has no part, so none is carried over.
  const roleless = { ...exchange('client').connection, role: 'unknown' as const };
  t.equal(linkPart(roleless), null, 'unknown role: none');
  t.equal(linkPart({ ...roleless, role: 'server' }), '127.0.0.1:8080>127.0.0.1:50000', 'resolved later: made for its role');
  // A datagram socket's peer changes from one datagram to the next: never kept.
  const udp = { ...roleless, role: 'client' as const, transport: 'udp' as const, remote: { address: '127.0.0.1', port: 53 } };
  t.equal(linkPart(udp), '127.0.0.1:50000>127.0.0.1:53');
  udp.remote = { address: '127.0.0.1', port: 5353 };
  t.equal(linkPart(udp), '127.0.0.1:50000>127.0.0.1:5353', 'its new peer');
});

t.test('server span arriving first becomes the child of the client span', async (t) => {
  let now = 0;
  const out: SpanRecord[] = [];
  const linker = new SpanLinker({ windowMs: 100, maxHeld: 10, release: (s) => out.push(...s), now: () => now });
  const server = span('server', 'b');
  const client = span('client', 'a');
  linker.add(server, linkKey(exchange('server'), 'GET /x'));
  linker.add(client, linkKey(exchange('client'), 'GET /x'));
  now = 200;
  linker.flush();
  t.equal(server.traceId, client.traceId);
  t.equal(server.parentSpanId, client.spanId);
  t.equal(out.length, 2);
  t.equal(linker.stats().linked, 1);
});

t.test('a server span already in the application\'s trace keeps it', async (t) => {
  const linker = new SpanLinker({ windowMs: 100, maxHeld: 10, release: () => undefined });
  const client = span('client', 'a');
  const server = span('server', 'b', 'cccccccccccccccc', 'f'.repeat(32));
  linker.add(client, linkKey(exchange('client'), 'GET /x'));
  linker.add(server, linkKey(exchange('server'), 'GET /x'));
  linker.flush();
  t.equal(server.parentSpanId, 'cccccccccccccccc');
  t.equal(linker.stats().linked, 0);
});

t.test('spans leave after the window, and the bound holds', async (t) => {
  const out: SpanRecord[] = [];
  const linker = new SpanLinker({ windowMs: 20, maxHeld: 3, release: (s) => out.push(...s) });
  for (let i = 0; i < 5; i++) linker.add(span('server', String(i)), null);
  t.equal(out.length, 2, 'overflow released at once');
  t.equal(linker.stats().overflow, 2);
  await new Promise((r) => setTimeout(r, 60));
  t.equal(out.length, 5, 'the rest after the window');
  t.equal(linker.stats().held, 0);
});

t.test('joined pairs leave at once, and their places in the queue do not pile up', async (t) => {
  const out: SpanRecord[] = [];
  const linker = new SpanLinker({ windowMs: 10, maxHeld: 100_000, release: (s) => out.push(...s) });
  // 20 rounds of 1,000 requests whose two ends both arrive: every span leaves with its other half.
  for (let round = 0; round < 20; round++) {
    for (let i = 0; i < 1000; i++) {
      const key = { part: 'c>s', id: `r${round}-${i}`, ordinal: -1 };
      linker.add(span('client', `${round}c${i}`), key);
      linker.add(span('server', `${round}s${i}`), key);
    }
    await new Promise((r) => setTimeout(r, 15)); // past the window: the head steps over the places
  }
  t.equal(out.length, 40_000, 'every span released');
  t.equal(linker.stats().held, 0);
  t.ok(linker.stats().places <= 2048, `places kept after 40,000 joined spans: ${linker.stats().places} (a leak kept them all)`);
});

t.test('a connection per request: once its pair joins, nothing of the connection is kept, not even until the window ends', async (t) => {
  let now = 0;
  const out: SpanRecord[] = [];
  const linker = new SpanLinker({ windowMs: 300, maxHeld: 100_000, release: (s) => out.push(...s), now: () => now });
  for (let c = 0; c < 5000; c++) {
    const key = { part: `127.0.0.1:${20000 + c}>127.0.0.1:80`, id: 'GET /x', ordinal: 0 };
    linker.add(span('server', `s${c}`), key);
    linker.add(span('client', `c${c}`), key);
    now += 0.01;
  }
  t.equal(linker.stats().linked, 5000);
  t.same([linker.stats().connections, linker.stats().places], [0, 0], 'no connection held, no place in the queue');
  await new Promise((r) => setImmediate(r));
  t.equal(out.length, 10_000, 'every span released');
});

t.test('several requests waiting on one connection (pipelined): each joins its own, in any order', async (t) => {
  const out: SpanRecord[] = [];
  const linker = new SpanLinker({ windowMs: 10_000, maxHeld: 100, release: (s) => out.push(...s) });
  const key = (i: number): LinkKey => ({ part: 'c>s', id: 'GET /x', ordinal: i });
  for (let i = 0; i < 3; i++) linker.add(span('client', `c${i}`, undefined, `${i}`.padStart(32, '0')), key(i));
  t.equal(linker.stats().connections, 1, 'one connection');
  for (const i of [1, 0, 2]) {
    const server = span('server', `s${i}`);
    linker.add(server, key(i));
    t.equal(server.parentSpanId, `c${i}`.padStart(16, '0'), `server span ${i} joined client span ${i}`);
    t.equal(server.traceId, `${i}`.padStart(32, '0'));
  }
  t.same([linker.stats().linked, linker.stats().held, linker.stats().connections], [3, 6, 0], 'all joined, the connection let go');
});

t.test('one ordinal, another id (each end numbered a request differently): not joined, each waits for its own', async (t) => {
  const out: SpanRecord[] = [];
  const linker = new SpanLinker({ windowMs: 10_000, maxHeld: 100, release: (s) => out.push(...s) });
  const key = (i: number, id: string): LinkKey => ({ part: 'c>s', id, ordinal: i });
  linker.add(span('client', 'c0'), key(0, 'GET /a'));
  linker.add(span('client', 'c1'), key(1, 'GET /b'));
  const stray = span('server', 's0');
  linker.add(stray, key(0, 'GET /b'));
  t.equal(stray.parentSpanId, undefined, 'ordinal 0 of another request: not its parent');
  t.ok(linker.holds(key(0, 'GET /a')), 'the client span of ordinal 0 still waits');
  const right = span('server', 's1');
  linker.add(right, key(1, 'GET /b'));
  t.equal(right.parentSpanId, 'c1'.padStart(16, '0'), 'same ordinal and id: joined');
  linker.flush();
  t.equal(out.length, 4, 'every span released');
});

t.test('many pairs joined in one turn leave in batches of bounded size', async (t) => {
  const batches: number[] = [];
  const linker = new SpanLinker({ windowMs: 10, maxHeld: 100_000, release: (s) => batches.push(s.length) });
  for (let i = 0; i < 5000; i++) {
    linker.add(span('client', `c${i}`), { part: `c${i % 7}>s`, id: `k${i}`, ordinal: -1 });
    linker.add(span('server', `s${i}`), { part: `c${i % 7}>s`, id: `k${i}`, ordinal: -1 });
  }
  t.ok(batches.length > 0 && Math.max(...batches) <= 1024, `released before the turn ended, in batches of at most 1024 (${batches.length} so far)`);
  await new Promise((r) => setImmediate(r));
  t.equal(batches.reduce((a, b) => a + b, 0), 10_000, 'every span released');
  t.ok(Math.max(...batches) <= 1024, `largest batch ${Math.max(...batches)}`);
});

t.test('keys of many connections: the same id on two connections names two requests, and connections with nothing waiting are let go', async (t) => {
  const out: SpanRecord[] = [];
  const linker = new SpanLinker({ windowMs: 10, maxHeld: 100_000, release: (s) => out.push(...s) });
  const key = (conn: number): LinkKey => ({ part: `127.0.0.1:${40000 + conn}>127.0.0.1:80`, id: 'GET /x', ordinal: 0 });
  for (let c = 0; c < 100; c++) linker.add(span('client', `c${c}`), key(c));
  t.ok(linker.holds(key(5)) && !linker.holds({ part: key(5).part, id: 'GET /x', ordinal: 1 }), 'held by connection and request');
  for (let c = 0; c < 100; c += 2) linker.add(span('server', `s${c}`), key(c));
  t.equal(linker.stats().linked, 50, 'each server span joined its own connection\'s client span');
  t.notOk(linker.holds(key(4)), 'a joined request is no longer held');
  t.ok(linker.holds(key(5)), 'the others still wait');
  await new Promise((r) => setTimeout(r, 40));
  t.equal(out.length, 150, 'the unjoined client spans left after the window');
  linker.add(span('server', 'late'), key(5));
  t.equal(linker.stats().linked, 50, 'a span after its other half left is not joined');
  t.equal(out.length, 150);
  await new Promise((r) => setTimeout(r, 40));
  t.equal(out.length, 151);
});

t.test('a connection emptied and filled again exchange after exchange stays in the map; emptied ones are let go once 64 others emptied after them', async (t) => {
  const linker = new SpanLinker({ windowMs: 10_000, maxHeld: 100_000, release: () => undefined });
  const key = (conn: number, i: number): LinkKey => ({ part: `127.0.0.1:${20000 + conn}>127.0.0.1:80`, id: 'GET /x', ordinal: i });
  // Ten keep-alive connections taking turns, a thousand exchanges each: the same ten parts.
  for (let i = 0; i < 1000; i++) {
    for (let c = 0; c < 10; c++) {
      linker.add(span('server', `s${c}.${i}`), key(c, i));
      linker.add(span('client', `c${c}.${i}`), key(c, i));
    }
  }
  t.same([linker.stats().linked, linker.stats().connections, linker.stats().kept], [10_000, 0, 10], 'all joined; the ten connections kept, none waiting');
  linker.add(span('server', 'w'), key(3, 1000));
  t.ok(linker.holds(key(3, 1000)), 'a kept connection holds its next span');
  t.same([linker.stats().connections, linker.stats().kept], [1, 10]);
  // A connection per request: each emptied once, never again.
  for (let c = 100; c < 2100; c++) {
    linker.add(span('server', `s${c}`), key(c, 0));
    linker.add(span('client', `c${c}`), key(c, 0));
  }
  t.equal(linker.stats().connections, 1, 'only the one span waits');
  t.ok(linker.stats().kept <= 64 + 1, `at most 64 emptied connections kept, and the waiting one (${linker.stats().kept})`);
  t.ok(linker.holds(key(3, 1000)), 'the waiting one is still found');
  linker.add(span('client', 'w2'), key(3, 1000));
  t.equal(linker.stats().linked, 12_001, 'and joined');
});

t.test('a connection whose other end never comes: after a few spans wait in vain, its spans leave at once; one in 64 still waits', async (t) => {
  let now = 0;
  const out: SpanRecord[] = [];
  const linker = new SpanLinker({ windowMs: 10, maxHeld: 100_000, release: (s) => out.push(...s), now: () => now });
  const key = (i: number): LinkKey => ({ part: '10.0.0.7:41000>10.0.0.9:80', id: 'GET /x', ordinal: i });
  const other = (i: number): LinkKey => ({ part: '127.0.0.1:41001>127.0.0.1:80', id: 'GET /x', ordinal: i });
  // Three server spans, each waiting out the window with no client span coming.
  for (let i = 0; i < 3; i++) {
    linker.add(span('server', `s${i}`), key(i));
    t.ok(linker.holds(key(i)), `span ${i} waits`);
    now += 20;
    await new Promise((r) => setTimeout(r, 15));
  }
  t.equal(out.length, 3, 'the three left at their deadlines');
  t.equal(linker.stats().alone, 1, 'the connection counts as alone');
  // From now on its spans do not wait, but for one in 64 (a probe).
  let waited = 0;
  for (let i = 3; i < 3 + 128; i++) {
    linker.add(span('server', `s${i}`), key(i));
    if (linker.holds(key(i))) waited++;
  }
  t.equal(waited, 2, 'two of 128 wait (one in 64)');
  await new Promise((r) => setImmediate(r));
  t.equal(out.length, 3 + 126, 'the others left after the batch, before any window');
  // Another connection is not affected.
  linker.add(span('client', 'c'), other(0));
  t.ok(linker.holds(other(0)), 'a span of another connection waits as always');
});

t.test('a connection taken as alone links again once its other end shows up', async (t) => {
  let now = 0;
  const out: SpanRecord[] = [];
  const linker = new SpanLinker({ windowMs: 10, maxHeld: 100_000, release: (s) => out.push(...s), now: () => now });
  const key = (i: number): LinkKey => ({ part: '127.0.0.1:42000>127.0.0.1:80', id: 'GET /x', ordinal: i });
  for (let i = 0; i < 3; i++) {
    linker.add(span('server', `s${i}`), key(i));
    now += 20;
    await new Promise((r) => setTimeout(r, 15));
  }
  t.equal(linker.stats().alone, 1);
  // Its client starts being traced: the 64th span (a probe) waits and its client span joins it.
  let i = 3;
  for (; i < 3 + 64 && !linker.holds(key(i - 1)); i++) linker.add(span('server', `s${i}`), key(i));
  const probe = i - 1;
  t.ok(linker.holds(key(probe)), `span ${probe} waited`);
  const client = span('client', 'c');
  linker.add(client, key(probe));
  t.equal(linker.stats().linked, 1, 'joined');
  t.equal(linker.stats().alone, 0, 'the connection is no longer alone');
  const server = span('server', 'next');
  linker.add(server, key(1000));
  t.ok(linker.holds(key(1000)), 'its next span waits for its other half again');
  linker.add(span('client', 'c2'), key(1000));
  t.equal(linker.stats().linked, 2);
});

t.test('spans pushed out by the bound or a flush teach nothing: only deadlines count', async (t) => {
  const linker = new SpanLinker({ windowMs: 10_000, maxHeld: 2, release: () => undefined });
  const key = (i: number): LinkKey => ({ part: '127.0.0.1:43000>127.0.0.1:80', id: 'GET /x', ordinal: i });
  for (let i = 0; i < 10; i++) linker.add(span('server', `s${i}`), key(i));
  linker.flush();
  t.equal(linker.stats().overflow, 8);
  t.equal(linker.stats().alone, 0, 'overflow and flush are not the other end missing');
  linker.add(span('server', 'x'), key(100));
  t.ok(linker.holds(key(100)), 'the connection\'s spans still wait');
});

t.test('a span whose other end is not followed leaves at once, unless its other half is already here', async (t) => {
  const out: SpanRecord[] = [];
  const linker = new SpanLinker({ windowMs: 10_000, maxHeld: 100, release: (s) => out.push(...s) });
  const key = (i: number): LinkKey => ({ part: '10.0.0.7:41000>10.0.0.9:80', id: 'GET /x', ordinal: i });
  linker.add(span('server', 's0'), key(0), false);
  t.notOk(linker.holds(key(0)), 'not held');
  await new Promise((r) => setImmediate(r));
  t.equal(out.length, 1, 'released after the batch, not after the window');
  // The other half came first (its end was followed then, and has closed since): still joined.
  const client = span('client', 'c1');
  linker.add(client, key(1));
  const server = span('server', 's1');
  linker.add(server, key(1), false);
  t.equal(server.parentSpanId, client.spanId, 'joined');
  t.equal(linker.stats().linked, 1);
});

t.test('spans on their way: those waiting for their other halves and those joined but not released yet', async (t) => {
  const out: SpanRecord[] = [];
  const linker = new SpanLinker({ windowMs: 50, maxHeld: 1000, release: (s) => out.push(...s) });
  const key = (i: number): LinkKey => ({ part: 'c>s', id: `r${i}`, ordinal: -1 });
  for (let i = 0; i < 5; i++) linker.add(span('server', `s${i}`), key(i));
  t.equal(linker.pending, 5, 'five waiting');
  for (let i = 0; i < 3; i++) linker.add(span('client', `c${i}`), key(i));
  t.equal(out.length, 0, 'the joined pairs leave after this turn');
  t.equal(linker.pending, 8, 'two waiting, three pairs joined and not released: all on their way');
  await new Promise((r) => setImmediate(r));
  t.equal(out.length, 6, 'the pairs released');
  t.equal(linker.pending, 2, 'the two that wait');
  await new Promise((r) => setTimeout(r, 80));
  t.equal(linker.pending, 0, 'the window over: none');
  t.equal(out.length, 8);
});
