// The agent's user-space hot path, in process: socket records laid out as bpf/sockets.bpf.c writes
// them into a ring-buffer batch → decode → connection tracker → HTTP/1 session → exchange pipeline
// (span, RED histogram, linker) → span export to an OTLP JSON file. One keep-alive request is four
// records (the client's request write and response read, the server's request read and response
// write) and two exchanges (the CLIENT and the SERVER span), as when both ends are traced.
//
// What it tells: the JavaScript cost per exchange, without BPF, the ring buffer's consumer thread or
// a machine's noise in the way: a quick loop for whoever changes a stage, before the end-to-end
// benchmark (nginx.ts --all-processes) says what a user sees.
//
//   node dist/benchmarks/hot-path.js [--requests N] [--runs N] [--file PATH]
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ConnectionTracker } from '../src/collectors/sockets/tracker.js';
import { DATA_HEADER, OPEN_EVENT, PROTO, SOCK_EV, decodeSocketEvent } from '../src/collectors/sockets/decode.js';
import { ExchangePipeline } from '../src/agent/exchange-pipeline.js';
import { SpanShedder } from '../src/agent/span-shedder.js';
import { defaultConfig } from '../src/config/schema.js';
import { OtlpFileWriter } from '../src/export/otlp-file.js';
import { TelemetryExporter } from '../src/export/telemetry-exporter.js';
import { Logger } from '../src/log.js';
import { ProcessMetadata } from '../src/metadata/process-metadata.js';
import { KernelClock } from '../src/model/clock.js';
import { protocolHandlers } from '../src/protocols/registry.js';
import { median } from './stats.js';

const REQUEST = Buffer.from('GET /lantern-bench HTTP/1.1\r\nHost: 127.0.0.1:18080\r\nUser-Agent: lantern-loadgen\r\nAccept-Encoding: gzip\r\n\r\n');
const RESPONSE = Buffer.from('HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 03 Dec 2026 17:48:00 GMT\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nok\n');

interface Conn { pid: number; fd: number; generation: number; role: 1 | 2; lport: number; rport: number }

/** Writes records the way the kernel lays them out (bpf/include/sockets.h), 8-byte aligned. */
class BatchWriter {
  readonly buf: Buffer;
  readonly view: DataView;
  readonly offsets: Array<[number, number]> = [];
  #pos = 0;
  constructor(bytes: number) {
    this.buf = Buffer.alloc(bytes);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  #record(len: number): number {
    const at = this.#pos;
    this.offsets.push([at, len]);
    this.#pos += (len + 7) & ~7;
    return at;
  }

  open(c: Conn, tsNs: bigint): void {
    const at = this.#record(OPEN_EVENT.size);
    const v = this.view;
    v.setUint8(at, SOCK_EV.OPEN);
    v.setUint8(at + OPEN_EVENT.role, c.role);
    v.setUint8(at + OPEN_EVENT.family, 2);
    v.setUint8(at + OPEN_EVENT.protocol, PROTO.HTTP1);
    v.setUint16(at + OPEN_EVENT.sockType, 1, true);
    v.setUint16(at + OPEN_EVENT.lport, c.lport, true);
    v.setUint16(at + OPEN_EVENT.rport, c.rport, true);
    v.setUint32(at + OPEN_EVENT.pid, c.pid, true);
    v.setUint32(at + OPEN_EVENT.fd, c.fd, true);
    v.setBigUint64(at + OPEN_EVENT.generation, BigInt(c.generation), true);
    v.setBigUint64(at + OPEN_EVENT.ts, tsNs, true);
    this.buf.set([127, 0, 0, 1], at + OPEN_EVENT.laddr);
    this.buf.set([127, 0, 0, 1], at + OPEN_EVENT.raddr);
    this.buf.write('bench', at + OPEN_EVENT.comm, 'latin1');
  }

  data(c: Conn, direction: 0 | 1, position: number, bytes: Buffer, tsNs: bigint): void {
    const at = this.#record(DATA_HEADER.size + bytes.length);
    const v = this.view;
    v.setUint8(at, SOCK_EV.DATA);
    v.setUint8(at + DATA_HEADER.direction, direction);
    v.setUint8(at + DATA_HEADER.protocol, PROTO.HTTP1);
    v.setUint8(at + DATA_HEADER.role, c.role);
    v.setUint32(at + DATA_HEADER.pid, c.pid, true);
    v.setUint32(at + DATA_HEADER.tid, c.pid, true);
    v.setUint32(at + DATA_HEADER.fd, c.fd, true);
    v.setBigUint64(at + DATA_HEADER.generation, BigInt(c.generation), true);
    v.setBigUint64(at + DATA_HEADER.position, BigInt(position), true);
    v.setBigUint64(at + DATA_HEADER.ts, tsNs, true);
    v.setUint32(at + DATA_HEADER.len, bytes.length, true);
    v.setUint32(at + DATA_HEADER.callLen, bytes.length, true);
    bytes.copy(this.buf, at + DATA_HEADER.size);
  }
}

/** `requests` keep-alive requests over `conns` connections, both ends traced, in batches of ~1 MiB. */
function batches(requests: number, conns: number, clientPid: number, serverPid: number): BatchWriter[] {
  const out: BatchWriter[] = [];
  const perRequest = 4 * (DATA_HEADER.size + 8) + REQUEST.length * 2 + RESPONSE.length * 2;
  const perBatch = Math.floor((1 << 20) / perRequest);
  const pairs = Array.from({ length: conns }, (_, i) => ({
    client: { pid: clientPid, fd: 10 + i, generation: 2 * i + 1, role: 1, lport: 40000 + i, rport: 18080 } as Conn,
    server: { pid: serverPid, fd: 100 + i, generation: 2 * i + 2, role: 2, lport: 18080, rport: 40000 + i } as Conn,
    sent: 0,
  }));
  let t = process.hrtime.bigint();
  let w = new BatchWriter(1 << 21);
  for (const p of pairs) {
    w.open(p.client, t);
    w.open(p.server, t);
  }
  for (let r = 0; r < requests; r++) {
    if (r > 0 && r % perBatch === 0) {
      out.push(w);
      w = new BatchWriter(1 << 21);
    }
    const p = pairs[r % conns]!;
    const q = p.sent * REQUEST.length;
    const s = p.sent * RESPONSE.length;
    w.data(p.client, 0, q, REQUEST, (t += 10_000n));
    w.data(p.server, 1, q, REQUEST, (t += 20_000n));
    w.data(p.server, 0, s, RESPONSE, (t += 30_000n));
    w.data(p.client, 1, s, RESPONSE, (t += 10_000n));
    p.sent++;
  }
  out.push(w);
  return out;
}

async function run(requests: number, file: string): Promise<{ ms: number; exchanges: number; spans: number; bytes: number }> {
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
  const input = batches(requests, 10, process.pid, process.ppid);
  const start = process.cpuUsage();
  for (const b of input) {
    for (const [off, len] of b.offsets) {
      const e = decodeSocketEvent(b.view, off, len, clock);
      if (e !== null) tracker.handle(e);
    }
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
  const { values } = parseArgs({ options: { requests: { type: 'string' }, runs: { type: 'string' }, file: { type: 'string' } } });
  const requests = Number(values.requests ?? 100_000);
  const runs = Number(values.runs ?? 5);
  const dir = mkdtempSync(join(tmpdir(), 'lantern-hot-'));
  const perExchange: number[] = [];
  try {
    for (let i = 0; i <= runs; i++) {
      const file = values.file ?? join(dir, `spans-${i}.jsonl`);
      const r = await run(requests, file);
      if (r.exchanges !== 2 * requests || r.spans !== 2 * requests) throw new Error(`run ${i}: ${r.exchanges} exchanges, ${r.spans} spans of ${2 * requests}`);
      const us = (r.ms * 1000) / r.exchanges;
      console.error(`${i === 0 ? 'warm-up' : `run ${i}`}: ${r.exchanges} exchanges in ${r.ms.toFixed(0)} ms of CPU = ${us.toFixed(2)} µs/exchange, ${(r.bytes / r.spans).toFixed(0)} file bytes/span`);
      if (i > 0) perExchange.push(us);
      rmSync(file, { force: true });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`median ${median(perExchange).toFixed(2)} µs of CPU per exchange (${runs} runs of ${requests} requests = ${2 * requests} exchanges)`);
}

await main();
