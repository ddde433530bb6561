// Containers from /proc/<pid>/cgroup as each runtime writes it (src/metadata/cgroup.ts cites the
// layouts): table-driven over whole files, and garbage never throws.
import t from 'tap';
import { type CgroupContainer, containerAttributes, parseCgroup } from '../../src/metadata/cgroup.js';
import { XorShift32 } from '../helpers/prng.js';

const ID = '3f4e8c2a9b1d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f';
const ID2 = 'b'.repeat(64);
const POD = '1f2b3c4d-5e6f-4a1b-8c9d-0e1f2a3b4c5d';
/** systemd slice names cannot hold '-' inside a unit name part: the kubelet writes the UID with '_'. */
const POD_ = POD.replaceAll('-', '_');

/** A cgroup v1 file: one line per hierarchy, every controller at `path`, as docker's cgroupfs driver leaves it. */
function v1(path: string, unified = '/'): string {
  const controllers = ['hugetlb', 'pids', 'net_cls,net_prio', 'perf_event', 'memory', 'devices', 'freezer', 'cpuset', 'blkio', 'cpu,cpuacct'];
  return [...controllers.map((c, i) => `${12 - i}:${c}:${path}`), '2:rdma:/', `1:name=systemd:${path}`, `0::${unified}`].join('\n') + '\n';
}

const cases: Array<[string, string, CgroupContainer | null]> = [
  // --- docker ---
  ['docker, systemd driver, cgroup v2', `0::/system.slice/docker-${ID}.scope\n`, { id: ID, runtime: 'docker', podUid: null }],
  ['docker, cgroupfs driver, cgroup v1 (every hierarchy, containerd\'s unified line)', v1(`/docker/${ID}`, '/system.slice/containerd.service'), { id: ID, runtime: 'docker', podUid: null }],
  ['docker, cgroupfs driver, cgroup v2', `0::/docker/${ID}\n`, { id: ID, runtime: 'docker', podUid: null }],
  ['docker, systemd driver, cgroup v1', v1(`/system.slice/docker-${ID}.scope`), { id: ID, runtime: 'docker', podUid: null }],
  ['docker with systemd inside the container (its own init.scope below the container\'s)', `0::/system.slice/docker-${ID}.scope/init.scope\n`, { id: ID, runtime: 'docker', podUid: null }],
  ['docker in docker: the inner container', `0::/docker/${ID2}/docker/${ID}\n`, { id: ID, runtime: 'docker', podUid: null }],
  ['rootless docker, systemd driver (the user\'s delegated slice)', `0::/user.slice/user-1000.slice/user@1000.service/user.slice/docker-${ID}.scope\n`, { id: ID, runtime: 'docker', podUid: null }],
  // --- Kubernetes + containerd ---
  ['kubelet + containerd, systemd driver, v2, Burstable', `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD_}.slice/cri-containerd-${ID}.scope\n`, { id: ID, runtime: 'containerd', podUid: POD }],
  ['kubelet + containerd, systemd driver, v2, BestEffort', `0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${POD_}.slice/cri-containerd-${ID}.scope\n`, { id: ID, runtime: 'containerd', podUid: POD }],
  ['kubelet + containerd, systemd driver, v2, Guaranteed (no QoS slice)', `0::/kubepods.slice/kubepods-pod${POD_}.slice/cri-containerd-${ID}.scope\n`, { id: ID, runtime: 'containerd', podUid: POD }],
  ['kubelet + containerd, systemd driver, v1', v1(`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD_}.slice/cri-containerd-${ID}.scope`), { id: ID, runtime: 'containerd', podUid: POD }],
  ['containerd\'s CRI plugin naming systemd cgroups itself (slice:prefix:id, kind nodes)', `1:name=systemd:/system.slice/containerd.service/kubepods-burstable-pod${POD_}.slice:cri-containerd:${ID}\n0::/\n`, { id: ID, runtime: 'containerd', podUid: POD }],
  ['kubelet, cgroupfs driver, v1: the runtime is not in the path', v1(`/kubepods/burstable/pod${POD}/${ID}`), { id: ID, runtime: null, podUid: POD }],
  ['kubelet, cgroupfs driver, v2, Guaranteed', `0::/kubepods/pod${POD}/${ID}\n`, { id: ID, runtime: null, podUid: POD }],
  ['a static pod: its cgroup "UID" is the manifest hash, not an API UID', `0::/kubepods/burstable/pod${'c'.repeat(32)}/${ID}\n`, { id: ID, runtime: null, podUid: null }],
  ['agent in its own cgroup namespace (paths relative to its cgroup)', `0::/../../kubepods-besteffort.slice/kubepods-besteffort-pod${POD_}.slice/cri-containerd-${ID}.scope\n`, { id: ID, runtime: 'containerd', podUid: POD }],
  ['nerdctl, systemd driver', `0::/system.slice/nerdctl-${ID}.scope\n`, { id: ID, runtime: 'containerd', podUid: null }],
  ['kubelet + docker (dockershim / cri-dockerd), systemd driver', `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD_}.slice/docker-${ID}.scope\n`, { id: ID, runtime: 'docker', podUid: POD }],
  // --- CRI-O ---
  ['CRI-O, systemd driver, v2 (OpenShift)', `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD_}.slice/crio-${ID}.scope\n`, { id: ID, runtime: 'cri-o', podUid: POD }],
  ['CRI-O, systemd driver, a container with its own sub-cgroup', `0::/kubepods.slice/kubepods-pod${POD_}.slice/crio-${ID}.scope/container\n`, { id: ID, runtime: 'cri-o', podUid: POD }],
  ['CRI-O, cgroupfs driver', `0::/kubepods/besteffort/pod${POD}/crio-${ID}\n`, { id: ID, runtime: 'cri-o', podUid: POD }],
  ['CRI-O\'s conmon watches the container from outside it', `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD_}.slice/crio-conmon-${ID}.scope\n`, null],
  // --- podman ---
  ['podman rootful, v2 (crun\'s "container" leaf)', `0::/machine.slice/libpod-${ID}.scope/container\n`, { id: ID, runtime: 'podman', podUid: null }],
  ['podman rootful, v2, no leaf', `0::/machine.slice/libpod-${ID}.scope\n`, { id: ID, runtime: 'podman', podUid: null }],
  ['podman rootless, v2', `0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${ID}.scope/container\n`, { id: ID, runtime: 'podman', podUid: null }],
  ['podman pod: the container, not the pod\'s id in its slice', `0::/machine.slice/machine-libpod_pod_${ID2}.slice/libpod-${ID}.scope/container\n`, { id: ID, runtime: 'podman', podUid: null }],
  ['podman\'s conmon', `0::/machine.slice/libpod-conmon-${ID}.scope\n`, null],
  ['podman\'s conmon in a pod: not the pod\'s id either', `0::/machine.slice/machine-libpod_pod_${ID2}.slice/libpod-conmon-${ID}.scope\n`, null],
  ['podman, cgroupfs driver, v1', v1(`/libpod_parent/libpod-${ID}`), { id: ID, runtime: 'podman', podUid: null }],
  // --- others with a bare id ---
  ['ECS on EC2: /ecs/<task>/<container>', v1(`/ecs/${'d'.repeat(32)}/${ID}`), { id: ID, runtime: null, podUid: null }],
  // --- not in a container ---
  ['a login session', '0::/user.slice/user-0.slice/session-1.scope\n', null],
  ['a systemd service', '0::/system.slice/nginx.service\n', null],
  ['the root cgroup', '0::/\n', null],
  ['init', '0::/init.scope\n', null],
  ['a hybrid host whose memory hierarchy names a 32-digit id (not a container)', '9:name=systemd:/\n8:pids:/\n4:memory:/process_api/f78ca1cb641718f2a391cffb0a04d00d\n0::/\n', null],
  ['a 64-digit id inside a longer hex name is no id', `0::/system.slice/${ID}ff.scope\n`, null],
  ['a slice named with an id is no container', `0::/machine.slice/machine-libpod_pod_${ID2}.slice\n`, null],
  ['empty', '', null],
];

t.test('recorded cgroup files of each runtime', async (t) => {
  for (const [name, text, want] of cases) t.strictSame(parseCgroup(text), want, name);
});

t.test('resource attributes', async (t) => {
  t.same(containerAttributes(parseCgroup(cases[7]![1])), { 'container.id': ID, 'container.runtime.name': 'containerd', 'k8s.pod.uid': POD });
  t.same(containerAttributes({ id: ID, runtime: null, podUid: null }), { 'container.id': ID }, 'nothing guessed');
  t.same(containerAttributes(null), {});
});

t.test('garbage never throws, and whatever is found is a container id', async (t) => {
  const pieces = ['/', ':', '0::', '12:pids:', '-', '.scope', '.slice', 'docker', 'cri-containerd-', 'crio-conmon-', 'libpod-', 'pod', POD_, POD, ID, '..', '\n', ' ', '\0', 'kubepods', '_'];
  let found = 0;
  for (let seed = 1; seed <= 3000; seed++) {
    const r = new XorShift32(seed);
    let text = '';
    for (let i = r.int(30); i > 0; i--) text += r.chance(0.3) ? r.latin1(r.int(20)) : r.pick(pieces);
    let got: CgroupContainer | null = null;
    try {
      got = parseCgroup(text);
    } catch (e) {
      t.fail(`seed ${seed} threw ${String(e)}`);
      continue;
    }
    if (got === null) continue;
    found++;
    if (!/^[0-9a-f]{64}$/.test(got.id) || (got.podUid !== null && !/^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$/.test(got.podUid))) {
      t.fail(`seed ${seed}: ${JSON.stringify(got)} from ${JSON.stringify(text)}`);
    }
  }
  t.ok(found > 0, `${found} random files named a container (the generator reaches the parser's paths)`);
});
