// service.name's precedence (src/metadata/service-name.ts), and the pure pieces that feed it:
// the workload of a pod's owners and the attributes a pod gives.
import t from 'tap';
import { podMetadata } from '../../../src/metadata/k8s/pod-attributes.js';
import { podFromJson } from '../../../src/metadata/k8s/objects.js';
import { workloadOf } from '../../../src/metadata/k8s/workload.js';
import { serviceName } from '../../../src/metadata/service-name.js';
import { fixture } from './fixtures.js';

t.test('service.name: environment, label, workload, container, program — first given wins', async (t) => {
  const all = { env: 'from-env', appLabel: 'from-label', workload: 'from-workload', container: 'from-container', program: 'from-program' };
  t.equal(serviceName(all), 'from-env');
  t.equal(serviceName({ ...all, env: null }), 'from-label');
  t.equal(serviceName({ ...all, env: null, appLabel: null }), 'from-workload');
  t.equal(serviceName({ ...all, env: null, appLabel: null, workload: null }), 'from-container');
  t.equal(serviceName({ env: null, program: 'from-program' }), 'from-program', 'outside Kubernetes: the program, as before');
  t.equal(serviceName({ ...all, env: null, appLabel: '  ', workload: '' }), 'from-container', 'blank names are not names');
});

t.test('workloads: each owner kind, and the owner\'s owner', async (t) => {
  const rs = { kind: 'ReplicaSet', name: 'checkout-7d9c6b5f4', uid: 'r' };
  const job = { kind: 'Job', name: 'nightly-report-29121840', uid: 'j' };
  t.same(workloadOf(rs, { kind: 'Deployment', name: 'checkout', uid: 'd' }),
    { attributes: { 'k8s.replicaset.name': 'checkout-7d9c6b5f4', 'k8s.deployment.name': 'checkout' }, name: 'checkout' });
  t.same(workloadOf(rs, undefined), { attributes: { 'k8s.replicaset.name': 'checkout-7d9c6b5f4' }, name: null }, 'Deployment not known yet');
  t.same(workloadOf(rs, null), { attributes: { 'k8s.replicaset.name': 'checkout-7d9c6b5f4' }, name: null }, 'a bare ReplicaSet names no workload');
  t.same(workloadOf(job, { kind: 'CronJob', name: 'nightly-report', uid: 'c' }),
    { attributes: { 'k8s.job.name': 'nightly-report-29121840', 'k8s.cronjob.name': 'nightly-report' }, name: 'nightly-report' });
  t.same(workloadOf(job, null), { attributes: { 'k8s.job.name': 'nightly-report-29121840' }, name: 'nightly-report-29121840' });
  t.same(workloadOf({ kind: 'StatefulSet', name: 'redis', uid: 's' }), { attributes: { 'k8s.statefulset.name': 'redis' }, name: 'redis' });
  t.same(workloadOf({ kind: 'DaemonSet', name: 'fluent-bit', uid: 'ds' }), { attributes: { 'k8s.daemonset.name': 'fluent-bit' }, name: 'fluent-bit' });
  t.same(workloadOf({ kind: 'Rollout', name: 'x', uid: 'x' }), { attributes: {}, name: null }, 'a kind the conventions do not name');
  t.same(workloadOf(rs, { kind: 'CronJob', name: 'odd', uid: 'o' }), { attributes: { 'k8s.replicaset.name': 'checkout-7d9c6b5f4' }, name: null }, 'not a ReplicaSet\'s owner kind');
  t.same(workloadOf(null), { attributes: {}, name: null }, 'a bare pod');
});

t.test('a pod\'s attributes for one of its containers', async (t) => {
  const pod = podFromJson(fixture('pod-checkout'))!;
  const m = podMetadata(pod, 'app', workloadOf(pod.owner, { kind: 'Deployment', name: 'checkout', uid: 'd' }));
  t.same(m.attributes, {
    'k8s.pod.name': 'checkout-7d9c6b5f4-x2x8q', 'k8s.pod.uid': '3f1c2b7e-5d4a-4c8e-9b2f-6a1d0e9c8b7a', 'k8s.namespace.name': 'shop',
    'k8s.replicaset.name': 'checkout-7d9c6b5f4', 'k8s.deployment.name': 'checkout', 'service.namespace': 'shop',
    'k8s.node.name': 'node-a', 'k8s.container.name': 'app',
  });
  t.same({ appLabel: m.appLabel, workload: m.workload, container: m.container }, { appLabel: 'checkout', workload: 'checkout', container: 'app' });
  t.equal(podMetadata(pod, null, workloadOf(null)).attributes['k8s.container.name'], undefined, 'container not known: not named');
});
