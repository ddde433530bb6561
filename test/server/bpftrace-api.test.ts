// The control API's bpftrace routes over real bpftrace: token required, add (running, or refused
// with bpftrace's own error), list, read state and recent output, stop.
import t from 'tap';
import { LocalView } from '../../src/server/local-view.js';
import { startControlServer } from '../../src/server/server.js';
import { testScripts } from '../collectors/bpftrace/helpers.js';

const TOKEN = 'k'.repeat(24);
const auth = { authorization: `Bearer ${TOKEN}` };
const json = { ...auth, 'content-type': 'application/json' };

t.test('bpftrace scripts over the control API', async (t) => {
  const s = testScripts();
  const server = await startControlServer({ host: '127.0.0.1', port: 0, token: TOKEN }, new LocalView(), () => ({}), { bpftrace: () => s.scripts });
  t.teardown(async () => {
    await s.scripts.close();
    await server.close();
  });
  const url = `${server.url}/api/bpftrace/scripts`;
  const body = (b: unknown): string => JSON.stringify(b);
  const script = { name: 'api-getppid', source: 'tracepoint:syscalls:sys_enter_getppid /pid == $1/ { printf("pid=%d n=%d\\n", pid, 5); @n = count(); }', params: { 1: process.pid }, ttlSeconds: 60 };

  const refused = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body(script) });
  t.equal(refused.status, 401, 'no token: refused');
  t.equal((await fetch(url)).status, 401);
  t.equal(s.scripts.list().length, 0, 'and nothing started');

  const added = await fetch(url, { method: 'POST', headers: json, body: body(script) });
  const addedBody = (await added.json()) as { script: { state: string; expiresAt?: string } };
  t.equal(added.status, 201, JSON.stringify(addedBody));
  t.equal(addedBody.script.state, 'running');
  t.ok(addedBody.script.expiresAt);
  t.equal((await fetch(url, { method: 'POST', headers: json, body: body(script) })).status, 409, 'same name twice');

  const broken = await fetch(url, { method: 'POST', headers: json, body: body({ name: 'api-broken', source: 'BEGIN { printf( }' }) });
  const brokenBody = (await broken.json()) as { error: string; script: { state: string } };
  t.equal(broken.status, 422);
  t.match(brokenBody.error, /api-broken:1:\d+.*ERROR: syntax error/);
  t.equal(brokenBody.script.state, 'failed');
  t.equal((await fetch(url, { method: 'POST', headers: json, body: body({ name: 'x' }) })).status, 400, 'no source');

  for (let i = 0; i < 3; i++) void process.ppid;
  await s.until(() => s.records.length >= 3);
  const list = (await (await fetch(url, { headers: auth })).json()) as { scripts: Array<{ name: string; state: string }> };
  t.same(list.scripts.map((x) => [x.name, x.state]).sort(), [['api-broken', 'failed'], ['api-getppid', 'running']]);
  const one = (await (await fetch(`${url}/api-getppid`, { headers: auth })).json()) as { script: { stats: { lines: number } }; output: Array<{ text: string }>; source: string };
  t.ok(one.script.stats.lines >= 3);
  t.ok(one.output.some((l) => l.text === `pid=${process.pid} n=5`), 'recent output');
  t.equal(one.source, script.source);

  const stopped = await fetch(`${url}/api-getppid`, { method: 'DELETE', headers: auth });
  t.equal(stopped.status, 200);
  t.equal(((await stopped.json()) as { script: { state: string } }).script.state, 'stopped');
  t.equal((await fetch(`${url}/nope`, { method: 'DELETE', headers: auth })).status, 404);
  t.equal((await fetch(`${url}/nope`, { headers: auth })).status, 404);
});

t.test('without the bpftrace collector the routes say so', async (t) => {
  const server = await startControlServer({ host: '127.0.0.1', port: 0, token: TOKEN }, new LocalView(), () => ({}), { bpftrace: () => null });
  t.teardown(() => server.close());
  const r = await fetch(`${server.url}/api/bpftrace/scripts`, { headers: auth });
  t.equal(r.status, 503);
  t.match(((await r.json()) as { error: string }).error, /bpftrace collector is not running/);
});
