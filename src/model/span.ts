// Finished spans and metric points, independent of any SDK: built from exchanges by src/semconv,
// turned into OTLP by src/export.
import type { SpanIdWords } from './span-ids.js';

export type AttributeValue = string | number | boolean | string[] | number[] | boolean[];
export type Attributes = Record<string, AttributeValue>;

/** The process a record belongs to: one OTel resource per traced process. */
export interface ResourceRecord {
  /** Stable key for grouping (e.g. "pid:1234:starttime"). */
  key: string;
  attributes: Attributes;
}

export type SpanKind = 'server' | 'client' | 'internal' | 'producer' | 'consumer';

/**
 * A finished span. Its ids are text and words (span-ids.ts), changed only through span-ids.ts's
 * setters, which keep the two one id.
 */
export interface SpanRecord extends SpanIdWords {
  /** 32 lowercase hex chars. */
  readonly traceId: string;
  /** 16 lowercase hex chars. */
  readonly spanId: string;
  readonly parentSpanId?: string;
  /** W3C tracestate from the request, if any. */
  traceState?: string;
  name: string;
  kind: SpanKind;
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: Attributes;
  status: { code: 'unset' | 'ok' | 'error'; message?: string };
  resource: ResourceRecord;
}

/**
 * Measurements already bucketed elsewhere (the kernel counts the exchanges it sheds,
 * bpf/include/pairing.h): many values of one series, as a histogram of their own.
 */
export interface CountedValues {
  count: number;
  sum: number;
  min: number;
  max: number;
  /** Inclusive upper bounds, as the series' own must be for them to add up. */
  boundaries: readonly number[];
  /** boundaries.length + 1 buckets. */
  counts: readonly number[];
}

/** One measurement for a histogram instrument, or (`counted`) many. */
export interface HistogramPoint {
  /** Instrument name, e.g. "http.server.request.duration". */
  name: string;
  unit: string;
  description: string;
  /** The measurement; with `counted`, one of them (what `counted` stands for is what counts). */
  value: number;
  attributes: Attributes;
  resource: ResourceRecord;
  timeUnixNano: bigint;
  counted?: CountedValues;
}
