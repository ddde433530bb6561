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
  let bytes = entry.encoded.get('proto');
  if (!(bytes instanceof Uint8Array)) {
    const w = new ProtoWriter(1024);
    writeAttributes(w, 1, entry.attributes);
    bytes = Uint8Array.from(w.finish());
    entry.encoded.set('proto', bytes);
  }
  return bytes;
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

/** Short text that needs no escaping in JSON (most attribute values: methods, paths, addresses). */
function plainAscii(s: string): boolean {
  if (s.length > 64) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c >= 0x7f || c === 0x22 || c === 0x5c) return false;
  }
  return true;
}

function anyValueJson(v: AttributeValue): string {
  if (typeof v === 'string') return `{"stringValue":${plainAscii(v) ? `"${v}"` : JSON.stringify(v)}}`;
  if (typeof v === 'boolean') return v ? '{"boolValue":true}' : '{"boolValue":false}';
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v)) return `{"intValue":"${v}"}`;
    // NaN and ±Infinity are strings in the JSON mapping.
    return Number.isFinite(v) ? `{"doubleValue":${v}}` : `{"doubleValue":"${String(v)}"}`;
  }
  let out = '{"arrayValue":{"values":[';
  for (let i = 0; i < v.length; i++) out += (i > 0 ? ',' : '') + anyValueJson(v[i]!);
  return `${out}]}}`;
}

/** `{"key":"<name>","value":` per attribute name: names repeat on every span (bounded: names come
 * from the semantic conventions, plus configured header names). */
const keyPrefixes = new Map<string, string>();
const MAX_KEY_PREFIXES = 4096;

function keyPrefix(key: string): string {
  let p = keyPrefixes.get(key);
  if (p === undefined) {
    p = `{"key":${JSON.stringify(key)},"value":`;
    if (keyPrefixes.size < MAX_KEY_PREFIXES) keyPrefixes.set(key, p);
  }
  return p;
}

function attributesJson(attrs: Attributes): string {
  let out = '';
  for (const key in attrs) {
    const v = attrs[key];
    if (v === undefined) continue;
    out += `${out === '' ? '' : ','}${keyPrefix(key)}${anyValueJson(v)}}`;
  }
  return `[${out}]`;
}

function resourceJson(entry: ResourceEntry): Uint8Array {
  let json = entry.encoded.get('json');
  if (json === undefined) {
    json = Buffer.from(`{"attributes":${attributesJson(entry.attributes)},"droppedAttributesCount":0}`, 'utf8');
    entry.encoded.set('json', json);
  }
  return json;
}

/**
 * One span's JSON as a string: V8 joins short strings cheaply; the span is then written to the
 * line's buffer in one UTF-8 copy (a whole batch joined as one string would be flattened at once,
 * a copy of the entire line, then copied again into a Buffer).
 */
function spanJson(s: SpanRecord): string {
  return `{"traceId":"${s.traceId}","spanId":"${s.spanId}"` +
    (s.traceState !== undefined ? `,"traceState":${JSON.stringify(s.traceState)}` : '') +
    (s.parentSpanId !== undefined ? `,"parentSpanId":"${s.parentSpanId}"` : '') +
    `,"name":${JSON.stringify(s.name)},"kind":${KIND[s.kind]}` +
    `,"startTimeUnixNano":"${s.startTimeUnixNano}","endTimeUnixNano":"${s.endTimeUnixNano}"` +
    `,"attributes":${attributesJson(s.attributes)},"droppedAttributesCount":0,"events":[],"droppedEventsCount":0` +
    `,"status":{"code":${STATUS[s.status.code]}${s.status.message !== undefined ? `,"message":${JSON.stringify(s.status.message)}` : ''}}` +
    `,"links":[],"droppedLinksCount":0,"flags":${spanFlags(s)}}`;
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
      if (i > 0) w.raw(',');
      w.text(spanJson(g.spans[i]!));
    }
    w.raw(']}]}');
  }
  w.raw(']}\n');
  return Buffer.from(w.finish());
}
