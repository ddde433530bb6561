// Lantern's span records straight to an OTLP ExportTraceServiceRequest, as protobuf (the gRPC
// body) or as the protobuf JSON mapping (the --otlp-file line, as the Collector's file exporter
// writes it), in one pass: no SDK span objects, no intermediate message tree, no second pass over
// text. The encoding follows opentelemetry-proto (trace/v1/trace.proto) and matches what the OTel JS
// serializers produce for the same spans (test/export/otlp-spans.test.ts compares them); the
// envelope, resources and attributes are otlp-common.ts's.
import type { SpanKind, SpanRecord } from '../model/span.js';
import { writableIds, writableParent } from '../model/span-ids.js';
import type { JsonWriter } from './json-writer.js';
import { J, J_CLOSE, J_QUOTE, type SignalEncoding, encodeRequest, requestJsonLine, writeAttributes, writeAttributesJson } from './otlp-common.js';
import type { ProtoWriter } from './proto-writer.js';
import type { ResourceCache } from './resource-cache.js';
import { SharedSpanFields } from './shared-span-fields.js';

/** Span.SpanKind of trace.proto. */
const KIND: Record<SpanKind, number> = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 };
/** Status.StatusCode of trace.proto. */
const STATUS = { unset: 0, ok: 1, error: 2 } as const;
/** Span.flags: W3C trace flags (sampled: Lantern exports every span it builds) and whether the
 * parent is remote (SpanFlags.SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK / _IS_REMOTE_MASK). */
const FLAGS_SAMPLED = 0x01;
const FLAGS_HAS_IS_REMOTE = 0x100;
const FLAGS_IS_REMOTE = 0x200;

/**
 * Whether the encoders can write `s`: its ids are ids (their words are not all zeros: the words of
 * text that is not an id are, model/span-ids.ts; W3C Trace Context: an all-zero id is invalid), its
 * parent's too when it has one, and it does not end before it starts. The encoders return false for
 * a span that is not: the exporter counts it as invalid and sends nothing of it.
 */
function writable(s: SpanRecord): boolean {
  return s.endTimeUnixNano >= s.startTimeUnixNano && writableIds(s) && (s.parentSpanId === undefined || writableParent(s));
}

function spanFlags(s: SpanRecord): number {
  if (s.parentSpanId === undefined) return FLAGS_SAMPLED | FLAGS_HAS_IS_REMOTE;
  // A server (or consumer) span's parent came over the network; a client's is the application's
  // own span in the same process.
  const remote = s.kind === 'server' || s.kind === 'consumer';
  return FLAGS_SAMPLED | FLAGS_HAS_IS_REMOTE | (remote ? FLAGS_IS_REMOTE : 0);
}

// --- protobuf --------------------------------------------------------------------------------

/** A Span's fields (trace.proto), inside ScopeSpans.spans; false for a span that cannot be written (above). */
function writeSpan(w: ProtoWriter, s: SpanRecord): boolean {
  if (!writable(s)) return false;
  w.idWords4(1, s.traceId0, s.traceId1, s.traceId2, s.traceId3);
  w.idWords2(2, s.spanId0, s.spanId1);
  if (s.traceState !== undefined) w.string(3, s.traceState);
  if (s.parentSpanId !== undefined) w.idWords2(4, s.parentSpanId0, s.parentSpanId1);
  protoShared.write(w, s, spanFlags(s));
  return true;
}

/** What spans alike share of their protobuf, written once (shared-span-fields.ts). */
const protoShared = new SharedSpanFields<ProtoWriter>({
  beforeStart: (w, s) => {
    w.string(5, s.name);
    w.varint(6, KIND[s.kind]);
  },
  start: (w, s) => w.fixed64(7, s.startTimeUnixNano),
  between: () => {},
  end: (w, s) => w.fixed64(8, s.endTimeUnixNano),
  afterEnd: (w, s, flags) => {
    writeAttributes(w, 9, s.attributes);
    w.begin(15); // Status
    if (s.status.message !== undefined) w.string(2, s.status.message);
    const code = STATUS[s.status.code];
    if (code !== 0) w.varint(3, code);
    w.end();
    w.fixed32(16, flags);
  },
});

/**
 * One ExportTraceServiceRequest (protobuf) for `spans`, which must be valid (it throws otherwise).
 * The result is a fresh copy: callers may keep it while retrying.
 */
export function encodeTraceRequest(spans: readonly SpanRecord[], resources: ResourceCache): Uint8Array {
  return encodeRequest(spans, resources, writeSpan);
}

// --- JSON ------------------------------------------------------------------------------------

const J_TRACE_ID = J('{"traceId":"');
const J_SPAN_ID = J('","spanId":"');
const J_TRACE_STATE = J(',"traceState":');
const J_PARENT = J(',"parentSpanId":"');
const J_NAME = J(',"name":');
const J_KIND = J(',"kind":');
const J_START = J(',"startTimeUnixNano":"');
const J_END = J('","endTimeUnixNano":"');
const J_ATTRIBUTES = J('","attributes":');
const J_STATUS = J(',"droppedAttributesCount":0,"events":[],"droppedEventsCount":0,"status":{"code":');
const J_MESSAGE = J(',"message":');
const J_FLAGS = J('},"links":[],"droppedLinksCount":0,"flags":');

function writeSpanJson(w: JsonWriter, s: SpanRecord): boolean {
  if (!writable(s)) return false;
  w.bytes(J_TRACE_ID).idWords4(s.traceId0, s.traceId1, s.traceId2, s.traceId3).bytes(J_SPAN_ID).idWords2(s.spanId0, s.spanId1).bytes(J_QUOTE);
  if (s.traceState !== undefined) w.bytes(J_TRACE_STATE).string(s.traceState);
  if (s.parentSpanId !== undefined) w.bytes(J_PARENT).idWords2(s.parentSpanId0, s.parentSpanId1).bytes(J_QUOTE);
  jsonShared.write(w, s, spanFlags(s));
  return true;
}

/** What spans alike share of their JSON, written once; the quotes around the times are theirs. */
const jsonShared = new SharedSpanFields<JsonWriter>({
  beforeStart: (w, s) => w.bytes(J_NAME).string(s.name).bytes(J_KIND).integer(KIND[s.kind]).bytes(J_START),
  start: (w, s) => w.nanos(s.startTimeUnixNano),
  between: (w) => w.bytes(J_END),
  end: (w, s) => w.nanos(s.endTimeUnixNano),
  afterEnd: (w, s, flags) => {
    w.bytes(J_ATTRIBUTES);
    writeAttributesJson(w, s.attributes);
    w.bytes(J_STATUS).integer(STATUS[s.status.code]);
    if (s.status.message !== undefined) w.bytes(J_MESSAGE).string(s.status.message);
    w.bytes(J_FLAGS).integer(flags).bytes(J_CLOSE);
  },
});

const TRACE_JSON = { resource: 'resourceSpans', scope: 'scopeSpans', records: 'spans' };

/** Spans one at a time, for the exporters' queues. */
export const SPAN_ENCODING: SignalEncoding<SpanRecord> = { proto: writeSpan, json: writeSpanJson, envelope: TRACE_JSON };

/** One ExportTraceServiceRequest as one line of OTLP JSON (UTF-8, newline included); `spans` must be valid (it throws otherwise). The encoder's memory: valid until the next line. */
export function traceRequestJsonLine(spans: readonly SpanRecord[], resources: ResourceCache): Buffer {
  return requestJsonLine(TRACE_JSON, spans, resources, writeSpanJson);
}
