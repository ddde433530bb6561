// Kubernetes metadata for the agent: this node's pods (list + watch), their owners' owners (GET on
// demand), the cluster's Services (list + watch), put together for ProcessMetadata (a process's
// container → pod attributes) and for the semantic conventions (a peer IP → a name). The API is
// only read; when it cannot be reached, resources are what they are without Kubernetes.
import type { Logger } from '../../log.js';
import type { CgroupContainer } from '../cgroup.js';
import { KubeApiClient } from './api-client.js';
import type { KubeConnection } from './connection.js';
import { type PodRecord, type ServiceRecord, podFromJson, serviceFromJson } from './objects.js';
import { OwnerCache } from './owner-cache.js';
import { type PodMetadata, podMetadata } from './pod-attributes.js';
import { type PodChange, PodStore } from './pod-store.js';
import { ServiceIndex, plainIp } from './peer-names.js';
import { Reflector, type ReflectorOptions } from './reflector.js';
import { workloadOf } from './workload.js';

/** What ProcessMetadata asks of Kubernetes. */
export interface PodMetadataSource {
  /** The pod (and container) of a process's cgroup container, null when not known. */
  lookup(container: CgroupContainer): PodMetadata | null;
  /** Told when what lookup() answers for a pod's containers may have changed. */
  onChange(listener: (change: PodChange) => void): void;
}

export interface KubernetesMetadataOptions {
  /** Reflector settings for tests (backoff, watch timeouts, line bound). */
  reflector?: Pick<ReflectorOptions<unknown>, 'backoff' | 'watchSeconds' | 'maxLineBytes' | 'pageSize' | 'random'>;
  tokenMaxAgeMs?: number;
  maxPods?: number;
  maxServices?: number;
}

export class KubernetesMetadata implements PodMetadataSource {
  readonly pods: PodStore;
  readonly services: ServiceIndex;
  readonly #owners: OwnerCache;
  readonly #podReflector: Reflector<PodRecord>;
  readonly #serviceReflector: Reflector<ServiceRecord>;

  constructor(readonly connection: KubeConnection, log: Logger, opts: KubernetesMetadataOptions = {}) {
    const api = new KubeApiClient(connection, { tokenMaxAgeMs: opts.tokenMaxAgeMs });
    this.pods = new PodStore({ maxPods: opts.maxPods });
    this.services = new ServiceIndex(opts.maxServices);
    this.#owners = new OwnerCache(api, log);
    // A Deployment or CronJob learnt after its pods were: their resources are read again.
    this.#owners.onResolved((uid) => {
      for (const p of this.pods.ownedBy(uid)) this.pods.touch(p);
    });
    const common = { api, log, ...opts.reflector };
    this.#podReflector = new Reflector({
      ...common, what: 'pods', path: '/api/v1/pods', params: { fieldSelector: `spec.nodeName=${connection.nodeName}` },
      decode: podFromJson, handler: this.pods,
    });
    this.#serviceReflector = new Reflector({ ...common, what: 'services', path: '/api/v1/services', decode: serviceFromJson, handler: this.services });
  }

  start(): void {
    this.#podReflector.start();
    this.#serviceReflector.start();
  }

  async stop(): Promise<void> {
    await Promise.all([this.#podReflector.stop(), this.#serviceReflector.stop(), this.#owners.stop()]);
  }

  /** Both lists are in. */
  get synced(): boolean {
    return this.#podReflector.synced && this.#serviceReflector.synced;
  }

  onChange(listener: (change: PodChange) => void): void {
    this.pods.onChange(listener);
  }

  lookup(container: CgroupContainer): PodMetadata | null {
    const hit = this.pods.byContainer(container.id);
    // The container may have (re)started before the pod's status names its id: the pod, without it.
    const pod = hit?.pod ?? (container.podUid !== null ? this.pods.byUid(container.podUid) : undefined);
    if (pod === undefined) return null;
    const parent = pod.owner !== null ? this.#owners.ownerOf(pod.owner, pod.namespace) : null;
    return podMetadata(pod, hit?.container ?? null, workloadOf(pod.owner, parent));
  }

  /** A Service's `name.namespace.svc` for its cluster IP, a pod's name for its IP. */
  peerName(ip: string): string | undefined {
    return this.services.name(ip) ?? this.pods.byIp(plainIp(ip))?.name;
  }

  stats(): Record<string, number> {
    const out: Record<string, number> = { ...this.pods.stats(), ...this.services.stats(), ...this.#owners.stats() };
    for (const [what, r] of [['pods', this.#podReflector], ['services', this.#serviceReflector]] as const) {
      for (const [k, v] of Object.entries(r.stats())) out[`${what}_${k}`] = v;
    }
    return out;
  }
}
