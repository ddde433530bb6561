// PostgreSQL parser throughput: the session alone (both framers, the message parsers and the
// request/response pairing; no capture, no semantic conventions) fed the syscall-sized chunks of
// recorded-like workloads. Prints a table and replaces this benchmark's section of
// benchmarks/RESULTS.md.
//
//   npx tsc -p tsconfig.json && node dist/benchmarks/postgres-parser.js [--runs N]
import { performance } from 'node:perf_hooks';
import type { ConnectionInfo } from '../src/model/connection.js';
import { PostgresSession } from '../src/protocols/postgres/session.js';
import { type Timed, microSection, perRunLines, runsOption, split, timedRuns, workloadTable } from './micro-bench.js';
import { RESULTS_PATH, writeResultsSection } from './results-file.js';

const SECTION = '## PostgreSQL parser (micro-benchmark)';
const COMMAND = 'node dist/benchmarks/postgres-parser.js';

// Message bytes (https://www.postgresql.org/docs/current/protocol-message-formats.html).
const cstr = (s: string): Buffer => Buffer.concat([Buffer.from(s), Buffer.of(0)]);
const i16 = (n: number): Buffer => Buffer.from([(n >> 8) & 0xff, n & 0xff]);
const i32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
function msg(type: string, ...body: Buffer[]): Buffer {
  const b = Buffer.concat(body);
  return Buffer.concat([Buffer.from(type), i32(b.length + 4), b]);
}
const query = (q: string): Buffer => msg('Q', cstr(q));
const parse = (name: string, q: string): Buffer => msg('P', cstr(name), cstr(q), i16(0));
const bind = (stmt: string, values: string[]): Buffer =>
  msg('B', cstr(''), cstr(stmt), i16(0), i16(values.length), ...values.flatMap((v) => [i32(Buffer.byteLength(v)), Buffer.from(v)]), i16(0));
const describePortal = msg('D', Buffer.from('P'), cstr(''));
const execute = msg('E', cstr(''), i32(0));
const sync = msg('S');
const rowDescription = (cols: string[]): Buffer =>
  msg('T', i16(cols.length), ...cols.flatMap((c) => [cstr(c), i32(16384), i16(1), i32(25), i16(-1), i32(-1), i16(0)]));
const dataRow = (values: string[]): Buffer => msg('D', i16(values.length), ...values.flatMap((v) => [i32(Buffer.byteLength(v)), Buffer.from(v)]));
const complete = (tag: string): Buffer => msg('C', cstr(tag));
const ready = (s: string): Buffer => msg('Z', Buffer.from(s));

interface Workload {
  name: string;
  /** One exchange (or one transaction): request chunks then response chunks, one per syscall. */
  steps: Array<{ side: 'request' | 'response'; chunks: Buffer[] }>;
  /** Exchanges the steps produce. */
  perIteration: number;
  iterations: number;
}

const PGBENCH = [
  ['BEGIN;', []],
  ['UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;', ['-4114', '71123']],
  ['SELECT abalance FROM pgbench_accounts WHERE aid = $1;', ['71123']],
  ['UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2;', ['-4114', '7']],
  ['UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2;', ['-4114', '1']],
  ['INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP);', ['7', '1', '71123', '-4114']],
  ['END;', []],
] as const;

function pgbenchResult(q: string, extended: boolean): Buffer {
  const tag = q.startsWith('SELECT') ? 'SELECT 1' : q.startsWith('UPDATE') ? 'UPDATE 1' : q.startsWith('INSERT') ? 'INSERT 0 1' : q.startsWith('BEGIN') ? 'BEGIN' : 'COMMIT';
  const head = extended ? [msg('1'), msg('2')] : [msg('2')];
  const rows = q.startsWith('SELECT') ? [rowDescription(['abalance']), dataRow(['-4114'])] : [msg('n')];
  return Buffer.concat([...head, ...rows, complete(tag), ready(q === 'END;' ? 'I' : 'T')]);
}

function workloads(): Workload[] {
  const users = Array.from({ length: 20 }, (_, i) => dataRow([String(1000 + i), `user${i}`, `user${i}@example.com`, '2025-11-24 20:21:00+00']));
  const simpleResponse = Buffer.concat([rowDescription(['id', 'name', 'email', 'created_at']), ...users, complete('SELECT 20'), ready('I')]);
  const big = Buffer.concat([rowDescription(['id', 'payload']), ...Array.from({ length: 1000 }, (_, i) => dataRow([String(i), 'x'.repeat(200)])), complete('SELECT 1000'), ready('I')]);
  return [
    {
      name: 'psql simple query, 20 rows',
      steps: [
        { side: 'request', chunks: [query("SELECT id, name, email, created_at FROM users WHERE org = 'acme' AND id > 1000 ORDER BY id LIMIT 20")] },
        { side: 'response', chunks: [simpleResponse] },
      ],
      perIteration: 1,
      iterations: 100_000,
    },
    {
      name: 'pgbench -M extended transaction (7 statements)',
      steps: PGBENCH.flatMap(([q, params]) => [
        { side: 'request' as const, chunks: [Buffer.concat([parse('', q), bind('', [...params]), describePortal, execute, sync])] },
        { side: 'response' as const, chunks: [pgbenchResult(q, true)] },
      ]),
      perIteration: 7,
      iterations: 30_000,
    },
    {
      name: 'pgbench -M prepared transaction (7 statements)',
      steps: PGBENCH.flatMap(([q, params], i) => [
        { side: 'request' as const, chunks: [Buffer.concat([bind(`P_${i}`, [...params]), describePortal, execute, sync])] },
        { side: 'response' as const, chunks: [pgbenchResult(q, false)] },
      ]),
      perIteration: 7,
      iterations: 30_000,
    },
    {
      name: '1000 rows × 200 B in 8 KiB reads',
      steps: [
        { side: 'request', chunks: [query('SELECT id, payload FROM blobs')] },
        { side: 'response', chunks: split(big, 8192) },
      ],
      perIteration: 1,
      iterations: 3_000,
    },
  ];
}

const CONN: ConnectionInfo = {
  pid: 1, fd: 5, generation: 1, role: 'client', family: 'ipv4', transport: 'tcp',
  local: { address: '127.0.0.1', port: 40000 }, remote: { address: '127.0.0.1', port: 5432 },
};

/** A connected session: startup and authentication done, the prepared statements parsed once. */
function openSession(): PostgresSession {
  const s = new PostgresSession(CONN);
  const startup = Buffer.concat([i32(8 + 'user\0bench\0database\0bench\0\0'.length), i32(196608), Buffer.from('user\0bench\0database\0bench\0\0')]);
  s.data('request', startup, 1n);
  s.data('response', Buffer.concat([msg('R', i32(0)), msg('S', cstr('server_version'), cstr('15.14')), msg('K', i32(1), i32(2)), ready('I')]), 1n);
  PGBENCH.forEach(([q], i) => {
    s.data('request', Buffer.concat([parse(`P_${i}`, q), sync]), 1n);
    s.data('response', Buffer.concat([msg('1'), ready('I')]), 1n);
  });
  s.drain();
  return s;
}

type RunResult = Timed;

function runOnce(w: Workload, iterations: number): RunResult {
  const s = openSession();
  let bytes = 0;
  let exchanges = 0;
  let time = 2n;
  const started = performance.now();
  for (let i = 0; i < iterations; i++) {
    for (const step of w.steps) {
      for (const c of step.chunks) {
        s.data(step.side, c, time++);
        bytes += c.length;
      }
    }
    exchanges += s.drain().length;
  }
  return { ms: performance.now() - started, bytes, exchanges };
}

const DESCRIPTION = [
  'The session alone (`src/protocols/postgres/session.ts`: both framers, the message parsers, the pairing of ',
  'requests with responses), no capture and no semantic conventions, on a connected session (startup done, the ',
  'pgbench statements prepared once). Each exchange\'s syscall-sized chunks are fed in a loop, `drain()` after each ',
  'iteration; bytes count both directions. *psql*: a simple Query with literals and its 20-row result (RowDescription, ',
  'DataRows, CommandComplete, ReadyForQuery), one syscall each way. *pgbench extended*: Parse/Bind/Describe/Execute/Sync ',
  'of the unnamed statement per statement of the TPC-B-like script. *pgbench prepared*: Bind/Describe/Execute/Sync of ',
  'named statements, whose text comes from the statement map. *1000 rows*: a 218 KB result cut into 8 KiB reads ',
  '(DataRow bodies are counted, not copied).',
];

function main(): void {
  const runs = runsOption();
  const rows = workloads().map((w) => {
    const syscalls = w.steps.reduce((n, s) => n + s.chunks.length, 0) / w.perIteration;
    return {
      name: w.name,
      bytesPerExchange: w.steps.reduce((n, s) => n + s.chunks.reduce((m, c) => m + c.length, 0), 0) / w.perIteration,
      callsPerExchange: syscalls.toFixed(syscalls % 1 === 0 ? 0 : 1),
      runs: timedRuns(w.name, runs, () => runOnce(w, Math.ceil(w.iterations / 4)), () => runOnce(w, w.iterations), (r) => {
        const expected = w.iterations * w.perIteration;
        if (r.exchanges !== expected) throw new Error(`${w.name}: ${r.exchanges} exchanges of ${expected}`);
      }),
    };
  });
  const table = workloadTable(rows);
  console.log(table);
  writeResultsSection(SECTION, microSection({ section: SECTION, command: COMMAND, description: DESCRIPTION, table, runs, perRun: perRunLines(rows) }));
  console.error(`wrote ${RESULTS_PATH}`);
}

main();
