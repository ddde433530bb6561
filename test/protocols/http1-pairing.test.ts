// Kernel-side HTTP/1 pairing (bpf/include/pairing.h) through the real BPF path: a raw-socket Python
// server and client (test/fixtures/http1-pairing.py) choose every write, so that keep-alive,
// pipelining, split heads, close-delimited bodies, 100-continue, large heads and a connection found
// mid-exchange each reach the kernel as intended. Spans must be what they are without pairing; the
// kernel's counters show which path each case took (paired records, or the reason it fell back).
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import type { SpanRecord } from '../../src/model/span.js';
import { attr, startTestAgent, type TestAgent } from '../helpers/agent.js';
import { startPrintingPort } from '../helpers/spawn.js';

const FIXTURE = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../../../test/fixtures/http1-pairing.py' : '../fixtures/http1-pairing.py', import.meta.url));
const pidOf = (s: SpanRecord): number => Number(s.resource.attributes['process.pid']);
const query = (s: SpanRecord): string => String(attr(s, 'url.query') ?? '');

interface Client { child: ChildProcess; pid: number; done: Promise<string> }

/** Starts the fixture's client on one scenario; `done` resolves with its output once it exits 0. */
function client(port: number, scenario: string): Client {
  const child = spawn('python3', [FIXTURE, 'client', String(port), scenario], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const done = once(child, 'exit').then(([code]) => {
    clearTimeout(timer);
    if (code !== 0) throw new Error(`client ${scenario} exited ${String(code)}: ${err}`);
    return out;
  });
  return { child, pid: child.pid!, done };
}

/** The sockets collector's kernel counters for HTTP/1 pairing, and of data records (`data_events`), now. */
function pairing(agent: TestAgent): Record<string, number> {
  const sockets = agent.agent.summary().collectors.sockets ?? {};
  const counters = Object.entries(sockets).filter(([k]) => k.startsWith('kernel_http1_')).map(([k, v]): [string, number] => [k.slice('kernel_http1_'.length), v]);
  return Object.fromEntries([...counters, ['data_events', sockets.kernel_data_events ?? Number.NaN]]);
}

function delta(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]));
}

const fallbacks = (d: Record<string, number>): number => Object.entries(d).filter(([k]) => k.startsWith('unpaired_')).reduce((a, [, v]) => a + v, 0);

/** One exchange as its span must show it (status and size undefined: an exchange without an answer). */
interface Expected { query: string; method: string; path: string; status: number | undefined; responseBytes: number | undefined }

/**
 * The spans of one side, one per expected exchange (matched by url.query), each with the expected
 * method, path, status and response size, in stream order: each ends before the next begins.
 */
function checkSide(t: Test, spans: SpanRecord[], expected: Expected[], side: string, overlapping = false): void {
  t.equal(spans.length, expected.length, `${side}: one span per exchange (${spans.map(query).join(', ')})`);
  // Stable: requests sent in one write start at the same time, and were exported in stream order.
  const sorted = [...spans].sort((a, b) => (a.startTimeUnixNano < b.startTimeUnixNano ? -1 : a.startTimeUnixNano > b.startTimeUnixNano ? 1 : 0));
  t.same(sorted.map(query), expected.map((e) => e.query), `${side}: in the order they were made`);
  for (const e of expected) {
    const s = spans.find((x) => query(x) === e.query);
    t.same(s && {
      method: attr(s, 'http.request.method'), path: attr(s, 'url.path'), status: attr(s, 'http.response.status_code'), responseBytes: attr(s, 'http.response.body.size'),
    }, { method: e.method, path: e.path, status: e.status, responseBytes: e.responseBytes }, `${side} ${e.query}`);
    if (s !== undefined) t.ok(s.startTimeUnixNano <= s.endTimeUnixNano, `${side} ${e.query}: starts before it ends`);
  }
  if (overlapping) return; // pipelined exchanges overlap; sequential ones do not
  for (let i = 1; i < sorted.length; i++) {
    t.ok(sorted[i - 1]!.endTimeUnixNano <= sorted[i]!.startTimeUnixNano, `${side}: ${query(sorted[i]!)} begins after ${query(sorted[i - 1]!)} ends`);
  }
}

/**
 * Exchanges on /slow/ (600 ms in the server) last that long on both sides: a held request keeps the
 * time of its own syscall, not the time it went out with its response. (Client spans do not always
 * enclose server spans to the nanosecond: each end's time is taken at its syscall's exit, and the
 * peer's syscall can return first.)
 */
function checkSlow(t: Test, spans: SpanRecord[]): void {
  for (const s of spans.filter((x) => String(attr(x, 'url.path')).startsWith('/slow/'))) {
    const ms = Number(s.endTimeUnixNano - s.startTimeUnixNano) / 1e6;
    t.ok(ms >= 600, `${s.kind} ${query(s)} lasts the server's 600 ms (${ms.toFixed(1)} ms)`);
  }
}

const ok = (q: string, n: number, path = `/ok/${n}`): Expected => ({ query: q, method: 'GET', path, status: 200, responseBytes: n });

interface Scenario {
  name: string;
  scenario: string;
  expected: Expected[];
  /** Pipelined: exchanges overlap. */
  overlapping?: boolean;
  /** Checks on the pairing counters' change over the scenario (client and server sides). */
  counters(t: Test, d: Record<string, number>): void;
}

const SCENARIOS: Scenario[] = [
  {
    name: 'keep-alive: twenty exchanges on one connection, each one paired record per side',
    scenario: 'keepalive',
    expected: Array.from({ length: 20 }, (_, i) => ok(`i=${i}`, i * 7)),
    counters(t, d) {
      t.ok(d.paired! >= 40, `paired records: ${d.paired} (20 exchanges × 2 sides)`);
      t.equal(fallbacks(d), 0, `no fallback (${JSON.stringify(d)})`);
    },
  },
  {
    name: 'a response head and body in one writev: the body is in the paired record',
    scenario: 'writev',
    expected: [ok('w=0', 5, '/writev/5'), ok('w=1', 9, '/writev3/9'), ok('w=2', 1, '/writev/1'), ok('w=3', 40, '/writev3/40')],
    counters(t, d) {
      t.ok(d.paired! >= 8, `paired records: ${d.paired} (4 exchanges × 2 sides)`);
      t.equal(fallbacks(d), 0, `no fallback (${JSON.stringify(d)})`);
      // Without the later buffers in the record, each response's body went as a data event of its own.
      t.equal(d.data_events, 0, 'no data record besides the paired ones');
    },
  },
  {
    name: 'a writev response longer than a paired record carries: its later buffers follow as data',
    scenario: 'writev-large',
    expected: [ok('wl=1', 6000, '/writev/6000'), ok('wl=2', 5000, '/writev3/5000')],
    counters(t, d) {
      t.ok(d.paired! >= 4, `paired records: ${d.paired}`);
      t.equal(fallbacks(d), 0, `no fallback (${JSON.stringify(d)})`);
      t.ok(d.data_events! >= 2, `the bodies as data records (${d.data_events})`);
    },
  },
  {
    name: 'pipelined requests: two in one write, two in two writes before the first answer',
    scenario: 'pipelined',
    overlapping: true,
    expected: [ok('i=1', 5), ok('i=2', 9), { ...ok('i=3', 7, '/slow/7') }, ok('i=4', 11), ok('i=5', 13)],
    counters(t, d) {
      t.ok(d.unpaired_pipelined! >= 1, `the client's second write before an answer: pipelined fallback (${d.unpaired_pipelined})`);
    },
  },
  {
    name: 'partial heads: a request head in three writes, response heads in three writes',
    scenario: 'partial',
    expected: [{ ...ok('i=1', 11, '/split/11'), status: 201 }, { ...ok('i=2', 4, '/split/4'), status: 201 }],
    counters(t, d) {
      t.ok(d.unpaired_request_spanning! >= 1, `request head over several syscalls: fallback (${d.unpaired_request_spanning})`);
    },
  },
  {
    name: 'split response heads on a paired connection',
    scenario: 'response-split',
    expected: [0, 1, 2].map((i) => ({ ...ok(`r=${i}`, 10 + i, `/split/${10 + i}`), status: 201 })),
    counters(t, d) {
      t.ok(d.paired! >= 6, `the first piece of each response head pairs (${d.paired})`);
      t.equal(fallbacks(d), 0, `no fallback (${JSON.stringify(d)})`);
    },
  },
  {
    name: 'close-delimited response (HTTP/1.0, no Content-Length)',
    scenario: 'close',
    expected: [{ query: '', method: 'GET', path: '/close/321', status: 200, responseBytes: 321 }],
    counters(t, d) {
      t.ok(d.paired! >= 2, `paired on both sides (${d.paired})`);
    },
  },
  {
    name: '100-continue: the interim response ends pairing, the exchange is whole',
    scenario: 'continue',
    expected: [{ query: '', method: 'POST', path: '/upload', status: 200, responseBytes: 4 }, ok('after=continue', 6)],
    counters(t, d) {
      t.ok(d.unpaired_informational! >= 2, `1xx on both sides (${d.unpaired_informational})`);
    },
  },
  {
    name: 'a request head over 1 KiB, then a small request on the same connection',
    scenario: 'large',
    expected: [ok('big=1', 8), ok('big=0', 3)],
    counters(t, d) {
      t.ok(d.unpaired_request_large! >= 2, `a 3 KiB request on both sides (${d.unpaired_request_large})`);
    },
  },
  {
    name: '101 Switching Protocols: pairing ends, request-like bytes after it are not HTTP',
    scenario: 'upgrade',
    expected: [{ query: 'u=1', method: 'GET', path: '/upgrade', status: 101, responseBytes: 0 }],
    counters(t, d) {
      t.ok(d.unpaired_upgrade! >= 2, `101 on both sides (${d.unpaired_upgrade})`);
    },
  },
  {
    name: 'an answer that is no status line: pairing ends, the request is still reported',
    scenario: 'garbage',
    expected: [{ query: 'g=1', method: 'GET', path: '/garbage', status: undefined, responseBytes: undefined }],
    counters(t, d) {
      t.ok(d.unpaired_not_status_line! >= 2, `on both sides (${d.unpaired_not_status_line})`);
    },
  },
];

t.test('HTTP/1 pairing between a raw-socket server and client', async (t) => {
  const server = await startPrintingPort('python3', [FIXTURE, 'server']);
  t.teardown(() => server.stop());
  const agent = await startTestAgent({ pids: [server.child.pid!] });
  t.teardown(() => agent.stop());
  for (const sc of SCENARIOS) {
    await t.test(sc.name, async (t) => {
      const before = pairing(agent);
      const c = client(server.port, sc.scenario);
      t.match(await c.done, /done/);
      const n = sc.expected.length;
      // The server's spans of this client's connection by path and query, which no two scenarios share.
      const mine = (kind: string, pid: number) => (s: SpanRecord): boolean => s.kind === kind && pidOf(s) === pid && sc.expected.some((e) => e.path === attr(s, 'url.path') && e.query === query(s));
      const cli = await agent.waitForSpans(mine('client', c.pid), n);
      const srv = await agent.waitForSpans(mine('server', server.child.pid!), n);
      checkSide(t, srv, sc.expected, 'server', sc.overlapping);
      checkSide(t, cli, sc.expected, 'client', sc.overlapping);
      checkSlow(t, [...srv, ...cli]);
      // The counters are read once both sides are exported: every record has been decoded.
      sc.counters(t, delta(pairing(agent), before));
    });
  }
  t.equal(agent.spans.filter((s) => attr(s, 'url.path') === '/not-http').length, 0, 'nothing parsed after a 101');
  t.equal(agent.agent.summary().collectors.sockets?.records_malformed, 0, 'every record decoded');
});

t.test('a keep-alive connection found mid-exchange', async (t) => {
  // The client sends its first request, which the server answers only once the agent has started
  // (the file $HOLD_FILE appears); the client reads that answer when told to, then goes on. (The
  // server must not be blocked in its next read across the start: a syscall entered before the
  // probes were attached is not seen at its exit.)
  const dir = mkdtempSync(join(tmpdir(), 'lantern-pairing-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const holdFile = join(dir, 'go');
  const server = await startPrintingPort('python3', [FIXTURE, 'server'], { HOLD_FILE: holdFile });
  t.teardown(() => server.stop());
  const c = client(server.port, 'midstream');
  await new Promise<void>((resolve) => c.child.stdout!.on('data', (d: Buffer) => d.toString().includes('sent') && resolve()));
  const agent = await startTestAgent({ pids: [server.child.pid!, c.pid] });
  t.teardown(() => agent.stop());
  const before = pairing(agent);
  writeFileSync(holdFile, '');
  c.child.stdin!.end('go\n');
  t.match(await c.done, /done/);
  const expected = [1, 2, 3].map((i) => ok(`i=${i}`, i));
  const mine = (kind: string, pid: number) => (s: SpanRecord): boolean => s.kind === kind && pidOf(s) === pid && /^\/(ok|hold)\//.test(String(attr(s, 'url.path')));
  const after = (s: SpanRecord): boolean => query(s) !== 'i=0';
  const srv = (await agent.waitForSpans((s) => mine('server', server.child.pid!)(s) && after(s), 3)).filter(after);
  const cli = (await agent.waitForSpans((s) => mine('client', c.pid)(s) && after(s), 3)).filter(after);
  await new Promise((r) => setTimeout(r, 300));
  checkSide(t, srv, expected, 'server');
  checkSide(t, cli, expected, 'client');
  t.equal(agent.spans.filter((s) => query(s) === 'i=0').length, 0, 'no span for the request sent before the start');
  const d = delta(pairing(agent), before);
  t.ok(d.paired! >= 6, `the exchanges after the start are paired on both sides (${d.paired})`);
  t.equal(agent.agent.summary().collectors.sockets?.records_malformed, 0, 'every record decoded');
});

t.test('a request held when its connection ends unanswered is not lost', async (t) => {
  const server = await startPrintingPort('python3', [FIXTURE, 'server']);
  t.teardown(() => server.stop());
  const agent = await startTestAgent({ pids: [server.child.pid!] });
  let stopped = false;
  t.teardown(() => (stopped ? undefined : agent.stop()));
  const before = pairing(agent);
  // The server closes on the request: both sides held it, both replay it at their close.
  const drop = client(server.port, 'drop');
  t.match(await drop.done, /done/);
  const dropped = await agent.waitForSpans((s) => attr(s, 'url.path') === '/drop', 2);
  t.same(dropped.map((s) => s.kind).sort(), ['client', 'server'], 'an unanswered exchange on each side');
  t.ok(dropped.every((s) => attr(s, 'http.response.status_code') === undefined), 'without a status');
  t.ok(delta(pairing(agent), before).unpaired_close! >= 2, 'held requests replayed at close, on both sides');
  // A client killed while its requests are held calls no close: the sweep delivers them (at the
  // latest when the agent stops), a small one and a larger one, and the tracker ends them unanswered.
  const die = client(server.port, 'die');
  await new Promise<void>((resolve) => die.child.stdout!.on('data', (d: Buffer) => d.toString().includes('sent') && resolve()));
  die.child.kill('SIGKILL');
  await die.done.catch(() => undefined);
  await agent.waitForSpans((s) => s.kind === 'server' && String(attr(s, 'url.query')).startsWith('die='), 2);
  stopped = true;
  const summary = await agent.stop();
  t.ok((summary.collectors.sockets?.http1_held_swept ?? 0) >= 2, `the killed client's held requests swept (${summary.collectors.sockets?.http1_held_swept})`);
  for (const query of ['die=1', 'die=2']) {
    const died = agent.spans.filter((s) => s.kind === 'client' && attr(s, 'url.query') === query && pidOf(s) === die.pid);
    t.equal(died.length, 1, `the killed client's request (${query}) still becomes its span`);
  }
});
