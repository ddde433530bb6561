// Where the API is: in a pod (environment + service account files), configured, or nowhere; and
// the kubernetes section of the configuration.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadConfig } from '../../../src/config/load.js';
import { TokenSource, resolveConnection } from '../../../src/metadata/k8s/connection.js';

const dir = mkdtempSync(join(tmpdir(), 'lantern-sa-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'token'), 'sa-token\n');
writeFileSync(join(dir, 'ca.crt'), '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');

t.test('in a pod: the service\'s address, the service account\'s token and CA, the node from K8S_NODE_NAME', async (t) => {
  const r = resolveConnection({ enabled: 'auto' }, { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443', K8S_NODE_NAME: 'node-a' }, 'host', dir);
  t.match(r, { connection: { apiUrl: 'https://10.96.0.1:443', tokenFile: join(dir, 'token'), nodeName: 'node-a', source: 'in-cluster' } });
  t.match('connection' in r ? r.connection.ca : '', /BEGIN CERTIFICATE/);
  const v6 = resolveConnection({ enabled: 'auto' }, { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '6443' }, 'host', dir);
  t.match(v6, { connection: { apiUrl: 'https://[fd00::1]:6443', nodeName: 'host' } }, 'IPv6 bracketed; the host name without K8S_NODE_NAME');
});

t.test('off: not in a pod, no token mounted, or disabled; configured wins', async (t) => {
  t.match(resolveConnection({ enabled: 'auto' }, {}, 'h', dir), { off: /not in a Kubernetes pod/ });
  t.match(resolveConnection({ enabled: 'auto' }, { KUBERNETES_SERVICE_HOST: '10.96.0.1' }, 'h', join(dir, 'nothing')), { off: /no service account token/ });
  t.match(resolveConnection({ enabled: false, apiUrl: 'http://x' }, { KUBERNETES_SERVICE_HOST: '10.96.0.1' }, 'h', dir), { off: /false/ });
  t.match(resolveConnection({ enabled: 'auto', apiUrl: 'http://127.0.0.1:8001/', nodeName: 'n1' }, { KUBERNETES_SERVICE_HOST: '10.96.0.1' }, 'h', dir),
    { connection: { apiUrl: 'http://127.0.0.1:8001', tokenFile: null, nodeName: 'n1', source: 'configured' } });
});

t.test('the token is read again after its maximum age, and after expire()', async (t) => {
  let now = 0;
  const file = join(dir, 'rotating');
  writeFileSync(file, 'one');
  const tokens = new TokenSource(file, 60_000, () => now);
  t.equal(tokens.get(), 'one');
  writeFileSync(file, 'two');
  t.equal(tokens.get(), 'one', 'cached');
  now = 60_000;
  t.equal(tokens.get(), 'two', 'a minute later');
  writeFileSync(file, 'three');
  tokens.expire();
  t.equal(tokens.get(), 'three', 'after a 401');
  rmSync(file);
  tokens.expire();
  t.equal(tokens.get(), 'three', 'a failed read keeps the last token');
});

t.test('the kubernetes section: every setting, every problem', async (t) => {
  const file = join(dir, 'lantern.yaml');
  writeFileSync(file, 'kubernetes: { enabled: true, api_url: "https://k8s.example:6443", token_file: /etc/lantern/token, ca_file: /etc/lantern/ca.crt, node_name: node-a }\n');
  t.same(loadConfig({ config: file }, {}).kubernetes,
    { enabled: true, apiUrl: 'https://k8s.example:6443', tokenFile: '/etc/lantern/token', caFile: '/etc/lantern/ca.crt', nodeName: 'node-a' });
  t.same(loadConfig({}, {}).kubernetes, { enabled: 'auto' }, 'default: auto');
  writeFileSync(file, 'kubernetes: { enabled: maybe, api_url: "ftp://x", token_file: relative/token, node_name: "Node A", watch: 1 }\n');
  let message = '';
  try {
    loadConfig({ config: file }, {});
  } catch (e) {
    message = (e as Error).message;
  }
  for (const k of ['kubernetes.enabled', 'kubernetes.api_url', 'kubernetes.token_file', 'kubernetes.node_name', 'kubernetes.watch']) t.match(message, `${file}: ${k}:`, k);
});
