// The agent with Kubernetes metadata, through the real kernel: a server and a client in cgroups
// named as containerd names a pod's containers (test/helpers/cgroups.ts), their pods, owners and a
// Service listed by a local API server (test/helpers/fake-kube-api.ts). The Service's cluster IP is
// an address added to lo for the test (kube-proxy's DNAT is not needed: the server listens on it).
// And the agent without any of it: nothing said about Kubernetes, the resources of before.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import type { SpanRecord } from '../../src/model/span.js';
import { attr, startTestAgent } from '../helpers/agent.js';
import { type TestCgroup, cgroupV2Mount, makeCgroup, randomContainerId } from '../helpers/cgroups.js';
import { startCli } from '../helpers/cli.js';
import { FakeKubeApi } from '../helpers/fake-kube-api.js';
import { freePort, waitForPort } from '../helpers/procs.js';
import { run } from '../helpers/spawn.js';
import { fixture } from '../metadata/k8s/fixtures.js';

const v2 = cgroupV2Mount();
const CLUSTER_IP = '10.96.0.42';
const pidOf = (s: SpanRecord): number => Number(s.resource.attributes['process.pid']);
const dir = mkdtempSync(join(tmpdir(), 'lantern-agent-cluster-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** Answers after 300 ms: the client lives on while the agent reads its /proc. */
const serverScript = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../../../test/fixtures/slow-http-server.py' : '../fixtures/slow-http-server.py', import.meta.url));

/** A cgroup as containerd makes one for a pod's container (cgroup v2, systemd driver). */
function podContainerCgroup(t: Test, podUid: string, id: string): TestCgroup {
  const cg = makeCgroup(v2!, [`lantern-pods-${process.pid}.slice`, `kubepods-besteffort-pod${podUid.replaceAll('-', '_')}.slice`, `cri-containerd-${id}.scope`]);
  t.teardown(() => cg.remove());
  return cg;
}

/** `sh` that waits to be moved into `cg`, then execs `cmd`. */
function spawnIn(cg: TestCgroup, cmd: string) {
  const child = spawn('sh', ['-c', `read go; exec ${cmd}`], { stdio: ['pipe', 'ignore', 'inherit'] });
  cg.add(child.pid!);
  child.stdin.end('go\n');
  return child;
}

/** A pod of node-a at `ip` whose only container is `container` with id `id`. */
function pod(name: string, uid: string, ip: string, labels: Record<string, string>, container: string, id: string, owner?: Record<string, unknown>) {
  return {
    kind: 'Pod', apiVersion: 'v1',
    metadata: { name, namespace: 'shop', uid, labels, ...(owner !== undefined ? { ownerReferences: [owner] } : {}) },
    spec: { nodeName: 'node-a', containers: [{ name: container, image: `registry.example.com/${container}:1` }] },
    status: { phase: 'Running', podIP: ip, podIPs: [{ ip }],
      containerStatuses: [{ name: container, containerID: `containerd://${id}`, ready: true, restartCount: 0 }] },
  };
}

t.test('kubernetes.api_url: a pod\'s server and client spans carry the pod, its Deployment and the Service\'s name', { skip: v2 === null ? 'no cgroup v2 mount' : false }, async (t) => {
  const added = await run('ip', ['addr', 'add', `${CLUSTER_IP}/32`, 'dev', 'lo']);
  t.equal(added.code, 0, `ip addr add ${CLUSTER_IP}/32 dev lo: ${added.stderr}`);
  t.teardown(() => run('ip', ['addr', 'del', `${CLUSTER_IP}/32`, 'dev', 'lo']));

  const api = await new FakeKubeApi().start();
  t.teardown(() => api.stop());
  const serverId = randomContainerId();
  const clientId = randomContainerId();
  const serverUid = '6b2d4f60-1a3c-4e5f-8a7b-9c0d1e2f3a4b';
  const clientUid = '7c3e5a71-2b4d-4f6a-9b8c-0d1e2f3a4b5c';
  const rs = fixture('replicaset-checkout');
  api.put('/apis/apps/v1/replicasets', rs);
  api.put('/api/v1/pods', pod('checkout-7d9c6b5f4-x2x8q', serverUid, '10.244.1.23', { 'app.kubernetes.io/name': 'checkout-api', 'pod-template-hash': '7d9c6b5f4' }, 'app', serverId,
    { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rs.metadata.name, uid: rs.metadata.uid, controller: true }));
  api.put('/api/v1/pods', pod('frontend', clientUid, '10.244.1.24', { 'app.kubernetes.io/name': 'frontend' }, 'web', clientId));
  const svc = fixture('service-checkout');
  svc.spec.clusterIP = CLUSTER_IP;
  svc.spec.clusterIPs = [CLUSTER_IP];
  api.put('/api/v1/services', svc);

  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, 'test-token\n');
  const configFile = join(dir, 'k8s.yaml');
  writeFileSync(configFile, `kubernetes:\n  enabled: true\n  api_url: ${api.url}\n  token_file: ${tokenFile}\n  node_name: node-a\n`);
  const agent = await startTestAgent({ configFile });
  t.teardown(() => agent.stop());
  t.match(agent.log.join(''), /kubernetes metadata: watching this node's pods/, 'the agent says where it reads pods from');
  // Both lists answered and their watches open: the pods and the Service are known.
  const until = Date.now() + 10_000;
  while ((api.requestsTo('/api/v1/pods', true).length === 0 || api.requestsTo('/api/v1/services', true).length === 0) && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 20));
  }
  t.match(api.requestsTo('/api/v1/pods', false)[0]?.params.get('fieldSelector'), 'spec.nodeName=node-a', 'this node\'s pods');
  t.equal(api.requests[0]?.authorization, 'Bearer test-token', 'with the token file\'s token');

  const port = await freePort();
  const server = spawnIn(podContainerCgroup(t, serverUid, serverId), `python3 ${serverScript} ${port}`);
  t.teardown(async () => {
    server.kill('SIGKILL');
    if (server.exitCode === null && server.signalCode === null) await once(server, 'exit');
  });
  await waitForPort(port);
  const client = spawnIn(podContainerCgroup(t, clientUid, clientId), `curl -s -o /dev/null http://${CLUSTER_IP}:${port}/cart`);
  const [code] = await once(client, 'exit');
  t.equal(code, 0, 'curl reached the Service\'s address');

  const [serverSpan] = await agent.waitForSpans((s) => s.kind === 'server' && pidOf(s) === server.pid && attr(s, 'url.path') === '/cart', 1);
  t.match(serverSpan?.resource.attributes, {
    'service.name': 'checkout-api', 'service.namespace': 'shop', 'k8s.pod.name': 'checkout-7d9c6b5f4-x2x8q', 'k8s.pod.uid': serverUid,
    'k8s.namespace.name': 'shop', 'k8s.container.name': 'app', 'k8s.node.name': 'node-a', 'k8s.replicaset.name': rs.metadata.name,
    'k8s.deployment.name': 'checkout', 'container.id': serverId, 'container.runtime.name': 'containerd',
  }, 'the server span\'s resource: the pod, its Deployment (through the ReplicaSet), service.name from app.kubernetes.io/name');
  const [clientSpan] = await agent.waitForSpans((s) => s.kind === 'client' && pidOf(s) === client.pid, 1);
  t.equal(attr(clientSpan, 'server.address'), 'checkout.shop.svc', 'the client span names the Service it called by its cluster IP');
  t.equal(attr(clientSpan, 'network.peer.address'), CLUSTER_IP, 'the socket\'s peer stays the IP');
  t.match(clientSpan?.resource.attributes, { 'service.name': 'frontend', 'k8s.pod.name': 'frontend', 'k8s.container.name': 'web', 'container.id': clientId });
  t.equal(clientSpan?.resource.attributes['k8s.deployment.name'], undefined, 'a pod of no workload names none');
});

t.test('without Kubernetes (no configuration, not in a pod): nothing said about it, the resources of before', async (t) => {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('KUBERNETES_') || k === 'K8S_NODE_NAME') delete env[k];
  const port = await freePort();
  const backend = spawn('python3', [serverScript, String(port)], { stdio: 'ignore', env });
  t.teardown(() => backend.kill('SIGKILL'));
  await waitForPort(port);
  const client = spawn('sh', ['-c', `read go; exec curl -s -o /dev/null http://127.0.0.1:${port}/plain`], { stdio: ['pipe', 'ignore', 'inherit'], env });
  const file = join(dir, 'plain.jsonl');
  const agent = startCli(['run', '--pid', String(client.pid), '--collectors', 'sockets', '--port', '0', '--otlp-file', file, '--duration', '30'], { env });
  t.teardown(() => agent.child.kill('SIGKILL'));
  await agent.waitForStderr('tracing pids');
  client.stdin.end('go\n');
  const [code] = await once(client, 'exit');
  t.equal(code, 0, 'curl succeeded');
  await new Promise((r) => setTimeout(r, 500));
  agent.child.kill('SIGTERM');
  const r = await agent.done;
  t.equal(r.code, 0, r.stderr);
  t.notMatch(r.stderr, /kube|k8s/i, 'the log does not mention Kubernetes');
  const resources = spanResources(readFileSync(file, 'utf8'));
  t.ok(resources.length > 0, 'spans exported');
  for (const res of resources) {
    t.match(res, { 'service.name': 'curl', 'process.executable.name': 'curl' });
    t.equal(String(res['process.pid']), String(client.pid), 'the chosen pid');
    t.same(Object.keys(res).filter((k) => k.startsWith('k8s.') || k.startsWith('container.') || k === 'service.namespace'), [], 'no k8s.*, container.* or service.namespace');
  }
});

/** The resource attributes of each ResourceSpans of an --otlp-file (OTLP/JSON lines). */
function spanResources(text: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const line of text.split('\n').filter((l) => l !== '')) {
    const req = JSON.parse(line) as { resourceSpans?: Array<{ resource: { attributes: Array<{ key: string; value: Record<string, unknown> }> } }> };
    for (const rs of req.resourceSpans ?? []) {
      out.push(Object.fromEntries(rs.resource.attributes.map((kv) => [kv.key, Object.values(kv.value)[0]])));
    }
  }
  return out;
}
