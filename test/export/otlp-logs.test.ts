// Lantern's one-pass OTLP log encoders against the OpenTelemetry JS serializers as the oracle: the
// same records, given to the SDK as ReadableLogRecords, must decode to the same
// ExportLogsServiceRequest (protobuf) and parse to the same JSON (after the int64-as-string
// canonical form), as otlp-spans.test.ts checks for spans.
import type { SeverityNumber } from '@opentelemetry/api-logs';
import { JsonLogsSerializer, ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import t from 'tap';
import { nsToHrTime } from '../../src/export/metric-data.js';
import { canonicalInt64 } from '../../src/export/otlp-json-lines.js';
import { encodeLogsRequest, isValidLogRecord, logsRequestJsonLine } from '../../src/export/otlp-logs.js';
import { writeAttributes } from '../../src/export/otlp-common.js';
import { encodeTraceRequest } from '../../src/export/otlp-spans.js';
import { ProtoWriter } from '../../src/export/proto-writer.js';
import { ResourceCache } from '../../src/export/resource-cache.js';
import { SEVERITY, type LogRecordData } from '../../src/model/log.js';
import type { AttributeValue } from '../../src/model/span.js';
import { LONG_TEXT, PLAIN_PROCESS, UNICODE_PROCESS, logRecord, randomBatches, resourceOf, span } from './fixtures.js';
import { attrs, decodeLogsRequest, decodeTraceRequest } from './otlp-receivers.js';

const SCOPE = { name: 'lantern', version: '0.1.0' };

/** The oracle's input: a LogRecordData as the SDK's ReadableLogRecord (one Resource object per process). */
function readable(r: LogRecordData, cache: ResourceCache): ReadableLogRecord {
  return {
    hrTime: nsToHrTime(r.timeUnixNano),
    hrTimeObserved: nsToHrTime(r.observedTimeUnixNano),
    ...(r.traceId !== undefined && r.spanId !== undefined ? { spanContext: { traceId: r.traceId, spanId: r.spanId, traceFlags: r.traceFlags ?? 0 } } : {}),
    severityNumber: r.severity.number as SeverityNumber,
    severityText: r.severity.text,
    ...(r.body !== undefined ? { body: r.body } : {}),
    ...(r.eventName !== undefined ? { eventName: r.eventName } : {}),
    resource: cache.get(r.resource),
    instrumentationScope: SCOPE,
    attributes: r.attributes,
    droppedAttributesCount: 0,
  };
}

function oracleProto(records: LogRecordData[], cache: ResourceCache): Record<string, unknown> {
  return decodeLogsRequest(ProtobufLogsSerializer.serializeRequest(records.map((r) => readable(r, cache)))!, true);
}

function oracleJson(records: LogRecordData[], cache: ResourceCache): unknown {
  const req = JSON.parse(new TextDecoder().decode(JsonLogsSerializer.serializeRequest(records.map((r) => readable(r, cache)))!)) as {
    resourceLogs: Array<{ scopeLogs: Array<{ logRecords: Array<Record<string, unknown>> }> }>;
  };
  // The SDK writes an absent body as an empty AnyValue ({}); Lantern leaves the field out, which the
  // JSON mapping reads the same (an unset message field).
  for (const rl of req.resourceLogs) for (const sl of rl.scopeLogs) for (const lr of sl.logRecords) {
    if (JSON.stringify(lr.body) === '{}') delete lr.body;
  }
  return canonicalInt64(req);
}

/** Records covering what the encoders must handle: every body and attribute type, ids, flags, severities, UTF-8, no time. */
function variedRecords(): LogRecordData[] {
  const [a, b, long] = [PLAIN_PROCESS, UNICODE_PROCESS, LONG_TEXT];
  return [
    logRecord(a, 0),
    logRecord(b, 1, { severity: SEVERITY.error, body: 42, traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1 }),
    logRecord(a, 2, { severity: SEVERITY.warn, body: 0.125, eventName: undefined, traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331' }),
    logRecord(b, 3, { severity: SEVERITY.debug, body: true, attributes: { big: 2 ** 40, neg: -7, ratio: 0.25, yes: true, no: false, list: ['a', 'é', ''], empty: '' } }),
    logRecord(a, 4, { body: ['one', 'two'], timeUnixNano: 0n }),
    logRecord(a, 5, { body: undefined, attributes: {} }),
    logRecord(b, 6, { body: long, eventName: 'bpftrace.printf' }),
  ];
}

t.test('protobuf: the same request as the SDK serializer', async (t) => {
  const records = variedRecords();
  const cache = new ResourceCache(16, { 'host.name': 'node-1' });
  const ours = decodeLogsRequest(encodeLogsRequest(records, cache), true);
  t.same(ours, oracleProto(records, cache));
  t.equal((ours.resourceLogs as unknown[]).length, 2, 'one ResourceLogs per process');
});

t.test('JSON line: the same request as the SDK serializer', async (t) => {
  const records = variedRecords();
  const cache = new ResourceCache(16, { 'host.name': 'node-1' });
  const line = logsRequestJsonLine(records, cache).toString('utf8');
  t.equal(line.indexOf('\n'), line.length - 1, 'one line, ending in a newline');
  t.same(JSON.parse(line), oracleJson(records, cache));
});

t.test('spans and logs take a process\'s resource from the same cached encoding', async (t) => {
  const cache = new ResourceCache(16);
  const a = resourceOf('a', 1);
  // What the cache holds is what goes out: a marker resource put there first proves no re-encoding.
  const marker = new ProtoWriter();
  writeAttributes(marker, 1, { cached: true });
  cache.entry(a).encoding('proto', () => Uint8Array.from(marker.finish()));
  type Req = Record<string, Array<{ resource: { attributes: unknown } }>>;
  const logs = decodeLogsRequest(encodeLogsRequest([logRecord(a, 0)], cache)) as Req;
  const spans = decodeTraceRequest(encodeTraceRequest([span(a, 1)], cache)) as Req;
  t.same(attrs(logs.resourceLogs![0]!.resource.attributes), { cached: true });
  t.same(attrs(spans.resourceSpans![0]!.resource.attributes), { cached: true });
});

/** A random AttributeValue of every type the model has. */
function randomValue(rand: () => number): AttributeValue {
  const text = (): string => String.fromCharCode(...Array.from({ length: Math.floor(rand() * 40) }, () => 32 + Math.floor(rand() * 0x2000)));
  switch (Math.floor(rand() * 5)) {
    case 0: return text();
    case 1: return Math.floor(rand() * 2 ** 52) * (rand() < 0.3 ? -1 : 1);
    case 2: return rand() * 1e6 + 0.5;
    case 3: return rand() < 0.5;
    default: return Array.from({ length: Math.floor(rand() * 4) }, text);
  }
}

t.test('random batches: the encoders agree with the SDK on every one', async (t) => {
  const severities = Object.values(SEVERITY);
  randomBatches(0x1095, 50, (rand, resource, i) => {
    const hex = (n: number): string => Array.from({ length: n }, () => '0123456789abcdef'[1 + Math.floor(rand() * 15)]).join('');
    const attributes: Record<string, AttributeValue> = {};
    for (let k = Math.floor(rand() * 6); k > 0; k--) attributes[`attr.${Math.floor(rand() * 8)}`] = randomValue(rand);
    return logRecord(resource, i, {
      severity: severities[Math.floor(rand() * severities.length)]!,
      body: rand() < 0.2 ? undefined : randomValue(rand),
      eventName: rand() < 0.5 ? `event.${Math.floor(rand() * 3)}` : undefined,
      attributes,
      ...(rand() < 0.4 ? { traceId: hex(32), spanId: hex(16), traceFlags: Math.floor(rand() * 2) } : {}),
    });
  }, (records, cache, oracleCache, round) =>
    t.same(decodeLogsRequest(encodeLogsRequest(records, cache), true), oracleProto(records, oracleCache), `round ${round}: protobuf`) &&
    t.same(JSON.parse(logsRequestJsonLine(records, cache).toString('utf8')), oracleJson(records, oracleCache), `round ${round}: JSON`));
});

t.test('invalid records are recognised', async (t) => {
  const a = resourceOf('a', 1);
  t.ok(isValidLogRecord(logRecord(a, 0)));
  t.ok(isValidLogRecord(logRecord(a, 0, { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), traceFlags: 1 })));
  t.notOk(isValidLogRecord(logRecord(a, 0, { traceId: 'a'.repeat(32) })), 'a trace id without a span id');
  t.notOk(isValidLogRecord(logRecord(a, 0, { traceId: 'A'.repeat(32), spanId: 'b'.repeat(16) })), 'uppercase hex');
  t.notOk(isValidLogRecord(logRecord(a, 0, { traceId: '0'.repeat(32), spanId: 'b'.repeat(16) })), 'all-zero trace id');
  t.notOk(isValidLogRecord(logRecord(a, 0, { traceFlags: 1 })), 'flags without a span');
  t.notOk(isValidLogRecord(logRecord(a, 0, { observedTimeUnixNano: -1n })));
});
