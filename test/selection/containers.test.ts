// Rules over containers and pods with real processes: a `sleep` moved into cgroups shaped like a
// container runtime's (test/helpers/cgroups.ts), pods from a PodStore fed as the reflector would.
// Judged in user space (no BPF object registered: the kernel side is selection-bpf.test.ts).
import { spawn } from 'node:child_process';
import t from 'tap';
import { type SelectionRule, defaultSelectionConfig } from '../../src/config/selection.js';
import type { PodRecord } from '../../src/metadata/k8s/objects.js';
import { PodStore } from '../../src/metadata/k8s/pod-store.js';
import { ProcessSelection } from '../../src/selection/process-selection.js';
import { cgroupV2Mount, makeCgroup, randomContainerId } from '../helpers/cgroups.js';

const v2 = cgroupV2Mount();

function pod(uid: string, namespace: string, containerId: string, labels: Record<string, string>): PodRecord {
  return { uid, name: `p-${uid.slice(0, 4)}`, namespace, resourceVersion: '1', nodeName: 'n', appName: null, hostNetwork: false,
    phase: 'Running', ips: [], owner: null, containers: [{ name: 'app', id: containerId }], labels };
}

t.test('container and pod rules, decisions changing when the pod arrives or its labels change', { skip: v2 === null ? 'no cgroup v2 mount' : false }, async (t) => {
  const uid = '3c1f6a2e-8d4b-4c7e-9a1f-2b3c4d5e6f70';
  const inPod = randomContainerId();
  const plain = randomContainerId();
 const podCg = makeCgroup(v2!, [`lantern-sel-${process.pid}-a.slice`, `kubepods-besteffort-pod${uid.replaceAll('-', '_')}.slice`, `cri-containerd-${inPod}.scope`]);
  const dockerCg = makeCgroup(v2!, [`lantern-sel-${process.pid}-b.slice`, `docker-${plain}.scope`]);
  const spawnSleep = () => spawn('sleep', ['30'], { stdio: 'ignore' });
  const [a, b, c] = [spawnSleep(), spawnSleep(), spawnSleep()];
  t.teardown(async () => {
    for (const p of [a, b, c]) p.kill();
    await new Promise((r) => setTimeout(r, 200));
    await podCg.remove();
    await dockerCg.remove();
  });
  podCg.add(a.pid!);
  dockerCg.add(b.pid!);
  const pods = new PodStore();
  const selection = (exclude: SelectionRule[], include: SelectionRule[] = []): ProcessSelection =>
    new ProcessSelection({ selection: { ...defaultSelectionConfig(), defaultExcludes: false, exclude, include }, pids: [], pods });

  const anyContainer = selection([{ container: true }]);
  t.same([a, b, c].map((p) => anyContainer.decision(p.pid!)?.traced), [false, false, true], 'container: true excludes both containers, not the plain sleep');
  const byId = selection([{ container: plain.slice(0, 12) }]);
  t.same([a, b, c].map((p) => byId.decision(p.pid!)?.traced), [true, false, true], 'container id prefix');
  const notInContainer = selection([], [{ container: false }]);
  t.same([a, b, c].map((p) => notInContainer.decision(p.pid!)?.traced), [false, false, true], 'include container: false');

  const byNs = selection([{ k8sNamespace: 'team-*' }]);
  const byLabel = selection([], [{ k8sPodLabels: { app: 'shop', tier: '*' } }]);
  t.equal(byNs.decision(a.pid!)?.traced, true, 'pod not known yet: a namespace rule does not match');
  t.equal(byLabel.decision(a.pid!)?.traced, false, 'pod not known yet: a label include does not match');
  pods.upsert(pod(uid, 'team-a', inPod, { app: 'shop', tier: 'web' }));
  t.same(byNs.decision(a.pid!), { traced: false, reason: 'selection.exclude[0]' }, 'the pod arrives: its namespace excludes the process');
  t.same(byLabel.decision(a.pid!), { traced: true, reason: 'selection.include[0]' }, 'and its labels include it');
  t.equal(byLabel.decision(b.pid!)?.traced, false, 'a container of no pod: not included');
  pods.upsert(pod(uid, 'team-a', inPod, { app: 'shop' }));
  t.equal(byLabel.decision(a.pid!)?.traced, false, 'label tier removed: no longer included');
  t.ok(byLabel.stats().decisions_changed! >= 2, 'changes counted');
  t.ok(byLabel.stats().processes_excluded! >= 1, 'excluded processes counted');
});
