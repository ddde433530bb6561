// The PostgreSQL session: what psql, pgbench and pgx conversations become (one exchange per simple
// Query, per Execute, per prepare-only group), at every split offset; errors, COPY, encryption,
// cancel and authentication failures; losses; bounds. Messages per
// https://www.postgresql.org/docs/current/protocol-message-formats.html, flows per
// https://www.postgresql.org/docs/current/protocol-flow.html.
import t from 'tap';
import type { ConnectionInfo } from '../../../src/model/connection.js';
import type { PostgresExchange } from '../../../src/model/postgres.js';
import { PostgresSession, type PostgresSessionOptions, postgresHandler } from '../../../src/protocols/postgres/session.js';
import { be, fe, startupAnswer } from './builder.js';
import { PASSWORD, PGBENCH_SCRIPT, type Step, failingBatch, pgbenchExtended, pgbenchPrepared, pgxCached, psqlSession } from './conversations.js';

const conn = (role: 'client' | 'server' = 'client'): ConnectionInfo => ({
  pid: 10, fd: 7, generation: 1, role, family: 'ipv4', transport: 'tcp',
  local: { address: '127.0.0.1', port: role === 'client' ? 51000 : 5432 }, remote: { address: '127.0.0.1', port: role === 'client' ? 5432 : 51000 },
});

/** Feeds the steps (step i at time i+1) and closes; returns every exchange. */
function play(steps: Step[], opts: PostgresSessionOptions = {}, session = new PostgresSession(conn(), opts)): PostgresExchange[] {
  const out: PostgresExchange[] = [];
  steps.forEach((s, i) => {
    session.data(s.side, s.bytes, BigInt(i + 1));
    out.push(...session.drain());
  });
  session.close(BigInt(steps.length + 1));
  out.push(...session.drain());
  return out;
}

const json = (x: unknown): string => JSON.stringify(x, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));

t.test('psql: simple queries, an error, a multi-statement string, COPY out and in', async (t) => {
  const ex = play(psqlSession());
  t.equal(ex.length, 5, 'one exchange per Query');
  const [select, missing, batch, copyOut, copyIn] = ex;
  t.match(select, { mode: 'simple', query: 'SELECT id, name FROM items WHERE id < 3', rows: 2, rowsAffected: 2, commandTags: ['SELECT 2'],
    statements: 1, error: null, outcome: 'complete', database: 'appdb', user: 'app', transactionStatus: 'I', statement: null, portal: null });
  t.equal(select?.startNs, 9n, 'starts with the Query');
  t.equal(select?.endNs, 10n, 'ends with its ReadyForQuery');
  t.same(missing?.error, { sqlstate: '42P01', severity: 'ERROR', message: 'relation "missing" does not exist' });
  t.match(batch, { statements: 3, commandTags: ['BEGIN', 'INSERT 0 1', 'COMMIT'], error: null });
  t.same(copyOut?.copy, { direction: 'out', bytes: '1\tfirst\n'.length + "2\tit's\n".length, messages: 2 });
  t.same(copyIn?.copy, { direction: 'in', bytes: '7\tseven\n8\teight\n'.length, messages: 1 });
  t.equal(copyIn?.rowsAffected, 2);
  t.equal(ex.map((e) => e.ordinal).join(), '0,1,2,3,4');
});

t.test('every split offset of every step gives the same exchanges', async (t) => {
  for (const [name, steps] of [['psql', psqlSession()], ['pgbench extended', pgbenchExtended(1)], ['pgx', pgxCached(2)], ['failing batch', failingBatch()]] as const) {
    const whole = json(play(steps));
    let same = 0;
    let runs = 0;
    steps.forEach((step, i) => {
      for (let k = 1; k < step.bytes.length; k++) {
        runs++;
        // The two halves arrive at the step's time: only framing differs.
        const split: Step[] = [...steps.slice(0, i), { side: step.side, bytes: step.bytes.subarray(0, k) }, { side: step.side, bytes: step.bytes.subarray(k) }, ...steps.slice(i + 1)];
        const session = new PostgresSession(conn());
        const out: PostgresExchange[] = [];
        split.forEach((s, j) => {
          session.data(s.side, s.bytes, BigInt(j <= i ? j + 1 : j));
          out.push(...session.drain());
        });
        session.close(BigInt(steps.length + 1));
        out.push(...session.drain());
        if (json(out) === whole) same++;
        else t.fail(`${name}: step ${i} split at ${k}`);
      }
    });
    t.equal(same, runs, `${name}: ${runs} splits`);
  }
});

t.test('pgbench -M extended: every Execute is an exchange with its text and parameters', async (t) => {
  const ex = play(pgbenchExtended(2));
  t.equal(ex.length, 14, '2 transactions × 7 statements');
  t.same(ex.map((e) => e.query), [...PGBENCH_SCRIPT, ...PGBENCH_SCRIPT]);
  t.ok(ex.every((e) => e.mode === 'extended' && e.statement === '' && e.portal === '' && e.outcome === 'complete' && e.database === 'benchdb'));
  t.same(ex.slice(0, 7).map((e) => e.parameterCount), [0, 2, 1, 2, 2, 4, 0]);
  t.equal(ex[2]?.rows, 1, 'the SELECT returned one row');
  t.same(ex.map((e) => e.ordinal), Array.from({ length: 14 }, (_, i) => i));
});

t.test('pgbench -M prepared: statements prepared once, their text on every execution', async (t) => {
  const ex = play(pgbenchPrepared(3));
  const prepares = ex.filter((e) => e.mode === 'prepare');
  const executes = ex.filter((e) => e.mode === 'extended');
  t.equal(prepares.length, 7, 'one Parse+Sync per statement');
  t.equal(executes.length, 21, '3 transactions × 7 statements');
  t.same(prepares.map((e) => e.statement), PGBENCH_SCRIPT.map((_, i) => `P0_${i}`));
  t.same(executes.map((e) => e.query), [...PGBENCH_SCRIPT, ...PGBENCH_SCRIPT, ...PGBENCH_SCRIPT], 'text carried from the Parse of the first transaction');
  t.same(executes.slice(-7).map((e) => e.statement), PGBENCH_SCRIPT.map((_, i) => `P0_${i}`));
  t.equal(executes[2]?.rows, 1);
});

t.test('pgx: Parse + Describe + Sync once (a prepare), then Bind/Execute/Sync', async (t) => {
  const ex = play(pgxCached(3));
  t.same(ex.map((e) => e.mode), ['prepare', 'extended', 'extended', 'extended']);
  t.ok(ex.every((e) => e.query === 'SELECT name FROM lantern_items WHERE id = $1' && e.statement === 'stmtcache_9f2c'));
  t.same(ex.slice(1).map((e) => [e.parameterCount, e.rows, e.commandTags[0]]), [[1, 1, 'SELECT 1'], [1, 1, 'SELECT 1'], [1, 1, 'SELECT 1']]);
  t.equal(ex[0]?.parameterCount, 0, 'the prepare reports the parameter types it declared');
});

t.test('a pipelined batch: the failing Execute ends with the error, the rest is skipped up to Sync', async (t) => {
  const session = new PostgresSession(conn());
  const ex = play(failingBatch(), {}, session);
  t.equal(ex.length, 2);
  t.match(ex[0], { commandTags: ['INSERT 0 1'], error: null, outcome: 'complete' });
  t.match(ex[1], { error: { sqlstate: '23505', message: 'duplicate key value violates unique constraint "t_pkey"' } });
  t.equal(session.detailedStats().skippedAfterError, 1, 'the third insert was never run');
  t.notMatch(json(ex), /Key \(id\)/, 'the error detail, which quotes row values, is not kept');
  t.equal(session.pendingResponses, 0);
});

t.test('several statements parsed before they are bound (a JDBC or pgx batch)', async (t) => {
  const ex = play([
    { side: 'request', bytes: fe().startup({ user: 'u' }).bytes() },
    { side: 'response', bytes: startupAnswer().bytes() },
    { side: 'request', bytes: fe().parse('s1', 'SELECT 1').parse('s2', 'SELECT 2').parse('s3', 'SELECT 3')
      .bind('', 's1', []).execute().bind('', 's2', []).execute().sync().bytes() },
    { side: 'response', bytes: be().parseComplete().parseComplete().parseComplete().bindComplete().dataRow(['1']).commandComplete('SELECT 1')
      .bindComplete().dataRow(['2']).commandComplete('SELECT 1').ready().bytes() },
  ]);
  t.same(ex.map((e) => [e.mode, e.statement, e.query]), [['extended', 's1', 'SELECT 1'], ['extended', 's2', 'SELECT 2'], ['prepare', 's3', 'SELECT 3']]);
});

t.test('an error at Parse in a prepare group; the server skips to Sync even when it comes later', async (t) => {
  const steps: Step[] = [
    { side: 'request', bytes: fe().startup({ user: 'u', database: 'd' }).bytes() },
    { side: 'response', bytes: startupAnswer().bytes() },
    { side: 'request', bytes: fe().parse('s1', 'SELEC oops').describe('S', 's1').flush().bytes() },
    { side: 'response', bytes: be().error({ V: 'ERROR', C: '42601', M: 'syntax error at or near "SELEC"' }).bytes() },
    // Sent before the client read the error: the server discards it.
    { side: 'request', bytes: fe().bind('', 's1', []).execute().sync().bytes() },
    { side: 'response', bytes: be().ready('I').bytes() },
    { side: 'request', bytes: fe().query('SELECT 1').bytes() },
    { side: 'response', bytes: be().rowDescription(['?column?']).dataRow(['1']).commandComplete('SELECT 1').ready().bytes() },
  ];
  const ex = play(steps);
  t.same(ex.map((e) => [e.mode, e.query, e.error?.sqlstate ?? null]), [['prepare', 'SELEC oops', '42601'], ['simple', 'SELECT 1', null]]);
});

t.test('extended COPY FROM STDIN and a suspended portal executed again', async (t) => {
  const steps: Step[] = [
    { side: 'request', bytes: fe().startup({ user: 'u' }).bytes() },
    { side: 'response', bytes: startupAnswer().bytes() },
    { side: 'request', bytes: fe().parse('', 'COPY t FROM STDIN').bind('', '', []).execute().sync().bytes() },
    { side: 'response', bytes: be().parseComplete().bindComplete().copyInResponse(1).bytes() },
    { side: 'request', bytes: fe().copyData('1\n').copyData('2\n').copyData('3\n').copyDone().bytes() },
    { side: 'response', bytes: be().commandComplete('COPY 3').ready().bytes() },
    { side: 'request', bytes: fe().parse('', 'SELECT x FROM t').bind('cur', '', []).execute('cur', 2).flush().bytes() },
    { side: 'response', bytes: be().parseComplete().bindComplete().dataRow(['1']).dataRow(['2']).portalSuspended().bytes() },
    { side: 'request', bytes: fe().execute('cur', 2).sync().bytes() },
    { side: 'response', bytes: be().dataRow(['3']).commandComplete('SELECT 1').ready('T').bytes() },
  ];
  const ex = play(steps);
  t.equal(ex.length, 3);
  t.match(ex[0], { query: 'COPY t FROM STDIN', copy: { direction: 'in', bytes: 6, messages: 3 }, rowsAffected: 3, database: 'u' },
    'the database defaults to the user name');
  t.match(ex[1], { query: 'SELECT x FROM t', portal: 'cur', rows: 2, suspended: true });
  t.match(ex[2], { query: 'SELECT x FROM t', portal: 'cur', rows: 1, suspended: false, transactionStatus: null }, 'the portal\'s statement text');
});

t.test('SSLRequest answered S: the rest is encrypted, counted, never parsed', async (t) => {
  const session = new PostgresSession(conn());
  const ex = play([
    { side: 'request', bytes: fe().sslRequest().bytes() },
    { side: 'response', bytes: be().encryptionAnswer('S').bytes() },
    { side: 'request', bytes: Buffer.concat([Buffer.from('1603010200010001fc0303', 'hex'), fe().query('SELECT 1').bytes()]) },
    { side: 'response', bytes: Buffer.concat([Buffer.from('160303007a', 'hex'), be().commandComplete('SELECT 1').ready().bytes()]) },
  ], {}, session);
  t.same(ex, []);
  const s = session.detailedStats();
  t.equal(s.encrypted, 1);
  t.ok(s.encryptedBytes > 30);
});

t.test('CancelRequest and failed authentication are not operations', async (t) => {
  const cancel = new PostgresSession(conn());
  t.same(play([{ side: 'request', bytes: fe().cancelRequest(4242, 987654).bytes() }], {}, cancel), []);
  t.equal(cancel.detailedStats().cancelRequests, 1);
  const denied = new PostgresSession(conn());
  t.same(play([
    { side: 'request', bytes: fe().startup({ user: 'plain', database: 'd' }).bytes() },
    { side: 'response', bytes: be().authCleartext().bytes() },
    { side: 'request', bytes: fe().password('wrong-password').bytes() },
    { side: 'response', bytes: be().error({ S: 'FATAL', V: 'FATAL', C: '28P01', M: 'password authentication failed for user "plain"' }).bytes() },
  ], {}, denied), []);
  t.equal(denied.detailedStats().startupErrors, 1);
});

t.test('passwords never reach an exchange or a counter', async (t) => {
  const session = new PostgresSession(conn());
  const ex = play([
    { side: 'request', bytes: fe().startup({ user: 'plain', database: 'd' }).bytes() },
    { side: 'response', bytes: be().authCleartext().bytes() },
    { side: 'request', bytes: fe().password(PASSWORD).bytes() },
    { side: 'response', bytes: startupAnswer().bytes() },
    { side: 'request', bytes: fe().query('SELECT 1').bytes() },
    { side: 'response', bytes: be().commandComplete('SELECT 1').ready().bytes() },
    ...psqlSession(),
  ], {}, session);
  t.ok(ex.length >= 1);
  const everything = json({ ex, stats: session.detailedStats(), methods: [...session.authMethods] });
  t.notMatch(everything, PASSWORD);
  t.notMatch(everything, 'dHzbZapWIk4jUhN', 'nor a SCRAM proof');
  t.same([...session.authMethods].sort(), ['cleartext', 'ok', 'sasl']);
});

t.test('close: outstanding operations end unanswered, or partial when results had come', async (t) => {
  const ex = play([
    { side: 'request', bytes: fe().startup({ user: 'u' }).bytes() },
    { side: 'response', bytes: startupAnswer().bytes() },
    { side: 'request', bytes: fe().query('SELECT pg_sleep(10)').bytes() },
  ]);
  t.match(ex, [{ query: 'SELECT pg_sleep(10)', outcome: 'unanswered', endNs: 4n }]);
  const partial = play([
    { side: 'request', bytes: fe().startup({ user: 'u' }).bytes() },
    { side: 'response', bytes: startupAnswer().bytes() },
    { side: 'request', bytes: fe().query('SELECT * FROM big').bytes() },
    { side: 'response', bytes: be().rowDescription(['x']).dataRow(['1']).dataRow(['2']).bytes() },
  ]);
  t.match(partial, [{ outcome: 'partial', rows: 2, endNs: 4n }]);
});

t.test('responses lost in a gap: the operation ends partial when the client moves on', async (t) => {
  const session = new PostgresSession(conn());
  const rows = be().rowDescription(['x']);
  for (let i = 0; i < 100; i++) rows.dataRow([`row ${i}`]);
  const result = Buffer.concat([rows.bytes(), be().commandComplete('SELECT 100').ready().bytes()]);
  session.data('request', fe().startup({ user: 'u' }).bytes(), 1n);
  session.data('response', startupAnswer().bytes(), 2n);
  session.data('request', fe().query('SELECT x FROM big').bytes(), 3n);
  session.data('response', result.subarray(0, 300), 4n);
  // The capture bound: the rest of that read, ReadyForQuery included, was not captured.
  session.gap('response', result.length - 300, 4n);
  session.data('request', fe().query('SELECT 2').bytes(), 5n);
  session.data('response', be().rowDescription(['x']).dataRow(['2']).commandComplete('SELECT 1').ready().bytes(), 6n);
  const ex = session.drain();
  t.match(ex, [{ query: 'SELECT x FROM big', outcome: 'partial', endNs: 4n }, { query: 'SELECT 2', outcome: 'complete', rows: 1, endNs: 6n }]);
  t.ok((ex[0]?.rows ?? 0) > 10 && (ex[0]?.rows ?? 0) < 100, 'the rows seen before the gap');
});

t.test('requests lost in a gap: their answers are ignored up to the next ReadyForQuery', async (t) => {
  const session = new PostgresSession(conn());
  session.data('request', fe().startup({ user: 'u' }).bytes(), 1n);
  session.data('response', startupAnswer().bytes(), 2n);
  const big = fe().query('SELECT 1').parse('', 'SELECT 2').bind('', '', []).execute().sync().bytes();
  session.data('request', big.subarray(0, 3), 3n);
  session.gap('request', big.length - 3, 3n);
  session.data('response', be().commandComplete('SELECT 1').ready().parseComplete().bindComplete().commandComplete('SELECT 1').ready().bytes(), 4n);
  session.data('request', fe().query('SELECT 3').bytes(), 5n);
  session.data('response', be().commandComplete('SELECT 1').ready().bytes(), 6n);
  const ex = session.drain();
  // The second ReadyForQuery (of the lost extended group) would need the lost requests to place:
  // up to the first one, answers are dropped; the next query pairs correctly again.
  t.equal(ex.at(-1)?.query, 'SELECT 3');
  t.equal(ex.at(-1)?.outcome, 'complete');
  t.equal(ex.length, 1, 'nothing is invented for the lost operations');
  t.equal(session.detailedStats().orphanResponses, 6, 'their answers were counted and dropped');
});

t.test('a stream joined after its startup (role inference) still pairs operations', async (t) => {
  t.ok(postgresHandler.looksLikeRequest(fe().startup({ user: 'u' }).bytes()));
  t.ok(postgresHandler.looksLikeRequest(fe().sslRequest().bytes()));
  t.ok(postgresHandler.looksLikeRequest(fe().query('SELECT 1').bytes()));
  t.ok(postgresHandler.looksLikeRequest(fe().parse('', 'SELECT 1').bind('', '', []).bytes()));
  t.notOk(postgresHandler.looksLikeRequest(Buffer.from('GET / HTTP/1.1\r\n\r\n')));
  t.ok(postgresHandler.looksLikeResponse(be().encryptionAnswer('N').bytes()));
  t.ok(postgresHandler.looksLikeResponse(be().authSasl().bytes()));
  t.ok(postgresHandler.looksLikeResponse(Buffer.concat([Buffer.from('N'), be().authOk().bytes()])));
  t.notOk(postgresHandler.looksLikeResponse(fe().startup({ user: 'u' }).bytes()));
  const ex = play([
    { side: 'request', bytes: fe().query('SELECT 1').bytes() },
    { side: 'response', bytes: be().rowDescription(['?column?']).dataRow(['1']).commandComplete('SELECT 1').ready().bytes() },
  ]);
  t.match(ex, [{ query: 'SELECT 1', rows: 1, outcome: 'complete', database: null }]);
});

t.test('notices: a WARNING is kept with the operation, others are not', async (t) => {
  const ex = play([
    { side: 'request', bytes: fe().startup({ user: 'u' }).bytes() },
    { side: 'response', bytes: startupAnswer().bytes() },
    { side: 'request', bytes: fe().query('DROP TABLE IF EXISTS nope').bytes() },
    { side: 'response', bytes: be().notice({ S: 'NOTICE', V: 'NOTICE', C: '00000', M: 'table "nope" does not exist, skipping' }).commandComplete('DROP TABLE').ready().bytes() },
    { side: 'request', bytes: fe().query('COMMIT').bytes() },
    { side: 'response', bytes: be().notice({ S: 'WARNING', V: 'WARNING', C: '25P01', M: 'there is no transaction in progress' }).commandComplete('COMMIT').ready().bytes() },
    { side: 'request', bytes: fe().query(' ').bytes() },
    { side: 'response', bytes: be().emptyQuery().ready().bytes() },
  ]);
  t.equal(ex[0]?.warning, null);
  t.same(ex[1]?.warning, { sqlstate: '25P01', severity: 'WARNING', message: 'there is no transaction in progress' });
  t.match(ex[2], { query: ' ', statements: 1, commandTags: [] });
});

t.test('bounds: statements, pending responses, query text', async (t) => {
  const session = new PostgresSession(conn(), { maxStatements: 16, maxQueryBytes: 64, maxPending: 32 });
  session.data('request', fe().startup({ user: 'u' }).bytes(), 1n);
  session.data('response', startupAnswer().bytes(), 2n);
  for (let i = 0; i < 1000; i++) session.data('request', fe().parse(`s${i}`, `SELECT ${'x'.repeat(100)} ${i}`).bytes(), 3n);
  const s = session.detailedStats();
  t.equal(s.statementsEvicted, 1000 - 16);
  t.ok(session.pendingResponses <= 32, `pending ${session.pendingResponses}`);
  t.ok(session.heldBytes < 16 * 70 + 32 * 64 + 8192, `held ${session.heldBytes}`);
  session.data('request', fe().bind('', 's1', []).execute().sync().bytes(), 4n);
  session.data('request', fe().bind('', 's999', []).execute().sync().bytes(), 4n);
  session.close(5n);
  const ex = session.drain().filter((e) => e.mode === 'extended');
  t.equal(ex[0]?.query, null, 'an evicted statement has no text');
  t.equal(ex[1]?.query, `SELECT ${'x'.repeat(57)}`, 'the text is cut at maxQueryBytes');
  t.equal(ex[1]?.queryTruncated, true);
  t.ok(session.detailedStats().unknownStatements >= 1);
});
