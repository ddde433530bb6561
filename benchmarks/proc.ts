// What the benchmarks read from /proc: CPU time of a process, a thread or a process tree, memory,
// preemptions, run-queue waits, and the machine's busy time.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { descendants } from '../test/helpers/procs.js';

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** Fields of /proc/<pid>/stat after the command name: f[0] is field 3 (state), utime is f[11]. */
function statFields(path: string): string[] {
  const stat = readFileSync(path, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** utime+stime of a process (every thread), in seconds; NaN when it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const f = statFields(`/proc/${pid}/stat`);
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return NaN;
  }
}
/** utime+stime of pid and its live descendants, plus the root's reaped children, in seconds. */
export function treeCpuSeconds(root: number): number {
  let ticks = 0;
  for (const pid of descendants(root)) {
    try {
      // utime is field 14, stime 15, cutime 16, cstime 17.
      const f = statFields(`/proc/${pid}/stat`);
      ticks += Number(f[11]) + Number(f[12]);
      if (pid === root) ticks += Number(f[13]) + Number(f[14]);
    } catch {
      // exited meanwhile
    }
  }
  return ticks / CLK_TCK;
}

/** The main thread's own utime+stime (for the agent: the JS thread), in seconds. */
export function mainThreadCpuSeconds(pid: number): number {
  try {
    const f = statFields(`/proc/${pid}/task/${pid}/stat`);
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** Involuntary context switches (preemptions) of every thread of pid. */
export function preemptions(pid: number): number {
  let n = 0;
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        n += Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'))?.[1] ?? 0);
      } catch {
        // thread gone
      }
    }
  } catch {
    // process gone
  }
  return n;
}

/** CPU time every CPU spent busy (user, nice, system, irq, softirq, steal), from /proc/stat, in seconds. */
export function machineBusyS(): number {
  const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).map(Number);
  return ((f[1] ?? 0) + (f[2] ?? 0) + (f[3] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0) + (f[8] ?? 0)) / CLK_TCK;
}

/** Time spent runnable but waiting for a CPU (/proc/<pid>/task/<tid>/schedstat, field 2), in seconds. */
export function runQueueWaitS(pid: number, tid = pid): number {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[1]) / 1e9;
  } catch {
    return NaN;
  }
}

/** Resident memory of a process in MiB; NaN when it is gone. */
export function rssMiB(pid: number): number {
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? NaN : Number(kb) / 1024;
  } catch {
    return NaN;
  }
}
