// TLS plaintext from OpenSSL as a shared library: curl → nginx over HTTPS, HTTP/1.1 and HTTP/2
// (ALPN), through the real uprobes. The same attributes as over cleartext, url.scheme=https, the
// TLS version, and nothing parsed from the ciphertext.
import t from 'tap';
import type { SpanRecord } from '../../src/model/span.js';
import { type TestAgent, attr, startTestAgent } from '../helpers/agent.js';
import { type Nginx, startNginx } from '../helpers/nginx.js';
import { run } from '../helpers/spawn.js';
import { makeSelfSignedCertificate } from '../helpers/tls-cert.js';

const cert = makeSelfSignedCertificate();
t.teardown(() => cert.remove());
const nginx: Nginx = await startNginx({ tls: cert, http2: true });
const agent: TestAgent = await startTestAgent({ pids: nginx.pids, collectors: 'sockets,tls' });
t.teardown(async () => {
  await agent.stop();
  await nginx.stop();
});

const base = `https://localhost:${nginx.port}`;
const nginxPids = new Set(nginx.pids);
const pidOf = (s: SpanRecord): number => Number(s.resource.attributes['process.pid']);
const isCurl = (s: SpanRecord): boolean => s.resource.attributes['process.executable.name'] === 'curl';

t.test('curl → nginx over HTTPS with HTTP/1.1 and TLS 1.2: client and server spans in the clear', async (t) => {
  const r = await run('curl', ['-s', '--http1.1', '--tls-max', '1.2', '--cacert', cert.certFile, '-o', '/dev/null', '-o', '/dev/null',
    `${base}/index.html?tls=1`, `${base}/missing?tls=1`]);
  t.equal(r.code, 0, r.stderr);
  const wanted = (s: SpanRecord): boolean => String(attr(s, 'url.query')) === 'tls=1';
  const server = await agent.waitForSpans((s) => wanted(s) && s.kind === 'server' && nginxPids.has(pidOf(s)), 2);
  const client = await agent.waitForSpans((s) => wanted(s) && s.kind === 'client' && isCurl(s), 2);
  t.equal(server.length, 2, 'two server spans');
  t.equal(client.length, 2, 'two client spans');
  const idx = server.find((s) => attr(s, 'url.path') === '/index.html');
  t.equal(attr(idx, 'url.scheme'), 'https');
  t.equal(attr(idx, 'http.request.method'), 'GET');
  t.equal(attr(idx, 'http.response.status_code'), 200);
  t.equal(attr(idx, 'network.protocol.version'), '1.1');
  t.equal(attr(idx, 'tls.protocol.name'), 'tls');
  t.equal(attr(idx, 'tls.protocol.version'), '1.2');
  t.equal(attr(idx, 'http.response.body.size'), '<h1>lantern</h1>\n'.length);
  const missing = client.find((s) => attr(s, 'url.path') === '/missing');
  t.equal(attr(missing, 'http.response.status_code'), 404);
  t.equal(attr(missing, 'url.full'), `${base}/missing?tls=1`);
  for (const c of client) {
    const s = server.find((x) => attr(x, 'url.path') === attr(c, 'url.path'));
    t.equal(s?.parentSpanId, c.spanId, `${String(attr(c, 'url.path'))}: the server span is the client span's child`);
  }
});

t.test('curl → nginx over HTTPS with HTTP/2 (ALPN h2) and TLS 1.3', async (t) => {
  const r = await run('curl', ['-s', '--http2', '--cacert', cert.certFile, '-o', '/dev/null', '-o', '/dev/null',
    `${base}/index.html?h2=1`, `${base}/status?h2=1`]);
  t.equal(r.code, 0, r.stderr);
  const wanted = (s: SpanRecord): boolean => String(attr(s, 'url.query')) === 'h2=1';
  const server = await agent.waitForSpans((s) => wanted(s) && s.kind === 'server' && nginxPids.has(pidOf(s)), 2);
  const client = await agent.waitForSpans((s) => wanted(s) && s.kind === 'client' && isCurl(s), 2);
  t.equal(server.length, 2);
  t.equal(client.length, 2);
  for (const s of [...server, ...client]) {
    t.equal(attr(s, 'network.protocol.version'), '2', 'HTTP/2 inside TLS');
    t.equal(attr(s, 'url.scheme'), 'https');
    t.equal(attr(s, 'tls.protocol.version'), '1.3');
    t.equal(attr(s, 'http.response.status_code'), 200);
  }
});

t.test('the ciphertext is never parsed', async (t) => {
  const stats = agent.agent.summary().collectors.sockets ?? {};
  t.ok((stats.kernel_tls_calls ?? 0) > 0, 'plaintext came from the TLS probes');
  t.equal(stats.tracker_unknownProtocol ?? 0, 0, 'no ciphertext reached the tracker as data');
  const parseErrors = Object.entries(stats).filter(([k, v]) => /_(malformed|parse_?errors?|errors)$/i.test(k) && v > 0);
  t.same(parseErrors, [], 'no parser reported an error');
  const weird = agent.spans.filter((s) => (nginxPids.has(pidOf(s)) || isCurl(s)) && attr(s, 'url.scheme') !== 'https');
  t.same(weird.map((s) => s.name), [], 'every span of these processes came from plaintext');
});
