// The scheduling policy of this process's threads (see src/native/sched.cc).
import { native } from './native.js';

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
