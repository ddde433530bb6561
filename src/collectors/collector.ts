// The contract between the agent's wiring and each collector.
import type { AgentConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { ProcessMetadata } from '../metadata/process-metadata.js';
import type { KernelClock } from '../model/clock.js';
import type { MetricSeries } from '../model/metric.js';
import type { RecordSink } from '../model/records.js';
import type { ProcessSelection } from '../selection/process-selection.js';
import type { FollowedConnections } from '../model/link-part.js';

export interface CollectorContext {
  config: AgentConfig;
  log: Logger;
  clock: KernelClock;
  sink: RecordSink;
  /** Process → resource, shared so collectors can read /proc while a process is still alive. */
  metadata: ProcessMetadata;
  /** Which processes are traced (the `selection` rules and --pid), shared by every BPF object. */
  selection?: ProcessSelection;
  /**
   * How full the collector's queue towards JavaScript is, 0 … 1, reported as it goes: the agent
   * sheds spans (never metrics) while it is filling, before raw events would have to be dropped.
   * `lost`: records were dropped since the last report (shedding goes to its most at once).
   * `lagMs`: how late the records now handled are, from the kernel's write (a yielding agent that
   * lags takes its full CPU share back: agent/cpu-priority.ts).
   */
  reportPressure?(pressure: number, lost?: boolean, lagMs?: number): void;
  /**
   * Watches how full a ring buffer the collector reads is, from outside the agent's own threads
   * (agent/cpu-priority.ts: a yielding agent starved by CPU-bound work takes its threads back before
   * the ring fills). Returns the function that ends the watch, at the collector's stop.
   */
  watchRing?(ring: { readonly fd: number }): () => void;
  /**
   * The share of spans the agent keeps now (0 … 1): a collector that can shed before user space
   * (the sockets collector, in the kernel) applies it there.
   */
  spanShare?(): number;
  /**
   * The same as it stands, no budget window closed by asking: a timer's look between ring batches
   * (a window closed by a timer in a quiet spell is not an idle gap, and the share would climb back
   * by steps instead of starting over).
   */
  spanShareNow?(): number;
  /**
   * Exchanges shed and counted in the kernel since the last call, as the kernel counts them: they
   * count towards the span budget now, though their metrics arrive a drain later
   * (sockets/kernel-red.ts) and are then not offered again.
   */
  offeredInKernel?(exchanges: number): void;
  /**
   * The TCP connections followed at both ends on this host, told by the socket tracker to the span
   * linker (model/link-part.ts).
   */
  followedConnections?: FollowedConnections;
  /**
   * The collector cannot go on (its consumer keeps failing...): the agent's supervisor stops it and
   * starts a new instance after a backoff (agent/collector-supervisor.ts). Set by the supervisor.
   */
  reportFailure?(error: Error): void;
}

export interface Collector {
  readonly name: string;
  /** Loads and attaches; throws a LanternError with the reason when it cannot. */
  start(ctx: CollectorContext): Promise<void>;
  /** Detaches, then delivers what is still in flight to the sink. */
  stop(): Promise<void>;
  /** Counters for self-metrics: events in, losses per stage. */
  stats(): Record<string, number>;
  /** Metric series the collector keeps itself (bpftrace maps), read at every metrics export. */
  metricSeries?(nowNs: bigint): MetricSeries[];
}

/** The pid filter settings of a collector's BPF objects (bpf-object.ts). */
export function filterSettings(ctx: CollectorContext): { agentPid: number; pids: number[]; selection?: ProcessSelection } {
  return { agentPid: process.pid, pids: ctx.config.pids, ...(ctx.selection !== undefined ? { selection: ctx.selection } : {}) };
}
