// Spans, log records and histogram points out of the agent: over OTLP (traces gRPC, logs gRPC or
// HTTP, metrics HTTP) when an endpoint is configured, as OTLP JSON lines when --otlp-file is set,
// both when both are. Each destination is a bounded queue in front of its transport (network:
// retried with backoff), so a slow or dead backend costs counted drops, never memory without bound
// and never an exception in the caller.
//
//   exportSpans ──▶ each span as protobuf ──▶ BoundedQueue ──▶ request (otlp-common.ts) ──▶ RetryingTransport ──▶ gRPC Export
//               └─▶ each span as JSON ──▶ BoundedQueue ──▶ OTLP JSON line ──▶ OtlpFileWriter
//   exportLogs  ──▶ each record as protobuf/JSON ──▶ BoundedQueue ──▶ request ──▶ RetryingTransport ──▶ gRPC or HTTP
//               └─▶ each record as JSON ──▶ BoundedQueue ──▶ OTLP JSON line ──▶ OtlpFileWriter
// Records are encoded as they are handed over and the queues hold their bytes (otlp-common.ts,
// EncodedRecord): a span's objects die young instead of waiting out their batch.
//   recordHistograms ──▶ HistogramAggregator ──(every intervalMs, one ResourceMetrics per process)──▶
//   metric sources ──(at the same collections)──▶
//               BoundedQueue ──▶ RetryingTransport ──▶ OTLPMetricExporter (HTTP)   and   ──▶ file
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Resource } from '@opentelemetry/resources';
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { AgentConfig, DiskBufferConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { LogRecordData } from '../model/log.js';
import type { Attributes, HistogramPoint, ResourceRecord, SpanRecord } from '../model/span.js';
import { BoundedQueue, type QueueStats, batchLength } from './bounded-queue.js';
import { DiskBuffer } from './disk-buffer.js';
import { HistogramAggregator } from './histogram-aggregator.js';
import { selfMetrics, toResourceMetrics } from './metric-data.js';
import { type ResolvedExport, resolveLogExport, resolveMetricExport, resolveTraceExport } from './otlp-endpoints.js';
import { GRPC_EXPORT_METHOD, GrpcExportTransport, createHttpMetricExporter } from './otlp-exporters.js';
import { OtlpFileWriter } from './otlp-file.js';
import { HttpExportTransport } from './otlp-http-transport.js';
import { metricsRequestJson } from './otlp-json-lines.js';
import { type EncodedRecord, RecordArena, type SignalEncoding, encodeRecord, encodeRecordJson, encodedRequestIn, encodedRequestJsonChunks, encodedRequestJsonLine, encodedRequestView, type JsonEnvelope } from './otlp-common.js';
import { LOG_ENCODING } from './otlp-logs.js';
import { SPAN_ENCODING } from './otlp-spans.js';
import { ResourceCache, type ResourceEntry } from './resource-cache.js';
import { ReusableBuffers } from './reusable-buffers.js';
import { type RetryOptions, RetryingTransport } from './retrying-transport.js';
import { SdkExporterTransport } from './sdk-exporter-transport.js';
import { type SendResult, type Transport, asError } from './transport.js';
import { redactUrls } from '../semconv/redaction.js';

/** Records waiting per destination, records per export, how long a partial batch waits, and how
 * many exports a network destination has in flight at once. */
export interface RecordQueueLimits {
  capacity: number;
  /** The encoded records' bytes waiting per destination, at most (besides `capacity`). */
  capacityBytes?: number;
  maxBatch: number;
  /** A batch's encoded bytes at most (BoundedQueueOptions.maxBatchBytes), with capacityBytes. */
  maxBatchBytes?: number;
  delayMs: number;
  maxInFlight?: number;
}

export interface TelemetryExporterOptions {
  spanQueue: RecordQueueLimits;
  /** Default: the same limits as spans. */
  logQueue?: RecordQueueLimits;
  /** ResourceMetrics snapshots waiting per destination. */
  metricQueueCapacity: number;
  /** How often cumulative histograms are exported. */
  metricIntervalMs: number;
  retry: Partial<RetryOptions>;
  /** SDK Resource objects kept (one per traced process). */
  maxResources: number;
  /** Histogram series (resource × instrument × attribute set) before overflow. */
  maxSeries: number;
  shutdownTimeoutMs: number;
  /** Under every resource's own attributes; default host.name and config.resourceAttributes. */
  baseResourceAttributes?: Attributes;
  /**
   * Spans and log records a network destination cannot take (retries exhausted, shutdown) go to
   * files here, replayed oldest first when it answers, at start too; max_bytes is shared evenly
   * between the signals that have a network destination.
   */
  diskBuffer?: DiskBufferConfig;
}

export const DEFAULT_EXPORTER_OPTIONS: TelemetryExporterOptions = {
  // Up to 4096 spans and 1.75 MiB of encoded spans per export (~2,000-4,000 spans of protobuf, ~1,600
  // of JSON): each export is a request whose cost hardly depends on its size (Node's http2 request()
  // alone, run too seldom for V8 to optimize, took ~0.3 ms of the JS thread: at 1024 spans per
  // export, ~20 a second at 20k spans/s, ~5 % of the agent's CPU). A request then stays well under
  // the 4 MiB a gRPC receiver accepts by default, and with its envelopes (a resource per process)
  // inside a 2 MiB body buffer (ReusableBuffers sizes them in powers of two).
  // Four exports in flight: a receiver's response time, not its throughput, bounded one at a time
  // (at 20k spans/s each export had 50 ms, and a busy Jaeger took longer).
  // 8 MiB of encoded spans per destination (twice that in OTLP JSON: jsonLimits, by the encoder): ~18,000 spans of
  // protobuf, ~13,000 of JSON. Counted alone, a file's full queue held ~21 MB of JSON past the
  // agent's capacity.
  spanQueue: { capacity: 16_384, capacityBytes: 8 << 20, maxBatch: 4096, maxBatchBytes: (2 << 20) - (256 << 10), delayMs: 1000, maxInFlight: 4 },
  metricQueueCapacity: 1024,
  metricIntervalMs: 60_000,
  retry: {},
  maxResources: 1024,
  maxSeries: 2000,
  shutdownTimeoutMs: 10_000,
};

/** Where one signal's records go: each encoded as handed over, the bytes queued. */
interface RecordDestination<T> {
  name: string;
  queue: BoundedQueue<EncodedRecord>;
  arena: RecordArena;
  encode(record: T, resource: ResourceEntry): EncodedRecord | null;
  /**
   * Whether the destination takes what it is sent, however slowly: a backend whose last attempt
   * succeeded, with nothing waiting in its disk buffer; the file. Its backlog is then the agent
   * producing more than it can take, which shedding answers (spanExportBacklog); a backend that
   * fails is an outage, which its queue and disk buffer answer.
   */
  answering(): boolean;
}

/** How a destination sends a batch of encoded records, and whether it is answering (RecordDestination). */
interface RecordSender {
  send(records: EncodedRecord[]): Promise<SendResult>;
  /**
   * `send` reads the records' slabs until its promise settles (the file's chunks, written from
   * them): they are released then. Otherwise it has copied them before it first awaits, and they are
   * released as soon as it returns.
   */
  readsUntilSent?: boolean;
  answering(): boolean;
  /** At close, what is still queued: returns how many it kept (disk buffer). */
  onClose?(records: EncodedRecord[]): number;
}

const ALWAYS_ANSWERING = (): boolean => true;

/** A destination's queue whose backend failed counts as answering again once it is filled below this share. */
const DRAINED_FILL = 0.5;

/**
 * `answering` of a destination, held false after its backend failed until the queue has drained the
 * backlog the outage left (below DRAINED_FILL): full when the backend comes back, that queue is the
 * outage's, not the agent producing more than the backend takes, and reading it as room for spans
 * shed the spans of the first moments after an outage (e2e/outage.test.ts: 4 of 24,053 shed at 300
 * req/s) that its drops at the door count as the outage's. The failure is seen when `answering` is
 * asked (the shedder does at each ring batch, and an outage lasts at least one failed attempt).
 */
function answeringOnceDrained(answering: () => boolean, queue: { readonly fill: number }): () => boolean {
  let outageBacklog = false;
  return () => {
    if (!answering()) {
      outageBacklog = true;
      return false;
    }
    if (outageBacklog && queue.fill >= DRAINED_FILL) return false;
    outageBacklog = false;
    return true;
  };
}

/** A destination's encoder: its arena, and how records are written into it. */
interface RecordEncoder<T> {
  arena: RecordArena;
  /** OTLP JSON, not protobuf: its queue holds twice the bytes (jsonLimits). */
  json: boolean;
  /** Null for a record that cannot be written (malformed ids or times). */
  encode(record: T, resource: ResourceEntry): EncodedRecord | null;
}

interface MetricDestination {
  name: string;
  queue: BoundedQueue<ResourceMetrics>;
}

/** A record encoder writing into its own arena, in one of the two OTLP encodings. */
function recordEncoder<T>(encoding: SignalEncoding<T>, json: boolean): RecordEncoder<T> {
  const arena = new RecordArena();
  return {
    arena,
    json,
    encode: json
      ? (r, resource) => encodeRecordJson(r, resource, arena, encoding.json)
      : (r, resource) => encodeRecord(r, resource, arena, encoding.proto),
  };
}

/** Records of one signal refused before any queue. */
interface RefusedCounts {
  invalid: number;
  afterShutdown: number;
}

/** Metrics another collector keeps itself (bpftrace maps...), read at every metrics collection. */
export type MetricSource = () => ResourceMetrics[];

const FAILURE_LOG_INTERVAL_MS = 30_000;
/** The --otlp-file destination of spans. */
const FILE_TRACES = 'file.traces';
/**
 * Lines a file destination has on their way to the disk at once (the stream writes them in order).
 * One at a time, a file took one batch per turn of the event loop: under a load's onset, with ring
 * batches of thousands of records per turn, its queue filled and the shedder shed for it (nginx
 * alone at 30k req/s, file only: a median of ~13,700 spans shed or dropped over the first second
 * in six fresh starts, against ~2,300 with four; a diagnostic run, not a benchmark).
 */
const FILE_LINES_IN_FLIGHT = 4;

/**
 * A queue's limits for records encoded as OTLP JSON: twice the bytes. A span in JSON is 2-3 times its
 * protobuf; at the protobuf's 8 MiB a file's queue had room for ~7,000 spans, fewer than a burst of
 * pipelined Redis commands makes before the queue can drain (redis-benchmark -P 16: 8,000 spans from
 * a few ring batches, whose excess was shed whole; test/protocols/redis-server.test.ts).
 */
function jsonLimits(limits: RecordQueueLimits): RecordQueueLimits {
  return limits.capacityBytes === undefined ? limits : { ...limits, capacityBytes: 2 * limits.capacityBytes };
}
/** An encoded record's bytes. */
const encodedBytes = (r: EncodedRecord): number => r.end - r.start;

/** Request bodies kept for reuse per network destination (one per call in flight), and the largest kept. */
const SPARE_BODIES = 4;
const MAX_SPARE_BODY_BYTES = 8 << 20;
const NO_BACKLOG = Object.freeze({ pressure: 0, room: Infinity });

/** Processes a batch is regrouped for at most: past them it is encoded in its own order. */
const MAX_REGROUPED = 16;

/**
 * The indices of `n` records grouped by their resource entry, in the order each first appears and
 * their own order within it; null when they have one resource, or more than MAX_REGROUPED. The few
 * processes of a batch are found by a scan of a short list, only where the resource changes (a Map
 * per batch cost more than the copies it saved).
 */
function byProcess(n: number, resourceOf: (i: number) => ResourceEntry): number[] | null {
  const entries: ResourceEntry[] = [];
  const groups: number[][] = [];
  let last: ResourceEntry | null = null;
  let group: number[] = [];
  for (let i = 0; i < n; i++) {
    const e = resourceOf(i);
    if (e !== last) {
      let k = entries.indexOf(e);
      if (k < 0) {
        if (entries.length === MAX_REGROUPED) return null;
        k = entries.push(e) - 1;
        groups.push([]);
      }
      last = e;
      group = groups[k]!;
    }
    group.push(i);
  }
  if (groups.length < 2) return null;
  const order: number[] = [];
  for (const g of groups) for (const i of g) order.push(i);
  return order;
}

export class TelemetryExporter {
  readonly #log: Logger;
  readonly #o: TelemetryExporterOptions;
  readonly #resources: ResourceCache;
  readonly #spanDest: Array<RecordDestination<SpanRecord>> = [];
  readonly #logDest: Array<RecordDestination<LogRecordData>> = [];
  readonly #metricDest: MetricDestination[] = [];
  readonly #metricSources: MetricSource[] = [];
  readonly #disks: Array<{ name: string; disk: DiskBuffer }> = [];
  readonly #retrying: Array<{ name: string; transport: Pick<RetryingTransport<unknown>, 'stats' | 'stopRetryingAt' | 'shutdown'> }> = [];
  readonly #aggregator: HistogramAggregator | null = null;
  readonly #file: OtlpFileWriter | null = null;
  readonly #ownsFile: boolean = false;
  readonly #describe: Record<string, string> = {};
  #timer: NodeJS.Timeout | null = null;
  #self: { resource: ResourceRecord; read: () => Record<string, number>; startNs: bigint } | null = null;
  #shutdown: Promise<void> | null = null;
  #lastFailureLog = new Map<string, { at: number; suppressed: number }>();
  readonly #spansRefused: RefusedCounts = { invalid: 0, afterShutdown: 0 };
  readonly #logsRefused: RefusedCounts = { invalid: 0, afterShutdown: 0 };
  #s = { internalErrors: 0, fileErrors: 0 };

  /**
   * `file`: an --otlp-file writer its owner (the agent) may share with other writers of the same
   * file, so lines never interleave, and closes itself. Without one, a writer is opened (and
   * closed on shutdown) when config.otlp.file is set.
   */
  constructor(config: AgentConfig, log: Logger, file: OtlpFileWriter | null = null, options: Partial<TelemetryExporterOptions> = {}) {
    this.#log = log.child({ component: 'export' });
    this.#o = { ...DEFAULT_EXPORTER_OPTIONS, ...options };
    const base = this.#o.baseResourceAttributes ?? { 'host.name': hostname(), ...config.resourceAttributes };
    this.#resources = new ResourceCache(this.#o.maxResources, base);

    const logLimits = this.#o.logQueue ?? this.#o.spanQueue;
    const traces = resolveTraceExport(config.otlp);
    const logs = resolveLogExport(config.otlp);
    const diskShare = this.#o.diskBuffer === undefined ? 0 : Math.floor(this.#o.diskBuffer.maxBytes / ((traces !== null ? 1 : 0) + (logs !== null ? 1 : 0)));
    if (traces !== null) {
      const inner = new GrpcExportTransport(traces, GRPC_EXPORT_METHOD.traces, this.#log);
      const out = this.#spilling('traces', 'traces', diskShare, inner, this.#network('traces', traces, inner), encodedRequestView, encodedRequestIn);
      this.#spanDest.push(this.#recordDestination('traces', this.#o.spanQueue, recordEncoder(SPAN_ENCODING, false), out));
    }
    if (logs !== null) {
      const grpc = logs.protocol === 'grpc';
      const inner = grpc ? new GrpcExportTransport(logs, GRPC_EXPORT_METHOD.logs, this.#log) : new HttpExportTransport(logs);
      // The OTLP/HTTP JSON body is the same request as the file's line.
      const json = logs.protocol === 'http/json';
      const assemble = json ? (r: EncodedRecord[]) => encodedRequestJsonLine(LOG_ENCODING.envelope, r) : encodedRequestView;
      // The files hold request bodies: one directory per encoding, so a changed protocol never replays the other's.
      const out = this.#spilling('logs', `logs-${logs.protocol.replace('/', '-')}`, diskShare, inner, this.#network('logs', logs, inner), assemble,
        json ? undefined : encodedRequestIn);
      this.#logDest.push(this.#recordDestination('logs', logLimits, recordEncoder(LOG_ENCODING, json), out));
    }
    const metrics = resolveMetricExport(config.otlp);
    if (metrics !== null) {
      const t = this.#network('metrics', metrics, new SdkExporterTransport(() => createHttpMetricExporter(metrics)));
      this.#metricDest.push({ name: 'metrics', queue: this.#metricQueue('metrics', 1, async ([rm]) => (rm === undefined ? { ok: true } : t.send(rm))) });
    }
    if (file !== null || config.otlp.file !== undefined) {
      this.#ownsFile = file === null;
      this.#file = file ?? new OtlpFileWriter(config.otlp.file as string);
      this.#describe.file = this.#file.path;
      this.#spanDest.push(this.#recordDestination(FILE_TRACES, this.#o.spanQueue, recordEncoder(SPAN_ENCODING, true),
        this.#fileLines(SPAN_ENCODING.envelope), FILE_LINES_IN_FLIGHT));
      this.#logDest.push(this.#recordDestination('file.logs', logLimits, recordEncoder(LOG_ENCODING, true), this.#fileLines(LOG_ENCODING.envelope), FILE_LINES_IN_FLIGHT));
      this.#metricDest.push({
        name: 'file.metrics',
        queue: this.#metricQueue('file.metrics', 4096, (rms) => this.#writeFile(async () => this.#file?.writeBatch(await metricsRequestJson(rms)))),
      });
    }
    if (this.#metricDest.length > 0) {
      this.#aggregator = new HistogramAggregator({ maxSeries: this.#o.maxSeries });
      this.#timer = setInterval(() => this.#collectMetrics(), this.#o.metricIntervalMs);
      this.#timer.unref();
    }
  }

  /**
   * How far behind span export is, for the span shedder. `room`: the most spans a destination that
   * is answering (RecordDestination.answering) can still take; what none can take is then shed whole
   * before it is built (SpanShedder.exportRoom), exactly the excess, rather than built, encoded and
   * dropped at full queues. `pressure`: in local mode (the file the only span destination), the share
   * of its queue taken, 0 … 1: a disk (or a JS thread) slower than the spans come then sheds whole
   * requests in the kernel too. A backend's queue is room only: its backlog in the shedder's share
   * shed in the kernel ahead of need, and fewer spans reached a Jaeger beside the agent (at 40k req/s
   * asked, 529-538k against 572-625k room only; docs/architecture.md). A
   * backend that fails is no room to shed for: full during an outage, its queue drops and counts
   * (or spills to the disk buffer) and retries; and a file beside a slow backend takes every span.
   */
  spanExportBacklog(): { pressure: number; room: number } {
    let room = -Infinity;
    for (const d of this.#spanDest) if (d.answering()) room = Math.max(room, d.queue.room);
    if (room === -Infinity) return NO_BACKLOG;
    const local = this.#spanDest.length === 1 && this.#spanDest[0]!.name === FILE_TRACES;
    return { pressure: local ? this.#spanDest[0]!.queue.fill : 0, room };
  }

  /** Hands spans over for export; returns at once, never throws. */
  exportSpans(spans: readonly SpanRecord[]): void {
    this.#export(this.#spanDest, spans, this.#spansRefused);
  }

  /** Hands log records over for export; returns at once, never throws. */
  exportLogs(records: readonly LogRecordData[]): void {
    this.#export(this.#logDest, records, this.#logsRefused);
  }

  #export<T extends { resource: ResourceRecord }>(dests: Array<RecordDestination<T>>, records: readonly T[], refused: RefusedCounts): void {
    try {
      if (dests.length === 0) return;
      if (this.#shutdown !== null) {
        refused.afterShutdown += records.length;
        return;
      }
      // Each record's resource looked up once for every destination. A batch's records come from a
      // few processes: the cache (an LRU, three Map operations on a string key) is asked once per
      // process, not per record.
      const resources = new Array<ResourceEntry | undefined>(records.length);
      const seen = new Map<ResourceRecord, ResourceEntry>();
      const resourceOf = (i: number): ResourceEntry => {
        let entry = resources[i];
        if (entry !== undefined) return entry;
        const record = records[i]!.resource;
        entry = seen.get(record);
        if (entry === undefined) seen.set(record, (entry = this.#resources.entry(record)));
        return (resources[i] = entry);
      };
      // Each destination encodes only what its queue has room for (the rest is counted as dropped,
      // not encoded for nothing). Records with malformed ids or times are left out as the encoders
      // find them (they would send garbage bytes): counted once, as the destination that read the
      // furthest saw them.
      let invalid = 0;
      // Encoded process by process when every destination takes them all: a request copies each
      // process's records into its envelope, and records that lie one after another in an arena
      // are copied as one (otlp-common.ts). Spans of a client and its server alternate in a batch.
      const order = dests.every((d) => d.queue.room >= records.length) ? byProcess(records.length, resourceOf) : null;
      for (const d of dests) {
        const room = d.queue.room;
        const encoded: EncodedRecord[] = [];
        let bad = 0;
        for (let n = 0; n < records.length && encoded.length < room; n++) {
          const i = order === null ? n : order[n]!;
          const e = d.encode(records[i]!, resourceOf(i));
          if (e === null) bad++;
          else encoded.push(e);
        }
        invalid = Math.max(invalid, bad);
        d.queue.push(encoded, records.length - bad);
      }
      refused.invalid += invalid;
    } catch (e) {
      this.#internalError(e);
    }
  }

  /**
   * `read` is called at every metrics collection (each interval, forceFlush, the final one at
   * shutdown) and what it returns is exported with the histograms. Its resources should come from
   * resource(): the metric exporters group by Resource object.
   */
  addMetricSource(read: MetricSource): void {
    this.#metricSources.push(read);
  }

  /** The SDK Resource of a process, the very object this exporter's own metrics use for it. */
  resource(record: ResourceRecord): Resource {
    return this.#resources.get(record);
  }

  /** Adds measurements to the cumulative histograms exported every metricIntervalMs; never throws. */
  recordHistograms(points: readonly HistogramPoint[]): void {
    try {
      if (this.#shutdown === null) this.#aggregator?.record(points);
    } catch (e) {
      this.#internalError(e);
    }
  }

  /** Exports the current histograms and everything queued, within the timeout. */
  async forceFlush(timeoutMs = this.#o.shutdownTimeoutMs): Promise<void> {
    this.#collectMetrics();
    await Promise.all(this.#queues().map((q) => q.flush(timeoutMs)));
  }

  /**
   * Final metrics collection, then everything queued is sent within the deadline; what cannot be
   * sent by then is dropped and counted. Resolves by the deadline even when a backend hangs.
   */
  shutdown(timeoutMs = this.#o.shutdownTimeoutMs): Promise<void> {
    this.#shutdown ??= this.#doShutdown(timeoutMs);
    return this.#shutdown;
  }

  async #doShutdown(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#collectMetrics();
    // A destination with a disk buffer keeps what it cannot send now there: no retry waits then.
    const spills = new Set(this.#disks.map((d) => d.name));
    for (const r of this.#retrying) r.transport.stopRetryingAt(spills.has(r.name) ? Date.now() : deadline);
    await Promise.all(this.#queues().map((q) => q.close(deadline - Date.now())));
    await beforeDeadline(Promise.all(this.#disks.map((d) => d.disk.stop())), deadline);
    const stops: Array<Promise<void>> = this.#retrying.map((r) => r.transport.shutdown());
    if (this.#file !== null && this.#ownsFile) stops.push(this.#file.close());
    await beforeDeadline(Promise.all(stops), deadline);
  }

  /**
   * Lets go of what the encoders keep for reuse and did not need since the last call (called at
   * the agent's steady pace of memory release): what a burst left comes back at rest.
   */
  releaseSpares(): void {
    for (const d of [...this.#spanDest, ...this.#logDest]) d.arena.trimSpares();
  }

  /** Where data goes, for the agent's start-up log: { traces, logs, metrics, file } as configured. */
  describe(): Record<string, unknown> {
    return { ...this.#describe };
  }

  /** Counters for self-monitoring: per destination sent/dropped by reason, retries, series, resources. */
  stats(): Record<string, number> {
    const out: Record<string, number> = {
      'spans.invalid': this.#spansRefused.invalid,
      'spans.after_shutdown': this.#spansRefused.afterShutdown,
      'logs.invalid': this.#logsRefused.invalid,
      'logs.after_shutdown': this.#logsRefused.afterShutdown,
      'internal_errors': this.#s.internalErrors,
    };
    for (const d of [...this.#spanDest, ...this.#logDest, ...this.#metricDest]) addQueueStats(out, d.name, d.queue.stats());
    for (const d of [...this.#spanDest, ...this.#logDest]) {
      const a = d.arena.stats();
      out[`${d.name}.arena_slabs_allocated`] = a.slabsAllocated;
      out[`${d.name}.arena_spare_slabs`] = a.spareSlabs;
    }
    for (const { name, disk } of this.#disks) {
      for (const [k, v] of Object.entries(disk.stats())) out[`${name}.disk.${k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}`] = v;
    }
    for (const { name, transport } of this.#retrying) {
      const r = transport.stats();
      out[`${name}.attempts`] = r.attempts;
      out[`${name}.retries`] = r.retries;
      out[`${name}.failed_attempts`] = r.failedAttempts;
    }
    if (this.#aggregator !== null) {
      const a = this.#aggregator.stats();
      out['histograms.series'] = a.series;
      out['histograms.points'] = a.points;
      out['histograms.points_overflowed'] = a.pointsOverflowed;
      out['histograms.points_dropped'] = a.pointsDropped;
      out['histograms.series_expired'] = a.seriesExpired;
    }
    if (this.#file !== null) {
      const f = this.#file.stats();
      out['file.lines'] = f.lines;
      out['file.write_errors'] = f.writeErrors + this.#s.fileErrors;
    }
    const rc = this.#resources.stats();
    out['resources.cached'] = rc.size;
    out['resources.evicted'] = rc.evicted;
    return out;
  }

  /**
   * Log records out of the exporter, whatever the number of destinations: `exported` reached every
   * destination, `dropped` is the most any one destination lost (0 and 0 without a destination).
   */
  logTotals(): { exported: number; dropped: number } {
    const stats = this.#logDest.map((d) => d.queue.stats());
    if (stats.length === 0) return { exported: 0, dropped: 0 };
    return {
      exported: Math.min(...stats.map((s) => s.exported)),
      dropped: Math.max(...stats.map((s) => s.droppedQueueFull + s.droppedRetriesExhausted + s.droppedRejected + s.droppedShutdown)),
    };
  }

  #queues(): Array<BoundedQueue<EncodedRecord> | BoundedQueue<ResourceMetrics>> {
    return [...this.#spanDest, ...this.#logDest, ...this.#metricDest].map((d) => d.queue);
  }

  /** A network destination's transport, retried; its settings' warnings logged, its place described. */
  #network<T>(name: string, r: ResolvedExport, transport: Transport<T>): RetryingTransport<T> {
    for (const w of r.warnings) this.#log.warn(w);
    const t = new RetryingTransport(transport, this.#o.retry);
    this.#retrying.push({ name, transport: t });
    this.#describe[name] = `${redactUrls(r.url)} (OTLP/${r.protocol})`; // described in logs and /api/stats: no credentials
    return t;
  }

  /**
   * How a network destination sends a batch: encoded, then through the retrying transport; with a
   * disk buffer, a batch the backend cannot take (retryable failure, shutdown) is written there,
   * and while anything waits there new batches go behind it, so the backend gets them oldest first.
   * `encode` returns the request in its encoder's buffer (reused at the next encode): the body that
   * waits for the backend is a copy in one of the destination's reusable buffers, back when the
   * call and its retries are over (the transports and the disk buffer keep nothing after that).
   * `encodeIn`, when the encoding has it, writes the body straight into such a buffer instead.
   */
  #spilling(name: string, dirName: string, maxBytes: number, inner: Transport<Uint8Array>, retrying: RetryingTransport<Uint8Array>,
    encode: (records: EncodedRecord[]) => Uint8Array, encodeIn?: (records: EncodedRecord[], bodies: ReusableBuffers) => Buffer): RecordSender {
    const bodies = new ReusableBuffers(SPARE_BODIES, MAX_SPARE_BODY_BYTES);
    const sendCopy = async (records: EncodedRecord[], then: (body: Buffer, r: SendResult) => SendResult): Promise<SendResult> => {
      const body = encodeIn !== undefined ? encodeIn(records, bodies) : bodies.copyOf(encode(records));
      try {
        return then(body, await retrying.send(body));
      } finally {
        bodies.release(body);
      }
    };
    if (this.#o.diskBuffer === undefined) return { send: (records) => sendCopy(records, (_body, r) => r), answering: () => !retrying.failing };
    const disk = new DiskBuffer({
      dir: join(this.#o.diskBuffer.path, dirName), maxBytes, transport: inner,
      onError: (what, e) => this.#log.warn(`disk buffer: ${what} failed`, { destination: name, error: e.message }),
    });
    this.#disks.push({ name, disk });
    const recovered = disk.stats().pendingRecords;
    if (recovered > 0) this.#log.info('disk buffer: replaying what an earlier run could not send', { destination: name, records: recovered });
    const spill = (body: Uint8Array, n: number, error: Error): SendResult => {
      disk.write(body, n);
      return { ok: false, retryable: true, spilled: true, error };
    };
    return {
      send: async (records) => {
        const n = records.length; // the encoded records are not held while the backend answers
        if (disk.pending) return spill(encode(records), n, new Error('behind the disk buffer'));
        return sendCopy(records, (body, r) => (!r.ok && (r.retryable || r.aborted === true) ? spill(body, n, r.error) : r));
      },
      answering: () => !retrying.failing && !disk.pending,
      onClose: (records) => {
        const { maxBatch, maxBatchBytes } = this.#o.spanQueue;
        for (let i = 0; i < records.length;) {
          const batch = records.slice(i, i + batchLength(records, i, maxBatch, maxBatchBytes, encodedBytes));
          disk.write(encode(batch), batch.length);
          i += batch.length;
        }
        return records.length;
      },
    };
  }

  /**
   * One destination of spans or log records: its encoder and its queue. `send` must have copied a
   * batch's bytes into its request before it first awaits (the network's encode first): their slabs
   * are released for reuse as soon as it returns; the file's are released once its line is written
   * (RecordSender.readsUntilSent).
   */
  #recordDestination<T>(name: string, signalLimits: RecordQueueLimits, encoder: RecordEncoder<T>, sender: RecordSender,
    maxInFlight = signalLimits.maxInFlight): RecordDestination<T> {
    const limits = encoder.json ? jsonLimits(signalLimits) : signalLimits;
    const onClose = sender.onClose;
    const queue = new BoundedQueue<EncodedRecord>({
      ...limits,
      ...(limits.capacityBytes !== undefined ? { bytesOf: encodedBytes } : {}),
      maxInFlight,
      ...(onClose !== undefined ? { onClose } : {}),
      send: (records) => {
        if (records.length === 0) return Promise.resolve({ ok: true });
        if (sender.readsUntilSent === true) return sender.send(records).finally(() => encoder.arena.release(records));
        try {
          return sender.send(records);
        } finally {
          encoder.arena.release(records);
        }
      },
      onFailure: (r, n) => this.#logFailure(name, r, n),
      onQueueFull: (n) => this.#logQueueFull(name, n),
    });
    return { name, queue, arena: encoder.arena, encode: encoder.encode, answering: answeringOnceDrained(sender.answering, queue) };
  }

  #metricQueue(name: string, maxBatch: number, send: (rms: ResourceMetrics[]) => Promise<SendResult>): BoundedQueue<ResourceMetrics> {
    return new BoundedQueue<ResourceMetrics>({
      capacity: this.#o.metricQueueCapacity, maxBatch, delayMs: 0, send, onFailure: (r, n) => this.#logFailure(name, r, n),
    });
  }

  /**
   * Each batch a line of the file: its envelope's text written into one of the file's writers, its
   * records written from their slabs (encodedRequestJsonChunks), which are released once the file has
   * the line. Waited for: the destination's sends in flight are its lines on their way to the disk
   * (FILE_LINES_IN_FLIGHT), and what the disk cannot take waits in its bounded queue.
   */
  #fileLines(names: JsonEnvelope): RecordSender {
    return {
      send: (records) => this.#writeFile(() => this.#file?.writeEncodedChunks((w) => encodedRequestJsonChunks(names, records, w))),
      readsUntilSent: true,
      answering: ALWAYS_ANSWERING,
    };
  }

  async #writeFile(write: () => Promise<void> | undefined): Promise<SendResult> {
    try {
      await write();
      return { ok: true };
    } catch (e) {
      this.#s.fileErrors++;
      return { ok: false, retryable: false, error: asError(e) };
    }
  }

  /** The agent's own counters, exported with every metrics collection under `resource`. */
  setSelfMetrics(resource: ResourceRecord, read: () => Record<string, number>): void {
    this.#self = { resource, read, startNs: BigInt(Date.now()) * 1_000_000n };
  }

  #collectMetrics(): void {
    try {
      if (this.#aggregator === null) return;
      const groups = this.#aggregator.collect();
      const rms = groups.map((g) => toResourceMetrics(g, this.#resources));
      for (const read of this.#metricSources) {
        try {
          rms.push(...read());
        } catch (e) {
          this.#internalError(e); // one broken source must not cost the others their metrics
        }
      }
      if (this.#self !== null) {
        rms.push(selfMetrics(this.#resources.get(this.#self.resource), this.#self.read(), BigInt(Date.now()) * 1_000_000n, this.#self.startNs));
      }
      if (rms.length === 0) return;
      for (const d of this.#metricDest) d.queue.push(rms);
    } catch (e) {
      this.#internalError(e);
    }
  }

  #logFailure(name: string, r: SendResult & { ok: false }, items: number): void {
    // A dead collector fails every batch: one line per destination per interval, with a count.
    const since = this.#throttle(name, 1);
    if (since === null) return;
    this.#log.warn('export failed, data dropped', {
      destination: name, items, retryable: r.retryable, error: r.error.message, ...(since > 0 ? { similarFailuresSinceLastReport: since } : {}),
    });
  }

  /** The backend (or the encoder) is slower than the traffic: one line per destination per interval. */
  #logQueueFull(name: string, dropped: number): void {
    const since = this.#throttle(`${name}:queue_full`, dropped);
    if (since === null) return;
    this.#log.warn('export queue full, data dropped (the backend takes less than the traffic)', {
      destination: name, dropped, ...(since > 0 ? { droppedSinceLastReport: since } : {}),
    });
  }

  /**
   * At most one log line per key per interval: null while within the interval (`count` is added to
   * what was held back), else what was held back since the last line.
   */
  #throttle(key: string, count: number): number | null {
    const now = Date.now();
    const last = this.#lastFailureLog.get(key);
    if (last !== undefined && now - last.at < FAILURE_LOG_INTERVAL_MS) {
      last.suppressed += count;
      return null;
    }
    this.#lastFailureLog.set(key, { at: now, suppressed: 0 });
    return last?.suppressed ?? 0;
  }

  #internalError(e: unknown): void {
    this.#s.internalErrors++;
    this.#log.error('exporter error', { error: asError(e).message });
  }
}

function addQueueStats(out: Record<string, number>, name: string, s: QueueStats): void {
  out[`${name}.accepted`] = s.accepted;
  out[`${name}.exported`] = s.exported;
  out[`${name}.queued`] = s.queued + s.inFlight;
  if (s.queuedBytes !== undefined) out[`${name}.queued_bytes`] = s.queuedBytes;
  out[`${name}.batches`] = s.batches;
  out[`${name}.dropped.queue_full`] = s.droppedQueueFull;
  out[`${name}.dropped.retries_exhausted`] = s.droppedRetriesExhausted;
  out[`${name}.dropped.rejected`] = s.droppedRejected;
  out[`${name}.dropped.shutdown`] = s.droppedShutdown;
  out[`${name}.spilled`] = s.spilled;
}

async function beforeDeadline(p: Promise<unknown>, deadline: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    p.catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
    }),
  ]);
  clearTimeout(timer);
}
