// The controllers of ReplicaSets and Jobs (their Deployment, their CronJob), fetched one by one
// when a pod names them and cached by UID, bounded. A GET per owner rather than a cluster-wide
// watch: a node's pods name a few dozen ReplicaSets, while a cluster keeps ten old ones per
// Deployment. An owner's controller does not change (adoption aside), so entries are not
// refreshed; a failed fetch is tried again after `retryMs`.
import type { Logger } from '../../log.js';
import type { KubeApiClient } from './api-client.js';
import { type OwnerRef, controllerFromJson } from './objects.js';
import { PARENT_KINDS } from './workload.js';
import { InsertionOrder } from '../../fifo.js';

/** The API path of a kind whose controller we want. */
const COLLECTION: Readonly<Record<string, string>> = { ReplicaSet: '/apis/apps/v1', Job: '/apis/batch/v1' };
const PLURAL: Readonly<Record<string, string>> = { ReplicaSet: 'replicasets', Job: 'jobs' };

interface Entry {
  /** undefined: not known (being fetched, or failed at `failedAt`). */
  owner: OwnerRef | null | undefined;
  failedAt?: number;
}

export interface OwnerCacheOptions {
  maxEntries?: number;
  retryMs?: number;
  now?: () => number;
}

export class OwnerCache {
  readonly #entries = new Map<string, Entry>();
  /** The owners in the order they were first fetched, for eviction (fifo.ts: not the Map's own first key). */
  readonly #order = new InsertionOrder<string>(this.#entries);
  readonly #abort = new AbortController();
  readonly #listeners: Array<(uid: string) => void> = [];
  readonly #inFlight = new Set<Promise<void>>();
  readonly #max: number;
  readonly #retryMs: number;
  readonly #now: () => number;
  #fetches = 0;
  #failures = 0;
  #warned = false;

  constructor(private readonly api: KubeApiClient, private readonly log: Logger, opts: OwnerCacheOptions = {}) {
    this.#max = opts.maxEntries ?? 4096;
    this.#retryMs = opts.retryMs ?? 60_000;
    this.#now = opts.now ?? Date.now;
  }

  /** Told the UID of an object whose controller became known. */
  onResolved(listener: (uid: string) => void): void {
    this.#listeners.push(listener);
  }

  /**
   * The controller of `ref` (a ReplicaSet or a Job in `namespace`): null when it has none or is
   * not such a kind, undefined while unknown — then it is fetched, and listeners told when known.
   */
  ownerOf(ref: OwnerRef, namespace: string): OwnerRef | null | undefined {
    if (PARENT_KINDS[ref.kind] === undefined) return null;
    const e = this.#entries.get(ref.uid);
    if (e !== undefined) {
      if (e.failedAt !== undefined && this.#now() - e.failedAt >= this.#retryMs) this.#fetch(ref, namespace);
      return e.owner;
    }
    this.#fetch(ref, namespace);
    return undefined;
  }

  stats(): { owners: number; owner_fetches: number; owner_failures: number } {
    return { owners: this.#entries.size, owner_fetches: this.#fetches, owner_failures: this.#failures };
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await Promise.all(this.#inFlight);
  }

  #fetch(ref: OwnerRef, namespace: string): void {
    if (this.#abort.signal.aborted) return;
    const fresh = !this.#entries.has(ref.uid);
    if (fresh && this.#entries.size >= this.#max) {
      const oldest = this.#order.takeOldest();
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(ref.uid, { owner: undefined });
    if (fresh) this.#order.added(ref.uid);
    this.#fetches++;
    const path = `${COLLECTION[ref.kind]!}/namespaces/${encodeURIComponent(namespace)}/${PLURAL[ref.kind]!}/${encodeURIComponent(ref.name)}`;
    const done = this.api.getJson(path, this.#abort.signal).then(({ status, body }) => {
      const obj = status === 200 ? controllerFromJson(body) : null;
      // 404: deleted already; another UID: deleted and made again under the name. Either way the
      // pod's owner has no controller we can know.
      if (status === 200 && obj === null) throw new Error(`${ref.kind} ${namespace}/${ref.name}: not a ${ref.kind}`);
      if (status !== 200 && status !== 404) throw new Error(`${ref.kind} ${namespace}/${ref.name}: HTTP ${status}`);
      this.#settle(ref.uid, obj !== null && obj.uid === ref.uid ? obj.owner : null);
    }).catch((e: unknown) => {
      if (this.#abort.signal.aborted) return;
      this.#failures++;
      // Evicted meanwhile: not put back (it would be past the bound, and out of the eviction order).
      if (this.#entries.has(ref.uid)) this.#entries.set(ref.uid, { owner: undefined, failedAt: this.#now() });
      const fields = { error: (e as Error).message };
      if (!this.#warned) this.log.warn('kubernetes: owner not read (Deployment/CronJob names missing until it is)', fields);
      else this.log.debug('kubernetes: owner not read', fields);
      this.#warned = true;
    });
    this.#inFlight.add(done);
    void done.finally(() => this.#inFlight.delete(done));
  }

  #settle(uid: string, owner: OwnerRef | null): void {
    if (!this.#entries.has(uid)) return; // evicted meanwhile
    this.#entries.set(uid, { owner });
    this.#warned = false;
    for (const l of this.#listeners) l(uid);
  }
}
