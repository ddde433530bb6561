// MySQL protocol through the real kernel path: a real MariaDB server, the mariadb command-line
// client (text protocol, COM_QUERY / COM_INIT_DB) and a Go program on go-sql-driver/mysql 1.10
// (prepared statements: COM_STMT_PREPARE / EXECUTE / CLOSE), both over TCP on loopback.
//
// The kernel recognises a MySQL connection by the server's greeting, so only connections opened
// while the agent runs are traced. The server and its users are set up over its unix socket before
// the agent starts; the password must appear nowhere in what the agent exports.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { SpanRecord } from '../../src/model/span.js';
import { attr, startTestAgent, type TestAgent } from '../helpers/agent.js';
import { buildGoFixture } from '../helpers/go-build.js';
import { type MariaDb, startMariaDb } from '../helpers/mariadb.js';

const PASSWORD = 'my-Secr3t-pw';
const OTHER_PASSWORD = 'report-Secr3t-2';

/** Runs a program with the environment given; resolves with its pid and output. */
async function runProgram(cmd: string, args: string[], env: NodeJS.ProcessEnv, input = ''): Promise<{ pid: number; code: number | null; stdout: string; stderr: string }> {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(input);
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const [code] = await once(child, 'exit');
  clearTimeout(timer);
  return { pid: child.pid!, code: code as number | null, stdout, stderr };
}

const pidOf = (s: SpanRecord): number => Number(s.resource.attributes['process.pid']);
const isDb = (s: SpanRecord): boolean => attr(s, 'db.system.name') !== undefined;
const byStart = (spans: SpanRecord[]): SpanRecord[] => [...spans].sort((a, b) => (a.startTimeUnixNano < b.startTimeUnixNano ? -1 : 1));
const json = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? String(x) : x));

let db: MariaDb;
let agent: TestAgent;
let otlpFile: string;

t.before(async () => {
  db = await startMariaDb();
  const setup = await db.rootSql(`CREATE USER 'lantern'@'127.0.0.1' IDENTIFIED BY '${PASSWORD}'; GRANT ALL ON *.* TO 'lantern'@'127.0.0.1' WITH GRANT OPTION;`);
  if (setup.code !== 0) throw new Error(`setup failed: ${setup.stderr}`);
  otlpFile = join(db.dir, 'otlp.jsonl');
  agent = await startTestAgent({ pids: [db.pid], otlpFile });
});

t.teardown(async () => {
  await agent?.stop();
  await db?.stop();
});

t.test('mariadb client: text protocol, database change, rows, an error', async (t) => {
  const script = [
    'CREATE DATABASE shop;',
    'USE shop;',
    'CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(40));',
    "INSERT INTO items VALUES (1, 'lamp'), (2, 'wick'), (3, 'oil');",
    'SELECT id, name FROM items WHERE id <= 3 ORDER BY id;',
    `CREATE USER 'reporting'@'127.0.0.1' IDENTIFIED BY '${OTHER_PASSWORD}';`,
    'SELECT * FROM missing_table;',
  ].join('\n');
  // The password from the environment (MYSQL_PWD), the statements on stdin: neither in argv.
  const cli = await runProgram('mariadb', ['--no-defaults', '-h127.0.0.1', `-P${db.port}`, '-ulantern', '--skip-ssl', '--force', '--batch'], { MYSQL_PWD: PASSWORD }, script);
  t.match(cli.stderr, /1146/, 'the missing table is an error for the client too');
  t.match(cli.stdout, /lamp/);
  // The client checks its current database (SELECT DATABASE()) when told USE, then sends COM_INIT_DB.
  const names = ['CREATE DATABASE', 'SELECT', 'INIT_DB', 'CREATE TABLE items', 'INSERT items', 'SELECT items', 'CREATE USER', 'SELECT missing_table'];
  const client = byStart(await agent.waitForSpans((s) => isDb(s) && s.kind === 'client' && pidOf(s) === cli.pid, names.length));
  const server = byStart(await agent.waitForSpans((s) => isDb(s) && s.kind === 'server' && pidOf(s) === db.pid && client.some((c) => c.spanId === s.parentSpanId), names.length));
  t.same(client.map((s) => s.name), names, 'one client span per command (COM_QUIT excepted)');
  t.same(server.map((s) => s.name), names, 'a server span for each, its client span its parent');
  for (const s of [...client, ...server]) {
    if (attr(s, 'db.system.name') !== 'mariadb' || attr(s, 'server.port') !== db.port || attr(s, 'server.address') !== '127.0.0.1') t.fail(`${s.name}: ${json(s.attributes)}`);
  }
  t.same(client.map((s) => attr(s, 'db.namespace') ?? null), [null, null, 'shop', 'shop', 'shop', 'shop', 'shop', 'shop'], 'db.namespace from COM_INIT_DB on');
  const select = client[5]!;
  t.equal(attr(select, 'db.response.returned_rows'), 3);
  t.equal(attr(select, 'db.query.text'), 'SELECT id, name FROM items WHERE id <= ? ORDER BY id');
  t.equal(attr(select, 'db.collection.name'), 'items');
  t.equal(select.status.code, 'unset');
  t.equal(attr(client[4], 'db.query.text'), 'INSERT INTO items VALUES (?, ?), (?, ?), (?, ?)', 'literals sanitized');
  t.equal(attr(client[6], 'db.query.text'), 'CREATE USER ?@? IDENTIFIED BY ?', 'the new password is a literal like any other');
  const missing = client[7]!;
  t.equal(missing.status.code, 'error');
  t.equal(attr(missing, 'db.response.status_code'), '1146');
  t.equal(attr(missing, 'error.type'), '1146');
  t.match(missing.status.message, /^42S02: Table '\?' doesn't exist$/);
  t.equal(server[7]!.status.code, 'error', 'the server span records the error too');
  const durations = agent.histograms.filter((p) => p.name === 'db.client.operation.duration' && Number(p.resource.attributes['process.pid']) === cli.pid);
  t.equal(durations.length, names.length, 'db.client.operation.duration per client command');
  t.ok(durations.every((p) => p.value > 0 && p.value < 10 && p.unit === 's'));
});

t.test('Go database/sql: prepared statements', async (t) => {
  const bin = buildGoFixture('mysql-client');
  const go = await runProgram(bin, ['3'], { MYSQL_DSN: `lantern:${PASSWORD}@tcp(127.0.0.1:${db.port})/shop` });
  t.equal(go.code, 0, go.stderr);
  t.same(go.stdout.trim().split('\n'), ['inserted 1', 'prepared', 'rows 4', 'rows 3', 'rows 2', 'closed', 'prepare-error 1146']);
  const names = ['PREPARE items', 'INSERT items', 'STMT_CLOSE items', 'PREPARE items', 'SELECT items', 'SELECT items', 'SELECT items', 'STMT_CLOSE items', 'PREPARE no_such_table'];
  const client = byStart(await agent.waitForSpans((s) => isDb(s) && s.kind === 'client' && pidOf(s) === go.pid, names.length));
  const server = byStart(await agent.waitForSpans((s) => isDb(s) && s.kind === 'server' && client.some((c) => c.spanId === s.parentSpanId), names.length));
  t.same(client.map((s) => s.name), names, 'PREPARE, EXECUTE (named by the statement), CLOSE');
  t.same(server.map((s) => s.name), names, 'the server\'s spans, children of the client\'s');
  const executions = client.filter((s) => s.name === 'SELECT items');
  t.same(executions.map((s) => attr(s, 'db.response.returned_rows')), [4, 3, 2], 'rows of each execution');
  t.ok(executions.every((s) => attr(s, 'db.query.text') === 'SELECT id, name FROM items WHERE id >= ? AND name <> ?' && attr(s, 'db.namespace') === 'shop'),
    'the prepared statement\'s text on each execution');
  t.equal(attr(client[1], 'db.operation.name'), 'INSERT');
  t.equal(attr(client[2], 'db.operation.name'), 'STMT_CLOSE');
  const failed = client[8]!;
  t.equal(failed.status.code, 'error');
  t.equal(attr(failed, 'db.response.status_code'), '1146');
  t.ok(client.slice(0, 8).every((s) => s.status.code === 'unset'));
  const sockets = agent.agent.summary().collectors.sockets ?? {};
  t.ok((sockets.tracker_mysql_exchanges ?? 0) >= 2 * names.length, `MySQL counters reported (${sockets.tracker_mysql_exchanges} exchanges)`);
  t.equal(sockets.tracker_mysql_parseErrors ?? 0, 0, 'no MySQL parse error');
  t.equal(sockets.tracker_mysql_internalErrors ?? 0, 0);
});

t.test('the password is nowhere in what the agent exported', async (t) => {
  await agent.stop();
  const everything = json(agent.spans) + json(agent.histograms);
  t.notMatch(everything, PASSWORD);
  t.notMatch(everything, OTHER_PASSWORD);
  const file = readFileSync(otlpFile, 'utf8');
  t.ok(file.includes('db.system.name'), 'the OTLP file holds the spans');
  t.notMatch(file, PASSWORD);
  t.notMatch(file, OTHER_PASSWORD);
});
