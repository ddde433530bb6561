// One parser per message, over payloads built after the spec (builder.ts), and every truncation of
// each: MALFORMED or a value, never an exception.
import t from 'tap';
import * as C from '../../../src/protocols/mysql/constants.js';
import { looksLikeMysqlCommand, looksLikeMysqlGreeting, looksLikeResponseStart } from '../../../src/protocols/mysql/detect.js';
import {
  MALFORMED,
  isColumnDefinition,
  isEofPacket,
  isResultSetEnd,
  isSslRequest,
  parseColumnCount,
  parseCommand,
  parseErr,
  parseHandshakeResponse,
  parseHandshakeV10,
  parseOk,
  parsePrepareOk,
} from '../../../src/protocols/mysql/messages.js';
import { mysqlHandler } from '../../../src/protocols/mysql/connection.js';
import { useStatementDatabase } from '../../../src/protocols/mysql/use-statement.js';
import * as B from './builder.js';

t.test('Initial Handshake v10: MySQL and MariaDB', async (t) => {
  const my = parseHandshakeV10(B.greeting({ version: '8.0.36', plugin: 'caching_sha2_password' }));
  t.not(my, MALFORMED);
  if (my === MALFORMED) return;
  t.equal(my.serverVersion, '8.0.36');
  t.equal(my.connectionId, 42);
  t.equal(my.authPlugin, 'caching_sha2_password');
  t.equal(my.extendedCapabilities, 0, 'CLIENT_MYSQL set: the reserved bytes are not capabilities');
  t.ok((my.capabilities & C.CLIENT_DEPRECATE_EOF) !== 0, 'upper capability flags read');

  const maria = parseHandshakeV10(B.greeting({ version: '5.5.5-10.11.6-MariaDB-0+deb12u1', caps: B.MARIADB_SERVER_CAPS, extCaps: B.MARIADB_EXT_CAPS }));
  if (maria === MALFORMED) return t.fail('MariaDB greeting');
  t.equal(maria.serverVersion, '5.5.5-10.11.6-MariaDB-0+deb12u1');
  t.equal(maria.extendedCapabilities, B.MARIADB_EXT_CAPS, 'MariaDB extended capabilities');

  t.equal(parseHandshakeV10(Buffer.from([9, 0x35, 0])), MALFORMED, 'protocol 9 is not supported');
});

t.test('a greeting without the final NUL on the plugin name (Bug#59453)', async (t) => {
  const g = B.greeting({ plugin: 'mysql_native_password' });
  const hs = parseHandshakeV10(g.subarray(0, g.length - 1));
  t.equal(hs !== MALFORMED && hs.authPlugin, 'mysql_native_password');
});

t.test('HandshakeResponse41: user and database, never the auth response', async (t) => {
  const payload = B.handshakeResponse({ user: 'shop', auth: 'my-Secr3t-pw', database: 'orders', plugin: 'mysql_native_password' });
  const hr = parseHandshakeResponse(payload);
  if (hr === MALFORMED) return t.fail('parsed');
  t.equal(hr.user, 'shop');
  t.equal(hr.database, 'orders');
  t.equal(hr.authPlugin, 'mysql_native_password');
  t.notMatch(JSON.stringify(hr), /Secr3t/, 'the auth response is not in the result');
  // The three encodings of the auth response.
  for (const caps of [B.CLIENT_CAPS, B.CLIENT_CAPS & ~C.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA, B.CLIENT_CAPS & ~C.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA & ~C.CLIENT_SECURE_CONNECTION]) {
    const r = parseHandshakeResponse(B.handshakeResponse({ caps, user: 'u', auth: 'x'.repeat(20), database: 'd' }));
    t.same(r !== MALFORMED && [r.user, r.database], ['u', 'd'], `caps ${caps.toString(16)}`);
  }
  const noDb = parseHandshakeResponse(B.handshakeResponse({ user: 'u' }));
  t.equal(noDb !== MALFORMED && noDb.database, undefined, 'no CLIENT_CONNECT_WITH_DB');
});

t.test('SSLRequest is told from a HandshakeResponse41', async (t) => {
  const ssl = B.sslRequest();
  t.ok(isSslRequest(ssl, ssl.length));
  const hr = B.handshakeResponse({ caps: B.CLIENT_CAPS | C.CLIENT_SSL });
  t.notOk(isSslRequest(hr, hr.length), 'longer than 32 bytes: a response after TLS');
  const plain = B.sslRequest(B.CLIENT_CAPS);
  t.notOk(isSslRequest(plain, plain.length), 'without CLIENT_SSL');
});

t.test('OK_Packet, EOF_Packet and the 0xFE OK', async (t) => {
  const caps = C.CLIENT_PROTOCOL_41 | C.CLIENT_DEPRECATE_EOF;
  t.same(parseOk(B.ok({ affectedRows: 300, lastInsertId: 70000, status: 0x22, warnings: 2 }), caps), { affectedRows: 300, lastInsertId: 70000, status: 0x22, warnings: 2 });
  t.same(parseOk(B.ok({ header: 0xfe, affectedRows: 0, status: 0x0a }), caps), { affectedRows: 0, lastInsertId: 0, status: 0x0a, warnings: 0 });
  t.same(parseOk(B.eof(0x0a, 3), C.CLIENT_PROTOCOL_41), { affectedRows: 0, lastInsertId: 0, status: 0x0a, warnings: 3 }, 'EOF: warnings then status');
  t.same(parseOk(B.eof(0x0a, 3), caps), { affectedRows: 0, lastInsertId: 0, status: 0x0a, warnings: 3 }, '5 bytes: an EOF even with DEPRECATE_EOF');
  t.same(parseOk(Buffer.from([0xfe]), 0), { affectedRows: 0, lastInsertId: 0, status: 0, warnings: 0 }, 'pre-4.1 EOF');
  t.equal(parseOk(B.err(1, null, 'x'), caps), MALFORMED);
  t.equal(parseOk(Buffer.from([0x00, 0x01]), caps), MALFORMED, 'cut short');
  t.ok(isEofPacket(0xfe, 5));
  t.notOk(isEofPacket(0xfe, 7));
  t.ok(isResultSetEnd(0xfe, 7));
  t.notOk(isResultSetEnd(0xfe, C.MAX_PACKET_PAYLOAD), 'a row whose first value is 16 MiB or more');
});

t.test('OK_Packet with session state: the new schema (SESSION_TRACK_SCHEMA)', async (t) => {
  const caps = C.CLIENT_PROTOCOL_41 | C.CLIENT_SESSION_TRACK;
  const okp = parseOk(B.ok({ schema: 'inventory', info: 'changed' }), caps);
  t.equal(okp !== MALFORMED && okp.schema, 'inventory');
  const without = parseOk(B.ok({ schema: 'inventory' }), C.CLIENT_PROTOCOL_41);
  t.equal(without !== MALFORMED && without.schema, undefined, 'not read without CLIENT_SESSION_TRACK');
});

t.test('ERR_Packet with and without SQL state', async (t) => {
  t.same(parseErr(B.err(1146, '42S02', "Table 'shop.missing' doesn't exist")), { code: 1146, sqlState: '42S02', message: "Table 'shop.missing' doesn't exist" });
  t.same(parseErr(B.err(1040, null, 'Too many connections')), { code: 1040, message: 'Too many connections' });
  t.equal(parseErr(Buffer.from([0xff, 1])), MALFORMED);
  const long = parseErr(B.err(1064, '42000', 'x'.repeat(5000)));
  t.equal(long !== MALFORMED && long.message.length, 512, 'message bounded');
});

t.test('COM_STMT_PREPARE_OK and the column count packet', async (t) => {
  const prep = new B.Payload().u8(0).u32(0x01020304).u16(2).u16(3).u8(0).u16(1).build();
  t.same(parsePrepareOk(prep), { statementId: 0x01020304, numColumns: 2, numParams: 3, warnings: 1, metadataFollows: true });
  t.same(parseColumnCount(B.columnCount(3)), { count: 3, metadataFollows: true });
  t.same(parseColumnCount(B.columnCount(3, false)), { count: 3, metadataFollows: false }, 'MariaDB cache metadata byte');
  t.same(parseColumnCount(B.columnCount(300, true)), { count: 300, metadataFollows: true });
  t.equal(parseColumnCount(Buffer.from([0])), MALFORMED, 'zero columns');
  t.equal(parseColumnCount(Buffer.from([2, 1, 1])), MALFORMED, 'trailing bytes');
  t.ok(isColumnDefinition(B.columnDef('id')));
  t.notOk(isColumnDefinition(B.textRow(['abc'])));
  t.ok(isColumnDefinition(B.textRow(['def', 'x'])), 'only a plausibility check: a row whose first value is "def" passes too');
});

t.test('commands', async (t) => {
  const caps = B.CLIENT_CAPS;
  const body = (b: Buffer): Buffer => b.subarray(4);
  t.same(parseCommand(body(B.query('SELECT 1')), true, caps), { code: C.COM_QUERY, text: 'SELECT 1' });
  t.same(parseCommand(body(B.queryWithAttributes('SELECT 1')), true, caps | C.CLIENT_QUERY_ATTRIBUTES), { code: C.COM_QUERY, text: 'SELECT 1' }, 'CLIENT_QUERY_ATTRIBUTES, none set');
  // With one attribute: count 1, set count 1, NULL bitmap, bound flag, type + name, value.
  const attrs = B.command(C.COM_QUERY, new B.Payload().lenenc(1).lenenc(1).u8(0).u8(1).u16(0xfd).lstr('traceparent').lstr('00-abc').str('SELECT 2'));
  t.same(parseCommand(body(attrs), true, caps | C.CLIENT_QUERY_ATTRIBUTES), { code: C.COM_QUERY, text: 'SELECT 2' }, 'query attributes skipped');
  t.same(parseCommand(body(B.query('SELECT 1')), false, caps), { code: C.COM_QUERY, text: 'SELECT 1', textTruncated: true });
  t.same(parseCommand(body(B.initDb('shop')), true, caps), { code: C.COM_INIT_DB, text: 'shop' });
  t.same(parseCommand(body(B.stmtExecute(7, ['a', 'b'], 1)), true, caps), { code: C.COM_STMT_EXECUTE, statementId: 7, flags: 1 });
  t.same(parseCommand(body(B.stmtClose(0xffffffff)), true, caps), { code: C.COM_STMT_CLOSE, statementId: 0xffffffff });
  t.same(parseCommand(body(B.changeUser('other', 'pw-secret', 'db2')), true, caps), { code: C.COM_CHANGE_USER, text: 'other', database: 'db2' });
  t.equal(parseCommand(Buffer.from([C.COM_STMT_EXECUTE, 1, 2]), true, caps), MALFORMED, 'statement id cut short');
});

t.test('recognisers: greeting, command, response start', async (t) => {
  const g = B.packet(0, B.greeting());
  t.ok(looksLikeMysqlGreeting(g));
  t.ok(looksLikeMysqlGreeting(B.packet(0, B.greeting({ version: '5.5.5-10.11.6-MariaDB' }))));
  t.notOk(looksLikeMysqlGreeting(B.query('SELECT 1')));
  t.ok(mysqlHandler.looksLikeResponse(g));
  t.notOk(mysqlHandler.looksLikeRequest(g), 'a greeting is no command');
  t.ok(mysqlHandler.looksLikeRequest(B.query('SELECT 1')));
  t.ok(mysqlHandler.looksLikeRequest(B.ping()));
  t.notOk(mysqlHandler.looksLikeRequest(B.packet(0, Buffer.from([0x0e, 1, 2]))), 'COM_PING has no body');
  t.ok(looksLikeMysqlCommand(5, C.COM_STMT_CLOSE));
  t.notOk(looksLikeMysqlCommand(6, C.COM_STMT_CLOSE));
  t.notOk(looksLikeMysqlCommand(1, 0x60), 'no such command');
  t.ok(looksLikeResponseStart(7, 0x00));
  t.ok(looksLikeResponseStart(1, 3), 'a column count');
  t.notOk(looksLikeResponseStart(50, 3), 'a column count is alone in its packet');
  t.notOk(looksLikeResponseStart(2, 0x00), 'too short for an OK');
});

t.test('USE statements', async (t) => {
  const cases: Array<[string, string | null]> = [
    ['USE shop', 'shop'], ['use `my db`;', 'my db'], ['  USE   orders_2024  ', 'orders_2024'], ['USE `a``b`', 'a`b'],
    ['USE shop; SELECT 1', null], ['SELECT 1', null], ['USE /* c */ shop', null], ['USER x', null],
  ];
  for (const [q, want] of cases) t.equal(useStatementDatabase(q), want, q);
});

t.test('every truncation of every message: a value or MALFORMED, no exception', async (t) => {
  const payloads: Array<[string, Buffer, (b: Buffer) => unknown]> = [
    ['greeting', B.greeting(), (b) => parseHandshakeV10(b)],
    ['mariadb greeting', B.greeting({ version: '5.5.5-10.11.6-MariaDB', caps: B.MARIADB_SERVER_CAPS, extCaps: B.MARIADB_EXT_CAPS }), (b) => parseHandshakeV10(b)],
    ['handshake response', B.handshakeResponse({ database: 'db' }), (b) => parseHandshakeResponse(b)],
    ['ok', B.ok({ schema: 'x', info: 'y', affectedRows: 70000 }), (b) => parseOk(b, C.CLIENT_PROTOCOL_41 | C.CLIENT_SESSION_TRACK)],
    ['err', B.err(1146, '42S02', 'message'), (b) => parseErr(b)],
    ['prepare ok', new B.Payload().u8(0).u32(1).u16(2).u16(3).u8(0).u16(1).build(), (b) => parsePrepareOk(b)],
    ['column count', B.columnCount(70000, true), (b) => parseColumnCount(b)],
    ['query with attributes', B.command(C.COM_QUERY, new B.Payload().lenenc(2).lenenc(1).u8(0).u8(1).u16(0x08).lstr('a').u16(0x0c).lstr('b').u64(5).u8(4).raw([1, 2, 3, 4]).str('SELECT 2')).subarray(4),
      (b) => parseCommand(b, true, C.CLIENT_QUERY_ATTRIBUTES)],
    ['change user', B.changeUser('u', 'pw', 'db').subarray(4), (b) => parseCommand(b, true, B.CLIENT_CAPS)],
    ['execute', B.stmtExecute(1, ['x']).subarray(4), (b) => parseCommand(b, true, B.CLIENT_CAPS)],
  ];
  for (const [name, full, parse] of payloads) {
    for (let cut = 0; cut <= full.length; cut++) {
      try {
        parse(full.subarray(0, cut));
      } catch (e) {
        t.fail(`${name} cut at ${cut}: ${String(e)}`);
      }
    }
  }
  t.pass('no exception');
});
