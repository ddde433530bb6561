// Lantern's one-pass OTLP span encoders against the OpenTelemetry JS serializers as the oracle: the
// same spans, given to the SDK as ReadableSpans, must decode to the same ExportTraceServiceRequest
// (protobuf) and parse to the same JSON (after the int64-as-string canonical form).
import { type SpanContext, SpanKind, SpanStatusCode, TraceFlags } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import t from 'tap';
import { nsToHrTime } from '../../src/export/metric-data.js';
import { canonicalInt64 } from '../../src/export/otlp-json-lines.js';
import { type EncodedRecord, RecordArena, encodeRecord, encodeRecordJson, encodedRequest, encodedRequestIn, encodedRequestJsonChunks, encodedRequestJsonLine, encodedRequestView, writeAttributes } from '../../src/export/otlp-common.js';
import { JsonWriter } from '../../src/export/json-writer.js';
import { ReusableBuffers } from '../../src/export/reusable-buffers.js';
import { SPAN_ENCODING, encodeTraceRequest, traceRequestJsonLine } from '../../src/export/otlp-spans.js';
import { ProtoWriter } from '../../src/export/proto-writer.js';
import { ResourceCache } from '../../src/export/resource-cache.js';
import type { Attributes, SpanRecord } from '../../src/model/span.js';
import { LONG_TEXT, PLAIN_PROCESS, UNICODE_PROCESS, randomBatches, resourceOf, span } from './fixtures.js';
import { decodeTraceRequest } from './otlp-receivers.js';

const KIND = { internal: SpanKind.INTERNAL, server: SpanKind.SERVER, client: SpanKind.CLIENT, producer: SpanKind.PRODUCER, consumer: SpanKind.CONSUMER };
const STATUS = { unset: SpanStatusCode.UNSET, ok: SpanStatusCode.OK, error: SpanStatusCode.ERROR } as const;
const SCOPE = { name: 'lantern', version: '0.1.0' };

/** The oracle's input: a SpanRecord as the SDK's ReadableSpan (one Resource object per process). */
function readable(r: SpanRecord, cache: ResourceCache): ReadableSpan {
  const ctx: SpanContext = { traceId: r.traceId, spanId: r.spanId, traceFlags: TraceFlags.SAMPLED };
  if (r.traceState !== undefined) ctx.traceState = new TraceState(r.traceState);
  return {
    name: r.name, kind: KIND[r.kind], spanContext: () => ctx,
    ...(r.parentSpanId !== undefined ? {
      parentSpanContext: { traceId: r.traceId, spanId: r.parentSpanId, traceFlags: TraceFlags.SAMPLED, isRemote: r.kind === 'server' || r.kind === 'consumer' },
    } : {}),
    startTime: nsToHrTime(r.startTimeUnixNano), endTime: nsToHrTime(r.endTimeUnixNano),
    duration: nsToHrTime(r.endTimeUnixNano - r.startTimeUnixNano),
    status: r.status.message !== undefined ? { code: STATUS[r.status.code], message: r.status.message } : { code: STATUS[r.status.code] },
    attributes: r.attributes, links: [], events: [], ended: true, resource: cache.get(r.resource), instrumentationScope: SCOPE,
    droppedAttributesCount: 0, droppedEventsCount: 0, droppedLinksCount: 0,
  };
}

/** Spans covering what the encoders must handle: kinds, parents, trace state, statuses, every attribute type, UTF-8. */
function variedSpans(): SpanRecord[] {
  const [a, b, long] = [PLAIN_PROCESS, UNICODE_PROCESS, LONG_TEXT];
  return [
    span(a, 0),
    span(b, 1, { kind: 'client', parentSpanId: '00f067aa0ba902b7', traceState: 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7' }),
    span(a, 2, { kind: 'server', parentSpanId: '1111111111111111', status: { code: 'error', message: 'Internal Server Error — 500' } }),
    span(b, 3, { kind: 'internal', status: { code: 'ok' }, attributes: { big: 2 ** 40, neg: -7, ratio: 0.25, yes: true, no: false, list: ['a', 'é', ''], empty: '', 'db.query.text': long } }),
    span(a, 4, { kind: 'producer', name: '' }),
    span(a, 5, { kind: 'consumer', parentSpanId: 'abcdefabcdefabcd', attributes: {} }),
  ];
}

t.test('protobuf: the same request as the SDK serializer', async (t) => {
  const spans = variedSpans();
  const cache = new ResourceCache(16, { 'host.name': 'node-1' });
  const ours = decodeTraceRequest(encodeTraceRequest(spans, cache), true);
  const theirs = decodeTraceRequest(ProtobufTraceSerializer.serializeRequest(spans.map((s) => readable(s, cache)))!, true);
  t.same(ours, theirs);
  t.equal((ours.resourceSpans as unknown[]).length, 2, 'one ResourceSpans per process');
});

t.test('JSON line: the same request as the SDK serializer', async (t) => {
  const spans = variedSpans();
  const cache = new ResourceCache(16, { 'host.name': 'node-1' });
  const bytes = traceRequestJsonLine(spans, cache);
  const line = bytes.toString('utf8');
  t.equal(line.indexOf('\n'), line.length - 1, 'one line, ending in a newline');
  const theirs = canonicalInt64(JSON.parse(new TextDecoder().decode(JsonTraceSerializer.serializeRequest(spans.map((s) => readable(s, cache)))!)) as object);
  t.same(JSON.parse(line), theirs);
});

t.test('a frozen attribute set shared by spans: encoded once, the same bytes as an unshared one, in both encodings', async (t) => {
  const shared = Object.freeze({ 'http.request.method': 'GET', 'url.path': '/items', 'http.response.status_code': 200, 'user_agent.original': 'curl/8 — é' });
  const spans = [0, 1, 2].map((i) => span(PLAIN_PROCESS, i, { attributes: shared }));
  const unshared = spans.map((s) => ({ ...s, attributes: { ...s.attributes } }));
  const cache = new ResourceCache(16, {});
  // The first span encodes the set; the others copy that encoding.
  t.same(Buffer.from(encodeTraceRequest(spans, cache)), Buffer.from(encodeTraceRequest(unshared, cache)), 'protobuf');
  t.same(Buffer.from(encodeTraceRequest(spans, cache)), Buffer.from(encodeTraceRequest(unshared, cache)), 'protobuf, every span from the cache');
  const json = Buffer.from(traceRequestJsonLine(spans, cache)).toString();
  t.equal(json, Buffer.from(traceRequestJsonLine(unshared, cache)).toString(), 'JSON');
  t.equal(Buffer.from(traceRequestJsonLine(spans, cache)).toString(), json, 'JSON, every span from the cache');
  // The same set as another field (a resource's attributes are field 1): encoded for that field.
  const bytesOf = (attrs: Attributes, field: number): Buffer => {
    const w = new ProtoWriter(256);
    writeAttributes(w, field, attrs);
    return Buffer.from(w.finish());
  };
  t.same(bytesOf(shared, 9), bytesOf({ ...shared }, 9), 'field 9, from the cache');
  t.same(bytesOf(shared, 1), bytesOf({ ...shared }, 1), 'field 1 after field 9');
  t.same(bytesOf(shared, 9), bytesOf({ ...shared }, 9), 'field 9 after field 1');
});

t.test('spans of one shape whose times have other lengths: each written as an unshared one would be, in both encodings', async (t) => {
  // The shared fields carry the times of the span they were kept from, and later spans' times are
  // written over them: in JSON a time's digits vary in number (not within one era, but the encoder
  // must not depend on it). Start, end or both one digit shorter or longer than the first span's,
  // the first span itself among them again after the others.
  const shared = Object.freeze({ 'http.request.method': 'GET', 'url.path': '/health', 'http.response.status_code': 200 });
  const times: Array<[bigint, bigint]> = [
    [1_765_000_000_123_456_789n, 1_765_000_000_123_999_999n],
    [999_999_999_999_999_999n, 1_765_000_000_000_000_000n],
    [1_765_000_000_000_000_000n, 1_765_000_000_000_000_000n],
    [999_999_999_999_999_000n, 999_999_999_999_999_999n],
    [12_345n, 1_765_000_000_000_000_001n],
    [0n, 7n],
    [1_765_000_000_000_000_000n, 10_000_000_000_000_000_000n],
    [1_765_000_000_123_456_789n, 1_765_000_000_123_999_999n],
  ];
  const spans = times.map(([start, end], i) => ({ ...span(PLAIN_PROCESS, i, { name: 'GET', attributes: shared }), startTimeUnixNano: start, endTimeUnixNano: end }));
  const unshared = spans.map((s) => ({ ...s, attributes: { ...s.attributes } }));
  const cache = new ResourceCache(16, {});
  for (const round of ['first', 'again']) {
    t.same(Buffer.from(encodeTraceRequest(spans, cache)), Buffer.from(encodeTraceRequest(unshared, cache)), `protobuf, ${round}`);
    t.equal(Buffer.from(traceRequestJsonLine(spans, cache)).toString(), Buffer.from(traceRequestJsonLine(unshared, cache)).toString(), `JSON, ${round}`);
  }
  const line = JSON.parse(traceRequestJsonLine(spans, cache).toString()) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<{ startTimeUnixNano: string; endTimeUnixNano: string }> }> }> };
  t.same(line.resourceSpans[0]!.scopeSpans[0]!.spans.map((s) => [s.startTimeUnixNano, s.endTimeUnixNano]), times.map(([a, b]) => [String(a), String(b)]), 'JSON: every time as its own digits');
  const ours = decodeTraceRequest(encodeTraceRequest(spans, cache), true);
  t.same(ours, decodeTraceRequest(ProtobufTraceSerializer.serializeRequest(spans.map((s) => readable(s, cache)))!, true), 'protobuf: the same as the SDK serializer');
});

t.test('spans of one frozen set in many shapes: each written as an unshared one would be, from the shared fields too', async (t) => {
  const shared = Object.freeze({ 'http.request.method': 'POST', 'url.path': '/orders', 'http.response.status_code': 503 });
  // Name, kind, status (code, message), a parent (the flags) and trace state each make another shape;
  // more shapes than a set keeps, so the last are written field by field every time.
  const shapes: Array<Partial<SpanRecord>> = [
    {}, { name: 'POST /orders' }, { kind: 'client' }, { status: { code: 'error' } }, { status: { code: 'error', message: 'Service Unavailable' } },
    { parentSpanId: '00f067aa0ba902b7' }, { kind: 'client', parentSpanId: '00f067aa0ba902b7' }, { traceState: 'congo=t61rcWkgMzE' },
  ];
  const spans = [...shapes, ...shapes].map((extra, i) => span(PLAIN_PROCESS, i, { name: 'POST', ...extra, attributes: shared }));
  const unshared = spans.map((s) => ({ ...s, attributes: { ...s.attributes } }));
  const cache = new ResourceCache(16, {});
  for (const round of ['first', 'again']) {
    t.same(Buffer.from(encodeTraceRequest(spans, cache)), Buffer.from(encodeTraceRequest(unshared, cache)), `protobuf, ${round}`);
    t.equal(Buffer.from(traceRequestJsonLine(spans, cache)).toString(), Buffer.from(traceRequestJsonLine(unshared, cache)).toString(), `JSON, ${round}`);
  }
  const theirs = canonicalInt64(JSON.parse(new TextDecoder().decode(JsonTraceSerializer.serializeRequest(spans.map((s) => readable(s, cache)))!)) as object);
  t.same(JSON.parse(traceRequestJsonLine(spans, cache).toString()), theirs, 'JSON: the same as the SDK serializer');
  const ours = decodeTraceRequest(encodeTraceRequest(spans, cache), true);
  t.same(ours, decodeTraceRequest(ProtobufTraceSerializer.serializeRequest(spans.map((s) => readable(s, cache)))!, true), 'protobuf: the same as the SDK serializer');
});

t.test('resources are encoded once per process and follow changed attributes', async (t) => {
  const cache = new ResourceCache(16);
  const a = resourceOf('a', 1);
  encodeTraceRequest([span(a, 0)], cache);
  const never = (): Uint8Array => {
    throw new Error('the resource was encoded again');
  };
  const first = cache.entry(a).encoding('proto', never);
  encodeTraceRequest([span(a, 1)], cache);
  t.equal(cache.entry(a).encoding('proto', never), first, 'kept between batches');
  const renamed = { key: a.key, attributes: { ...a.attributes, 'service.name': 'renamed' } };
  const req = decodeTraceRequest(encodeTraceRequest([span(renamed, 2)], cache)) as { resourceSpans: Array<{ resource: { attributes: Array<{ value: { stringValue?: string } }> } }> };
  t.ok(req.resourceSpans[0]!.resource.attributes.some((kv) => kv.value.stringValue === 'renamed'));
});

t.test('random batches: the encoders agree with the SDK on every one', async (t) => {
  randomBatches(0x5eed, 50, (rand, r, i) => {
    const text = String.fromCharCode(...Array.from({ length: Math.floor(rand() * 300) }, () => 32 + Math.floor(rand() * 0x2000)));
    return span(r, i, { name: text.slice(0, 20), attributes: { text, n: Math.floor(rand() * 2 ** 52), f: rand() } });
  }, (spans, cache, oracleCache, round) => {
    const readables = spans.map((s) => readable(s, oracleCache));
    return t.same(decodeTraceRequest(encodeTraceRequest(spans, cache), true), decodeTraceRequest(ProtobufTraceSerializer.serializeRequest(readables)!, true), `round ${round}`);
  });
});

t.test('invalid records are recognised by both encoders as they write them', async (t) => {
  const a = resourceOf('a', 1);
  const cache = new ResourceCache(16, { 'host.name': 'node-1' });
  const arena = new RecordArena(2048);
  const writable = (s: SpanRecord, what: string): boolean => {
    const proto = encodeRecord(s, cache.entry(s.resource), arena, SPAN_ENCODING.proto) !== null;
    const json = encodeRecordJson(s, cache.entry(s.resource), arena, SPAN_ENCODING.json) !== null;
    t.equal(json, proto, `${what}: both encoders agree`);
    return proto;
  };
  t.ok(writable(span(a, 0), 'a span as built'));
  t.notOk(writable(span(a, 0, { traceId: '0'.repeat(32) }), 'all-zero trace id'), 'all-zero trace id');
  t.notOk(writable(span(a, 0, { traceId: 'a'.repeat(31) }), 'short trace id'), 'short trace id');
  t.notOk(writable(span(a, 0, { traceId: `${'a'.repeat(31)}g` }), 'a non-hex last char'), 'a non-hex last char');
  t.notOk(writable(span(a, 0, { spanId: 'ABCDEFABCDEFABCD' }), 'uppercase hex'), 'uppercase hex');
  t.notOk(writable(span(a, 0, { parentSpanId: 'nothex' }), 'parent not hex'), 'parent not hex');
  t.notOk(writable(span(a, 0, { parentSpanId: 'a'.repeat(18) }), 'parent too long'), 'parent too long');
  t.notOk(writable(span(a, 0, { endTimeUnixNano: 0n }), 'ends before it starts'), 'ends before it starts');
  // Codes past ASCII whose low seven bits are a hex digit ('0' + 0x80, '0' + 0x100, 'a' + 0x80), as
  // the first and the second digit of a byte.
  for (const c of ['\u00b0', '\u0130', '\u00e1']) {
    t.notOk(writable(span(a, 0, { spanId: `${c}bcdefabcdefabc` }), `U+${c.charCodeAt(0).toString(16)} first`));
    t.notOk(writable(span(a, 0, { spanId: `a${c}cdefabcdefabc` }), `U+${c.charCodeAt(0).toString(16)} second`));
  }
  t.ok(writable(span(a, 0, { parentSpanId: '0'.repeat(16) }), 'zero parent'), 'a parent id may be zeros (only the span\'s own ids may not)');
  t.notOk(writable(span(a, 0, { spanId: '0'.repeat(16) }), 'all-zero span id'), 'all-zero span id');
  t.throws(() => encodeTraceRequest([span(a, 0), span(a, 1, { spanId: 'x' })], cache), 'a one-off request refuses an invalid record');
});

t.test('proto writer: varint boundaries, negative int64, nested lengths', async (t) => {
  const w = new ProtoWriter(4);
  w.varint(1, 127);
  w.varint(1, 128);
  w.varint(1, 2 ** 53 - 1);
  w.varint(1, -1);
  w.begin(2);
  w.string(1, 'y'.repeat(200));
  w.end();
  const b = Buffer.from(w.finish());
  t.same([...b.subarray(0, 2)], [0x08, 0x7f]);
  t.same([...b.subarray(2, 5)], [0x08, 0x80, 0x01]);
  t.same([...b.subarray(5, 14)], [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]);
  t.same([...b.subarray(14, 25)], [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], '-1 is ten bytes');
  t.same([...b.subarray(25, 28)], [0x12, 203, 1], 'the sub-message length took two bytes (203)');
  t.equal(b.length, 28 + 203);
  t.throws(() => w.end(), /without begin/);
});

t.test('proto writer: shortKeyValue writes what begin/encoded/string or varint/end write, or nothing', async (t) => {
  const general = (field: number, keyField: Uint8Array, v: string | number): Buffer => {
    const w = new ProtoWriter(8);
    w.begin(field);
    w.encoded(keyField);
    w.begin(2);
    if (typeof v === 'string') w.string(1, v);
    else w.varint(3, v);
    w.end();
    w.end();
    return Buffer.from(w.finish());
  };
  const keyOf = (key: string): Uint8Array => {
    const w = new ProtoWriter(8);
    w.string(1, key);
    return Uint8Array.from(w.finish());
  };
  let fast = 0;
  for (const field of [1, 9, 15, 16]) {
    for (const key of ['k', 'http.response.status_code', 'x'.repeat(100)]) {
      const keyField = keyOf(key);
      const values: Array<string | number> = [0, 1, 127, 128, 2 ** 31, 2 ** 53 - 1, -1, 0.5, NaN, '', 'GET', 'é', 'ctl\u0001'];
      for (let n = 90; n <= 130; n++) values.push('v'.repeat(n));
      for (const v of values) {
        const w = new ProtoWriter(8);
        w.varint(1, 5); // something before, which a refusal must leave as it was
        const before = Buffer.from(w.finish());
        if (w.shortKeyValue(field, keyField, v)) {
          fast++;
          t.same(Buffer.from(w.finish()), Buffer.concat([before, general(field, keyField, v)]), `${field} ${key.length} ${String(v).slice(0, 8)}…${String(v).length}`);
        } else {
          t.same(Buffer.from(w.finish()), before, `refused, nothing written: ${field} ${key.length} ${typeof v} ${String(v).length}`);
        }
      }
    }
  }
  t.ok(fast > 50, `${fast} written by the short path`);
});

t.test('spans encoded one at a time across arena slabs make the same request as encoded at once', async (t) => {
  const cache = new ResourceCache(2, { 'host.name': 'node-1' });
  // Three processes through a cache of two: entries are made again after eviction, and their spans
  // still go under one resource each. Slabs of 2 KiB: spans written in place outgrow the room left at
  // times (moved, then copied in), the long one is bigger than a slab.
  const spans = Array.from({ length: 30 }, (_, i) => span(resourceOf(`svc${i % 3}`, 1 + (i % 3)), i,
    i === 7 ? { attributes: { 'db.query.text': LONG_TEXT } } : {}));
  for (const json of [false, true]) {
    const arena = new RecordArena(2048);
    const encoded = spans.map((s) => (json
      ? encodeRecordJson(s, cache.entry(s.resource), arena, SPAN_ENCODING.json)!
      : encodeRecord(s, cache.entry(s.resource), arena, SPAN_ENCODING.proto)!));
    t.ok(new Set(encoded.map((e) => e.arena)).size > 3, 'several slabs');
    const reference = new ResourceCache(16, { 'host.name': 'node-1' });
    if (json) {
      const ours = JSON.parse(encodedRequestJsonLine(SPAN_ENCODING.envelope, encoded).toString()) as { resourceSpans: unknown[] };
      t.same(ours, JSON.parse(traceRequestJsonLine(spans, reference).toString()), 'JSON');
      t.equal(ours.resourceSpans.length, 3, 'one ResourceSpans per process');
    } else {
      t.same(decodeTraceRequest(encodedRequest(encoded), true), decodeTraceRequest(encodeTraceRequest(spans, reference), true), 'protobuf');
    }
  }
});

t.test('a JSON line as chunks (the records written from their slabs): the same bytes as the line written whole', async (t) => {
  const cache = new ResourceCache(16, { 'host.name': 'node-1' });
  // Slabs of 2 KiB: runs end where a slab does; the long span outgrows every slab and is copied in
  // (no comma after it); three processes, interleaved, split each run by process.
  const spans = Array.from({ length: 40 }, (_, i) => span(resourceOf(`svc${i % 3 === 2 ? 1 : i % 2}`, 1 + (i % 3 === 2 ? 1 : i % 2)), i,
    i === 11 || i === 12 ? { attributes: { 'db.query.text': LONG_TEXT } } : {}));
  const arena = new RecordArena(2048);
  const encoded = spans.map((s) => encodeRecordJson(s, cache.entry(s.resource), arena, SPAN_ENCODING.json)!);
  const whole = Buffer.from(encodedRequestJsonLine(SPAN_ENCODING.envelope, encoded));
  const chunks = encodedRequestJsonChunks(SPAN_ENCODING.envelope, encoded, new JsonWriter(64));
  t.same(Buffer.concat(chunks).toString(), whole.toString(), 'the same line');
  const runs = chunks.filter((c) => encoded.some((r) => r.arena.buffer === c.buffer));
  t.ok(runs.length < encoded.length, `${runs.length} runs of slab bytes for ${encoded.length} records`);
  t.ok(runs.some((c) => JSON.parse(`[${Buffer.from(c).toString()}]`).length > 1), 'records one after the other in a slab go as one chunk');
  t.equal(Buffer.concat(encodedRequestJsonChunks(SPAN_ENCODING.envelope, [], new JsonWriter(64))).toString(), '{"resourceSpans":[]}\n', 'no records');
  const reference = new ResourceCache(16, { 'host.name': 'node-1' });
  t.same(JSON.parse(whole.toString()), JSON.parse(traceRequestJsonLine(spans, reference).toString()), 'the line as encoded at once');
});

t.test('a request whose envelopes need lengths of three and four bytes: the SDK\'s, written once, in each buffer', async (t) => {
  // Two processes, one of them with over 2 MiB of spans: its Resource<Signal> and Scope<Signal> lengths
  // take four bytes, the other's three. The lengths are reckoned before a byte is written.
  const a = resourceOf('big', 1);
  const b = resourceOf('small', 2);
  const spans = Array.from({ length: 7000 }, (_, i) => span(i % 5 === 0 ? b : a, i, { attributes: { 'url.path': `/items/${i}/${'x'.repeat(300)}` } }));
  const cache = new ResourceCache(16, { 'host.name': 'node-1' });
  const arena = new RecordArena();
  const encoded = spans.map((s) => encodeRecord(s, cache.entry(s.resource), arena, SPAN_ENCODING.proto)!);
  const request = encodedRequest(encoded);
  t.ok(request.length > (2 << 20) + (1 << 18), `${request.length} bytes`);
  const oracle = new ResourceCache(16, { 'host.name': 'node-1' });
  const decoded = decodeTraceRequest(request, true) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: unknown[] }> }> };
  t.same(decoded.resourceSpans.map((r) => r.scopeSpans[0]!.spans.length), [1400, 5600], 'every span under its process (in the order first seen)');
  t.same(decoded, decodeTraceRequest(ProtobufTraceSerializer.serializeRequest(spans.map((s) => readable(s, oracle)))!, true), 'the same as the SDK serializer');
  t.same(Buffer.from(encodedRequestView(encoded)), Buffer.from(request), 'the encoder\'s own buffer: the same bytes');
  const bodies = new ReusableBuffers(2, 8 << 20);
  const body = encodedRequestIn(encoded, bodies);
  t.same(Buffer.from(body), Buffer.from(request), 'a reusable body buffer: the same bytes');
  bodies.release(body);
  t.same(Buffer.from(encodedRequestIn(encoded.slice(0, 3), bodies)), Buffer.from(encodedRequest(encoded.slice(0, 3))), 'a small request in the buffer given back');
});

t.test('batch after batch, an arena fills the slabs the last batch emptied: no new slab once warm', async (t) => {
  const cache = new ResourceCache(16, { 'host.name': 'node-1' });
  const arena = new RecordArena(2048);
  const slabs = new Set<Uint8Array>();
  const batch = (round: number): EncodedRecord[] => Array.from({ length: 40 }, (_, i) => {
    const s = span(resourceOf('svc', 1), round * 100 + i);
    const r = encodeRecord(s, cache.entry(s.resource), arena, SPAN_ENCODING.proto)!;
    slabs.add(r.arena);
    return r;
  });
  const first = batch(0);
  const perBatch = new Set(first.map((r) => r.arena)).size;
  t.ok(perBatch >= 4, `a batch fills ${perBatch} slabs`);
  arena.release(first);
  for (let round = 1; round <= 20; round++) arena.release(batch(round));
  t.ok(slabs.size <= perBatch + 1, `${slabs.size} slabs for 21 batches of ${perBatch}`);
});

t.test('arena slabs are reused once every record in them was released, never while one waits', async (t) => {
  const cache = new ResourceCache(16, { 'host.name': 'node-1' });
  const arena = new RecordArena(2048);
  const encode = (i: number): EncodedRecord => { const s = span(resourceOf('svc', 1), i); return encodeRecord(s, cache.entry(s.resource), arena, SPAN_ENCODING.proto)!; };
  const bytes = (r: EncodedRecord): string => Buffer.from(r.arena.subarray(r.start, r.end)).toString('hex');
  const first = Array.from({ length: 40 }, (_, i) => encode(i));
  const firstSlabs = new Set(first.map((r) => r.arena));
  t.ok(firstSlabs.size >= 4, 'several slabs filled');
  const waiting = first.slice(30); // still queued: their slabs must not be written
  const before = waiting.map(bytes);
  arena.release(first.slice(0, 30));
  const second = Array.from({ length: 40 }, (_, i) => encode(100 + i));
  t.ok(second.some((r) => firstSlabs.has(r.arena) && !waiting.some((w) => w.arena === r.arena)), 'an emptied slab is filled again');
  t.same(waiting.map(bytes), before, 'records still waiting keep their bytes');
  const reference = new ResourceCache(16, { 'host.name': 'node-1' });
  t.same(decodeTraceRequest(encodedRequest([...waiting, ...second]), true),
    decodeTraceRequest(encodeTraceRequest([...Array.from({ length: 10 }, (_, i) => span(resourceOf('svc', 1), 30 + i)), ...Array.from({ length: 40 }, (_, i) => span(resourceOf('svc', 1), 100 + i))], reference), true),
    'the request of waiting and new records is as if encoded at once');
});

t.test('an arena reuses a full queue\'s worth of slabs, and lets go at rest of the spares it did not need', async (t) => {
  const cache = new ResourceCache(16, { 'host.name': 'node-1' });
  const arena = new RecordArena(2048, 2048 * 100);
  let i = 0;
  const fill = (n: number): EncodedRecord[] => Array.from({ length: n }, () => {
    const s = span(resourceOf('svc', 1), i++);
    return encodeRecord(s, cache.entry(s.resource), arena, SPAN_ENCODING.proto)!;
  });
  // A queue filling up (over 40 slabs' worth of records, as under a backlog), then sent.
  const backlog = fill(600);
  const slabs = new Set(backlog.map((r) => r.arena)).size;
  t.ok(slabs >= 40, `the backlog filled ${slabs} slabs`);
  arena.release(backlog);
  t.equal(arena.stats().spareSlabs, slabs - 1, 'every emptied slab but the one being filled is kept');
  const allocated = arena.stats().slabsAllocated;
  arena.release(fill(600));
  t.equal(arena.stats().slabsAllocated, allocated, 'the next backlog fills the same slabs: none new');

  arena.trimSpares(); // the period of the two backlogs: every spare was needed once
  t.equal(arena.stats().spareSlabs, slabs - 1, 'spares a backlog used are kept');
  arena.trimSpares(); // a period at rest
  t.equal(arena.stats().spareSlabs, 8, 'at rest, all but 8 are let go');
  arena.release(fill(600));
  arena.trimSpares();
  t.ok(arena.stats().spareSlabs > 8, 'a period that used them keeps what it gave back');
});
