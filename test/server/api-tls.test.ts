// The control API beyond loopback: only over HTTPS (server.tls), and the bearer token is still
// required. In the clear it listens on loopback only; the configuration refuses anything else.
import { request } from 'node:https';
import { request as plainRequest } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadConfig } from '../../src/config/load.js';
import { LocalView } from '../../src/server/local-view.js';
import { startControlServer } from '../../src/server/server.js';
import { makeSelfSignedCertificate } from '../helpers/tls-cert.js';

const cert = makeSelfSignedCertificate();
const dir = mkdtempSync(join(tmpdir(), 'lantern-api-tls-'));
t.teardown(() => {
  cert.remove();
  rmSync(dir, { recursive: true, force: true });
});

function yamlFile(text: string): string {
  const path = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(path, text);
  return path;
}

function get(port: number, path: string, token?: string): Promise<{ status: number; body: string; authorized: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, ca: cert.cert, servername: 'localhost',
      headers: token !== undefined ? { authorization: `Bearer ${token}` } : {} }, (res) => {
      const authorized = (res.socket as { authorized?: boolean } | null)?.authorized === true;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, authorized }));
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('configuration: another address only with server.tls, whose files must exist', async (t) => {
  const withTls = loadConfig({ config: yamlFile(`server:\n  host: 0.0.0.0\n  tls:\n    cert_file: ${cert.certFile}\n    key_file: ${cert.keyFile}\n`) }, {});
  t.equal(withTls.server.host, '0.0.0.0');
  t.same(withTls.server.tls, { certFile: cert.certFile, keyFile: cert.keyFile });
  const plain = t.throws(() => loadConfig({ config: yamlFile('server:\n  host: 0.0.0.0\n') }, {})) as Error;
  t.match(plain.message, 'server.host: listening on 0.0.0.0 needs server.tls');
  const missing = t.throws(() => loadConfig({ config: yamlFile(`server:\n  host: 10.0.0.1\n  tls:\n    cert_file: ${join(dir, 'none.pem')}\n    key_file: ${cert.keyFile}\n`) }, {})) as Error;
  t.match(missing.message, 'server.tls.cert_file: expected the absolute path of an existing PEM file');
  const notIp = t.throws(() => loadConfig({ config: yamlFile(`server:\n  host: example.com\n  tls:\n    cert_file: ${cert.certFile}\n    key_file: ${cert.keyFile}\n`) }, {})) as Error;
  t.match(notIp.message, 'server.host: expected an IP address to listen on');
  await t.rejects(startControlServer({ host: '0.0.0.0', port: 0 }, new LocalView(), () => ({})), /not loopback and no TLS/, 'the server refuses it too');
});

t.test('over HTTPS on every address: the certificate is served, the token still required, plain HTTP gets nothing', async (t) => {
  const server = await startControlServer({ host: '0.0.0.0', port: 0, tls: { certFile: cert.certFile, keyFile: cert.keyFile }, token: 'a-token-of-24-characters' },
    new LocalView(), () => ({ ok: 1 }));
  t.teardown(() => server.close());
  t.match(server.url, /^https:\/\//, 'the API says it is HTTPS');
  const port = Number(new URL(server.url).port);
  const refused = await get(port, '/api/stats');
  t.equal(refused.status, 401, 'no token: refused');
  t.ok(refused.authorized, 'the client verified the agent\'s certificate');
  const ok = await get(port, '/api/stats', 'a-token-of-24-characters');
  t.equal(ok.status, 200);
  t.same(JSON.parse(ok.body), { ok: 1 });
  t.equal((await get(port, '/api/stats', 'a-wrong-token-of-24-chars')).status, 401, 'wrong token: refused');
  const plain = await new Promise<string>((resolve) => {
    const req = plainRequest({ host: '127.0.0.1', port, path: '/api/stats', headers: { authorization: 'Bearer a-token-of-24-characters' } }, (res) => resolve(`HTTP ${res.statusCode ?? 0}`));
    req.on('error', (e) => resolve(e.message));
    req.end();
  });
  t.notMatch(plain, /HTTP 200/, `plain HTTP to the TLS port gets no answer with data (${plain})`);
});
