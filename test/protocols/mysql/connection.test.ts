// Whole conversations through MysqlConnection: handshake variants, every command's response shape,
// prepared statements, database changes, and what capture damage does (gaps, reordering, closing
// early). Every conversation is also replayed cut at every offset of every syscall, and byte by
// byte: the exchanges must not change.
import t, { type Test } from 'tap';
import * as C from '../../../src/protocols/mysql/constants.js';
import type { MysqlExchange } from '../../../src/model/mysql.js';
import * as B from './builder.js';
import { CLIENT_CONN, SERVER_CONN, essence, play } from './harness.js';

const { packet, Conversation } = B;

/** The exchanges' comparable parts, without the fields every exchange shares. */
function brief(exs: MysqlExchange[]): Array<Record<string, unknown>> {
  return exs.map((e) => {
    const { protocol: _p, user: _u, serverVersion: _v, flavor: _f, ...rest } = essence(e);
    return rest;
  });
}

/** Exchanges must be the same whatever the cuts. */
function checkEveryCut(t: Test, conv: B.Conversation, name: string): void {
  const want = JSON.stringify(play(conv).exchanges.map(essence));
  let runs = 0;
  conv.events.forEach((e, i) => {
    for (let cut = 1; cut < e.bytes.length; cut++) {
      runs++;
      const got = JSON.stringify(play(conv, { cuts: (j) => (j === i ? [cut] : []) }).exchanges.map(essence));
      if (got !== want) t.fail(`${name}: event ${i} cut at ${cut}\n${got}\n${want}`);
    }
  });
  const bytewise = JSON.stringify(play(conv, { cuts: (_i, e) => Array.from({ length: e.bytes.length }, (_x, k) => k) }).exchanges.map(essence));
  t.equal(bytewise, want, `${name}: byte by byte`);
  t.ok(runs > 0, `${name}: ${runs} cut positions replayed`);
}

/** A conversation with one of each common command, for both EOF styles. */
function everyday(deprecateEof: boolean): B.Conversation {
  const c = B.login(new Conversation(), { deprecateEof, database: 'shop' });
  const rs = (columns: string[], rows: Array<Array<string | null>>, extra: Partial<B.ResultSetOptions> = {}): Buffer =>
    B.resultSet({ columns, rows, deprecateEof, ...extra }).bytes;
  c.client(B.query("SELECT id, name FROM items WHERE name <> 'x'")).server(rs(['id', 'name'], [['1', 'lamp'], ['2', null], ['3', 'wick']]));
  c.client(B.query('SELECT * FROM missing')).server(packet(1, B.err(1146, '42S02', "Table 'shop.missing' doesn't exist")));
  c.client(B.query("INSERT INTO items VALUES (4, 'oil'), (5, 'tin')")).server(packet(1, B.ok({ affectedRows: 2, lastInsertId: 5 })));
  c.client(B.query('SELECT 1 FROM DUAL WHERE 0')).server(rs(['1'], []));
  c.client(B.stmtPrepare('SELECT name FROM items WHERE id = ? AND name <> ?')).server(B.prepareResponse(1, 2, ['name'], deprecateEof));
  for (const id of ['1', '3']) c.client(B.stmtExecute(1, [id, 'zz'])).server(rs(['name'], [['lamp']], { binary: true }));
  c.client(B.stmtReset(1)).server(packet(1, B.ok()));
  c.client(B.stmtClose(1));
  c.client(B.stmtExecute(1, ['1', 'zz'])).server(packet(1, B.err(1243, 'HY000', 'Unknown prepared statement handler (1) given to mysqld_stmt_execute')));
  c.client(B.initDb('archive')).server(packet(1, B.ok()));
  c.client(B.query('SELECT COUNT(*) FROM old_items')).server(rs(['COUNT(*)'], [['12']]));
  c.client(B.query('USE `shop`')).server(packet(1, B.ok()));
  c.client(B.ping()).server(packet(1, B.ok()));
  c.client(B.quit());
  return c;
}

t.test('an everyday conversation (CLIENT_DEPRECATE_EOF)', async (t) => {
  const { exchanges, conn } = play(everyday(true));
  t.same(brief(exchanges), [
    { ordinal: 0, command: 'COM_QUERY', query: "SELECT id, name FROM items WHERE name <> 'x'", database: 'shop', outcome: 'ok', rows: 3, resultSets: 1 },
    { ordinal: 1, command: 'COM_QUERY', query: 'SELECT * FROM missing', database: 'shop', outcome: 'error', error: { code: 1146, sqlState: '42S02', message: "Table 'shop.missing' doesn't exist" } },
    { ordinal: 2, command: 'COM_QUERY', query: "INSERT INTO items VALUES (4, 'oil'), (5, 'tin')", database: 'shop', outcome: 'ok', affectedRows: 2 },
    { ordinal: 3, command: 'COM_QUERY', query: 'SELECT 1 FROM DUAL WHERE 0', database: 'shop', outcome: 'ok', rows: 0, resultSets: 1 },
    { ordinal: 4, command: 'COM_STMT_PREPARE', query: 'SELECT name FROM items WHERE id = ? AND name <> ?', database: 'shop', outcome: 'ok', statementId: 1, prepared: { numParams: 2, numColumns: 1 } },
    { ordinal: 5, command: 'COM_STMT_EXECUTE', query: 'SELECT name FROM items WHERE id = ? AND name <> ?', statementId: 1, database: 'shop', outcome: 'ok', rows: 1, resultSets: 1 },
    { ordinal: 6, command: 'COM_STMT_EXECUTE', query: 'SELECT name FROM items WHERE id = ? AND name <> ?', statementId: 1, database: 'shop', outcome: 'ok', rows: 1, resultSets: 1 },
    { ordinal: 7, command: 'COM_STMT_RESET', query: 'SELECT name FROM items WHERE id = ? AND name <> ?', statementId: 1, database: 'shop', outcome: 'ok' },
    { ordinal: 8, command: 'COM_STMT_CLOSE', query: 'SELECT name FROM items WHERE id = ? AND name <> ?', statementId: 1, database: 'shop', outcome: 'no_response' },
    { ordinal: 9, command: 'COM_STMT_EXECUTE', statementId: 1, database: 'shop', outcome: 'error', error: { code: 1243, sqlState: 'HY000', message: 'Unknown prepared statement handler (1) given to mysqld_stmt_execute' } },
    { ordinal: 10, command: 'COM_INIT_DB', database: 'archive', outcome: 'ok' },
    { ordinal: 11, command: 'COM_QUERY', query: 'SELECT COUNT(*) FROM old_items', database: 'archive', outcome: 'ok', rows: 1, resultSets: 1 },
    { ordinal: 12, command: 'COM_QUERY', query: 'USE `shop`', database: 'archive', outcome: 'ok' },
    { ordinal: 13, command: 'COM_PING', database: 'shop', outcome: 'ok' },
  ]);
  t.ok(exchanges.every((e) => e.user === 'app' && e.serverVersion === '8.0.36' && e.flavor === 'mysql'));
  const s = conn.stats();
  t.equal(s.commands, 15, 'COM_QUIT counted, not reported');
  t.equal(s.exchanges, 14);
  t.equal(s.errors, 2);
  t.equal(s.unknownStatements, 1, 'the execute after close');
  t.equal(s.parseErrors, 0);
  t.equal(s.internalErrors, 0);
  // Times: a command's first byte to its response's last.
  const first = exchanges[0]!;
  t.ok(first.endNs > first.startNs);
  t.equal(exchanges[8]!.endNs, exchanges[8]!.startNs, 'no response: the command alone');
});

t.test('the same without CLIENT_DEPRECATE_EOF (EOF packets after definitions and rows)', async (t) => {
  t.same(brief(play(everyday(false)).exchanges), brief(play(everyday(true)).exchanges));
});

t.test('every cut of every syscall, both EOF styles, both connection roles', async (t) => {
  checkEveryCut(t, everyday(true), 'deprecate-eof');
  checkEveryCut(t, everyday(false), 'eof');
  const asServer = play(everyday(true), { connection: SERVER_CONN }).exchanges;
  t.same(asServer.map(essence), play(everyday(true), { connection: CLIENT_CONN }).exchanges.map(essence), 'the server end sees the same');
  t.equal(asServer[0]!.connection.role, 'server');
});

t.test('MariaDB: flavor, version, cache metadata, progress reports, last prepared statement', async (t) => {
  const c = B.login(new Conversation(), { mariadb: true });
  c.client(B.stmtPrepare('SELECT a, b FROM t WHERE c = ?')).server(B.prepareResponse(9, 1, ['a', 'b'], true));
  // First execution sends the metadata, later ones may skip it (metadata byte 0).
  c.client(B.stmtExecute(9, ['x'])).server(B.resultSet({ columns: ['a', 'b'], rows: [['1', '2']], deprecateEof: true, binary: true, metadataFollows: true }).bytes);
  c.client(B.stmtExecute(9, ['y'])).server(B.resultSet({ columns: ['a', 'b'], rows: [['1', '2'], ['3', null]], deprecateEof: true, binary: true, metadataFollows: false }).bytes);
  // COM_STMT_EXECUTE with id 0xffffffff runs the statement prepared last.
  c.client(B.stmtExecute(0xffffffff, ['z'])).server(B.resultSet({ columns: ['a', 'b'], rows: [], deprecateEof: true, binary: true, metadataFollows: false }).bytes);
  c.client(B.query('ALTER TABLE t ADD INDEX (c)')).server(packet(1, B.progress(1, 2, 500, 'copy to tmp table')), packet(2, B.progress(2, 2, 900, 'enable keys')), packet(3, B.ok()));
  const { exchanges, conn } = play(c);
  t.same(exchanges.map((e) => [e.command, e.outcome, e.rows ?? null]), [
    ['COM_STMT_PREPARE', 'ok', null], ['COM_STMT_EXECUTE', 'ok', 1], ['COM_STMT_EXECUTE', 'ok', 2], ['COM_STMT_EXECUTE', 'ok', 0], ['COM_QUERY', 'ok', null],
  ]);
  t.equal(exchanges[3]!.query, 'SELECT a, b FROM t WHERE c = ?', 'last prepared statement resolved');
  t.ok(exchanges.every((e) => e.flavor === 'mariadb' && e.serverVersion === '10.11.6-MariaDB-0+deb12u1'));
  t.equal(conn.stats().parseErrors, 0);
  checkEveryCut(t, c, 'mariadb');
});

t.test('multi-statement and CALL results (SERVER_MORE_RESULTS_EXISTS)', async (t) => {
  const c = B.login(new Conversation());
  const more = C.SERVER_MORE_RESULTS_EXISTS | 0x0002;
  const first = B.resultSet({ columns: ['x'], rows: [['1'], ['2']], deprecateEof: true, status: more });
  const second = B.resultSet({ columns: ['y'], rows: [['3']], deprecateEof: true, status: more, firstSeq: first.nextSeq });
  c.client(B.query('CALL report(); ')).server(first.bytes, second.bytes, packet(second.nextSeq, B.ok({ affectedRows: 0 })));
  c.client(B.query('UPDATE a SET x = 1; SELECT 2')).server(packet(1, B.ok({ affectedRows: 3, status: more })), B.resultSet({ columns: ['2'], rows: [['2']], deprecateEof: true, firstSeq: 2 }).bytes);
  const ex = play(c).exchanges;
  t.same(ex.map((e) => [e.outcome, e.rows, e.resultSets, e.affectedRows ?? 0]), [['ok', 3, 2, 0], ['ok', 1, 1, 3]]);
  checkEveryCut(t, c, 'multi-results');
});

t.test('LOCAL INFILE: the file goes up, then OK', async (t) => {
  const c = B.login(new Conversation());
  c.client(B.query("LOAD DATA LOCAL INFILE '/tmp/x.csv' INTO TABLE t")).server(packet(1, new B.Payload().u8(0xfb).str('/tmp/x.csv').build()));
  c.client(packet(2, Buffer.from('1,a\n2,b\n')), packet(3, Buffer.alloc(0))).server(packet(4, B.ok({ affectedRows: 2 })));
  c.client(B.ping()).server(packet(1, B.ok()));
  const { exchanges, conn } = play(c);
  t.same(exchanges.map((e) => [e.command, e.outcome, e.affectedRows ?? 0]), [['COM_QUERY', 'ok', 2], ['COM_PING', 'ok', 0]]);
  t.equal(conn.stats().continuationPackets, 2, 'the file packets are no commands');
});

t.test('cursor: COM_STMT_EXECUTE opens it, COM_STMT_FETCH reads rows', async (t) => {
  const c = B.login(new Conversation(), { deprecateEof: false });
  c.client(B.stmtPrepare('SELECT v FROM big')).server(B.prepareResponse(3, 0, ['v'], false));
  c.client(B.stmtExecute(3, [], 1)).server(packet(1, B.columnCount(1)), packet(2, B.columnDef('v')), packet(3, B.eof(0x0002 | C.SERVER_STATUS_CURSOR_EXISTS)));
  c.client(B.stmtFetch(3, 2)).server(packet(1, B.binaryRow(['a'])), packet(2, B.binaryRow(['b'])), packet(3, B.eof(0x0002 | C.SERVER_STATUS_CURSOR_EXISTS)));
  c.client(B.stmtFetch(3, 2)).server(packet(1, B.binaryRow(['c'])), packet(2, B.eof(0x0002 | 0x80)));
  const ex = play(c).exchanges;
  t.same(ex.map((e) => [e.command, e.outcome, e.rows ?? null, e.query]), [
    ['COM_STMT_PREPARE', 'ok', null, 'SELECT v FROM big'], ['COM_STMT_EXECUTE', 'ok', 0, 'SELECT v FROM big'],
    ['COM_STMT_FETCH', 'ok', null, 'SELECT v FROM big'], ['COM_STMT_FETCH', 'ok', null, 'SELECT v FROM big'],
  ]);
});

t.test('COM_STATISTICS, COM_FIELD_LIST, COM_SET_OPTION', async (t) => {
  const c = B.login(new Conversation(), { deprecateEof: false });
  c.client(B.statistics()).server(packet(1, Buffer.from('Uptime: 10  Threads: 1  Questions: 3')));
  c.client(B.command(C.COM_FIELD_LIST, new B.Payload().cstr('items'))).server(packet(1, B.columnDef('id')), packet(2, B.columnDef('name')), packet(3, B.eof()));
  c.client(B.command(C.COM_SET_OPTION, new B.Payload().u16(0))).server(packet(1, B.eof()));
  const ex = play(c).exchanges;
  t.same(ex.map((e) => [e.command, e.outcome]), [['COM_STATISTICS', 'ok'], ['COM_FIELD_LIST', 'ok'], ['COM_SET_OPTION', 'ok']]);
});

t.test('authentication: AuthSwitchRequest, AuthMoreData; the password is never kept', async (t) => {
  const c = new Conversation();
  c.server(packet(0, B.greeting({ plugin: 'caching_sha2_password' })));
  c.client(packet(1, B.handshakeResponse({ user: 'shop', auth: 'my-Secr3t-pw', database: 'orders', plugin: 'caching_sha2_password' })));
  c.server(packet(2, B.authSwitch('mysql_clear_password')));
  c.client(packet(3, Buffer.from('my-Secr3t-pw\0')));
  c.server(packet(4, B.authMoreData([3])), packet(5, B.ok()));
  c.client(B.query('SELECT 1')).server(B.resultSet({ columns: ['1'], rows: [['1']], deprecateEof: true }).bytes);
  const { exchanges, conn } = play(c);
  t.same(exchanges.map((e) => [e.command, e.outcome, e.user, e.database]), [['COM_QUERY', 'ok', 'shop', 'orders']]);
  t.notMatch(JSON.stringify(exchanges, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)), /Secr3t/);
  t.equal(conn.stats().continuationPackets, 1);
  checkEveryCut(t, c, 'auth switch');
});

t.test('a refused login: nothing more is parsed', async (t) => {
  const c = new Conversation();
  c.server(packet(0, B.greeting())).client(packet(1, B.handshakeResponse({ auth: 'wrong' })));
  c.server(packet(2, B.err(1045, '28000', "Access denied for user 'app'@'localhost' (using password: YES)")));
  c.client(B.query('SELECT 1'));
  const { exchanges, conn } = play(c);
  t.equal(exchanges.length, 0);
  t.equal(conn.stats().authFailures, 1);
});

t.test('a server that refuses before the handshake ("Too many connections")', async (t) => {
  const c = new Conversation().server(packet(0, B.err(1040, null, 'Too many connections')));
  const { exchanges, conn } = play(c);
  t.equal(exchanges.length, 0);
  t.equal(conn.stats().parseErrors, 0);
});

t.test('TLS (SSLRequest) and compression stop the parsing', async (t) => {
  const tls = new Conversation().server(packet(0, B.greeting())).client(packet(1, B.sslRequest())).client(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])).server(Buffer.from([0x16, 0x03, 0x03, 0, 0x5a]));
  const a = play(tls);
  t.equal(a.exchanges.length, 0);
  t.equal(a.conn.stats().tls, 1);
  t.equal(a.conn.stats().parseErrors, 0);

  const comp = new Conversation().server(packet(0, B.greeting({ caps: B.MYSQL_SERVER_CAPS | C.CLIENT_COMPRESS })))
    .client(packet(1, B.handshakeResponse({ caps: B.CLIENT_CAPS | C.CLIENT_COMPRESS }))).server(packet(2, B.ok()))
    .client(Buffer.from([9, 0, 0, 0, 0, 0, 5, 0, 0, 0, 3, 0x53]));
  const b = play(comp);
  t.equal(b.exchanges.length, 0);
  t.equal(b.conn.stats().compressed, 1);
});

t.test('COM_CHANGE_USER: new user and database, statements forgotten', async (t) => {
  const c = B.login(new Conversation(), { database: 'one' });
  c.client(B.stmtPrepare('SELECT 1')).server(B.prepareResponse(5, 0, ['1'], true));
  c.client(B.changeUser('other', 'pw-Secr3t', 'two')).server(packet(1, B.authSwitch()));
  c.client(packet(2, Buffer.from('scramble-of-pw'))).server(packet(3, B.ok()));
  c.client(B.stmtExecute(5, [])).server(packet(1, B.err(1243, 'HY000', 'Unknown prepared statement handler')));
  c.client(B.ping()).server(packet(1, B.ok()));
  const ex = play(c).exchanges;
  t.same(ex.map((e) => [e.command, e.outcome, e.user, e.database, e.query ?? null]), [
    ['COM_STMT_PREPARE', 'ok', 'app', 'one', 'SELECT 1'], ['COM_CHANGE_USER', 'ok', 'app', 'one', null],
    ['COM_STMT_EXECUTE', 'error', 'other', 'two', null], ['COM_PING', 'ok', 'other', 'two', null],
  ]);
  t.notMatch(JSON.stringify(ex, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)), /Secr3t/);
});

t.test('session tracking reports the schema a query switched to', async (t) => {
  const c = B.login(new Conversation(), { sessionTrack: true, database: 'a' });
  c.client(B.query('USE /* why */ b')).server(packet(1, B.ok({ schema: 'b' })));
  c.client(B.query('SELECT 1')).server(B.resultSet({ columns: ['1'], rows: [['1']], deprecateEof: true }).bytes);
  t.same(play(c).exchanges.map((e) => e.database), ['a', 'b']);
});

t.test('pipelined commands are answered in order', async (t) => {
  const c = B.login(new Conversation());
  c.client(B.query('SELECT 1'), B.query('SELECT 2'), B.stmtClose(9), B.ping());
  c.server(B.resultSet({ columns: ['1'], rows: [['1']], deprecateEof: true }).bytes, B.resultSet({ columns: ['2'], rows: [['2'], ['2']], deprecateEof: true }).bytes, packet(1, B.ok()));
  const ex = play(c).exchanges;
  t.same(ex.map((e) => [e.ordinal, e.command, e.rows ?? null]), [[2, 'COM_STMT_CLOSE', null], [0, 'COM_QUERY', 1], [1, 'COM_QUERY', 2], [3, 'COM_PING', null]]);
});

t.test('a response delivered before its command waits for it', async (t) => {
  const c = B.login(new Conversation());
  const events = [...c.events];
  const cmd: B.WireEvent = { side: 'request', bytes: B.query('SELECT 7'), timeNs: 10_000_000n };
  const resp: B.WireEvent = { side: 'response', bytes: B.resultSet({ columns: ['7'], rows: [['7']], deprecateEof: true }).bytes, timeNs: 10_001_000n };
  const ex = play([...events, resp, cmd]).exchanges;
  t.same(ex.map((e) => [e.query, e.rows, e.endNs]), [['SELECT 7', 1, 10_001_000n]]);
});

t.test('closing early: unanswered commands are missing, a response cut short is incomplete', async (t) => {
  const c = B.login(new Conversation());
  c.client(B.query('SELECT SLEEP(10)'));
  const a = play(c);
  t.same(a.exchanges.map((e) => [e.outcome, e.query]), [['missing', 'SELECT SLEEP(10)']]);
  t.equal(a.conn.stats().unanswered, 1);

  const d = B.login(new Conversation());
  d.client(B.query('SELECT x FROM big')).server(packet(1, B.columnCount(1)), packet(2, B.columnDef('x')), packet(3, B.textRow(['1'])));
  const b = play(d);
  t.same(b.exchanges.map((e) => [e.outcome, e.rows]), [['incomplete', 1]]);
});

t.test('gaps inside a packet keep the count exact', async (t) => {
  // A 40 KiB row written in one syscall: the kernel captures 16 KiB, then a skip marker.
  const big = B.textRow(['x'.repeat(40_000)]);
  const rs = Buffer.concat([packet(1, B.columnCount(1)), packet(2, B.columnDef('blob')), packet(3, big), packet(4, B.textRow(['small'])), packet(5, B.ok({ header: 0xfe }))]);
  const head = rs.subarray(0, 16 * 1024);
  const c = B.login(new Conversation());
  c.client(B.query('SELECT blob FROM files'));
  c.server(head).lose('response', rs.length - 16 * 1024 - 40).server(rs.subarray(rs.length - 40));
  const { exchanges, conn } = play(c);
  t.same(exchanges.map((e) => [e.outcome, e.rows]), [['ok', 2]]);
  t.equal(conn.stats().syncLosses, 0);

  // A query longer than the kept head: its text is a prefix, marked truncated.
  const long = `SELECT '${'y'.repeat(20_000)}'`;
  const q = B.query(long);
  const e = B.login(new Conversation()).client(q.subarray(0, 16 * 1024)).lose('request', q.length - 16 * 1024).server(B.resultSet({ columns: ['y'], rows: [['y']], deprecateEof: true }).bytes);
  const r = play(e, { maxQueryBytes: 1024 }).exchanges;
  t.same(r.map((x) => [x.outcome, x.query?.length, x.queryTruncated]), [['ok', 1023, true]]);
});

t.test('a gap that loses the response framing: incomplete, then back in step at the next command', async (t) => {
  const rows = Array.from({ length: 50 }, (_, i) => [`row-${i}`]);
  const rs = B.resultSet({ columns: ['v'], rows, deprecateEof: true }).bytes;
  const c = B.login(new Conversation());
  c.client(B.query('SELECT v FROM t'));
  c.server(rs.subarray(0, 100)).lose('response', 200).server(rs.subarray(300));
  c.client(B.query('SELECT 2')).server(B.resultSet({ columns: ['2'], rows: [['2']], deprecateEof: true }).bytes);
  c.client(B.ping()).server(packet(1, B.ok()));
  const { exchanges, conn } = play(c);
  t.same(exchanges.map((e) => [e.query ?? e.command, e.outcome, e.outcome === 'ok' ? e.rows : null]), [
    ['SELECT v FROM t', 'incomplete', null], ['SELECT 2', 'ok', 1], ['COM_PING', 'ok', null],
  ]);
  const s = conn.stats();
  t.equal(s.syncLosses, 1);
  t.equal(s.resyncs, 1);
  t.equal(s.internalErrors, 0);
});

t.test('a gap that loses the request framing: the next command is found again', async (t) => {
  const c = B.login(new Conversation());
  const q = B.query('SELECT 1');
  c.client(q.subarray(0, 3)).lose('request', 20);
  c.server(B.resultSet({ columns: ['1'], rows: [['1']], deprecateEof: true }).bytes);
  c.client(B.query('SELECT 3')).server(B.resultSet({ columns: ['3'], rows: [['3']], deprecateEof: true }).bytes);
  const { exchanges, conn } = play(c);
  t.same(exchanges.map((e) => [e.query, e.outcome]), [['SELECT 3', 'ok']]);
  t.ok(conn.stats().orphanPackets >= 1, 'the lost command\'s response is an orphan');
});

t.test('a misframed response (a length read from the wrong place) is noticed at the next command', async (t) => {
  const c = B.login(new Conversation());
  c.client(B.query('SELECT 1'));
  // A bogus header announcing 1 MiB: the framer would wait for it forever.
  c.server(Buffer.from([0x00, 0x00, 0x10, 0x01, 0x01]));
  c.client(B.query('SELECT 2')).server(B.resultSet({ columns: ['2'], rows: [['2']], deprecateEof: true }).bytes);
  const { exchanges, conn } = play(c);
  t.same(exchanges.map((e) => [e.query, e.outcome]), [['SELECT 1', 'incomplete'], ['SELECT 2', 'ok']]);
  t.equal(conn.stats().stalls, 1);
});

t.test('a response that makes no sense is counted and the next one is read', async (t) => {
  const c = B.login(new Conversation());
  c.client(B.ping()).server(packet(1, Buffer.from([0x42, 1, 2])));
  c.client(B.ping()).server(packet(1, B.ok()));
  const { exchanges, conn } = play(c);
  t.same(exchanges.map((e) => e.outcome), ['incomplete', 'ok']);
  t.equal(conn.stats().parseErrors, 1);
});

t.test('joined after the greeting: commands are still read (assumed capabilities)', async (t) => {
  const c = new Conversation();
  c.client(B.query('SELECT 1')).server(B.resultSet({ columns: ['1'], rows: [['1']], deprecateEof: true }).bytes);
  c.client(B.query('SELECT 2')).server(B.resultSet({ columns: ['2'], rows: [['2']], deprecateEof: true }).bytes);
  const ex = play(c).exchanges;
  t.same(ex.map((e) => [e.query, e.outcome, e.rows]), [['SELECT 1', 'ok', 1], ['SELECT 2', 'ok', 1]]);
});

t.test('bounds: prepared statements, outstanding commands, queued packets', async (t) => {
  const c = B.login(new Conversation());
  for (let id = 1; id <= 4; id++) c.client(B.stmtPrepare(`SELECT ${id}`)).server(B.prepareResponse(id, 0, ['x'], true));
  c.client(B.stmtExecute(1, [])).server(packet(1, B.ok()));
  c.client(B.stmtExecute(4, [])).server(packet(1, B.ok()));
  const { exchanges, conn } = play(c, { maxStatements: 2 });
  t.equal(exchanges[4]?.query, undefined, 'the least recently used statement was forgotten');
  t.equal(exchanges[5]?.query, 'SELECT 4');
  t.equal(conn.stats().statementsEvicted, 2);

  const d = B.login(new Conversation());
  d.client(...Array.from({ length: 10 }, (_, i) => B.query(`SELECT ${i}`)));
  const r = play(d, { maxOutstanding: 3, close: false });
  t.equal(r.conn.held.outstanding, 3);
  t.equal(r.conn.stats().evicted, 7);
  t.same(r.exchanges.map((e) => e.outcome), Array(7).fill('missing'));

  // Responses with no command to answer wait in a bounded queue.
  const e = B.login(new Conversation());
  for (let i = 0; i < 50; i++) e.server(packet(1, B.ok()));
  const q = play(e, { maxQueued: 8, close: false });
  t.equal(q.conn.held.queued, 8);
  t.equal(q.conn.stats().queueOverflow, 42);
});
