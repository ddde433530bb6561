// decode.ts's reading of the kernel's paired HTTP/1 records (bpf/include/pairing.h): a paired
// record must carry exactly the two data events the kernel would have sent without pairing, at any
// place in a batch and for any sizes up to the bounds; short or inconsistent records are malformed
// and emit nothing; a keep-alive conversation gives the tracker the same exchanges either way; and
// the session's one-call path for a pair gives what the two data events would, whatever surrounds it.
import t from 'tap';
import { EventScratch, PAIR_EVENT, SOCK_EV, type SocketEvent, decodeSocketRecord } from '../../src/collectors/sockets/decode.js';
import { ConnectionTracker } from '../../src/collectors/sockets/tracker.js';
import { KernelClock } from '../../src/model/clock.js';
import type { ConnectionInfo } from '../../src/model/connection.js';
import type { Exchange } from '../../src/model/exchange.js';
import type { HttpExchange } from '../../src/model/http.js';
import { Http1Connection } from '../../src/protocols/http1/connection.js';
import { protocolHandlers } from '../../src/protocols/registry.js';
import type { ProtocolHandler, ProtocolSession } from '../../src/protocols/session.js';
import { XorShift32 } from '../helpers/prng.js';
import { type DataFields, type RecordConn, SocketRecordWriter } from '../helpers/socket-records.js';

const clock = new KernelClock(() => ({ wallNs: 1_000_000n, monoNs: 0n }));

function decodeAll(w: SocketRecordWriter): { events: SocketEvent[]; malformed: number } {
  const events: SocketEvent[] = [];
  let malformed = 0;
  for (const [off, len] of w.offsets) if (!decodeSocketRecord(w.view, off, len, clock, (e) => events.push(e))) malformed++;
  return { events, malformed };
}

/** Events as comparable values: the data views' bytes, not the views. */
const plain = (events: SocketEvent[]): unknown[] => events.map((e) => (e.type === 'data' ? { ...e, data: Buffer.from(e.data).toString('hex') } : e));

function bytes(r: XorShift32, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = r.int(256);
  return b;
}

t.test('a paired record carries the two data events it stands for', async (t) => {
  for (let seed = 1; seed <= 300; seed++) {
    const r = new XorShift32(seed);
    const conn: RecordConn = { pid: 1 + r.int(1 << 22), fd: r.int(1 << 16), generation: 1 + r.int(1 << 30), role: r.pick([0, 1, 2] as const), lport: 0, rport: 0 };
    const reqDir = r.pick([0, 1] as const);
    // Boundary sizes often: 1 byte, and the kernel's bounds (a full hold, a full chunk).
    const size = (max: number): number => (r.chance(0.2) ? r.pick([1, max]) : 1 + r.int(max));
    const request: DataFields = { conn, direction: reqDir, position: r.int(2 ** 40), tsNs: BigInt(r.int(2 ** 31)) * 1000n, tid: r.int(1 << 22), data: bytes(r, size(1024)) };
    const response: DataFields = {
      conn, direction: reqDir === 0 ? 1 : 0, position: r.int(2 ** 40), tsNs: request.tsNs + BigInt(r.int(1e9)), tid: r.int(1 << 22), data: bytes(r, size(4096)),
      callLen: 4096 + r.int(1 << 20), // a response larger than its first chunk
    };
    const paired = new SocketRecordWriter(16384);
    const plainRecords = new SocketRecordWriter(16384);
    // Somewhere in a batch, after another record.
    const filler = { ...request, data: bytes(r, r.int(64)) };
    for (const w of [paired, plainRecords]) w.data(filler);
    paired.pair(request, response);
    plainRecords.data(request);
    plainRecords.data(response);
    const a = decodeAll(paired);
    const b = decodeAll(plainRecords);
    // One pair event of the request's and the response's data events.
    const expanded = a.events.flatMap((e) => (e.type === 'pair' ? [e.request, e.response] : [e]));
    if (a.malformed !== 0 || b.malformed !== 0 || a.events[1]?.type !== 'pair' || JSON.stringify(plain(expanded), big) !== JSON.stringify(plain(b.events), big)) {
      t.fail(`seed ${seed}: paired ${JSON.stringify(plain(expanded), big).slice(0, 400)} vs ${JSON.stringify(plain(b.events), big).slice(0, 400)}`);
      return;
    }
  }
  t.pass('300 random pairs, each one event of the same two data events as without pairing');
});

function big(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}

t.test('decoded into reused events (the collector\'s scratch): what each emit sees is what fresh events say', async (t) => {
  const scratch = new EventScratch();
  const seen = new Set<object>();
  let records = 0;
  for (let seed = 1; seed <= 200; seed++) {
    const r = new XorShift32(seed);
    const conn: RecordConn = { pid: 1 + r.int(1 << 22), fd: r.int(1 << 16), generation: 1 + r.int(1 << 30), role: r.pick([0, 1, 2] as const), lport: 0, rport: 0 };
    const w = new SocketRecordWriter(65536);
    // A mix a batch holds: data records, kept pairs and shed ones, one after the other.
    for (let k = 0; k < 6; k++) {
      const request: DataFields = { conn, direction: 0, position: r.int(2 ** 40), tsNs: BigInt(r.int(2 ** 31)), tid: r.int(1 << 22), data: bytes(r, 1 + r.int(1024)) };
      const response: DataFields = { ...request, direction: 1, tsNs: request.tsNs + 5n, data: bytes(r, 1 + r.int(4096)) };
      const kind = r.int(3);
      if (kind === 0) w.data(request);
      else if (kind === 1) w.pair(request, response);
      else w.pair(request, { ...response, data: response.data.subarray(0, Math.min(32, response.data.length)) }, SOCK_EV.SHED);
    }
    const fresh = decodeAll(w).events.map((e) => JSON.stringify(plain(e.type === 'data' ? [e] : e.type === 'pair' || e.type === 'shed' ? [e.request, e.response] : [e]), big) + e.type);
    const reused: string[] = [];
    for (const [off, len] of w.offsets) {
      decodeSocketRecord(w.view, off, len, clock, (e) => {
        seen.add(e);
        if (e.type === 'pair' || e.type === 'shed') seen.add(e.request).add(e.response);
        // Read as the tracker does: during the call.
        reused.push(JSON.stringify(plain(e.type === 'data' ? [e] : e.type === 'pair' || e.type === 'shed' ? [e.request, e.response] : [e]), big) + e.type);
      }, scratch);
      records++;
    }
    if (JSON.stringify(reused) !== JSON.stringify(fresh)) {
      t.fail(`seed ${seed}: ${reused.join(' ').slice(0, 300)} vs ${fresh.join(' ').slice(0, 300)}`);
      return;
    }
  }
  t.equal(records, 1200);
  t.ok(seen.size <= 5, `the same few objects every time (${seen.size}: a data event, a pair, a shed, their request and response)`);
});

t.test('short or inconsistent paired records are malformed and emit nothing', async (t) => {
  const conn: RecordConn = { pid: 7, fd: 3, generation: 9, role: 2, lport: 0, rport: 0 };
  const req: DataFields = { conn, direction: 1, position: 0, tsNs: 1n, data: Buffer.from('GET / HTTP/1.1\r\n\r\n') };
  const resp: DataFields = { conn, direction: 0, position: 0, tsNs: 2n, data: Buffer.from('HTTP/1.1 200 OK\r\n\r\n') };
  const cases: Array<[string, (w: SocketRecordWriter) => [number, number]]> = [
    ['shorter than its two headers', (w) => { w.pair(req, resp); return [w.offsets[0]![0], PAIR_EVENT.data - 1]; }],
    ['shorter than its bytes', (w) => { w.pair(req, resp); return [w.offsets[0]![0], w.offsets[0]![1] - 1]; }],
    ['a request of no bytes', (w) => { w.pair({ ...req, data: Buffer.alloc(0) }, resp); return w.offsets[0]!; }],
    ['a response of no bytes (it would read as a skip marker)', (w) => { w.pair(req, { ...resp, data: Buffer.alloc(0) }); return w.offsets[0]!; }],
  ];
  for (const [name, build] of cases) {
    const w = new SocketRecordWriter(8192);
    const [off, len] = build(w);
    const out: SocketEvent[] = [];
    t.equal(decodeSocketRecord(w.view, off, len, clock, (e) => out.push(e)), false, name);
    t.equal(out.length, 0, `${name}: nothing emitted`);
  }
});

type Mode = 'plain' | 'paired' | 'shed every third';

/** Thirty exchanges on one keep-alive connection, seen from both ends, as the kernel would send them. */
function conversation(mode: Mode): Exchange[] {
  const server: RecordConn = { pid: 100, fd: 5, generation: 1, role: 2, lport: 80, rport: 40000 };
  const client: RecordConn = { pid: 200, fd: 6, generation: 2, role: 1, lport: 40000, rport: 80 };
  const r = new XorShift32(42); // the same sizes for every run
  const w = new SocketRecordWriter(1 << 20);
  w.open(server, 1n);
  w.open(client, 1n);
  const pos = { q: 0, s: 0 };
  let ts = 1_000n;
  for (let i = 0; i < 30; i++) {
    const body = 'b'.repeat(r.int(3000));
    const reqBytes = Buffer.from(`GET /item/${i}?n=${body.length} HTTP/1.1\r\nHost: x\r\n\r\n`);
    const respBytes = Buffer.from(`HTTP/1.1 ${i % 7 === 3 ? 404 : 200} OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    const f = (conn: RecordConn, direction: 0 | 1, request: boolean): DataFields => ({
      conn, direction, position: request ? pos.q : pos.s, tsNs: (ts += 1000n), data: request ? reqBytes : respBytes,
    });
    const [cq, sq, ss, cs] = [f(client, 0, true), f(server, 1, true), f(server, 0, false), f(client, 1, false)];
    if (mode === 'plain') {
      for (const x of [cq, sq, ss, cs]) w.data(x);
    } else if (mode === 'shed every third' && i % 3 === 1) {
      // The summary: the status line's first 32 bytes; the rest of the response is never sent.
      const statusLine = (x: DataFields): DataFields => ({ ...x, data: respBytes.subarray(0, 32), callLen: respBytes.length });
      w.pair(sq, statusLine(ss), SOCK_EV.SHED);
      w.pair(cq, statusLine(cs), SOCK_EV.SHED);
    } else {
      w.pair(sq, ss);
      w.pair(cq, cs);
    }
    pos.q += reqBytes.length;
    pos.s += respBytes.length;
  }
  const out: Exchange[] = [];
  const tracker = new ConnectionTracker({ maxConnections: 10, idleTimeoutMs: 1e9, handlers: protocolHandlers(), onExchange: (e) => out.push(e) }, () => 0);
  for (const e of decodeAll(w).events) tracker.handle(e);
  tracker.closeAll();
  return out;
}

function http1(ex: Exchange): HttpExchange {
  if (ex.protocol !== 'http1') throw new Error(`not HTTP/1: ${ex.protocol}`);
  return ex;
}

/** An exchange without the kernel's sampling mark, as JSON. */
const unmarked = (ex: Exchange): string => {
  const h = http1(ex);
  const { kernelSampling: _mark, ...request } = h.request;
  return JSON.stringify({ ...h, request }, big);
};

t.test('a keep-alive conversation gives the same exchanges paired or not', async (t) => {
  const unpaired = conversation('plain');
  const paired = conversation('paired');
  t.equal(unpaired.length, 60, 'thirty exchanges on each side');
  t.ok(unpaired.every((ex) => http1(ex).request.kernelSampling === undefined), 'unpaired: the agent\'s shedder decides');
  t.ok(paired.every((ex) => http1(ex).request.kernelSampling === 'kept'), 'paired: kept in the kernel');
  t.same(paired.map(unmarked), unpaired.map(unmarked), 'the same exchanges, field for field');
});

t.test('exchanges shed in the kernel: metrics fields from the summary, the others unchanged', async (t) => {
  const unpaired = conversation('plain');
  const out = conversation('shed every third');
  t.equal(out.length, 60, 'every exchange, shed or not, on each side');
  const key = (ex: Exchange): string => `${http1(ex).connection.pid} ${http1(ex).ordinal}`;
  const byKey = new Map(unpaired.map((ex) => [key(ex), http1(ex)]));
  let shed = 0;
  for (const ex of out.map(http1)) {
    const plain = byKey.get(key(ex));
    if (plain === undefined) {
      t.fail(`no exchange ${key(ex)} without shedding`);
      continue;
    }
    const i = Number(/\/item\/(\d+)/.exec(ex.request.target)?.[1]);
    t.equal(plain.request.target, ex.request.target, `${key(ex)}: ordinals in step after shed exchanges`);
    if (i % 3 !== 1) {
      t.equal(ex.request.kernelSampling, 'kept', `${key(ex)}: kept`);
      t.equal(unmarked(ex), unmarked(plain), `${key(ex)}: as without shedding`);
      continue;
    }
    shed++;
    t.equal(ex.request.kernelSampling, 'shed', `${key(ex)}: shed`);
    t.same([ex.request.method, ex.request.headers, ex.request.startNs], [plain.request.method, plain.request.headers, plain.request.startNs], `${key(ex)}: the request as parsed without shedding`);
    t.same([ex.response?.statusCode, ex.response?.version, ex.response?.startNs, ex.response?.endNs], [plain.response?.statusCode, plain.response?.version, plain.response?.startNs, plain.response?.startNs], `${key(ex)}: status and version; the response ends at its first bytes`);
  }
  t.equal(shed, 20, 'ten shed exchanges on each side');
});

/** HTTP/1 as the tracker's handler, with or without the session's one-call path for a pair. */
function http1Handlers(onePath: boolean, taken: { pairs: number; sessions: Http1Connection[] }): ProtocolHandler[] {
  return protocolHandlers().map((h) => (h.name !== 'http1' ? h : {
    ...h,
    open: (c: ConnectionInfo): ProtocolSession => {
      const s = h.open(c) as ProtocolSession & { paired?: ProtocolSession['paired'] };
      if (s instanceof Http1Connection) taken.sessions.push(s);
      const paired = s.paired?.bind(s);
      if (!onePath || paired === undefined) s.paired = undefined;
      else s.paired = (...a) => { taken.pairs++; paired(...a); };
      return s;
    },
    // Its sessions are patched: none goes to the handler's pool, where another tracker would get it.
    release: undefined,
  }));
}

/**
 * A random keep-alive conversation on one connection seen from one end, as the kernel may send it:
 * paired records (kept), shed summaries, responses longer than the pair's chunk (their rest as data
 * events, some out of order), chunked and close-delimited bodies, HEAD, 204, pipelined requests as
 * plain data events, requests split in two, skip markers, and a connection found mid-stream. Three
 * exchanges in five repeat the one before byte for byte (a session keeps a replay once a request
 * repeats, and replays the repeats after it), some of those with a response stamped before its
 * request.
 */
function randomConversation(seed: number): SocketEvent[] {
  const r = new XorShift32(seed);
  const role = r.pick([1, 2] as const);
  const conn: RecordConn = { pid: 300, fd: 7, generation: 3, role: r.chance(0.2) ? 0 : role, lport: 80, rport: 41000 };
  const reqDir: 0 | 1 = role === 1 ? 0 : 1;
  const respDir: 0 | 1 = reqDir === 0 ? 1 : 0;
  const w = new SocketRecordWriter(1 << 22);
  if (!r.chance(0.2)) w.open(conn, 1n); // else: found mid-stream, by its data alone
  const pos = { q: r.chance(0.2) ? 1000 : 0, s: r.chance(0.2) ? 2000 : 0 };
  let ts = 1_000n;
  const at = (direction: 0 | 1, position: number, data: Uint8Array, callLen?: number): DataFields =>
    ({ conn, direction, position, tsNs: (ts += 1000n), data, ...(callLen !== undefined ? { callLen } : {}) });
  const n = 5 + r.int(25);
  let previous: { req: Buffer; resp: Buffer } | null = null;
  for (let i = 0; i < n; i++) {
    const method = r.chance(0.1) ? 'HEAD' : r.chance(0.1) ? 'POST' : 'GET';
    const reqBody = method === 'POST' ? 'x'.repeat(r.int(40)) : '';
    const req = Buffer.from(`${method} /p/${i} HTTP/1.1\r\nHost: h${r.int(3)}\r\n${reqBody !== '' ? `Content-Length: ${reqBody.length}\r\n` : ''}\r\n${reqBody}`);
    const bodyLen = r.int(6000);
    const kind = r.pick(['length', 'length', 'chunked', 'no-content', 'close'] as const);
    const last = i === n - 1;
    if (previous !== null && !last && r.chance(0.6)) {
      // The exchange before, again: whole in one pair (mostly), its response now and then stamped
      // before the request (never replayed: it would answer nothing).
      const early = r.chance(0.1);
      const { req: q, resp: s } = previous;
      const first = r.chance(0.8) ? s.length : Math.min(s.length, 1 + r.int(4096));
      const qf = at(reqDir, pos.q, q);
      const sf = at(respDir, pos.s, s.subarray(0, first), s.length);
      w.pair(qf, early ? { ...sf, tsNs: qf.tsNs - 500n } : sf);
      if (first < s.length) w.data(at(respDir, pos.s + first, s.subarray(first)));
      pos.q += q.length;
      pos.s += s.length;
      continue;
    }
    const head = kind === 'no-content' ? 'HTTP/1.1 204 No Content\r\n\r\n'
      : kind === 'chunked' ? 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'
        : kind === 'close' && last ? 'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n'
          : `HTTP/1.1 ${r.pick([200, 404, 500])} X\r\nContent-Length: ${bodyLen}\r\n\r\n`;
    const body = method === 'HEAD' || kind === 'no-content' ? '' : kind === 'chunked' ? `${bodyLen.toString(16)}\r\n${'c'.repeat(bodyLen)}\r\n0\r\n\r\n` : 'b'.repeat(bodyLen);
    const resp = Buffer.from(head + (kind === 'chunked' && bodyLen === 0 ? '0\r\n\r\n' : body));
    if (kind !== 'close' && resp.length <= 4096) previous = { req, resp };
    const style = r.pick(['pair', 'pair', 'pair', 'pair', 'shed', 'plain', 'split', 'pipelined'] as const);
    if (style === 'pipelined' && !last) {
      // Two requests, then both responses: the kernel pairs neither.
      const req2 = Buffer.from(`GET /q/${i} HTTP/1.1\r\n\r\n`);
      const resp2 = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
      w.data(at(reqDir, pos.q, req));
      w.data(at(reqDir, pos.q + req.length, req2));
      w.data(at(respDir, pos.s, resp));
      w.data(at(respDir, pos.s + resp.length, resp2));
      pos.q += req.length + req2.length;
      pos.s += resp.length + resp2.length;
      continue;
    }
    if (style === 'split') {
      const cut = 1 + r.int(req.length - 1);
      w.data(at(reqDir, pos.q, req.subarray(0, cut)));
      w.data(at(reqDir, pos.q + cut, req.subarray(cut)));
      w.data(at(respDir, pos.s, resp));
    } else if (style === 'plain') {
      w.data(at(reqDir, pos.q, req));
      w.data(at(respDir, pos.s, resp));
    } else if (style === 'shed' && kind !== 'close') {
      w.pair(at(reqDir, pos.q, req), at(respDir, pos.s, resp.subarray(0, 32), resp.length), SOCK_EV.SHED);
    } else {
      // The response's first chunk in the pair (≤ 4 KiB), the rest as data events, maybe out of
      // order, maybe lost (a skip marker).
      const first = Math.min(resp.length, 1 + r.int(4096));
      w.pair(at(reqDir, pos.q, req), at(respDir, pos.s, resp.subarray(0, first), resp.length));
      const rest: DataFields[] = [];
      for (let o = first; o < resp.length;) {
        const k = Math.min(resp.length - o, 1 + r.int(3000));
        rest.push(r.chance(0.05) ? at(respDir, pos.s + o, Buffer.alloc(0), k) : at(respDir, pos.s + o, resp.subarray(o, o + k)));
        o += k;
      }
      if (rest.length > 1 && r.chance(0.2)) rest.push(rest.splice(0, 1)[0]!); // the first piece late
      for (const f of rest) w.data(f);
    }
    pos.q += req.length;
    pos.s += resp.length;
    if (kind === 'close' && last) break;
  }
  const events: SocketEvent[] = [];
  for (const [off, len] of w.offsets) decodeSocketRecord(w.view, off, len, clock, (e) => events.push(e));
  events.push({ type: 'close', pid: conn.pid, fd: conn.fd, generation: conn.generation, bytesEgress: reqDir === 0 ? pos.q : pos.s, bytesIngress: reqDir === 0 ? pos.s : pos.q, shedBefore: 0, timeNs: ts + 1000n });
  return events;
}

t.test('a pair through the session\'s one call gives what its two data events give', async (t) => {
  let pairs = 0;
  let replayed = 0;
  let answered = 0;
  for (let seed = 1; seed <= 400; seed++) {
    const events = randomConversation(seed);
    const run = (onePath: boolean): { exchanges: string; answered: number; stats: unknown; pairs: number; replayed: number } => {
      const taken = { pairs: 0, sessions: [] as Http1Connection[] };
      const out: Exchange[] = [];
      const tracker = new ConnectionTracker({ maxConnections: 10, idleTimeoutMs: 1e9, handlers: http1Handlers(onePath, taken), onExchange: (e) => out.push(e) }, () => 0);
      for (const e of events) tracker.handle(e);
      tracker.closeAll();
      const answered = out.filter((ex) => ex.protocol === 'http1' && ex.response !== null).length;
      return { exchanges: JSON.stringify(out, big), answered, stats: tracker.stats(), pairs: taken.pairs, replayed: taken.sessions.reduce((n, x) => n + x.replayed, 0) };
    };
    const one = run(true);
    const two = run(false);
    pairs += one.pairs;
    replayed += one.replayed;
    answered += one.answered;
    if (one.exchanges !== two.exchanges) {
      t.fail(`seed ${seed}: exchanges differ\n${one.exchanges.slice(0, 600)}\n${two.exchanges.slice(0, 600)}`);
      return;
    }
    t.same(one.stats, two.stats, `seed ${seed}: the same counters`);
  }
  t.ok(pairs > 2000, `the one-call path taken for most pairs (${pairs})`);
  t.ok(replayed > 400, `repeated exchanges replayed by the session (${replayed})`);
  t.ok(answered > 4000, `exchanges with their responses (${answered})`);
});
