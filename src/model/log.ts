// Log records (OTel events and plain logs), independent of any SDK: made by collectors (process
// exec/exit, bpftrace output, dynamic logging), turned into OTLP by src/export/otlp-logs.ts.
import type { AttributeValue, Attributes, ResourceRecord } from './span.js';

/** SeverityNumber of logs/v1/logs.proto, the ones Lantern uses. */
export const SEVERITY = {
  debug: { number: 5, text: 'DEBUG' },
  info: { number: 9, text: 'INFO' },
  warn: { number: 13, text: 'WARN' },
  error: { number: 17, text: 'ERROR' },
} as const;
export type Severity = (typeof SEVERITY)[keyof typeof SEVERITY];

export interface LogRecordData {
  /** When the event happened (0n when unknown: OTLP then uses the observed time). */
  timeUnixNano: bigint;
  /** When Lantern saw it. */
  observedTimeUnixNano: bigint;
  severity: Severity;
  /** OTel event name (the record is an event when set), e.g. "process.exec". */
  eventName?: string;
  body?: AttributeValue;
  attributes: Attributes;
  /** The span the thread was serving, when known (32 and 16 lowercase hex chars, both or neither). */
  traceId?: string;
  spanId?: string;
  /** That span's W3C trace flags (0x01: sampled), with traceId and spanId. */
  traceFlags?: number;
  /** The process (or, for host-wide records, the agent's host) the record belongs to. */
  resource: ResourceRecord;
}
