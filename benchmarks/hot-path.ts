// The agent's user-space hot path, in process: socket records laid out as bpf/sockets.bpf.c writes
// them into a ring-buffer batch → decode → connection tracker → HTTP/1 session → exchange pipeline
// (span, RED histogram, linker) → span export to an OTLP JSON file. One keep-alive request is four
// records (the client's request write and response read, the server's request read and response
// write) and two exchanges (the CLIENT and the SERVER span), as when both ends are traced; with
// --paired, two records (one paired record per side: the kernel's HTTP/1 pairing), and --compare
// runs both, alternating, in one process.
//
// What it tells: the JavaScript cost per exchange, without BPF, the ring buffer's consumer thread or
// a machine's noise in the way: a quick loop for whoever changes a stage, before the end-to-end
// benchmark (nginx.ts --all-processes) says what a user sees.
//
//   node dist/benchmarks/hot-path.js [--requests N] [--runs N] [--file PATH] [--paired | --compare]
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ConnectionTracker } from '../src/collectors/sockets/tracker.js';
import { DATA_HEADER, PAIR_EVENT, decodeSocketRecord } from '../src/collectors/sockets/decode.js';
import { ExchangePipeline } from '../src/agent/exchange-pipeline.js';
import { SpanShedder } from '../src/agent/span-shedder.js';
import { defaultConfig } from '../src/config/schema.js';
import { OtlpFileWriter } from '../src/export/otlp-file.js';
import { TelemetryExporter } from '../src/export/telemetry-exporter.js';
import { Logger } from '../src/log.js';
import { ProcessMetadata } from '../src/metadata/process-metadata.js';
import { KernelClock } from '../src/model/clock.js';
import { protocolHandlers } from '../src/protocols/registry.js';
import { type RecordConn, SocketRecordWriter } from '../test/helpers/socket-records.js';
import { median } from './stats.js';

const REQUEST = Buffer.from('GET /lantern-bench HTTP/1.1\r\nHost: 127.0.0.1:18080\r\nUser-Agent: lantern-loadgen\r\nAccept-Encoding: gzip\r\n\r\n');
const RESPONSE = Buffer.from('HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 03 Dec 2026 17:48:00 GMT\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nok\n');

/**
 * `requests` keep-alive requests over `conns` connections, both ends traced, in batches of ~1 MiB.
 * `paired`: each side's exchange is one paired record (bpf/include/pairing.h), as the kernel sends
 * HTTP/1 keep-alive traffic; otherwise a record per syscall, as it sends it with pairing off.
 */
function batches(requests: number, conns: number, clientPid: number, serverPid: number, paired: boolean): SocketRecordWriter[] {
  const out: SocketRecordWriter[] = [];
  const perRequest = paired
    ? 2 * (PAIR_EVENT.data + 8) + REQUEST.length * 2 + RESPONSE.length * 2
    : 4 * (DATA_HEADER.size + 8) + REQUEST.length * 2 + RESPONSE.length * 2;
  const perBatch = Math.floor((1 << 20) / perRequest);
  const pairs = Array.from({ length: conns }, (_, i) => ({
    client: { pid: clientPid, fd: 10 + i, generation: 2 * i + 1, role: 1, lport: 40000 + i, rport: 18080 } as RecordConn,
    server: { pid: serverPid, fd: 100 + i, generation: 2 * i + 2, role: 2, lport: 18080, rport: 40000 + i } as RecordConn,
    sent: 0,
  }));
  let t = process.hrtime.bigint();
  let w = new SocketRecordWriter(1 << 21);
  for (const p of pairs) {
    w.open(p.client, t);
    w.open(p.server, t);
  }
  for (let r = 0; r < requests; r++) {
    if (r > 0 && r % perBatch === 0) {
      out.push(w);
      w = new SocketRecordWriter(1 << 21);
    }
    const p = pairs[r % conns]!;
    const q = p.sent * REQUEST.length;
    const s = p.sent * RESPONSE.length;
    const clientReq = { conn: p.client, direction: 0, position: q, data: REQUEST, tsNs: (t += 10_000n) } as const;
    const serverReq = { conn: p.server, direction: 1, position: q, data: REQUEST, tsNs: (t += 20_000n) } as const;
    const serverResp = { conn: p.server, direction: 0, position: s, data: RESPONSE, tsNs: (t += 30_000n) } as const;
    const clientResp = { conn: p.client, direction: 1, position: s, data: RESPONSE, tsNs: (t += 10_000n) } as const;
    if (paired) {
      // In ring order: the server's record goes out at its response write, the client's at its read.
      w.pair(serverReq, serverResp);
      w.pair(clientReq, clientResp);
    } else {
      for (const f of [clientReq, serverReq, serverResp, clientResp]) w.data(f);
    }
    p.sent++;
  }
  out.push(w);
  return out;
}

async function run(requests: number, file: string, paired: boolean): Promise<{ ms: number; exchanges: number; spans: number; bytes: number }> {
  const config = defaultConfig();
  config.otlp.file = file;
  const log = new Logger('error');
  const writer = new OtlpFileWriter(file);
  const exporter = new TelemetryExporter(config, log, writer, { baseResourceAttributes: {} });
  const metadata = new ProcessMetadata({ base: { 'host.name': 'bench' } });
  let spans = 0;
  const pipeline = new ExchangePipeline({
    metadata,
    sinks: [{ spans: (s) => { spans += s.length; exporter.exportSpans(s); }, histograms: (p) => exporter.recordHistograms(p) }],
    shedder: new SpanShedder({ maxPerSecond: 0 }),
    onSpan: () => undefined,
  });
  let exchanges = 0;
  const tracker = new ConnectionTracker({
    maxConnections: 16384, idleTimeoutMs: 120_000, handlers: protocolHandlers(),
    onExchange: (exchange) => {
      exchanges++;
      pipeline.put({ type: 'exchange', exchange });
    },
  });
  const clock = new KernelClock();
  const input = batches(requests, 10, process.pid, process.ppid, paired);
  const handle = tracker.handle.bind(tracker);
  const start = process.cpuUsage();
  for (const b of input) {
    for (const [off, len] of b.offsets) decodeSocketRecord(b.view, off, len, clock, handle);
    // Let the export queues and timers run between batches, as the event loop does between
    // ring-buffer batches.
    await new Promise((resolve) => setImmediate(resolve));
  }
  pipeline.flush();
  await exporter.shutdown();
  await writer.close();
  // CPU time of the whole process (the file writes run on libuv's threads): a busy machine delays
  // the loop, but does not add to the time it spends.
  const used = process.cpuUsage(start);
  const ms = (used.user + used.system) / 1000;
  return { ms, exchanges, spans, bytes: statSync(file).size };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    requests: { type: 'string' }, runs: { type: 'string' }, file: { type: 'string' }, paired: { type: 'boolean' }, compare: { type: 'boolean' },
  } });
  const requests = Number(values.requests ?? 100_000);
  const runs = Number(values.runs ?? 5);
  const modes = values.compare === true ? [false, true] : [values.paired === true];
  const dir = mkdtempSync(join(tmpdir(), 'lantern-hot-'));
  const perExchange = new Map<boolean, number[]>(modes.map((m) => [m, []]));
  const label = (paired: boolean): string => (paired ? 'paired records' : 'a record per syscall');
  try {
    for (let i = 0; i <= runs; i++) {
      for (const paired of modes) {
        const file = values.file ?? join(dir, `spans-${i}.jsonl`);
        const r = await run(requests, file, paired);
        if (r.exchanges !== 2 * requests || r.spans !== 2 * requests) throw new Error(`run ${i}: ${r.exchanges} exchanges, ${r.spans} spans of ${2 * requests}`);
        const us = (r.ms * 1000) / r.exchanges;
        console.error(`${i === 0 ? 'warm-up' : `run ${i}`} (${label(paired)}): ${r.exchanges} exchanges in ${r.ms.toFixed(0)} ms of CPU = ${us.toFixed(2)} µs/exchange, ${(r.bytes / r.spans).toFixed(0)} file bytes/span`);
        if (i > 0) perExchange.get(paired)!.push(us);
        rmSync(file, { force: true });
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  for (const [paired, us] of perExchange) {
    console.log(`median ${median(us).toFixed(2)} µs of CPU per exchange, ${label(paired)} (${runs} runs of ${requests} requests = ${2 * requests} exchanges)`);
  }
}

await main();
