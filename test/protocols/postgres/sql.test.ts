// The SQL sanitizer and analyzer, table-driven. Literal syntax per
// https://www.postgresql.org/docs/current/sql-syntax-lexical.html; summary rules per
// https://opentelemetry.io/docs/specs/semconv/db/database-spans/#generating-a-summary-of-the-query.
import t from 'tap';
import { analyzeSql, sanitizeSql, tokenize } from '../../../src/protocols/postgres/sql.js';
import { prng } from './builder.js';

const SANITIZE: Array<[string, string]> = [
  ["SELECT * FROM users WHERE name = 'alice'", 'SELECT * FROM users WHERE name = ?'],
  ["SELECT 'it''s', 'a\\b'", 'SELECT ?, ?'], // '' is a quote inside; a backslash is a plain character
  ["SELECT E'it\\'s \\\\ done', e'\\n'", 'SELECT ?, ?'], // E'' strings escape with backslashes
  ["SELECT B'1010', X'1F', N'nat', U&'d\\0061t'", 'SELECT ?, ?, ?, ?'],
  ['SELECT $$it\'s $1 a "body"$$, $fn$ nested $$ dollars $fn$', 'SELECT ?, ?'],
  ['SELECT 42, -7, 3.14, .5, 1e10, 2.5E-3, 0x1F, 0o17, 0b101, 1_000_000', 'SELECT ?, -?, ?, ?, ?, ?, ?, ?, ?, ?'],
  ['SELECT * FROM t WHERE a = $1 AND b = $12', 'SELECT * FROM t WHERE a = $1 AND b = $12'],
  ['UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;', 'UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;'],
  ['SELECT TRUE, false, NULL', 'SELECT ?, ?, NULL'],
  ['SELECT "weird ""col""", t1.c2, col3 FROM "Table 1" t1', 'SELECT "weird ""col""", t1.c2, col3 FROM "Table 1" t1'],
  ["SELECT DATE '2024-01-31', INTERVAL '1 day', '{1,2}'::int[]", 'SELECT DATE ?, INTERVAL ?, ?::int[]'],
  ['SELECT 1 -- trailing comment with a secret', 'SELECT ?'],
  ["SELECT /* outer /* nested 'quote' */ still */ 2", 'SELECT ?'],
  ["SELECT/*c*/'x'", 'SELECT ?'],
  ["ALTER ROLE app PASSWORD 'pg-Secr3t-pw'", 'ALTER ROLE app PASSWORD ?'],
  ["SELECT 'unterminated", 'SELECT ?'], // a query cut by the capture
  ['SELECT $$cut dollar body', 'SELECT ?'],
  ['SELECT a FROM t WHERE x IN (1, 2, 3)', 'SELECT a FROM t WHERE x IN (?, ?, ?)'],
  ['INSERT INTO t VALUES (1, \'a\'), (2, \'b\')', 'INSERT INTO t VALUES (?, ?), (?, ?)'],
  ['SELECT café, t2 FROM tbl2', 'SELECT café, t2 FROM tbl2'], // digits inside identifiers are not numbers
  ['SELECT 1::int, a::text', 'SELECT ?::int, a::text'],
  ['', ''],
];

t.test('sanitizer: every literal becomes ?, identifiers and placeholders stay', async (t) => {
  for (const [input, want] of SANITIZE) t.equal(sanitizeSql(input), want, input);
});

interface Want {
  operation: string | null;
  collection?: string | null;
  summary?: string | null;
  batchSize?: number | null;
  procedure?: string | null;
}

const ANALYZE: Array<[string, Want]> = [
  ['SELECT abalance FROM pgbench_accounts WHERE aid = $1', { operation: 'SELECT', collection: 'pgbench_accounts', summary: 'SELECT pgbench_accounts' }],
  ['select count(*) from pgbench_branches', { operation: 'SELECT', collection: 'pgbench_branches', summary: 'SELECT pgbench_branches' }],
  ['UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2', { operation: 'UPDATE', collection: 'pgbench_tellers', summary: 'UPDATE pgbench_tellers' }],
  ['INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP)', { operation: 'INSERT', collection: 'pgbench_history', summary: 'INSERT pgbench_history' }],
  ['DELETE FROM public.sessions WHERE expires < now()', { operation: 'DELETE', collection: 'public.sessions', summary: 'DELETE public.sessions' }],
  ['SELECT * FROM "Order Items" oi WHERE oi.id = 1', { operation: 'SELECT', collection: '"Order Items"' }],
  ['SELECT * FROM a JOIN b ON a.id = b.a_id', { operation: 'SELECT', collection: null, summary: 'SELECT a b' }],
  ['SELECT * FROM songs, artists WHERE songs.artist_id = artists.id', { operation: 'SELECT', collection: null, summary: 'SELECT songs artists' }],
  ['INSERT INTO shipping_details (order_id, address) SELECT order_id, address FROM orders WHERE order_id = ?', { operation: 'INSERT', collection: null, summary: 'INSERT shipping_details SELECT orders' }],
  ['SELECT order_date FROM (SELECT * FROM orders o JOIN customers c ON o.customer_id = c.customer_id) x', { operation: 'SELECT', collection: null, summary: 'SELECT SELECT orders customers' }],
  ['SELECT * FROM generate_series(1, 10)', { operation: 'SELECT', collection: null, summary: 'SELECT' }],
  ['SELECT 1', { operation: 'SELECT', collection: null, summary: 'SELECT' }],
  ['SELECT EXTRACT(YEAR FROM created) FROM events', { operation: 'SELECT', collection: 'events', summary: 'SELECT events' }],
  ['SELECT substring(name FROM 2) FROM people', { operation: 'SELECT', collection: 'people' }],
  ['SELECT * FROM t WHERE id IN (SELECT id FROM t WHERE x = 1)', { operation: 'SELECT', collection: 't', summary: 'SELECT t SELECT t' }],
  ['SELECT * FROM accounts WHERE id = 1 FOR UPDATE', { operation: 'SELECT', collection: 'accounts', summary: 'SELECT accounts' }],
  ['INSERT INTO kv (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = excluded.v', { operation: 'INSERT', collection: 'kv', summary: 'INSERT kv' }],
  ['WITH recent AS (SELECT * FROM orders WHERE d > now()) SELECT count(*) FROM recent', { operation: 'SELECT', collection: null, summary: 'SELECT orders SELECT recent' }],
  ['WITH moved AS (DELETE FROM a RETURNING *) INSERT INTO b SELECT * FROM moved', { operation: 'DELETE', summary: 'DELETE a INSERT b SELECT moved' }],
  ['UPDATE t SET x = o.x FROM other o WHERE t.id = o.id', { operation: 'UPDATE', collection: null, summary: 'UPDATE t other' }],
  ['DELETE FROM t USING u WHERE t.id = u.id', { operation: 'DELETE', collection: null, summary: 'DELETE t u' }],
  ['MERGE INTO target t USING src s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v', { operation: 'MERGE', collection: null, summary: 'MERGE target src' }],
  ['create table pgbench_history(tid int,bid int,aid int,delta int,mtime timestamp,filler char(22))', { operation: 'CREATE', collection: 'pgbench_history', summary: 'CREATE pgbench_history' }],
  ['CREATE TABLE IF NOT EXISTS app.items (id int primary key)', { operation: 'CREATE', collection: 'app.items' }],
  ['drop table if exists pgbench_accounts, pgbench_branches, pgbench_history, pgbench_tellers', { operation: 'DROP', collection: null, summary: 'DROP pgbench_accounts pgbench_branches pgbench_history pgbench_tellers' }],
  ['alter table pgbench_branches add primary key (bid)', { operation: 'ALTER', collection: 'pgbench_branches' }],
  ['truncate table pgbench_accounts', { operation: 'TRUNCATE', collection: 'pgbench_accounts', summary: 'TRUNCATE pgbench_accounts' }],
  ['TRUNCATE a, b', { operation: 'TRUNCATE', collection: null }],
  ['copy pgbench_accounts from stdin with (freeze on)', { operation: 'COPY', collection: 'pgbench_accounts', summary: 'COPY pgbench_accounts' }],
  ['COPY items (id, name) TO STDOUT', { operation: 'COPY', collection: 'items' }],
  ['COPY (SELECT * FROM items WHERE id > 2) TO STDOUT', { operation: 'COPY', collection: 'items', summary: 'COPY SELECT items' }],
  ['CALL transfer($1, $2, 100)', { operation: 'CALL', collection: null, procedure: 'transfer', summary: 'CALL transfer' }],
  ['EXPLAIN ANALYZE SELECT * FROM t', { operation: 'EXPLAIN', collection: 't', summary: 'EXPLAIN SELECT t' }],
  ['GRANT SELECT, INSERT ON items TO app', { operation: 'GRANT', summary: 'GRANT' }],
  ['BEGIN', { operation: 'BEGIN', collection: null, summary: 'BEGIN' }],
  ['END;', { operation: 'END', summary: 'END' }],
  ['set application_name = \'x\'', { operation: 'SET' }],
  ['VALUES (1), (2)', { operation: 'VALUES', summary: 'VALUES' }],
  ['TABLE items', { operation: 'TABLE', collection: 'items', summary: 'TABLE items' }],
  ['(SELECT a FROM x) UNION ALL (SELECT a FROM y)', { operation: 'SELECT', collection: null, summary: 'SELECT x SELECT y' }],
  ['SELECT * FROM ONLY parent', { operation: 'SELECT', collection: 'parent' }],
  ['SELECT * FROM t AS x(a, b), u', { operation: 'SELECT', collection: null, summary: 'SELECT t u' }],
  ['/* sqlcommenter */ SELECT 1', { operation: 'SELECT', summary: 'SELECT' }],
  ['-- only a comment', { operation: null, summary: null }],
  ['', { operation: null, summary: null }],
  // Several statements in one Query: a batch.
  ["BEGIN; INSERT INTO items VALUES (3, 'x'); COMMIT", { operation: 'BATCH', collection: null, summary: 'BATCH', batchSize: 3 }],
  ['INSERT INTO t VALUES (1); INSERT INTO t VALUES (2);', { operation: 'BATCH INSERT', collection: 't', summary: 'BATCH INSERT t', batchSize: 2 }],
  ['SELECT 1;', { operation: 'SELECT', batchSize: null }],
];

t.test('analyzer: operation, single collection, summary', async (t) => {
  for (const [input, want] of ANALYZE) {
    const got = analyzeSql(input);
    const view: Want = { operation: got.operation };
    if ('collection' in want) view.collection = got.collection;
    if ('summary' in want) view.summary = got.summary;
    if ('batchSize' in want) view.batchSize = got.batchSize;
    if ('procedure' in want) view.procedure = got.procedure;
    t.same(view, want, input);
  }
});

t.test('summary is cut at 255 characters between words', async (t) => {
  const q = `DROP TABLE ${Array.from({ length: 60 }, (_, i) => `table_number_${i}`).join(', ')}`;
  const s = analyzeSql(q).summary ?? '';
  t.ok(s.length <= 255 && s.length > 200, `${s.length}`);
  t.match(s, /table_number_\d+$/);
});

t.test('sqlcommenter traceparent', async (t) => {
  const q = "SELECT * FROM t /*action='list',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'*/";
  t.equal(analyzeSql(q).traceparent, '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
  t.equal(sanitizeSql(q), 'SELECT * FROM t');
  t.equal(analyzeSql('SELECT 1').traceparent, null);
});

t.test('no literal survives sanitizing, whatever the input', async (t) => {
  const rnd = prng(1234);
  const pieces = ['SELECT', ' ', "'secret1'", "E'sec\\'ret2'", '$$secret3$$', '$q$secret4$q$', '42', '3.5', 'x', '(', ')', ',', ';', '--c\n', '/*c*/', '"id"', '$1', "''", '::', 'FROM', 't'];
  let clean = 0;
  for (let i = 0; i < 3000; i++) {
    let q = '';
    const n = 1 + Math.floor(rnd() * 12);
    // Separated: glued together, `x$$secret3$$` is one identifier (`$` continues identifiers).
    for (let j = 0; j < n; j++) q += `${pieces[Math.floor(rnd() * pieces.length)]}${rnd() < 0.5 ? ' ' : '\n'}`;
    const out = sanitizeSql(q);
    analyzeSql(q); // must not throw
    if (!/secret\d/.test(out)) clean++;
    else t.fail(`${JSON.stringify(q)} → ${JSON.stringify(out)}`);
  }
  t.equal(clean, 3000);
  // Random bytes: the lexer terminates and covers the text.
  for (let i = 0; i < 2000; i++) {
    const q = String.fromCharCode(...Array.from({ length: Math.floor(rnd() * 60) }, () => Math.floor(rnd() * 128)));
    const tokens = tokenize(q);
    for (let k = 1; k < tokens.length; k++) if (tokens[k]!.start < tokens[k - 1]!.end) t.fail('overlapping tokens');
    sanitizeSql(q, tokens);
    analyzeSql(q, tokens);
  }
  t.pass('random text lexed, sanitized and analyzed without an exception');
});
