// MySQL protocol over TLS: the mariadb client asks for TLS (SSLRequest) after the server's greeting,
// then logs in and queries inside TLS. The kernel keeps the connection's protocol across the switch
// and the session continues with the plaintext from the OpenSSL probes on both ends.
import t from 'tap';
import type { SpanRecord } from '../../src/model/span.js';
import { type TestAgent, attr, startTestAgent } from '../helpers/agent.js';
import { type MariaDb, startMariaDb } from '../helpers/mariadb.js';
import { run } from '../helpers/spawn.js';
import { makeSelfSignedCertificate } from '../helpers/tls-cert.js';

const PASSWORD = 'tls-My-Secr3t';
const cert = makeSelfSignedCertificate();
t.teardown(() => cert.remove());
let db: MariaDb;
let agent: TestAgent;

t.before(async () => {
  db = await startMariaDb({ tls: cert });
  const setup = await db.rootSql(`CREATE USER 'lantern'@'127.0.0.1' IDENTIFIED BY '${PASSWORD}'; GRANT ALL ON *.* TO 'lantern'@'127.0.0.1';`);
  if (setup.code !== 0) throw new Error(`setup failed: ${setup.stderr}`);
  agent = await startTestAgent({ pids: [db.pid], collectors: 'sockets,tls' });
});
t.teardown(async () => {
  await agent?.stop();
  await db?.stop();
});

t.test('mariadb --ssl: login and queries inside TLS, client and server spans', async (t) => {
  const r = await run('mariadb', ['--no-defaults', '-h127.0.0.1', `-P${db.port}`, '-ulantern', '--ssl', '--batch',
    '-e', "SELECT 6 * 7 AS answer_over_tls; SHOW SESSION STATUS LIKE 'Ssl_version';"], { env: { MYSQL_PWD: PASSWORD } });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /Ssl_version\tTLSv1\.3/, 'the session is encrypted');
  const isDb = (s: SpanRecord): boolean => attr(s, 'db.system.name') === 'mariadb';
  const mine = (s: SpanRecord): boolean => isDb(s) && /answer_over_tls|SHOW SESSION STATUS/.test(String(attr(s, 'db.query.text')));
  const client = await agent.waitForSpans((s) => mine(s) && s.kind === 'client', 2);
  const server = await agent.waitForSpans((s) => mine(s) && s.kind === 'server', 2);
  t.equal(client.length, 2, 'both statements seen by the client');
  t.equal(server.length, 2, 'both statements seen by the server');
  for (const s of [...client, ...server]) {
    t.equal(attr(s, 'tls.protocol.version'), '1.3');
    t.equal(attr(s, 'server.port'), db.port);
  }
  for (const c of client) t.ok(server.some((s) => s.parentSpanId === c.spanId), 'linked');
  const stats = agent.agent.summary().collectors.sockets ?? {};
  t.ok((stats.kernel_tls_upgrades ?? 0) >= 2, 'both ends switched to TLS after the greeting');
  const errors = Object.entries(stats).filter(([k, v]) => /mysql_(parseErrors|malformed)/.test(k) && v > 0);
  t.same(errors, [], 'no MySQL parse errors');
  t.notMatch(JSON.stringify([...client, ...server], (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)), new RegExp(PASSWORD));
});
