// End to end on this machine: real processes in cgroups named as containerd names a pod's
// containers (test/helpers/cgroups.ts), ProcessMetadata reading /proc with the pod store fed by a
// local API server. A resource read before the pod was known is corrected when the pod arrives.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import t, { type Test } from 'tap';
import { Logger } from '../../../src/log.js';
import { KubernetesMetadata } from '../../../src/metadata/k8s/kubernetes-metadata.js';
import { ProcessMetadata } from '../../../src/metadata/process-metadata.js';
import { cgroupV2Mount, makeCgroup, randomContainerId } from '../../helpers/cgroups.js';
import { FakeKubeApi } from '../../helpers/fake-kube-api.js';
import { fixture } from './fixtures.js';

const PODS = '/api/v1/pods';
const v2 = cgroupV2Mount();

/** `sleep` in a containerd pod container's cgroup (v2, systemd driver), with `env`. */
async function inPodContainer(t: Test, podUid: string, env: NodeJS.ProcessEnv = {}): Promise<{ child: ChildProcess; id: string }> {
  const id = randomContainerId();
  const cg = makeCgroup(v2!, [`lantern-test-${process.pid}.slice`, `kubepods-besteffort-pod${podUid.replaceAll('-', '_')}.slice`, `cri-containerd-${id}.scope`]);
  const child = spawn('sh', ['-c', 'read go; exec sleep 60'], { stdio: ['pipe', 'ignore', 'inherit'], env: { PATH: process.env.PATH, ...env } });
  t.teardown(async () => {
    child.kill('SIGKILL');
    if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
    await cg.remove();
  });
  cg.add(child.pid!);
  child.stdin!.end('go\n');
  // Until sh has exec'd sleep (the resource is read of the program that runs).
  const until = Date.now() + 5000;
  while (readFileSync(`/proc/${child.pid}/comm`, 'utf8').trim() !== 'sleep' && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  t.match(readFileSync(`/proc/${child.pid}/cgroup`, 'utf8'), `cri-containerd-${id}.scope`);
  return { child, id };
}

/** A local API server and the pod store reading it, for node-a. */
async function startApi(t: Test): Promise<{ api: FakeKubeApi; k8s: KubernetesMetadata }> {
  const api = await new FakeKubeApi().start();
  t.teardown(() => api.stop());
  const k8s = new KubernetesMetadata({ apiUrl: api.url, tokenFile: null, ca: null, nodeName: 'node-a', source: 'configured' },
    new Logger('warn', false, { write: () => undefined }));
  t.teardown(() => k8s.stop());
  return { api, k8s };
}

async function eventually(t: Test, what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  t.ok(cond(), what);
}

t.test('a process in a pod\'s container gets the pod\'s attributes; read before the pod arrived, corrected after', { skip: v2 === null ? 'no cgroup v2 mount' : false }, async (t) => {
  const { api, k8s } = await startApi(t);
  const metadata = new ProcessMetadata({ base: { 'host.name': 'node-a' }, pods: k8s });
  api.put('/apis/apps/v1/replicasets', fixture('replicaset-checkout'));
  k8s.start();
  await eventually(t, 'synced', () => k8s.synced);

  const pod = fixture('pod-checkout');
  const { child, id } = await inPodContainer(t, pod.metadata.uid);
  const before = metadata.resource(child.pid!);
  t.match(before.attributes, { 'service.name': 'sleep', 'container.id': id, 'k8s.pod.uid': pod.metadata.uid }, 'before the pod is known: the program');
  t.equal(before.attributes['k8s.pod.name'], undefined);

  pod.status.containerStatuses[0].containerID = `containerd://${id}`;
  api.put(PODS, pod);
  await eventually(t, 'the resource follows the pod', () => metadata.resource(child.pid!).attributes['k8s.deployment.name'] === 'checkout');
  const after = metadata.resource(child.pid!);
  t.match(after.attributes, {
    'service.name': 'checkout', 'service.namespace': 'shop', 'k8s.pod.name': 'checkout-7d9c6b5f4-x2x8q', 'k8s.pod.uid': pod.metadata.uid,
    'k8s.namespace.name': 'shop', 'k8s.container.name': 'app', 'k8s.node.name': 'node-a', 'k8s.replicaset.name': 'checkout-7d9c6b5f4',
    'k8s.deployment.name': 'checkout', 'container.id': id, 'container.runtime.name': 'containerd', 'process.executable.name': 'sleep',
  });
  t.not(after.key, before.key, 'a new resource (its own key)');
  t.equal(after.key.split(':').slice(0, 2).join(':'), before.key.split(':').slice(0, 2).join(':'), 'of the same process');
  // Once when the pod arrived, once more when its ReplicaSet's Deployment did (one, if that came first).
  t.ok([1, 2].includes(metadata.stats().reloads), `read again on the pod's changes only (${metadata.stats().reloads})`);
  t.equal(metadata.resource(child.pid!).key, after.key, 'then cached');
});

t.test('service.name: the process\'s OTEL_SERVICE_NAME first, a StatefulSet pod without the label by its workload', { skip: v2 === null ? 'no cgroup v2 mount' : false }, async (t) => {
  const { api, k8s } = await startApi(t);
  const metadata = new ProcessMetadata({ base: {}, pods: k8s });
  const redis = fixture('pod-redis-statefulset');
  const a = await inPodContainer(t, redis.metadata.uid);
  const b = await inPodContainer(t, redis.metadata.uid, { OTEL_SERVICE_NAME: 'cache-sidecar' });
  redis.status.containerStatuses = [
    { name: 'redis', containerID: `docker://${a.id}`, ready: true, restartCount: 0 },
    { name: 'exporter', containerID: `docker://${b.id}`, ready: true, restartCount: 0 },
  ];
  api.put(PODS, redis);
  k8s.start();
  await eventually(t, 'synced', () => k8s.synced);
  t.match(metadata.resource(a.child.pid!).attributes, { 'service.name': 'redis', 'k8s.statefulset.name': 'redis', 'k8s.container.name': 'redis' });
  t.match(metadata.resource(b.child.pid!).attributes, { 'service.name': 'cache-sidecar', 'k8s.container.name': 'exporter', 'k8s.pod.name': 'redis-0' });
});
