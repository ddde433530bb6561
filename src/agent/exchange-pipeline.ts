// Exchanges → spans and metric points, with each process's resource. Every exchange's metric points
// are recorded first; then the shedder decides whether its span is exported (only spans are shed,
// never metrics). An exported span goes through the linker to the exporters; a shed one is not even
// built when the exchange has metric points (the local view counts it from those).
import type { ProcessMetadata } from '../metadata/process-metadata.js';
import type { FollowedConnections } from '../model/link-part.js';
import type { Exchange } from '../model/exchange.js';
import type { AgentRecord, RecordSink } from '../model/records.js';
import type { HistogramPoint, SpanRecord } from '../model/span.js';
import { type IdSource, randomIds } from '../semconv/ids.js';
import { tlsAttributes } from '../semconv/tls.js';
import { type ConventionsFor, conventionsFor } from '../semconv/registry.js';
import { type LinkKey, SpanLinker, linkKey } from './span-linker.js';
import type { SpanShedder } from './span-shedder.js';

/** Where finished telemetry goes (exporters, the local view, test listeners). */
export interface TelemetrySink {
  spans(spans: SpanRecord[]): void;
  histograms(points: HistogramPoint[]): void;
}

export interface ExchangePipelineOptions {
  metadata: ProcessMetadata;
  sinks: TelemetrySink[];
  linkWindowMs?: number;
  maxHeldSpans?: number;
  ids?: IdSource;
  /** Told of every span that is exported, as it is built (the local view, span-aware profiles). */
  onSpan?: (exchange: Exchange, span: SpanRecord) => void;
  /** Told of spans as the linker releases them to the sinks: final from then on (trace ids included). */
  onReleased?: (spans: readonly SpanRecord[]) => void;
  /**
   * Told of an exchange whose span is shed, with its duration points (the local view's RED counts
   * it from them). Its span is not even built, unless the exchange has no points (then `span`).
   */
  onShed?: (exchange: Exchange, points: readonly HistogramPoint[], span: SpanRecord | null) => void;
  /** Decides which spans are exported when there are more than the agent can afford; none: all. */
  shedder?: SpanShedder;
  /** The semantic conventions as configured (header capture, routes, secret names); default: the defaults. */
  conventions?: ConventionsFor;
  /**
   * The TCP connections the socket tracker follows: a span whose connection's other end is not
   * followed (a client on another host, a process not traced) does not wait for its other half.
   * None: every span with a link key may wait.
   */
  followed?: FollowedConnections;
}

export class ExchangePipeline implements RecordSink {
  readonly #linker: SpanLinker;
  readonly #ids: IdSource;
  readonly #conventions: ConventionsFor;
  #spans = 0;
  #failures = 0;
  /** The exchange being decided and its link key (the shedder's keptEarlier and otherEndMayCome ask about them). */
  #ex: Exchange | null = null;
  #key: LinkKey | null = null;
  /** The other end of the request being decided was kept: its span waits in the linker (for the shedder). */
  readonly #keptEarlier = (): boolean => this.#key !== null && this.#linker.holds(this.#key);
  /** The other end of the request being decided can still come (its span would; for the shedder's memory). */
  readonly #otherEndMayCome = (): boolean => this.#key === null || this.#ex === null || this.#otherEndFollowed(this.#ex, this.#key);

  constructor(private readonly opts: ExchangePipelineOptions) {
    this.#ids = opts.ids ?? randomIds;
    this.#conventions = opts.conventions ?? conventionsFor;
    this.#linker = new SpanLinker({
      windowMs: opts.linkWindowMs ?? 300,
      maxHeld: opts.maxHeldSpans ?? 20_000,
      release: (spans) => {
        this.#spans += spans.length;
        for (const s of opts.sinks) s.spans(spans);
        opts.onReleased?.(spans);
      },
    });
  }

  put(record: AgentRecord): void {
    if (record.type !== 'exchange') return;
    try {
      this.#exchange(record.exchange);
    } catch {
      // A record the semantic conventions cannot describe must not stop the rest: count it.
      this.#failures++;
    }
  }

  #exchange(ex: Exchange): void {
    const resource = this.opts.metadata.resource(ex.connection.pid);
    const conventions = this.#conventions(ex);
    // Metrics first and always: they must count every exchange, shed or not.
    const points = conventions.toMetrics(ex, resource);
    // Shed exchanges the kernel counted: this one stands for all of them, in its duration.
    const counted = ex.protocol === 'http1' ? ex.counted : undefined;
    if (counted !== undefined) for (const p of points) if (p.unit === 's') p.counted = counted;
    if (points.length > 0) for (const s of this.opts.sinks) s.histograms(points);
    // An HTTP/1 exchange paired in the kernel was decided there, by the same share (both ends alike);
    // one shed there needs no link key either.
    const decided = ex.protocol === 'http1' ? ex.request.kernelSampling : undefined;
    const key = decided === 'shed' ? null : linkKey(ex, conventions.linkId(ex), conventions.linkOrdinal?.(ex) ?? -1);
    this.#key = key;
    this.#ex = ex;
    let exported: boolean;
    if (counted !== undefined) {
      this.opts.shedder?.shedCountedInKernel(counted.count);
      exported = false;
    } else {
      exported = decided !== undefined
        ? this.opts.shedder?.decidedInKernel(decided === 'kept', key, this.#keptEarlier, this.#otherEndMayCome) ?? decided === 'kept'
        : this.opts.shedder?.keep(key, this.#keptEarlier, this.#otherEndMayCome) ?? true;
    }
    if (!exported && points.length > 0) {
      // Shed: no span is built at all, the cheapest way through under overload.
      this.opts.onShed?.(ex, points, null);
      return;
    }
    const span = conventions.toSpan(ex, resource, this.#ids);
    // Most connections are plain: no empty object made and merged per exchange for them. The
    // conventions' attributes may be shared by spans alike (frozen): merged into a copy.
    if (ex.connection.tls !== undefined) span.attributes = { ...span.attributes, ...tlsAttributes(ex.connection) };
    if (!exported) {
      this.opts.onShed?.(ex, points, span);
      return;
    }
    this.opts.onSpan?.(ex, span);
    this.#linker.add(span, key, key === null || this.#otherEndFollowed(ex, key));
  }

  /** Whether the other end of `ex`'s request can still come: its connection's both ends are followed (or none are told of). */
  #otherEndFollowed(ex: Exchange, key: LinkKey): boolean {
    return this.opts.followed?.otherEndMayCome(ex.connection, key.part) !== false;
  }

  /**
   * Spans kept and built, not yet handed to the sinks: waiting in the linker for their other halves,
   * or joined and released after the batch. The export queues' room does not count them yet.
   */
  get spansOnTheirWay(): number {
    return this.#linker.pending;
  }

  flush(): void {
    this.#linker.flush();
  }

  stats(): Record<string, number> {
    const l = this.#linker.stats();
    return {
      spans_out: this.#spans, spans_held: l.held, spans_linked: l.linked, link_overflow: l.overflow, link_connections_alone: l.alone,
      ...(this.opts.followed !== undefined ? { link_connections_followed: this.opts.followed.size } : {}), span_build_failures: this.#failures,
      ...this.opts.shedder?.stats(),
    };
  }
}
