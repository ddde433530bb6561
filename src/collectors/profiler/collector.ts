// The profiler collector: samples every CPU (and, optionally, times blocked threads), drains every
// interval, symbolizes on the host and hands one ProfileRecord per service and kind per interval to
// the sink.
import type { BpfMap } from 'libbpf-ts';
import { type ProfilerConfig, defaultProfilerConfig } from '../../config/schema.js';
import type { ProfileRecord } from '../../model/profile.js';
import { createSymbolizer } from '../../symbols/index.js';
import type { Symbolizer } from '../../symbols/symbolizer.js';
import type { Collector, CollectorContext } from '../collector.js';
import type { SpanTagMaps } from '../span-tag-maps.js';
import { ProfileBuilder, type ProcessIdentity } from './builder.js';
import type { ProfilerNotice } from './layout.js';
import { ProfileSampler } from './sampler.js';
import { UnwindTables } from './unwind-tables.js';
import type { SpanTagResolver } from './span-tags.js';

export interface ProfilerCollectorOptions {
  /** Default: the host symbolizer (src/symbols). */
  symbolizer?: Symbolizer;
  spanTags?: SpanTagResolver;
  /** Overrides of the configuration's `profiler` settings (the `profile` command's flags). */
  settings?: Partial<ProfilerConfig>;
}

/** Service names of what is not a user process. */
export const IDLE_SERVICE = 'idle';
export const KERNEL_SERVICE = 'kernel';
/**
 * How long a sample tagged with an exchange still being served waits for its span (in drains of the
 * configured interval): a request slower than this keeps the labels of its last SPAN_WAIT_SECONDS only.
 */
export const SPAN_WAIT_SECONDS = 30;

export class ProfilerCollector implements Collector {
  readonly name = 'profiler';
  readonly #opts: ProfilerCollectorOptions;
  #ctx: CollectorContext | null = null;
  #settings: ProfilerConfig = defaultProfilerConfig();
  #sampler: ProfileSampler | null = null;
  #unwind: UnwindTables | null = null;
  #builder: ProfileBuilder | null = null;
  #symbolizer: Symbolizer | null = null;
  #spanTags: SpanTagResolver | undefined;
  #timer: NodeJS.Timeout | null = null;
  #chain: Promise<unknown> = Promise.resolve();
  #drainsStarted = 0;
  /** Exited pids → the drain after which their last samples are symbolized. */
  readonly #forgetAfter = new Map<number, number>();
  readonly #kernelThreads = new Set<number>();
  readonly #reported = new Set<string>();
  readonly #stats = { drains: 0, drain_failures: 0, last_drain_ms: 0, max_drain_ms: 0, profiles_emitted: 0, pids_noted: 0, note_failures: 0, pids_forgotten: 0 };
  #final: Record<string, number> | null = null;

  constructor(opts: ProfilerCollectorOptions = {}) {
    this.#opts = opts;
    this.#spanTags = opts.spanTags;
  }

  async start(ctx: CollectorContext): Promise<void> {
    this.#ctx = ctx;
    const s: ProfilerConfig = { ...defaultProfilerConfig(), ...ctx.config.profiler, ...this.#opts.settings };
    this.#settings = s;
    const symbolizer = this.#opts.symbolizer ?? createSymbolizer();
    this.#symbolizer = symbolizer;
    this.#builder = new ProfileBuilder({
      symbolizer,
      identify: (pid, comm) => this.#identify(pid, comm),
      frequencyHz: s.frequencyHz,
      maxSamples: s.maxSamples,
      spanTags: () => this.#spanTags,
      spanWaitDrains: Math.ceil(SPAN_WAIT_SECONDS / s.intervalSeconds),
      problem: (kind, e) => this.#problem(kind, e),
    });
    this.#sampler = ProfileSampler.start({
      frequencyHz: s.frequencyHz,
      stackMapEntries: s.stackMapEntries,
      // Threads share stacks: more count keys than stacks. Each count entry is ~100 bytes.
      countMapEntries: 2 * s.stackMapEntries,
      pids: ctx.config.pids,
      agentPid: process.pid,
      ...(ctx.selection !== undefined ? { selection: ctx.selection } : {}),
      includeIdle: s.includeIdle,
      ...(s.unwind !== 'frame_pointers' ? { unwind: { cfiOnly: s.unwind === 'cfi', maxRows: s.unwindTableRows, maxTables: 4096, maxPids: 4096 } } : {}),
      ...(s.offCpu.enabled ? { offCpu: { minBlockNs: BigInt(Math.round(s.offCpu.minBlockMs * 1e6)), sampleEvery: s.offCpu.sampleEvery } } : {}),
      onNotice: (n) => this.#onNotice(n),
      onError: (e) => this.#problem('notices', e),
    });
    const unwindMaps = this.#sampler.unwindMaps;
    if (unwindMaps !== null) this.#unwind = new UnwindTables(unwindMaps, { maxRows: s.unwindTableRows, maxTables: 4096 });
    this.#timer = setInterval(() => void this.flush(), s.intervalSeconds * 1000).unref();
    ctx.log.info('profiler sampling', { frequencyHz: s.frequencyHz, cpus: this.#sampler.cpus, intervalSeconds: s.intervalSeconds, unwind: s.unwind,
      ...(s.offCpu.enabled ? { offCpuMinBlockMs: s.offCpu.minBlockMs, offCpuSampleEvery: s.offCpu.sampleEvery } : {}) });
  }

  /** The settings in effect (after start): a SpanTagResolver must remember tags for `intervalSeconds`. */
  get settings(): Readonly<ProfilerConfig> {
    return this.#settings;
  }

  /** The `thread_tags` map (u32 tid → u64 tag) of the loaded profiler; null before start. */
  threadTagsMap(): BpfMap<number, bigint> | null {
    return this.#sampler?.threadTags ?? null;
  }

  /** The span tag maps, for the socket tracer and dynlog to reuse before their load; null before start. */
  spanTagMaps(): SpanTagMaps | null {
    return this.#sampler?.spanTagMaps ?? null;
  }

  /** Resolves when every binary seen so far has its CFI table loaded (or is known to have none). */
  unwindTablesIdle(): Promise<void> {
    return this.#unwind?.idle() ?? Promise.resolve();
  }

  /** Consulted at every drain for samples whose thread carried a tag. */
  setSpanTagResolver(resolver: SpanTagResolver | undefined): void {
    this.#spanTags = resolver;
  }

  /** Drains now (also what the interval timer does); resolves with the profiles emitted. */
  flush(): Promise<ProfileRecord[]> {
    return this.#drain(false);
  }

  /** `final`: samples still awaiting their span leave with this drain. */
  #drain(final: boolean): Promise<ProfileRecord[]> {
    const run = this.#chain.then(() => this.#drainOnce(final));
    this.#chain = run.catch(() => undefined);
    return run;
  }

  async #drainOnce(final: boolean): Promise<ProfileRecord[]> {
    const sampler = this.#sampler;
    const builder = this.#builder;
    const ctx = this.#ctx;
    if (sampler === null || builder === null || ctx === null) return [];
    const index = ++this.#drainsStarted;
    const t0 = performance.now();
    let profiles: ProfileRecord[];
    try {
      profiles = await builder.build(await sampler.drain(), { final });
    } catch (e) {
      this.#stats.drain_failures++;
      this.#problem('drain', e);
      return [];
    }
    for (const profile of profiles) ctx.sink.put({ type: 'profile', profile });
    const ms = performance.now() - t0;
    this.#stats.drains++;
    this.#stats.profiles_emitted += profiles.length;
    this.#stats.last_drain_ms = Math.round(ms);
    this.#stats.max_drain_ms = Math.max(this.#stats.max_drain_ms, Math.round(ms));
    for (const [pid, after] of this.#forgetAfter) {
      if (after > index) continue;
      this.#forgetAfter.delete(pid);
      this.#kernelThreads.delete(pid);
      this.#stats.pids_forgotten++;
      try {
        this.#symbolizer?.forgetPid(pid);
      } catch (e) {
        this.#problem('forget', e);
      }
    }
    return profiles;
  }

  #onNotice(n: ProfilerNotice): void {
    const symbolizer = this.#symbolizer;
    if (symbolizer === null) return;
    switch (n.type) {
      case 'new-pid':
        if (n.kernelThread === true) {
          this.#kernelThreads.add(n.pid);
          return;
        }
        this.#stats.pids_noted++;
        try {
          // Now, while it lives: its mappings, and who it is.
          symbolizer.notePid(n.pid);
          this.#ctx?.metadata.resource(n.pid, n.comm);
          this.#unwind?.notePid(n.pid);
        } catch (e) {
          this.#stats.note_failures++;
          this.#problem('note-pid', e);
        }
        return;
      case 'unwind-miss':
        try {
          this.#unwind?.refresh(n.pid);
        } catch (e) {
          this.#problem('unwind-refresh', e);
        }
        return;
      case 'exec':
        // Its next sample announces it again with its new image.
        this.#unwind?.forgetPid(n.pid);
        try {
          symbolizer.forgetPid(n.pid);
        } catch (e) {
          this.#problem('forget', e);
        }
        this.#ctx?.metadata.forget(n.pid);
        return;
      case 'exit':
        // Samples taken before this notice are drained by the next drain to start at the latest.
        this.#forgetAfter.set(n.pid, this.#drainsStarted + 1);
        this.#unwind?.forgetPid(n.pid);
    }
  }

  #identify(pid: number, comm: string): ProcessIdentity {
    if (pid === 0) return { service: IDLE_SERVICE };
    if (this.#kernelThreads.has(pid)) return { service: KERNEL_SERVICE };
    const attrs = this.#ctx?.metadata.resource(pid, comm).attributes ?? {};
    const service = attrs['service.name'];
    const container = attrs['container.id'];
    const id: ProcessIdentity = { service: typeof service === 'string' && service !== '' ? service : comm };
    if (typeof container === 'string') id.containerId = container;
    return id;
  }

  #problem(kind: string, e: unknown): void {
    if (this.#reported.has(kind)) return;
    this.#reported.add(kind);
    this.#ctx?.log.warn(`profiler: ${kind} failed (counted; reported once)`, { error: e instanceof Error ? e.message : String(e) });
  }

  async stop(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    if (this.#sampler !== null) {
      this.#sampler.detach();
      await this.#drain(true);
    }
    this.#final = this.stats();
    await this.#unwind?.close();
    this.#unwind = null;
    await this.#sampler?.close();
    this.#sampler = null;
  }

  stats(): Record<string, number> {
    if (this.#final !== null) return this.#final;
    const out: Record<string, number> = { ...this.#stats, bpf_attachments: this.#sampler?.attachments ?? 0 };
    try {
      Object.assign(out, this.#sampler?.kernelCounters() ?? {});
    } catch {
      // object going away
    }
    Object.assign(out, this.#builder?.stats() ?? {});
    for (const [k, v] of Object.entries(this.#unwind?.stats() ?? {})) out[`unwind_${k}`] = v;
    for (const [k, v] of Object.entries(this.#symbolizer?.stats() ?? {})) out[`symbols_${k}`] = v;
    return out;
  }
}
