// The bounds-checked reader and the per-message parsers, on messages built to
// https://www.postgresql.org/docs/current/protocol-message-formats.html.
import t from 'tap';
import {
  looksLikeStartup, parseBind, parseCommandComplete, parseErrorFields, parseExecute, parseParse, parseQuery, parseReadyForQuery,
  parseStartup, parseTarget, plausibleHeader, tagCommand, tagRows,
} from '../../../src/protocols/postgres/messages.js';
import { PgReader } from '../../../src/protocols/postgres/reader.js';
import { be, fe, prng } from './builder.js';

/** The body of the one typed message `b` holds (after Byte1 type and Int32 length). */
const body = (b: Buffer): Buffer => b.subarray(5);
/** The body of an untyped startup packet (after its Int32 length). */
const startupBody = (b: Buffer): Buffer => b.subarray(4);

t.test('reader: big-endian integers, strings, and the two ways to fail', async (t) => {
  const b = Buffer.from([0x00, 0x01, 0xff, 0xfe, 0x80, 0x00, 0x00, 0x01, 0x41, 0x42, 0x00, 0x43]);
  const r = new PgReader(b);
  t.equal(r.int16(), 1);
  t.equal(r.int16(), -2);
  t.equal(r.int32(), -2147483647);
  t.equal(r.cstring(), 'AB');
  t.equal(r.failure, null);
  t.equal(r.cstring(), '', 'no terminator in a complete body');
  t.equal(r.failure, 'malformed');
  t.equal(r.int32(), 0, 'sticky: later reads return zero values');

  const cut = new PgReader(b.subarray(0, 3), 12);
  t.equal(cut.int16(), 1);
  t.equal(cut.int16(), 0);
  t.equal(cut.failure, 'truncated', 'past the captured bytes but inside the declared body');
  const past = new PgReader(b.subarray(0, 3), 3);
  past.int32();
  t.equal(past.failure, 'malformed', 'past the declared body');
  const neg = new PgReader(b);
  t.same(neg.bytes(-1), new Uint8Array(0));
  t.equal(neg.failure, 'malformed', 'a negative length');

  const prefix = new PgReader(Buffer.from('SELECT 1 FROM t'), 100);
  t.same(prefix.cstringPrefix(8), { text: 'SELECT 1', cut: true }, 'a cut string keeps its captured beginning');
  t.equal(prefix.failure, null);
  const utf8 = new PgReader(Buffer.from([0xc3, 0xa9, 0x00]));
  t.equal(utf8.cstring(), 'é');
});

t.test('startup-phase packets: StartupMessage parameters, SSL/GSS/cancel requests', async (t) => {
  const s = parseStartup(startupBody(fe().startup({ user: 'app', database: 'appdb', application_name: 'psql', options: '-c x=1' }).bytes()));
  t.ok(s.ok);
  if (s.ok && s.value.kind === 'startup') {
    t.equal(s.value.protocol, 196608);
    t.same([...s.value.parameters], [['user', 'app'], ['database', 'appdb'], ['application_name', 'psql']], 'only the parameters Lantern keeps');
  } else t.fail('not a startup message');
  t.same(parseStartup(startupBody(fe().sslRequest().bytes())), { ok: true, value: { kind: 'ssl' } });
  t.same(parseStartup(startupBody(fe().gssencRequest().bytes())), { ok: true, value: { kind: 'gssenc' } });
  t.same(parseStartup(startupBody(fe().cancelRequest(1, 2).bytes())), { ok: true, value: { kind: 'cancel' } });
  t.same(parseStartup(Buffer.from([0, 0])), { ok: false, failure: 'malformed' });
  t.ok(looksLikeStartup(fe().startup({ user: 'u' }).bytes()));
  t.ok(looksLikeStartup(fe().sslRequest().bytes()));
  t.ok(looksLikeStartup(fe().cancelRequest(7, 8).bytes()));
  t.notOk(looksLikeStartup(fe().query('SELECT 1').bytes()));
  t.notOk(looksLikeStartup(Buffer.from('GET / HTTP/1.1\r\n')));
  t.notOk(looksLikeStartup(Buffer.from([0, 0, 0, 8, 0, 4, 0, 0])), 'protocol 4.0 does not exist');
});

t.test('frontend messages', async (t) => {
  const q = fe().query('SELECT 1').bytes();
  t.same(parseQuery(body(q), q.length - 5, 8192), { ok: true, value: { text: 'SELECT 1', truncated: false } });
  const long = fe().query('SELECT 123456789').bytes();
  t.same(parseQuery(body(long).subarray(0, 6), long.length - 5, 8192), { ok: true, value: { text: 'SELECT', truncated: true } }, 'a cut capture');
  t.same(parseQuery(body(long), long.length - 5, 6), { ok: true, value: { text: 'SELECT', truncated: true } }, 'the text bound');

  const p = fe().parse('s1', 'SELECT $1::int', [23]).bytes();
  t.same(parseParse(body(p), p.length - 5, 8192), { ok: true, value: { name: 's1', query: { text: 'SELECT $1::int', truncated: false }, parameterTypes: 1 } });
  const b = fe().bind('p1', 's1', ['42', null, 'x']).bytes();
  t.same(parseBind(body(b), b.length - 5), { ok: true, value: { portal: 'p1', statement: 's1', parameters: 3 } });
  t.same(parseBind(body(b).subarray(0, 7), b.length - 5), { ok: true, value: { portal: 'p1', statement: 's1', parameters: null } }, 'count not captured');
  const d = fe().describe('S', 's1').bytes();
  t.same(parseTarget(body(d), d.length - 5), { ok: true, value: { target: 'S', name: 's1' } });
  t.same(parseTarget(Buffer.from('Xs1\0'), 4), { ok: false, failure: 'malformed' }, 'neither S nor P');
  const e = fe().execute('p1', 10).bytes();
  t.same(parseExecute(body(e), e.length - 5), { ok: true, value: { portal: 'p1', maxRows: 10 } });
});

t.test('backend messages', async (t) => {
  const err = be().error({ S: 'ERREUR', V: 'ERROR', C: '42P01', M: 'relation "missing" does not exist', D: 'secret detail', H: 'hint' }).bytes();
  t.same(parseErrorFields(body(err), err.length - 5), { ok: true, value: { severity: 'ERROR', sqlstate: '42P01', message: 'relation "missing" does not exist' } },
    'the non-localized severity; detail and hint are not kept');
  const cutErr = parseErrorFields(body(err).subarray(0, 22), err.length - 5);
  t.ok(cutErr.ok && cutErr.value.sqlstate === '42P01', 'a cut error still has what came first');
  const c = be().commandComplete('INSERT 0 5').bytes();
  t.same(parseCommandComplete(body(c), c.length - 5), { ok: true, value: 'INSERT 0 5' });
  t.same(parseReadyForQuery(Buffer.from('T'), 1), { ok: true, value: 'T' });
  t.same(parseReadyForQuery(Buffer.from('x'), 1), { ok: false, failure: 'malformed' });
  t.equal(tagRows('INSERT 0 5'), 5);
  t.equal(tagRows('SELECT 12'), 12);
  t.equal(tagRows('COPY 100000'), 100000);
  t.equal(tagRows('CREATE TABLE'), null);
  t.equal(tagRows('BEGIN'), null);
  t.equal(tagCommand('INSERT 0 5'), 'INSERT');
  t.equal(tagCommand('CREATE TABLE'), 'CREATE TABLE');
});

t.test('plausible headers: exact lengths for empty bodies, minimums for the rest, codes per side', async (t) => {
  t.ok(plausibleHeader('request', 0x53, 4), 'Sync');
  t.notOk(plausibleHeader('request', 0x53, 5), 'Sync has no body');
  t.ok(plausibleHeader('response', 0x5a, 5), 'ReadyForQuery');
  t.notOk(plausibleHeader('response', 0x5a, 6));
  t.notOk(plausibleHeader('request', 0x5a, 5), 'Z is a backend code');
  t.notOk(plausibleHeader('request', 0x51, 4), 'an empty Query lacks even its terminator');
  t.ok(plausibleHeader('response', 0x44, 6), 'DataRow');
  t.notOk(plausibleHeader('response', 0x44, 0x40000004), 'past 1 GB');
  t.notOk(plausibleHeader('response', 0x44, -1));
});

t.test('parsers never throw on random bodies', async (t) => {
  const rnd = prng(17);
  const parsers = [
    (b: Buffer) => parseStartup(b), (b: Buffer) => parseQuery(b, b.length + 3, 64), (b: Buffer) => parseParse(b, b.length, 64),
    (b: Buffer) => parseBind(b, b.length + 1), (b: Buffer) => parseTarget(b, b.length), (b: Buffer) => parseExecute(b, b.length),
    (b: Buffer) => parseErrorFields(b, b.length), (b: Buffer) => parseCommandComplete(b, b.length), (b: Buffer) => parseReadyForQuery(b, b.length),
  ];
  let results = 0;
  for (let i = 0; i < 20_000; i++) {
    const b = Buffer.alloc(Math.floor(rnd() * 40));
    for (let j = 0; j < b.length; j++) b[j] = rnd() < 0.3 ? 0 : Math.floor(rnd() * 256);
    const r = parsers[i % parsers.length]!(b);
    if (typeof r.ok === 'boolean') results++;
  }
  t.equal(results, 20_000, 'every call returned a result');
});
