// TLS plaintext from programs started after the agent: Python's ssl module (urllib client and an
// ssl-wrapped server, OpenSSL as a shared library), Node's https server, client and fetch (OpenSSL
// linked into the node binary, driven through memory BIOs), and psql → PostgreSQL with
// sslmode=require (a connection that begins in cleartext with SSLRequest, then switches to TLS).
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import type { SpanRecord } from '../../src/model/span.js';
import { type TestAgent, attr, startTestAgent } from '../helpers/agent.js';
import { type Postgres, startPostgres } from '../helpers/postgres.js';
import { descendants } from '../helpers/procs.js';
import { run, startPrintingPort } from '../helpers/spawn.js';
import { makeSelfSignedCertificate } from '../helpers/tls-cert.js';

const fixture = (name: string): string =>
  fileURLToPath(new URL(import.meta.url.includes('/dist/') ? `../../../test/fixtures/tls/${name}` : `../fixtures/tls/${name}`, import.meta.url));

const cert = makeSelfSignedCertificate();
t.teardown(() => cert.remove());
const PASSWORD = 'tls-secret-pw-9c1';
let agent: TestAgent;
let pg: Postgres;

t.before(async () => {
  pg = await startPostgres([{ name: 'app', password: PASSWORD }], [{ name: 'appdb', owner: 'app' }], { tls: cert });
  agent = await startTestAgent({ pids: descendants(pg.pid), collectors: 'sockets,tls' });
});
t.teardown(async () => {
  await agent?.stop();
  await pg?.stop();
});

const exe = (s: SpanRecord): string => String(s.resource.attributes['process.executable.name'] ?? '');
const pidOf = (s: SpanRecord): number => Number(s.resource.attributes['process.pid']);

/** Every exported attribute value of these spans, for "the secret never leaves" checks. */
const everything = (spans: SpanRecord[]): string => JSON.stringify(spans, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v));

t.test('Python urllib → Python ssl server (started after the agent)', async (t) => {
  const server = await startPrintingPort('python3', [fixture('https_server.py'), cert.certFile, cert.keyFile]);
  t.teardown(() => server.stop());
  const r = await run('python3', [fixture('https_client.py'), `https://localhost:${server.port}`, cert.certFile]);
  t.equal(r.stdout.trim(), 'ok', r.stderr);
  const mine = (s: SpanRecord): boolean => String(attr(s, 'url.query')) === 'from=urllib';
  const serverSpans = await agent.waitForSpans((s) => mine(s) && s.kind === 'server' && pidOf(s) === server.child.pid, 2);
  const clientSpans = await agent.waitForSpans((s) => mine(s) && s.kind === 'client' && exe(s).startsWith('python'), 2);
  t.equal(serverSpans.length, 2, 'GET and POST seen by the server');
  t.equal(clientSpans.length, 2, 'GET and POST seen by the client');
  const post = serverSpans.find((s) => attr(s, 'http.request.method') === 'POST');
  t.equal(attr(post, 'url.path'), '/upload');
  t.equal(attr(post, 'url.scheme'), 'https');
  t.equal(attr(post, 'http.response.status_code'), 201);
  t.equal(attr(post, 'http.request.body.size'), 3000);
  t.equal(attr(post, 'tls.protocol.version'), '1.3');
  const get = clientSpans.find((s) => attr(s, 'http.request.method') === 'GET');
  t.equal(attr(get, 'url.full'), `https://localhost:${server.port}/hello?from=urllib`);
  t.equal(attr(get, 'http.response.status_code'), 200);
  for (const c of clientSpans) t.ok(serverSpans.some((s) => s.parentSpanId === c.spanId), 'server span linked to its client span');
  t.notMatch(everything([...serverSpans, ...clientSpans]), /py-secret-token/, 'the Authorization header stays on the host');
});

t.test('Node https server, https.request client and fetch (OpenSSL inside the node binary)', async (t) => {
  const r = await run(process.execPath, [fixture('https-pair.mjs'), cert.certFile, cert.keyFile], { env: { NODE_EXTRA_CA_CERTS: cert.certFile } });
  t.equal(r.stdout.trim(), 'ok', r.stderr);
  const mine = (s: SpanRecord): boolean => String(attr(s, 'url.query')) === 'from=https' && exe(s) === 'node';
  const spans = await agent.waitForSpans(mine, 6);
  const server = spans.filter((s) => s.kind === 'server');
  const client = spans.filter((s) => s.kind === 'client');
  t.same(server.map((s) => attr(s, 'url.path')).sort(), ['/node', '/node-fetch', '/node-post'], 'three server spans');
  t.same(client.map((s) => attr(s, 'url.path')).sort(), ['/node', '/node-fetch', '/node-post'], 'three client spans');
  for (const s of spans) {
    t.equal(attr(s, 'url.scheme'), 'https');
    t.equal(attr(s, 'tls.protocol.version'), '1.3');
  }
  const post = server.find((s) => attr(s, 'url.path') === '/node-post');
  t.equal(attr(post, 'http.request.body.size'), 2000);
  t.equal(attr(post, 'http.response.status_code'), 201);
  for (const c of client) t.ok(server.some((s) => s.parentSpanId === c.spanId), `${String(attr(c, 'url.path'))}: linked`);
  t.notMatch(everything(spans), /node-secret-cookie/, 'the Cookie header stays on the host');
});

t.test('a binary first run after the agent started (a copy of node) is found at its exec', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-node-copy-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const copy = join(dir, 'node-copy');
  copyFileSync(process.execPath, copy);
  chmodSync(copy, 0o755);
  const r = await run(copy, [fixture('https-pair.mjs'), cert.certFile, cert.keyFile],
    { env: { NODE_EXTRA_CA_CERTS: cert.certFile, HTTPS_PAIR_DELAY_MS: '1000' } });
  t.equal(r.stdout.trim(), 'ok', r.stderr);
  const spans = await agent.waitForSpans((s) => String(attr(s, 'url.query')) === 'from=https' && exe(s) === 'node-copy', 6);
  t.equal(spans.length, 6, 'server and client spans of the three requests');
  t.ok(agent.log.some((l) => l.includes('probes attached') && l.includes('node-copy')), 'the new binary got its own probes');
});

t.test('psql → PostgreSQL with sslmode=require: SSLRequest, then the queries in the clear', async (t) => {
  const r = await run('psql', ['-X', '-h', '127.0.0.1', '-p', String(pg.port), '-U', 'app', '-d', 'appdb',
    '-c', 'SELECT 41 + 1 AS over_tls', '-c', 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()'],
  { env: { PGPASSWORD: PASSWORD, PGSSLMODE: 'require', PGCONNECT_TIMEOUT: '5' } });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /\bt\b/, 'the server says the session is encrypted');
  const isPg = (s: SpanRecord): boolean => s.attributes['db.system.name'] === 'postgresql';
  const mine = (s: SpanRecord): boolean => isPg(s) && /over_tls|pg_stat_ssl/.test(String(attr(s, 'db.query.text')));
  const client = await agent.waitForSpans((s) => mine(s) && s.kind === 'client' && exe(s) === 'psql', 2);
  const server = await agent.waitForSpans((s) => mine(s) && s.kind === 'server' && exe(s) === 'postgres', 2);
  t.equal(client.length, 2, 'both queries seen by psql');
  t.equal(server.length, 2, 'both queries seen by the backend');
  const q = client.find((s) => /over_tls/.test(String(attr(s, 'db.query.text'))));
  t.equal(attr(q, 'db.namespace'), 'appdb');
  t.equal(attr(q, 'tls.protocol.version'), '1.3');
  t.equal(attr(q, 'server.port'), pg.port);
  for (const c of client) t.ok(server.some((s) => s.parentSpanId === c.spanId), 'server span linked to its client span');
  t.notMatch(everything([...client, ...server]), new RegExp(PASSWORD), 'the password stays on the host');
});

t.test('no spans and no parse errors from ciphertext', async (t) => {
  const stats = agent.agent.summary().collectors.sockets ?? {};
  t.ok((stats.kernel_tls_calls ?? 0) > 0, 'plaintext came from the TLS probes');
  t.ok((stats.kernel_tls_upgrades ?? 0) >= 2, 'both ends of the PostgreSQL connection switched to TLS');
  const parseErrors = Object.entries(stats).filter(([k, v]) => /parseErrors|malformed|syncLosses|Desync/i.test(k) && v > 0);
  t.same(parseErrors, [], 'no parser complained');
  t.equal(stats.kernel_tls_no_fd ?? 0, 0, 'every TLS call was tied to its socket');
});
