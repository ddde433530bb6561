// decode.ts's expansion of the kernel's paired HTTP/1 records (bpf/include/pairing.h): a paired
// record must become exactly the two data events the kernel would have sent without pairing, at any
// place in a batch and for any sizes up to the bounds; short or inconsistent records are malformed
// and emit nothing; and a keep-alive conversation gives the tracker the same exchanges either way.
import t from 'tap';
import { PAIR_EVENT, SOCK_EV, type SocketEvent, decodeSocketRecord } from '../../src/collectors/sockets/decode.js';
import { ConnectionTracker } from '../../src/collectors/sockets/tracker.js';
import { KernelClock } from '../../src/model/clock.js';
import type { Exchange } from '../../src/model/exchange.js';
import type { HttpExchange } from '../../src/model/http.js';
import { protocolHandlers } from '../../src/protocols/registry.js';
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

t.test('a paired record expands into the two data events it stands for', async (t) => {
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
    // The request's event says the kernel paired it (and kept its span): the one difference.
    const expected = b.events.map((e, i) => (i === 1 && e.type === 'data' ? { ...e, paired: true } : e));
    if (a.malformed !== 0 || b.malformed !== 0 || JSON.stringify(plain(a.events), big) !== JSON.stringify(plain(expected), big)) {
      t.fail(`seed ${seed}: paired ${JSON.stringify(plain(a.events), big).slice(0, 400)} vs ${JSON.stringify(plain(b.events), big).slice(0, 400)}`);
      return;
    }
  }
  t.pass('300 random pairs, each the same two events as without pairing, the request marked paired');
});

function big(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}

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
