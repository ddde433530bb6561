// Exchanges → spans and metric points, with each process's resource. Every exchange's metric points
// are recorded and every span is shown to the observers (the local view's RED); then the shedder
// decides which spans go on through the linker to the exporters (only spans are shed, never metrics).
import type { ProcessMetadata } from '../metadata/process-metadata.js';
import type { Exchange } from '../model/exchange.js';
import type { AgentRecord, RecordSink } from '../model/records.js';
import type { HistogramPoint, SpanRecord } from '../model/span.js';
import { type IdSource, randomIds } from '../semconv/ids.js';
import { tlsAttributes } from '../semconv/tls.js';
import { conventionsFor } from '../semconv/registry.js';
import { SpanLinker, linkKey } from './span-linker.js';
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
  /** Told of every span as it is built from its exchange, and whether it is exported (the local view,
   * span-aware profiles). */
  onSpan?: (exchange: Exchange, span: SpanRecord, exported: boolean) => void;
  /** Decides which spans are exported when there are more than the agent can afford; none: all. */
  shedder?: SpanShedder;
}

export class ExchangePipeline implements RecordSink {
  readonly #linker: SpanLinker;
  readonly #ids: IdSource;
  #spans = 0;
  #failures = 0;

  constructor(private readonly opts: ExchangePipelineOptions) {
    this.#ids = opts.ids ?? randomIds;
    this.#linker = new SpanLinker({
      windowMs: opts.linkWindowMs ?? 300,
      maxHeld: opts.maxHeldSpans ?? 20_000,
      release: (spans) => {
        this.#spans += spans.length;
        for (const s of opts.sinks) s.spans(spans);
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
    const conventions = conventionsFor(ex);
    // Metrics first and always: they must count every exchange, shed or not.
    const points = conventions.toMetrics(ex, resource);
    if (points.length > 0) for (const s of this.opts.sinks) s.histograms(points);
    const span = conventions.toSpan(ex, resource, this.#ids);
    Object.assign(span.attributes, tlsAttributes(ex.connection));
    const key = linkKey(ex, conventions.linkId(ex));
    const exported = this.opts.shedder?.keep(key) ?? true;
    this.opts.onSpan?.(ex, span, exported);
    if (exported) this.#linker.add(span, key);
  }

  flush(): void {
    this.#linker.flush();
  }

  stats(): Record<string, number> {
    const l = this.#linker.stats();
    return {
      spans_out: this.#spans, spans_held: l.held, spans_linked: l.linked, link_overflow: l.overflow, span_build_failures: this.#failures,
      ...this.opts.shedder?.stats(),
    };
  }
}
