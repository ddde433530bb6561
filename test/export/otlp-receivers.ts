// Minimal OTLP receivers for the exporter tests: a gRPC TraceService and an HTTP /v1/metrics
// endpoint that record what arrives, and decoders for the protobuf bodies. The message definitions
// below are the subset of opentelemetry-proto (v1) the assertions read, with the real field numbers
// (https://github.com/open-telemetry/opentelemetry-proto/tree/main/opentelemetry/proto).
import { type IncomingHttpHeaders, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';

const OTLP_SUBSET = `
syntax = "proto3";
package otlp;
message AnyValue {
  oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4;
    ArrayValue array_value = 5; KeyValueList kvlist_value = 6; bytes bytes_value = 7; }
}
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
message KeyValue { string key = 1; AnyValue value = 2; }
message InstrumentationScope { string name = 1; string version = 2; }
message Resource { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; }
message Status { string message = 2; int32 code = 3; }
message Span {
  bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; bytes parent_span_id = 4; string name = 5;
  int32 kind = 6; fixed64 start_time_unix_nano = 7; fixed64 end_time_unix_nano = 8; repeated KeyValue attributes = 9;
  Status status = 15; fixed32 flags = 16;
}
message ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message HistogramDataPoint {
  fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3; fixed64 count = 4; optional double sum = 5;
  repeated fixed64 bucket_counts = 6; repeated double explicit_bounds = 7; repeated KeyValue attributes = 9;
  optional double min = 11; optional double max = 12;
}
message Histogram { repeated HistogramDataPoint data_points = 1; int32 aggregation_temporality = 2; }
message NumberDataPoint { fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3; double as_double = 4; sfixed64 as_int = 6; repeated KeyValue attributes = 7; }
message Gauge { repeated NumberDataPoint data_points = 1; }
message Metric { string name = 1; string description = 2; string unit = 3; Gauge gauge = 5; Histogram histogram = 9; }
message ScopeMetrics { InstrumentationScope scope = 1; repeated Metric metrics = 2; }
message ResourceMetrics { Resource resource = 1; repeated ScopeMetrics scope_metrics = 2; }
message ExportMetricsServiceRequest { repeated ResourceMetrics resource_metrics = 1; }
message LogRecord {
  fixed64 time_unix_nano = 1; int32 severity_number = 2; string severity_text = 3; AnyValue body = 5;
  repeated KeyValue attributes = 6; uint32 dropped_attributes_count = 7; fixed32 flags = 8; bytes trace_id = 9;
  bytes span_id = 10; fixed64 observed_time_unix_nano = 11; string event_name = 12;
}
message ScopeLogs { InstrumentationScope scope = 1; repeated LogRecord log_records = 2; }
message ResourceLogs { Resource resource = 1; repeated ScopeLogs scope_logs = 2; }
message ExportLogsServiceRequest { repeated ResourceLogs resource_logs = 1; }
`;

const root = protobuf.parse(OTLP_SUBSET, { keepCase: false }).root;

/**
 * A protobuf body as plain JSON-ish objects: camelCase fields, 64-bit ints as strings, bytes as hex.
 * `defaults`: fields left out (proto3 zero values) appear with their zero value, so two encoders
 * that differ only in writing zeros or not decode alike.
 */
function decode(type: string, body: Uint8Array, defaults = false): Record<string, unknown> {
  const T = root.lookupType(`otlp.${type}`);
  const obj = T.toObject(T.decode(body), { longs: String, enums: Number, bytes: String, defaults, oneofs: false });
  return base64ToHex(obj) as Record<string, unknown>;
}

const BYTES_FIELDS = new Set(['traceId', 'spanId', 'parentSpanId']);
function base64ToHex(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(base64ToHex);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = BYTES_FIELDS.has(k) && typeof x === 'string' ? Buffer.from(x, 'base64').toString('hex') : base64ToHex(x);
    return out;
  }
  return v;
}

export const decodeTraceRequest = (b: Uint8Array, defaults = false): Record<string, unknown> => decode('ExportTraceServiceRequest', b, defaults);
export const decodeMetricsRequest = (b: Uint8Array): Record<string, unknown> => decode('ExportMetricsServiceRequest', b);
export const decodeLogsRequest = (b: Uint8Array, defaults = false): Record<string, unknown> => decode('ExportLogsServiceRequest', b, defaults);

/** {key, value: {stringValue|intValue|...}}[] → plain record. */
export function attrs(list: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of (list ?? []) as Array<{ key: string; value: Record<string, unknown> }>) {
    const v = kv.value ?? {};
    const arr = v.arrayValue as { values?: Array<Record<string, unknown>> } | undefined;
    out[kv.key] = arr !== undefined ? (arr.values ?? []).map((e) => Object.values(e)[0]) : Object.values(v)[0];
  }
  return out;
}

export interface GrpcReceiver {
  url: string;
  requests: Array<{ body: Buffer; metadata: Record<string, unknown> }>;
  /** Resolves when at least n requests arrived. */
  waitFor(n: number, timeoutMs?: number): Promise<void>;
  /** From now on requests are taken but not answered (a backend too slow for what it is sent)... */
  hold(): void;
  /** ...until this answers those held and the ones after. */
  release(): void;
  close(): Promise<void>;
}

/** An OTLP/gRPC TraceService on 127.0.0.1, answering an empty ExportTraceServiceResponse (or `fail`). */
export async function startGrpcTraceReceiver(fail?: () => grpc.ServiceError | null): Promise<GrpcReceiver> {
  const requests: GrpcReceiver['requests'] = [];
  let held: Array<() => void> | null = null;
  const server = new grpc.Server();
  const identity = (b: Buffer): Buffer => b;
  server.addService({
    Export: {
      path: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
      requestStream: false, responseStream: false,
      requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity,
    },
  }, {
    Export: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const err = fail?.() ?? null;
      if (err === null) requests.push({ body: call.request, metadata: call.metadata.getMap() });
      const answer = (): void => (err !== null ? cb(err) : cb(null, Buffer.alloc(0)));
      if (held !== null) held.push(answer);
      else answer();
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    waitFor: (n, timeoutMs = 10_000) => waitUntil(() => requests.length >= n, timeoutMs),
    hold: () => {
      held ??= [];
    },
    release: () => {
      const answers = held ?? [];
      held = null;
      for (const a of answers) a();
    },
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

export interface HttpReceiver {
  url: string;
  requests: Array<{ method: string; path: string; headers: IncomingHttpHeaders; body: Buffer }>;
  waitFor(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** What an HTTP receiver answers: a status alone (empty body), or with headers and a body. */
export type HttpAnswer = number | { status: number; headers?: Record<string, string>; body?: string };

/** An HTTP server on 127.0.0.1 recording every request and answering what `answer` says. */
export async function startHttpReceiver(answer: () => HttpAnswer = () => 200): Promise<HttpReceiver> {
  const requests: HttpReceiver['requests'] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) });
      const a = answer();
      if (typeof a === 'number') res.writeHead(a).end();
      else res.writeHead(a.status, a.headers).end(a.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    waitFor: (n, timeoutMs = 10_000) => waitUntil(() => requests.length >= n, timeoutMs),
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

export async function waitUntil(cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
