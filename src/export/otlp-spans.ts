// Lantern's span records straight to an OTLP ExportTraceServiceRequest, as protobuf (the gRPC
// body) or as the protobuf JSON mapping (the --otlp-file line, as the Collector's file exporter
// writes it), in one pass: no SDK span objects, no intermediate message tree, no second pass over
// text. The encoding follows opentelemetry-proto (trace/v1/trace.proto, common/v1/common.proto)
// and matches what the OTel JS serializers produce for the same spans (test/export/otlp-spans.test.ts
// compares them).
//
// Spans are grouped into one ResourceSpans per process (ResourceRecord.key) with one ScopeSpans
// (scope "lantern"); each process's Resource message is encoded once and kept in the ResourceCache.
import type { AttributeValue, Attributes, SpanKind, SpanRecord } from '../model/span.js';
import { JsonWriter } from './json-writer.js';
import { ProtoWriter } from './proto-writer.js';
import type { ResourceCache, ResourceEntry } from './resource-cache.js';

export const SCOPE_NAME = 'lantern';
export const SCOPE_VERSION = '0.1.0';

/** Span.SpanKind of trace.proto. */
const KIND: Record<SpanKind, number> = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 };
/** Status.StatusCode of trace.proto. */
const STATUS = { unset: 0, ok: 1, error: 2 } as const;
/** Span.flags: W3C trace flags (sampled: Lantern exports every span it builds) and whether the
 * parent is remote (SpanFlags.SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK / _IS_REMOTE_MASK). */
const FLAGS_SAMPLED = 0x01;
const FLAGS_HAS_IS_REMOTE = 0x100;
const FLAGS_IS_REMOTE = 0x200;

const HEX_ID = /^[0-9a-f]+$/;

/** Ids the encoders can write: lowercase hex of the right length, not all zeros; end ≥ start. */
export function isValidSpanRecord(s: SpanRecord): boolean {
  return validId(s.traceId, 32) && validId(s.spanId, 16) &&
    (s.parentSpanId === undefined || (s.parentSpanId.length === 16 && HEX_ID.test(s.parentSpanId))) &&
    s.endTimeUnixNano >= s.startTimeUnixNano;
}

function validId(id: string, length: number): boolean {
  return id.length === length && HEX_ID.test(id) && !/^0+$/.test(id);
}

function spanFlags(s: SpanRecord): number {
  if (s.parentSpanId === undefined) return FLAGS_SAMPLED | FLAGS_HAS_IS_REMOTE;
  // A server (or consumer) span's parent came over the network; a client's is the application's
  // own span in the same process.
  const remote = s.kind === 'server' || s.kind === 'consumer';
  return FLAGS_SAMPLED | FLAGS_HAS_IS_REMOTE | (remote ? FLAGS_IS_REMOTE : 0);
}

/** The spans of a batch by process, in first-seen order. */
function byResource(spans: readonly SpanRecord[], resources: ResourceCache): Array<{ resource: ResourceEntry; spans: SpanRecord[] }> {
  const groups = new Map<string, { resource: ResourceEntry; spans: SpanRecord[] }>();
  for (const s of spans) {
    let g = groups.get(s.resource.key);
    if (g === undefined) groups.set(s.resource.key, (g = { resource: resources.entry(s.resource), spans: [] }));
    g.spans.push(s);
  }
  return [...groups.values()];
}

// --- protobuf --------------------------------------------------------------------------------

function writeAnyValue(w: ProtoWriter, field: number, v: AttributeValue): void {
  w.begin(field);
  if (typeof v === 'string') w.string(1, v);
  else if (typeof v === 'boolean') w.bool(2, v);
  else if (typeof v === 'number') {
    if (Number.isSafeInteger(v)) w.varint(3, v);
    else w.double(4, v);
  } else {
    w.begin(5); // ArrayValue
    for (const x of v) writeAnyValue(w, 1, x);
    w.end();
  }
  w.end();
}

function writeAttributes(w: ProtoWriter, field: number, attrs: Attributes): void {
  for (const key in attrs) {
    const v = attrs[key];
    if (v === undefined) continue;
    w.begin(field); // KeyValue
    w.string(1, key);
    writeAnyValue(w, 2, v);
    w.end();
  }
}

function resourceProto(entry: ResourceEntry): Uint8Array {
  return entry.encoding('proto', (attributes) => {
    const w = new ProtoWriter(1024);
    writeAttributes(w, 1, attributes);
    return Uint8Array.from(w.finish());
  });
}

function writeSpan(w: ProtoWriter, s: SpanRecord): void {
  w.begin(2); // ScopeSpans.spans
  w.hexBytes(1, s.traceId);
  w.hexBytes(2, s.spanId);
  if (s.traceState !== undefined) w.string(3, s.traceState);
  if (s.parentSpanId !== undefined) w.hexBytes(4, s.parentSpanId);
  w.string(5, s.name);
  w.varint(6, KIND[s.kind]);
  w.fixed64(7, s.startTimeUnixNano);
  w.fixed64(8, s.endTimeUnixNano);
  writeAttributes(w, 9, s.attributes);
  w.begin(15); // Status
  if (s.status.message !== undefined) w.string(2, s.status.message);
  const code = STATUS[s.status.code];
  if (code !== 0) w.varint(3, code);
  w.end();
  w.fixed32(16, spanFlags(s));
  w.end();
}

const writer = new ProtoWriter();

/**
 * One ExportTraceServiceRequest (protobuf) for `spans`, which must be valid (isValidSpanRecord).
 * The result is a fresh copy: callers may keep it while retrying.
 */
export function encodeTraceRequest(spans: readonly SpanRecord[], resources: ResourceCache): Uint8Array {
  const w = writer;
  w.reset();
  for (const g of byResource(spans, resources)) {
    w.begin(1); // ExportTraceServiceRequest.resource_spans
    w.bytes(1, resourceProto(g.resource));
    w.begin(2); // ScopeSpans
    w.begin(1); // InstrumentationScope
    w.string(1, SCOPE_NAME);
    w.string(2, SCOPE_VERSION);
    w.end();
    for (const s of g.spans) writeSpan(w, s);
    w.end();
    w.end();
  }
  return Uint8Array.from(w.finish());
}

// --- JSON (protobuf JSON mapping: lowerCamelCase, 64-bit integers as strings, ids as hex) ------
//
// Written piece by piece into the line's buffer: fixed fragments are bytes made once, short plain
// text is copied in JavaScript, and no string is built per span (joining them made V8 flatten and
// copy every span's text twice).

const J = (text: string): Uint8Array => Buffer.from(text, 'utf8');
const J_STRING = J('{"stringValue":');
const J_BOOL_TRUE = J('{"boolValue":true}');
const J_BOOL_FALSE = J('{"boolValue":false}');
const J_INT = J('{"intValue":"');
const J_INT_END = J('"}');
const J_DOUBLE = J('{"doubleValue":');
const J_ARRAY = J('{"arrayValue":{"values":[');
const J_ARRAY_END = J(']}}');
const J_CLOSE = J('}');
const J_COMMA = J(',');
const J_OPEN_LIST = J('[');
const J_CLOSE_LIST = J(']');
const J_TRACE_ID = J('{"traceId":"');
const J_SPAN_ID = J('","spanId":"');
const J_TRACE_STATE = J('","traceState":');
const J_PARENT = J(',"parentSpanId":"');
const J_QUOTE = J('"');
const J_NAME = J(',"name":');
const J_KIND = J(',"kind":');
const J_START = J(',"startTimeUnixNano":"');
const J_END = J('","endTimeUnixNano":"');
const J_ATTRIBUTES = J('","attributes":');
const J_STATUS = J(',"droppedAttributesCount":0,"events":[],"droppedEventsCount":0,"status":{"code":');
const J_MESSAGE = J(',"message":');
const J_FLAGS = J('},"links":[],"droppedLinksCount":0,"flags":');

function writeAnyValueJson(w: JsonWriter, v: AttributeValue): void {
  if (typeof v === 'string') {
    w.bytes(J_STRING).string(v).bytes(J_CLOSE);
  } else if (typeof v === 'boolean') {
    w.bytes(v ? J_BOOL_TRUE : J_BOOL_FALSE);
  } else if (typeof v === 'number') {
    if (Number.isSafeInteger(v)) w.bytes(J_INT).integer(v).bytes(J_INT_END);
    // NaN and ±Infinity are strings in the JSON mapping.
    else w.bytes(J_DOUBLE).raw(Number.isFinite(v) ? String(v) : `"${String(v)}"`).bytes(J_CLOSE);
  } else {
    w.bytes(J_ARRAY);
    for (let i = 0; i < v.length; i++) {
      if (i > 0) w.bytes(J_COMMA);
      writeAnyValueJson(w, v[i]!);
    }
    w.bytes(J_ARRAY_END);
  }
}

/** `{"key":"<name>","value":` per attribute name, as bytes: names repeat on every span (bounded:
 * names come from the semantic conventions, plus configured header names). */
const keyPrefixes = new Map<string, Uint8Array>();
const MAX_KEY_PREFIXES = 4096;

function keyPrefix(key: string): Uint8Array {
  let p = keyPrefixes.get(key);
  if (p === undefined) {
    p = J(`{"key":${JSON.stringify(key)},"value":`);
    if (keyPrefixes.size < MAX_KEY_PREFIXES) keyPrefixes.set(key, p);
  }
  return p;
}

function writeAttributesJson(w: JsonWriter, attrs: Attributes): void {
  w.bytes(J_OPEN_LIST);
  let first = true;
  for (const key in attrs) {
    const v = attrs[key];
    if (v === undefined) continue;
    if (!first) w.bytes(J_COMMA);
    first = false;
    w.bytes(keyPrefix(key));
    writeAnyValueJson(w, v);
    w.bytes(J_CLOSE);
  }
  w.bytes(J_CLOSE_LIST);
}

function resourceJson(entry: ResourceEntry): Uint8Array {
  return entry.encoding('json', (attributes) => {
    const w = new JsonWriter(1024);
    w.raw('{"attributes":');
    writeAttributesJson(w, attributes);
    w.raw(',"droppedAttributesCount":0}');
    return Uint8Array.from(w.finish());
  });
}

function writeSpanJson(w: JsonWriter, s: SpanRecord): void {
  w.bytes(J_TRACE_ID).raw(s.traceId).bytes(J_SPAN_ID).raw(s.spanId);
  if (s.traceState !== undefined) w.bytes(J_TRACE_STATE).string(s.traceState);
  else w.bytes(J_QUOTE);
  if (s.parentSpanId !== undefined) w.bytes(J_PARENT).raw(s.parentSpanId).bytes(J_QUOTE);
  w.bytes(J_NAME).string(s.name).bytes(J_KIND).integer(KIND[s.kind]);
  w.bytes(J_START).raw(String(s.startTimeUnixNano)).bytes(J_END).raw(String(s.endTimeUnixNano)).bytes(J_ATTRIBUTES);
  writeAttributesJson(w, s.attributes);
  w.bytes(J_STATUS).integer(STATUS[s.status.code]);
  if (s.status.message !== undefined) w.bytes(J_MESSAGE).string(s.status.message);
  w.bytes(J_FLAGS).integer(spanFlags(s)).bytes(J_CLOSE);
}

const jsonWriter = new JsonWriter();

/** One ExportTraceServiceRequest as one line of OTLP JSON (UTF-8, newline included); `spans` must be valid. */
export function traceRequestJsonLine(spans: readonly SpanRecord[], resources: ResourceCache): Buffer {
  const w = jsonWriter;
  w.reset();
  w.raw('{"resourceSpans":[');
  let firstGroup = true;
  for (const g of byResource(spans, resources)) {
    w.raw(firstGroup ? '{"resource":' : ',{"resource":');
    firstGroup = false;
    w.bytes(resourceJson(g.resource));
    w.raw(`,"scopeSpans":[{"scope":{"name":"${SCOPE_NAME}","version":"${SCOPE_VERSION}"},"spans":[`);
    for (let i = 0; i < g.spans.length; i++) {
      if (i > 0) w.bytes(J_COMMA);
      writeSpanJson(w, g.spans[i]!);
    }
    w.raw(']}]}');
  }
  w.raw(']}\n');
  return Buffer.from(w.finish());
}
