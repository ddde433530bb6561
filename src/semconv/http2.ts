// HTTP/2 exchanges → spans and durations: gRPC calls by the RPC conventions (grpc.ts), every other
// stream by the HTTP conventions (http.ts), whose request and response shapes HTTP/2 shares.
//
// Decisions for plain HTTP/2 streams, beyond http.ts's:
// - url.scheme is the request's :scheme.
// - A stream reset (RST_STREAM other than NO_ERROR, or refused by a GOAWAY) is an error for both
//   ends, with error.type the HTTP/2 error code name ("CANCEL", "REFUSED_STREAM": low cardinality,
//   RFC 9113 §7), unless the response already says error (5xx, or 4xx on a client).
// - lantern.http2.reset and lantern.http2.headers_lost as for gRPC (see grpc.ts). Fields lost to
//   HPACK are left out rather than guessed: no http.response.status_code when :status was lost
//   (and no error for its absence), no method_original when :method was.
// - Linking: the stream id and the request's method and :path name the request on both ends;
//   stream ids are never reused on a connection.
import type { HttpExchange } from '../model/http.js';
import type { Http2Exchange } from '../model/http2.js';
import type { HistogramPoint, ResourceRecord, SpanRecord } from '../model/span.js';
import { grpcExchangeToMetrics, grpcExchangeToSpan } from './grpc.js';
import { type HttpSemconvOptions, httpExchangeToMetrics, httpExchangeToSpan } from './http.js';
import type { IdSource } from './ids.js';

const isGrpc = (ex: Http2Exchange): boolean => ex.grpc !== undefined;

/** The HTTP conventions take HTTP/1's exchange shape; an HTTP/2 stream has the same parts. */
function asHttpExchange(ex: Http2Exchange): HttpExchange {
  return { protocol: 'http1', connection: ex.connection, request: ex.request, response: ex.response, ordinal: ex.ordinal, counted: undefined };
}

function schemeOf(ex: Http2Exchange): { scheme?: 'http' | 'https' } {
  return ex.scheme === 'http' || ex.scheme === 'https' ? { scheme: ex.scheme } : {};
}

/** The HTTP options (header capture, routes, redaction) apply to plain streams; gRPC takes the redaction. */
export function http2ExchangeToSpan(ex: Http2Exchange, resource: ResourceRecord, ids: IdSource, opts: HttpSemconvOptions = {}): SpanRecord {
  if (isGrpc(ex)) return grpcExchangeToSpan(ex, resource, ids, opts.redaction !== undefined ? { redaction: opts.redaction } : {});
  const span = httpExchangeToSpan(asHttpExchange(ex), resource, ids, { ...opts, ...schemeOf(ex) });
  // HTTP/1's attributes may be shared by spans alike (frozen): this span's are its own.
  const a = (span.attributes = { ...span.attributes });
  if (a['http.request.method_original'] === '') delete a['http.request.method_original']; // :method lost
  if (ex.response?.statusCode === 0) {
    // :status was lost (headersLost): no status code, and no error because of its absence.
    delete a['http.response.status_code'];
    if (a['error.type'] === '0') {
      delete a['error.type'];
      span.status = { code: 'unset' };
    }
  }
  if (ex.reset !== undefined) {
    a['lantern.http2.reset'] = ex.reset;
    if (a['error.type'] === undefined || a['error.type'] === 'response_missing') {
      a['error.type'] = ex.reset;
      span.status = { code: 'error', message: `stream reset (${ex.reset})` };
    }
  }
  if (ex.headersLost === true) a['lantern.http2.headers_lost'] = true;
  return span;
}

export function http2ExchangeToMetrics(ex: Http2Exchange, resource: ResourceRecord, opts: HttpSemconvOptions = {}): HistogramPoint[] {
  if (isGrpc(ex)) return grpcExchangeToMetrics(ex, resource);
  const points = httpExchangeToMetrics(asHttpExchange(ex), resource, { ...opts, ...schemeOf(ex) });
  for (const p of points) {
    p.attributes = { ...p.attributes };
    if (ex.response?.statusCode === 0) {
      delete p.attributes['http.response.status_code'];
      if (p.attributes['error.type'] === '0') delete p.attributes['error.type'];
    }
    if (ex.reset !== undefined && (p.attributes['error.type'] === undefined || p.attributes['error.type'] === 'response_missing')) {
      p.attributes['error.type'] = ex.reset;
    }
  }
  return points;
}

/** Names the stream on both ends of a connection (with its 4-tuple and ordinal). */
export function http2LinkId(ex: Http2Exchange): string {
  return `${ex.streamId} ${ex.request.method} ${ex.grpc?.method ?? ex.request.target}`;
}
