// Process selection for every collector: user space judges each process by the `selection` rules
// (rules.ts) and tells the kernel through `listed_pids` (bpf/include/filter.h), which every Lantern
// object shares (the first loaded makes it, the others reuse its fd), so the hot path costs one hash
// lookup per event. When a process is judged:
//   - at start, every process in /proc (with --pid: those pids);
//   - at each exec the agent hears of (the socket tracer's exec records, the process collector's
//     events), before the new program's later records are handled;
//   - when its pod arrives or changes (the pod store's notices), when rules ask about pods;
//   - every `rescan_seconds`: processes not seen yet (children that did not exec inherit their
//     parent's entry in the kernel meanwhile) and, when rules ask about ports, every process's
//     listening ports.
// Between an exec and user space's judgement the kernel still applies the old decision: records of
// that window are dropped in user space (`traced()`, asked by the agent for each exchange). A gone
// process's decision is kept 5 s more, for its records still on the way.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { type BpfMap, type BpfObject, codec } from 'libbpf-ts';
import type { SelectionConfig } from '../config/selection.js';
import type { Logger } from '../log.js';
import { type CgroupContainer, parseCgroup } from '../metadata/cgroup.js';
import type { PodChange } from '../metadata/k8s/pod-store.js';
import { ListeningPorts } from './listening-ports.js';
import { type Decision, type ProcessFacts, SelectionRules, exeName } from './rules.js';

/** The pods process selection reads: a PodStore (KubernetesMetadata.pods), or a test's. */
export interface SelectionPods {
  byContainer(id: string): { pod: { uid: string; namespace: string; labels?: Record<string, string> } } | undefined;
  byUid(uid: string): { uid: string; namespace: string; labels?: Record<string, string> } | undefined;
  onChange(listener: (c: PodChange) => void): void;
}

export interface ProcessSelectionOptions {
  selection: SelectionConfig;
  /** --pid: only these processes and their descendants are in scope at all. */
  pids: number[];
  agentPid?: number;
  procRoot?: string;
  pods?: SelectionPods;
  log?: Logger;
  /** Milliseconds (default Date.now): how long a gone process's decision has been kept. */
  now?: () => number;
}

/** How the kernel filter runs (filter.h's load-time settings). */
export interface KernelFilterMode {
  filterPids: boolean;
  unlistedTraced: boolean;
}

interface Known {
  decision: Decision;
  /** Start time from /proc/<pid>/stat: tells a reused pid apart. */
  start: string | null;
  facts: ProcessFacts;
  container: CgroupContainer | null;
}

const MAP = 'listed_pids';
/** The start time of the process each entry is about (bpf/include/filter.h), shared with it. */
const START_MAP = 'listed_start';
/** How long the decision of a process found gone is kept for its records still on the way. */
const GONE_KEPT_MS = 5_000;

/** One process's decision as the control API lists it (GET /api/selection). */
export interface SelectionEntry {
  pid: number;
  exe: string | null;
  exePath: string | null;
  containerId: string | null;
  k8sNamespace: string | null;
  ports: number[] | null;
  traced: boolean;
  /** The rule that decided ("selection.exclude[0]", "default exclude exe: otelcol*"…) or why none did. */
  reason: string;
}

export interface SelectionListing {
  /** false: no --pid and no rules, every process but the agent is traced and none is listed. */
  filtering: boolean;
  /** --pid: the processes (and their descendants) in scope. */
  pids: number[];
  processes: SelectionEntry[];
}

export class ProcessSelection {
  readonly rules: SelectionRules;
  readonly mode: KernelFilterMode;
  readonly #opts: ProcessSelectionOptions;
  readonly #proc: string;
  readonly #agentPid: number;
  readonly #known = new Map<number, Known>();
  /**
   * Known processes found gone (exit event, or absent at a rescan), since when (ms): their decisions
   * are kept for GONE_KEPT_MS more. Their last records can still be on the way when they are gone (a
   * response read just before exit, handled in the next batch; the exit event comes from another
   * ring): forgotten at once, such a record found no decision and no /proc entry to judge, and was
   * waved through as unknown.
   */
  readonly #gone = new Map<number, number>();
  readonly #objects: BpfObject[] = [];
  #map: BpfMap<number, number> | null = null;
  readonly #ports: ListeningPorts;
  #timer: NodeJS.Timeout | null = null;
  readonly #stats = { evaluations: 0, rescans: 0, last_rescan_ms: 0, map_update_failures: 0, records_dropped: 0, decisions_changed: 0 };

  readonly #now: () => number;

  constructor(opts: ProcessSelectionOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
    this.#proc = opts.procRoot ?? '/proc';
    this.#agentPid = opts.agentPid ?? process.pid;
    this.rules = new SelectionRules(opts.selection);
    this.#ports = new ListeningPorts(this.#proc);
    // --pid or include rules: the map lists what is in scope; only excludes: what is excluded.
    const listed = opts.pids.length > 0 || this.rules.hasIncludes;
    this.mode = { filterPids: listed || this.rules.hasExcludes, unlistedTraced: !listed };
    if (this.rules.usesPods) opts.pods?.onChange((c) => this.#onPodChange(c));
  }

  /** Judges every process there is now (before collectors load), then again every rescan_seconds. */
  start(): void {
    if (!this.mode.filterPids) return;
    this.rescan();
    this.#timer = setInterval(() => this.rescan(), this.#opts.selection.rescanSeconds * 1000).unref();
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** Before load: the filter's settings, and the shared map when another object has made it. */
  configure(obj: BpfObject): void {
    obj.setGlobal('filter_pids', this.mode.filterPids ? 1 : 0, 1);
    obj.setGlobal('unlisted_traced', this.mode.unlistedTraced ? 1 : 0, 1);
    const live = this.#liveMap();
    if (live === null) return;
    obj.reuseMap(MAP, live);
    obj.reuseMap(START_MAP, this.#objects[0]!.map(START_MAP, codec.u32, codec.u64));
  }

  /** After load: the first object's map is filled with every decision made so far. */
  register(obj: BpfObject): void {
    this.#objects.push(obj);
    if (this.#map !== null && this.#liveMap() !== null) return;
    this.#map = obj.map(MAP, codec.u32, codec.u8);
    if (!this.mode.filterPids) return;
    // --pid: the targets are the scope; their descendants follow in the kernel.
    for (const pid of this.#opts.pids) this.#write(pid, this.#known.get(pid)?.decision.traced ?? true, true);
    for (const [pid, k] of this.#known) if (!this.#opts.pids.includes(pid)) this.#apply(pid, k.decision.traced);
  }

  /**
   * Whether `pid`'s records are kept: what user space decided (judging it now if it never did). Asked
   * per exchange: a map lookup once a process is known.
   */
  traced(pid: number): boolean {
    if (!this.mode.filterPids) return pid !== this.#agentPid;
    const k = this.#known.get(pid) ?? this.#judge(pid);
    return k === null || k.decision.traced;
  }

  /** A record of an excluded process was dropped in user space (the window before the kernel knew). */
  noteDropped(): void {
    this.#stats.records_dropped++;
  }

  /** The decision for `pid` (judged now if never), null when the process cannot be read. */
  decision(pid: number): Decision | null {
    return (this.#known.get(pid) ?? this.#judge(pid))?.decision ?? null;
  }

  /** `pid` exec'd: a new program, judged at once. `comm`: the kernel's name for it, if the event had it. */
  onExec(pid: number, comm?: string): void {
    if (!this.mode.filterPids) return;
    const before = this.#known.get(pid)?.decision.traced;
    const k = this.#judge(pid, comm);
    if (k !== null && k.decision.traced !== before) this.#apply(pid, k.decision.traced);
  }

  onExit(pid: number): void {
    if (this.#known.has(pid) && !this.#gone.has(pid)) this.#gone.set(pid, this.#now());
  }

  /** Looks at every process again (bounded by the processes there are, and their descriptors when rules ask about ports). */
  rescan(): void {
    const t0 = performance.now();
    this.#stats.rescans++;
    this.#ports.reset();
    const alive = new Set<number>();
    for (const pid of this.#candidates()) {
      alive.add(pid);
      const k = this.#known.get(pid);
      if (k === undefined || k.start !== startTime(this.#proc, pid)) {
        const judged = this.#judge(pid);
        if (judged !== null) this.#apply(pid, judged.decision.traced);
        continue;
      }
      if (!this.rules.usesPorts) continue;
      const ports = this.#ports.of(pid);
      if (ports !== null && !sameSet(ports, k.facts.ports)) this.#rejudge(pid, k, { ...k.facts, ports });
    }
    const now = this.#now();
    for (const pid of this.#known.keys()) {
      if (alive.has(pid)) {
        this.#gone.delete(pid);
        continue;
      }
      const since = this.#gone.get(pid);
      if (since === undefined) this.#gone.set(pid, now);
      else if (now - since >= GONE_KEPT_MS) {
        this.#known.delete(pid);
        this.#gone.delete(pid);
      }
    }
    this.#stats.last_rescan_ms = Math.round(performance.now() - t0);
  }

  stats(): Record<string, number> {
    let selected = 0;
    let excluded = 0;
    for (const k of this.#known.values()) if (k.decision.traced) selected++; else excluded++;
    return { processes_selected: selected, processes_excluded: excluded, ...this.#stats, port_fds_read: this.#ports.fdsRead };
  }

  /** The decision of every process judged and still known, by pid (`traced`: only those traced, or only those not). */
  list(filter: { traced?: boolean; limit?: number } = {}): SelectionListing {
    const processes: SelectionEntry[] = [];
    for (const [pid, k] of [...this.#known].sort(([a], [b]) => a - b)) {
      if (filter.traced !== undefined && k.decision.traced !== filter.traced) continue;
      if (processes.length >= (filter.limit ?? Number.POSITIVE_INFINITY)) break;
      const f = k.facts;
      processes.push({ pid, exe: exeName(f), exePath: f.exePath, containerId: f.containerId, k8sNamespace: f.pod?.namespace ?? null,
        ports: f.ports === null ? null : [...f.ports].sort((a, b) => a - b), traced: k.decision.traced, reason: k.decision.reason });
    }
    return { filtering: this.mode.filterPids, pids: this.#opts.pids, processes };
  }

  /** Pids to look at: every process, or with --pid those the kernel has in scope (targets and descendants). */
  #candidates(): number[] {
    if (this.#opts.pids.length > 0) {
      const out = new Set(this.#opts.pids);
      const map = this.#liveMap();
      if (map !== null) for (const pid of map.keys()) out.add(pid);
      return [...out];
    }
    const out: number[] = [];
    let names: string[] = [];
    try {
      names = readdirSync(this.#proc);
    } catch {
      // no /proc: nothing to judge
    }
    for (const n of names) if (/^\d+$/.test(n) && Number(n) !== this.#agentPid) out.push(Number(n));
    return out;
  }

  #judge(pid: number, comm?: string): Known | null {
    if (pid === this.#agentPid) return null;
    const dir = `${this.#proc}/${pid}`;
    let exePath: string | null = null;
    try {
      exePath = readlinkSync(`${dir}/exe`);
    } catch {
      // a kernel thread, or gone: judged by comm
    }
    const readComm = read(`${dir}/comm`)?.trim() ?? comm ?? null;
    const start = startTime(this.#proc, pid);
    if (exePath === null && readComm === null) return null;
    const container = parseCgroup(read(`${dir}/cgroup`) ?? '');
    const facts: ProcessFacts = {
      pid, exePath, comm: readComm, containerId: container?.id ?? null,
      ports: this.rules.usesPorts ? this.#ports.of(pid) : null,
      pod: this.#podOf(container),
    };
    this.#stats.evaluations++;
    const known: Known = { decision: this.rules.decide(facts), start, facts, container };
    this.#known.set(pid, known);
    this.#gone.delete(pid);
    this.#opts.log?.debug('process selection', { pid, exe: exeName(facts), traced: known.decision.traced, reason: known.decision.reason });
    return known;
  }

  #rejudge(pid: number, k: Known, facts: ProcessFacts): void {
    this.#stats.evaluations++;
    const decision = this.rules.decide(facts);
    this.#known.set(pid, { ...k, facts, decision });
    if (decision.traced === k.decision.traced) return;
    this.#stats.decisions_changed++;
    this.#opts.log?.debug('process selection changed', { pid, exe: exeName(facts), traced: decision.traced, reason: decision.reason });
    this.#apply(pid, decision.traced);
  }

  #podOf(c: CgroupContainer | null): ProcessFacts['pod'] {
    const pods = this.#opts.pods;
    if (c === null || pods === undefined) return null;
    const pod = pods.byContainer(c.id)?.pod ?? (c.podUid !== null ? pods.byUid(c.podUid) : undefined);
    return pod === undefined ? null : { namespace: pod.namespace, labels: pod.labels ?? {} };
  }

  #onPodChange(c: PodChange): void {
    const ids = new Set(c.containerIds);
    for (const [pid, k] of this.#known) {
      if (k.container === null || (!ids.has(k.container.id) && k.container.podUid !== c.podUid)) continue;
      this.#rejudge(pid, k, { ...k.facts, pod: this.#podOf(k.container) });
    }
  }

  /** The decision into the kernel map, as the filter's mode reads it. */
  #apply(pid: number, traced: boolean): void {
    if (!this.mode.filterPids) return;
    if (this.mode.unlistedTraced) this.#write(pid, traced, !traced);
    // --pid: a process in scope keeps its entry (its descendants stay in scope), one out of scope gets none.
    else if (this.#opts.pids.length > 0) this.#write(pid, traced, this.#liveMap()?.get(pid) !== undefined);
    else this.#write(pid, traced, traced);
  }

  /** Sets pid → traced (1/0) when `listed`, else removes it. */
  #write(pid: number, traced: boolean, listed: boolean): void {
    const map = this.#liveMap();
    if (map === null) return;
    try {
      if (listed) map.set(pid, traced ? 1 : 0);
      else map.delete(pid);
    } catch {
      this.#stats.map_update_failures++; // full (16384 entries): the kernel keeps its old decision
    }
  }

  /** The shared map through an object still open (collectors close theirs at stop), null when none is. */
  #liveMap(): BpfMap<number, number> | null {
    while (this.#objects.length > 0 && !isOpen(this.#objects[0]!)) {
      this.#objects.shift();
      this.#map = null;
    }
    if (this.#objects.length === 0) return null;
    this.#map ??= this.#objects[0]!.map(MAP, codec.u32, codec.u8);
    return this.#map;
  }
}

function isOpen(obj: BpfObject): boolean {
  try {
    void obj.name;
    return true;
  } catch {
    return false;
  }
}

function read(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** Field 22 of /proc/<pid>/stat (after the parenthesised comm, which may hold spaces). */
function startTime(proc: string, pid: number): string | null {
  const text = read(`${proc}/${pid}/stat`);
  const close = text?.lastIndexOf(')') ?? -1;
  if (text === null || close < 0) return null;
  return text.slice(close + 2).split(' ')[19] ?? null;
}

function sameSet(a: ReadonlySet<number>, b: ReadonlySet<number> | null): boolean {
  return b !== null && a.size === b.size && [...a].every((x) => b.has(x));
}
