// Kernel timestamps (bpf_ktime_get_ns: CLOCK_MONOTONIC) to wall-clock time, with an offset measured
// once at start: converting each event with a syscall would cost more than the event.

export class KernelClock {
  /** wall-clock ns minus monotonic ns, sampled at construction. */
  readonly offsetNs: bigint;

  constructor(now: () => { wallNs: bigint; monoNs: bigint } = sampleClocks) {
    // Take the tightest of a few samples: the pair is read with two calls, a scheduling gap between
    // them would skew every timestamp.
    let best: { gap: bigint; offset: bigint } | null = null;
    for (let i = 0; i < 5; i++) {
      const before = process.hrtime.bigint();
      const s = now();
      const gap = process.hrtime.bigint() - before;
      if (best === null || gap < best.gap) best = { gap, offset: s.wallNs - s.monoNs };
    }
    this.offsetNs = best?.offset ?? 0n;
  }

  toWallNs(monotonicNs: bigint): bigint {
    return monotonicNs + this.offsetNs;
  }
}

function sampleClocks(): { wallNs: bigint; monoNs: bigint } {
  // process.hrtime reads CLOCK_MONOTONIC, the clock bpf_ktime_get_ns uses.
  const monoNs = process.hrtime.bigint();
  const wallNs = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
  return { wallNs, monoNs };
}
