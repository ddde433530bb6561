// Unary gRPC calls over node:http2, for request bodies that are already encoded (gRPC over HTTP/2:
// https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md). An OTLP export is one POST on a
// long-lived HTTP/2 connection: the 5-byte message prefix and the body, written as they are; the
// answer's grpc-status in the trailers (or in the headers of a trailers-only answer).
//
// Why not grpc-js, the OTel exporters' transport: on this 2-CPU VM a unary call through it cost
// ~650 µs of CPU in the caller's process, where the same call on node:http2 cost ~200 µs, and it copies
// every body into a new buffer behind its prefix (0.5 MB for an export of 1024 spans: mmapped fresh
// and faulted in, as memory-release.ts fixes the mmap threshold). At 20k spans/s that was ~1 µs of
// agent CPU per span (benchmarks/RESULTS.md, "Agent CPU per exchange against a baseline checkout").
import http2 from 'node:http2';

/** gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html) this client produces itself. */
export const GRPC_STATUS = { OK: 0, CANCELLED: 1, UNKNOWN: 2, DEADLINE_EXCEEDED: 4, PERMISSION_DENIED: 7, UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14, UNAUTHENTICATED: 16 } as const;

/**
 * A failed call, shaped as grpc-js reports one (numeric `code`, `details`), which
 * isRetryableExportError classifies. Connection failures keep the system error's string `code`
 * (ECONNREFUSED, ...) instead.
 */
export class GrpcCallError extends Error {
  constructor(readonly code: number | string, readonly details: string) {
    super(typeof code === 'number' ? `${code} ${statusName(code)}: ${details}` : `${code}: ${details}`);
    this.name = 'GrpcCallError';
  }
}

function statusName(code: number): string {
  return Object.entries(GRPC_STATUS).find(([, c]) => c === code)?.[0] ?? 'STATUS';
}

/** RFC 9113 §8.2.1 field names as gRPC metadata allows them (lowercase ASCII), and printable ASCII values. */
const METADATA_KEY = /^[0-9a-z_.-]+$/;
const METADATA_VALUE = /^[\x20-\x7e]*$/;

/** Why `key: value` cannot travel as gRPC metadata, or null when it can. */
export function metadataProblem(key: string, value: string): string | null {
  if (!METADATA_KEY.test(key)) return 'the name must be lowercase letters, digits, "_", "." or "-"';
  if (key.startsWith('grpc-') || key.startsWith(':') || key === 'te' || key === 'content-type') return 'the name is reserved';
  if (key.endsWith('-bin')) return 'binary metadata is not supported';
  if (!METADATA_VALUE.test(value)) return 'the value must be printable ASCII';
  return null;
}

/**
 * gRPC's status for an HTTP answer that is not a gRPC one (PROTOCOL-HTTP2.md, "HTTP to gRPC Status
 * Code Mapping"): a proxy or a load balancer refusing, or not a gRPC server at all.
 */
export function statusOfHttp(status: number): number {
  if (status === 400) return GRPC_STATUS.INTERNAL;
  if (status === 401) return GRPC_STATUS.UNAUTHENTICATED;
  if (status === 403) return GRPC_STATUS.PERMISSION_DENIED;
  if (status === 404) return GRPC_STATUS.UNIMPLEMENTED;
  if (status === 429 || status === 502 || status === 503 || status === 504) return GRPC_STATUS.UNAVAILABLE;
  return GRPC_STATUS.UNKNOWN;
}

/** grpc-message is percent-encoded (PROTOCOL-HTTP2.md, "Responses"). */
function decodeMessage(raw: unknown): string {
  if (typeof raw !== 'string') return '';
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** A value of the grpc-timeout header: at most 8 digits, then the unit. */
export function grpcTimeout(ms: number): string {
  const n = Math.max(1, Math.ceil(ms));
  return n < 1e8 ? `${n}m` : `${Math.ceil(n / 1000)}S`;
}

export interface GrpcUnaryOptions {
  /** "http://host:port" (plaintext) or "https://host:port" (TLS, the server verified with Node's roots). */
  origin: string;
  /** Sent with every call (see metadataProblem). */
  metadata: Record<string, string>;
}

/**
 * Unary calls to one server over one HTTP/2 connection, opened on the first call and again on the
 * next call after it failed or was closed by the server (GOAWAY, idle timeout). Calls share it.
 */
export class GrpcUnaryClient {
  #session: http2.ClientHttp2Session | null = null;
  #closed = false;
  readonly #headers: http2.OutgoingHttpHeaders;

  constructor(private readonly o: GrpcUnaryOptions) {
    this.#headers = { ...o.metadata, [http2.constants.HTTP2_HEADER_METHOD]: 'POST', [http2.constants.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc', te: 'trailers', 'user-agent': 'lantern-grpc' };
  }

  #connection(): http2.ClientHttp2Session {
    const live = this.#session;
    if (live !== null && !live.closed && !live.destroyed) return live;
    const session = http2.connect(this.o.origin);
    // An idle connection does not keep the process alive; a call in flight does (its deadline's timer).
    session.unref();
    // A failed or ended connection is forgotten: the next call opens another. Its calls fail on
    // their own streams (their 'error' or 'close').
    const forget = (): void => {
      if (this.#session === session) this.#session = null;
    };
    session.on('error', forget);
    session.on('goaway', forget);
    session.on('close', forget);
    this.#session = session;
    return session;
  }

  /** One call of `path` with `body` (an encoded message); resolves on OK, rejects with a GrpcCallError. */
  call(path: string, body: Uint8Array, timeoutMs: number): Promise<void> {
    if (this.#closed) return Promise.reject(new GrpcCallError(GRPC_STATUS.CANCELLED, 'the client was closed'));
    return new Promise<void>((resolve, reject) => {
      let stream: http2.ClientHttp2Stream;
      try {
        stream = this.#connection().request({ ...this.#headers, [http2.constants.HTTP2_HEADER_PATH]: path, 'grpc-timeout': grpcTimeout(timeoutMs) });
      } catch (e) {
        reject(new GrpcCallError(GRPC_STATUS.UNAVAILABLE, (e as Error).message));
        return;
      }
      let settled = false;
      const settle = (err: GrpcCallError | null): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err === null) resolve();
        else reject(err);
        if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
      };
      const timer = setTimeout(() => settle(new GrpcCallError(GRPC_STATUS.DEADLINE_EXCEEDED, `no answer within ${timeoutMs} ms`)), timeoutMs);
      let httpStatus = 0;
      let grpcStatus: number | null = null;
      let message = '';
      const readStatus = (h: http2.IncomingHttpHeaders): void => {
        const s = h['grpc-status'];
        if (typeof s === 'string' && /^\d+$/.test(s)) grpcStatus = Number(s);
        if (h['grpc-message'] !== undefined) message = decodeMessage(h['grpc-message']);
      };
      stream.on('response', (h) => {
        httpStatus = Number(h[http2.constants.HTTP2_HEADER_STATUS] ?? 0);
        readStatus(h); // a trailers-only answer (an error before any message)
      });
      stream.on('trailers', readStatus);
      // The answer's message (ExportTraceServiceResponse: a partial success at most) is not read.
      stream.on('data', () => {});
      stream.on('error', (e: NodeJS.ErrnoException) => {
        // A connection that could not be made keeps the system's code (retryable as a network error).
        const code = typeof e.code === 'string' && /^E[A-Z]+$/.test(e.code) ? e.code : GRPC_STATUS.UNAVAILABLE;
        settle(new GrpcCallError(code, e.message));
      });
      stream.on('close', () => {
        if (httpStatus !== 200) settle(new GrpcCallError(httpStatus === 0 ? GRPC_STATUS.UNAVAILABLE : statusOfHttp(httpStatus), httpStatus === 0 ? 'the stream closed without an answer' : `HTTP status ${httpStatus}`));
        else if (grpcStatus === null) settle(new GrpcCallError(GRPC_STATUS.UNKNOWN, 'an answer without grpc-status'));
        else if (grpcStatus !== GRPC_STATUS.OK) settle(new GrpcCallError(grpcStatus, message));
        else settle(null);
      });
      // The message: uncompressed, its length, then its bytes (no copy: two writes).
      const prefix = Buffer.allocUnsafe(5);
      prefix[0] = 0;
      prefix.writeUInt32BE(body.length, 1);
      stream.write(prefix);
      stream.end(Buffer.from(body.buffer, body.byteOffset, body.length));
    });
  }

  /** Closes the connection (calls in flight end with it). */
  close(): void {
    this.#closed = true;
    const s = this.#session;
    this.#session = null;
    if (s !== null && !s.destroyed) s.close();
  }
}
