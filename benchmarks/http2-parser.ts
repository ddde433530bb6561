// HTTP/2 + HPACK throughput, the session alone (no capture): one Http2Connection fed the
// syscall-sized writes of long-lived connections, and the HPACK decoder alone on blocks a fresh
// table must decode in full. Prints a table and replaces this benchmark's section of
// benchmarks/RESULTS.md.
//
//   npx tsc -p tsconfig.json && node dist/benchmarks/http2-parser.js [--runs N]
//
// The byte streams are built the way the peers write them (frames and HPACK blocks from the test
// builder, which keeps a dynamic table like real encoders): grpc-go batches a call's frames into
// one write per direction; h2load keeps 10 requests in flight and nginx answers them in one write.
import { performance } from 'node:perf_hooks';
import type { ConnectionInfo } from '../src/model/connection.js';
import { Http2Connection } from '../src/protocols/http2/connection.js';
import { HpackDecoder } from '../src/protocols/http2/hpack.js';
import { HpackEncoder, PREFACE, data, grpcMessage, headers, settings } from '../test/protocols/http2/builder.js';
import { type Timed, mbps, microSection, perRunLines, runsOption, timedRuns, workloadTable } from './micro-bench.js';
import { RESULTS_PATH, writeResultsSection } from './results-file.js';
import { int, median } from './stats.js';

const SECTION = '## HTTP/2 + HPACK parser (micro-benchmark)';
const COMMAND = 'node dist/benchmarks/http2-parser.js';

const CONN: ConnectionInfo = {
  pid: 1, fd: 3, generation: 1, role: 'server', family: 'ipv4', transport: 'tcp',
  local: { address: '127.0.0.1', port: 50051 }, remote: { address: '127.0.0.1', port: 40000 },
};

type Write = ['request' | 'response', Buffer];

interface Workload {
  name: string;
  /** Writes that open the connection (preface, SETTINGS). */
  open: Write[];
  /** The writes of `unit` exchanges; repeated with fresh stream ids. */
  batch: (firstStream: number) => Write[];
  /** Exchanges per batch. */
  unit: number;
  /** Exchanges per timed run. */
  exchanges: number;
}

function grpcUnary(): Workload {
  const c = new HpackEncoder();
  const s = new HpackEncoder();
  const req: Array<[string, string]> = [
    [':method', 'POST'], [':scheme', 'http'], [':path', '/inventory.v1.Stock/Get'], [':authority', 'inventory.internal:50051'],
    ['content-type', 'application/grpc'], ['user-agent', 'grpc-go/1.85.0'], ['te', 'trailers'], ['grpc-timeout', '4999m'],
  ];
  const query = grpcMessage(Buffer.from('0a0b736b752d3132333435361001', 'hex'));
  const answer = grpcMessage(Buffer.alloc(120, 0x2a));
  return {
    name: 'gRPC unary (grpc-go-like, one write per direction per call)',
    open: [['request', Buffer.concat([PREFACE, settings([[2, 0], [4, 4194304]])])], ['response', settings([[5, 16384]])]],
    batch: (id) => [
      ['request', Buffer.concat([headers(id, c.encode(req, { huffman: true })), data(id, query, { end: true })])],
      ['response', Buffer.concat([
        headers(id, s.encode([[':status', '200'], ['content-type', 'application/grpc']], { huffman: true })), data(id, answer),
        headers(id, s.encode([['grpc-status', '0'], ['grpc-message', '']], { huffman: true }), { end: true }),
      ])],
    ],
    unit: 1,
    exchanges: 200_000,
  };
}

function h2load(): Workload {
  const c = new HpackEncoder();
  const s = new HpackEncoder();
  const req: Array<[string, string]> = [[':method', 'GET'], [':path', '/status'], [':scheme', 'http'], [':authority', '127.0.0.1:8080'], ['user-agent', 'h2load nghttp2/1.52.0']];
  return {
    name: 'h2load-like GET /status, 10 streams in flight',
    open: [['request', Buffer.concat([PREFACE, settings([[3, 100], [4, 65535]])])], ['response', settings([[3, 128], [4, 65536], [5, 16777215]])]],
    batch: (id) => {
      const reqs: Buffer[] = [];
      const resps: Buffer[] = [];
      for (let k = 0; k < 10; k++) {
        reqs.push(headers(id + 2 * k, c.encode(req, { huffman: true }), { end: true }));
        resps.push(headers(id + 2 * k, s.encode([[':status', '200'], ['server', 'nginx/1.22.1'], ['date', 'Mon, 24 Nov 2025 20:21:00 GMT'],
          ['content-type', 'application/octet-stream'], ['content-length', '3']], { huffman: true })), data(id + 2 * k, 'ok\n', { end: true }));
      }
      return [['request', Buffer.concat(reqs)], ['response', Buffer.concat(resps)]];
    },
    unit: 10,
    exchanges: 200_000,
  };
}

function grpcLarge(): Workload {
  const c = new HpackEncoder();
  const s = new HpackEncoder();
  const req: Array<[string, string]> = [[':method', 'POST'], [':scheme', 'http'], [':path', '/blob.v1.Store/Get'], [':authority', 'blob:50051'], ['content-type', 'application/grpc'], ['te', 'trailers']];
  const body = grpcMessage(Buffer.alloc(64 * 1024, 0x55));
  return {
    name: 'gRPC 64 KiB responses (16 KiB DATA frames, 4 KiB reads)',
    open: [['request', Buffer.concat([PREFACE, settings()])], ['response', settings()]],
    batch: (id) => {
      const frames: Buffer[] = [headers(id, s.encode([[':status', '200'], ['content-type', 'application/grpc']]))];
      for (let p = 0; p < body.length; p += 16_384) frames.push(data(id, body.subarray(p, Math.min(body.length, p + 16_384))));
      frames.push(headers(id, s.encode([['grpc-status', '0']]), { end: true }));
      const all = Buffer.concat(frames);
      const writes: Write[] = [['request', Buffer.concat([headers(id, c.encode(req)), data(id, grpcMessage('k'), { end: true })])]];
      for (let p = 0; p < all.length; p += 4096) writes.push(['response', all.subarray(p, Math.min(all.length, p + 4096))]);
      return writes;
    },
    unit: 1,
    exchanges: 20_000,
  };
}

interface Prepared {
  w: Workload;
  writes: Write[];
  bytes: number;
}

/** All writes of one run, built before timing (stream ids grow, HPACK state carries over). */
function prepare(w: Workload, exchanges: number): Prepared {
  const writes: Write[] = [...w.open];
  let id = 1;
  for (let n = 0; n < exchanges; n += w.unit) {
    writes.push(...w.batch(id));
    id += 2 * w.unit;
  }
  return { w, writes, bytes: writes.reduce((a, [, b]) => a + b.length, 0) };
}

interface RunResult extends Timed {
  errors: number;
}

function runOnce(p: Prepared): RunResult {
  const session = new Http2Connection(CONN);
  let exchanges = 0;
  let time = 1n;
  const started = performance.now();
  for (const [side, bytes] of p.writes) {
    session.data(side, bytes, time++);
    exchanges += session.drain().length;
  }
  const ms = performance.now() - started;
  const st = session.stats();
  const errors = (st.parseErrors ?? 0) + (st.syncLosses ?? 0) + (st.hpackLostFields ?? 0) + (st.hpackErrors ?? 0) + (st.internalErrors ?? 0);
  return { ms, bytes: p.bytes, exchanges, errors };
}

interface HpackResult {
  ms: number;
  bytes: number;
  blocks: number;
}

/** First-call header blocks: every field a Huffman literal a fresh table decodes in full. */
function hpackCold(runs: number): HpackResult[] {
  const blocks: Buffer[] = [];
  for (let i = 0; i < 64; i++) {
    blocks.push(new HpackEncoder().encode([
      [':method', 'POST'], [':scheme', 'http'], [':path', `/inventory.v1.Stock/Get${i}`], [':authority', 'inventory.internal:50051'],
      ['content-type', 'application/grpc'], ['user-agent', 'grpc-go/1.85.0'], ['te', 'trailers'], ['grpc-timeout', '4999m'],
      ['traceparent', `00-4bf92f3577b34da6a3ce929d0e0e${(4736 + i).toString(16)}-00f067aa0ba902b7-01`],
    ], { huffman: true }));
  }
  const perRun = 200_000;
  const out: HpackResult[] = [];
  for (let r = 0; r <= runs; r++) {
    let bytes = 0;
    const started = performance.now();
    for (let i = 0; i < perRun; i++) {
      const b = blocks[i & 63]!;
      new HpackDecoder().decode(b);
      bytes += b.length;
    }
    const ms = performance.now() - started;
    if (r > 0) out.push({ ms, bytes, blocks: perRun }); // the first run warms up
  }
  return out;
}

const DESCRIPTION = [
  'The HTTP/2 session alone (`src/protocols/http2/`: framer, HPACK decoder, streams, exchanges), no capture: one ',
  'connection fed every write of a run in order, `drain()` after each. Bytes count both directions. *gRPC unary*: ',
  'grpc-go-like calls, request HEADERS + DATA in one write, response HEADERS + DATA (125 B) + trailers in one write, ',
  'header blocks Huffman-coded and, after the first call, indexed from the dynamic table. *h2load-like*: 10 GETs in ',
  'one write, nginx\'s 10 HEADERS + DATA answers in the next. *64 KiB*: one gRPC message per call in four 16 KiB DATA ',
  'frames read 4 KiB at a time (DATA is counted, not copied: MB/s there is the cost per read). *HPACK alone*: a fresh ',
  'decoder per block, every field a Huffman literal (the first call of a connection), per block.',
];

function main(): void {
  const runs = runsOption();
  const rows = [grpcUnary(), h2load(), grpcLarge()].map((w) => {
    const p = prepare(w, w.exchanges);
    return {
      name: w.name,
      bytesPerExchange: p.bytes / w.exchanges,
      callsPerExchange: ((p.writes.length - w.open.length) / w.exchanges).toFixed(1),
      runs: timedRuns(w.name, runs, () => runOnce(prepare(w, Math.ceil(w.exchanges / 4))), () => runOnce(p), (r) => {
        if (r.exchanges !== w.exchanges || r.errors !== 0) throw new Error(`${w.name}: ${r.exchanges} exchanges of ${w.exchanges}, ${r.errors} errors`);
      }),
    };
  });
  const hpack = hpackCold(runs);
  // HPACK alone, per header block: a row of its own after the workloads.
  const h = hpack[0]!;
  const blockRate = median(hpack.map((r) => r.blocks / (r.ms / 1000)));
  const hpackRow = `| HPACK alone: cold-table gRPC request blocks (9 Huffman literals) | ${int(h.bytes / h.blocks)} | – | ${int(median(hpack.map(mbps)))} | ${int(blockRate)} blocks/s | ${int(1e9 / blockRate)} |`;
  const table = workloadTable(rows, 'Reads per exchange', [hpackRow]);
  console.log(table);
  const perRun = [...perRunLines(rows), `- HPACK alone: ${hpack.map((r) => `${int(mbps(r))} MB/s`).join(', ')}`];
  writeResultsSection(SECTION, microSection({ section: SECTION, command: COMMAND, description: DESCRIPTION, table, runs, perRun }));
  console.error(`wrote ${RESULTS_PATH}`);
}

main();
