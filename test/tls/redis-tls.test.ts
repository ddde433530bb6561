// Redis over TLS: redis-server on a TLS-only port and redis-cli --tls, both on OpenSSL; commands
// parsed from the plaintext as over cleartext, the AUTH password nowhere in the spans.
import t from 'tap';
import type { SpanRecord } from '../../src/model/span.js';
import { type TestAgent, attr, startTestAgent } from '../helpers/agent.js';
import { type RedisServer, startRedisServer } from '../helpers/redis.js';
import { makeSelfSignedCertificate } from '../helpers/tls-cert.js';

const PASSWORD = 'redis-tls-Secr3t';
const cert = makeSelfSignedCertificate();
t.teardown(() => cert.remove());
const redis: RedisServer = await startRedisServer(PASSWORD, { tls: cert });
const agent: TestAgent = await startTestAgent({ pids: [redis.pid], collectors: 'sockets,tls' });
t.teardown(async () => {
  await agent.stop();
  await redis.stop();
});

t.test('redis-cli --tls: SET, GET, INCR as redis spans on both ends', async (t) => {
  const r = await redis.cli([], { input: 'SET lantern:tls hello\nGET lantern:tls\nINCR lantern:tls:n\n' });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /hello/);
  const isRedis = (s: SpanRecord): boolean => attr(s, 'db.system.name') === 'redis';
  const ops = ['SET', 'GET', 'INCR'];
  const mine = (s: SpanRecord): boolean => isRedis(s) && ops.includes(String(attr(s, 'db.operation.name')));
  const client = await agent.waitForSpans((s) => mine(s) && s.kind === 'client', 3);
  const server = await agent.waitForSpans((s) => mine(s) && s.kind === 'server', 3);
  t.same(client.map((s) => attr(s, 'db.operation.name')).sort(), ['GET', 'INCR', 'SET'], 'client spans');
  t.same(server.map((s) => attr(s, 'db.operation.name')).sort(), ['GET', 'INCR', 'SET'], 'server spans');
  for (const s of [...client, ...server]) t.equal(attr(s, 'tls.protocol.version'), '1.3');
  for (const c of client) t.ok(server.some((s) => s.parentSpanId === c.spanId), `${String(attr(c, 'db.operation.name'))}: linked`);
  t.notMatch(JSON.stringify([...client, ...server], (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)), new RegExp(PASSWORD));
  const stats = agent.agent.summary().collectors.sockets ?? {};
  const errors = Object.entries(stats).filter(([k, v]) => /redis_.*(parseErrors|malformed|resync)/i.test(k) && v > 0);
  t.same(errors, [], 'no Redis parse errors');
});
