// Lantern's log records straight to an OTLP ExportLogsServiceRequest, as protobuf (the gRPC and
// OTLP/HTTP body) or as the protobuf JSON mapping (the OTLP/HTTP JSON body and the --otlp-file
// line), in one pass, as otlp-spans.ts does for spans. Fields of opentelemetry-proto
// logs/v1/logs.proto; matches what the OTel JS serializers produce for the same records
// (test/export/otlp-logs.test.ts compares them). Envelope, resources, AnyValue: otlp-common.ts.
import type { LogRecordData } from '../model/log.js';
import type { JsonWriter } from './json-writer.js';
import { validId } from '../model/hex-id.js';
import { type SignalEncoding, encodeRequest, requestJsonLine, writeAnyValue, writeAnyValueJson, writeAttributes, writeAttributesJson } from './otlp-common.js';
import type { ProtoWriter } from './proto-writer.js';
import type { ResourceCache } from './resource-cache.js';

/** What the encoders can write: ids both or neither and well formed, times not negative (fixed64). */
export function isValidLogRecord(r: LogRecordData): boolean {
  const ids = r.traceId === undefined && r.spanId === undefined
    ? r.traceFlags === undefined
    : r.traceId !== undefined && r.spanId !== undefined && validId(r.traceId, 32) && validId(r.spanId, 16);
  return ids && r.timeUnixNano >= 0n && r.observedTimeUnixNano >= 0n;
}

// --- protobuf --------------------------------------------------------------------------------

/** A LogRecord's fields (logs.proto), inside ScopeLogs.log_records; false for a record that is not valid (isValidLogRecord). */
function writeLogRecord(w: ProtoWriter, r: LogRecordData): boolean {
  if (!isValidLogRecord(r)) return false;
  // 0 is "unknown" (receivers then use the observed time): left out, as proto3 does with zeros.
  if (r.timeUnixNano !== 0n) w.fixed64(1, r.timeUnixNano);
  w.varint(2, r.severity.number);
  w.string(3, r.severity.text);
  if (r.body !== undefined) writeAnyValue(w, 5, r.body);
  writeAttributes(w, 6, r.attributes);
  if (r.traceFlags !== undefined && r.traceFlags !== 0) w.fixed32(8, r.traceFlags);
  if (r.traceId !== undefined) w.hexBytes(9, r.traceId);
  if (r.spanId !== undefined) w.hexBytes(10, r.spanId);
  w.fixed64(11, r.observedTimeUnixNano);
  if (r.eventName !== undefined && r.eventName !== '') w.string(12, r.eventName);
  return true;
}

/**
 * One ExportLogsServiceRequest (protobuf) for `records`, which must be valid (isValidLogRecord; it throws otherwise).
 * The result is a fresh copy: callers may keep it while retrying.
 */
export function encodeLogsRequest(records: readonly LogRecordData[], resources: ResourceCache): Uint8Array {
  return encodeRequest(records, resources, writeLogRecord);
}

// --- JSON ------------------------------------------------------------------------------------

// Fixed text through raw() (copied as ASCII): log records are far fewer than spans, whose
// fragments are bytes made once.
function writeLogRecordJson(w: JsonWriter, r: LogRecordData): boolean {
  if (!isValidLogRecord(r)) return false;
  w.raw('{"timeUnixNano":"').nanos(r.timeUnixNano).raw('","observedTimeUnixNano":"').nanos(r.observedTimeUnixNano);
  w.raw('","severityNumber":').integer(r.severity.number).raw(',"severityText":').string(r.severity.text);
  if (r.body !== undefined) {
    w.raw(',"body":');
    writeAnyValueJson(w, r.body);
  }
  if (r.eventName !== undefined && r.eventName !== '') w.raw(',"eventName":').string(r.eventName);
  w.raw(',"attributes":');
  writeAttributesJson(w, r.attributes);
  w.raw(',"droppedAttributesCount":0');
  if (r.traceId !== undefined && r.spanId !== undefined) {
    w.raw(',"flags":').integer(r.traceFlags ?? 0).raw(',"traceId":"').raw(r.traceId).raw('","spanId":"').raw(r.spanId).raw('"');
  }
  w.raw('}');
  return true;
}

const LOGS_JSON = { resource: 'resourceLogs', scope: 'scopeLogs', records: 'logRecords' };

/** Log records one at a time, for the exporters' queues. */
export const LOG_ENCODING: SignalEncoding<LogRecordData> = { proto: writeLogRecord, json: writeLogRecordJson, envelope: LOGS_JSON };

/** One ExportLogsServiceRequest as one line of OTLP JSON (UTF-8, newline included); `records` must be valid (it throws otherwise). The encoder's memory: valid until the next line. */
export function logsRequestJsonLine(records: readonly LogRecordData[], resources: ResourceCache): Buffer {
  return requestJsonLine(LOGS_JSON, records, resources, writeLogRecordJson);
}
