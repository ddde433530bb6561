// The agent's user-space hot path, in process: socket records laid out as bpf/sockets.bpf.c writes
// them into a ring-buffer batch → decode → connection tracker → HTTP/1 session → exchange pipeline
// (span, RED histogram, linker) → span export to an OTLP JSON file. One keep-alive request is four
// records (the client's request write and response read, the server's request read and response
// write) and two exchanges (the CLIENT and the SERVER span), as when both ends are traced; with
// --paired, two records (one paired record per side: the kernel's HTTP/1 pairing); with --shed, two
// summaries (each exchange shed in the kernel: its RED point, no span); --compare runs the three,
// alternating, in one process. Every request is the same (as loadgen's), unless --distinct: then
// each has its own path and body size (no head repeats its connection's last one). With
// --connection-per-request every request is on a connection of its own, opened and closed at both ends
// (a client that does not keep connections alive: what each new connection costs). With --jaeger the
// spans go over OTLP/gRPC to a Jaeger started for the run (its own process: its CPU is not counted),
// the production path, instead of to the file.
//
// What it tells: the JavaScript cost per exchange, without BPF, the ring buffer's consumer thread or
// a machine's noise in the way: a quick loop for whoever changes a stage, before the end-to-end
// benchmark (nginx.ts --all-processes) says what a user sees. --tracker-only stops at the tracker's
// exchanges (decode, tracker, streams, protocol sessions): no span, no export, so its instruction
// count under valgrind repeats within ~0.5 %. The whole path's count mostly repeats within ~0.5 % as
// well (a run now and then 2-4 % off: repeat) under `node --single-threaded --predictable`, over warm
// runs (`--runs 4` minus `--runs 1`), though on another host (session 36) three counts of one build to
// the file gave 25,367, 25,522 and 27,620 (`--runs 7` minus `--runs 1`, two of them beside a busy CPU):
// the file's flush timers and V8's GC fall by the clock, and a ~2 % change needs several counts; with
// --connection-per-request within ~±8 % only (66.5k-78.5k over five runs of one build, session 19); without those flags, runs of one build differ by up to
// ±13 % (V8's GC and compilations, which valgrind serializes, fall differently from one run to the
// next). Instruction counts miss what memory costs: a WeakMap by connection cost 5-10 % of the time of
// a connection per request and no instructions to speak of (session 19). Time alternating builds too.
//
//   node dist/benchmarks/hot-path.js [--requests N] [--runs N] [--file PATH | --jaeger] [--paired | --shed | --compare] [--tracker-only]
//     [--distinct] [--connection-per-request]
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ConnectionTracker } from '../src/collectors/sockets/tracker.js';
import { CLOSE_EVENT, DATA_HEADER, EventScratch, OPEN_EVENT, PAIR_EVENT, SOCK_EV, decodeSocketRecord } from '../src/collectors/sockets/decode.js';
import { ExchangePipeline } from '../src/agent/exchange-pipeline.js';
import { SpanShedder } from '../src/agent/span-shedder.js';
import { defaultConfig } from '../src/config/schema.js';
import { OtlpFileWriter } from '../src/export/otlp-file.js';
import { TelemetryExporter } from '../src/export/telemetry-exporter.js';
import { Logger } from '../src/log.js';
import { ProcessMetadata } from '../src/metadata/process-metadata.js';
import { KernelClock } from '../src/model/clock.js';
import { turn, turnNow } from '../src/model/turn-clock.js';
import { FollowedConnections } from '../src/model/link-part.js';
import { protocolHandlers } from '../src/protocols/registry.js';
import { type RecordConn, SocketRecordWriter } from '../test/helpers/socket-records.js';
import { startJaeger } from '../test/helpers/jaeger.js';
import { median } from './stats.js';

const REQUEST = Buffer.from('GET /lantern-bench HTTP/1.1\r\nHost: 127.0.0.1:18080\r\nUser-Agent: lantern-loadgen\r\nAccept-Encoding: gzip\r\n\r\n');
const RESPONSE = Buffer.from('HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 03 Dec 2026 17:48:00 GMT\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nok\n');

/**
 * How the kernel sends each side's exchange: a record per syscall (pairing off), one paired record
 * (bpf/include/pairing.h, HTTP/1 keep-alive traffic), or a summary of an exchange shed there.
 */
type Records = 'per-syscall' | 'paired' | 'shed';

/**
 * Request `r` and its response: the same bytes every time (keep-alive traffic that repeats itself,
 * as loadgen's), or with `distinct`, another path and another body size for every request, so that
 * no head is its connection's last one and no two spans have the same attributes (what the parser's
 * head memo and the conventions' shared attribute sets cost when they never hit).
 */
function exchangeBytes(r: number, distinct: boolean): { request: Buffer; response: Buffer } {
  if (!distinct) return { request: REQUEST, response: RESPONSE };
  const body = `ok ${r}\n`;
  return {
    request: Buffer.from(`GET /lantern-bench/items/${r} HTTP/1.1\r\nHost: 127.0.0.1:18080\r\nUser-Agent: lantern-loadgen\r\nAccept-Encoding: gzip\r\n\r\n`),
    response: Buffer.from(`HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 03 Dec 2026 17:48:00 GMT\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: keep-alive\r\n\r\n${body}`),
  };
}

/** What the requests are like (see the file's comment). */
interface Traffic {
  records: Records;
  distinct: boolean;
  /** A connection per request, not keep-alive ones. */
  perRequest: boolean;
}

/** `requests` requests over `conns` connections (each request's own with perRequest), both ends traced, in batches of ~1 MiB. */
function batches(requests: number, conns: number, clientPid: number, serverPid: number, { records, distinct, perRequest }: Traffic): SocketRecordWriter[] {
  const out: SocketRecordWriter[] = [];
  // Distinct requests are a few bytes longer than REQUEST and RESPONSE: room for 64 more per request.
  const bytes = REQUEST.length * 2 + RESPONSE.length * 2 + (distinct ? 64 : 0);
  const lifecycle = perRequest ? 2 * (OPEN_EVENT.size + 8) + 2 * (CLOSE_EVENT.size + 8) : 0;
  const recordBytes = (records !== 'per-syscall' ? 2 * (PAIR_EVENT.data + 8) + bytes : 4 * (DATA_HEADER.size + 8) + bytes) + lifecycle;
  const perBatch = Math.floor((1 << 20) / recordBytes);
  const pairs = Array.from({ length: conns }, (_, i) => ({
    client: { pid: clientPid, fd: 10 + i, generation: 2 * i + 1, role: 1, lport: 40000 + i, rport: 18080 } as RecordConn,
    server: { pid: serverPid, fd: 100 + i, generation: 2 * i + 2, role: 2, lport: 18080, rport: 40000 + i } as RecordConn,
    requestBytes: 0,
    responseBytes: 0,
  }));
  let t = process.hrtime.bigint();
  let w = new SocketRecordWriter(1 << 21);
  if (!perRequest) {
    for (const p of pairs) {
      w.open(p.client, t);
      w.open(p.server, t);
    }
  }
  for (let r = 0; r < requests; r++) {
    if (r > 0 && r % perBatch === 0) {
      out.push(w);
      w = new SocketRecordWriter(1 << 21);
    }
    const p = pairs[r % conns]!;
    if (perRequest) {
      // A new connection at both ends: new generations, another client port, the streams from 0.
      const generation = 2 * (conns + r);
      const port = 20000 + (r % 40000);
      p.client = { ...p.client, generation: generation + 1, lport: port };
      p.server = { ...p.server, generation: generation + 2, rport: port };
      p.requestBytes = 0;
      p.responseBytes = 0;
      w.open(p.client, (t += 1_000n));
      w.open(p.server, (t += 1_000n));
    }
    const { request, response } = exchangeBytes(r, distinct);
    const q = p.requestBytes;
    const s = p.responseBytes;
    const clientReq = { conn: p.client, direction: 0, position: q, data: request, tsNs: (t += 10_000n) } as const;
    const serverReq = { conn: p.server, direction: 1, position: q, data: request, tsNs: (t += 20_000n) } as const;
    const serverResp = { conn: p.server, direction: 0, position: s, data: response, tsNs: (t += 30_000n) } as const;
    const clientResp = { conn: p.client, direction: 1, position: s, data: response, tsNs: (t += 10_000n) } as const;
    if (records === 'paired') {
      // In ring order: the server's record goes out at its response write, the client's at its read.
      w.pair(serverReq, serverResp);
      w.pair(clientReq, clientResp);
    } else if (records === 'shed') {
      // The status line's first 32 bytes (SOCK_SHED_RESPONSE), the rest never sent.
      const status = response.subarray(0, 32);
      w.pair(serverReq, { ...serverResp, data: status, callLen: response.length }, SOCK_EV.SHED);
      w.pair(clientReq, { ...clientResp, data: status, callLen: response.length }, SOCK_EV.SHED);
    } else {
      for (const f of [clientReq, serverReq, serverResp, clientResp]) w.data(f);
    }
    p.requestBytes += request.length;
    p.responseBytes += response.length;
    if (perRequest) {
      w.close(p.client, (t += 1_000n));
      w.close(p.server, (t += 1_000n));
    }
  }
  out.push(w);
  return out;
}

/** Where a run's spans go: the OTLP JSON file at `file`, or OTLP/gRPC to `grpc` (an endpoint URL). */
type Destination = { file: string } | { grpc: string };

async function run(input: SocketRecordWriter[], to: Destination, trackerOnly: boolean): Promise<{ ms: number; exchanges: number; spans: number; bytes: number }> {
  const config = defaultConfig();
  if ('file' in to) config.otlp.file = to.file;
  else config.otlp.traces.endpoint = to.grpc;
  const log = new Logger('error');
  const writer = 'file' in to ? new OtlpFileWriter(to.file) : null;
  const exporter = new TelemetryExporter(config, log, writer, { baseResourceAttributes: {} });
  const metadata = new ProcessMetadata({ base: { 'host.name': 'bench' } });
  let spans = 0;
  // As the agent: the tracker tells which connections it follows, the pipeline asks before a span waits.
  const followed = new FollowedConnections();
  const pipeline = new ExchangePipeline({
    metadata,
    followed,
    sinks: [{ spans: (s) => { spans += s.length; exporter.exportSpans(s); }, histograms: (p) => exporter.recordHistograms(p) }],
    shedder: new SpanShedder({ maxPerSecond: 0 }),
    onSpan: () => undefined,
  });
  let exchanges = 0;
  const tracker = new ConnectionTracker({
    maxConnections: 16384, idleTimeoutMs: 120_000, handlers: protocolHandlers(), followed,
    // As the agent's collector while the kernel sheds nothing: no counts can follow a close.
    countsMayFollowClose: () => false,
    onExchange: (exchange) => {
      exchanges++;
      if (!trackerOnly) pipeline.put({ type: 'exchange', exchange });
    },
  }, turnNow);
  const clock = new KernelClock();
  const handle = tracker.handle.bind(tracker);
  // As the collector decodes: data events filled again record after record.
  const scratch = new EventScratch();
  const start = process.cpuUsage();
  for (const b of input) {
    // As the collector: a batch in one turn, one clock read (model/turn-clock.ts).
    turn(() => {
      for (const [off, len] of b.offsets) decodeSocketRecord(b.view, off, len, clock, handle, scratch);
    });
    // Let the export queues and timers run between batches, as the event loop does between
    // ring-buffer batches.
    await new Promise((resolve) => setImmediate(resolve));
    // A batch is ~4,000 spans, made far faster than in the agent (20k spans a second): over gRPC the
    // next waits for the queue to have room for it (16,384 spans), as a real load's would have.
    // The room the agent's shedder reads (stats() built an object of every counter at each poll).
    while ('grpc' in to && exporter.spanExportBacklog().room < 8192) await new Promise((resolve) => setTimeout(resolve, 2));
  }
  pipeline.flush();
  await exporter.shutdown();
  await writer?.close();
  // CPU time of the whole process (the file writes run on libuv's threads): a busy machine delays
  // the loop, but does not add to the time it spends.
  const used = process.cpuUsage(start);
  const ms = (used.user + used.system) / 1000;
  if ('grpc' in to && exporter.stats()['traces.exported'] !== spans) throw new Error(`${exporter.stats()['traces.exported']} spans of ${spans} exported over OTLP/gRPC`);
  return { ms, exchanges, spans, bytes: 'file' in to ? statSync(to.file).size : 0 };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
        requests: { type: 'string' }, runs: { type: 'string' }, file: { type: 'string' }, paired: { type: 'boolean' }, shed: { type: 'boolean' }, compare: { type: 'boolean' },
    'tracker-only': { type: 'boolean' }, distinct: { type: 'boolean' }, 'connection-per-request': { type: 'boolean' }, jaeger: { type: 'boolean' },
  } });
  const perRequest = values['connection-per-request'] === true;
  const trackerOnly = values['tracker-only'] === true;
  const distinct = values.distinct === true;
  const requests = Number(values.requests ?? 100_000);
  const runs = Number(values.runs ?? 5);
  const modes: Records[] = values.compare === true ? ['per-syscall', 'paired', 'shed'] : [values.shed === true ? 'shed' : values.paired === true ? 'paired' : 'per-syscall'];
  const dir = mkdtempSync(join(tmpdir(), 'lantern-hot-'));
  const perExchange = new Map<Records, number[]>(modes.map((m) => [m, []]));
  // Each kind's records are made once and decoded by every run (each run's tracker is new): making
  // them costs ~11k instructions per exchange, which would otherwise count in the warm runs' difference.
  const inputs = new Map<Records, SocketRecordWriter[]>(modes.map((records) => [records, batches(requests, 10, process.pid, process.ppid, { records, distinct, perRequest })]));
  const label = (records: Records): string => ({ 'per-syscall': 'a record per syscall', paired: 'paired records', shed: 'summaries of exchanges shed in the kernel' })[records]
    + (distinct ? ', every request distinct' : '') + (perRequest ? ', a connection per request' : '');
  const jaeger = values.jaeger === true ? await startJaeger() : null;
  try {
    for (let i = 0; i <= runs; i++) {
      for (const records of modes) {
        const file = values.file ?? join(dir, `spans-${i}.jsonl`);
        const r = await run(inputs.get(records)!, jaeger !== null ? { grpc: jaeger.otlpGrpcEndpoint } : { file }, trackerOnly);
        const spans = records === 'shed' || trackerOnly ? 0 : 2 * requests;
        if (r.exchanges !== 2 * requests || r.spans !== spans) throw new Error(`run ${i}: ${r.exchanges} exchanges of ${2 * requests}, ${r.spans} spans of ${spans}`);
        const us = (r.ms * 1000) / r.exchanges;
        const size = jaeger !== null ? 'OTLP/gRPC' : `${(r.bytes / Math.max(1, r.spans)).toFixed(0)} file bytes/span`;
        console.error(`${i === 0 ? 'warm-up' : `run ${i}`} (${label(records)}): ${r.exchanges} exchanges in ${r.ms.toFixed(0)} ms of CPU = ${us.toFixed(2)} µs/exchange, ${size}`);
        if (i > 0) perExchange.get(records)!.push(us);
        rmSync(file, { force: true });
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await jaeger?.stop();
  }
  for (const [records, us] of perExchange) {
    console.log(`median ${median(us).toFixed(2)} µs of CPU per exchange, ${label(records)} (${runs} runs of ${requests} requests = ${2 * requests} exchanges)`);
  }
}

await main();
