// One drained interval → one ProfileRecord per service and kind (CPU, off-CPU): stacks symbolized (one symbolizer call per
// process and one for the kernel), samples labeled, span tags resolved. Never throws for bad input:
// lost stacks, symbolizer failures and resolver failures become marked frames or missing labels,
// and are counted.
import { PROFILE_LABELS, type ProfileFrame, type ProfileKind, type ProfileRecord, type ProfileSample } from '../../model/profile.js';
import type { Frame, Symbolizer } from '../../symbols/symbolizer.js';
import { STACK_ERR } from './layout.js';
import type { DrainedBuffer, RawCount } from './sampler.js';
import type { SpanTagResolver } from './span-tags.js';

export interface ProcessIdentity {
  service: string;
  containerId?: string;
}

export interface ProfileBuilderOptions {
  symbolizer: Symbolizer;
  /** Who a pid is (read from /proc while it lives, cached by the caller). */
  identify(pid: number, comm: string): ProcessIdentity;
  frequencyHz: number;
  /** Distinct samples kept per interval and kind (the most frequent, the longest blocked); the rest are dropped and counted. */
  maxSamples: number;
  spanTags?(): SpanTagResolver | undefined;
  /**
   * Drains a tagged sample whose span is not known yet waits for it (0: none). A server span is
   * built when its response is done, so a slow request still running at a drain would otherwise lose
   * the labels of every sample taken before it: the very requests span profiles are for.
   */
  spanWaitDrains?: number;
  /** Reports the first failure of each kind (the caller logs it once). */
  problem(kind: string, error: unknown): void;
}

const LOST_USER: ProfileFrame = { function: '[user stack lost]', module: '[lost]' };
const LOST_KERNEL: ProfileFrame = { function: '[kernel stack lost]', module: '[lost]' };
const NO_FRAMES: readonly ProfileFrame[] = [];
/** Tagged samples waiting for their span at most; past it they leave unlabeled at once (counted). */
export const MAX_AWAITING_SPAN = 20_000;
/** Entries handled between yields to the event loop (symbolizing may read large files). */
const YIELD_EVERY = 512;

const yieldToLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A stack id that names a stack which was lost (collision, full map), not merely absent. */
function lost(id: number): boolean {
  return id < 0 && id !== STACK_ERR.EFAULT;
}

/**
 * Return addresses point after their call; the caller's frame is the call itself. Symbolizing
 * `ip - 1` keeps a call that is the last instruction of a function (noreturn callees) in it.
 */
function callSites(ips: readonly bigint[]): bigint[] {
  return ips.map((ip, i) => (i === 0 ? ip : ip - 1n));
}

/**
 * A stack taken inside a tracepoint program (off-CPU, from sched_switch) starts in the tracing code
 * that called it: the BPF program skips a fixed number of frames, but how many the kernel has there
 * varies — with one program on the tracepoint its static call jumps to bpf_trace_run4 directly,
 * with more it goes through __traceiter_sched_switch. What is left of them is dropped here.
 */
const TRACING_FRAME = /^(__traceiter_|__bpf_trace_|bpf_trace_run\d|bpf_prog_|__bpf_prog_run)/;

function withoutTracingFrames(frames: readonly ProfileFrame[]): readonly ProfileFrame[] {
  let i = 0;
  while (i < frames.length && TRACING_FRAME.test(frames[i]!.function ?? '')) i++;
  return i === 0 ? frames : frames.slice(i);
}

function toFrames(frames: readonly Frame[] | null, addresses: readonly bigint[], kernel: boolean): ProfileFrame[] {
  return addresses.map((addr, i) => {
    const f = frames?.[i];
    if (f === undefined) return { module: '[unknown]', address: addr, ...(kernel ? { kernel } : {}) };
    const out: ProfileFrame = { module: f.module, address: f.moduleOffset !== undefined ? BigInt(f.moduleOffset) : addr };
    if (f.function !== undefined && f.function !== '') out.function = f.function;
    if (f.buildId !== undefined) out.buildId = f.buildId;
    if (kernel) out.kernel = true;
    return out;
  });
}

/** The wall-clock window a profile covers. */
interface Window {
  startUnixNano: bigint;
  endUnixNano: bigint;
}

/** A tagged sample held back until its span is built, with the window and profile it belongs to. */
interface AwaitingSpan {
  kind: ProfileKind;
  service: string;
  window: Window;
  sample: ProfileSample;
  pid: number;
  tag: bigint;
  /** The last drain (by #drains) at which it may still be resolved. */
  lastDrain: number;
}

export interface BuildOptions {
  /** The last drain (stopping): samples awaiting their span leave now, labeled or not. */
  final?: boolean;
}

export class ProfileBuilder {
  readonly #o: ProfileBuilderOptions;
  readonly #periodNanos: number;
  #awaiting: AwaitingSpan[] = [];
  #drains = 0;
  readonly #stats = {
    intervals: 0,
    samples_in: 0,
    sample_entries_in: 0,
    samples_dropped_cap: 0,
    stacks_lost: 0,
    stacks_missing: 0,
    symbolize_failures: 0,
    frames: 0,
    frames_unknown: 0,
    addresses_symbolized: 0,
    span_tags_seen: 0,
    span_tags_resolved: 0,
    span_tags_unresolved: 0,
    span_tags_deferred: 0,
    span_tags_wait_overflow: 0,
    span_tag_failures: 0,
    profiles_built: 0,
    offcpu_blocks_in: 0,
    offcpu_entries_in: 0,
    offcpu_ms_in: 0,
    offcpu_dropped_cap: 0,
  };

  constructor(opts: ProfileBuilderOptions) {
    this.#o = opts;
    this.#periodNanos = Math.round(1e9 / opts.frequencyHz);
  }

  stats(): Record<string, number> {
    // span_tags_awaiting: samples held back for their span now (at most MAX_AWAITING_SPAN).
    return { ...this.#stats, span_tags_awaiting: this.#awaiting.length };
  }

  async build(buf: DrainedBuffer, opts: BuildOptions = {}): Promise<ProfileRecord[]> {
    const s = this.#stats;
    s.intervals++;
    const drain = ++this.#drains;
    const final = opts.final === true;
    s.stacks_missing += buf.stacksMissing;
    for (const e of buf.counts) s.samples_in += e.count;
    s.sample_entries_in += buf.counts.length;
    let ns = 0;
    for (const e of buf.offCpu) {
      s.offcpu_blocks_in += e.count;
      ns += e.nanos ?? 0;
    }
    s.offcpu_ms_in += Math.round(ns / 1e6);
    s.offcpu_entries_in += buf.offCpu.length;
    const cpu = this.#cap(buf.counts, (e) => e.count, 'samples_dropped_cap');
    const off = this.#cap(buf.offCpu, (e) => e.nanos ?? 0, 'offcpu_dropped_cap');
    const entries = cpu.length === 0 ? off : off.length === 0 ? cpu : [...cpu, ...off];
    const user = await this.#symbolizeUser(entries, buf.stacks);
    const kernel = this.#symbolizeKernel(entries, buf.stacks);
    const resolver = this.#o.spanTags?.();
    const spans = new Map<string, Record<string, string> | null>();
    // Earlier windows' samples whose span is now built (or whose wait is over) go out in their own
    // window's profile, beside this one's.
    const late = this.#releaseAwaiting(resolver, final, drain);
    const waitDrains = final ? 0 : this.#o.spanWaitDrains ?? 0;
    // Not the buffer itself: an awaiting sample must not keep its counts and stacks alive.
    const window: Window = { startUnixNano: buf.startUnixNano, endUnixNano: buf.endUnixNano };
    const identities = new Map<number, ProcessIdentity>();
    const stacks = new Map<string, readonly ProfileFrame[]>();
    const byService = new Map<string, ProfileRecord>();
    for (let i = 0; i < entries.length; i++) {
      if (i > 0 && i % YIELD_EVERY === 0) await yieldToLoop();
      const { key, count, nanos } = entries[i] as RawCount;
      let id = identities.get(key.pid);
      if (id === undefined) {
        id = this.#identify(key.pid, key.comm);
        identities.set(key.pid, id);
      }
      const stackKey = `${key.pid}:${key.userStackId}:${key.kernelStackId}`;
      let frames = stacks.get(stackKey);
      if (frames === undefined) {
        const k = key.kernelStackId >= 0 ? kernel.get(key.kernelStackId) ?? NO_FRAMES : lost(key.kernelStackId) ? [LOST_KERNEL] : NO_FRAMES;
        const u = key.userStackId >= 0 ? user.get(`${key.pid}:${key.userStackId}`) ?? NO_FRAMES : lost(key.userStackId) ? [LOST_USER] : NO_FRAMES;
        if (lost(key.kernelStackId)) s.stacks_lost++;
        if (lost(key.userStackId)) s.stacks_lost++;
        frames = k.length === 0 ? u : u.length === 0 ? k : [...k, ...u];
        stacks.set(stackKey, frames);
      }
      const labels: Record<string, string> = {
        [PROFILE_LABELS.pid]: String(key.pid),
        [PROFILE_LABELS.threadId]: String(key.tid),
        [PROFILE_LABELS.threadName]: key.comm,
        [PROFILE_LABELS.serviceName]: id.service,
      };
      if (id.containerId !== undefined) labels[PROFILE_LABELS.containerId] = id.containerId;
      const kind: ProfileKind = i < cpu.length ? 'cpu' : 'off_cpu';
      const sample: ProfileSample = nanos === undefined ? { frames, count, labels } : { frames, count, nanos, labels };
      if (key.tag !== 0n) {
        s.span_tags_seen++;
        const span = this.#span(resolver, key.pid, key.tag, spans);
        if (span === null && waitDrains > 0) {
          if (this.#awaiting.length < MAX_AWAITING_SPAN) {
            s.span_tags_deferred++;
            this.#awaiting.push({ kind, service: id.service, window, sample, pid: key.pid, tag: key.tag, lastDrain: drain + waitDrains });
            continue;
          }
          s.span_tags_wait_overflow++;
        }
        this.#countSpan(span);
        if (span !== null) Object.assign(labels, span);
      }
      this.#record(byService, kind, id.service, window).samples.push(sample);
    }
    s.profiles_built += byService.size + late.size;
    return [...late.values(), ...byService.values()];
  }

  /** Awaiting samples that leave at this drain, in profiles of their own windows; the rest stay. */
  #releaseAwaiting(resolver: SpanTagResolver | undefined, final: boolean, drain: number): Map<string, ProfileRecord> {
    const out = new Map<string, ProfileRecord>();
    if (this.#awaiting.length === 0) return out;
    const cache = new Map<string, Record<string, string> | null>();
    const still: AwaitingSpan[] = [];
    for (const w of this.#awaiting) {
      const span = this.#span(resolver, w.pid, w.tag, cache);
      if (span === null && !final && drain <= w.lastDrain) {
        still.push(w);
        continue;
      }
      this.#countSpan(span);
      if (span !== null) Object.assign(w.sample.labels, span);
      this.#record(out, w.kind, w.service, w.window).samples.push(w.sample);
    }
    this.#awaiting = still;
    return out;
  }

  #countSpan(span: Record<string, string> | null): void {
    if (span === null) this.#stats.span_tags_unresolved++;
    else this.#stats.span_tags_resolved++;
  }

  /** The profile of one service, kind and window, made at its first sample. */
  #record(byKey: Map<string, ProfileRecord>, kind: ProfileKind, service: string, window: Window): ProfileRecord {
    const k = `${kind}\0${service}\0${window.startUnixNano}`;
    let rec = byKey.get(k);
    if (rec === undefined) {
      rec = {
        service,
        startTimeUnixNano: window.startUnixNano,
        endTimeUnixNano: window.endUnixNano,
        frequencyHz: this.#o.frequencyHz,
        periodNanos: kind === 'cpu' ? this.#periodNanos : 0,
        samples: [],
      };
      if (kind !== 'cpu') rec.kind = kind;
      byKey.set(k, rec);
    }
    return rec;
  }

  /** At most maxSamples entries, the heaviest by `weight`; the rest counted (by count) in `stat`. */
  #cap(entries: readonly RawCount[], weight: (e: RawCount) => number, stat: 'samples_dropped_cap' | 'offcpu_dropped_cap'): readonly RawCount[] {
    if (entries.length <= this.#o.maxSamples) return entries;
    const sorted = [...entries].sort((a, b) => weight(b) - weight(a));
    for (const e of sorted.slice(this.#o.maxSamples)) this.#stats[stat] += e.count;
    return sorted.slice(0, this.#o.maxSamples);
  }

  #identify(pid: number, comm: string): ProcessIdentity {
    try {
      return this.#o.identify(pid, comm);
    } catch (e) {
      this.#o.problem('identify', e);
      return { service: comm !== '' ? comm : `pid-${pid}` };
    }
  }

  /** The span labels of a (pid, tag), null while unknown; one resolver call per pair and drain. */
  #span(resolver: SpanTagResolver | undefined, pid: number, tag: bigint, cache: Map<string, Record<string, string> | null>): Record<string, string> | null {
    const k = `${pid}:${tag}`;
    let labels = cache.get(k);
    if (labels !== undefined) return labels;
    labels = null;
    if (resolver !== undefined) {
      try {
        const ref = resolver.resolve(pid, tag);
        if (ref !== undefined) {
          labels = { [PROFILE_LABELS.traceId]: ref.traceId, [PROFILE_LABELS.spanId]: ref.spanId };
          if (ref.spanName !== undefined) labels[PROFILE_LABELS.spanName] = ref.spanName;
          if (ref.httpRoute !== undefined) labels[PROFILE_LABELS.httpRoute] = ref.httpRoute;
          if (ref.rpcMethod !== undefined) labels[PROFILE_LABELS.rpcMethod] = ref.rpcMethod;
        }
      } catch (e) {
        this.#stats.span_tag_failures++;
        this.#o.problem('span-tags', e);
      }
    }
    cache.set(k, labels);
    return labels;
  }

  /** `${pid}:${stackId}` → frames, leaf first; one symbolizer call per process. */
  async #symbolizeUser(entries: readonly RawCount[], stacks: ReadonlyMap<number, bigint[]>): Promise<Map<string, readonly ProfileFrame[]>> {
    const byPid = new Map<number, Set<number>>();
    for (const { key } of entries) {
      if (key.userStackId < 0 || !stacks.has(key.userStackId)) continue;
      let ids = byPid.get(key.pid);
      if (ids === undefined) byPid.set(key.pid, (ids = new Set()));
      ids.add(key.userStackId);
    }
    const out = new Map<string, readonly ProfileFrame[]>();
    for (const [pid, ids] of byPid) {
      const frames = this.#resolve([...ids], stacks, false, (addrs) => {
        // Cheap for a process already noted; reads the maps of one the notices missed.
        this.#o.symbolizer.notePid(pid);
        return this.#o.symbolizer.symbolizeUser(pid, addrs);
      });
      for (const [id, f] of frames) out.set(`${pid}:${id}`, f);
      await yieldToLoop();
    }
    return out;
  }

  /** Kernel stack id → frames, leaf first; one symbolizer call. */
  #symbolizeKernel(entries: readonly RawCount[], stacks: ReadonlyMap<number, bigint[]>): Map<number, readonly ProfileFrame[]> {
    const ids = new Set<number>();
    for (const { key } of entries) if (key.kernelStackId >= 0 && stacks.has(key.kernelStackId)) ids.add(key.kernelStackId);
    if (ids.size === 0) return new Map();
    const named = this.#resolve([...ids], stacks, true, (addrs) => this.#o.symbolizer.symbolizeKernel(addrs));
    for (const [id, frames] of named) named.set(id, withoutTracingFrames(frames));
    return named;
  }

  /**
   * Frames of each stack. Each distinct call site is symbolized once and its frame object shared by
   * every stack it appears in: stacks repeat their callers (main, the runtime, a recursion) far more
   * than they differ, so this is most of the work saved, and most of the allocation.
   */
  #resolve(ids: readonly number[], stacks: ReadonlyMap<number, bigint[]>, kernel: boolean,
    symbolize: (addresses: bigint[]) => Frame[]): Map<number, readonly ProfileFrame[]> {
    const index = new Map<bigint, number>();
    const unique: bigint[] = [];
    const sites: bigint[][] = [];
    for (const id of ids) {
      const cs = callSites(stacks.get(id) ?? []);
      for (const a of cs) {
        if (index.has(a)) continue;
        index.set(a, unique.length);
        unique.push(a);
      }
      sites.push(cs);
    }
    let named: Frame[] | null = null;
    try {
      named = symbolize(unique);
    } catch (e) {
      this.#stats.symbolize_failures++;
      this.#o.problem(kernel ? 'symbolize-kernel' : 'symbolize-user', e);
    }
    const frames = toFrames(named, unique, kernel);
    this.#stats.addresses_symbolized += unique.length;
    const out = new Map<number, readonly ProfileFrame[]>();
    ids.forEach((id, i) => {
      const stack = (sites[i] ?? []).map((a) => frames[index.get(a) ?? 0] as ProfileFrame);
      this.#countFrames(stack);
      out.set(id, stack);
    });
    return out;
  }

  #countFrames(frames: readonly ProfileFrame[]): void {
    this.#stats.frames += frames.length;
    for (const f of frames) if (f.function === undefined) this.#stats.frames_unknown++;
  }
}
