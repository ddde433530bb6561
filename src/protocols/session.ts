// What the connection tracker needs from a protocol: bytes in per side, exchanges out. The tracker
// never knows which protocol it feeds.
import type { ConnectionInfo } from '../model/connection.js';
import type { Exchange } from '../model/exchange.js';

/**
 * Bytes of one syscall, as a paired record's event holds them: `data` may be a view made at its first
 * read (decode.ts), which a session that only needs the length, or compares another view, never makes.
 */
export interface CapturedBytes {
  readonly data: Uint8Array;
  readonly dataLength: number;
  readonly timeNs: bigint;
}

/** Which half of the conversation bytes belong to, independent of who sent them. */
export type MessageSide = 'request' | 'response';

export interface ProtocolSession {
  data(side: MessageSide, bytes: Uint8Array, timeNs: bigint): void;
  /** `bytes` of this side were not captured. */
  gap(side: MessageSide, bytes: number, timeNs: bigint): void;
  /** The connection closed (or was evicted): complete what can be completed. */
  close(timeNs: bigint): void;
  /** Exchanges finished since the last drain. */
  drain(): Exchange[];
  /** Counters (messages, parse errors, resyncs...) added into the collector's self-metrics. */
  stats(): Record<string, number>;
  /**
   * The same counters added into `sums`, an object of this protocol's counter names (made of an
   * earlier session's stats()). Absent: the tracker adds stats() name by name, a keyed load and store
   * per name, for every connection that ends.
   */
  addStatsTo?(sums: Record<string, number>): void;
  /**
   * The connection switched to TLS and what follows is its plaintext, from the TLS library probes,
   * at the next stream positions. True: this session goes on with it (MySQL's login continues after
   * SSLRequest). False or absent: the tracker opens a new session for the plaintext.
   */
  resumeOverTls?(): boolean;
  /**
   * The request in the next `data` of the request side was paired with its response in the kernel,
   * which decided to keep its span (HTTP/1 only).
   */
  keptInKernel?(): void;
  /**
   * An exchange the kernel paired and kept, its two sides' next bytes: what keptInKernel, then
   * `data` of the request, then `data` of the response would do, in one call, so that a session can
   * take the common case (one whole request, the start of its answer) by a shorter path. Absent: the
   * tracker makes those three calls. `both`: the request's bytes then the response's, in one view (a
   * paired record holds them one after the other).
   */
  paired?(request: CapturedBytes, response: CapturedBytes, both: Uint8Array): void;
  /**
   * An exchange the kernel shed: its whole request, its response's status line, the rest of both
   * never to come (the tracker restarts both streams at whatever comes next). False: this session
   * cannot take it (the tracker treats its bytes as lost).
   */
  shedInKernel?(request: Uint8Array, requestNs: bigint, statusLine: Uint8Array, responseNs: bigint): boolean;
  /**
   * `n` exchanges the kernel shed and counted (no bytes, no summary) went by before the next bytes:
   * the tracker restarts both streams; the session numbers its exchanges past them.
   */
  shedBefore?(n: number): void;
}

export interface ProtocolHandler {
  name: string;
  /** Kernel protocol number (bpf/include/sockets.h enum socket_protocol). */
  kernelId: number;
  /** Does `bytes` (the first captured bytes of a side) start a request? Used to infer the role of
   * connections found mid-life. */
  looksLikeRequest(bytes: Uint8Array): boolean;
  looksLikeResponse(bytes: Uint8Array): boolean;
  open(connection: ConnectionInfo): ProtocolSession;
  /**
   * The tracker is done with `session`, one this handler opened: closed, drained, its counters
   * read, and no reference to it kept. The handler may hand it to a connection it opens later.
   */
  release?(session: ProtocolSession): void;
}
