// The agent's own process as figures for self-metrics: what Prometheus' client libraries report as
// process_* (https://prometheus.io/docs/instrumenting/writing_clientlibs/#process-metrics), read
// from Node and /proc/self rather than guessed.
import { readdirSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

export interface OwnProcessFigures {
  /** User + system CPU time since the process started. */
  cpu_seconds: number;
  resident_memory_bytes: number;
  /** When the process started, in seconds since the epoch (constant for its life). */
  start_time_seconds: number;
  /** File descriptors open now (BPF maps, programs and links among them); absent when unreadable. */
  open_fds?: number;
  /** V8's heap: used by live and not yet collected objects, and reserved. What grows under load. */
  heap_used_bytes: number;
  heap_total_bytes: number;
  /** Memory outside the V8 heap held by JavaScript objects: Buffers (ring-buffer batches, encoded
   * requests waiting to be sent) and the addon's allocations it reports. */
  external_memory_bytes: number;
}

/** The agent's CPU time so far, user + system, every thread, in µs. */
export function ownCpuMicros(): number {
  const cpu = process.cpuUsage();
  return cpu.user + cpu.system;
}

export function ownProcessFigures(): OwnProcessFigures {
  const mem = process.memoryUsage();
  return {
    cpu_seconds: ownCpuMicros() / 1e6,
    resident_memory_bytes: mem.rss,
    // timeOrigin is when this process started, in epoch milliseconds.
    start_time_seconds: Math.round(performance.timeOrigin) / 1000,
    ...openFds(),
    heap_used_bytes: mem.heapUsed,
    heap_total_bytes: mem.heapTotal,
    external_memory_bytes: mem.external,
  };
}

function openFds(): { open_fds?: number } {
  try {
    // The listing itself holds one descriptor on the directory while it reads it.
    return { open_fds: readdirSync('/proc/self/fd').length - 1 };
  } catch {
    return {};
  }
}
