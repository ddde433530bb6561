// HTTP/1.x messages as the parser produces them and exchanges as the matcher pairs them.
import type { CountedValues } from './span.js';
import type { ConnectionInfo } from './connection.js';

/** Header names lower-cased, values as sent (repeated headers stay repeated, in order). */
export type HeaderList = Array<[name: string, value: string]>;

/**
 * A message's header fields, read by name. HTTP/2 decodes them into a HeaderList (header-pairs.ts);
 * HTTP/1 keeps its head's text and where each field lies in it, and makes a name or a value only
 * when one is read (protocols/http1/fields.ts): the conventions read a handful of fields of each head.
 */
export interface HeaderFields extends Iterable<[name: string, value: string]> {
  /** Field lines (an HTTP/1 line continued by obs-fold counts once). */
  readonly length: number;
  /** The first value of the field `name` (lower case: names are case-insensitive, RFC 9110 §5.1). */
  get(name: string): string | undefined;
  /** Every value of the field `name` (lower case), in order. */
  getAll(name: string): string[];
}

export interface HttpRequestMessage {
  kind: 'request';
  method: string;
  /** The request-target exactly as sent ("/a/b?x=1", "http://host/x" for proxies, "*" ...). */
  target: string;
  /** "1.0" or "1.1". */
  version: string;
  headers: HeaderFields;
  /** Body bytes on the wire after transfer decoding (chunk framing excluded). */
  bodySize: number;
  /** The first bytes of the body, up to the parser's capture bound. */
  bodyPrefix: Uint8Array;
  /** Wall-clock ns of the syscall that carried the first / last byte of the message. */
  startNs: bigint;
  endNs: bigint;
  /**
   * The kernel paired this request with its response and decided on its span (bpf/include/pairing.h):
   * 'shed' — only its metrics are wanted (its response is a status line); 'kept' — its span is.
   * Absent: the agent's span shedder decides.
   */
  kernelSampling?: KernelSampling;
}

export type KernelSampling = 'kept' | 'shed';

export interface HttpResponseMessage {
  kind: 'response';
  statusCode: number;
  reason: string;
  version: string;
  headers: HeaderFields;
  bodySize: number;
  bodyPrefix: Uint8Array;
  startNs: bigint;
  endNs: bigint;
  /** Interim responses (1xx other than 101) precede the final one and are reported separately. */
  interim: boolean;
  /** The body had no length and ended when the connection closed. */
  endedByClose: boolean;
}

export type HttpMessage = HttpRequestMessage | HttpResponseMessage;

export interface HttpExchange {
  protocol: 'http1';
  connection: ConnectionInfo;
  request: HttpRequestMessage;
  /** null when the connection closed (or the exchange was evicted) before a response came. */
  response: HttpResponseMessage | null;
  /** 0-based position of this exchange on its connection (pairs client and server spans). */
  ordinal: number;
  /**
   * The durations of every exchange like this one (client connection or server port, request line,
   * status) that the kernel shed and counted: this exchange is the first of them, and stands for all
   * in the metrics. Made undefined with every exchange (one hidden class: http1/matcher.ts).
   */
  counted?: CountedValues | undefined;
}
