// Profiles as the profiler hands them to exporters: symbolized samples of one service over one
// interval, of CPU time (perf samples) or of off-CPU time (blocked threads). Knows nothing of pprof
// (src/export/pprof.ts) or of BPF (src/collectors/profiler).

/** One frame of a sampled stack. */
export interface ProfileFrame {
  /** Function name; absent when unknown (exporters then name the frame after its module). */
  function?: string;
  /** ELF path, JIT map, `[kernel]` or a kernel module, or a marker such as `[stack lost]`. */
  module: string;
  /**
   * For user frames: the offset in the module's file when the symbolizer knew it, else the virtual
   * address; for kernel frames: the kernel address. Callers' frames point into their call
   * instruction (return address − 1).
   */
  address?: bigint;
  buildId?: string;
  kernel?: boolean;
}

/**
 * Label keys on every sample (pprof string labels). `trace_id`/`span_id` (and `span_name`,
 * `http_route`, `rpc_method`) appear only on samples whose thread was tagged with a span the
 * SpanTagResolver knew (Pyroscope's span profiles look for `span_id`). Snake case: Pyroscope's label
 * names allow no dots (OTLP profiles carry the semantic-convention names, otlp-profiles.ts).
 */
export const PROFILE_LABELS = {
  pid: 'pid',
  threadId: 'thread_id',
  threadName: 'thread_name',
  serviceName: 'service_name',
  containerId: 'container_id',
  traceId: 'trace_id',
  spanId: 'span_id',
  spanName: 'span_name',
  /** The served span's `http.route` / `rpc.method` (gRPC), when it has one: a flame graph per endpoint. */
  httpRoute: 'http_route',
  rpcMethod: 'rpc_method',
} as const;

export interface ProfileSample {
  /** Leaf first: kernel frames (if any) above user frames. Samples of one stack share the array. */
  frames: readonly ProfileFrame[];
  /** CPU: samples counted (each one period of CPU time). Off-CPU: blocks (switch-out to switch-in). */
  count: number;
  /** Off-CPU: the time those blocks lasted, in all. Absent for CPU samples (count × periodNanos). */
  nanos?: number;
  labels: Readonly<Record<string, string>>;
}

/**
 * `cpu`: time on a CPU, sampled. `off_cpu`: time blocked (sleeping, waiting for I/O, a lock, a
 * wake-up), measured from a thread's switch-out to its next switch-in, with the stack it blocked in.
 */
export type ProfileKind = 'cpu' | 'off_cpu';

export interface ProfileRecord {
  /** Absent: 'cpu'. */
  kind?: ProfileKind;
  /** service.name of the processes in it (one profile per service per interval). */
  service: string;
  /** Wall clock, ns since the epoch. */
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  /** CPU: the sampling frequency. Off-CPU: that of the CPU profile beside it (no sampling by time). */
  frequencyHz: number;
  /** CPU time one sample stands for: 1e9 / frequency. Off-CPU: 0 (each sample carries its nanos). */
  periodNanos: number;
  samples: ProfileSample[];
}

export function totalSamples(p: ProfileRecord): number {
  let n = 0;
  for (const s of p.samples) n += s.count;
  return n;
}

export function profileKind(p: ProfileRecord): ProfileKind {
  return p.kind ?? 'cpu';
}

/** The time a sample stands for: CPU samples count × period, off-CPU samples their measured time. */
export function sampleNanos(s: ProfileSample, periodNanos: number): number {
  return s.nanos ?? s.count * periodNanos;
}
