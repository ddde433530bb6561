// The agent's CPU priority: applications first. At 10k req/s a traced exchange costs the agent
// ~20 µs of CPU, about twice what nginx spends on the request; at the same priority the agent's
// threads, woken by every ring-buffer batch, hold a CPU when the application's threads wake, and
// nginx's p99 went from ~0.33 ms to ~2.2 ms (benchmarks/RESULTS.md, "Every process traced"). At
// nice 10 (CFS weight 110 against 1024) a waking application thread gets the CPU first and the agent
// takes what is left: p99 ~1–1.7 ms in the same runs, nothing lost. Nice only weighs threads in the
// same scheduling group (one cgroup, or one session's autogroup): a plain host running the agent
// beside its services in one group, as the benchmarks do. In Kubernetes the pod's CPU request sets
// the agent's cgroup weight against the applications' pods instead (deploy/: 100m); under systemd,
// CPUWeight=. When the host is saturated the agent falls behind and sheds (README, "Under overload").
import { readdirSync } from 'node:fs';
import os from 'node:os';

/** What lowerCpuPriority did: threads set to the nice value, threads already as low or lower, threads it could not set. */
export interface PriorityChange {
  nice: number;
  lowered: number;
  kept: number;
  failed: number;
}

/**
 * Lowers every thread of this process to `nice` (Linux: a nice value is per thread; the threads
 * that exist now — V8's and libuv's, started before this runs — each need it, and threads started
 * later inherit their creator's). Never raises a priority: a thread already nicer keeps its value.
 */
export function lowerCpuPriority(nice: number, taskDir = '/proc/self/task'): PriorityChange {
  const change: PriorityChange = { nice, lowered: 0, kept: 0, failed: 0 };
  let tids: string[];
  try {
    tids = readdirSync(taskDir);
  } catch {
    tids = [String(process.pid)];
  }
  for (const t of tids) {
    const tid = Number(t);
    try {
      if (os.getPriority(tid) >= nice) {
        change.kept++;
        continue;
      }
      os.setPriority(tid, nice);
      change.lowered++;
    } catch {
      change.failed++; // a thread that ended meanwhile
    }
  }
  return change;
}
