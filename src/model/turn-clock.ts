// The wall clock, read once per unit of work. A ring batch is handled in one synchronous turn of
// the event loop, hundreds of exchanges in a few milliseconds; what times them on the way (the pid
// cache's trust, the span linker's deadlines, the local view's per-second budget) read Date.now()
// two or three times per exchange, at ~100 ns a read from JavaScript on this VM (measured in a loop;
// the clock source is the TSC, read through the vDSO): ~3 % of the agent's JS thread. Within
// turn(), turnNow() is the time the turn began; outside one it is Date.now(), so that a component
// used from anywhere else (timers, the control API, other collectors) never sees a time left over
// from an earlier turn.

/** The time the current turn began (ms since the epoch), or null outside turn(). */
let turnMs: number | null = null;

/** Date.now(), or within turn() the time the turn began. */
export function turnNow(): number {
  return turnMs ?? Date.now();
}

/**
 * Runs `work` with turnNow() the time it began. For synchronous work that lasts a few milliseconds
 * at most (a ring batch): what it times is that much early, never late.
 */
export function turn<T>(work: () => T): T {
  const outer = turnMs;
  turnMs = Date.now();
  try {
    return work();
  } finally {
    turnMs = outer;
  }
}
