// The agent's wiring: collectors → records → exporters, started and stopped in one place.
import type { AgentConfig } from '../config/schema.js';
import { isLocalMode } from '../config/schema.js';
import { LanternError } from '../errors.js';
import type { Collector } from '../collectors/collector.js';
import { availableCollectors, createCollector } from '../collectors/registry.js';
import { LogBatcher } from '../export/log-batcher.js';
import { OtlpFileWriter } from '../export/otlp-file.js';
import { attributesToKeyValues } from '../export/otlp-json.js';
import type { Logger } from '../log.js';
import { ProcessMetadata } from '../metadata/process-metadata.js';
import { KernelClock } from '../model/clock.js';
import type { AgentRecord, RecordSink } from '../model/records.js';
import { preflight } from './preflight.js';
import { baseAttributes } from './resource.js';

export interface AgentSummary {
  records: Record<string, number>;
  collectors: Record<string, Record<string, number>>;
  exported: { logRecords: number; dropped: number; fileLines: number; fileWriteErrors: number };
}

/** Counts records per type for the local view and the final summary. */
class RecordCounter implements RecordSink {
  readonly counts: Record<string, number> = {};
  constructor(private readonly next: RecordSink[]) {}
  put(record: AgentRecord): void {
    const key = record.type === 'process' ? `process.${record.event.kind}` : `exchange.${record.exchange.protocol}`;
    this.counts[key] = (this.counts[key] ?? 0) + 1;
    for (const n of this.next) n.put(record);
  }
}

export class Agent {
  #collectors: Collector[] = [];
  #file: OtlpFileWriter | null = null;
  #batcher: LogBatcher;
  #counter: RecordCounter;
  #summaryTimer: NodeJS.Timeout | null = null;
  readonly #metadata: ProcessMetadata;

  constructor(
    private readonly config: AgentConfig,
    private readonly log: Logger,
  ) {
    this.#metadata = new ProcessMetadata({ base: baseAttributes(config) });
    if (config.otlp.file !== undefined) this.#file = new OtlpFileWriter(config.otlp.file);
    this.#batcher = new LogBatcher({
      maxRecords: 512,
      flushMs: 1000,
      baseResource: attributesToKeyValues(baseAttributes(config)),
      emit: (request) => this.#file?.writeBatch(request),
    });
    this.#counter = new RecordCounter([this.#batcher]);
  }

  async start(): Promise<void> {
    const missing = this.config.collectors.filter((c) => !availableCollectors().includes(c));
    if (missing.length > 0) {
      throw new LanternError('LANTERN_ERR_NOT_AVAILABLE',
        `collector${missing.length > 1 ? 's' : ''} ${missing.join(', ')} not available yet (this build has: ${availableCollectors().join(', ')})`);
    }
    preflight(this.log);
    const ctx = { config: this.config, log: this.log, clock: new KernelClock(), sink: this.#counter, metadata: this.#metadata };
    for (const name of this.config.collectors) {
      const c = createCollector(name);
      if (c === null) continue;
      try {
        await c.start(ctx);
      } catch (e) {
        await this.stop();
        throw e instanceof LanternError ? e : new LanternError('LANTERN_ERR_COLLECTOR', `collector ${name}: ${(e as Error).message}`, { cause: e });
      }
      this.#collectors.push(c);
      this.log.info('collector started', { collector: name });
    }
    const where = this.config.pids.length > 0 ? `pids ${this.config.pids.join(', ')}` : 'every process';
    this.log.info(`tracing ${where} (agent pid ${process.pid} excluded)`);
    if (isLocalMode(this.config)) {
      this.log.info('local mode: no OTLP endpoint configured (set --otlp-endpoint or OTEL_EXPORTER_OTLP_ENDPOINT to export); summaries follow here');
      this.#summaryTimer = setInterval(() => this.log.info('summary', { records: this.#counter.counts }), 10_000).unref();
    } else {
      this.log.info('OTLP endpoint configured; network export of these records arrives with the exporters (traces/metrics/logs)', {
        endpoint: this.config.otlp.endpoint ?? this.config.otlp.logs.endpoint,
      });
    }
    if (this.#file !== null) this.log.info('writing OTLP JSON lines', { file: this.#file.path });
  }

  /** Detach every probe, deliver what is in flight, flush the exporters. Safe to call twice. */
  async stop(): Promise<AgentSummary> {
    if (this.#summaryTimer !== null) clearInterval(this.#summaryTimer);
    this.#summaryTimer = null;
    for (const c of this.#collectors) {
      try {
        await c.stop();
      } catch (e) {
        this.log.warn('collector did not stop cleanly', { collector: c.name, error: String(e) });
      }
    }
    this.#batcher.flush();
    await this.#file?.close();
    const summary = this.summary();
    this.#collectors = [];
    return summary;
  }

  summary(): AgentSummary {
    const b = this.#batcher.stats();
    const f = this.#file?.stats() ?? { lines: 0, writeErrors: 0 };
    return {
      records: { ...this.#counter.counts },
      collectors: Object.fromEntries(this.#collectors.map((c) => [c.name, c.stats()])),
      exported: { logRecords: b.exported, dropped: b.dropped, fileLines: f.lines, fileWriteErrors: f.writeErrors },
    };
  }
}
