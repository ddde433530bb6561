// MySQL exchanges → spans and db.client.operation.duration (OTel database semantic conventions).
import t from 'tap';
import type { MysqlExchange } from '../../../src/model/mysql.js';
import type { ResourceRecord } from '../../../src/model/span.js';
import { hexIdSource } from '../../../src/semconv/ids.js';
import { conventionsFor } from '../../../src/semconv/registry.js';
import { DB_CLIENT_DURATION, mysqlExchangeToMetrics, mysqlExchangeToSpan, mysqlLinkId } from '../../../src/semconv/mysql.js';
import { redactQuoted } from '../../../src/semconv/redaction.js';
import { CLIENT_CONN, SERVER_CONN } from './harness.js';

const resource: ResourceRecord = { key: 'pid:1', attributes: { 'service.name': 'shop' } };
const ids = hexIdSource(() => '0af7651916cd43dd8448eb211c80319c', () => 'b7ad6b7169203331');

function exchange(over: Partial<MysqlExchange> = {}): MysqlExchange {
  return {
    protocol: 'mysql', connection: CLIENT_CONN, ordinal: 3, command: 'COM_QUERY', outcome: 'ok',
    query: "SELECT id, name FROM items WHERE name = 'lamp' AND price > 10", database: 'shop', user: 'app',
    serverVersion: '10.11.6-MariaDB', flavor: 'mariadb', rows: 2, resultSets: 1,
    startNs: 1_000_000_000n, endNs: 1_002_500_000n, ...over,
  };
}

t.test('a client query span', async (t) => {
  const s = mysqlExchangeToSpan(exchange(), resource, ids);
  t.equal(s.name, 'SELECT items');
  t.equal(s.kind, 'client');
  t.same(s.status, { code: 'unset' });
  t.same(s.attributes, {
    'db.system.name': 'mariadb',
    'db.namespace': 'shop',
    'db.operation.name': 'SELECT',
    'db.collection.name': 'items',
    'db.query.text': 'SELECT id, name FROM items WHERE name = ? AND price > ?',
    'db.response.returned_rows': 2,
    'server.address': '127.0.0.1',
    'server.port': 3306,
    'network.peer.address': '127.0.0.1',
    'network.peer.port': 3306,
    'network.transport': 'tcp',
    'network.type': 'ipv4',
  });
  t.equal(s.startTimeUnixNano, 1_000_000_000n);
  t.equal(s.endTimeUnixNano, 1_002_500_000n);
  t.notMatch(JSON.stringify(s.attributes), /lamp|app/, 'no literal, no user');
});

t.test('an error: status code, error.type, redacted message', async (t) => {
  const s = mysqlExchangeToSpan(exchange({
    query: 'INSERT INTO users (email) VALUES (?)', command: 'COM_STMT_EXECUTE', statementId: 4, rows: undefined, resultSets: undefined, outcome: 'error',
    error: { code: 1062, sqlState: '23000', message: "Duplicate entry 'alice@example.com' for key 'users.email'" },
  }), resource, ids);
  t.equal(s.name, 'INSERT users');
  t.equal(s.attributes['db.response.status_code'], '1062');
  t.equal(s.attributes['error.type'], '1062');
  t.same(s.status, { code: 'error', message: "23000: Duplicate entry '?' for key '?'" });
  t.equal(s.attributes['db.response.returned_rows'], undefined);
  t.notMatch(JSON.stringify(s, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)), /alice/);
});

t.test('span names and operations of commands without SQL', async (t) => {
  const cases: Array<[Partial<MysqlExchange>, string, string | undefined]> = [
    [{ command: 'COM_PING', query: undefined }, 'PING', 'PING'],
    [{ command: 'COM_INIT_DB', query: undefined, database: 'archive' }, 'INIT_DB', 'INIT_DB'],
    [{ command: 'COM_STMT_PREPARE', query: 'SELECT a FROM t WHERE b = ?' }, 'PREPARE t', 'PREPARE'],
    [{ command: 'COM_STMT_EXECUTE', query: 'UPDATE t SET a = ?' }, 'UPDATE t', 'UPDATE'],
    [{ command: 'COM_STMT_EXECUTE', query: undefined, statementId: 9 }, 'EXECUTE', 'EXECUTE'],
    [{ command: 'COM_STMT_CLOSE', query: 'SELECT a FROM t', outcome: 'no_response' }, 'STMT_CLOSE t', 'STMT_CLOSE'],
    [{ command: 'COM_QUERY', query: 'FROBNICATE' }, 'mariadb', undefined],
    [{ command: 'COM_QUERY', query: 'CALL refresh(1)' }, 'CALL refresh', 'CALL'],
    [{ command: 'COM_QUERY', query: 'SELECT a FROM t JOIN u', flavor: 'mysql' }, 'SELECT', 'SELECT'],
    [{ command: 'COM_QUERY', query: '', flavor: 'mysql' }, 'mysql', undefined],
  ];
  for (const [over, name, op] of cases) {
    const s = mysqlExchangeToSpan(exchange(over), resource, ids);
    t.equal(s.name, name, JSON.stringify(over));
    t.equal(s.attributes['db.operation.name'], op);
  }
  const call = mysqlExchangeToSpan(exchange({ query: 'CALL refresh(1)' }), resource, ids);
  t.equal(call.attributes['db.stored_procedure.name'], 'refresh');
});

t.test('missing and incomplete responses', async (t) => {
  const missing = mysqlExchangeToSpan(exchange({ outcome: 'missing', rows: undefined }), resource, ids);
  t.equal(missing.status.code, 'error');
  t.equal(missing.attributes['error.type'], 'response_missing');
  const incomplete = mysqlExchangeToSpan(exchange({ outcome: 'incomplete', rows: 7 }), resource, ids);
  t.equal(incomplete.status.code, 'unset', 'unknown outcome: not an error');
  t.equal(incomplete.attributes['db.response.returned_rows'], undefined, 'a partial count is not reported');
});

t.test('truncated query text is marked; long text is cut', async (t) => {
  const s = mysqlExchangeToSpan(exchange({ query: "SELECT a FROM t WHERE b = 'x", queryTruncated: true }), resource, ids);
  t.equal(s.attributes['db.query.text'], 'SELECT a FROM t WHERE b = ?...');
  const long = mysqlExchangeToSpan(exchange({ query: `SELECT ${'a, '.repeat(3000)}b FROM t` }), resource, ids);
  t.equal(String(long.attributes['db.query.text']).length, 4096 + 3);
});

t.test('server spans: the server end of the connection', async (t) => {
  const s = mysqlExchangeToSpan(exchange({ connection: SERVER_CONN }), resource, ids);
  t.equal(s.kind, 'server');
  t.equal(s.attributes['server.address'], '127.0.0.1');
  t.equal(s.attributes['server.port'], 3306, 'the local port');
  t.equal(s.attributes['client.address'], '127.0.0.1');
  t.same(mysqlExchangeToMetrics(exchange({ connection: SERVER_CONN }), resource), [], 'no client duration for the server');
});

t.test('db.client.operation.duration', async (t) => {
  const [p] = mysqlExchangeToMetrics(exchange({ outcome: 'error', error: { code: 1146, sqlState: '42S02', message: 'x' } }), resource);
  t.equal(p?.name, DB_CLIENT_DURATION);
  t.equal(p?.unit, 's');
  t.equal(p?.value, 0.0025);
  t.same(p?.attributes, {
    'db.system.name': 'mariadb', 'db.namespace': 'shop', 'db.operation.name': 'SELECT', 'db.collection.name': 'items',
    'db.response.status_code': '1146', 'error.type': '1146', 'server.address': '127.0.0.1', 'server.port': 3306,
  });
});

t.test('registry entry and link id: both ends agree', async (t) => {
  const client = exchange();
  const server = exchange({ connection: SERVER_CONN });
  const conv = conventionsFor(client);
  t.equal(conv.linkId(client), conv.linkId(server));
  t.equal(mysqlLinkId(client), mysqlLinkId(server));
  t.equal(conv.linkOrdinal?.(client), conv.linkOrdinal?.(server));
  t.not(conv.linkOrdinal?.(client), conv.linkOrdinal?.(exchange({ ordinal: 4 })), 'the ordinal tells commands apart');
  t.equal(conv.toSpan(client, resource, ids).name, 'SELECT items');
});

t.test('redactQuoted', async (t) => {
  t.equal(redactQuoted("Table 'shop.missing' doesn't exist"), "Table '?' doesn't exist");
  t.equal(redactQuoted("Duplicate entry 'a\\'b' for key \"k\""), "Duplicate entry '?' for key \"?\"");
  t.equal(redactQuoted("cut short 'secret"), "cut short '?'");
  t.equal(redactQuoted("Duplicate entry 'it's here' for key 'k'"), "Duplicate entry '?' for key '?'");
  t.equal(redactQuoted("You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near 'FROM x' at line 1"),
    "You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near '?' at line 1");
});
