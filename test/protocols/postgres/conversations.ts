// Whole PostgreSQL conversations, message for message what psql, pgbench and pgx exchange with a
// PostgreSQL 15 server (flows: https://www.postgresql.org/docs/current/protocol-flow.html), as
// steps in causal order: each request chunk before the response it causes.
import type { MessageSide } from '../../../src/protocols/session.js';
import { be, fe, startupAnswer } from './builder.js';

export interface Step {
  side: MessageSide;
  bytes: Buffer;
}

export const PASSWORD = 'pg-Secr3t-pw';

/** SCRAM-SHA-256 as libpq runs it (the proofs stand in; the password is never on the wire). */
function scramStartup(db: string): Step[] {
  return [
    { side: 'request', bytes: fe().sslRequest().bytes() },
    { side: 'response', bytes: be().encryptionAnswer('N').bytes() },
    { side: 'request', bytes: fe().startup({ user: 'app', database: db, application_name: 'psql', client_encoding: 'UTF8' }).bytes() },
    { side: 'response', bytes: be().authSasl().bytes() },
    { side: 'request', bytes: fe().saslInitial('SCRAM-SHA-256', 'n,,n=,r=rOprNGfwEbeRWgbNEkqO').bytes() },
    { side: 'response', bytes: be().authSaslContinue('r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096').bytes() },
    { side: 'request', bytes: fe().saslResponse('c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=').bytes() },
    { side: 'response', bytes: startupAnswer(be().authSaslFinal('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=')).bytes() },
  ];
}

/** psql: simple queries, an error, a multi-statement string, COPY out and in, Terminate. */
export function psqlSession(): Step[] {
  return [
    ...scramStartup('appdb'),
    { side: 'request', bytes: fe().query('SELECT id, name FROM items WHERE id < 3').bytes() },
    { side: 'response', bytes: be().rowDescription(['id', 'name']).dataRow(['1', 'first']).dataRow(['2', "it's"]).commandComplete('SELECT 2').ready('I').bytes() },
    { side: 'request', bytes: fe().query('SELECT * FROM missing').bytes() },
    { side: 'response', bytes: be().error({ S: 'ERROR', V: 'ERROR', C: '42P01', M: 'relation "missing" does not exist', P: '15', F: 'parse_relation.c', L: '1392', R: 'parserOpenTable' }).ready('I').bytes() },
    { side: 'request', bytes: fe().query("BEGIN; INSERT INTO items VALUES (3, 'x'); COMMIT").bytes() },
    { side: 'response', bytes: be().commandComplete('BEGIN').commandComplete('INSERT 0 1').commandComplete('COMMIT').ready('I').bytes() },
    { side: 'request', bytes: fe().query('COPY items TO STDOUT').bytes() },
    { side: 'response', bytes: be().copyOutResponse(2).copyData('1\tfirst\n').copyData('2\tit\'s\n').copyDone().commandComplete('COPY 2').ready('I').bytes() },
    { side: 'request', bytes: fe().query('COPY items FROM STDIN').bytes() },
    { side: 'response', bytes: be().copyInResponse(2).bytes() },
    { side: 'request', bytes: fe().copyData('7\tseven\n8\teight\n').copyDone().bytes() },
    { side: 'response', bytes: be().commandComplete('COPY 2').ready('I').bytes() },
    { side: 'request', bytes: fe().terminate().bytes() },
  ];
}

export const PGBENCH_SCRIPT = [
  'BEGIN;',
  'UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;',
  'SELECT abalance FROM pgbench_accounts WHERE aid = $1;',
  'UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2;',
  'UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2;',
  'INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP);',
  'END;',
];

function paramsOf(q: string): string[] {
  const n = (q.match(/\$\d/g) ?? []).length;
  return Array.from({ length: n }, (_, i) => String(1000 + i));
}

function resultOf(q: string): ReturnType<typeof be> {
  const r = be();
  if (q.startsWith('SELECT')) return r.rowDescription(['abalance']).dataRow(['-4114']).commandComplete('SELECT 1');
  if (q.startsWith('UPDATE')) return r.commandComplete('UPDATE 1');
  if (q.startsWith('INSERT')) return r.commandComplete('INSERT 0 1');
  return r.commandComplete(q.startsWith('BEGIN') ? 'BEGIN' : 'COMMIT');
}

/** MD5 authentication (PasswordMessage carries "md5" + hash). */
function md5Startup(): Step[] {
  return [
    { side: 'request', bytes: fe().startup({ user: 'bench', database: 'benchdb' }).bytes() },
    { side: 'response', bytes: be().authMd5().bytes() },
    { side: 'request', bytes: fe().password('md53a2c7b9d1e4f5a6b7c8d9e0f1a2b3c4d').bytes() },
    { side: 'response', bytes: startupAnswer().bytes() },
  ];
}

/** pgbench -M extended: Parse/Bind/Describe/Execute/Sync of the unnamed statement, every time. */
export function pgbenchExtended(transactions: number): Step[] {
  const steps = md5Startup();
  for (let t = 0; t < transactions; t++) {
    for (const q of PGBENCH_SCRIPT) {
      steps.push({ side: 'request', bytes: fe().parse('', q).bind('', '', paramsOf(q)).describe('P', '').execute('', 0).sync().bytes() });
      const desc = q.startsWith('SELECT') ? be().parseComplete().bindComplete() : be().parseComplete().bindComplete().noData();
      const res = resultOf(q);
      // The SELECT's RowDescription answers the Describe; the Execute sends rows only.
      const rows = q.startsWith('SELECT') ? be().rowDescription(['abalance']).dataRow(['-4114']).commandComplete('SELECT 1') : res;
      steps.push({ side: 'response', bytes: Buffer.concat([desc.bytes(), rows.bytes(), be().ready(q === 'END;' ? 'I' : 'T').bytes()]) });
    }
  }
  steps.push({ side: 'request', bytes: fe().terminate().bytes() });
  return steps;
}

/** pgbench -M prepared: each statement prepared once (Parse + Sync), then Bind/Describe/Execute/Sync. */
export function pgbenchPrepared(transactions: number): Step[] {
  const steps = md5Startup();
  for (let t = 0; t < transactions; t++) {
    PGBENCH_SCRIPT.forEach((q, i) => {
      if (t === 0) {
        steps.push({ side: 'request', bytes: fe().parse(`P0_${i}`, q).sync().bytes() });
        steps.push({ side: 'response', bytes: be().parseComplete().ready(i === 0 ? 'I' : 'T').bytes() });
      }
      steps.push({ side: 'request', bytes: fe().bind('', `P0_${i}`, paramsOf(q)).describe('P', '').execute('', 0).sync().bytes() });
      const desc = q.startsWith('SELECT') ? be().bindComplete().rowDescription(['abalance']) : be().bindComplete().noData();
      const rows = q.startsWith('SELECT') ? be().dataRow(['-4114']).commandComplete('SELECT 1') : resultOf(q);
      steps.push({ side: 'response', bytes: Buffer.concat([desc.bytes(), rows.bytes(), be().ready(q === 'END;' ? 'I' : 'T').bytes()]) });
    });
  }
  steps.push({ side: 'request', bytes: fe().terminate().bytes() });
  return steps;
}

/** pgx v5 default mode: Parse + Describe statement + Sync once, then Bind/Execute/Sync per call. */
export function pgxCached(calls: number): Step[] {
  const q = 'SELECT name FROM lantern_items WHERE id = $1';
  const steps = scramStartup('appdb');
  steps.push({ side: 'request', bytes: fe().parse('stmtcache_9f2c', q).describe('S', 'stmtcache_9f2c').sync().bytes() });
  steps.push({ side: 'response', bytes: be().parseComplete().parameterDescription([23]).rowDescription(['name']).ready('I').bytes() });
  for (let i = 0; i < calls; i++) {
    steps.push({ side: 'request', bytes: fe().bind('', 'stmtcache_9f2c', [String(i + 1)]).execute('', 0).sync().bytes() });
    steps.push({ side: 'response', bytes: be().bindComplete().dataRow([`item${i}`]).commandComplete('SELECT 1').ready('I').bytes() });
  }
  return steps;
}

/** A pipelined batch of three inserts before one Sync; the second fails, the third is skipped. */
export function failingBatch(): Step[] {
  const ins = 'INSERT INTO t (id) VALUES ($1)';
  return [
    ...md5Startup(),
    { side: 'request', bytes: fe().parse('', ins).bind('', '', ['1']).execute().parse('', ins).bind('', '', ['1']).execute().parse('', ins).bind('', '', ['2']).execute().sync().bytes() },
    { side: 'response', bytes: be().parseComplete().bindComplete().commandComplete('INSERT 0 1').parseComplete().bindComplete()
      .error({ S: 'ERROR', V: 'ERROR', C: '23505', M: 'duplicate key value violates unique constraint "t_pkey"', D: 'Key (id)=(1) already exists.' }).ready('I').bytes() },
  ];
}

/** All steps of one side concatenated. */
export function sideBytes(steps: Step[], side: MessageSide): Buffer {
  return Buffer.concat(steps.filter((s) => s.side === side).map((s) => s.bytes));
}
