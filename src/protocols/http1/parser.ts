// HTTP/1.x framing for one direction of one connection (RFC 9112): bytes in, whole messages out.
//
// The bytes are what a traced process moved through its socket, one syscall per feed(), with holes
// where the capture lost some (reset()). The parser is resumable: a message may be split at any
// byte, many may share one chunk, and a chunk is never kept; only the unfinished part of a framing
// unit (a head, a chunk-size line, a trailer section, a resync candidate) is copied aside, never more
// than maxHeaderBytes of it. Bytes that cannot be HTTP/1 are counted as a parse error and the parser
// searches for the next plausible message start instead of giving up on the connection.
//
// Where a message ends is RFC 9112 §6.3 alone. Persistence (§9.3: HTTP/1.0 closes unless it says
// keep-alive, HTTP/1.1 stays open unless it says close) only decides whether more messages follow;
// the parser needs no opinion on it: if the peer closes, finish() says so, and if more bytes come,
// they are parsed.
import type { HttpMessage, HttpRequestMessage, HttpResponseMessage } from '../../model/http.js';
import { type HeadFields, NO_FIELDS, isOws, parseFields } from './fields.js';
import { knownMethod, sharedTarget } from './tokens.js';
import {
  METHOD_NEEDLES,
  NEEDLE_MAX,
  RESPONSE_NEEDLE,
  SCAN_BAD,
  SCAN_MORE,
  TCHAR,
  newScan,
  resetScan,
  scanStartLine,
  type StartLineScan,
} from './detect.js';

export type Http1Side = 'request' | 'response';

export interface Http1ParserOptions {
  /** Body bytes kept per message in `bodyPrefix` (bodySize still counts them all). Default 1024. */
  maxBodyCapture?: number;
  /** Longest head (start line + fields + empty line) and trailer section. Default 64 KiB. */
  maxHeaderBytes?: number;
  /**
   * Request side: called as soon as a request's head is accepted, before its body. The response
   * side needs the method (HEAD, CONNECT) before it can frame the answer, which may start before
   * the request body ends (100-continue, early 413).
   */
  onRequestHead?: (method: string, startNs: bigint) => void;
}

export interface Http1ParserStats {
  /** Messages emitted, interim responses included. */
  messages: number;
  /** Malformed input found (each followed by a resynchronisation search). */
  parseErrors: number;
  /** Message starts found by searching after a parse error or a gap. */
  resyncs: number;
  /** Bytes fed. */
  bytes: number;
  /** Bytes reported missing by skip() (beyond the capture bound, sendfile). */
  gapBytes: number;
  /** Bytes discarded while searching for a message start (after errors, gaps, or after finish()). */
  skippedBytes: number;
  /** Protocol switches: a 101, a 2xx to CONNECT, or non-HTTP bytes right after such a request. */
  protocolSwitches: number;
  /** Bytes after a protocol switch: not HTTP/1, not parsed. */
  opaqueBytes: number;
  /** Messages begun but dropped unfinished (a gap, the end of the stream, a protocol switch). */
  truncated: number;
  /** Exceptions caught by the last-resort guard (a bug if ever non-zero). */
  internalErrors: number;
}

export type Http1ErrorReason =
  | 'bad-request-line'
  | 'bad-status-line'
  | 'head-too-large'
  | 'bad-header'
  | 'bad-content-length'
  | 'conflicting-content-length'
  | 'bad-transfer-encoding'
  | 'bad-chunk-size'
  | 'bad-chunk-end'
  | 'bad-trailer'
  | 'internal';

/** The most recent parse error with the bytes that failed, for logs and tests. */
export interface Http1ParseError {
  reason: Http1ErrorReason;
  /** Stream offset (bytes fed before it) of the first evidence byte. */
  offset: number;
  /** Up to 64 bytes from where the failure was detected. */
  evidence: Uint8Array;
}

const DEFAULT_MAX_BODY_CAPTURE = 1024;
const DEFAULT_MAX_HEADER_BYTES = 64 * 1024;
/** Below this the parser could not hold a plausible head, nor its own search tails. */
const MIN_HEADER_BYTES = 256;
/** Longest chunk-size line, extensions included (RFC 9112 §7.1.1 sets no limit; servers do). */
const MAX_CHUNK_LINE = 4096;
/** A start line found by searching must end within this many bytes to be believed. */
const MAX_TENTATIVE_LINE = 8192;
/** A Content-Length or chunk size above 2^50 bytes (1 PiB) is not a real body. */
const MAX_BODY_LENGTH = 2 ** 50;
/** Requests whose responses are awaited; beyond, the oldest method is forgotten (one-sided capture). */
const MAX_EXPECTED = 1024;
const EVIDENCE_BYTES = 64;
/** The most of a head decoded to a string before its end is known (see head()). */
const HEAD_TEXT = 1024;
/** Pending-buffer capacity kept across messages; a larger one is released when emptied. */
const RETAINED_CAPACITY = 16 * 1024;

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const DEL = 0x7f;
const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
const EMPTY = new Uint8Array(0);
const EMPTY_BUFFER = Buffer.alloc(0);
/** "1.0" … "1.9" by the version's minor digit, so a message does not build the string. */
const VERSIONS = Array.from({ length: 10 }, (_, i) => `1.${i}`);

// Parser states.
const SEEK = 0; // between messages: skipping empty lines
const HEAD = 1; // start line and fields, up to the empty line
const BODY_LENGTH = 2; // Content-Length body
const CHUNK_SIZE = 3; // chunk-size [ chunk-ext ] CRLF
const CHUNK_DATA = 4;
const CHUNK_END = 5; // the CRLF after chunk-data
const TRAILERS = 6; // trailer-section CRLF
const BODY_UNTIL_CLOSE = 7; // response without length: ends with the connection
const RESYNC = 8; // searching for something that looks like a message start
const OPAQUE = 9; // after a protocol switch: nothing here is HTTP/1 any more
const ENDED = 10; // finish() was called

/** How a head that fails to parse is treated. */
const HEAD_SYNC = 0; // a parse error
const HEAD_PROBE = 1; // first bytes after a request asking to switch protocols: opaque, not an error

/** Handler result: the unit needs bytes not yet fed. */
const NEED = -1;
/** findCandidate() cache: the needle does not occur again in this buffer. */
const ABSENT = Number.MAX_SAFE_INTEGER;

/** What a head says: the start line's parts (a request's or a response's) and the fields. */
interface HeadParts {
  method: string;
  target: string;
  statusCode: number;
  reason: string;
  version: string;
  headers: HeadFields;
}

/** A message whose head has been parsed and whose body is being read. */
interface Draft extends HeadParts {
  startNs: bigint;
  /** Time of the latest byte of the message seen so far. */
  endNs: bigint;
  bodySize: number;
  capture: Uint8Array | null;
  captureLimit: number;
  captured: number;
  interim: boolean;
  /** Request: CONNECT or Upgrade, so the next bytes may not be HTTP/1 (RFC 9110 §7.8, §9.3.6). */
  asksSwitch: boolean;
}

/** `d` as a draft of no message yet, but for its fields, times and capture bound; returns it. */
function clearDraft(d: Draft, headers: HeadFields, startNs: bigint, endNs: bigint, captureLimit: number): Draft {
  d.method = '';
  d.target = '';
  d.statusCode = 0;
  d.reason = '';
  d.version = '';
  d.headers = headers;
  d.startNs = startNs;
  d.endNs = endNs;
  d.bodySize = 0;
  d.capture = null;
  d.captureLimit = captureLimit;
  d.captured = 0;
  d.interim = false;
  d.asksSwitch = false;
  return d;
}

/** A request message: `head`'s start line and fields, the rest as given (one object shape for every request). */
export function requestMessage(head: Pick<HttpRequestMessage, 'method' | 'target' | 'version' | 'headers'>, bodySize: number, bodyPrefix: Uint8Array, startNs: bigint, endNs: bigint): HttpRequestMessage {
  return {
    kind: 'request', method: head.method, target: head.target, version: head.version, headers: head.headers,
    // Set by the connection when the kernel paired it; present from the start, so that every
    // request has one object shape on the hot path.
    bodySize, bodyPrefix, startNs, endNs, kernelSampling: undefined,
  };
}

/** A response message, as requestMessage. */
export function responseMessage(head: Pick<HttpResponseMessage, 'statusCode' | 'reason' | 'version' | 'headers'>, bodySize: number, bodyPrefix: Uint8Array, startNs: bigint, endNs: bigint,
  interim: boolean, endedByClose: boolean): HttpResponseMessage {
  return {
    kind: 'response', statusCode: head.statusCode, reason: head.reason, version: head.version, headers: head.headers,
    bodySize, bodyPrefix, startNs, endNs, interim, endedByClose,
  };
}

/**
 * The last head a parser parsed, as its bytes and what they parse to. A keep-alive connection sends
 * the same head again and again: the same request line and fields from its client, the same answer
 * from its server (whose Date changes once a second). Bytes equal to the last head's, up to and with
 * its empty line, are that head: one compare of them (native) instead of the start line's scan, the
 * text's decoding, the search for its end, the fields' parse and the framing. Only heads that parsed
 * and framed without error, of HEAD_TEXT bytes at most.
 */
interface HeadMemo extends HeadParts {
  /** The head's bytes are `bytes[0, length)` (the buffer is reused for the next head that fits). */
  bytes: Buffer;
  length: number;
  framing: Framing;
}

/**
 * The unfinished tail of the stream, copied out of the chunks it came in. Remembers the time of
 * each chunk's part, so a message found inside it gets the times of the syscalls that carried it.
 */
class Pending {
  private buf: Buffer = EMPTY_BUFFER;
  length = 0;
  private markAt: number[] = [];
  private markNs: bigint[] = [];

  /** `capacity`: what the buffer may grow to when doubling (it still grows to whatever is appended). */
  constructor(private readonly capacity: number) {}

  append(src: Buffer, from: number, to: number, timeNs: bigint): void {
    const n = to - from;
    if (this.length + n > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.length + n, Math.min(this.capacity, Math.max(256, this.buf.length * 2))));
      this.buf.copy(grown, 0, 0, this.length);
      this.buf = grown;
    }
    src.copy(this.buf, this.length, from, to);
    if (this.markNs.length === 0 || this.markNs[this.markNs.length - 1] !== timeNs) {
      this.markAt.push(this.length);
      this.markNs.push(timeNs);
    }
    this.length += n;
  }

  view(): Buffer {
    return this.buf.subarray(0, this.length);
  }

  /** The last `n` bytes (n ≤ length). */
  last(n: number): Buffer {
    return this.buf.subarray(this.length - n, this.length);
  }

  timeAt(i: number): bigint {
    for (let k = this.markAt.length - 1; k > 0; k--) if (this.markAt[k]! <= i) return this.markNs[k]!;
    return this.markNs[0] ?? 0n;
  }

  /** Drops the first `n` bytes; only the unparsed tail is moved. */
  consume(n: number): void {
    if (n >= this.length) return this.clear();
    if (n <= 0) return;
    this.buf.copyWithin(0, n, this.length);
    this.length -= n;
    let k = 0;
    while (k + 1 < this.markAt.length && this.markAt[k + 1]! <= n) k++;
    this.markAt = this.markAt.slice(k).map((at) => Math.max(0, at - n));
    this.markNs = this.markNs.slice(k);
  }

  clear(): void {
    this.length = 0;
    // Only when there are marks: the length setter is a call of its own, and a parser clears at
    // every message end and connection end, mostly with nothing held.
    if (this.markAt.length !== 0) {
      this.markAt.length = 0;
      this.markNs.length = 0;
    }
    if (this.buf.length > RETAINED_CAPACITY) this.buf = EMPTY_BUFFER;
  }
}

export class Http1Parser {
  readonly side: Http1Side;
  private readonly maxBodyCapture: number;
  private readonly maxHeaderBytes: number;
  private readonly onRequestHead: ((method: string, startNs: bigint) => void) | undefined;

  private state = SEEK;
  private headMode = HEAD_SYNC;
  /** The previous request asked to switch protocols: probe the next message start. */
  private switchAsked = false;
  private readonly scan: StartLineScan;
  private lineDone = false;
  /** Bytes of the current unit already searched for its end (relative to the unit's start). */
  private searched = 0;
  private headStartNs = 0n;
  /** Body or chunk bytes still to come. */
  private remaining = 0;
  private crSeen = false;
  private cur: Draft | null = null;
  /** The one object `cur` is while a message is read (see draft()). */
  private readonly reading: Draft = clearDraft({} as Draft, NO_FIELDS, 0n, 0n, 0);
  private memo: HeadMemo | null = null;
  #headsFromMemo = 0;

  /** RESYNC: a candidate at the start of the pending bytes is waiting for the rest of its line. */
  private candidatePending = false;
  /** RESYNC: where the kept (unexamined or undecided) bytes begin, when a search needs more. */
  private keep = 0;
  private readonly needleAt: number[] = METHOD_NEEDLES.map(() => -1);

  /** Methods (and start times) of the requests whose final responses are awaited, oldest first. */
  private readonly expected: string[] = [];
  private readonly expectedNs: bigint[] = [];
  /** A gap lost responses: the next final response realigns the awaited methods. */
  private realign = false;
  private out: HttpMessage[] = [];
  private readonly pending: Pending;
  /** While run() works on the pending bytes (rather than straight on a chunk). */
  private onPending = false;
  private nowNs = 0n;
  /** Stream offset of byte 0 of the buffer run() works on. */
  private base = 0;
  private readonly counters: Http1ParserStats = {
    messages: 0, parseErrors: 0, resyncs: 0, bytes: 0, gapBytes: 0, skippedBytes: 0, protocolSwitches: 0, opaqueBytes: 0, truncated: 0, internalErrors: 0,
  };
  private lastErr: Http1ParseError | null = null;

  constructor(side: Http1Side, opts: Http1ParserOptions = {}) {
    this.side = side;
    this.maxBodyCapture = Math.max(0, Math.floor(opts.maxBodyCapture ?? DEFAULT_MAX_BODY_CAPTURE));
    this.maxHeaderBytes = Math.max(MIN_HEADER_BYTES, Math.floor(opts.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES));
    this.onRequestHead = side === 'request' ? opts.onRequestHead : undefined;
    this.scan = newScan(side);
    this.pending = new Pending(this.maxHeaderBytes);
  }

  // --- public API ------------------------------------------------------------------------------

  /**
   * A new parser's state, for another stream (a pooled session's next connection), keeping what
   * costs to make: its buffers, and its head memo (the last head parsed: another connection of the
   * same client is likely to begin with it). Every field a stream changes is set back here.
   */
  startOver(): void {
    this.state = SEEK;
    this.headMode = HEAD_SYNC;
    this.switchAsked = false;
    resetScan(this.scan, this.side);
    this.lineDone = false;
    this.searched = 0;
    this.headStartNs = 0n;
    this.remaining = 0;
    this.crSeen = false;
    this.cur = null;
    clearDraft(this.reading, NO_FIELDS, 0n, 0n, 0);
    this.candidatePending = false;
    this.keep = 0;
    this.needleAt.fill(-1);
    if (this.expected.length !== 0) {
      this.expected.length = 0;
      this.expectedNs.length = 0;
    }
    this.realign = false;
    this.out = [];
    this.pending.clear();
    this.onPending = false;
    this.nowNs = 0n;
    this.base = 0;
    const c = this.counters;
    c.messages = c.parseErrors = c.resyncs = c.bytes = c.gapBytes = c.skippedBytes = c.protocolSwitches = c.opaqueBytes = c.truncated = c.internalErrors = 0;
    this.lastErr = null;
  }

  /** Bytes of one syscall, in stream order; `timeNs` is that syscall's wall-clock time. */
  feed(chunk: Uint8Array, timeNs: bigint): void {
    if (chunk.length === 0) return;
    this.counters.bytes += chunk.length;
    try {
      this.feedChunk(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength), timeNs);
    } catch (err) {
      this.internalFailure(err);
    }
  }

  /**
   * Between messages with nothing kept: no bytes pending, no message begun or finished and not taken,
   * no response awaited, nothing to realign or probe. Bytes fed now parse as they would at the
   * start of a stream (given the same memo): Http1Connection replays a paired exchange from here.
   */
  atRest(): boolean {
    return this.state === SEEK && this.pending.length === 0 && this.cur === null && this.out.length === 0 && this.expected.length === 0 &&
      !this.switchAsked && !this.realign;
  }

  /** Heads that were the memo's (a stream repeating itself): Http1Connection keeps a replay only when this grew. */
  get headsFromMemo(): number {
    return this.#headsFromMemo;
  }

  /** What only trouble counts (errors, resyncs, bytes skipped, lost or opaque, ...): unchanged over a feed, nothing went wrong in it. */
  troubles(): number {
    const c = this.counters;
    return c.parseErrors + c.resyncs + c.gapBytes + c.skippedBytes + c.protocolSwitches + c.opaqueBytes + c.truncated + c.internalErrors;
  }

  /** A message of `bytes` bytes went by at rest and left the parser at rest, as a feed of them would have (Http1Connection's replay). */
  countReplayed(bytes: number): void {
    this.counters.bytes += bytes;
    this.counters.messages++;
  }

  /**
   * End of stream (the connection closed). Completes a response delimited by the close
   * (RFC 9112 §6.3 ¶8); anything else unfinished is dropped and counted as truncated. Its endNs is
   * the time of its last byte, as for every message, not `timeNs`. Later feeds are ignored.
   */
  finish(timeNs: bigint): void {
    void timeNs;
    try {
      if (this.state === ENDED) return;
      if (this.state === BODY_UNTIL_CLOSE && this.cur !== null) this.complete(true);
      else this.dropPartial();
      this.state = ENDED;
    } catch (err) {
      this.internalFailure(err);
      this.state = ENDED;
    }
  }

  /** Messages finished since the last call, in stream order. */
  take(): HttpMessage[] {
    const out = this.out;
    if (out.length > 0) this.out = [];
    return out;
  }

  /**
   * Some bytes of this direction were not captured: drop partial state and search for the next
   * message start. Responses lost in the gap answered some awaited requests: the next final
   * response is taken to answer the newest request that began before it (as the matcher does).
   * After a protocol switch the stream stays opaque: a gap does not make it HTTP/1 again.
   */
  reset(): void {
    if (this.state === OPAQUE || this.state === ENDED) return;
    this.dropPartial();
    this.switchAsked = false;
    this.realign = true;
    this.enterResync();
  }

  /**
   * `n` bytes of this direction were not captured (a syscall beyond the capture bound, sendfile),
   * the last of them at `timeNs`. Inside a body whose extent is known they are simply body bytes:
   * counted in bodySize (not captured: bodyPrefix stops before them) and the parser stays in step;
   * a gap that ends a Content-Length body completes its message. Anywhere else the parser has lost
   * its place, as with reset(). Returns true when it stayed in step.
   */
  skip(n: number, timeNs: bigint): boolean {
    if (!(n > 0)) return true;
    this.counters.gapBytes += n;
    try {
      switch (this.state) {
        case OPAQUE: // counted in gapBytes only: opaqueBytes are bytes that were seen
        case ENDED:
          return true;
        case BODY_UNTIL_CLOSE:
          this.skipBody(n, timeNs);
          return true;
        case BODY_LENGTH:
        case CHUNK_DATA: {
          const k = Math.min(n, this.remaining);
          this.skipBody(k, timeNs);
          this.remaining -= k;
          if (this.remaining === 0) {
            if (this.state === BODY_LENGTH) this.complete(false);
            else if (k === n) {
              this.state = CHUNK_END;
              this.crSeen = false;
            }
          }
          if (k === n) return true;
          break; // the gap also swallowed what came after the body
        }
        default:
      }
      this.reset();
      return false;
    } catch (err) {
      this.internalFailure(err);
      return false;
    }
  }

  /**
   * The request the next final response of this direction answers, called once per request in
   * order. `requestStartNs` lets the parser tell a response to a request it was never told about
   * (it began before that request did) and realign after a gap; without it, every request qualifies.
   */
  expectResponseTo(method: string, requestStartNs = 0n): void {
    this.expected.push(method);
    this.expectedNs.push(requestStartNs);
    if (this.expected.length > MAX_EXPECTED) {
      this.expected.shift();
      this.expectedNs.shift();
    }
  }

  /** The oldest awaited response came and was handled elsewhere (an exchange shed in the kernel). */
  answeredElsewhere(): void {
    this.expected.shift();
    this.expectedNs.shift();
  }

  /** Number of final responses still awaited (methods queued by expectResponseTo). */
  get awaitedResponses(): number {
    return this.expected.length;
  }

  /**
   * The other direction switched protocols (101, a 2xx to CONNECT): everything from here on in
   * this direction belongs to the new protocol.
   */
  enterTunnel(): void {
    if (this.state === OPAQUE || this.state === ENDED) return;
    if (this.cur !== null || this.state === HEAD) this.counters.truncated++;
    this.counters.opaqueBytes += this.pending.length;
    this.pending.clear();
    this.cur = null;
    this.becomeOpaque();
  }

  /** True once the stream has switched protocols and is no longer parsed. */
  get tunneled(): boolean {
    return this.state === OPAQUE;
  }

  /** The message whose body is being read, as it stands (null between messages). */
  inProgress(): HttpMessage | null {
    return this.cur === null ? null : this.toMessage(this.cur, false);
  }

  /** startNs of the message whose body is being read, or null between messages. */
  get messageStartNs(): bigint | null {
    return this.cur === null ? null : this.cur.startNs;
  }

  stats(): Http1ParserStats {
    return { ...this.counters };
  }

  /** The live counters, not a copy: read them at once. */
  counts(): Readonly<Http1ParserStats> {
    return this.counters;
  }

  lastError(): Http1ParseError | null {
    return this.lastErr;
  }

  /** Bytes held between feeds (never more than maxHeaderBytes). */
  bufferedBytes(): number {
    return this.pending.length;
  }

  // --- chunk handling --------------------------------------------------------------------------

  private feedChunk(buf: Buffer, timeNs: bigint): void {
    this.nowNs = timeNs;
    const streamStart = this.counters.bytes - buf.length;
    let pos = 0;
    while (pos < buf.length) {
      if (this.pending.length > 0 && this.state === RESYNC && !this.candidatePending) this.dropTailUnlessStraddling(buf, pos);
      if (this.pending.length === 0) {
        // The common case: parse straight from the chunk and copy out only an unfinished tail.
        this.onPending = false;
        this.base = streamStart;
        const kept = this.run(buf, pos, buf.length);
        const left = buf.length - kept;
        if (left > 0) {
          if (left < this.maxHeaderBytes) this.pending.append(buf, kept, buf.length, timeNs);
          else this.invariantBroken(left);
        }
        return;
      }
      const room = this.maxHeaderBytes - this.pending.length;
      if (room <= 0) {
        this.invariantBroken(this.pending.length);
        continue;
      }
      const take = this.takeAmount(buf, pos, room);
      this.pending.append(buf, pos, pos + take, timeNs);
      pos += take;
      this.onPending = true;
      const view = this.pending.view();
      this.base = streamStart + pos - view.length;
      this.pending.consume(this.run(view, 0, view.length));
    }
  }

  /**
   * How much of the chunk to add to the pending bytes: up to the end of the unit when it is in
   * sight (the rest of the chunk is parsed in place), else all that fits. (A head, trailer section
   * or resync candidate ends at an empty line; a chunk-size line at its LF.)
   */
  private takeAmount(buf: Buffer, pos: number, room: number): number {
    let want = buf.length - pos;
    if (this.state === HEAD || this.state === TRAILERS || this.state === RESYNC) {
      const e = this.blockEnd(buf, pos);
      if (e >= 0) want = e - pos;
    } else if (this.state === CHUNK_SIZE) {
      const lf = buf.indexOf(LF, pos);
      if (lf >= 0) want = lf + 1 - pos;
    }
    return Math.min(want, room);
  }

  /** Just past the first CRLFCRLF that ends in `buf` (it may begin in the pending bytes), or -1. */
  private blockEnd(buf: Buffer, pos: number): number {
    for (let k = Math.min(3, this.pending.length); k >= 1; k--) {
      const tail = this.pending.last(k);
      let match = true;
      for (let i = 0; i < 4 && match; i++) {
        const b = i < k ? tail[i] : buf[pos + i - k];
        match = b === CRLFCRLF[i];
      }
      if (match) return pos + 4 - k;
    }
    const idx = buf.indexOf(CRLFCRLF, pos);
    return idx < 0 ? -1 : idx + 4;
  }

  /**
   * While searching, the pending bytes are only the last few of the previous chunk, kept in case a
   * needle was split. If no needle starts in them, drop them and search the new chunk in place
   * instead of copying it.
   */
  private dropTailUnlessStraddling(buf: Buffer, pos: number): void {
    const tail = this.pending.view();
    // Undecidable when the chunk is too short to complete a needle begun in the tail: keep it.
    if (tail.length >= NEEDLE_MAX || buf.length - pos < NEEDLE_MAX - 1) return;
    const joint = Buffer.concat([tail, buf.subarray(pos, pos + NEEDLE_MAX - 1)]);
    const needles = this.side === 'request' ? METHOD_NEEDLES : [RESPONSE_NEEDLE];
    for (const needle of needles) {
      const at = joint.indexOf(needle);
      if (at >= 0 && at < tail.length) return;
    }
    this.counters.skippedBytes += tail.length;
    this.pending.clear();
  }

  private timeAt(i: number): bigint {
    return this.onPending ? this.pending.timeAt(i) : this.nowNs;
  }

  /**
   * Parses `D[p..end)`; returns how far the bytes were used. Bytes from there on are an unfinished
   * unit whose start is at that position, to be given again with what follows.
   */
  private run(D: Buffer, p: number, end: number): number {
    while (p < end) {
      switch (this.state) {
        case SEEK:
          p = this.seek(D, p, end);
          break;
        case HEAD: {
          const r = this.head(D, p, end);
          if (r === NEED) return p;
          p = r;
          break;
        }
        case BODY_LENGTH:
        case CHUNK_DATA:
          p = this.fixedBody(D, p, end);
          break;
        case CHUNK_SIZE: {
          const r = this.chunkSize(D, p, end);
          if (r === NEED) return p;
          p = r;
          break;
        }
        case CHUNK_END:
          p = this.chunkEnd(D, p);
          break;
        case TRAILERS: {
          const r = this.trailers(D, p, end);
          if (r === NEED) return p;
          p = r;
          break;
        }
        case BODY_UNTIL_CLOSE:
          this.bodyBytes(D, p, end);
          p = end;
          break;
        case RESYNC: {
          const r = this.resync(D, p, end);
          if (r === NEED) return this.keep;
          p = r;
          break;
        }
        case OPAQUE:
          this.counters.opaqueBytes += end - p;
          p = end;
          break;
        default: // ENDED
          this.counters.skippedBytes += end - p;
          p = end;
      }
    }
    return p;
  }

  // --- heads -----------------------------------------------------------------------------------

  private seek(D: Buffer, p: number, end: number): number {
    // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before a request-line. Both
    // directions skip any CR/LF here, which also absorbs the stray CRLF some clients send after a body.
    while (p < end && (D[p] === CR || D[p] === LF)) p++;
    if (p < end) this.startHead(p, this.switchAsked ? HEAD_PROBE : HEAD_SYNC);
    return p;
  }

  private startHead(p: number, mode: number): void {
    this.state = HEAD;
    this.headMode = mode;
    this.switchAsked = false;
    resetScan(this.scan, this.side);
    this.lineDone = false;
    this.searched = 0;
    this.headStartNs = this.timeAt(p);
  }

  private head(D: Buffer, h: number, end: number): number {
    const max = this.maxHeaderBytes;
    if (!this.lineDone && this.searched === 0 && this.memo !== null) {
      const r = this.memoizedHead(D, h, end, this.memo);
      if (r >= 0) {
        this.#headsFromMemo++;
        return r;
      }
    }
    if (!this.lineDone) {
      const st = scanStartLine(this.side, D, h, end, this.scan, max);
      if (st === SCAN_MORE) return NEED;
      if (st === SCAN_BAD) {
        if (this.headMode === HEAD_PROBE) {
          // After CONNECT or Upgrade the client may speak the new protocol (TLS, WebSocket, h2c's
          // "PRI * HTTP/2.0") before the answer is seen: not an error, the stream is just not HTTP/1.
          this.becomeOpaque();
          this.counters.opaqueBytes += end - h;
          return end;
        }
        const reason = this.scan.bad >= max ? 'head-too-large' : this.side === 'request' ? 'bad-request-line' : 'bad-status-line';
        return this.fail(reason, D, h + this.scan.bad, h + this.scan.end);
      }
      this.lineDone = true;
    }
    // RFC 9112 §2.1: the head ends at the first empty line. Resume the search where it stopped.
    const limit = h + max;
    const from = h + Math.max(this.scan.end - 2, this.searched - 3);
    if (this.searched === 0) {
      // First look: the head will be decoded anyway, and a String search in its text costs about
      // half a Buffer search (a call into C++ with its checks). What is decoded past the empty
      // line (HEAD_TEXT at most) is wasted; a head longer than that, or not all here, is searched
      // in the bytes as before.
      const text = D.toString('latin1', h, Math.min(end, limit, h + HEAD_TEXT));
      const k = text.indexOf('\r\n\r\n', from - h);
      if (k >= 0) return this.endOfHead(D, h, h + k, text);
    }
    const idx = D.indexOf(CRLFCRLF, from);
    if (idx < 0 || idx + 4 > limit) {
      if (end >= limit) return this.fail('head-too-large', D, h, limit);
      this.searched = end - h;
      return NEED;
    }
    return this.endOfHead(D, h, idx, D.toString('latin1', h, idx));
  }

  /**
   * The head is `D[h .. idx+4)`, its empty line at idx+2; `text` is `D` from `h` decoded once, as
   * latin1 (RFC 9110 §5.5: field values are octets, not UTF-8), up to idx at least. Decides how the
   * body is delimited.
   */
  private endOfHead(D: Buffer, h: number, idx: number, text: string): number {
    const s = this.scan;
    const lineEnd = h + s.end;
    const headEnd = idx + 4;
    // The fields end before the head's last CRLF and the empty line.
    const headers = lineEnd < idx ? parseFields(text, s.end, D, h, idx - h) : NO_FIELDS;
    if (headers === null) return this.fail('bad-header', D, lineEnd, headEnd);
    const framing = framingOf(headers);
    const request = this.side === 'request';
    const d = this.draft(headers, headEnd);
    if (request) {
      d.method = knownMethod(text, 0, s.sp1) ?? text.slice(0, s.sp1);
      d.target = sharedTarget(text, s.sp1 + 1, s.sp2);
      d.version = VERSIONS[D[h + s.sp2 + 8]! - 0x30]!;
    } else {
      d.version = VERSIONS[D[h + 7]! - 0x30]!;
      d.statusCode = (D[h + 9]! - 0x30) * 100 + (D[h + 10]! - 0x30) * 10 + (D[h + 11]! - 0x30);
      d.reason = s.sp2 >= 0 ? text.slice(s.sp2 + 1, s.end - 2) : '';
    }
    if (framing.error === null && headEnd - h <= HEAD_TEXT) this.remember(D, h, headEnd, d, framing);
    return request ? this.requestBody(D, h, headEnd, d, framing) : this.responseBody(D, h, headEnd, d, framing);
  }

  /**
   * The draft of the message whose head, `headers` and the rest, ends before `headEnd`; the start
   * line's parts are the caller's to set. The parser's one draft, set afresh (a parser reads one
   * message at a time, and what leaves it is the message toMessage makes): an object per message
   * was ~8 % of what the agent allocated per exchange.
   */
  private draft(headers: HeadFields, headEnd: number): Draft {
    return clearDraft(this.reading, headers, this.headStartNs, this.timeAt(headEnd - 1), this.maxBodyCapture);
  }

  /** The head `D[h, headEnd)` just parsed into `d` and `framing`, for the next one (HeadMemo). */
  private remember(D: Buffer, h: number, headEnd: number, d: Draft, framing: Framing): void {
    const n = headEnd - h;
    const m = this.memo;
    const bytes = m !== null && m.bytes.length >= n ? m.bytes : Buffer.allocUnsafe(Math.max(n, 128));
    D.copy(bytes, 0, h, headEnd);
    this.memo = { bytes, length: n, method: d.method, target: d.target, statusCode: d.statusCode, reason: d.reason, version: d.version, headers: d.headers, framing };
  }

  /** When `D` from `h` on holds the memo's head, that head as if parsed (its end); else -1. */
  private memoizedHead(D: Buffer, h: number, end: number, m: HeadMemo): number {
    const n = m.length;
    if (end - h < n || D[h + n - 1] !== LF || D.compare(m.bytes, 0, n, h, h + n) !== 0) return -1;
    const headEnd = h + n;
    const d = this.draft(m.headers, headEnd);
    d.method = m.method;
    d.target = m.target;
    d.statusCode = m.statusCode;
    d.reason = m.reason;
    d.version = m.version;
    return this.side === 'request' ? this.requestBody(D, h, headEnd, d, m.framing) : this.responseBody(D, h, headEnd, d, m.framing);
  }

  /** Message body length of a request: RFC 9112 §6.3 ¶3-6. */
  private requestBody(D: Buffer, h: number, headEnd: number, d: Draft, f: Framing): number {
    if (f.error !== null) return this.fail(f.error, D, h, headEnd);
    if (f.transferCoding !== null) {
      // §6.1: Transfer-Encoding in an HTTP/1.0 message means the framing is faulty. §6.3 ¶4: a
      // request whose final coding is not chunked cannot be delimited (servers answer 400 and close).
      if (d.version === '1.0' || f.transferCoding !== 'chunked') return this.fail('bad-transfer-encoding', D, h, headEnd);
    }
    d.asksSwitch = d.method === 'CONNECT' || f.upgrade;
    this.cur = d;
    this.onRequestHead?.(d.method, d.startNs);
    // §6.3 ¶3: Transfer-Encoding overrides Content-Length (the sender framed it as chunked).
    if (f.transferCoding !== null) this.beginChunked();
    else if (f.length > 0) this.beginLength(d, f.length);
    else this.complete(false); // §6.3 ¶6: no Content-Length, no Transfer-Encoding: no body
    return headEnd;
  }

  /** Message body length of a response: RFC 9112 §6.3 ¶1-2, 4-5, 8. */
  private responseBody(D: Buffer, h: number, headEnd: number, d: Draft, f: Framing): number {
    const code = d.statusCode;
    if (code < 200 && code !== 101) {
      // ¶1: 1xx has no body. It is interim (100-continue, 103): the final response follows and
      // answers the same request, so no method is consumed.
      d.interim = true;
      this.cur = d;
      this.complete(false);
      return headEnd;
    }
    const method = this.answeredMethod(d.startNs);
    if (f.error !== null) return this.fail(f.error, D, h, headEnd);
    this.cur = d;
    // RFC 9110 §15.2.2: after a 101's empty line the connection speaks the protocol it switched to.
    // ¶2: a 2xx to CONNECT turns the connection into a tunnel right after the empty line.
    if (code === 101 || (method === 'CONNECT' && code < 300)) {
      this.complete(false);
      this.becomeOpaque();
      return headEnd;
    }
    // ¶1: responses to HEAD and 204/304 end with their head, whatever their fields say.
    if (method === 'HEAD' || code === 204 || code === 304) this.complete(false);
    else if (f.transferCoding !== null) {
      // §6.1: Transfer-Encoding in an HTTP/1.0 message means the framing is faulty.
      if (d.version === '1.0') return this.fail('bad-transfer-encoding', D, h, headEnd);
      // ¶4: chunked last means chunked; any other final coding is delimited by the close.
      if (f.transferCoding === 'chunked') this.beginChunked();
      else this.state = BODY_UNTIL_CLOSE;
    } else if (f.length > 0) this.beginLength(d, f.length);
    else if (f.length === 0) this.complete(false);
    else this.state = BODY_UNTIL_CLOSE; // ¶8: no length: the body is everything until the close
    return headEnd;
  }

  /** Method of the request a final response starting at `startNs` answers (undefined: unknown). */
  private answeredMethod(startNs: bigint): string | undefined {
    let k = 0;
    if (this.realign) {
      this.realign = false;
      k = this.expected.length - 1;
      while (k >= 0 && this.expectedNs[k]! > startNs) k--;
      if (k < 0) return undefined;
    } else if (this.expected.length === 0 || this.expectedNs[0]! > startNs) return undefined;
    if (k > 0) {
      this.expected.splice(0, k);
      this.expectedNs.splice(0, k);
    }
    this.expectedNs.shift();
    return this.expected.shift();
  }

  private beginLength(d: Draft, length: number): void {
    d.captureLimit = Math.min(this.maxBodyCapture, length);
    this.remaining = length;
    this.state = BODY_LENGTH;
  }

  private beginChunked(): void {
    this.state = CHUNK_SIZE;
    this.searched = 0;
  }

  // --- bodies ----------------------------------------------------------------------------------

  private bodyBytes(D: Buffer, from: number, to: number): void {
    const d = this.cur!;
    d.bodySize += to - from;
    d.endNs = this.timeAt(to - 1);
    if (d.captured < d.captureLimit) {
      if (d.capture === null) d.capture = new Uint8Array(d.captureLimit);
      const n = Math.min(to - from, d.captureLimit - d.captured);
      D.copy(d.capture, d.captured, from, from + n);
      d.captured += n;
    }
  }

  /** Body bytes that were not captured: counted, and the captured prefix ends where they begin. */
  private skipBody(n: number, timeNs: bigint): void {
    const d = this.cur!;
    d.bodySize += n;
    d.endNs = timeNs;
    d.captureLimit = d.captured;
  }

  private fixedBody(D: Buffer, p: number, end: number): number {
    const n = Math.min(this.remaining, end - p);
    this.bodyBytes(D, p, p + n);
    this.remaining -= n;
    if (this.remaining === 0) {
      if (this.state === CHUNK_DATA) {
        this.state = CHUNK_END;
        this.crSeen = false;
      } else this.complete(false);
    }
    return p + n;
  }

  /** RFC 9112 §7.1: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF. */
  private chunkSize(D: Buffer, p: number, end: number): number {
    const limit = Math.min(MAX_CHUNK_LINE, this.maxHeaderBytes);
    const lf = D.indexOf(LF, p + this.searched);
    const size = chunkLine(D, p, lf < 0 ? end : lf, lf >= 0);
    // Every failure resumes the search at the line start: an unterminated chunked body followed by
    // the next message fails right on that message's first byte.
    if (size === CHUNK_LINE_BAD || (lf >= 0 && lf + 1 - p > limit)) return this.fail('bad-chunk-size', D, p, p);
    if (lf < 0) {
      if (end - p >= limit) return this.fail('bad-chunk-size', D, p, p);
      this.searched = end - p;
      return NEED;
    }
    if (size === 0) {
      this.state = TRAILERS; // last-chunk
      this.searched = 0;
    } else {
      this.state = CHUNK_DATA;
      this.remaining = size;
    }
    this.cur!.endNs = this.timeAt(lf);
    return lf + 1;
  }

  private chunkEnd(D: Buffer, p: number): number {
    const b = D[p];
    if (!this.crSeen) {
      if (b !== CR) return this.fail('bad-chunk-end', D, p, p);
      this.crSeen = true;
      return p + 1;
    }
    if (b !== LF) return this.fail('bad-chunk-end', D, p, p);
    this.beginChunked();
    return p + 1;
  }

  /** RFC 9112 §7.1.2: trailer-section = *( field-line CRLF ), then the CRLF ending the message. */
  private trailers(D: Buffer, p: number, end: number): number {
    if (D[p] === CR) {
      if (p + 1 >= end) return NEED;
      if (D[p + 1] !== LF) return this.fail('bad-trailer', D, p, p + 1);
      this.cur!.endNs = this.timeAt(p + 1);
      this.complete(false);
      return p + 2;
    }
    if (TCHAR[D[p]!] !== 1) return this.fail('bad-trailer', D, p, p);
    const limit = p + this.maxHeaderBytes;
    const idx = D.indexOf(CRLFCRLF, p + Math.max(0, this.searched - 3));
    if (idx < 0 || idx + 4 > limit) {
      if (end >= limit) return this.fail('head-too-large', D, p, limit);
      this.searched = end - p;
      return NEED;
    }
    // Trailer fields are checked but not merged into the headers (RFC 9110 §6.5.1 keeps them apart).
    if (parseFields(D.toString('latin1', p, idx), 0, D, p) === null) return this.fail('bad-trailer', D, p, idx + 4);
    this.cur!.endNs = this.timeAt(idx + 3);
    this.complete(false);
    return idx + 4;
  }

  // --- messages --------------------------------------------------------------------------------

  private complete(endedByClose: boolean): void {
    const d = this.cur!;
    this.cur = null;
    this.out.push(this.toMessage(d, endedByClose));
    this.counters.messages++;
    this.state = SEEK;
    if (d.asksSwitch) this.switchAsked = true;
  }

  private toMessage(d: Draft, endedByClose: boolean): HttpMessage {
    const bodyPrefix = d.capture === null || d.captured === 0 ? EMPTY : d.captured === d.capture.length ? d.capture : d.capture.slice(0, d.captured);
    if (this.side === 'request') return requestMessage(d, d.bodySize, bodyPrefix, d.startNs, d.endNs);
    return responseMessage(d, d.bodySize, bodyPrefix, d.startNs, d.endNs, d.interim, endedByClose);
  }

  // --- losing and finding sync -----------------------------------------------------------------

  /** Counts the malformed input, drops the message, and searches again from `resume`. */
  private fail(reason: Http1ErrorReason, D: Buffer, at: number, resume: number): number {
    this.counters.parseErrors++;
    this.lastErr = { reason, offset: this.base + at, evidence: new Uint8Array(D.subarray(at, Math.min(D.length, at + EVIDENCE_BYTES))) };
    this.cur = null;
    this.enterResync();
    return resume;
  }

  private becomeOpaque(): void {
    this.state = OPAQUE;
    this.counters.protocolSwitches++;
  }

  private enterResync(): void {
    this.state = RESYNC;
    this.candidatePending = false;
    this.cur = null;
  }

  private dropPartial(): void {
    if (this.cur !== null || this.state === HEAD) this.counters.truncated++;
    else this.counters.skippedBytes += this.pending.length;
    this.cur = null;
    this.pending.clear();
  }

  /**
   * Finds the next plausible message start: a known method and SP for requests, "HTTP/1." for
   * responses, whose start line then scans as valid (a needle inside a body rarely does).
   */
  private resync(D: Buffer, p: number, end: number): number {
    const maxLine = Math.min(MAX_TENTATIVE_LINE, this.maxHeaderBytes);
    this.needleAt.fill(-1);
    let from = p;
    for (;;) {
      let j: number;
      if (this.candidatePending) {
        j = from; // kept at the start of the pending bytes; its scan resumes
      } else {
        j = this.findCandidate(D, from);
        if (j < 0) {
          // Keep a few bytes: a needle may be split across this chunk and the next.
          this.keep = Math.max(from, end - (NEEDLE_MAX - 1));
          this.counters.skippedBytes += this.keep - p;
          return NEED;
        }
        resetScan(this.scan, this.side);
      }
      const st = scanStartLine(this.side, D, j, end, this.scan, maxLine);
      if (st === SCAN_MORE) {
        this.candidatePending = true;
        this.keep = j;
        this.counters.skippedBytes += j - p;
        return NEED;
      }
      this.candidatePending = false;
      if (st !== SCAN_BAD) {
        this.counters.skippedBytes += j - p;
        this.counters.resyncs++;
        this.state = HEAD;
        this.headMode = HEAD_SYNC;
        this.lineDone = true;
        this.searched = 0;
        this.headStartNs = this.timeAt(j);
        return j;
      }
      from = j + this.scan.end;
    }
  }

  /** First needle at or after `from`. Each needle's position is searched once per buffer and reused. */
  private findCandidate(D: Buffer, from: number): number {
    if (this.side === 'response') return D.indexOf(RESPONSE_NEEDLE, from);
    let best = ABSENT;
    for (let m = 0; m < METHOD_NEEDLES.length; m++) {
      let at = this.needleAt[m]!;
      if (at < from) {
        at = D.indexOf(METHOD_NEEDLES[m]!, from);
        if (at < 0) at = ABSENT;
        this.needleAt[m] = at;
      }
      if (at < best) best = at;
    }
    return best === ABSENT ? -1 : best;
  }

  /** A state kept more than the bound it promises: a bug. Drop everything rather than grow. */
  private invariantBroken(bytes: number): void {
    this.internalFailure(new Error(`HTTP/1 parser kept ${bytes} bytes in state ${this.state}`));
  }

  /**
   * The last-resort guard: an exception inside the parser (a bug, not bad input, which is handled
   * as a value) must not escape into the capture pipeline. Start over as after a gap.
   */
  private internalFailure(err: unknown): void {
    this.counters.internalErrors++;
    const message = err instanceof Error ? err.message : String(err);
    this.lastErr = { reason: 'internal', offset: this.counters.bytes, evidence: new TextEncoder().encode(message.slice(0, EVIDENCE_BYTES)) };
    this.pending.clear();
    this.cur = null;
    if (this.state !== ENDED && this.state !== OPAQUE) this.enterResync();
  }
}

// --- framing ------------------------------------------------------------------------------

interface Framing {
  /** Content-Length, -1 when absent. */
  length: number;
  /** The final transfer coding, lower-cased, or null without Transfer-Encoding. */
  transferCoding: string | null;
  upgrade: boolean;
  error: Http1ErrorReason | null;
}

function framingOf(fields: HeadFields): Framing {
  let length = -1;
  let te: string | null = null;
  let upgrade = false;
  let error: Http1ErrorReason | null = null;
  for (let k = 0, count = fields.length; k < count; k++) {
    if (fields.nameIs(k, 'content-length')) {
      const n = parseContentLength(fields.value(k));
      if (n < 0) error ??= 'bad-content-length';
      // RFC 9112 §6.3 ¶5: differing Content-Length values are an unrecoverable framing error.
      else if (length >= 0 && n !== length) error ??= 'conflicting-content-length';
      else length = n;
    } else if (fields.nameIs(k, 'transfer-encoding')) {
      te = fields.value(k); // repeated fields form one list (RFC 9110 §5.3): only the last coding matters
    } else if (fields.nameIs(k, 'upgrade')) {
      upgrade = true;
    }
  }
  const transferCoding = te === null ? null : finalCoding(te);
  // §6.3 ¶3: with Transfer-Encoding, Content-Length is ignored, valid or not.
  if (transferCoding !== null && (error === 'bad-content-length' || error === 'conflicting-content-length')) error = null;
  return { length, transferCoding, upgrade, error };
}

function finalCoding(list: string): string {
  const parts = list.split(',');
  for (let k = parts.length - 1; k >= 0; k--) {
    const coding = parts[k]!.split(';')[0]!.trim().toLowerCase();
    if (coding !== '') return coding;
  }
  return '';
}

/**
 * Content-Length = 1*DIGIT (RFC 9110 §8.6); a list of identical values ("42, 42") is accepted as
 * that value. Returns -1 when invalid, absurdly large, or a list of different values.
 */
function parseContentLength(v: string): number {
  let value = -1;
  let cur = -1;
  let trailingSpace = false;
  for (let i = 0; i <= v.length; i++) {
    const c = i < v.length ? v.charCodeAt(i) : 0x2c;
    if (c >= 0x30 && c <= 0x39) {
      if (trailingSpace) return -1; // "4 2"
      cur = cur < 0 ? c - 0x30 : cur * 10 + (c - 0x30);
      if (cur > MAX_BODY_LENGTH) return -1;
    } else if (c === 0x2c) {
      if (cur < 0 || (value >= 0 && value !== cur)) return -1;
      value = cur;
      cur = -1;
      trailingSpace = false;
    } else if (isOws(c)) {
      if (cur >= 0) trailingSpace = true;
    } else return -1;
  }
  return value;
}

const CHUNK_LINE_BAD = -1;
const CHUNK_LINE_MORE = -2;

/**
 * Checks `D[p..stop)`: the chunk-size line up to its LF when `complete`, else what has arrived of
 * it (so garbage fails on its first bytes). Returns the size, or CHUNK_LINE_BAD / CHUNK_LINE_MORE.
 * chunk-ext (RFC 9112 §7.1.1) is accepted as any visible bytes; it carries nothing we report.
 */
function chunkLine(D: Buffer, p: number, stop: number, complete: boolean): number {
  let i = p;
  let size = 0;
  for (; i < stop; i++) {
    const h = hexValue(D[i]!);
    if (h < 0) break;
    size = size * 16 + h;
    if (size > MAX_BODY_LENGTH) return CHUNK_LINE_BAD;
  }
  if (i === p) return i < stop || complete ? CHUNK_LINE_BAD : CHUNK_LINE_MORE;
  if (i < stop) {
    const b = D[i]!;
    if (b !== SP && b !== HTAB && b !== 0x3b && b !== CR) return CHUNK_LINE_BAD;
  }
  for (; i < stop; i++) {
    const b = D[i]!;
    if (b === CR) {
      if (i !== stop - 1) return CHUNK_LINE_BAD; // CR only right before the LF
    } else if ((b < SP && b !== HTAB) || b === DEL) return CHUNK_LINE_BAD;
  }
  if (!complete) return CHUNK_LINE_MORE;
  return D[stop - 1] === CR ? size : CHUNK_LINE_BAD;
}

function hexValue(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  const l = b | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}
