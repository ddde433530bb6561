// HTTP/2 streams as the HTTP/2 session completes them: one exchange per stream (RFC 9113 §5), the
// request and response in the same shapes as HTTP/1's (version "2", pseudo-header fields turned
// into method, target, Host and status), plus what only HTTP/2 and gRPC have: trailers, a reset,
// gRPC's status and message counts.
import type { ConnectionInfo } from './connection.js';
import type { HeaderList, HttpRequestMessage, HttpResponseMessage } from './http.js';

/** gRPC over HTTP/2 (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md). */
export interface GrpcCall {
  /** grpc-status as sent (trailers, or the headers of a Trailers-Only response); absent if never seen. */
  status?: number;
  /** grpc-message, percent-decoded (UTF-8). */
  message?: string;
  /** The request's :path as sent: "/package.Service/Method". "" when the request headers were lost. */
  method: string;
  /** Length-prefixed messages begun in each direction (counted from DATA frames). */
  requestMessages: number;
  responseMessages: number;
  /** Message framing was lost in a direction (a gap inside DATA): the counts are lower bounds. */
  messagesLost?: boolean;
}

export interface Http2Exchange {
  protocol: 'http2';
  connection: ConnectionInfo;
  /**
   * Derived from the stream id (`streamId >>> 1`): for client streams, the stream's position in
   * request order when ids are used consecutively, as clients do (RFC 9113 §5.1.1 only says they
   * increase). Both ends read it from the wire, so it agrees even when one capture began late.
   */
  ordinal: number;
  streamId: number;
  /** version "2"; method from :method, target from :path (:authority for CONNECT), Host from :authority. */
  request: HttpRequestMessage;
  /** The request's :scheme ("http", "https"), when known. */
  scheme?: string;
  /** The final response; null when none came (reset, connection closed, stream evicted). */
  response: HttpResponseMessage | null;
  /** Response trailers (a HEADERS frame after the response's DATA); [] when none. */
  trailers: HeaderList;
  grpc?: GrpcCall;
  /** RST_STREAM error code name ("CANCEL", "REFUSED_STREAM", ...); "REFUSED_STREAM" also when a
   * GOAWAY said the stream was never processed. Absent when the stream ended normally. */
  reset?: string;
  /** Some header fields could not be decoded (capture began mid-connection, or a gap lost HPACK
   * state): the request or response has partial headers (method "" / target "" when lost). */
  headersLost?: boolean;
  /** The stream was opened by a server push (PUSH_PROMISE); its request came from the server. */
  pushed?: boolean;
}
