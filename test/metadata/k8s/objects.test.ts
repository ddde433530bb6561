// API JSON → the records kept: recorded-looking objects of each kind, and what malformed input gives.
import t from 'tap';
import { containerIdOf, controllerFromJson, podFromJson, serviceFromJson } from '../../../src/metadata/k8s/objects.js';
import { fixture } from './fixtures.js';

t.test('a Deployment\'s pod: identity, label, owner, IP, both containers by id', async (t) => {
  const p = podFromJson(fixture('pod-checkout'));
  t.match(p, {
    uid: '3f1c2b7e-5d4a-4c8e-9b2f-6a1d0e9c8b7a', name: 'checkout-7d9c6b5f4-x2x8q', namespace: 'shop', nodeName: 'node-a',
    resourceVersion: '48213', appName: 'checkout', hostNetwork: false, phase: 'Running', ips: ['10.244.1.23'],
    owner: { kind: 'ReplicaSet', name: 'checkout-7d9c6b5f4', uid: '8e2a4c6d-1b3f-4a5e-8c7d-9f0e1a2b3c4d' },
  });
  t.same(p?.containers, [
    { name: 'app', id: '9a4e1f6c2b8d3e7a5c0f4b9d2e6a8c1f3b7d5e9a2c4f6b8d0e1a3c5f7b9d2e4a' },
    { name: 'envoy', id: '4c7b2e9f1a6d3c8e5b0a7f2d9c4e1b6a8f3d5c0e7b2a9f4d1c6e8b3a5f0d7c2e' },
  ]);
  t.notOk(JSON.stringify(p).includes('managedFields'), 'nothing else is kept');
});

t.test('a CronJob\'s pod under CRI-O: init container, the previous run of a restarted container', async (t) => {
  const p = podFromJson(fixture('pod-report-cronjob'));
  t.same(p?.containers.map((c) => `${c.name}:${c.id.slice(0, 6)}`), ['report:5d7f9a', 'report:2b4d6f', 'fetch-data:7e1a3c']);
  t.equal(p?.owner?.kind, 'Job');
  t.equal(p?.appName, null, 'no app.kubernetes.io/name label');
});

t.test('a StatefulSet pod (docker): dual-stack IPs', async (t) => {
  const p = podFromJson(fixture('pod-redis-statefulset'));
  t.same(p?.ips, ['10.244.1.9', 'fd00:10:244:1::9']);
  t.match(p?.owner, { kind: 'StatefulSet', name: 'redis' });
  t.equal(p?.containers[0]?.id, '0e2c4a6b8d0f1e3c5a7b9d1f3e5c7a9b1d3f5e7c9a1b3d5f7e9c1a3b5d7f9e1c');
});

t.test('owners of ReplicaSets and Jobs; Services with and without a cluster IP', async (t) => {
  t.match(controllerFromJson(fixture('replicaset-checkout')), { name: 'checkout-7d9c6b5f4', owner: { kind: 'Deployment', name: 'checkout' } });
  t.match(controllerFromJson(fixture('job-nightly-report')), { owner: { kind: 'CronJob', name: 'nightly-report' } });
  t.match(serviceFromJson(fixture('service-checkout')), { name: 'checkout', namespace: 'shop', clusterIPs: ['10.96.45.12'] });
  t.same(serviceFromJson(fixture('service-redis-headless'))?.clusterIPs, [], 'headless: no IP to name');
});

t.test('the owner is the controller; an old object\'s only reference counts', async (t) => {
  const base = { metadata: { uid: 'u', name: 'n', namespace: 'ns' } };
  const ref = (kind: string, controller?: boolean) => ({ kind, name: kind.toLowerCase(), uid: `${kind}-uid`, ...(controller !== undefined ? { controller } : {}) });
  const ownerOf = (refs: unknown[]) => controllerFromJson({ metadata: { ...base.metadata, ownerReferences: refs } })?.owner;
  t.match(ownerOf([ref('ConfigMap', false), ref('ReplicaSet', true)]), { kind: 'ReplicaSet' });
  t.match(ownerOf([ref('ReplicaSet')]), { kind: 'ReplicaSet' });
  t.equal(ownerOf([ref('A'), ref('B')]), null, 'two references, none the controller');
  t.equal(ownerOf([{ kind: 'ReplicaSet', name: 5, uid: 'x', controller: true }]), null, 'malformed reference');
});

t.test('container ids: every runtime\'s scheme, nothing else', async (t) => {
  const id = 'a'.repeat(64);
  for (const scheme of ['containerd', 'cri-o', 'docker']) t.equal(containerIdOf(`${scheme}://${id}`), id, scheme);
  for (const bad of [id, `containerd://${id.slice(1)}`, `containerd://${id.toUpperCase()}`, '', 'containerd://', 42, null, `docker://${id}x`]) {
    t.equal(containerIdOf(bad), null, JSON.stringify(bad));
  }
});

t.test('malformed objects are null, never a throw', async (t) => {
  for (const bad of [null, 1, 'x', [], {}, { metadata: null }, { metadata: { name: 'a', namespace: 'b' } }, { metadata: { uid: 'u', name: 'a' } },
    { metadata: { uid: 'u', name: 'a', namespace: 'b' }, status: 'weird', spec: [] }]) {
    const p = podFromJson(bad);
    if (p !== null) t.same(p.containers, [], 'a pod with nonsense fields has no containers');
    t.doesNotThrow(() => serviceFromJson(bad));
    t.doesNotThrow(() => controllerFromJson(bad));
  }
  t.equal(podFromJson({ metadata: { uid: 'u', name: 'a' } }), null);
  t.match(podFromJson({ metadata: { uid: 'u', name: 'a', namespace: 'b' }, status: { containerStatuses: [null, { name: 'x', containerID: 7 }, 'y'] } }), { containers: [] });
});
