// Which container a process runs in, from /proc/<pid>/cgroup. Pure: text in, value out, never throws.
//
// The file has one line per hierarchy, "hierarchy-ID:controller-list:cgroup-path" (cgroups(7)):
// many numbered lines under cgroup v1 ("12:pids:/docker/<id>", "1:name=systemd:/…"), the single line
// "0::/…" under v2, both on hybrid hosts. The path may itself contain ':' (see below), so it is
// everything after the second colon.
//
// Every runtime names the container's cgroup after its 64-hex-digit id; where, and with which
// prefix, tells the runtime:
//   docker      systemd driver "/system.slice/docker-<id>.scope"; cgroupfs driver "/docker/<id>"
//   containerd  CRI, systemd driver "…/kubepods-<qos>-pod<uid>.slice/cri-containerd-<id>.scope";
//               nerdctl "/system.slice/nerdctl-<id>.scope"; the CRI plugin's own systemd naming
//               seen on cgroup v1 nodes "…/kubepods-<qos>-pod<uid>.slice:cri-containerd:<id>"
//   CRI-O       systemd driver "…/crio-<id>.scope", cgroupfs "/kubepods/<qos>/pod<uid>/crio-<id>";
//               its monitor "crio-conmon-<id>.scope"
//   podman      "/machine.slice/libpod-<id>.scope" (rootful), "…/user@<uid>.service/user.slice/
//               libpod-<id>.scope" (rootless), with crun's "/container" leaf below it on v2; pods
//               "machine-libpod_pod_<pod id>.slice/libpod-<id>.scope"; the monitor "libpod-conmon-<id>.scope"
//   kubelet, cgroupfs driver: "/kubepods/<qos>/pod<uid>/<id>" (the runtime is not in the path)
// The container's own cgroup is the deepest such segment: below it a container may make its own
// ("docker-<id>.scope/init.scope" with systemd inside), above it sit the slices and pods, and a
// container inside a container ("/docker/<outer>/docker/<inner>") is in the inner one.
//
// conmon (podman's and CRI-O's monitor) lives in a cgroup named after the container it watches but
// runs outside it: it gets no container.id.
//
// An agent in a cgroup namespace of its own sees paths relative to its cgroup ("0::/../../kubepods…"):
// the ".." segments are skipped.

export type ContainerRuntime = 'docker' | 'containerd' | 'cri-o' | 'podman';

export interface CgroupContainer {
  /** The full 64-hex-digit container id (container.id). */
  id: string;
  /** Known when the cgroup's name says it (container.runtime.name). */
  runtime: ContainerRuntime | null;
  /** The Kubernetes pod's UID, from the kubepods hierarchy (k8s.pod.uid). */
  podUid: string | null;
}

/** A container's cgroup: "<prefix>-<id>[.scope]" (or ":" as separator), or the bare id. */
const CONTAINER_SEGMENT = /^(?:(.*?)[-:])?([0-9a-f]{64})(?:\.scope)?$/;
/** Pod UIDs are UUIDs; systemd slice names carry them with '_' for '-'. Static pods' 32-digit hashes are not UIDs the API knows. */
const POD_UID = /(?:^|[-:])pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})(?:\.slice)?(?=$|:)/;

/** What the part before the id says, by its last word. */
function runtimeOf(prefix: string, parent: string | undefined): ContainerRuntime | null | 'monitor' {
  if (prefix === '') return parent === 'docker' ? 'docker' : null;
  if (/(?:^|[-:])conmon$/.test(prefix)) return 'monitor';
  if (/(?:^|[-:])docker$/.test(prefix)) return 'docker';
  if (/(?:^|[-:])(?:cri-containerd|nerdctl)$/.test(prefix)) return 'containerd';
  if (/(?:^|[-:])crio$/.test(prefix)) return 'cri-o';
  if (/(?:^|[-:])libpod$/.test(prefix)) return 'podman';
  return null;
}

/** The container of one cgroup path, or null (a monitor's cgroup, or no container). */
export function containerFromCgroupPath(path: string): CgroupContainer | null {
  const segments = path.split('/').filter((s) => s !== '' && s !== '.' && s !== '..');
  for (let i = segments.length - 1; i >= 0; i--) {
    const m = CONTAINER_SEGMENT.exec(segments[i]!);
    if (m === null) continue;
    const runtime = runtimeOf(m[1] ?? '', segments[i - 1]);
    if (runtime === 'monitor') return null;
    return { id: m[2]!, runtime, podUid: podUidOf(segments.slice(0, i + 1)) };
  }
  return null;
}

function podUidOf(segments: readonly string[]): string | null {
  for (let i = segments.length - 1; i >= 0; i--) {
    const m = POD_UID.exec(segments[i]!);
    if (m !== null) return m[1]!.replaceAll('_', '-');
  }
  return null;
}

/**
 * The container of a process from its /proc/<pid>/cgroup text: the first line whose path names
 * one (lines of one process agree unless a runtime moved it in only some hierarchies).
 */
export function parseCgroup(text: string): CgroupContainer | null {
  for (const line of text.split('\n')) {
    const first = line.indexOf(':');
    const second = first < 0 ? -1 : line.indexOf(':', first + 1);
    if (second < 0) continue;
    const found = containerFromCgroupPath(line.slice(second + 1).trim());
    if (found !== null) return found;
  }
  return null;
}

/** The resource attributes a container gives: container.id, container.runtime.name, k8s.pod.uid. */
export function containerAttributes(c: CgroupContainer | null): Record<string, string> {
  if (c === null) return {};
  const out: Record<string, string> = { 'container.id': c.id };
  // container.runtime.name: what the semantic conventions replaced container.runtime with (semantic-conventions PR 2407).
  if (c.runtime !== null) out['container.runtime.name'] = c.runtime;
  if (c.podUid !== null) out['k8s.pod.uid'] = c.podUid;
  return out;
}
