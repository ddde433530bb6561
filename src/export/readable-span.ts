// SpanRecords as the SDK's ReadableSpan, the input of the OTLP trace serializers: explicit ids,
// explicit times, one Resource object per process (see resource-cache.ts).
import { type HrTime, type SpanContext, SpanKind, SpanStatusCode, TraceFlags } from '@opentelemetry/api';
import { type InstrumentationScope, TraceState } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import type { SpanKind as LanternSpanKind, SpanRecord } from '../model/span.js';
import type { ResourceCache } from './resource-cache.js';

/** Spans are grouped by scope object identity too: one object for all. */
export const LANTERN_SCOPE: InstrumentationScope = { name: 'lantern', version: '0.1.0' };

const NS_PER_S = 1_000_000_000n;

/** Epoch nanoseconds → [seconds, nanoseconds], exactly (a double would lose the last digits). */
export function nsToHrTime(ns: bigint): HrTime {
  const n = ns < 0n ? 0n : ns;
  return [Number(n / NS_PER_S), Number(n % NS_PER_S)];
}

const KIND: Record<LanternSpanKind, SpanKind> = {
  internal: SpanKind.INTERNAL,
  server: SpanKind.SERVER,
  client: SpanKind.CLIENT,
  producer: SpanKind.PRODUCER,
  consumer: SpanKind.CONSUMER,
};

const STATUS = { unset: SpanStatusCode.UNSET, ok: SpanStatusCode.OK, error: SpanStatusCode.ERROR } as const;

const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;

export function isValidSpanRecord(s: SpanRecord): boolean {
  return TRACE_ID.test(s.traceId) && !/^0+$/.test(s.traceId) && SPAN_ID.test(s.spanId) && !/^0+$/.test(s.spanId) &&
    (s.parentSpanId === undefined || SPAN_ID.test(s.parentSpanId)) && s.endTimeUnixNano >= s.startTimeUnixNano;
}

/**
 * One batch of SpanRecords as ReadableSpans. Records with malformed ids or times are left out (the
 * encoder would send garbage bytes) and counted in `invalid`.
 */
export function toReadableSpans(records: readonly SpanRecord[], resources: ResourceCache): { spans: ReadableSpan[]; invalid: number } {
  // Within a batch one object per key, even if the LRU evicts the key mid-batch.
  const batchResources = new Map<string, Resource>();
  const spans: ReadableSpan[] = [];
  let invalid = 0;
  for (const r of records) {
    if (!isValidSpanRecord(r)) {
      invalid++;
      continue;
    }
    let resource = batchResources.get(r.resource.key);
    if (resource === undefined) batchResources.set(r.resource.key, (resource = resources.get(r.resource)));
    spans.push(toReadableSpan(r, resource));
  }
  return { spans, invalid };
}

function toReadableSpan(r: SpanRecord, resource: Resource): ReadableSpan {
  // Lantern exports every span it builds, whatever the caller's sampling decision: sampled.
  const ctx: SpanContext = { traceId: r.traceId, spanId: r.spanId, traceFlags: TraceFlags.SAMPLED, isRemote: false };
  if (r.traceState !== undefined) ctx.traceState = new TraceState(r.traceState);
  const start = nsToHrTime(r.startTimeUnixNano);
  const end = nsToHrTime(r.endTimeUnixNano);
  const span: ReadableSpan = {
    name: r.name,
    kind: KIND[r.kind],
    spanContext: () => ctx,
    // A server (or consumer) span's parent came over the network; a client's is the application's
    // own span in the same process. OTLP records that distinction in the span flags.
    ...(r.parentSpanId !== undefined ? {
      parentSpanContext: {
        traceId: r.traceId, spanId: r.parentSpanId, traceFlags: TraceFlags.SAMPLED,
        isRemote: r.kind === 'server' || r.kind === 'consumer',
      },
    } : {}),
    startTime: start,
    endTime: end,
    duration: nsToHrTime(r.endTimeUnixNano - r.startTimeUnixNano),
    status: r.status.message !== undefined ? { code: STATUS[r.status.code], message: r.status.message } : { code: STATUS[r.status.code] },
    attributes: r.attributes,
    links: [],
    events: [],
    ended: true,
    resource,
    instrumentationScope: LANTERN_SCOPE,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
  return span;
}
