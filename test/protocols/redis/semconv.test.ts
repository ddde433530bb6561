// Redis exchanges → spans and db.client.operation.duration (OTel Redis and database conventions).
import t from 'tap';
import type { RedisExchange, RedisReply } from '../../../src/model/redis.js';
import type { ResourceRecord } from '../../../src/model/span.js';
import { hexIdSource } from '../../../src/semconv/ids.js';
import { conventionsFor } from '../../../src/semconv/registry.js';
import { DB_CLIENT_OPERATION_DURATION, redactErrorMessage, redisExchangeToMetrics, redisExchangeToSpan, redisLinkId, redisQueryText } from '../../../src/semconv/redis.js';
import { connection, json } from './wire.js';

const resource: ResourceRecord = { key: 'pid:1', attributes: { 'service.name': 'app' } };
const ids = hexIdSource(() => '0af7651916cd43dd8448eb211c80319c', () => 'b7ad6b7169203331');

function exchange(over: Partial<RedisExchange> & { name?: string; args?: number; reply?: RedisReply | null } = {}): RedisExchange {
  const { name = 'GET', args = 1, ...rest } = over;
  return {
    protocol: 'redis',
    connection: connection('client'),
    ordinal: 3,
    command: { name, argumentCount: args, inline: false, startNs: 1_000_000n, endNs: 1_000_100n },
    reply: { type: 'bulk-string', length: 5, startNs: 1_250_000n, endNs: 1_250_100n },
    database: 0,
    respVersion: 2,
    pipelined: false,
    transaction: false,
    ...rest,
  };
}

t.test('client span of a GET', async (t) => {
  const s = redisExchangeToSpan(exchange({ database: 2 }), resource, ids);
  t.equal(s.name, 'GET');
  t.equal(s.kind, 'client');
  t.equal(s.startTimeUnixNano, 1_000_000n);
  t.equal(s.endTimeUnixNano, 1_250_100n);
  t.same(s.status, { code: 'unset' });
  t.same(s.attributes, {
    'db.system.name': 'redis',
    'db.operation.name': 'GET',
    'db.query.text': 'GET ?',
    'db.namespace': '2',
    'server.address': '127.0.0.1',
    'server.port': 6379,
    'network.peer.address': '127.0.0.1',
    'network.peer.port': 6379,
    'network.transport': 'tcp',
    'network.type': 'ipv4',
    'network.protocol.name': 'resp',
    'network.protocol.version': '2',
  });
});

t.test('server span: the server is the local end', async (t) => {
  const s = redisExchangeToSpan(exchange({ connection: connection('server'), respVersion: 3, pipelined: true, transaction: true }), resource, ids);
  t.equal(s.kind, 'server');
  t.equal(s.attributes['server.port'], 6379);
  t.equal(s.attributes['network.peer.port'], 51000);
  t.equal(s.attributes['network.protocol.version'], '3');
  t.equal(s.attributes['lantern.redis.pipelined'], true);
  t.equal(s.attributes['lantern.redis.transaction'], true);
  t.same(redisExchangeToMetrics(exchange({ connection: connection('server') }), resource), [], 'no server metric');
  t.equal(redisExchangeToSpan(exchange({ connection: connection('unknown') }), resource, ids).kind, 'internal');
});

t.test('query text: every argument a placeholder, subcommands kept, long lists summarised', async (t) => {
  t.equal(redisQueryText(exchange({ name: 'SET', args: 2 })), 'SET ? ?');
  t.equal(redisQueryText(exchange({ name: 'PING', args: 0 })), 'PING');
  t.equal(redisQueryText(exchange({ name: 'CLIENT SETNAME', args: 2 })), 'CLIENT SETNAME ?');
  t.equal(redisQueryText(exchange({ name: 'AUTH', args: 2 })), 'AUTH ? ?');
  t.equal(redisQueryText(exchange({ name: 'MSET', args: 1000 })), `MSET${' ?'.repeat(32)} … (+968 more)`);
  t.equal(redisQueryText(exchange({ name: '_OTHER', args: 1 })), undefined);
});

t.test('an unknown command: no operation name, span named redis', async (t) => {
  const s = redisExchangeToSpan(exchange({ name: '_OTHER' }), resource, ids);
  t.equal(s.name, 'redis');
  t.notOk('db.operation.name' in s.attributes);
  t.notOk('db.query.text' in s.attributes);
});

t.test('error replies: status code, error.type, redacted message', async (t) => {
  const reply: RedisReply = { type: 'error', errorPrefix: 'WRONGTYPE', errorMessage: 'WRONGTYPE Operation against a key holding the wrong kind of value', startNs: 2n, endNs: 3n };
  const s = redisExchangeToSpan(exchange({ name: 'INCR', reply }), resource, ids);
  t.equal(s.attributes['db.response.status_code'], 'WRONGTYPE');
  t.equal(s.attributes['error.type'], 'WRONGTYPE');
  t.same(s.status, { code: 'error', message: 'WRONGTYPE Operation against a key holding the wrong kind of value' });
  const [m] = redisExchangeToMetrics(exchange({ name: 'INCR', reply }), resource);
  t.equal(m?.attributes['error.type'], 'WRONGTYPE');
  t.equal(m?.attributes['db.response.status_code'], 'WRONGTYPE');

  const quoted: RedisReply = { type: 'error', errorPrefix: 'ERR', errorMessage: "ERR unknown command 'rd-Secr3t-pw', with args beginning with: 'a' 'b", startNs: 2n, endNs: 3n };
  const q = redisExchangeToSpan(exchange({ name: '_OTHER', reply: quoted }), resource, ids);
  t.equal(q.status.message, "ERR unknown command '?', with args beginning with: '?' '?'");
  t.notMatch(json(q), /Secr3t/);
  t.equal(redactErrorMessage(`ERR ${'x'.repeat(500)}`).length, 128);

  const noCode: RedisReply = { type: 'blob-error', errorMessage: 'something odd', startNs: 2n, endNs: 3n };
  const n = redisExchangeToSpan(exchange({ reply: noCode }), resource, ids);
  t.equal(n.attributes['error.type'], '_OTHER');
  t.notOk('db.response.status_code' in n.attributes);
});

t.test('no reply', async (t) => {
  const closed = redisExchangeToSpan(exchange({ reply: null, missing: 'closed' }), resource, ids);
  t.equal(closed.attributes['error.type'], 'response_missing');
  t.equal(closed.status.code, 'error');
  t.equal(closed.endTimeUnixNano, 1_000_100n, 'ends with the command');
  t.equal(redisExchangeToMetrics(exchange({ reply: null, missing: 'closed' }), resource).length, 1);
  for (const missing of ['lost', 'evicted', 'suppressed'] as const) {
    const s = redisExchangeToSpan(exchange({ reply: null, missing }), resource, ids);
    t.equal(s.status.code, 'unset', `${missing}: not known to have failed`);
    t.equal(s.attributes['lantern.redis.reply'], missing);
    t.notOk('error.type' in s.attributes);
    t.same(redisExchangeToMetrics(exchange({ reply: null, missing }), resource), [], `${missing}: no duration to record`);
  }
});

t.test('db.client.operation.duration: bounded attributes', async (t) => {
  const [m] = redisExchangeToMetrics(exchange({ database: 1 }), resource);
  t.equal(m?.name, DB_CLIENT_OPERATION_DURATION);
  t.equal(m?.unit, 's');
  t.equal(m?.value, 0.0002501);
  t.same(m?.attributes, { 'db.system.name': 'redis', 'db.namespace': '1', 'db.operation.name': 'GET', 'server.address': '127.0.0.1', 'server.port': 6379 });
  t.equal(m?.timeUnixNano, 1_250_100n);
});

t.test('registered: the pipeline finds the conventions and the link id', async (t) => {
  const ex = exchange();
  const c = conventionsFor(ex);
  t.equal(c.toSpan(ex, resource, ids).name, 'GET');
  t.equal(c.linkId(ex), 'GET 1');
  t.equal(c.linkOrdinal?.(ex), 3, 'the ordinal apart');
  t.equal(redisLinkId(exchange({ name: 'CLIENT SETNAME', args: 2, ordinal: 0 })), 'CLIENT SETNAME 2');
});
