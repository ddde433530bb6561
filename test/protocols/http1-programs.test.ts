// HTTP/1 between real programs other than nginx: Go net/http server and client, Node http server and
// client, a connection opened before the agent started, and garbage on HTTP-looking connections.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import type { SpanRecord } from '../../src/model/span.js';
import { attr, startTestAgent } from '../helpers/agent.js';
import { buildGoFixture } from '../helpers/go-build.js';
import { run, startPrintingPort } from '../helpers/spawn.js';

const fixture = (f: string): string => fileURLToPath(new URL(import.meta.url.includes('/dist/') ? `../../../test/fixtures/${f}` : `../fixtures/${f}`, import.meta.url));
const pidOf = (s: SpanRecord): number => Number(s.resource.attributes['process.pid']);

t.test('Go net/http server and client', async (t) => {
  const bin = buildGoFixture('go-http');
  const agent = await startTestAgent();
  t.teardown(() => agent.stop());
  const server = await startPrintingPort(bin, ['server'], { OTEL_SERVICE_NAME: 'go-greeter' });
  t.teardown(() => server.stop());
  const r = await run(bin, ['client', `http://127.0.0.1:${server.port}/hello`, '3']);
  t.same(r.stdout.trim().split('\n'), ['200', '200', '200'], r.stderr);
  const slow = await run(bin, ['client', `http://127.0.0.1:${server.port}/slow`, '1']);
  t.equal(slow.stdout.trim(), '503');
  const srv = await agent.waitForSpans((s) => s.kind === 'server' && pidOf(s) === server.child.pid, 4);
  // (The client exits at once: its name may come from the kernel's 15-character comm.)
  const cli = await agent.waitForSpans((s) => s.kind === 'client' && ['/hello', '/slow'].includes(String(attr(s, 'url.path'))), 4);
  t.equal(srv.length, 4);
  t.equal(cli.length, 4);
  t.ok(srv.every((s) => s.resource.attributes['service.name'] === 'go-greeter'), 'service.name from the process\'s OTEL_SERVICE_NAME');
  const hello = srv.filter((s) => attr(s, 'url.path') === '/hello');
  t.same(hello.map((s) => attr(s, 'url.query')).sort(), ['i=0', 'i=1', 'i=2']);
  t.ok(hello.every((s) => attr(s, 'http.response.status_code') === 200 && attr(s, 'user_agent.original') === 'Go-http-client/1.1'));
  const slowSpan = srv.find((s) => attr(s, 'url.path') === '/slow');
  t.equal(slowSpan?.status.code, 'error');
  t.ok(Number((slowSpan?.endTimeUnixNano ?? 0n) - (slowSpan?.startTimeUnixNano ?? 0n)) >= 150e6, 'covers the 150 ms handler');
  for (const s of srv) {
    const c = cli.find((x) => x.spanId === s.parentSpanId);
    t.ok(c, `server span ${attr(s, 'url.query') ?? ''} has its client span as parent`);
  }
});

t.test('Node http server and client', async (t) => {
  const agent = await startTestAgent();
  t.teardown(() => agent.stop());
  const backend = await startPrintingPort(process.execPath, [fixture('http-backend.mjs')]);
  t.teardown(() => backend.stop());
  const client = `
const http = require('node:http');
const agent = new http.Agent({ keepAlive: true });
let left = 3;
function next() {
  if (left-- === 0) { agent.destroy(); return; }
  const req = http.request({ port: ${backend.port}, host: '127.0.0.1', path: '/echo', method: 'POST', agent,
    headers: { 'content-type': 'text/plain', authorization: process.env.AUTH, cookie: process.env.COOKIE } }, (res) => {
    res.resume(); res.on('end', next);
  });
  req.end('x'.repeat(1000));
}
next();`;
  // The credentials come from the environment: in the script they would be in its command line.
  const r = await run(process.execPath, ['-e', client], { env: { AUTH: 'Bearer very-secret-token', COOKIE: 'session=abc' } });
  t.equal(r.code, 0, r.stderr);
  const srv = await agent.waitForSpans((s) => s.kind === 'server' && pidOf(s) === backend.child.pid, 3);
  t.equal(srv.length, 3);
  t.ok(srv.every((s) => s.name === 'POST' && attr(s, 'http.request.body.size') === 1000));
  const cli = await agent.waitForSpans((s) => s.kind === 'client' && attr(s, 'url.path') === '/echo', 3);
  t.equal(cli.length, 3);
  const everything = JSON.stringify(agent.spans, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  t.notMatch(everything, /very-secret-token/, 'Authorization never exported');
  t.notMatch(everything, /session=abc/, 'Cookie never exported');
});

t.test('a connection opened before the agent started is traced', async (t) => {
  const backend = await startPrintingPort(process.execPath, [fixture('http-backend.mjs')]);
  t.teardown(() => backend.stop());
  // The client connects and makes one request, then waits for a line before its second request
  // on the same keep-alive connection.
  const script = `
const http = require('node:http');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const get = (p, cb) => http.get({ port: ${backend.port}, host: '127.0.0.1', path: p, agent }, (res) => { res.resume(); res.on('end', cb); });
get('/before', () => { console.log('ready'); process.stdin.once('data', () => get('/after', () => { agent.destroy(); })); });`;
  const client = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => client.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve()));
  const agent = await startTestAgent({ pids: [client.pid!, backend.child.pid!] });
  t.teardown(() => agent.stop());
  client.stdin.end('go\n');
  await once(client, 'exit');
  const srv = await agent.waitForSpans((s) => attr(s, 'url.path') === '/after' && s.kind === 'server', 1);
  const cli = await agent.waitForSpans((s) => attr(s, 'url.path') === '/after' && s.kind === 'client', 1);
  t.equal(srv.length, 1, 'server side of the old connection');
  t.equal(cli.length, 1, 'client side of the old connection (role inferred)');
  t.equal(attr(srv[0], 'http.response.status_code'), 200);
  t.equal(agent.spans.filter((s) => attr(s, 'url.path') === '/before').length, 0, 'nothing from before the start');
});

t.test('garbage, truncated and random bytes: counted, no crash, tracing goes on', async (t) => {
  const backend = await startPrintingPort(process.execPath, [fixture('http-backend.mjs')]);
  t.teardown(() => backend.stop());
  const agent = await startTestAgent({ pids: [backend.child.pid!] });
  t.teardown(() => agent.stop());
  const script = `
import os, socket
def send(data, read=True):
    s = socket.create_connection(('127.0.0.1', ${backend.port}))
    s.sendall(data)
    if read:
        s.settimeout(2)
        try: s.recv(65536)
        except Exception: pass
    s.close()
send(b'GET /x HTTP/1.1\\r\\nno colon here\\r\\n\\x00\\x01\\x02 garbage\\r\\n\\r\\n')
send(b'POST /y HTTP/1.1\\r\\nContent-Length: 99999\\r\\n\\r\\nshort', read=False)
send(b'GET /z HTTP/1.1\\r\\nHost: a\\r\\nContent-Length: -5\\r\\n\\r\\n')
send(b'GET ' + os.urandom(20000))
send(os.urandom(5000), read=False)
print('done')`;
  const r = await run('python3', ['-c', script]);
  t.equal(r.stdout.trim(), 'done', r.stderr);
  const ok = await run('curl', ['-s', `http://127.0.0.1:${backend.port}/after-garbage`]);
  t.equal(ok.stdout, 'ok\n');
  const after = await agent.waitForSpans((s) => attr(s, 'url.path') === '/after-garbage' && s.kind === 'server', 1);
  t.equal(after.length, 1, 'a valid request after the garbage still becomes a span');
  await new Promise((r2) => setTimeout(r2, 300));
  const sockets = agent.agent.summary().collectors.sockets ?? {};
  const parseErrors = Object.entries(sockets).filter(([k]) => /parse_?errors/i.test(k)).reduce((a, [, v]) => a + v, 0);
  t.ok(parseErrors > 0, `parse errors counted (${parseErrors})`);
  t.equal(sockets.records_malformed, 0, 'kernel records themselves were fine');
});
