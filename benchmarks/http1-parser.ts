// HTTP/1 parser throughput, the parser alone (no capture, no matcher): a request parser and a
// response parser fed the syscall-sized chunks of three workloads. Prints a table and replaces this
// benchmark's section of benchmarks/RESULTS.md.
//
//   npx tsc -p tsconfig.json && node dist/benchmarks/http1-parser.js [--runs N]
import { performance } from 'node:perf_hooks';
import { Http1Parser } from '../src/protocols/http1/parser.js';
import { type Timed, microSection, perRunLines, runsOption, split, timedRuns, workloadTable } from './micro-bench.js';
import { RESULTS_PATH, writeResultsSection } from './results-file.js';

/** dist/benchmarks/http1-parser.js → repo root. */
const SECTION = '## HTTP/1 parser (micro-benchmark)';
const COMMAND = 'node dist/benchmarks/http1-parser.js';

interface Workload {
  name: string;
  /** One exchange: the chunks of the request and of the response, one per syscall. */
  request: Buffer[];
  response: Buffer[];
  /** Exchanges per timed run. */
  exchanges: number;
}

const REQUEST = Buffer.from('GET /api/v1/items?page=2 HTTP/1.1\r\nHost: shop.internal:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n');
const NGINX_HEAD = 'HTTP/1.1 200 OK\r\nServer: nginx/1.24.0\r\nDate: Mon, 24 Nov 2025 20:21:00 GMT\r\nContent-Type: application/json\r\n';

function workloads(): Workload[] {
  const smallBody = '{"id":2,"name":"wick","stock":117}';
  const small = Buffer.from(`${NGINX_HEAD}Content-Length: ${smallBody.length}\r\nConnection: keep-alive\r\n\r\n${smallBody}`);
  const big = Buffer.concat([Buffer.from(`${NGINX_HEAD}Content-Length: 65536\r\nConnection: keep-alive\r\n\r\n`), Buffer.alloc(65536, 0x61)]);
  // nginx writes each chunk with its framing; a 16 KiB body goes out as four 4 KiB chunks.
  const chunk = Buffer.concat([Buffer.from('1000\r\n'), Buffer.alloc(4096, 0x62), Buffer.from('\r\n')]);
  const chunkedHead = Buffer.from(`${NGINX_HEAD}Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n`);
  return [
    { name: 'small keep-alive GET/200', request: [REQUEST], response: [small], exchanges: 400_000 },
    { name: '64 KiB bodies in 4 KiB chunks', request: [REQUEST], response: split(big, 4096), exchanges: 8_000 },
    { name: 'chunked 16 KiB (4 × 4 KiB chunks)', request: [REQUEST], response: [chunkedHead, chunk, chunk, chunk, chunk, Buffer.from('0\r\n\r\n')], exchanges: 30_000 },
  ];
}

interface RunResult extends Timed {
  messages: number;
  parseErrors: number;
}

function runOnce(w: Workload): RunResult {
  const responses = new Http1Parser('response');
  const requests = new Http1Parser('request', { onRequestHead: (method, startNs) => responses.expectResponseTo(method, startNs) });
  let messages = 0;
  let time = 1n;
  const started = performance.now();
  for (let i = 0; i < w.exchanges; i++) {
    for (const c of w.request) requests.feed(c, time++);
    messages += requests.take().length;
    for (const c of w.response) responses.feed(c, time++);
    messages += responses.take().length;
  }
  const ms = performance.now() - started;
  const q = requests.stats();
  const r = responses.stats();
  return { ms, bytes: q.bytes + r.bytes, exchanges: w.exchanges, messages, parseErrors: q.parseErrors + r.parseErrors };
}

const DESCRIPTION = [
  'The parser alone (`src/protocols/http1/parser.ts`), no capture and no matcher: one request parser and one response ',
  'parser, fed each exchange\'s syscall-sized chunks in a loop, `take()` after every exchange. Bytes count both ',
  'directions. *small*: a curl GET and a 35-byte nginx JSON response, one syscall each. *64 KiB*: the same GET, a ',
  'Content-Length response cut into 4 KiB reads. *chunked*: the head, four `Transfer-Encoding: chunked` chunks of 4 KiB ',
  'and the last-chunk, one syscall each. The body capture bound is the default (1 KiB copied per message); body bytes ',
  'past it are counted, not read, so MB/s on large bodies measures the cost per syscall, not per byte.',
];

function main(): void {
  const runs = runsOption();
  const rows = workloads().map((w) => ({
    name: w.name,
    bytesPerExchange: [...w.request, ...w.response].reduce((n, c) => n + c.length, 0),
    callsPerExchange: String(w.request.length + w.response.length),
    runs: timedRuns(w.name, runs, () => runOnce({ ...w, exchanges: Math.ceil(w.exchanges / 4) }), () => runOnce(w), (r) => {
      const expected = w.exchanges * 2;
      if (r.messages !== expected || r.parseErrors !== 0) throw new Error(`${w.name}: ${r.messages} messages of ${expected}, ${r.parseErrors} parse errors`);
    }),
  }));
  const table = workloadTable(rows);
  console.log(table);
  writeResultsSection(SECTION, microSection({ section: SECTION, command: COMMAND, description: DESCRIPTION, table, runs, perRun: perRunLines(rows) }));
  console.error(`wrote ${RESULTS_PATH}`);
}

main();
