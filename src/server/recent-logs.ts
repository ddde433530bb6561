// The latest log records (process events, bpftrace output, function calls), kept locally for the
// control API's /api/logs: a ring, turned into JSON views only when someone asks.
import type { LogRecordData } from '../model/log.js';
import type { AttributeValue, Attributes } from '../model/span.js';

export interface LogView {
  time: string;
  severity: string;
  eventName?: string;
  body?: AttributeValue;
  service: string;
  pid: number | null;
  attributes: Attributes;
  traceId?: string;
  spanId?: string;
}

export interface LogFilter {
  /** Resource service.name. */
  service?: string;
  /** bpftrace.script attribute. */
  script?: string;
  eventName?: string;
  limit?: number;
}

export class RecentLogs {
  #ring: LogRecordData[] = [];
  #next = 0;

  constructor(private readonly max = 1000) {}

  add(r: LogRecordData): void {
    if (this.#ring.length < this.max) this.#ring.push(r);
    else this.#ring[this.#next] = r;
    this.#next = (this.#next + 1) % this.max;
  }

  /** Newest first. */
  list(f: LogFilter = {}): LogView[] {
    const limit = f.limit ?? 100;
    const out: LogView[] = [];
    for (let i = 1; i <= this.#ring.length && out.length < limit; i++) {
      const r = this.#ring[(this.#next - i + this.#ring.length * 2) % this.#ring.length]!;
      const service = String(r.resource.attributes['service.name'] ?? 'unknown');
      if (f.service !== undefined && service !== f.service) continue;
      if (f.script !== undefined && r.attributes['bpftrace.script'] !== f.script) continue;
      if (f.eventName !== undefined && r.eventName !== f.eventName) continue;
      out.push(logView(r, service));
    }
    return out;
  }
}

function logView(r: LogRecordData, service: string): LogView {
  const pid = r.resource.attributes['process.pid'];
  const ns = r.timeUnixNano !== 0n ? r.timeUnixNano : r.observedTimeUnixNano;
  return {
    time: new Date(Number(ns / 1_000_000n)).toISOString(),
    severity: r.severity.text,
    ...(r.eventName !== undefined ? { eventName: r.eventName } : {}),
    ...(r.body !== undefined ? { body: r.body } : {}),
    service,
    pid: typeof pid === 'number' ? pid : null,
    attributes: r.attributes,
    ...(r.traceId !== undefined ? { traceId: r.traceId, spanId: r.spanId } : {}),
  };
}
