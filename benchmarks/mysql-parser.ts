// MySQL protocol session throughput, parsing alone (no capture, no spans): one MysqlConnection (both
// packet framers, the response state machine, statement cache and pairing) fed the syscall-sized
// chunks of four workloads after one login. Prints a table and replaces this benchmark's section
// of benchmarks/RESULTS.md.
//
//   npx tsc -p tsconfig.json && node dist/benchmarks/mysql-parser.js [--runs N]
import { performance } from 'node:perf_hooks';
import type { ConnectionInfo } from '../src/model/connection.js';
import { MysqlConnection } from '../src/protocols/mysql/connection.js';
import * as B from '../test/protocols/mysql/builder.js';
import { type Timed, microSection, perRunLines, runsOption, split, timedRuns, workloadTable } from './micro-bench.js';
import { RESULTS_PATH, writeResultsSection } from './results-file.js';

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

interface RunResult extends Timed {
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

const DESCRIPTION = [
  'The protocol session alone (`src/protocols/mysql/connection.ts`: both packet framers, the per-command response ',
  'state machine, the prepared-statement cache and pairing), no capture and no span building: one client connection ',
  'after a login, each exchange\'s syscall-sized chunks fed in a loop, `drain()` after every exchange, every exchange ',
  'checked (outcome and row count). Bytes count both directions. *point SELECT*: a text-protocol query and a 3-column ',
  '1-row result set, one syscall each. *INSERT*: a query and its OK. *prepared EXECUTE*: COM_STMT_EXECUTE with two ',
  'parameters and 10 binary rows, metadata skipped (MariaDB cache metadata). *1000-row SELECT*: a 100 KB text result ',
  'set read 4 KiB at a time (as go-sql-driver/mysql reads). Rows are counted, never decoded.',
];

function main(): void {
  const runs = runsOption();
  const rows = workloads().map((w) => ({
    name: w.name,
    bytesPerExchange: [...w.request, ...w.response].reduce((n, c) => n + c.length, 0),
    callsPerExchange: String(w.request.length + w.response.length),
    runs: timedRuns(w.name, runs, () => runOnce({ ...w, exchanges: Math.ceil(w.exchanges / 4) }), () => runOnce(w), (r) => {
      if (r.exchanges !== w.exchanges || r.errors !== 0) throw new Error(`${w.name}: ${r.exchanges} exchanges of ${w.exchanges}, ${r.errors} wrong`);
    }),
  }));
  const table = workloadTable(rows);
  console.log(table);
  writeResultsSection(SECTION, microSection({ section: SECTION, command: COMMAND, description: DESCRIPTION, table, runs, perRun: perRunLines(rows) }));
  console.error(`wrote ${RESULTS_PATH}`);
}

main();
