// A new span's record, made the one way every protocol's conventions make theirs: its ids given as
// text and words at once (model/span-ids.ts), and one shape (the same properties in the same order)
// for the encoders and the linker, whatever the protocol.
import { parentSpanIdFromHex, traceIdFromHex } from '../model/span-ids.js';
import type { Attributes, ResourceRecord, SpanKind, SpanRecord } from '../model/span.js';
import type { IdSource } from './ids.js';
import type { TraceParent } from './traceparent.js';

/**
 * A span from `startNs` to `endNs` (an end before the start is the start: a span never ends before
 * it begins), in `parent`'s trace as its child when the request carried a valid traceparent, else in
 * a new trace; its span id new.
 */
export function newSpanRecord(
  ids: IdSource, parent: TraceParent | null | undefined, name: string, kind: SpanKind, startNs: bigint, endNs: bigint,
  attributes: Attributes, status: SpanRecord['status'], resource: ResourceRecord,
): SpanRecord {
  const span: SpanRecord = {
    traceId: '', spanId: '', traceId0: 0, traceId1: 0, traceId2: 0, traceId3: 0, spanId0: 0, spanId1: 0, parentSpanId0: 0, parentSpanId1: 0,
    name, kind, startTimeUnixNano: startNs, endTimeUnixNano: endNs < startNs ? startNs : endNs, attributes, status, resource,
  };
  if (parent === null || parent === undefined) {
    ids.newTraceId(span);
  } else {
    traceIdFromHex(span, parent.traceId);
    parentSpanIdFromHex(span, parent.parentId);
  }
  ids.newSpanId(span);
  return span;
}
