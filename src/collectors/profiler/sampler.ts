// The kernel half of the profiler: loads bpf/profiler.bpf.c, attaches it to a cpu-clock perf event on
// every CPU, and swaps and drains its double buffer.
//
// Why two stack maps: a stack id is the stack's hash bucket, so the same stack gets the same id in
// every interval as long as it stays in the map. With one stack map shared by both buffers, user
// space could clear only the ids the live buffer does not reference, and a sample taken between
// that check and the delete would point at a deleted (later reused) id. With one stack map per
// buffer, the ids of a drained buffer are referenced by that buffer's counts only: after the flip
// and a short settle (a BPF program that read the old selector finishes within microseconds) the
// drained buffer's counts are taken with one batch lookup-and-delete, its stacks read by id, and its
// stack map cleared whole. It costs twice the stack map memory; in exchange no sample is ever
// attributed to another stack.
//
// Off-CPU blocks (optional) take their stacks at switch-out, into the stack map of the buffer selected
// then, but are counted at switch-in, perhaps intervals later, into the buffer selected then. So
// a drained stack map is cleared except for the stacks of threads still blocked (offcpu_pending): no
// program writes to that map any more after the flip, so keeping them is free of races; and an
// off-CPU key says which map its ids are in (the other one's are read from the live map, where the
// previous clear kept them).
import { type BpfMap, type BpfObject, type Link, type LinkGroup, PerfSoftware, PerfType, RingBufferConsumer, codec, isLibbpfError } from 'libbpf-ts';
import { LanternError } from '../../errors.js';
import { loadLanternObject, readCounters } from '../bpf-object.js';
import { type SpanTagMaps, setSpanTagging, spanTagMapsOf, threadTagsOf } from '../span-tag-maps.js';
import type { ProcessSelection } from '../../selection/process-selection.js';
import {
  CFI_STACK_ID_FLAG, KERNEL_COUNTERS, UNWIND_COUNTERS, UNWIND_PROC, UNWIND_TABLE_SIZE, type OffCpuKey, type OffCpuValue, type ProfileKey, type ProfilerNotice, decodeNotice, decodeStack, offCpuKeyCodec,
  offCpuStartCodec, offCpuValueCodec, profileKeyCodec,
} from './layout.js';

export interface SamplerOptions {
  frequencyHz: number;
  /** Entries of each of the two stack maps and of each of the two count maps. */
  stackMapEntries: number;
  countMapEntries: number;
  /** Target pids (and their descendants); empty: every process. */
  pids: number[];
  /** Never sampled (the agent itself). */
  agentPid: number;
  /** The agent's process selection (shared pid map), when it runs in the agent. */
  selection?: ProcessSelection;
  includeIdle: boolean;
  /**
   * User stacks by CFI tables (absent: frame pointers, bpf_get_stackid). `cfiOnly`: no frame-pointer
   * fallback where no table applies. Rows and tables bound the unwind_rows/unwind_tables maps.
   */
  unwind?: { cfiOnly: boolean; maxRows: number; maxTables: number; maxPids: number };
  /** Off-CPU profiling: absent, off (its program is not even loaded). */
  offCpu?: { minBlockNs: bigint; sampleEvery: number };
  onNotice(n: ProfilerNotice): void;
  onError(e: unknown): void;
  /** How long a flipped-out buffer is left to programs still running on other CPUs. Default 5 ms. */
  settleMs?: number;
}

export interface RawCount {
  key: ProfileKey;
  /** Samples (CPU) or blocks (off-CPU, scaled by the sampling). */
  count: number;
  /** Off-CPU: nanoseconds blocked, summed (scaled by the sampling). */
  nanos?: number;
}

/** One interval's samples as the kernel counted them. */
export interface DrainedBuffer {
  /** Wall clock, ns since the epoch: from the previous swap to this one. */
  startUnixNano: bigint;
  endUnixNano: bigint;
  counts: RawCount[];
  /** Off-CPU blocks that ended in the interval (empty when off-CPU profiling is off). */
  offCpu: RawCount[];
  /** Instruction pointers by stack id, leaf first (ids of off-CPU keys may be OTHER_MAP_ID + id). */
  stacks: Map<number, bigint[]>;
  /** Stack ids referenced by counts but absent from the stack map. */
  stacksMissing: number;
}

/**
 * Added to an off-CPU key's stack id when the id is one of the live buffer's stack map, so one map
 * of stacks holds both (a stack map's ids are below its max_entries, at most 1 << 22).
 */
export const OTHER_MAP_ID = 1 << 30;

const OFFCPU_PROGRAM = 'profiler_sched_switch';
const UNWIND_MAPS = ['unwind_rows', 'unwind_tables', 'unwind_procs', 'cfi_stacks_0', 'cfi_stacks_1'] as const;
/** bpf/profiler.bpf.c UNWIND_MODE_* */
const UNWIND_MODE = { CFI: 1, CFI_ONLY: 2 } as const;
const OFFCPU_MAPS = ['offcpu_0', 'offcpu_1', 'offcpu_pending'] as const;

const wallNs = (): bigint => BigInt(Date.now()) * 1_000_000n;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class ProfileSampler {
  readonly #obj: BpfObject;
  readonly #opts: SamplerOptions;
  readonly #select: BpfMap<number, number>;
  readonly #counts: [BpfMap<ProfileKey, bigint>, BpfMap<ProfileKey, bigint>];
  readonly #stacks: [BpfMap<number, Buffer>, BpfMap<number, Buffer>];
  /** CFI-walked user stacks per buffer (ids with CFI_STACK_ID_FLAG); null with frame pointers. */
  readonly #cfiStacks: [BpfMap<number, Buffer>, BpfMap<number, Buffer>] | null;
  readonly #offCpu: [BpfMap<OffCpuKey, OffCpuValue>, BpfMap<OffCpuKey, OffCpuValue>] | null;
  readonly #pending: BpfMap<number, OffCpuKey> | null;
  readonly #consumer: RingBufferConsumer;
  #perf: LinkGroup | null = null;
  #links: Link[] = [];
  #active: 0 | 1 = 0;
  #lastSwap = wallNs();
  #malformedNotices = 0;
  #closed = false;

  private constructor(obj: BpfObject, opts: SamplerOptions) {
    this.#obj = obj;
    this.#opts = opts;
    this.#select = obj.map('buffer_select', codec.u32, codec.u32);
    this.#counts = [obj.map('counts_0', profileKeyCodec, codec.u64), obj.map('counts_1', profileKeyCodec, codec.u64)];
    this.#stacks = [obj.map('stacks_0').typed(codec.u32, codec.bytes(obj.map('stacks_0').valueSize)),
      obj.map('stacks_1').typed(codec.u32, codec.bytes(obj.map('stacks_1').valueSize))];
    this.#cfiStacks = opts.unwind === undefined ? null
      : [obj.map('cfi_stacks_0').typed(codec.u32, codec.bytes(obj.map('cfi_stacks_0').valueSize)),
        obj.map('cfi_stacks_1').typed(codec.u32, codec.bytes(obj.map('cfi_stacks_1').valueSize))];
    const off = opts.offCpu !== undefined;
    this.#offCpu = off ? [obj.map('offcpu_0', offCpuKeyCodec, offCpuValueCodec), obj.map('offcpu_1', offCpuKeyCodec, offCpuValueCodec)] : null;
    this.#pending = off ? obj.map('offcpu_pending', codec.u32, offCpuStartCodec) : null;
    this.#consumer = new RingBufferConsumer([obj.map('profiler_events')], {
      // Notices are few and urgent (a process may be about to exit): deliver promptly. The program
      // submits with wake-ups, so the consumer need not sweep the ring on a timer of its own.
      flushMs: 1,
      pollMs: 1000,
      batchBytes: 64 * 1024,
      onBatch: (batch) =>
        batch.forEach((view, off, len) => {
          const n = decodeNotice(view, off, len);
          if (n === null) this.#malformedNotices++;
          else opts.onNotice(n);
        }),
      onError: (e) => opts.onError(e),
    });
  }

  /** Loads the object and starts sampling on every online CPU. */
  static start(opts: SamplerOptions): ProfileSampler {
    const obj = loadLanternObject('profiler', { agentPid: opts.agentPid, pids: opts.pids, ...(opts.selection !== undefined ? { selection: opts.selection } : {}) }, (o) => {
      o.setGlobal('include_idle', opts.includeIdle ? 1 : 0, 1);
      for (const m of ['stacks_0', 'stacks_1']) o.setMapMaxEntries(m, opts.stackMapEntries);
      for (const m of ['counts_0', 'counts_1']) o.setMapMaxEntries(m, opts.countMapEntries);
      if (opts.unwind !== undefined) {
        o.setGlobal('unwind_mode', opts.unwind.cfiOnly ? UNWIND_MODE.CFI_ONLY : UNWIND_MODE.CFI, 4);
        o.setMapMaxEntries('unwind_rows', opts.unwind.maxRows);
        o.setMapMaxEntries('unwind_tables', opts.unwind.maxTables);
        o.setMapMaxEntries('unwind_procs', opts.unwind.maxPids);
        for (const m of ['cfi_stacks_0', 'cfi_stacks_1']) o.setMapMaxEntries(m, opts.stackMapEntries);
      } else {
        for (const m of UNWIND_MAPS) o.setMapMaxEntries(m, 1);
      }
      if (opts.offCpu !== undefined) {
        o.setGlobal('offcpu_min_block_ns', opts.offCpu.minBlockNs, 8);
        o.setGlobal('offcpu_sample_every', opts.offCpu.sampleEvery, 4);
        for (const m of ['offcpu_0', 'offcpu_1']) o.setMapMaxEntries(m, opts.countMapEntries);
      } else {
        o.setAutoload(OFFCPU_PROGRAM, false);
        for (const m of OFFCPU_MAPS) o.setMapMaxEntries(m, 1);
      }
    });
    let sampler: ProfileSampler | null = null;
    try {
      sampler = new ProfileSampler(obj, opts);
      // Its samples read the tags at every tick: the socket tracer writes them from now on.
      setSpanTagging(spanTagMapsOf(obj), true);
      // The pid filter's fork/free programs and the exec/exit notices: by section name.
      for (const p of obj.programs()) if (p.name !== 'profile_cpu' && p.name !== OFFCPU_PROGRAM) sampler.#links.push(p.attach());
      if (opts.offCpu !== undefined) sampler.#links.push(attachOffCpu(obj));
      try {
        sampler.#perf = obj.program('profile_cpu').attachPerfEvent({
          event: { type: PerfType.SOFTWARE, config: PerfSoftware.CPU_CLOCK, sampleFreq: opts.frequencyHz },
        });
      } catch (e) {
        const errno = isLibbpfError(e) ? e.errno : 0;
        const hint = errno === 22 ? ` (is ${opts.frequencyHz} Hz above /proc/sys/kernel/perf_event_max_sample_rate?)` : '';
        throw new LanternError('LANTERN_ERR_PROFILER', `cannot sample cpu-clock at ${opts.frequencyHz} Hz on every CPU: ${(e as Error).message}${hint}`, { cause: e });
      }
      sampler.#lastSwap = wallNs();
      return sampler;
    } catch (e) {
      if (sampler !== null) void sampler.close();
      else obj.close();
      throw e;
    }
  }

  /** The span tag maps other objects fill, by fd reuse before their load (bpf/include/span_tags.h). */
  get spanTagMaps(): SpanTagMaps {
    return spanTagMapsOf(this.#obj);
  }

  /** tid → u64 tag. */
  get threadTags(): BpfMap<number, bigint> {
    return threadTagsOf(this.#obj);
  }

  /** The maps CFI unwinding fills from user space (null with frame pointers). */
  get unwindMaps(): { rows: BpfMap<number, Buffer>; tables: BpfMap<number, Buffer>; procs: BpfMap<number, Buffer> } | null {
    if (this.#cfiStacks === null) return null;
    const rows = this.#obj.map('unwind_rows');
    return {
      rows: rows.typed(codec.u32, codec.bytes(rows.valueSize)),
      tables: this.#obj.map('unwind_tables').typed(codec.u32, codec.bytes(UNWIND_TABLE_SIZE)),
      procs: this.#obj.map('unwind_procs').typed(codec.u32, codec.bytes(UNWIND_PROC.size)),
    };
  }

  /** CPUs sampled. */
  get cpus(): number {
    return this.#perf?.links.length ?? 0;
  }

  /** Programs attached now: a perf event per CPU sampled, the pid filter's and the notices'. */
  get attachments(): number {
    return this.cpus + this.#links.length;
  }

  /**
   * Flips the buffers and returns what the flipped-out one counted since the previous flip; leaves
   * it empty (counts and stacks) for its next turn.
   */
  async drain(): Promise<DrainedBuffer> {
    const old: 0 | 1 = this.#active === 0 ? 0 : 1;
    this.#active = old === 0 ? 1 : 0;
    this.#select.set(0, this.#active);
    const startUnixNano = this.#lastSwap;
    const endUnixNano = wallNs();
    this.#lastSwap = endUnixNano;
    await sleep(this.#opts.settleMs ?? 5);
    const stackMap = this.#stacks[old];
    const counts: RawCount[] = [];
    for (const [key, n] of this.#counts[old].readBatch({ drain: true, chunk: 1024 }) as Array<[ProfileKey, bigint]>) {
      counts.push({ key, count: Number(n) });
    }
    const offCpu = this.#drainOffCpu(old);
    const stacks = new Map<number, bigint[]>();
    let stacksMissing = 0;
    // CFI-walked stacks: the whole flipped-out map read and emptied in batches of 1024 (one
    // BPF_MAP_LOOKUP_AND_DELETE_BATCH each), not a lookup per stack and a key walk plus a delete per
    // entry to clear it; the entries still-blocked threads refer to are written back below.
    const cfiDrained = this.#cfiStacks === null ? null
      : new Map(this.#cfiStacks[old].readBatch({ drain: true, chunk: 1024 }) as Array<[number, Buffer]>);
    const isCfi = (id: number): boolean => (id & CFI_STACK_ID_FLAG) !== 0;
    const want = (id: number): void => {
      if (id < 0 || stacks.has(id)) return;
      let raw: Buffer | undefined;
      if (id >= OTHER_MAP_ID) {
        // An off-CPU block whose stacks were taken in the live buffer's maps.
        const base = id - OTHER_MAP_ID;
        raw = isCfi(base) ? this.#cfiStacks?.[this.#active].get(base) : this.#stacks[this.#active].get(base);
      } else {
        raw = isCfi(id) ? cfiDrained?.get(id) : stackMap.get(id);
      }
      if (raw === undefined) {
        stacksMissing++;
        stacks.set(id, []);
      } else {
        stacks.set(id, decodeStack(raw));
      }
    };
    for (const { key } of [...counts, ...offCpu]) {
      want(key.userStackId);
      want(key.kernelStackId);
    }
    for (const [id, ips] of stacks) if (ips.length === 0) stacks.delete(id);
    // Clear the stack map (stacks of samples the full count map could not keep too), but for the
    // stacks of threads that blocked in this buffer's time and are still blocked.
    const keep = this.#pendingStacks(old);
    for (const id of [...stackMap.keys()]) if (!keep.has(id)) stackMap.delete(id);
    // Nothing writes the flipped-out maps now: a pending block's CFI stack goes back for its switch-in.
    for (const id of keep) {
      const raw = isCfi(id) ? cfiDrained?.get(id) : undefined;
      if (raw !== undefined) this.#cfiStacks![old].set(id, raw);
    }
    return { startUnixNano, endUnixNano, counts, offCpu, stacks, stacksMissing };
  }

  /** The flipped-out off-CPU sums, scaled by the sampling, stack ids made unique (OTHER_MAP_ID). */
  #drainOffCpu(old: 0 | 1): RawCount[] {
    const maps = this.#offCpu;
    if (maps === null) return [];
    const scale = this.#opts.offCpu?.sampleEvery ?? 1;
    const out: RawCount[] = [];
    for (const [{ key, stackBuf }, v] of maps[old].readBatch({ drain: true, chunk: 1024 }) as Array<[OffCpuKey, OffCpuValue]>) {
      if (stackBuf !== old) {
        if (key.userStackId >= 0) key.userStackId += OTHER_MAP_ID;
        if (key.kernelStackId >= 0) key.kernelStackId += OTHER_MAP_ID;
      }
      out.push({ key, count: Number(v.count) * scale, nanos: Number(v.ns) * scale });
    }
    return out;
  }

  /** Stack ids in buffer `buf`'s stack map that threads blocked now will be counted under. */
  #pendingStacks(buf: 0 | 1): Set<number> {
    const keep = new Set<number>();
    if (this.#pending === null) return keep;
    for (const [, { key, stackBuf }] of this.#pending.readBatch({ chunk: 1024 }) as Array<[number, OffCpuKey]>) {
      if (stackBuf !== buf) continue;
      if (key.userStackId >= 0) keep.add(key.userStackId);
      if (key.kernelStackId >= 0) keep.add(key.kernelStackId);
    }
    return keep;
  }

  /** Off-CPU profiling is on (its program attached). */
  get offCpu(): boolean {
    return this.#offCpu !== null;
  }

  /** Stops sampling (the perf events); notices and drains still work. */
  detach(): void {
    this.#perf?.close();
    this.#perf = null;
    for (const l of this.#links) l.close();
    this.#links = [];
  }

  kernelCounters(): Record<string, number> {
    const out: Record<string, number> = {};
    if (this.#closed) return out;
    const k = readCounters(this.#obj, KERNEL_COUNTERS.length);
    KERNEL_COUNTERS.forEach((name, i) => (out[`kernel_${name}`] = Number(k[i] ?? 0n)));
    if (this.#cfiStacks !== null) {
      const u = this.#obj.map('unwind_counters', codec.u32, codec.u64);
      UNWIND_COUNTERS.forEach((name, i) => (out[`kernel_${name}`] = Number((u.getPerCpu(i) ?? []).reduce((a, b) => a + b, 0n))));
    }
    const s = this.#consumer.stats();
    out.notices_in = s.records;
    out.notices_lost_js_queue = s.droppedRecords;
    out.notices_malformed = this.#malformedNotices;
    return out;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.detach();
    await this.#consumer.closeAndFlush();
    this.#closed = true;
    this.#obj.close();
  }
}

/** tp_btf/sched_switch needs the kernel's BTF and BPF trampolines (CONFIG_DEBUG_INFO_BTF, x86-64/arm64). */
function attachOffCpu(obj: BpfObject): Link {
  try {
    return obj.program(OFFCPU_PROGRAM).attach();
  } catch (e) {
    throw new LanternError('LANTERN_ERR_PROFILER', `off-CPU profiling cannot attach to tp_btf/sched_switch: ${(e as Error).message}`, { cause: e });
  }
}
