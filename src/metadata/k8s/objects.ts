// Kubernetes API objects as Lantern keeps them: the few fields metadata needs, read from JSON that
// may be anything. Pure: a malformed object is null, never a throw. Keeping only these fields is
// what bounds memory: a Pod's JSON is tens of kilobytes (managedFields, env, volumes), its record a
// few hundred bytes.
//
// Field meanings: https://kubernetes.io/docs/reference/kubernetes-api/ (Pod v1, ReplicaSet apps/v1,
// Job batch/v1, Service v1, ObjectMeta, OwnerReference).

export interface OwnerRef {
  kind: string;
  name: string;
  uid: string;
}

export interface ObjectIdentity {
  uid: string;
  name: string;
  namespace: string;
  /** metadata.resourceVersion: where a watch resumes. */
  resourceVersion: string;
}

export interface PodContainer {
  name: string;
  /** The 64-hex-digit id the runtime names the container's cgroup after (container.id). */
  id: string;
}

export interface PodRecord extends ObjectIdentity {
  nodeName: string;
  /** The label app.kubernetes.io/name (the recommended labels' application name). */
  appName: string | null;
  /** metadata.labels with string values (process selection's k8s_pod_labels); absent: none read. */
  labels?: Record<string, string>;
  /** The pod shares the node's network namespace: its IP is the node's, not its own. */
  hostNetwork: boolean;
  /** status.phase: Pending, Running, Succeeded, Failed, Unknown. */
  phase: string;
  ips: string[];
  /** The controller among ownerReferences (ReplicaSet, StatefulSet, DaemonSet, Job, …). */
  owner: OwnerRef | null;
  /** Containers that have run, with their ids: regular, init and ephemeral ones. */
  containers: PodContainer[];
}

/** A ReplicaSet or a Job: kept for its own controller (a Deployment, a CronJob). */
export interface ControllerRecord extends ObjectIdentity {
  owner: OwnerRef | null;
}

export interface ServiceRecord extends ObjectIdentity {
  /** spec.clusterIPs (both families on dual-stack clusters); never "None" (headless). */
  clusterIPs: string[];
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);
const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** metadata of any namespaced object, null unless uid, name and namespace are there. */
export function objectIdentity(obj: unknown): ObjectIdentity | null {
  if (!isObject(obj) || !isObject(obj.metadata)) return null;
  const m = obj.metadata;
  const uid = str(m.uid);
  const name = str(m.name);
  const namespace = str(m.namespace);
  if (uid === null || name === null || namespace === null) return null;
  return { uid, name, namespace, resourceVersion: str(m.resourceVersion) ?? '' };
}

/** The object's resourceVersion (a BOOKMARK event carries nothing else), null when absent. */
export function resourceVersionOf(obj: unknown): string | null {
  return isObject(obj) && isObject(obj.metadata) ? str(obj.metadata.resourceVersion) : null;
}

/**
 * The controller among ownerReferences: the one with controller: true (there is at most one), else
 * the only reference of an object written before the field existed.
 */
export function controllerOf(metadata: Json): OwnerRef | null {
  const refs = list(metadata.ownerReferences).filter(isObject);
  const ref = refs.find((r) => r.controller === true) ?? (refs.length === 1 ? refs[0] : undefined);
  if (ref === undefined) return null;
  const kind = str(ref.kind);
  const name = str(ref.name);
  const uid = str(ref.uid);
  return kind !== null && name !== null && uid !== null ? { kind, name, uid } : null;
}

/**
 * containerStatuses[].containerID is "<runtime>://<id>": containerd://, cri-o://, docker://. The
 * cgroup carries the same 64 hex digits (cgroup.ts), which is how a process finds its container.
 */
export function containerIdOf(containerID: unknown): string | null {
  const m = typeof containerID === 'string' ? /^[a-z][a-z0-9.+-]*:\/\/([0-9a-f]{64})$/.exec(containerID) : null;
  return m === null ? null : m[1]!;
}

function podContainers(status: Json): PodContainer[] {
  const out: PodContainer[] = [];
  for (const field of ['containerStatuses', 'initContainerStatuses', 'ephemeralContainerStatuses']) {
    for (const s of list(status[field])) {
      if (!isObject(s)) continue;
      const name = str(s.name);
      const id = containerIdOf(s.containerID);
      if (name !== null && id !== null) out.push({ name, id });
      // The previous run of a restarted container: its processes may still be exiting.
      const last = isObject(s.lastState) && isObject(s.lastState.terminated) ? containerIdOf(s.lastState.terminated.containerID) : null;
      if (name !== null && last !== null && last !== id) out.push({ name, id: last });
    }
  }
  return out;
}

function podIps(status: Json): string[] {
  const ips = new Set<string>();
  for (const p of list(status.podIPs)) if (isObject(p) && str(p.ip) !== null) ips.add(p.ip as string);
  const single = str(status.podIP);
  if (single !== null) ips.add(single);
  return [...ips];
}

export function podFromJson(obj: unknown): PodRecord | null {
  const id = objectIdentity(obj);
  if (id === null) return null;
  const o = obj as Json;
  const metadata = o.metadata as Json;
  const spec = isObject(o.spec) ? o.spec : {};
  const status = isObject(o.status) ? o.status : {};
  const labels = isObject(metadata.labels) ? metadata.labels : {};
  return {
    ...id,
    nodeName: str(spec.nodeName) ?? '',
    appName: str(labels['app.kubernetes.io/name']),
    labels: Object.fromEntries(Object.entries(labels).filter((e): e is [string, string] => typeof e[1] === 'string')),
    hostNetwork: spec.hostNetwork === true,
    phase: str(status.phase) ?? 'Unknown',
    ips: podIps(status),
    owner: controllerOf(metadata),
    containers: podContainers(status),
  };
}

export function controllerFromJson(obj: unknown): ControllerRecord | null {
  const id = objectIdentity(obj);
  return id === null ? null : { ...id, owner: controllerOf((obj as Json).metadata as Json) };
}

export function serviceFromJson(obj: unknown): ServiceRecord | null {
  const id = objectIdentity(obj);
  if (id === null) return null;
  const spec = isObject((obj as Json).spec) ? (obj as Json).spec as Json : {};
  const ips = new Set<string>();
  for (const ip of [...list(spec.clusterIPs), spec.clusterIP]) {
    if (typeof ip === 'string' && ip !== '' && ip !== 'None') ips.add(ip);
  }
  return { ...id, clusterIPs: [...ips] };
}
