// Groups records into OTLP log batches: a bounded buffer flushed on size or time, one resource per
// process so backends show each traced program as itself.
import type { AgentRecord, RecordSink } from '../model/records.js';
import { type KeyValue, type LogRecordJson, type ResourceLogsJson, SCOPE, attr, processEventToLog } from './otlp-json.js';

export interface LogBatchOptions {
  maxRecords: number;
  flushMs: number;
  /** Resource attributes every resource gets (host.name, OTEL_RESOURCE_ATTRIBUTES, ...). */
  baseResource: KeyValue[];
  /** Where finished ExportLogsServiceRequest bodies go. */
  emit(request: { resourceLogs: ResourceLogsJson[] }): void;
}

export class LogBatcher implements RecordSink {
  #pending: Array<{ pid: number; service: string; record: LogRecordJson }> = [];
  #timer: NodeJS.Timeout | null = null;
  #dropped = 0;
  #exported = 0;

  constructor(private readonly opts: LogBatchOptions) {}

  put(record: AgentRecord): void {
    if (record.type !== 'process') return;
    // Bound memory: past 4 batches' worth waiting, new records are dropped and counted.
    if (this.#pending.length >= this.opts.maxRecords * 4) {
      this.#dropped++;
      return;
    }
    const e = record.event;
    this.#pending.push({ pid: e.pid, service: e.comm, record: processEventToLog(e, BigInt(Date.now()) * 1_000_000n) });
    if (this.#pending.length >= this.opts.maxRecords) this.flush();
    else this.#timer ??= setTimeout(() => this.flush(), this.opts.flushMs).unref();
  }

  flush(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#pending.length === 0) return;
    const byPid = new Map<number, { service: string; records: LogRecordJson[] }>();
    for (const p of this.#pending) {
      let g = byPid.get(p.pid);
      if (g === undefined) byPid.set(p.pid, (g = { service: p.service, records: [] }));
      g.records.push(p.record);
    }
    this.#exported += this.#pending.length;
    this.#pending = [];
    const resourceLogs: ResourceLogsJson[] = [...byPid].map(([pid, g]) => ({
      resource: { attributes: [...this.opts.baseResource, attr('service.name', g.service), attr('process.pid', pid)] },
      scopeLogs: [{ scope: SCOPE, logRecords: g.records }],
    }));
    this.opts.emit({ resourceLogs });
  }

  stats(): { exported: number; dropped: number } {
    return { exported: this.#exported, dropped: this.#dropped };
  }
}
