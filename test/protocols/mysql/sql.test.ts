// The MySQL-dialect SQL helpers of the semantic conventions: literals out of db.query.text, the
// operation and (conservatively) the collection of a statement.
import t from 'tap';
import { sanitizeMysqlQuery, summarizeMysqlQuery } from '../../../src/semconv/mysql-sql.js';

t.test('sanitizer: every literal becomes ?', async (t) => {
  const cases: Array<[string, string]> = [
    ["SELECT * FROM users WHERE name = 'alice' AND age > 30", 'SELECT * FROM users WHERE name = ? AND age > ?'],
    ['SELECT * FROM users WHERE name = "alice"', 'SELECT * FROM users WHERE name = ?'],
    ["SELECT 'it''s', 'a\\'b', \"q\\\"q\", 'tail\\\\'", 'SELECT ?, ?, ?, ?'],
    ["INSERT INTO t VALUES (1, -2.5, .5, 1e10, 3.0E-2, 0x1F, 0b101, X'ABCD', x'00', B'0101', N'nat', _utf8mb4'intro', _binary\"b\")",
      'INSERT INTO t VALUES (?, -?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)'],
    ['SELECT t1.c2, `col 3`, `it``s` FROM t1 JOIN `db`.`t2` ON t1.id = t2.id', 'SELECT t1.c2, `col 3`, `it``s` FROM t1 JOIN `db`.`t2` ON t1.id = t2.id'],
    ['SELECT 1abc, abc1, a1b2 FROM x1', 'SELECT 1abc, abc1, a1b2 FROM x1'],
    ['SELECT * FROM t WHERE a = ? AND b = ?', 'SELECT * FROM t WHERE a = ? AND b = ?'],
    ["SELECT @v := 5, @@session.sql_mode, @'q'", 'SELECT @v := ?, @@session.sql_mode, @?'],
    ["SELECT 1 -- 'secret' comment\nFROM t", 'SELECT ? \nFROM t'],
    ["SELECT 1 # hash 'comment'\n", 'SELECT ?'],
    ["SELECT /* sqlcommenter traceparent='00-abc' */ 1", 'SELECT  ?'],
    ['SELECT a/**/FROM t', 'SELECT a FROM t'],
    ['SELECT 5--3', 'SELECT ?--?'],
    ["/*!40101 SET NAMES utf8 */; SELECT /*+ MAX_EXECUTION_TIME(1000) */ 'x'", '/*!40101 SET NAMES utf8 */; SELECT /*+ MAX_EXECUTION_TIME(?) */ ?'],
    ["SELECT 'unterminated secret", 'SELECT ?'],
    ["SELECT \"unterminated 'x", 'SELECT ?'],
    ['SELECT `unterminated', 'SELECT `unterminated'],
    ['SELECT * FROM t WHERE id IN (1, 2, 3) LIMIT 10 OFFSET 20', 'SELECT * FROM t WHERE id IN (?, ?, ?) LIMIT ? OFFSET ?'],
    ["SELECT 'ünïcödé', 'emoji 😀' FROM café", 'SELECT ?, ? FROM café'],
    ['', ''],
    ['   ', ''],
  ];
  for (const [input, want] of cases) t.equal(sanitizeMysqlQuery(input), want, input);
});

t.test('sanitizer: no literal survives, for any mix of quotes and escapes', async (t) => {
  const secrets = ["'s3cr3t'", '"s3cr3t"', "'s3\\'cr3t'", "'s3''cr3t'", "X'5333'", "_latin1's3cr3t'", "N's3cr3t'", '73313', '0x7333', '7.3e3'];
  for (const s of secrets) {
    for (const ctx of [`SELECT ${s}`, `SELECT a FROM b WHERE c=${s}`, `INSERT INTO t VALUES(${s},${s})`, `UPDATE t SET a=${s} WHERE b IN (${s})`]) {
      const out = sanitizeMysqlQuery(ctx);
      if (/s3|cr3t|733|5333/.test(out)) t.fail(`${ctx} → ${out}`);
    }
  }
  t.pass('nothing leaks');
});

t.test('operation and collection', async (t) => {
  const cases: Array<[string, Record<string, string>]> = [
    ['SELECT * FROM users WHERE id = 1', { operation: 'SELECT', collection: 'users' }],
    ['select id from `shop`.`items` i where i.id = ?', { operation: 'SELECT', collection: 'shop.items' }],
    ['SELECT * FROM orders AS o ORDER BY o.id', { operation: 'SELECT', collection: 'orders' }],
    ['(SELECT a FROM t)', { operation: 'SELECT', collection: 't' }],
    ['SELECT 1', { operation: 'SELECT' }],
    ['SELECT 1 FROM DUAL', { operation: 'SELECT' }],
    ['SELECT * FROM a JOIN b ON a.id = b.id', { operation: 'SELECT' }],
    ['SELECT * FROM a, b', { operation: 'SELECT' }],
    ['SELECT * FROM a WHERE id IN (SELECT id FROM b)', { operation: 'SELECT' }],
    ['SELECT * FROM (SELECT 1) x', { operation: 'SELECT' }],
    ['SELECT a FROM t UNION SELECT a FROM u', { operation: 'SELECT' }],
    ['SELECT a FROM t; DROP TABLE t', { operation: 'SELECT' }],
    ['SELECT a FROM t;', { operation: 'SELECT', collection: 't' }],
    ["INSERT INTO items (id, name) VALUES (1, 'x')", { operation: 'INSERT', collection: 'items' }],
    ['INSERT IGNORE items VALUES (1)', { operation: 'INSERT', collection: 'items' }],
    ['INSERT INTO a SELECT * FROM b', { operation: 'INSERT' }],
    ['REPLACE INTO kv VALUES (?, ?)', { operation: 'REPLACE', collection: 'kv' }],
    ['UPDATE LOW_PRIORITY stock SET n = n - 1 WHERE id = ?', { operation: 'UPDATE', collection: 'stock' }],
    ['UPDATE a, b SET a.x = b.x', { operation: 'UPDATE' }],
    ['DELETE FROM sessions WHERE expires < NOW()', { operation: 'DELETE', collection: 'sessions' }],
    ['DELETE t1 FROM t1 JOIN t2 ON t1.id = t2.id', { operation: 'DELETE' }],
    ['CREATE TABLE IF NOT EXISTS items (id INT PRIMARY KEY)', { operation: 'CREATE TABLE', collection: 'items' }],
    ['CREATE TEMPORARY TABLE tmp (x INT)', { operation: 'CREATE TABLE', collection: 'tmp' }],
    ['CREATE TABLE a LIKE b', { operation: 'CREATE TABLE' }],
    ['DROP TABLE IF EXISTS a', { operation: 'DROP TABLE', collection: 'a' }],
    ['DROP TABLE a, b', { operation: 'DROP TABLE' }],
    ['ALTER TABLE items ADD COLUMN price INT', { operation: 'ALTER TABLE', collection: 'items' }],
    ['CREATE DATABASE shop', { operation: 'CREATE DATABASE' }],
    ['CREATE SCHEMA shop', { operation: 'CREATE DATABASE' }],
    ['CREATE UNIQUE INDEX i ON t (a)', { operation: 'CREATE INDEX' }],
    ['CREATE OR REPLACE VIEW v AS SELECT 1', { operation: 'CREATE VIEW' }],
    ['TRUNCATE TABLE logs', { operation: 'TRUNCATE', collection: 'logs' }],
    ['CALL refresh_totals(1)', { operation: 'CALL', procedure: 'refresh_totals' }],
    ['WITH x AS (SELECT 1) SELECT * FROM x', { operation: 'SELECT' }],
    ['START TRANSACTION', { operation: 'START TRANSACTION' }],
    ['BEGIN', { operation: 'BEGIN' }],
    ['commit', { operation: 'COMMIT' }],
    ['SET NAMES utf8mb4', { operation: 'SET' }],
    ['SHOW TABLES', { operation: 'SHOW' }],
    ['USE shop', { operation: 'USE' }],
    ['DESC items', { operation: 'DESCRIBE' }],
    ['/* comment */ SELECT a FROM t', { operation: 'SELECT', collection: 't' }],
    ['select @@version_comment limit 1', { operation: 'SELECT' }],
    ['FROBNICATE all the things', {}],
    ['', {}],
    ["'just a string'", {}],
  ];
  for (const [sql, want] of cases) t.same(summarizeMysqlQuery(sql), want, sql);
});

t.test('long and hostile input stays fast and bounded', async (t) => {
  const long = `SELECT ${"'x', ".repeat(20_000)}1 FROM t`;
  const started = Date.now();
  t.equal(summarizeMysqlQuery(long).operation, 'SELECT');
  t.ok(sanitizeMysqlQuery(long).length < long.length);
  t.equal(sanitizeMysqlQuery('('.repeat(10_000)), '('.repeat(10_000));
  t.same(summarizeMysqlQuery('('.repeat(10_000)), {});
  t.ok(Date.now() - started < 2000, 'linear time');
});
