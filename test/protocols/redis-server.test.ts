// Redis through the real kernel path: a real redis-server (with a password) and its own clients:
// redis-cli (RESP2, RESP3 with -3, commands from stdin), redis-benchmark pipelining, a pub/sub
// pair. Client spans come from the clients' sockets, server spans from redis-server's, linked.
// The password must appear nowhere in what the agent exports.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { SpanRecord } from '../../src/model/span.js';
import { attr, startTestAgent, type TestAgent } from '../helpers/agent.js';
import { type RedisServer, startRedisServer } from '../helpers/redis.js';
import { run } from '../helpers/spawn.js';

const PASSWORD = 'rd-Secr3t-pw';
const isRedis = (s: SpanRecord): boolean => attr(s, 'db.system.name') === 'redis';
const pidOf = (s: SpanRecord): number => Number(s.resource.attributes['process.pid']);
const json = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));

let server: RedisServer;
let agent: TestAgent;
const otlpFile = join(mkdtempSync(join(tmpdir(), 'lantern-redis-')), 'otlp.jsonl');

t.before(async () => {
  server = await startRedisServer(PASSWORD);
  agent = await startTestAgent({ pids: [server.pid], otlpFile });
});

t.teardown(async () => {
  await agent?.stop();
  await server?.stop();
});


t.test('redis-cli: AUTH, SET/GET/INCR/LPUSH, SELECT 2, WRONGTYPE', async (t) => {
  const input = ['SET lantern:k v1', 'GET lantern:k', 'INCR lantern:n', 'LPUSH lantern:l a b', 'INCR lantern:l', 'SELECT 2', 'SET lantern:k2 v2', 'GET lantern:k2', ''].join('\n');
  const r = await server.cli([], { input });
  t.match(r.stdout, /WRONGTYPE/, r.stderr);
  // redis-cli reading commands from stdin: AUTH, COMMAND DOCS (for its hints), then the commands.
  const names = ['AUTH', 'SET', 'GET', 'INCR', 'LPUSH', 'INCR', 'SELECT', 'SET', 'GET'];
  const cli = await agent.waitForSpans((s) => isRedis(s) && s.kind === 'client' && attr(s, 'network.peer.port') === server.port && names.includes(s.name), names.length);
  const srv = await agent.waitForSpans((s) => isRedis(s) && s.kind === 'server' && pidOf(s) === server.pid && names.includes(s.name) && cli.some((c) => c.spanId === s.parentSpanId), names.length);
  const order = (xs: SpanRecord[]): SpanRecord[] => [...xs].sort((a, b) => Number(a.startTimeUnixNano - b.startTimeUnixNano));
  t.same(order(cli).map((s) => s.name), names, 'client spans, in order');
  t.same(order(srv).map((s) => s.name), names, 'server spans, each the child of its client span');
  const [auth, set1, get1, incr, lpush, wrong, select, set2, get2] = order(cli);
  t.equal(attr(auth, 'db.query.text'), 'AUTH ?');
  t.equal(attr(set1, 'db.query.text'), 'SET ? ?');
  t.equal(attr(set1, 'db.namespace'), '0');
  t.equal(get1?.status.code, 'unset');
  t.equal(attr(incr, 'db.operation.name'), 'INCR');
  t.equal(attr(lpush, 'db.query.text'), 'LPUSH ? ? ?');
  t.equal(attr(wrong, 'db.response.status_code'), 'WRONGTYPE');
  t.equal(attr(wrong, 'error.type'), 'WRONGTYPE');
  t.equal(wrong?.status.code, 'error');
  t.equal(attr(select, 'db.namespace'), '2');
  t.equal(attr(set2, 'db.namespace'), '2');
  t.equal(attr(get2, 'db.namespace'), '2');
  t.equal(attr(get2, 'server.port'), server.port);
  t.equal(attr(get2, 'server.address'), '127.0.0.1');
  t.ok(Number(attr(get2, 'network.peer.port')) === server.port);
  const docs = agent.spans.filter((s) => isRedis(s) && s.name === 'COMMAND DOCS');
  t.ok(docs.length >= 1, `COMMAND DOCS (a reply far beyond the 16 KiB capture bound) reported too (${docs.length})`);
  const srvWrong = order(srv)[5];
  t.equal(attr(srvWrong, 'error.type'), 'WRONGTYPE', 'the server side sees the error too');
  t.equal(attr(srvWrong, 'server.port'), server.port);
  const durations = agent.histograms.filter((p) => p.name === 'db.client.operation.duration' && p.attributes['db.operation.name'] === 'SELECT');
  t.ok(durations.length >= 1, 'db.client.operation.duration for client operations');
});

t.test('redis-cli -3: HELLO 3, then RESP3 replies', async (t) => {
  const r = await server.cli(['HSET', 'lantern:h', 'f', 'v'], { resp3: true });
  t.equal(r.stdout.trim(), '1', r.stderr);
  const r2 = await server.cli(['HGETALL', 'lantern:h'], { resp3: true });
  t.match(r2.stdout, /f/);
  const hello = await agent.waitForSpans((s) => isRedis(s) && s.kind === 'client' && s.name === 'HELLO', 2);
  t.equal(hello.length, 2);
  t.equal(attr(hello[0], 'db.query.text'), 'HELLO ?');
  const hgetall = await agent.waitForSpans((s) => isRedis(s) && s.kind === 'server' && s.name === 'HGETALL', 1);
  t.equal(attr(hgetall[0], 'network.protocol.version'), '3', 'after HELLO 3');
  const hset = await agent.waitForSpans((s) => isRedis(s) && s.kind === 'client' && s.name === 'HSET', 1);
  t.equal(attr(hset[0], 'network.protocol.version'), '3');
});

t.test('redis-benchmark -P 16: every pipelined command is one exchange', async (t) => {
  const clients = 4;
  // The password in a URI: the agent exports command lines with URI passwords redacted.
  const r = await run('redis-benchmark', ['-u', server.uri, '-P', '16', '-n', '2000', '-c', String(clients), '-t', 'set,get', '-q'], { timeoutMs: 30_000 });
  t.equal(r.code, 0, r.stderr);
  const fromBenchmark = (s: SpanRecord): boolean => isRedis(s) && s.kind === 'client' && s.resource.attributes['process.executable.name'] === 'redis-benchmark';
  const sets = await agent.waitForSpans((s) => fromBenchmark(s) && s.name === 'SET', 2000, 20_000);
  const gets = await agent.waitForSpans((s) => fromBenchmark(s) && s.name === 'GET', 2000, 20_000);
  t.equal(sets.length, 2000, 'SET: 2000 commands, 2000 client spans');
  t.equal(gets.length, 2000, 'GET: 2000 commands, 2000 client spans');
  t.ok(sets.every((s) => attr(s, 'lantern.redis.pipelined') === true && attr(s, 'db.query.text') === 'SET ? ?'), 'pipelined');
  await new Promise((r2) => setTimeout(r2, 500));
  const client = agent.spans.filter(fromBenchmark);
  const ids = new Set(client.map((s) => s.spanId));
  const served = agent.spans.filter((s) => isRedis(s) && s.kind === 'server' && pidOf(s) === server.pid && ids.has(s.parentSpanId ?? ''));
  const count = (xs: SpanRecord[]): Record<string, number> => {
    const byName: Record<string, number> = {};
    for (const s of xs) byName[s.name] = (byName[s.name] ?? 0) + 1;
    return byName;
  };
  // redis-benchmark sends exactly -n commands per test, 16 per write; first, on every connection
  // (one per client and test), AUTH; and on a connection of its own it reads the server's "save"
  // and "appendonly" settings with CONFIG GET (AUTH first there too).
  const expected = { SET: 2000, GET: 2000, AUTH: 2 * clients + 1, 'CONFIG GET': 2 };
  t.same(count(client), expected, 'client spans: every command redis-benchmark sent, nothing else');
  t.same(count(served), expected, 'server spans, each the child of its client span');
  t.ok(served.every((s) => s.status.code === 'unset'), 'all answered without error');
  const stats = agent.agent.summary().collectors.sockets ?? {};
  t.equal(stats.tracker_redis_parseErrors ?? 0, 0, 'no parse error');
});

t.test('pub/sub: SUBSCRIBE, PUBLISH; deliveries counted, not spans', async (t) => {
  const statsBefore = agent.agent.summary().collectors.sockets ?? {};
  const subscribers = [false, true].map((resp3) => spawn('redis-cli', ['-p', String(server.port), '--pass', PASSWORD, '--no-auth-warning', ...(resp3 ? ['-3'] : []), 'SUBSCRIBE', 'lantern:news'], { stdio: ['ignore', 'pipe', 'inherit'] }));
  const received = subscribers.map((sub) => {
    let out = '';
    sub.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    return () => out;
  });
  t.teardown(() => subscribers.forEach((s) => s.kill('SIGKILL')));
  const subscribed = await agent.waitForSpans((s) => isRedis(s) && s.kind === 'server' && s.name === 'SUBSCRIBE', 2);
  t.equal(subscribed.length, 2, 'SUBSCRIBE answered by its confirmation (RESP2 and RESP3)');
  for (let i = 0; i < 3; i++) {
    const p = await server.cli(['PUBLISH', 'lantern:news', `headline-${i}`]);
    t.equal(p.stdout.trim(), '2', 'two subscribers');
  }
  const until = Date.now() + 5000;
  while (received.some((r) => (r().match(/headline-/g) ?? []).length < 3) && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
  for (const s of subscribers) {
    s.kill('SIGTERM');
    await once(s, 'exit');
  }
  const publishes = await agent.waitForSpans((s) => isRedis(s) && s.kind === 'client' && s.name === 'PUBLISH', 3);
  t.equal(publishes.length, 3);
  t.equal(attr(publishes[0], 'db.query.text'), 'PUBLISH ? ?');
  await new Promise((r) => setTimeout(r, 400));
  const stats = agent.agent.summary().collectors.sockets ?? {};
  const delivered = (stats.tracker_redis_pushMessages ?? 0) - (statsBefore.tracker_redis_pushMessages ?? 0);
  // 3 messages × 2 subscribers, seen on redis-server's sockets and on the subscribers'.
  t.equal(delivered, 12, 'deliveries counted on both ends');
  t.equal(agent.spans.filter((s) => isRedis(s) && /message/i.test(s.name)).length, 0, 'no span for a delivery');
});

t.test('MULTI/EXEC through redis-cli: each command its own exchange', async (t) => {
  const r = await server.cli([], { input: 'MULTI\nINCR lantern:tx\nINCR lantern:tx\nEXEC\n' });
  t.match(r.stdout, /QUEUED/, r.stderr);
  const names = ['MULTI', 'INCR', 'INCR', 'EXEC'];
  const srv = await agent.waitForSpans((s) => isRedis(s) && s.kind === 'server' && attr(s, 'lantern.redis.transaction') === true, 4);
  t.same([...srv].sort((a, b) => Number(a.startTimeUnixNano - b.startTimeUnixNano)).map((s) => s.name), names);
});

t.test('the password appears nowhere in what the agent exported', async (t) => {
  const spans = agent.spans.filter(isRedis);
  t.ok(spans.length > 4000, `${spans.length} Redis spans`);
  t.notMatch(json(agent.spans), PASSWORD, 'not in spans');
  t.notMatch(json(agent.histograms), PASSWORD, 'not in metrics');
  t.notMatch(json(agent.agent.summary()), PASSWORD, 'not in the agent\'s counters');
  await agent.stop();
  const file = readFileSync(otlpFile, 'utf8');
  t.ok(file.includes('"db.system.name"'), 'the OTLP file holds the spans');
  t.notOk(file.includes(PASSWORD), 'not in the OTLP file');
});

t.test('a connection opened before the agent started: roles inferred from the commands', async (t) => {
  // A raw client: AUTH before the agent runs, then (on a line from the test) GET on the same connection.
  const script = `
import os, socket, sys
s = socket.create_connection(('127.0.0.1', ${server.port}))
def cmd(*args):
    s.sendall(b'*%d\\r\\n' % len(args) + b''.join(b'$%d\\r\\n%s\\r\\n' % (len(a), a) for a in args))
    return s.recv(65536)
cmd(b'AUTH', os.environ['REDIS_PW'].encode())
print('ready', flush=True)
sys.stdin.readline()
print(cmd(b'GET', b'lantern:k').decode().strip(), flush=True)
s.close()`;
  const client = spawn('python3', ['-c', script], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, REDIS_PW: PASSWORD } });
  await new Promise<void>((resolve) => client.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve()));
  const late = await startTestAgent({ pids: [server.pid, client.pid!] });
  t.teardown(() => late.stop());
  client.stdin!.end('go\n');
  await once(client, 'exit');
  const srv = await late.waitForSpans((s) => isRedis(s) && s.kind === 'server' && s.name === 'GET', 1);
  const cli = await late.waitForSpans((s) => isRedis(s) && s.kind === 'client' && s.name === 'GET', 1);
  t.equal(srv.length, 1, 'redis-server\'s side: a request arrived, so it serves');
  t.equal(cli.length, 1, 'the client\'s side: a request left, so it is the client');
  t.equal(srv[0]?.parentSpanId, cli[0]?.spanId, 'linked');
  t.equal(late.spans.filter((s) => isRedis(s) && s.name === 'AUTH').length, 0, 'nothing from before the start');
  t.notMatch(json(late.spans), PASSWORD);
});
