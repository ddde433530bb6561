// Gives the C allocator's free pages back to the kernel at a steady pace. The agent works in bursts
// that malloc far more than they keep: the profiler's first drains read the symbol tables of every
// binary on the host, the CFI compile worker parses .eh_frame sections of megabytes, ring-buffer
// batches come and go with the load. glibc keeps what is freed in the middle of a heap, and all of
// an ended thread's arena (the compile worker's), for the life of the process: RSS stays at the
// high-water mark of the last burst (tens of MiB on a busy host) although nothing uses it.
// malloc_trim(0) (libbpf-ts releaseFreeMemory) walks every arena: on a busy 2-CPU host, profiling it
// all, the first minute's six calls gave back 138 MiB in ~15 ms each (the first ones, after the
// bursts, cost the most): ~0.1 % of a core at one call every 10 s.
//
// Large blocks are mmapped from MMAP_THRESHOLD_BYTES (fixMmapThreshold), so that each goes back to the
// kernel as it is freed rather than at the next release. They churn under load: export arena slabs
// of 256 KiB, request bodies and lines of ~1 MB, ring-buffer
// batches of 1 MiB. glibc starts with the same threshold but raises it to the size of every mmapped
// block freed, after which blocks of that size come from the heap, and the heap's free space stays
// resident between releases: exporting over OTLP/gRPC and to a file at 10k req/s, the C heap at the
// RSS peak was 33–37 MiB (73 in one round) against 6–8 with the threshold fixed, and the agent's peak
// RSS fell from 174–211 MiB to 145–175 (benchmarks/RESULTS.md, "Every process traced", the notes of
// 29f92e6 and later). The mmap and munmap of a few dozen blocks a second cost nothing measurable there.
import { releaseFreeMemory, setMmapThreshold } from 'libbpf-ts';

export const RELEASE_EVERY_MS = 10_000;
/** glibc's own initial threshold, kept fixed. */
export const MMAP_THRESHOLD_BYTES = 128 * 1024;

/**
 * Fixes the C allocator's mmap threshold (see above), unless the environment sets one
 * (MALLOC_MMAP_THRESHOLD_, which glibc applied at start). Returns whether it was set here.
 */
export function fixMmapThreshold(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.MALLOC_MMAP_THRESHOLD_ !== undefined) return false;
  try {
    return setMmapThreshold(MMAP_THRESHOLD_BYTES);
  } catch {
    return false; // the addon without it (an older build): glibc's own policy
  }
}

export interface MemoryReleaseStats {
  free_memory_releases: number;
  free_memory_release_ms_total: number;
  /** RSS given back, as measured around each release. */
  free_memory_released_bytes_total: number;
}

export class FreeMemoryReleaser {
  #timer: NodeJS.Timeout | null = null;

  /** @param releaseSpares lets the agent's own pools go of what they kept and no longer use, first */
  constructor(private readonly releaseSpares: () => void = () => {}) {}

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
    this.releaseSpares();
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
