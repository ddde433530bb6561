// gRPC calls (HTTP/2 exchanges with Content-Type application/grpc) → RPC spans and call durations,
// following the OTel RPC semantic conventions in their current (release candidate) form:
// https://opentelemetry.io/docs/specs/semconv/rpc/grpc/, .../rpc/rpc-spans/, .../rpc/rpc-metrics/.
// Pure: no clock, no I/O; ids come from the caller.
//
// Decisions:
// - rpc.method is the fully-qualified method, "package.Service/Method": the request's :path
//   ("/package.Service/Method") without its leading slash, as the conventions write it (their
//   examples: "com.example.ExampleService/exampleMethod"); the span is named after it. rpc.service
//   is not set: the current conventions deprecate it in favour of the fully-qualified rpc.method.
//   The raw :path stays in the exchange record (grpc.method).
// - The conventions want "_OTHER" (and rpc.method_original) for methods the server does not
//   recognise. A passive observer knows that only from the answer: UNIMPLEMENTED (what gRPC
//   servers return for unknown services and methods) or a :path that is not "/service/method".
//   The span is then named "grpc" ({rpc.system.name}). A handler that itself returns
//   UNIMPLEMENTED is reported the same way.
// - rpc.response.status_code is the code's name ("OK", "NOT_FOUND"); a number outside the 17
//   defined codes is written as that number. It comes from grpc-status (trailers, or the headers
//   of a Trailers-Only response); without one, from what the gRPC client library would report
//   (PROTOCOL-HTTP2.md): a RST_STREAM code (CANCEL → CANCELLED, REFUSED_STREAM → UNAVAILABLE,
//   ENHANCE_YOUR_CALM → RESOURCE_EXHAUSTED, INADEQUATE_SECURITY → PERMISSION_DENIED, other codes
//   → INTERNAL) or a non-200 HTTP status (the gRPC HTTP → status mapping). With neither (no
//   response, or one whose trailers never came) no status is set and error.type is
//   "response_missing".
// - Error status: CLIENT spans for every code but OK; SERVER spans for UNKNOWN, DEADLINE_EXCEEDED,
//   UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS (the gRPC conventions' server list); error.type
//   is then the status code name. The span status description is grpc-message (at most 256
//   characters) on error spans, with its quoted values replaced by '?' as for MySQL's messages
//   (`user "bob@example.com" not found` → `user "?" not found`): the message says what failed,
//   not the data it failed on. A :path with a query (not a gRPC method: rpc.method_original) loses
//   its secret parameters as url.query does.
// - Message counts and HTTP/2 details a span may want are Lantern's own attributes:
//   lantern.rpc.request.messages / lantern.rpc.response.messages (Length-Prefixed-Messages seen in
//   DATA), lantern.http2.reset (the RST_STREAM code), lantern.http2.headers_lost (some header
//   fields could not be decoded: attributes are partial).
// - connection role 'unknown': span kind INTERNAL with server-side status rules, no metric.
import type { Http2Exchange } from '../model/http2.js';
import type { Attributes, HistogramPoint, ResourceRecord, SpanKind, SpanRecord } from '../model/span.js';
import { RESPONSE_MISSING } from './http.js';
import { type IdSource, randomIds } from './ids.js';
import { newSpanRecord } from './span-record.js';
import { traceContextFromHeaders } from './traceparent.js';
import { type Redaction, redactQuery, redactQuoted } from './redaction.js';
import { type HostPort, parseHostPort } from './url.js';

export const RPC_SERVER_DURATION = 'rpc.server.call.duration';
export const RPC_CLIENT_DURATION = 'rpc.client.call.duration';

/** https://github.com/grpc/grpc/blob/master/doc/statuscodes.md */
export const GRPC_STATUS_NAMES = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS',
  'UNAUTHENTICATED',
] as const;

const OK = 0;
const CANCELLED = 1;
const UNKNOWN = 2;
const PERMISSION_DENIED = 7;
const RESOURCE_EXHAUSTED = 8;
const UNIMPLEMENTED = 12;
const INTERNAL = 13;
const UNAVAILABLE = 14;
const UNAUTHENTICATED = 16;
/** The gRPC conventions' server-side error codes. */
const SERVER_ERRORS = new Set([UNKNOWN, 4, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, 15]);
const MAX_STATUS_MESSAGE = 256;

export function grpcStatusName(code: number): string {
  return GRPC_STATUS_NAMES[code] ?? String(code);
}

/** PROTOCOL-HTTP2.md "Errors": the status a client reports for a stream reset with this code. */
function statusOfReset(code: string): number {
  switch (code) {
    case 'CANCEL': return CANCELLED;
    case 'REFUSED_STREAM': return UNAVAILABLE;
    case 'ENHANCE_YOUR_CALM': return RESOURCE_EXHAUSTED;
    case 'INADEQUATE_SECURITY': return PERMISSION_DENIED;
    default: return INTERNAL;
  }
}

/** https://github.com/grpc/grpc/blob/master/doc/http-grpc-status-mapping.md */
function statusOfHttp(status: number): number {
  switch (status) {
    case 400: return INTERNAL;
    case 401: return UNAUTHENTICATED;
    case 403: return PERMISSION_DENIED;
    case 404: return UNIMPLEMENTED;
    case 429: case 502: case 503: case 504: return UNAVAILABLE;
    default: return UNKNOWN;
  }
}

/** The call's status: sent by the server, or what the client library derives from the stream. */
export function grpcStatusOf(ex: Http2Exchange): number | undefined {
  if (ex.grpc?.status !== undefined) return ex.grpc.status;
  if (ex.reset !== undefined) return statusOfReset(ex.reset);
  if (ex.response !== null && ex.response.statusCode !== 200 && ex.response.statusCode !== 0) return statusOfHttp(ex.response.statusCode);
  return undefined;
}

/** "/package.Service/Method" → "package.Service/Method"; null when it is not of that form. */
export function grpcMethodName(path: string): string | null {
  if (path.charCodeAt(0) !== 0x2f) return null;
  const slash = path.indexOf('/', 1);
  if (slash <= 1 || slash === path.length - 1 || path.indexOf('/', slash + 1) >= 0 || path.includes('?')) return null;
  return path.slice(1);
}

interface RpcView {
  kind: SpanKind;
  method: string;
  methodOriginal?: string;
  status?: number;
  errorType?: string;
  server?: HostPort;
  startNs: bigint;
  endNs: bigint;
}

function spanKind(ex: Http2Exchange): SpanKind {
  return ex.connection.role === 'server' ? 'server' : ex.connection.role === 'client' ? 'client' : 'internal';
}

/** What the configuration decides for gRPC spans. */
export interface GrpcSemconvOptions {
  /** Which query parameters are secrets (default: the built-in names). */
  redaction?: Redaction;
}

function withRedactedQuery(path: string, rules: Redaction | undefined): string {
  const q = path.indexOf('?');
  return q < 0 ? path : `${path.slice(0, q)}?${redactQuery(path.slice(q + 1), rules)}`;
}

function view(ex: Http2Exchange, opts: GrpcSemconvOptions): RpcView {
  const kind = spanKind(ex);
  const status = grpcStatusOf(ex);
  const path = ex.grpc?.method ?? ex.request.target;
  const name = grpcMethodName(path);
  const v: RpcView = {
    kind,
    method: name !== null && status !== UNIMPLEMENTED ? name : '_OTHER',
    startNs: ex.request.startNs,
    endNs: ex.response?.endNs ?? ex.request.endNs,
  };
  if (v.method === '_OTHER' && path !== '') v.methodOriginal = name ?? withRedactedQuery(path, opts.redaction);
  if (status !== undefined) v.status = status;
  if (status === undefined) v.errorType = RESPONSE_MISSING;
  else if (status !== OK && (kind === 'client' || SERVER_ERRORS.has(status))) v.errorType = grpcStatusName(status);
  const authority = ex.request.headers.get('host');
  let server = authority !== undefined ? (parseHostPort(authority) ?? undefined) : undefined;
  if (server === undefined) {
    const end = kind === 'client' ? ex.connection.remote : ex.connection.local;
    if (end.address !== '') server = ex.connection.family === 'unix' || end.port <= 0 ? { host: end.address } : { host: end.address, port: end.port };
  }
  if (server !== undefined) v.server = server;
  return v;
}

/** A finished gRPC call as one span, joined to the caller's trace when the request carries one. */
export function grpcExchangeToSpan(ex: Http2Exchange, resource: ResourceRecord, ids: IdSource = randomIds, opts: GrpcSemconvOptions = {}): SpanRecord {
  const v = view(ex, opts);
  const { connection } = ex;
  const a: Attributes = { 'rpc.system.name': 'grpc', 'rpc.method': v.method };
  if (v.methodOriginal !== undefined) a['rpc.method_original'] = v.methodOriginal;
  if (v.status !== undefined) a['rpc.response.status_code'] = grpcStatusName(v.status);
  if (v.errorType !== undefined) a['error.type'] = v.errorType;
  if (v.server !== undefined) {
    a['server.address'] = v.server.host;
    if (v.server.port !== undefined) a['server.port'] = v.server.port;
  }
  if (v.kind === 'server' && connection.remote.address !== '') {
    a['client.address'] = connection.remote.address;
    if (connection.family !== 'unix' && connection.remote.port > 0) a['client.port'] = connection.remote.port;
  }
  if (connection.remote.address !== '') {
    a['network.peer.address'] = connection.remote.address;
    if (connection.family !== 'unix' && connection.remote.port > 0) a['network.peer.port'] = connection.remote.port;
  }
  a['network.protocol.name'] = 'http';
  a['network.protocol.version'] = '2';
  a['network.transport'] = connection.family === 'unix' ? 'unix' : 'tcp';
  if (connection.family === 'ipv4' || connection.family === 'ipv6') a['network.type'] = connection.family;
  if (ex.grpc !== undefined) {
    a['lantern.rpc.request.messages'] = ex.grpc.requestMessages;
    a['lantern.rpc.response.messages'] = ex.grpc.responseMessages;
  }
  if (ex.reset !== undefined) a['lantern.http2.reset'] = ex.reset;
  if (ex.headersLost === true) a['lantern.http2.headers_lost'] = true;

  const ctx = traceContextFromHeaders(ex.request.headers);
  let status: SpanRecord['status'] = { code: 'unset' };
  if (v.errorType !== undefined) {
    const message = ex.grpc?.message;
    status = message !== undefined && message !== '' ? { code: 'error', message: redactQuoted(message.slice(0, MAX_STATUS_MESSAGE)) } : { code: 'error' };
  }
  const span = newSpanRecord(ids, ctx?.parent, v.method === '_OTHER' ? 'grpc' : v.method, v.kind, v.startNs, v.endNs, a, status, resource);
  if (ctx?.traceState !== undefined) span.traceState = ctx.traceState;
  return span;
}

/** rpc.server.call.duration or rpc.client.call.duration (seconds), low-cardinality attributes only. */
export function grpcExchangeToMetrics(ex: Http2Exchange, resource: ResourceRecord): HistogramPoint[] {
  const v = view(ex, {});
  if (v.kind !== 'server' && v.kind !== 'client') return [];
  const a: Attributes = { 'rpc.system.name': 'grpc', 'rpc.method': v.method };
  if (v.status !== undefined) a['rpc.response.status_code'] = grpcStatusName(v.status);
  if (v.errorType !== undefined) a['error.type'] = v.errorType;
  if (v.server !== undefined) {
    a['server.address'] = v.server.host;
    if (v.server.port !== undefined) a['server.port'] = v.server.port;
  }
  const seconds = v.endNs > v.startNs ? Number(v.endNs - v.startNs) / 1e9 : 0;
  return [{
    name: v.kind === 'server' ? RPC_SERVER_DURATION : RPC_CLIENT_DURATION,
    unit: 's',
    description: `Measures the duration of ${v.kind === 'server' ? 'incoming' : 'outgoing'} remote procedure calls.`,
    value: seconds,
    attributes: a,
    resource,
    timeUnixNano: v.endNs,
  }];
}
