// Gives the C allocator's free pages back to the kernel at a steady pace. The agent works in bursts
// that malloc far more than they keep: the profiler's first drains read the symbol tables of every
// binary on the host, the CFI compile worker parses .eh_frame sections of megabytes, ring-buffer
// batches come and go with the load. glibc keeps what is freed in the middle of a heap, and all of
// an ended thread's arena (the compile worker's), for the life of the process: RSS stays at the
// high-water mark of the last burst (tens of MiB on a busy host) although nothing uses it.
// malloc_trim(0) (libbpf-ts releaseFreeMemory) walks every arena: on a busy 2-CPU host, profiling it
// all, the first minute's six calls gave back 138 MiB in ~15 ms each (the first ones, after the
// bursts, cost the most): ~0.1 % of a core at one call every 10 s.
import { releaseFreeMemory } from 'libbpf-ts';

export const RELEASE_EVERY_MS = 10_000;

export interface MemoryReleaseStats {
  free_memory_releases: number;
  free_memory_release_ms_total: number;
  /** RSS given back, as measured around each release. */
  free_memory_released_bytes_total: number;
}

export class FreeMemoryReleaser {
  #timer: NodeJS.Timeout | null = null;
  readonly #stats: MemoryReleaseStats = { free_memory_releases: 0, free_memory_release_ms_total: 0, free_memory_released_bytes_total: 0 };

  start(everyMs = RELEASE_EVERY_MS): void {
    this.#timer ??= setInterval(() => this.releaseNow(), everyMs).unref();
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  releaseNow(): void {
    const before = process.memoryUsage.rss();
    const t0 = performance.now();
    try {
      releaseFreeMemory();
    } catch {
      return; // the addon without it (an older build): nothing to release
    }
    this.#stats.free_memory_release_ms_total += performance.now() - t0;
    this.#stats.free_memory_releases++;
    this.#stats.free_memory_released_bytes_total += Math.max(0, before - process.memoryUsage.rss());
  }

  stats(): MemoryReleaseStats {
    return { ...this.#stats, free_memory_release_ms_total: Math.round(this.#stats.free_memory_release_ms_total) };
  }
}
