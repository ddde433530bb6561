// Redis parser throughput: the RESP readers alone (a command reader and a reply reader, no pairing),
// and the same streams through the whole RedisConnection (readers + FIFO pairing + exchange
// records) for comparison, on pipelined GET/SET workloads as redis-benchmark drives them. Prints a
// table and replaces this benchmark's section of benchmarks/RESULTS.md.
//
//   npx tsc -p tsconfig.json && node dist/benchmarks/redis-parser.js [--runs N]
import { performance } from 'node:perf_hooks';
import type { ConnectionInfo } from '../src/model/connection.js';
import { keepArgument } from '../src/protocols/redis/commands.js';
import { RedisConnection } from '../src/protocols/redis/connection.js';
import { RespReader } from '../src/protocols/redis/resp.js';
import { type Timed, mbps, microSection, perSecond, runsOption, split } from './micro-bench.js';
import { RESULTS_PATH, writeResultsSection } from './results-file.js';
import { int, median } from './stats.js';

const SECTION = '## Redis parser (micro-benchmark)';
const COMMAND = 'node dist/benchmarks/redis-parser.js';

interface Workload {
  name: string;
  /** One round: the chunks of the commands and of the replies, one per syscall. */
  commands: Buffer[];
  replies: Buffer[];
  /** Commands (= exchanges) per round. */
  perRound: number;
  /** Rounds per timed run. */
  rounds: number;
}

const cmd = (...args: string[]): string => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
const bulk = (s: string): string => `$${s.length}\r\n${s}\r\n`;

function workloads(): Workload[] {
  // redis-benchmark's keys ("key:" + 12 digits) and its default 3-byte values; -P 16 writes 16
  // commands at once and reads their replies together.
  const key = (i: number): string => `key:${String(100_000_000_000 + i * 7919).padStart(12, '0')}`;
  const sets = Array.from({ length: 16 }, (_, i) => cmd('SET', key(i), 'xxx')).join('');
  const gets = Array.from({ length: 16 }, (_, i) => cmd('GET', key(i))).join('');
  const value = 'v'.repeat(100);
  const bigValue = 'b'.repeat(16 * 1024);
  return [
    { name: 'SET, pipelined ×16 (-P 16)', commands: [Buffer.from(sets)], replies: [Buffer.from('+OK\r\n'.repeat(16))], perRound: 16, rounds: 40_000 },
    { name: 'GET 100 B, pipelined ×16', commands: [Buffer.from(gets)], replies: [Buffer.from(bulk(value).repeat(16))], perRound: 16, rounds: 40_000 },
    { name: 'GET/SET one at a time', commands: [Buffer.from(cmd('SET', key(1), 'xxx')), Buffer.from(cmd('GET', key(1)))], replies: [Buffer.from('+OK\r\n'), Buffer.from(bulk('xxx'))], perRound: 2, rounds: 300_000 },
    { name: 'GET 16 KiB (4 KiB chunks)', commands: [Buffer.from(cmd('GET', key(2)))], replies: split(Buffer.from(bulk(bigValue)), 4096), perRound: 1, rounds: 100_000 },
  ];
}

type RunResult = Timed;

const CONNECTION: ConnectionInfo = {
  pid: 1, fd: 3, generation: 1, role: 'client', family: 'ipv4', transport: 'tcp',
  local: { address: '127.0.0.1', port: 50000 }, remote: { address: '127.0.0.1', port: 6379 },
};

function bytesPerRound(w: Workload): number {
  return [...w.commands, ...w.replies].reduce((n, c) => n + c.length, 0);
}

/** The readers alone: every message framed, the command name (and SELECT/HELLO/… arguments) kept. */
function runReaders(w: Workload, rounds = w.rounds): RunResult {
  const commands = new RespReader('request', { keep: keepArgument });
  const replies = new RespReader('response');
  let messages = 0;
  let time = 1n;
  const started = performance.now();
  for (let i = 0; i < rounds; i++) {
    for (const c of w.commands) commands.feed(c, time++);
    messages += commands.take().length;
    for (const c of w.replies) replies.feed(c, time++);
    messages += replies.take().length;
  }
  const ms = performance.now() - started;
  if (messages !== 2 * w.perRound * rounds || commands.stats().parseErrors + replies.stats().parseErrors !== 0) throw new Error(`${w.name}: ${messages} messages`);
  return { ms, bytes: bytesPerRound(w) * rounds, exchanges: w.perRound * rounds };
}

/** The whole session: readers, pairing, exchange records. */
function runConnection(w: Workload, rounds = w.rounds): RunResult {
  const conn = new RedisConnection(CONNECTION);
  let exchanges = 0;
  let time = 1n;
  const started = performance.now();
  for (let i = 0; i < rounds; i++) {
    for (const c of w.commands) conn.data('request', c, time++);
    for (const c of w.replies) conn.data('response', c, time++);
    exchanges += conn.drain().length;
  }
  const ms = performance.now() - started;
  if (exchanges !== w.perRound * rounds) throw new Error(`${w.name}: ${exchanges} exchanges`);
  return { ms, bytes: bytesPerRound(w) * rounds, exchanges };
}

interface Summary {
  w: Workload;
  readers: RunResult[];
  connection: RunResult[];
}

function table(summaries: Summary[]): string {
  const rows = [
    '| Workload | Bytes per exchange | Readers MB/s | Readers exchanges/s | ns per exchange | Connection MB/s | Connection exchanges/s |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const { w, readers, connection } of summaries) {
    const rate = median(readers.map(perSecond));
    rows.push(`| ${w.name} | ${int(bytesPerRound(w) / w.perRound)} | ${int(median(readers.map(mbps)))} | ${int(rate)} | ${int(1e9 / rate)} | `
      + `${int(median(connection.map(mbps)))} | ${int(median(connection.map(perSecond)))} |`);
  }
  return rows.join('\n');
}

function perRunLines(summaries: Summary[]): string[] {
  return summaries.map(({ w, readers, connection }) =>
    `- ${w.name}: readers ${readers.map((r) => `${int(mbps(r))}`).join(', ')} MB/s; connection ${connection.map((r) => `${int(mbps(r))}`).join(', ')} MB/s`);
}

const DESCRIPTION = [
  '*Readers*: the RESP readers alone (`src/protocols/redis/resp.ts`), one for commands and one for replies, fed each ',
  'round\'s syscall-sized chunks, `take()` after each direction; the command reader keeps the command name (and ',
  'SELECT/HELLO/subcommand arguments) as the agent does. *Connection*: the same chunks through `RedisConnection` ',
  '(readers, FIFO pairing, one `RedisExchange` per command), `drain()` after each round. Bytes count both directions. ',
  'Workloads: redis-benchmark\'s `-P 16` pattern (16 commands in one write, their replies in one read) for SET with its ',
  'default 3-byte values and for GET of 100-byte values; SET then GET one at a time; a GET of a 16 KiB value read in ',
  '4 KiB chunks (bulk bodies are stepped over, never copied, so this measures the cost per chunk, not per byte).',
];

function main(): void {
  const runs = runsOption();
  const summaries: Summary[] = [];
  for (const w of workloads()) {
    runReaders(w, Math.ceil(w.rounds / 4)); // warm-up: JIT, allocations
    runConnection(w, Math.ceil(w.rounds / 4));
    const readers: RunResult[] = [];
    const connection: RunResult[] = [];
    for (let i = 0; i < runs; i++) {
      const r = runReaders(w);
      const c = runConnection(w);
      console.error(`${w.name} run ${i + 1}: readers ${int(mbps(r))} MB/s ${int(perSecond(r))} exchanges/s; connection ${int(mbps(c))} MB/s ${int(perSecond(c))} exchanges/s`);
      readers.push(r);
      connection.push(c);
    }
    summaries.push({ w, readers, connection });
  }
  console.log(table(summaries));
  writeResultsSection(SECTION, microSection({ section: SECTION, command: COMMAND, description: DESCRIPTION, table: table(summaries), runs, perRun: perRunLines(summaries) }));
  console.error(`wrote ${RESULTS_PATH}`);
}

main();
