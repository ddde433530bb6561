// Pods, owners and Services together, from a local API server: a process's container → its pod's
// attributes (Deployment through the ReplicaSet, CronJob through the Job, StatefulSet), listeners
// told when a pod or an owner arrives, peer names for Service and pod IPs.
import t, { type Test } from 'tap';
import { Logger } from '../../../src/log.js';
import { KubernetesMetadata } from '../../../src/metadata/k8s/kubernetes-metadata.js';
import type { PodChange } from '../../../src/metadata/k8s/pod-store.js';
import { FakeKubeApi } from '../../helpers/fake-kube-api.js';
import { fixture } from './fixtures.js';

const PODS = '/api/v1/pods';
const CHECKOUT_APP = '9a4e1f6c2b8d3e7a5c0f4b9d2e6a8c1f3b7d5e9a2c4f6b8d0e1a3c5f7b9d2e4a';
const REPORT = '5d7f9a2c4e6b8d0f1a3c5e7b9d2f4a6c8e0b1d3f5a7c9e2b4d6f8a0c1e3b5d7f';
const REDIS = '0e2c4a6b8d0f1e3c5a7b9d1f3e5c7a9b1d3f5e7c9a1b3d5f7e9c1a3b5d7f9e1c';

async function until(t: Test, what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  t.ok(cond(), what);
}

async function setup(t: Test) {
  const api = await new FakeKubeApi().start();
  t.teardown(() => api.stop());
  const k8s = new KubernetesMetadata({ apiUrl: api.url, tokenFile: null, ca: null, nodeName: 'node-a', source: 'configured' },
    new Logger('warn', false, { write: () => undefined }), { reflector: { backoff: { initialBackoffMs: 20, maxBackoffMs: 100 } } });
  t.teardown(() => k8s.stop());
  const changes: PodChange[] = [];
  k8s.onChange((c) => changes.push(c));
  return { api, k8s, changes };
}

const container = (id: string, podUid: string | null = null) => ({ id, runtime: 'containerd' as const, podUid });

t.test('a Deployment\'s pod: attributes, the Deployment once its ReplicaSet is read, listeners told', async (t) => {
  const { api, k8s, changes } = await setup(t);
  api.put('/apis/apps/v1/replicasets', fixture('replicaset-checkout'));
  api.put(PODS, fixture('pod-checkout'));
  k8s.start();
  await until(t, 'synced', () => k8s.synced);
  const first = k8s.lookup(container(CHECKOUT_APP));
  t.equal(first?.attributes['k8s.replicaset.name'], 'checkout-7d9c6b5f4');
  t.equal(first?.attributes['k8s.deployment.name'], undefined, 'its ReplicaSet is being read');
  await until(t, 'the owner read, the pod\'s containers announced again', () => changes.length >= 2);
  t.same(changes.at(-1)?.containerIds.sort(), [CHECKOUT_APP, '4c7b2e9f1a6d3c8e5b0a7f2d9c4e1b6a8f3d5c0e7b2a9f4d1c6e8b3a5f0d7c2e'].sort());
  const m = k8s.lookup(container(CHECKOUT_APP));
  t.match(m?.attributes, {
    'k8s.pod.name': 'checkout-7d9c6b5f4-x2x8q', 'k8s.namespace.name': 'shop', 'k8s.container.name': 'app', 'k8s.node.name': 'node-a',
    'k8s.replicaset.name': 'checkout-7d9c6b5f4', 'k8s.deployment.name': 'checkout', 'service.namespace': 'shop',
  });
  t.same([m?.appLabel, m?.workload, m?.container], ['checkout', 'checkout', 'app']);
  t.equal(api.requests.filter((r) => r.path.endsWith('/replicasets/checkout-7d9c6b5f4')).length, 1, 'read once');
});

t.test('a CronJob\'s pod through its Job; a StatefulSet\'s; a container not in the status yet', async (t) => {
  const { api, k8s, changes } = await setup(t);
  api.put('/apis/batch/v1/jobs', fixture('job-nightly-report'));
  api.put(PODS, fixture('pod-report-cronjob'));
  api.put(PODS, fixture('pod-redis-statefulset'));
  k8s.start();
  await until(t, 'synced', () => k8s.synced);
  k8s.lookup(container(REPORT));
  await until(t, 'Job read', () => k8s.lookup(container(REPORT))?.attributes['k8s.cronjob.name'] === 'nightly-report');
  t.match(k8s.lookup(container(REPORT)), { attributes: { 'k8s.job.name': 'nightly-report-29121840', 'k8s.container.name': 'report' }, workload: 'nightly-report', appLabel: null });
  t.match(k8s.lookup(container(REDIS)), { attributes: { 'k8s.statefulset.name': 'redis', 'k8s.pod.name': 'redis-0' }, workload: 'redis' });
  // A restarted container runs before the kubelet reports its id: found by the cgroup's pod UID.
  const fresh = k8s.lookup(container('f'.repeat(64), 'd9e1f3a5-b7c9-4d1e-8f3a-5b7c9d1e3f5a'));
  t.equal(fresh?.attributes['k8s.pod.name'], 'redis-0');
  t.equal(fresh?.attributes['k8s.container.name'], undefined);
  t.equal(k8s.lookup(container('e'.repeat(64))), null, 'an unknown container');
  // The status names it: listeners hear of the pod with its new container id.
  const updated = fixture('pod-redis-statefulset');
  updated.status.containerStatuses[0].containerID = `docker://${'f'.repeat(64)}`;
  const before = changes.length;
  api.put(PODS, updated);
  await until(t, 'told', () => changes.length > before);
  t.ok(changes.at(-1)?.containerIds.includes('f'.repeat(64)));
  t.equal(k8s.lookup(container('f'.repeat(64)))?.attributes['k8s.container.name'], 'redis');
  // A change that does not touch the attributes (readiness) tells nobody.
  const n = changes.length;
  updated.status.conditions = [{ type: 'Ready', status: 'False' }];
  api.put(PODS, updated);
  await new Promise((r) => setTimeout(r, 100));
  t.equal(changes.length, n, 'status conditions alone: no change');
});

t.test('peer names: a Service\'s cluster IP, a pod\'s IP; headless Services, deleted pods and unknown IPs stay IPs', async (t) => {
  const { api, k8s } = await setup(t);
  api.put('/api/v1/services', fixture('service-checkout'));
  api.put('/api/v1/services', fixture('service-redis-headless'));
  api.put(PODS, fixture('pod-redis-statefulset'));
  k8s.start();
  await until(t, 'synced', () => k8s.synced);
  t.equal(k8s.peerName('10.96.45.12'), 'checkout.shop.svc');
  t.equal(k8s.peerName('::ffff:10.96.45.12'), 'checkout.shop.svc', 'a v4 address on a dual-stack socket');
  t.equal(k8s.peerName('10.244.1.9'), 'redis-0');
  t.equal(k8s.peerName('fd00:10:244:1::9'), 'redis-0');
  t.equal(k8s.peerName('10.0.0.1'), undefined);
  api.delete('/api/v1/services', '0c2e4a6b-8d0f-4e2c-9a6b-8d0f2e4c6a8b');
  api.delete(PODS, 'd9e1f3a5-b7c9-4d1e-8f3a-5b7c9d1e3f5a');
  await until(t, 'deleted', () => k8s.peerName('10.96.45.12') === undefined && k8s.peerName('10.244.1.9') === undefined);
  t.equal(k8s.lookup(container(REDIS))?.attributes['k8s.pod.name'], 'redis-0', 'a deleted pod\'s processes keep their pod a while');
  t.match(k8s.stats(), { pods: 0, services: 1, pods_lists: 1, services_lists: 1 });
});
