// The RED of HTTP/1 exchanges shed and counted in the kernel (bpf/include/pairing.h shed_count,
// src/collectors/sockets/kernel-red.ts): the kernel's buckets are the conventions', a drained value
// reads back as its first exchange's summary and every duration, and the tracker describes counted
// exchanges with their connection (closed or not) and numbers the exchanges after them past them.
// The real path (nginx, curl, the kernel counting) is test/agent/shedding.test.ts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { PAIR_EVENT, SOCK_EV, type SocketEvent, type SocketShed, decodeSocketRecord } from '../../src/collectors/sockets/decode.js';
import { SHED_RED, decodeCountedShed } from '../../src/collectors/sockets/kernel-red.js';
import { ConnectionTracker } from '../../src/collectors/sockets/tracker.js';
import { DURATION_BUCKETS_S } from '../../src/export/histogram-aggregator.js';
import { KernelClock } from '../../src/model/clock.js';
import type { Exchange } from '../../src/model/exchange.js';
import type { HttpExchange } from '../../src/model/http.js';
import { protocolHandlers } from '../../src/protocols/registry.js';
import { repoRoot } from '../helpers/cli.js';
import { type DataFields, type RecordConn, SocketRecordWriter } from '../helpers/socket-records.js';

const clock = new KernelClock(() => ({ wallNs: 1_000_000n, monoNs: 0n }));
const server: RecordConn = { pid: 4321, fd: 7, generation: 99, role: 2, lport: 8080, rport: 40000 };
const request = (path: string, position: number, tsNs: bigint, shedBefore = 0): DataFields => ({
  conn: server, direction: 1, position, tsNs, shedBefore,
  data: Buffer.from(`GET ${path} HTTP/1.1\r\nHost: shop.example:8080\r\nUser-Agent: t\r\n\r\n`),
});
const response = (status: number, position: number, tsNs: bigint): DataFields => ({
  conn: server, direction: 0, position, tsNs, data: Buffer.from(`HTTP/1.1 ${status} OK\r\nContent-Length: 0\r\n\r\n`),
});

/** A struct shed_red as the kernel leaves it: the counts, then the summary of the first exchange. */
function shedRedValue(count: number, sumNs: bigint, minNs: bigint, maxNs: bigint, buckets: number[], q: DataFields, s: DataFields): Buffer {
  const w = new SocketRecordWriter(4096);
  w.pair(q, { ...s, data: s.data.subarray(0, 32) }, SOCK_EV.SHED);
  const [, len] = w.offsets[0]!;
  const value = Buffer.alloc(SHED_RED.size);
  value.writeBigUInt64LE(BigInt(count), SHED_RED.count);
  value.writeBigUInt64LE(sumNs, SHED_RED.sumNs);
  value.writeBigUInt64LE(minNs, SHED_RED.minNs);
  value.writeBigUInt64LE(maxNs, SHED_RED.maxNs);
  buckets.forEach((n, i) => value.writeBigUInt64LE(BigInt(n), SHED_RED.buckets + 8 * i));
  w.buf.copy(value, SHED_RED.summary, 0, len);
  return value;
}

t.test("the kernel's duration buckets are http.*.request.duration's", async (t) => {
  const source = readFileSync(join(repoRoot, 'bpf/include/pairing.h'), 'utf8');
  const body = source.slice(source.indexOf('shed_red_bucket(__u64 ns)'), source.indexOf('return 14;'));
  const bounds = [...body.matchAll(/ns <= (\d+) \* ms\) return/g)].map((m) => Number(m[1]) / 1000);
  t.same(bounds, DURATION_BUCKETS_S, 'the same upper bounds, in order (shed_red_bucket)');
});

t.test('a drained value: the first exchange as its summary, and every duration', async (t) => {
  const buckets = Array<number>(DURATION_BUCKETS_S.length + 1).fill(0);
  buckets[0] = 40;
  buckets[3] = 2; // (25, 50] ms
  const c = decodeCountedShed(shedRedValue(42, 130_000_000n, 100_000n, 45_000_000n, buckets, request('/cart/1?x=1', 0, 5_000n), response(503, 0, 9_000n)), clock);
  t.ok(c !== null);
  t.equal(Buffer.from(c!.summary.request.data).toString().split('\r\n')[0], 'GET /cart/1?x=1 HTTP/1.1', 'the request, whole');
  t.equal(Buffer.from(c!.summary.response.data).toString(), 'HTTP/1.1 503 OK\r\nContent-Length:', 'the response cut to 32 bytes, as the kernel sends it');
  t.same(c!.counted, { count: 42, sum: 0.13, min: 0.0001, max: 0.045, boundaries: DURATION_BUCKETS_S, counts: buckets });
  t.equal(decodeCountedShed(shedRedValue(0, 0n, 0n, 0n, [], request('/', 0, 1n), response(200, 0, 2n)), clock), null, 'a key that counts nothing: nothing');
  t.equal(decodeCountedShed(Buffer.alloc(SHED_RED.summary + PAIR_EVENT.data - 1), clock), null, 'too short: nothing');
  const broken = shedRedValue(1, 1n, 1n, 1n, [1], request('/', 0, 1n), response(200, 0, 2n));
  broken.writeUInt32LE(5000, SHED_RED.summary + 40); // the request's len past the value
  t.equal(decodeCountedShed(broken, clock), null, 'a summary that does not fit: nothing');
});

/** The summary the kernel keeps of a shed exchange: the request, the response cut to 32 bytes. */
function shedSummary(q: DataFields, s: DataFields): SocketShed {
  const w = new SocketRecordWriter(4096);
  w.pair(q, { ...s, data: s.data.subarray(0, 32) }, SOCK_EV.SHED);
  let e: SocketShed | null = null;
  decodeSocketRecord(w.view, 0, w.offsets[0]![1], clock, (x) => (e = x as SocketShed));
  return e!;
}

function trackerWith(out: Exchange[], countsMayFollowClose?: () => boolean): { tracker: ConnectionTracker; feed: (w: SocketRecordWriter) => void } {
  const tracker = new ConnectionTracker({
    maxConnections: 16, idleTimeoutMs: 60_000, handlers: protocolHandlers(), onExchange: (ex) => out.push(ex),
    ...(countsMayFollowClose !== undefined ? { countsMayFollowClose } : {}),
  });
  const feed = (w: SocketRecordWriter): void => {
    for (const [off, len] of w.offsets) decodeSocketRecord(w.view, off, len, clock, (e: SocketEvent) => tracker.handle(e));
  };
  return { tracker, feed };
}

t.test('the tracker numbers the exchanges after counted ones past them, and restarts both streams', async (t) => {
  const out: Exchange[] = [];
  const { tracker, feed } = trackerWith(out);
  const w = new SocketRecordWriter(1 << 16);
  w.open(server, 1n);
  const q0 = request('/a', 0, 10n);
  const s0 = response(200, 0, 20n);
  w.pair(q0, s0);
  // Three exchanges shed and counted: their bytes never come; the next request says so.
  const skippedQ = 4 * q0.data.length;
  const skippedS = 4 * s0.data.length;
  w.pair(request('/a', skippedQ, 100n, 3), response(200, skippedS, 110n));
  feed(w);
  const http = out as HttpExchange[];
  t.same(http.map((e) => e.ordinal), [0, 4], 'the second exchange is the fifth on the connection');
  t.same(http.map((e) => e.response?.statusCode), [200, 200], 'both answered: no gap where the counted ones were');
  t.equal(tracker.stats().gaps, 0, 'no bytes counted as lost');
});

t.test('counted exchanges are described with their connection, also after it closed', async (t) => {
  const out: Exchange[] = [];
  const { tracker, feed } = trackerWith(out);
  const w = new SocketRecordWriter(1 << 16);
  w.open(server, 1n);
  w.pair(request('/a', 0, 10n), response(200, 0, 20n));
  feed(w);
  const shed = (status: number): SocketShed => shedSummary(request('/cart/7', 500, 1_000n), response(status, 500, 3_000n));
  const described: Exchange[] = [];
  t.ok(tracker.counted(shed(201), (ex) => described.push(ex)), 'a live connection');
  const close = new SocketRecordWriter(4096);
  close.close(server, 50n);
  feed(close);
  t.ok(tracker.counted(shed(404), (ex) => described.push(ex)), 'a connection closed since');
  const http = described as HttpExchange[];
  t.same(http.map((e) => [e.request.method, e.request.target, e.response?.statusCode, e.request.kernelSampling]), [['GET', '/cart/7', 201, 'shed'], ['GET', '/cart/7', 404, 'shed']]);
  t.ok(http.every((e) => e.connection.local.port === 8080 && e.connection.role === 'server' && e.connection.pid === server.pid), 'with the connection as it was opened');
  t.ok(http.every((e) => out.includes(e)), 'handed on as exchanges');
  const elsewhere = { ...server, generation: 12345 };
  const unseen = shedSummary({ ...request('/cart/7', 500, 1_000n), conn: elsewhere }, { ...response(200, 500, 3_000n), conn: elsewhere });
  t.notOk(tracker.counted(unseen, () => t.fail('no connection: nothing described')), 'a connection never seen: not described');
  t.equal(tracker.stats().shedCounted, 2);
  t.equal(tracker.stats().shedCountedUnreadable, 1);
});

t.test('a closed connection is remembered for counts only while the kernel may still send some', async (t) => {
  let counting = false;
  const { tracker, feed } = trackerWith([], () => counting);
  const shed = (generation: number): SocketShed => {
    const conn = { ...server, generation };
    return shedSummary({ ...request('/late', 500, 1_000n), conn }, { ...response(200, 500, 3_000n), conn });
  };
  const connection = (generation: number, at: bigint): SocketRecordWriter => {
    const conn = { ...server, generation };
    const w = new SocketRecordWriter(4096);
    w.open(conn, at);
    w.pair({ ...request('/a', 0, at + 1n), conn }, { ...response(200, 0, at + 2n), conn });
    w.close(conn, at + 3n);
    return w;
  };
  feed(connection(1, 10n));
  t.notOk(tracker.counted(shed(1), () => t.fail('forgotten: nothing described')), 'closed while nothing was counted: forgotten at once');
  counting = true;
  feed(connection(2, 20n));
  t.ok(tracker.counted(shed(2), () => {}), 'closed while counts may follow: described');
  t.equal(tracker.stats().shedCountedUnreadable, 1);
});

t.test('a connection whose one exchange was counted (no bytes, no session) is described all the same', async (t) => {
  const out: Exchange[] = [];
  const { tracker, feed } = trackerWith(out);
  const w = new SocketRecordWriter(4096);
  w.open(server, 1n);
  w.close(server, 50n);
  feed(w);
  const described: HttpExchange[] = [];
  t.ok(tracker.counted(shedSummary(request('/only', 0, 1_000n), response(200, 0, 3_000n)), (ex) => described.push(ex as HttpExchange)));
  t.same(described.map((x) => [x.request.target, x.response?.statusCode, x.connection.role, x.connection.local.port]), [['/only', 200, 'server', 8080]]);
});
