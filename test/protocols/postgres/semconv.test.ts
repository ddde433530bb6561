// PostgreSQL exchanges as spans and db.client.operation.duration
// (https://opentelemetry.io/docs/specs/semconv/db/postgresql/ and …/db/database-spans/).
import t from 'tap';
import type { ConnectionInfo } from '../../../src/model/connection.js';
import type { PostgresExchange } from '../../../src/model/postgres.js';
import type { ResourceRecord } from '../../../src/model/span.js';
import { PostgresSession } from '../../../src/protocols/postgres/session.js';
import { hexIdSource } from '../../../src/semconv/ids.js';
import { DB_CLIENT_OPERATION_DURATION, postgresExchangeToMetrics, postgresExchangeToSpan, postgresLinkId } from '../../../src/semconv/postgres.js';
import { conventionsFor } from '../../../src/semconv/registry.js';
import { type Step, pgxCached, psqlSession } from './conversations.js';

const resource: ResourceRecord = { key: 'pid:10', attributes: { 'service.name': 'psql' } };
let n = 0;
const ids = hexIdSource(() => `${(++n).toString(16).padStart(32, '0')}`, () => `${(++n).toString(16).padStart(16, '0')}`);

const conn = (role: 'client' | 'server'): ConnectionInfo => ({
  pid: 10, fd: 7, generation: 1, role, family: 'ipv4', transport: 'tcp',
  local: { address: '127.0.0.1', port: role === 'client' ? 51000 : 5433 }, remote: { address: '127.0.0.1', port: role === 'client' ? 5433 : 51000 },
});

function exchanges(steps: Step[], role: 'client' | 'server' = 'client'): PostgresExchange[] {
  const s = new PostgresSession(conn(role));
  steps.forEach((x, i) => s.data(x.side, x.bytes, BigInt((i + 1) * 1_000_000)));
  s.close(BigInt((steps.length + 1) * 1_000_000));
  return s.drain();
}

t.test('client spans of a psql session', async (t) => {
  const spans = exchanges(psqlSession()).map((e) => postgresExchangeToSpan(e, resource, ids));
  const [select, missing, batch, copyOut] = spans;
  t.equal(select?.name, 'SELECT items');
  t.equal(select?.kind, 'client');
  t.same(select?.attributes, {
    'db.system.name': 'postgresql', 'db.namespace': 'appdb', 'db.operation.name': 'SELECT', 'db.collection.name': 'items',
    'db.query.summary': 'SELECT items', 'db.query.text': 'SELECT id, name FROM items WHERE id < ?', 'server.address': '127.0.0.1',
    'server.port': 5433, 'network.peer.address': '127.0.0.1', 'network.peer.port': 5433, 'network.transport': 'tcp',
  });
  t.same(select?.status, { code: 'unset' });
  t.equal(select?.endTimeUnixNano, 10_000_000n);
  t.equal(missing?.attributes['error.type'], '42P01');
  t.equal(missing?.attributes['db.response.status_code'], '42P01');
  t.same(missing?.status, { code: 'error', message: 'relation "missing" does not exist' });
  t.equal(batch?.name, 'BATCH');
  t.equal(batch?.attributes['db.operation.name'], 'BATCH');
  t.equal(batch?.attributes['db.operation.batch.size'], 3);
  t.equal(batch?.attributes['db.query.text'], 'BEGIN; INSERT INTO items VALUES (?, ?); COMMIT');
  t.equal(copyOut?.name, 'COPY items');
});

t.test('server spans carry the same attributes, the server port is its own', async (t) => {
  const [client] = exchanges(psqlSession(), 'client');
  const [server] = exchanges(psqlSession(), 'server');
  const s = postgresExchangeToSpan(server!, resource, ids);
  t.equal(s.kind, 'server');
  t.equal(s.attributes['server.port'], 5433);
  t.equal(s.attributes['network.peer.port'], 51000);
  t.equal(s.name, 'SELECT items');
  t.equal(postgresLinkId(client!), postgresLinkId(server!), 'both ends name the operation alike');
  const all = exchanges(psqlSession());
  const conv = conventionsFor(client!);
  t.equal(conv.linkOrdinal?.(client!), conv.linkOrdinal?.(server!), 'at the same place');
  t.equal(new Set(all.map((e) => `${conv.linkOrdinal?.(e)} ${postgresLinkId(e)}`)).size, all.length, 'and every operation differently');
  t.equal(conv.linkId(client!), postgresLinkId(client!), 'registered');
});

t.test('prepare and execute spans of a pgx client', async (t) => {
  const spans = exchanges(pgxCached(2)).map((e) => postgresExchangeToSpan(e, resource, ids));
  t.same(spans.map((s) => s.name), ['PREPARE SELECT lantern_items', 'SELECT lantern_items', 'SELECT lantern_items']);
  t.equal(spans[0]?.attributes['db.operation.name'], 'PREPARE');
  t.equal(spans[0]?.attributes['db.collection.name'], 'lantern_items');
  t.ok(spans.every((s) => s.attributes['db.query.text'] === 'SELECT name FROM lantern_items WHERE id = $1'), 'parameterized text unchanged');
});

t.test('db.client.operation.duration: answered client operations only', async (t) => {
  const client = exchanges(psqlSession());
  const points = client.flatMap((e) => postgresExchangeToMetrics(e, resource));
  t.equal(points.length, 5);
  const p = points[0]!;
  t.equal(p.name, DB_CLIENT_OPERATION_DURATION);
  t.equal(p.unit, 's');
  t.equal(p.value, 0.001, 'Query at 9 ms, ReadyForQuery at 10 ms');
  t.same(p.attributes, {
    'db.system.name': 'postgresql', 'db.namespace': 'appdb', 'db.operation.name': 'SELECT', 'db.collection.name': 'items',
    'db.query.summary': 'SELECT items', 'server.address': '127.0.0.1', 'server.port': 5433,
  });
  t.notOk('db.query.text' in p.attributes, 'never the query text');
  t.equal(points[1]?.attributes['error.type'], '42P01');
  t.same(exchanges(psqlSession(), 'server').flatMap((e) => postgresExchangeToMetrics(e, resource)), [], 'none for the server side');
  const unanswered: PostgresExchange = { ...client[0]!, outcome: 'unanswered' };
  t.same(postgresExchangeToMetrics(unanswered, resource), []);
});

t.test('outcomes, warnings, unknown text, sqlcommenter', async (t) => {
  const [base] = exchanges(psqlSession());
  const unanswered = postgresExchangeToSpan({ ...base!, outcome: 'unanswered' }, resource, ids);
  t.equal(unanswered.attributes['error.type'], 'response_missing');
  t.equal(unanswered.status.code, 'error');
  const warned = postgresExchangeToSpan({ ...base!, warning: { sqlstate: '25P01', severity: 'WARNING', message: 'no transaction' } }, resource, ids);
  t.equal(warned.attributes['db.response.status_code'], '25P01');
  t.notOk('error.type' in warned.attributes, 'a warning is not an error');
  t.equal(warned.status.code, 'unset');
  const unknown = postgresExchangeToSpan({ ...base!, query: null, mode: 'extended' }, resource, ids);
  t.equal(unknown.name, 'SELECT appdb', 'operation from the command tag, the namespace as target');
  t.notOk('db.query.text' in unknown.attributes);
  const nothing = postgresExchangeToSpan({ ...base!, query: null, commandTags: [], database: null }, resource, ids);
  t.equal(nothing.name, '127.0.0.1:5433', 'the server as target');
  const traced = postgresExchangeToSpan({ ...base!, query: "SELECT 1 /*traceparent='00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'*/" }, resource, ids);
  t.equal(traced.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
  t.equal(traced.parentSpanId, '00f067aa0ba902b7');
  t.equal(traced.attributes['db.query.text'], 'SELECT ?');
  const bad = postgresExchangeToSpan({ ...base!, query: "SELECT 1 /*traceparent='00-zz'*/" }, resource, ids);
  t.equal(bad.parentSpanId, undefined, 'an invalid traceparent is ignored');
});

t.test('the password appears in no attribute, even in a statement that sets it', async (t) => {
  const [base] = exchanges(psqlSession());
  const s = postgresExchangeToSpan({ ...base!, query: "ALTER ROLE app PASSWORD 'pg-Secr3t-pw'" }, resource, ids);
  t.notMatch(JSON.stringify(s, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)), 'pg-Secr3t-pw');
  t.equal(s.attributes['db.query.text'], 'ALTER ROLE app PASSWORD ?');
});
