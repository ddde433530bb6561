// This node's pods, as the pod reflector keeps them: found by UID (the kubepods cgroup path), by
// container id (every runtime's cgroup name) and by IP (a peer's address). Bounded by `maxPods`
// (a node runs a hundred or so; the kubelet's default limit is 110). Listeners hear of a pod whose
// metadata changed, so resources read before the pod was known are read again.
//
// A deleted pod stays findable by UID and container id for `keepDeletedMs`: its processes' last
// exchanges are often handled after the API said it is gone. Its IPs go at once: the next pod may
// get them.
import type { PodRecord } from './objects.js';
import type { ReflectorHandler } from './reflector.js';

export interface PodChange {
  podUid: string;
  /** Its containers' ids, before and after the change. */
  containerIds: string[];
}

export interface PodStoreOptions {
  maxPods?: number;
  keepDeletedMs?: number;
  now?: () => number;
}

/** What makes a pod's resource attributes (and labels, which process selection reads): a change elsewhere (status conditions, resourceVersion) does not. */
function digest(p: PodRecord): string {
  return JSON.stringify([p.name, p.namespace, p.nodeName, p.appName, p.owner, p.containers, p.labels]);
}

/** Only a running pod on its own network namespace owns its IP. */
const ownsIps = (p: PodRecord): boolean => !p.hostNetwork && p.phase !== 'Succeeded' && p.phase !== 'Failed';

export class PodStore implements ReflectorHandler<PodRecord> {
  readonly #pods = new Map<string, PodRecord>();
  readonly #byContainer = new Map<string, { uid: string; name: string }>();
  readonly #byIp = new Map<string, string>();
  /** UID → when the API said it was deleted. */
  readonly #deleted = new Map<string, number>();
  readonly #listeners: Array<(c: PodChange) => void> = [];
  readonly #max: number;
  readonly #keepDeletedMs: number;
  readonly #now: () => number;
  #dropped = 0;

  constructor(opts: PodStoreOptions = {}) {
    this.#max = opts.maxPods ?? 1024;
    this.#keepDeletedMs = opts.keepDeletedMs ?? 120_000;
    this.#now = opts.now ?? Date.now;
  }

  onChange(listener: (c: PodChange) => void): void {
    this.#listeners.push(listener);
  }

  replace(items: PodRecord[]): void {
    const listed = new Set(items.map((p) => p.uid));
    for (const [uid, p] of this.#pods) if (!listed.has(uid) && !this.#deleted.has(uid)) this.remove(p);
    for (const p of items) this.upsert(p);
  }

  upsert(p: PodRecord): void {
    this.#sweep();
    const old = this.#pods.get(p.uid);
    if (old === undefined && this.#pods.size >= this.#max) {
      this.#dropped++;
      return;
    }
    if (old !== undefined) this.#unindex(old);
    this.#deleted.delete(p.uid);
    this.#pods.set(p.uid, p);
    for (const c of p.containers) this.#byContainer.set(c.id, { uid: p.uid, name: c.name });
    if (ownsIps(p)) for (const ip of p.ips) this.#byIp.set(ip, p.uid);
    if (old !== undefined && digest(old) === digest(p)) return;
    const ids = new Set([...(old?.containers ?? []), ...p.containers].map((c) => c.id));
    for (const l of this.#listeners) l({ podUid: p.uid, containerIds: [...ids] });
  }

  remove(p: PodRecord): void {
    const known = this.#pods.get(p.uid);
    if (known === undefined || this.#deleted.has(p.uid)) return;
    for (const ip of known.ips) if (this.#byIp.get(ip) === p.uid) this.#byIp.delete(ip);
    this.#deleted.set(p.uid, this.#now());
    this.#sweep();
  }

  byUid(uid: string): PodRecord | undefined {
    return this.#pods.get(uid);
  }

  /** The pod and container name of a container id. */
  byContainer(id: string): { pod: PodRecord; container: string } | undefined {
    const hit = this.#byContainer.get(id);
    const pod = hit !== undefined ? this.#pods.get(hit.uid) : undefined;
    return pod !== undefined && hit !== undefined ? { pod, container: hit.name } : undefined;
  }

  byIp(ip: string): PodRecord | undefined {
    const uid = this.#byIp.get(ip);
    return uid !== undefined ? this.#pods.get(uid) : undefined;
  }

  /** Pods whose controller is `ownerUid` (a ReplicaSet or Job whose own owner just became known). */
  ownedBy(ownerUid: string): PodRecord[] {
    return [...this.#pods.values()].filter((p) => p.owner?.uid === ownerUid);
  }

  /** Tell listeners again about `p` (its owner's owner became known). */
  touch(p: PodRecord): void {
    for (const l of this.#listeners) l({ podUid: p.uid, containerIds: p.containers.map((c) => c.id) });
  }

  stats(): { pods: number; pods_dropped: number } {
    return { pods: this.#pods.size - this.#deleted.size, pods_dropped: this.#dropped };
  }

  #unindex(p: PodRecord): void {
    for (const c of p.containers) if (this.#byContainer.get(c.id)?.uid === p.uid) this.#byContainer.delete(c.id);
    for (const ip of p.ips) if (this.#byIp.get(ip) === p.uid) this.#byIp.delete(ip);
  }

  /** Forgets pods deleted long enough ago (the map is in deletion order). */
  #sweep(): void {
    const before = this.#now() - this.#keepDeletedMs;
    for (const [uid, at] of this.#deleted) {
      if (at > before) break;
      this.#deleted.delete(uid);
      const p = this.#pods.get(uid);
      if (p !== undefined) this.#unindex(p);
      this.#pods.delete(uid);
    }
  }
}
