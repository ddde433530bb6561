// A cache keyed by pid whose entries stay true to the process: a pid is one run of one program only
// until it execs or exits and is reused. An entry remembers the identity it was read under
// (process-identity.ts) and is checked against /proc/<pid>/stat again
// - when the process was seen to exec or exit (the process collector's events, the socket tracer's
//   and profiler's exec notices), before its next use;
// - when a kernel event names the process with a comm the entry has not seen (an exec changes it);
// - when what it was read from changed elsewhere (its pod became known: invalidate()), at its next
//   use if the process still runs;
// - otherwise at most once per `revalidateMs` per pid: one stat read, never one per span; and for a
//   young process at most once per tenth of the age it had at the last check (`ageMs`). Without
//   exit events (the socket tracer reports execs only) a pid freed and taken again within the
//   interval by the same program, forked without exec, would otherwise get the dead process's
//   resource: short-lived processes are the ones whose pids come back soon. The extra checks grow
//   with the logarithm of a process's age (about ten per tenfold), then stay at one per interval.
// A process that is gone keeps its entry (its last exchanges are often handled after it exited)
// until a live process with another identity holds the pid.
import { type ProcessIdentity, sameProgram } from './process-identity.js';
import { turnNow } from '../model/turn-clock.js';
import { InsertionOrder } from '../fifo.js';

export interface PidCacheSource<V> {
  /** The identity of the process holding `pid` now, null when none does (or it cannot be read). */
  identity(pid: number): ProcessIdentity | null;
  /** Whether /proc/<pid> exists: cheaper than identity() for the pids of exited processes. */
  exists(pid: number): boolean;
  /** Reads the value for the process holding `pid` (`identity`: as read just before; `comm`: the kernel's name from an event). */
  load(pid: number, identity: ProcessIdentity | null, comm: string | undefined): V;
}

export interface PidCacheOptions {
  maxEntries?: number;
  /** How long a looked-up entry is trusted without a new check (default 1 s). */
  revalidateMs?: number;
  /** How long ago the process of `identity` started, in ms (null: unknown); sets shorter intervals for young processes. */
  ageMs?: (identity: ProcessIdentity) => number | null;
  now?: () => number;
}

/** A young process's entry is trusted for this share of its age at the check... */
const AGE_SHARE = 0.1;
/** ...but at least this long (ms): one check per pid per millisecond at the very most. */
const MIN_TRUST_MS = 1;

/** Thread names seen per process beyond which event comms no longer prompt a check (Java names every thread). */
const MAX_COMMS = 32;

/** stale: read again at the next use if the process still runs the same program. */
type State = 'live' | 'exec' | 'exited' | 'stale';

interface Entry<V> {
  value: V;
  identity: ProcessIdentity | null;
  /** Comms (thread names) events gave this process since it was read. */
  comms: Set<string>;
  checkedAt: number;
  /** How long after checkedAt the entry is used without a check. */
  trustMs: number;
  state: State;
}

export interface PidCacheStats {
  cached: number;
  /** Checks against /proc/<pid>/stat. */
  validations: number;
  /** Values read again because the pid now runs another program or is another process, or was invalidated. */
  reloads: number;
}

export class PidCache<V> {
  readonly #entries = new Map<number, Entry<V>>();
  /**
   * The pids in the order they were first loaded, for eviction (fifo.ts: the Map's own first key is
   * found over the holes of every entry deleted since its last rehash). A pid read again keeps its place.
   */
  readonly #order = new InsertionOrder<number>(this.#entries);
  readonly #max: number;
  readonly #revalidateMs: number;
  readonly #ageMs: ((identity: ProcessIdentity) => number | null) | undefined;
  readonly #now: () => number;
  #validations = 0;
  #reloads = 0;

  constructor(private readonly source: PidCacheSource<V>, opts: PidCacheOptions = {}) {
    this.#max = opts.maxEntries ?? 4096;
    this.#revalidateMs = opts.revalidateMs ?? 1000;
    this.#ageMs = opts.ageMs;
    this.#now = opts.now ?? turnNow;
  }

  /** The value for the process holding `pid` now; `comm`, the name a kernel event gave it, if any. */
  get(pid: number, comm?: string): V {
    const e = this.#entries.get(pid);
    if (e === undefined) return this.#load(pid, comm, this.source.identity(pid));
    const now = this.#now();
    if (e.state === 'live' && now - e.checkedAt < e.trustMs && (comm === undefined || e.comms.has(comm) || e.comms.size >= MAX_COMMS)) {
      return e.value;
    }
    return this.#validate(pid, e, comm, now);
  }

  /** The entry's value, unchecked (the process's last known identity), if there is one. */
  peek(pid: number): V | undefined {
    return this.#entries.get(pid)?.value;
  }

  has(pid: number): boolean {
    return this.#entries.has(pid);
  }

  /** The process replaced its program: its next lookup reads the new one. */
  noteExec(pid: number): void {
    const e = this.#entries.get(pid);
    if (e !== undefined) e.state = 'exec';
  }

  /** The process ended: every lookup checks the pid until another process holds it. */
  noteExit(pid: number): void {
    const e = this.#entries.get(pid);
    if (e !== undefined) e.state = 'exited';
  }

  /** Entries whose value `match`es are read again at their next use (if their process still runs). */
  invalidate(match: (value: V) => boolean): number {
    let n = 0;
    for (const e of this.#entries.values()) {
      if (e.state !== 'live' || !match(e.value)) continue;
      e.state = 'stale';
      n++;
    }
    return n;
  }

  stats(): PidCacheStats {
    return { cached: this.#entries.size, validations: this.#validations, reloads: this.#reloads };
  }

  #validate(pid: number, e: Entry<V>, comm: string | undefined, now: number): V {
    // Late records of an exited process, while its pid is free: no stat read.
    if (e.state === 'exited' && !this.source.exists(pid)) return e.value;
    this.#validations++;
    const id = this.source.identity(pid);
    if (id === null) {
      // Gone. After an exec, an event naming another program is that program's, not the old one's.
      if (e.state === 'exec' && comm !== undefined && !e.comms.has(comm)) return this.#reload(pid, comm, null);
      if (e.state === 'live' || e.state === 'stale') e.state = 'exited';
      e.checkedAt = now;
      return e.value;
    }
    const known = e.identity;
    const changed = known === null || !sameProgram(id, known)
      // An exec seen, and nothing says this entry was read after it.
      || (e.state === 'exec' && (id.image === null || known.image === null));
    if (changed || e.state === 'stale') return this.#reload(pid, comm, id);
    // exited: the pid still holds it (a zombie): keep checking.
    if (e.state === 'exec') e.state = 'live';
    if (comm !== undefined && e.comms.size < MAX_COMMS) e.comms.add(comm);
    e.checkedAt = now;
    e.trustMs = this.#trustMs(id);
    return e.value;
  }

  #trustMs(id: ProcessIdentity | null): number {
    const age = id !== null && this.#ageMs !== undefined ? this.#ageMs(id) : null;
    return age === null ? this.#revalidateMs : Math.min(this.#revalidateMs, Math.max(MIN_TRUST_MS, age * AGE_SHARE));
  }

  #reload(pid: number, comm: string | undefined, id: ProcessIdentity | null): V {
    this.#reloads++;
    return this.#load(pid, comm, id);
  }

  #load(pid: number, comm: string | undefined, id: ProcessIdentity | null): V {
    let value = this.source.load(pid, id, comm);
    if (id !== null) {
      // An exec while its files were read would mix two programs: read once more.
      const after = this.source.identity(pid);
      if (after !== null && !sameProgram(after, id)) value = this.source.load(pid, (id = after), comm);
    }
    const fresh = !this.#entries.has(pid);
    if (fresh && this.#entries.size >= this.#max) {
      const oldest = this.#order.takeOldest();
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    const comms = new Set<string>();
    if (comm !== undefined) comms.add(comm);
    if (id !== null) comms.add(id.comm);
    this.#entries.set(pid, { value, identity: id, comms, checkedAt: this.#now(), trustMs: this.#trustMs(id), state: id === null ? 'exited' : 'live' });
    if (fresh) this.#order.added(pid);
    return value;
  }
}
