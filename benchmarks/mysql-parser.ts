// MySQL protocol session throughput, parsing alone (no capture, no spans): one MysqlConnection (both
// packet framers, the response state machine, statement cache and pairing) fed the syscall-sized
// chunks of four workloads after one login. Prints a table and replaces this benchmark's section
// of benchmarks/RESULTS.md.
//
//   npx tsc -p tsconfig.json && node dist/benchmarks/mysql-parser.js [--runs N]
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { ConnectionInfo } from '../src/model/connection.js';
import { MysqlConnection } from '../src/protocols/mysql/connection.js';
import * as B from '../test/protocols/mysql/builder.js';
import { RESULTS_PATH, writeResultsSection } from './results-file.js';
import { int, machine, median } from './stats.js';

const SECTION = '## MySQL parser (micro-benchmark)';
const COMMAND = 'node dist/benchmarks/mysql-parser.js';

const CONN: ConnectionInfo = {
  pid: 1, fd: 3, generation: 1, role: 'client', family: 'ipv4', transport: 'tcp',
  local: { address: '127.0.0.1', port: 50000 }, remote: { address: '127.0.0.1', port: 3306 },
};

interface Workload {
  name: string;
  /** One exchange: the chunks of the command and of the response, one per syscall. */
  request: Buffer[];
  response: Buffer[];
  /** Exchanges per timed run. */
  exchanges: number;
  /** Rows each exchange must report. */
  rows: number | undefined;
}

function split(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size));
  return out;
}

function workloads(): Workload[] {
  const point = B.resultSet({ columns: ['id', 'name', 'price'], rows: [['42', 'brass lamp', '19.90']], deprecateEof: true }).bytes;
  const tenRows = B.resultSet({
    columns: ['id', 'name', 'price'], rows: Array.from({ length: 10 }, (_, i) => [String(i), `item number ${i}`, '4.50']), deprecateEof: true, binary: true, metadataFollows: false,
  }).bytes;
  // 1000 rows of ~100 bytes: mariadbd flushes its 16 KiB net buffer per write; the Go driver reads 4 KiB at a time.
  const bulk = B.resultSet({
    columns: ['id', 'sku', 'description'], rows: Array.from({ length: 1000 }, (_, i) => [String(i), `SKU-${100000 + i}`, 'd'.repeat(80)]), deprecateEof: true,
  }).bytes;
  return [
    { name: 'point SELECT, 1 row (text protocol)', request: [B.query("SELECT id, name, price FROM items WHERE id = 42")], response: [point], exchanges: 300_000, rows: 1 },
    { name: 'INSERT → OK', request: [B.query("INSERT INTO audit (at, who, what) VALUES (NOW(), 'svc', 'login')")], response: [B.packet(1, B.ok({ affectedRows: 1, lastInsertId: 7 }))], exchanges: 300_000, rows: undefined },
    { name: 'prepared EXECUTE, 10 binary rows', request: [B.stmtExecute(1, ['10', 'lamp'])], response: [tenRows], exchanges: 200_000, rows: 10 },
    { name: '1000-row SELECT in 4 KiB reads', request: [B.query('SELECT id, sku, description FROM catalog')], response: split(bulk, 4096), exchanges: 2_000, rows: 1000 },
  ];
}

interface RunResult {
  ms: number;
  bytes: number;
  exchanges: number;
  errors: number;
}

function runOnce(w: Workload): RunResult {
  const conn = new MysqlConnection(CONN);
  let time = 1n;
  const login = B.login(new B.Conversation());
  for (const e of login.events) conn.data(e.side, e.bytes, time++);
  // The prepared statement the EXECUTE workload runs.
  conn.data('request', B.stmtPrepare('SELECT id, name, price FROM items WHERE id < ? AND name <> ?'), time++);
  conn.data('response', B.prepareResponse(1, 2, ['id', 'name', 'price'], true), time++);
  conn.drain();
  let exchanges = 0;
  let errors = 0;
  const started = performance.now();
  for (let i = 0; i < w.exchanges; i++) {
    for (const c of w.request) conn.data('request', c, time++);
    for (const c of w.response) conn.data('response', c, time++);
    for (const ex of conn.drain()) {
      exchanges++;
      if (ex.outcome !== 'ok' || ex.rows !== w.rows) errors++;
    }
  }
  const ms = performance.now() - started;
  const s = conn.stats();
  return { ms, bytes: s.bytes, exchanges, errors: errors + s.parseErrors };
}

const mbps = (r: RunResult): number => r.bytes / 1e6 / (r.ms / 1000);
const perSecond = (r: RunResult): number => r.exchanges / (r.ms / 1000);

interface Summary {
  w: Workload;
  runs: RunResult[];
}

function table(summaries: Summary[]): string {
  const rows = [
    '| Workload | Bytes per exchange | Syscalls per exchange | MB/s | Exchanges/s | ns per exchange |',
    '|---|---:|---:|---:|---:|---:|',
  ];
  for (const { w, runs } of summaries) {
    const bytes = [...w.request, ...w.response].reduce((n, c) => n + c.length, 0);
    const rate = median(runs.map(perSecond));
    rows.push(`| ${w.name} | ${int(bytes)} | ${w.request.length + w.response.length} | ${int(median(runs.map(mbps)))} | ${int(rate)} | ${int(1e9 / rate)} |`);
  }
  return rows.join('\n');
}

function perRunLines(summaries: Summary[]): string {
  return summaries.map(({ w, runs }) => `- ${w.name}: ${runs.map((r) => `${int(mbps(r))} MB/s`).join(', ')}`).join('\n');
}

function section(summaries: Summary[], runs: number): string {
  return [
    SECTION,
    '',
    `Command: \`${COMMAND}\` (after \`npx tsc -p tsconfig.json\`)  `,
    `Date: ${new Date().toISOString().slice(0, 10)}  `,
    `Machine: ${machine()}`,
    '',
    'The protocol session alone (`src/protocols/mysql/connection.ts`: both packet framers, the per-command response ',
    'state machine, the prepared-statement cache and pairing), no capture and no span building: one client connection ',
    'after a login, each exchange\'s syscall-sized chunks fed in a loop, `drain()` after every exchange, every exchange ',
    'checked (outcome and row count). Bytes count both directions. *point SELECT*: a text-protocol query and a 3-column ',
    '1-row result set, one syscall each. *INSERT*: a query and its OK. *prepared EXECUTE*: COM_STMT_EXECUTE with two ',
    'parameters and 10 binary rows, metadata skipped (MariaDB cache metadata). *1000-row SELECT*: a 100 KB text result ',
    'set read 4 KiB at a time (as go-sql-driver/mysql reads). Rows are counted, never decoded.',
    '',
    table(summaries),
    '',
    `Medians of ${runs} timed runs after one untimed warm-up run per workload. Per run:`,
    '',
    perRunLines(summaries),
    '',
  ].join('\n');
}

function main(): void {
  const { values } = parseArgs({ options: { runs: { type: 'string' } } });
  const runs = Number(values.runs ?? 5);
  if (!(runs >= 1)) throw new RangeError('--runs must be positive');
  const summaries: Summary[] = [];
  for (const w of workloads()) {
    runOnce({ ...w, exchanges: Math.ceil(w.exchanges / 4) }); // warm-up: JIT, allocations
    const results: RunResult[] = [];
    for (let i = 0; i < runs; i++) {
      const r = runOnce(w);
      if (r.exchanges !== w.exchanges || r.errors !== 0) throw new Error(`${w.name}: ${r.exchanges} exchanges of ${w.exchanges}, ${r.errors} wrong`);
      console.error(`${w.name} run ${i + 1}: ${int(mbps(r))} MB/s, ${int(perSecond(r))} exchanges/s`);
      results.push(r);
    }
    summaries.push({ w, runs: results });
  }
  console.log(table(summaries));
  writeResultsSection(SECTION, section(summaries, runs));
  console.error(`wrote ${RESULTS_PATH}`);
}

main();
