// The scheduling policy of this process's threads (see src/native/sched.cc).
import { native, type IdleGuardStats, type NativeIdleGuard } from './native.js';

/**
 * Puts thread `tid` under SCHED_IDLE (`idle`), or back under SCHED_OTHER at its nice value. Returns
 * 0, or the errno of the refusal (EPERM: leaving SCHED_IDLE without CAP_SYS_NICE; ESRCH: gone).
 */
export function setThreadIdle(tid: number, idle: boolean): number {
  return native.setThreadIdle(tid, idle);
}

/** Whether thread `tid` runs under SCHED_IDLE. */
export function threadIsIdle(tid: number): boolean {
  return native.threadIsIdle(tid);
}

export interface IdleGuardOptions {
  /** How often the guard checks while armed (ms, default 20). */
  checkMs?: number;
  /** The longest the JS thread may go without beat() while armed (ms, default 500). */
  heartbeatMs?: number;
  /** The share of a watched ring buffer, unread, that counts as falling behind (percent, default 12). */
  ringFillPercent?: number;
  /**
   * The share of `waitWindowMs` (default 300) that the thread that armed the guard may spend
   * runnable but waiting for a CPU (percent, default 75). A starved idle thread waits ~99 % of the
   * time; one that merely shares a loaded host, in bursts of a few tens of percent.
   */
  waitPercent?: number;
  waitWindowMs?: number;
}

/**
 * A thread of its own, never under SCHED_IDLE, that takes this process's threads back out of it
 * when they are starved (see src/native/idle-guard.cc): while armed, when the JS thread (the one
 * that armed it) waits for a CPU most of the time, has not called beat() for `heartbeatMs`, or a
 * watched ring buffer is filling. It then disarms itself;
 * `stats().restores` tells the caller. Its own thread (`tid`) must be left out when putting the
 * process's threads under SCHED_IDLE.
 */
export class IdleGuard {
  readonly #native: NativeIdleGuard;
  #closed = false;

  constructor(o: IdleGuardOptions = {}) {
    this.#native = new native.NativeIdleGuard({
      checkMs: o.checkMs ?? 20, heartbeatMs: o.heartbeatMs ?? 500, ringFillPercent: o.ringFillPercent ?? 12,
      waitPercent: o.waitPercent ?? 75, waitWindowMs: o.waitWindowMs ?? 300,
    });
  }

  /** The guard's thread id. */
  get tid(): number {
    return this.#native.tid;
  }

  /** Watches from now on (call it once the threads are under SCHED_IDLE); counts as a beat. */
  arm(): void {
    if (!this.#closed) this.#native.arm();
  }

  disarm(): void {
    if (!this.#closed) this.#native.disarm();
  }

  /** The JS thread ran: call it from a timer well inside `heartbeatMs`. */
  beat(): void {
    if (!this.#closed) this.#native.beat();
  }

  /** Watches `ring` (a BPF_MAP_TYPE_RINGBUF map) until the returned function is called. */
  watchRing(ring: { readonly fd: number }): () => void {
    if (this.#closed) return () => {};
    const id = this.#native.watchRing(ring.fd);
    return () => {
      if (!this.#closed) this.#native.unwatchRing(id);
    };
  }

  stats(): IdleGuardStats {
    return this.#closed
      ? { armed: false, checks: 0, restores: 0, threadsRestored: 0, lastReason: '', rings: 0 }
      : this.#native.stats();
  }

  /** stats().restores alone (0 once closed, as stats()), without building the stats object. */
  restores(): number {
    return this.#closed ? 0 : this.#native.restores();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#native.close();
  }
}
