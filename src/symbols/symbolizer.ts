// The contract between the profiler (and anything else that turns addresses into names) and the
// symbol readers. Implementations live beside this file; consumers depend only on these types.

/** One resolved stack frame. Unknown frames keep module + offset instead of vanishing. */
export interface Frame {
  /** Function name, demangled; `module+0xoffset` style text is never put here for unknown frames. */
  function?: string;
  /** File path of the ELF / JIT map / `[kernel]` / kernel module name. */
  module: string;
  /** Offset of the address within the module (file offset for ELF modules), for unknown frames. */
  moduleOffset?: number;
  /** Build id of the module when known (pprof Mapping.build_id). */
  buildId?: string;
}

export interface Symbolizer {
  /**
   * Reads a process's memory mappings (and opens what they name) while it is alive, so its stacks can
   * still be symbolized after it exits. Cheap when called again for a known pid.
   */
  notePid(pid: number): void;
  /** One frame per address, in order. `pid` is the thread group id. */
  symbolizeUser(pid: number, addresses: readonly bigint[]): Frame[];
  /** Kernel addresses via /proc/kallsyms. */
  symbolizeKernel(addresses: readonly bigint[]): Frame[];
  /** Releases what was kept for a process that exited (its ELF caches by build id may stay). */
  forgetPid(pid: number): void;
  /** Counters for self-metrics: cache hits/misses, fallbacks (no symbols, bad ELF, missing debug file). */
  stats(): Record<string, number>;
}
