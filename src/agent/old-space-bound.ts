// Keeps V8's old generation near what is live in it. Under load a small share of what the agent
// allocates is still in flight at a young-generation GC and is promoted, to die soon after; V8
// collects the old generation only once it has grown to a multiple of what the last full GC left
// (up to ~4× when GC takes little of the time, as here). At 40k req/s past the agent's capacity that
// was 18 MB live after start-up growing to ~62 MB of mostly garbage in 8 s, without one full GC, and
// the agent's RSS peaked at 196 MiB. So, once a second, when the old space has grown by half of what
// the last full GC left (8 MiB at least) since then, one is run here: at 40k req/s one every ~2 s, of
// 12-34 ms (~1.5 % of a core), and the peak was 165 MiB; at 10k req/s hardly any. A full GC costs in
// proportion to what is live, and the growth it waits for grows with it: its share of the CPU stays
// the same on a host where the agent holds much more (V8 itself waits for up to 4×).
//
// V8's own knob for this (--heap-growing-percent, heap-tuning.ts) lowers the limit but has V8 reach it
// by incremental marking, whose write barriers slowed every exchange (0-60 % more agent CPU per
// exchange at 10k req/s; benchmarks/RESULTS.md, "Memory under load").
import v8 from 'node:v8';
import vm from 'node:vm';

/** Growth of the old space since the last full GC that has one run now: this share of what it left... */
export const GROWTH_SHARE = 0.5;
/** ...and at least this much. */
export const MIN_GROWTH_BYTES = 8 * 1024 * 1024;
export const CHECK_EVERY_MS = 1_000;

/**
 * V8's full GC as a function, or null where it cannot be had. --expose-gc installs `gc` in contexts
 * made after the flag is set: a new context's is the same heap's collector.
 */
export function fullGc(): (() => void) | null {
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc: unknown = vm.runInNewContext('gc');
    return typeof gc === 'function' ? () => (gc as () => void)() : null;
  } catch {
    return null;
  }
}

/** Bytes used in V8's old space now. */
export function oldSpaceUsed(): number {
  return v8.getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')?.space_used_size ?? 0;
}

export interface OldSpaceBoundStats {
  old_space_collections: number;
  old_space_collect_ms_total: number;
}

export class OldSpaceBound {
  #timer: NodeJS.Timeout | null = null;
  /** Old space used after the last full GC (this one's or V8's own, seen as a drop). */
  #floor = 0;
  readonly #stats: OldSpaceBoundStats = { old_space_collections: 0, old_space_collect_ms_total: 0 };

  constructor(private readonly gc: (() => void) | null = fullGc(), private readonly used: () => number = oldSpaceUsed,
    private readonly minGrowthBytes = MIN_GROWTH_BYTES) {}

  start(everyMs = CHECK_EVERY_MS): void {
    if (this.gc === null || this.#timer !== null) return;
    this.#floor = this.used();
    this.#timer = setInterval(() => this.check(), everyMs).unref();
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** Runs a full GC if the old space grew by the bound since the last one. */
  check(): void {
    if (this.gc === null) return;
    const used = this.used();
    if (used < this.#floor) this.#floor = used; // V8 collected it itself
    if (used - this.#floor < Math.max(this.minGrowthBytes, this.#floor * GROWTH_SHARE)) return;
    const t0 = performance.now();
    this.gc();
    this.#stats.old_space_collect_ms_total += performance.now() - t0;
    this.#stats.old_space_collections++;
    this.#floor = this.used();
  }

  stats(): OldSpaceBoundStats {
    return { ...this.#stats, old_space_collect_ms_total: Math.round(this.#stats.old_space_collect_ms_total) };
  }
}
