// HTTP/1 through the real kernel path: nginx + curl (keep-alive, pipelining on a raw socket,
// chunked and failing responses through a proxied Node backend, a 404, a 5 MB body by sendfile).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import type { SpanRecord } from '../../src/model/span.js';
import { type TestAgent, attr, startTestAgent } from '../helpers/agent.js';
import { type Nginx, startNginx } from '../helpers/nginx.js';
import { run, startPrintingPort } from '../helpers/spawn.js';

const backendScript = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../../../test/fixtures/http-backend.mjs' : '../fixtures/http-backend.mjs', import.meta.url));

const backend = await startPrintingPort(process.execPath, [backendScript]);
const nginx: Nginx = await startNginx({
  locations: `
    location /api/ { proxy_pass http://127.0.0.1:${backend.port}/; proxy_http_version 1.1; proxy_set_header Connection ""; }`,
});
writeFileSync(join(nginx.root, 'big.bin'), Buffer.alloc(5 * 1024 * 1024, 7));
// nginx and the backend started before the agent: name them; what the test spawns later is
// followed as this process's descendants.
const agent: TestAgent = await startTestAgent({ pids: [...nginx.pids, backend.child.pid!] });
t.teardown(async () => {
  await agent.stop();
  await nginx.stop();
  await backend.stop();
});

const base = `http://127.0.0.1:${nginx.port}`;
const nginxPids = new Set(nginx.pids);
const isNginxServer = (s: SpanRecord): boolean => s.kind === 'server' && nginxPids.has(Number(s.resource.attributes['process.pid']));
const path = (s: SpanRecord): unknown => attr(s, 'url.path');

t.test('curl keep-alive: three requests on one connection, client and server spans linked', async (t) => {
  const r = await run('curl', ['-s', '-o', '/dev/null', '-o', '/dev/null', '-o', '/dev/null', '-H', 'User-Agent: lantern-test/1',
    `${base}/index.html?x=1`, `${base}/status`, `${base}/missing`]);
  t.equal(r.code, 0, r.stderr);
  const paths = ['/index.html', '/status', '/missing'];
  const server = await agent.waitForSpans((s) => isNginxServer(s) && paths.includes(String(path(s))), 3);
  const client = await agent.waitForSpans((s) => s.kind === 'client' && s.resource.attributes['process.executable.name'] === 'curl' && paths.includes(String(path(s))), 3);
  t.equal(server.length, 3, 'one server span per request');
  t.equal(client.length, 3, 'one client span per request');
  const byPath = (spans: SpanRecord[], p: string): SpanRecord | undefined => spans.find((s) => path(s) === p);
  const idx = byPath(server, '/index.html');
  t.equal(idx?.name, 'GET');
  t.equal(attr(idx, 'http.request.method'), 'GET');
  t.equal(attr(idx, 'url.query'), 'x=1');
  t.equal(attr(idx, 'url.scheme'), 'http');
  t.equal(attr(idx, 'http.response.status_code'), 200);
  t.equal(attr(idx, 'network.protocol.version'), '1.1');
  t.equal(attr(idx, 'user_agent.original'), 'lantern-test/1');
  t.equal(attr(idx, 'server.port'), nginx.port);
  t.equal(attr(idx, 'client.address'), '127.0.0.1');
  t.equal(attr(idx, 'http.response.body.size'), '<h1>lantern</h1>\n'.length);
  t.equal(idx?.resource.attributes['service.name'], 'nginx');
  t.equal(attr(byPath(client, '/index.html'), 'url.full'), `${base}/index.html?x=1`);
  t.notOk('url.full' in (idx?.attributes ?? {}), 'url.full only on client spans');
  const missingServer = byPath(server, '/missing');
  const missingClient = byPath(client, '/missing');
  t.equal(attr(missingServer, 'http.response.status_code'), 404);
  t.equal(missingServer?.status.code, 'unset', '404 is not a server error');
  t.equal(missingClient?.status.code, 'error', '404 is a client error');
  t.equal(attr(missingClient, 'error.type'), '404');
  for (const p of paths) {
    const c = byPath(client, p);
    const s = byPath(server, p);
    t.equal(s?.traceId, c?.traceId, `${p}: same trace`);
    t.equal(s?.parentSpanId, c?.spanId, `${p}: server span is the child of the client span`);
    t.ok((c?.startTimeUnixNano ?? 0n) <= (s?.startTimeUnixNano ?? 0n),
      `${p}: client starts first (client ${c?.startTimeUnixNano}-${c?.endTimeUnixNano}, server ${s?.startTimeUnixNano}-${s?.endTimeUnixNano})`);
  }
});

t.test('pipelined requests on a raw socket', async (t) => {
  const script = `
import socket, sys
s = socket.create_connection(('127.0.0.1', ${nginx.port}))
s.sendall(b''.join(b'GET /status?pipe=%d HTTP/1.1\\r\\nHost: localhost\\r\\n\\r\\n' % i for i in range(3)))
data = b''
while data.count(b'HTTP/1.1 200') < 3:
    chunk = s.recv(65536)
    if not chunk: break
    data += chunk
s.close()
print(data.count(b'HTTP/1.1 200'))`;
  const r = await run('python3', ['-c', script]);
  t.equal(r.stdout.trim(), '3', r.stderr);
  const spans = await agent.waitForSpans((s) => isNginxServer(s) && String(attr(s, 'url.query')).startsWith('pipe='), 3);
  t.same(spans.map((s) => attr(s, 'url.query')).sort(), ['pipe=0', 'pipe=1', 'pipe=2']);
  t.ok(spans.every((s) => attr(s, 'http.response.status_code') === 200));
  const py = await agent.waitForSpans((s) => s.kind === 'client' && String(attr(s, 'url.query')).startsWith('pipe='), 3);
  t.equal(py.length, 3, 'the raw-socket client gets its spans too');
});

t.test('chunked response and a 500, through nginx to a Node backend', async (t) => {
  const chunked = await run('curl', ['-s', `${base}/api/chunked`]);
  t.equal(chunked.stdout, 'first chunk\nsecond chunk\n');
  const fail = await run('curl', ['-s', `${base}/api/fail`]);
  t.equal(fail.stdout, 'backend failure\n');
  const backendServer = await agent.waitForSpans((s) => s.kind === 'server' && s.resource.attributes['process.pid'] === backend.child.pid, 2);
  const chunkedSpan = backendServer.find((s) => path(s) === '/chunked');
  t.equal(attr(chunkedSpan, 'http.response.status_code'), 200);
  t.equal(attr(chunkedSpan, 'http.response.body.size'), 'first chunk\nsecond chunk\n'.length, 'chunked body size decoded');
  const failSpan = backendServer.find((s) => path(s) === '/fail');
  t.equal(failSpan?.status.code, 'error');
  t.equal(attr(failSpan, 'error.type'), '500');
  const proxySpans = await agent.waitForSpans((s) => s.kind === 'client' && nginxPids.has(Number(s.resource.attributes['process.pid'])), 2);
  t.equal(proxySpans.length, 2, 'nginx appears as the client of its upstream');
  const proxyFail = proxySpans.find((s) => path(s) === '/fail');
  t.equal(failSpan?.parentSpanId, proxyFail?.spanId, 'upstream server span is the child of nginx\'s client span');
  const edge = await agent.waitForSpans((s) => isNginxServer(s) && path(s) === '/api/fail', 1);
  t.equal(edge[0]?.status.code, 'error', '500 passed through nginx is a server error there too');
});

t.test('a 5 MB body sent with sendfile is counted, not captured', async (t) => {
  const r = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{size_download}', `${base}/big.bin`]);
  t.equal(r.stdout, String(5 * 1024 * 1024));
  const [s] = await agent.waitForSpans((x) => isNginxServer(x) && path(x) === '/big.bin', 1);
  t.equal(attr(s, 'http.response.body.size'), 5 * 1024 * 1024);
  const [c] = await agent.waitForSpans((x) => x.kind === 'client' && path(x) === '/big.bin', 1);
  t.equal(attr(c, 'http.response.body.size'), 5 * 1024 * 1024, 'the client read it all (beyond the capture bound)');
});

t.test('span duration covers a server-side delay', async (t) => {
  await run('curl', ['-s', '-o', '/dev/null', `${base}/api/slow?delay=250`]);
  const [b] = await agent.waitForSpans((s) => s.kind === 'server' && path(s) === '/slow' && s.resource.attributes['process.pid'] === backend.child.pid, 1);
  const [edge] = await agent.waitForSpans((s) => isNginxServer(s) && path(s) === '/api/slow', 1);
  const [c] = await agent.waitForSpans((s) => s.kind === 'client' && path(s) === '/api/slow', 1);
  for (const [name, s] of [['backend', b], ['nginx', edge], ['curl', c]] as const) {
    const ms = Number((s?.endTimeUnixNano ?? 0n) - (s?.startTimeUnixNano ?? 0n)) / 1e6;
    t.ok(ms >= 250, `${name} span lasts at least the 250 ms delay (${ms.toFixed(1)} ms)`);
    t.ok(ms < 5000, `${name} span is not absurdly long (${ms.toFixed(1)} ms)`);
  }
});

t.test('request count equals span count under a burst', async (t) => {
  const urls = Array.from({ length: 50 }, (_, i) => `${base}/status?burst=${i}`);
  const r = await run('curl', ['-s', '-o', '/dev/null', ...urls.flatMap((u) => ['-o', '/dev/null', u]).slice(1)]);
  t.equal(r.code, 0, r.stderr);
  const spans = await agent.waitForSpans((s) => isNginxServer(s) && String(attr(s, 'url.query')).startsWith('burst='), 50);
  t.equal(spans.length, 50);
  await new Promise((r2) => setTimeout(r2, 300));
  t.equal(agent.spans.filter((s) => isNginxServer(s) && String(attr(s, 'url.query')).startsWith('burst=')).length, 50, 'no duplicates');
});

t.test('a traceparent sent by the client puts both spans in the caller\'s trace', async (t) => {
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const parent = '00f067aa0ba902b7';
  await run('curl', ['-s', '-o', '/dev/null', '-H', `traceparent: 00-${traceId}-${parent}-01`, '-H', 'tracestate: vendor=x', `${base}/status?traced=1`]);
  const [s] = await agent.waitForSpans((x) => isNginxServer(x) && attr(x, 'url.query') === 'traced=1', 1);
  const [c] = await agent.waitForSpans((x) => x.kind === 'client' && attr(x, 'url.query') === 'traced=1', 1);
  t.equal(s?.traceId, traceId, 'server span joins the caller\'s trace');
  t.equal(c?.traceId, traceId, 'client span too');
  t.equal(c?.parentSpanId, parent, 'the client span is a child of the application\'s own span');
  t.equal(s?.traceState, 'vendor=x', 'tracestate passed through');
});
