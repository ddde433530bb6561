// RESP framing for one direction of one Redis connection: bytes in, whole top-level values out.
//
// RESP2 and RESP3 (https://github.com/redis/redis-specifications/blob/master/protocol/RESP2.md,
// .../RESP3.md): a value is a type byte, a line ending in CRLF, and for bulk types a body of the
// announced length followed by CRLF; aggregates announce how many values follow. RESP3 adds null
// `_`, double `,`, boolean `#`, big number `(`, blob error `!`, verbatim string `=`, map `%`, set
// `~`, attribute `|` (metadata before a value, not a value), push `>` (out of band), and streamed
// strings (`$?` then `;<len>` chunks up to `;0`) and aggregates (`*?` … `.`).
//
// The reader is resumable and keeps no chunk: its state is a handful of numbers, a stack of at
// most MAX_DEPTH open aggregates, and up to MAX_PART bytes of the few elements a caller asks for.
// Bulk bodies are counted and stepped over, never stored. Bytes that cannot be RESP are a parse
// error: the reader marks the place (a LOST marker among its messages) and searches for a plausible
// message start at the start of a chunk or after a newline, and counts the resync.
//
// Requests are what clients send (RESP2 "Sending commands to a Redis server"): an array of bulk
// strings, or an inline command, a line of space-separated words ("PING\r\n"), which the server
// accepts from anything not starting with '*'. Inline commands are parsed here as redis-server
// splits them (sdssplitargs: "double" and 'single' quotes, a closing quote followed by a space).

export type RespSide = 'request' | 'response';

/** RespMessage.type of an inline command. */
export const INLINE = 0;
/**
 * RespMessage.type of a marker, in stream order among the messages: the reader lost its place here
 * (malformed bytes, a gap outside a bulk body). What came before it is whole; what it was reading
 * is gone, and how many messages went with it is unknown.
 */
export const LOST = -1;

export interface RespMessage {
  /** The type byte of the top-level value ('*' 0x2a, '+' 0x2b, …), INLINE, or LOST. */
  type: number;
  /**
   * Aggregates: elements announced (pairs for maps and attributes) or counted (streamed), -1 for a
   * RESP2 null array; bulk types: body length (-1 null); inline: words; otherwise 0.
   */
  length: number;
  /**
   * Top-level aggregates and inline commands: the first MAX_PART bytes (latin1) of element 0 and
   * of the elements the caller's `keep` policy asked for, when they are strings or integers.
   */
  parts: Array<string | undefined>;
  /** Simple strings, errors, blob errors at the top level: the first MAX_TEXT bytes. */
  text: string;
  /** Wall-clock ns of the syscalls that carried the first and the last byte. */
  startNs: bigint;
  endNs: bigint;
}

export interface RespReaderOptions {
  /**
   * May element `index` (≥ 1) of a top-level aggregate or inline command be kept, given the kept
   * elements before it (parts[0] is the first element as sent)? Default: never.
   */
  keep?: (index: number, parts: ReadonlyArray<string | undefined>) => boolean;
  /** Deepest aggregate nesting accepted. Default 64. */
  maxDepth?: number;
}

export interface RespReaderStats {
  /** Top-level values (and inline commands) emitted. */
  messages: number;
  /** Inline commands among them. */
  inline: number;
  /** RESP3 attributes skipped (metadata, not values). */
  attributes: number;
  /** Bytes that could not be RESP (each followed by a search for the next message). */
  parseErrors: number;
  /** Messages found by that search, after an error or a gap. */
  resyncs: number;
  /** Candidates the search tried that turned out not to be messages. */
  resyncMisses: number;
  /** Bytes fed. */
  bytes: number;
  /** Bytes reported missing. */
  gapBytes: number;
  /** Gaps inside a bulk body: stepped over, still in step. */
  gapsInStep: number;
  /** Bytes discarded while searching. */
  skippedBytes: number;
  /** Messages begun but dropped unfinished (gap, end of stream). */
  truncated: number;
  /** Exceptions caught by the last-resort guard (a bug if ever non-zero). */
  internalErrors: number;
}

export type RespErrorReason =
  | 'bad-type'
  | 'bad-line'
  | 'line-too-long'
  | 'bad-length'
  | 'length-too-large'
  | 'too-deep'
  | 'bad-terminator'
  | 'bad-command'
  | 'inline-too-long'
  | 'unbalanced-quotes'
  | 'internal';

/** The most recent parse error with the bytes that failed, for logs and tests. */
export interface RespParseError {
  reason: RespErrorReason;
  /** Stream offset (bytes fed before it) where it was detected. */
  offset: number;
  /** Up to 32 bytes from there. */
  evidence: Uint8Array;
}

/** Kept bytes of an element (a command name is at most 32; SELECT's index, HELLO's version, fewer). */
export const MAX_PART = 64;
/** Kept bytes of a top-level simple string or error message. */
export const MAX_TEXT = 128;
const DEFAULT_MAX_DEPTH = 64;
/** Longest simple string or error line (MONITOR lines quote whole commands). */
const MAX_TEXT_LINE = 4 * 1024 * 1024;
/** Longest number line: lengths, integers, doubles ("-1.7976931348623157e+308"). */
const MAX_NUMBER_LINE = 64;
/** Longest big number (RESP3 '('): arbitrary precision, but not a megabyte of digits. */
const MAX_BIG_NUMBER = 4096;
/** Most elements one aggregate may announce (Redis accepts at most INT_MAX arguments). */
const MAX_AGGREGATE = 2 ** 32 - 1;
/** Longest bulk body (Redis' proto-max-bulk-len is 512 MB by default and settable higher). */
const MAX_BULK = 2 ** 40;
/** redis-server's PROTO_INLINE_MAX_SIZE: longer inline requests are refused. */
const MAX_INLINE = 64 * 1024;
const EVIDENCE_BYTES = 32;

const CR = 0x0d;
const LF = 0x0a;

// Type bytes.
const T_ARRAY = 0x2a; // *
const T_SIMPLE = 0x2b; // +
const T_ERROR = 0x2d; // -
const T_INTEGER = 0x3a; // :
const T_BULK = 0x24; // $
const T_NULL = 0x5f; // _
const T_DOUBLE = 0x2c; // ,
const T_BOOLEAN = 0x23; // #
const T_BIG = 0x28; // (
const T_BLOB_ERROR = 0x21; // !
const T_VERBATIM = 0x3d; // =
const T_MAP = 0x25; // %
const T_SET = 0x7e; // ~
const T_ATTRIBUTE = 0x7c; // |
const T_PUSH = 0x3e; // >
const T_CHUNK = 0x3b; // ; streamed string part
const T_END = 0x2e; // . end of a streamed aggregate

/** Type bytes that may start a value. */
const VALUE_TYPES = new Uint8Array(256);
for (const c of '*+-:$_,#(!=%~|>') VALUE_TYPES[c.charCodeAt(0)] = 1;

// Reader states.
const S_START = 0; // a value's type byte (or an inline command at depth 0 of a request stream)
const S_LINE = 1; // the line after a type byte, up to CR
const S_LINE_LF = 2; // the LF after that CR
const S_BODY = 3; // a bulk body
const S_BODY_CR = 4;
const S_BODY_LF = 5;
const S_INLINE = 6; // an inline command, up to LF
const S_RESYNC = 7; // searching for a message start
const S_ENDED = 8;

// Inline tokenizer states (sdssplitargs).
const W_SPACE = 0;
const W_WORD = 1;
const W_DQ = 2;
const W_DQ_ESC = 3;
const W_SQ = 4;
const W_SQ_ESC = 5;
const W_AFTER_QUOTE = 6;

// Where the bytes of the scalar being read go.
const KEEP_NONE = 0;
const KEEP_PART = 1;
const KEEP_TEXT = 2;

const isDigit = (b: number): boolean => b >= 0x30 && b <= 0x39;
/** C isspace(), as sdssplitargs uses it. */
const isSpace = (b: number): boolean => b === 0x20 || (b >= 0x09 && b <= 0x0d);

const NEVER = (): boolean => false;

export class RespReader {
  readonly side: RespSide;
  private readonly keepPolicy: (index: number, parts: ReadonlyArray<string | undefined>) => boolean;
  private readonly maxDepth: number;

  private state = S_START;
  /** Type byte of the line or body being read. */
  private lineType = 0;
  private lineLen = 0;
  /** The number line's bytes (lengths, integers...), for parsing. */
  private readonly num = new Uint8Array(MAX_NUMBER_LINE);
  /** Body bytes still to read (S_BODY). */
  private remaining = 0;
  /** Inside a streamed string ($?): the next value must be a ';' part. */
  private streamedString = false;

  // Open aggregates, outermost first.
  private depth = 0;
  private readonly frameType: number[] = [];
  /** Values still to come; -1 for streamed aggregates (until '.'). */
  private readonly frameLeft: number[] = [];
  /** Values read so far (attributes not counted). */
  private readonly frameSeen: number[] = [];

  // The message being read.
  private inMessage = false;
  private msgType = 0;
  private msgLength = 0;
  private msgStartNs = 0n;
  private msgEndNs = 0n;
  private parts: Array<string | undefined> = [];
  private text = '';
  private keepMode = KEEP_NONE;
  private keepIndex = 0;
  private readonly keepBuf = new Uint8Array(Math.max(MAX_PART, MAX_TEXT));
  private keepLen = 0;
  /** Bytes the current scalar may still add to keepBuf (a gap stops it). */
  private keepCap = 0;

  // Inline command.
  private word = W_SPACE;
  private words = 0;
  private inlineLen = 0;

  /** A resync candidate is being tried: failure is a miss, success a resync. */
  private tentative = false;
  /** Searching: the next byte examined may start a message (it follows a LF, or a gap). */
  private candidateNext = false;
  private nowNs = 0n;
  /** Stream offset of byte 0 of the chunk being read. */
  private base = 0;
  private out: RespMessage[] = [];
  private readonly counters: RespReaderStats = {
    messages: 0, inline: 0, attributes: 0, parseErrors: 0, resyncs: 0, resyncMisses: 0, bytes: 0, gapBytes: 0, gapsInStep: 0, skippedBytes: 0, truncated: 0, internalErrors: 0,
  };
  private lastErr: RespParseError | null = null;

  constructor(side: RespSide, opts: RespReaderOptions = {}) {
    this.side = side;
    this.keepPolicy = opts.keep ?? NEVER;
    this.maxDepth = Math.max(1, Math.floor(opts.maxDepth ?? DEFAULT_MAX_DEPTH));
  }

  // --- public API ------------------------------------------------------------------------------

  /** Bytes of one syscall (or one captured piece of it), in stream order, at `timeNs`. */
  feed(chunk: Uint8Array, timeNs: bigint): void {
    if (chunk.length === 0) return;
    this.counters.bytes += chunk.length;
    this.nowNs = timeNs;
    try {
      this.run(chunk);
    } catch (err) {
      this.internalFailure(err, chunk);
    }
    this.base += chunk.length;
  }

  /**
   * `n` bytes of this direction were not captured, the last at `timeNs`. Inside a bulk body they
   * are body bytes and the reader stays in step (returns true); anywhere else it has lost its place
   * and searches for the next message (returns false).
   */
  skip(n: number, timeNs: bigint): boolean {
    if (!(n > 0)) return true;
    this.counters.gapBytes += n;
    this.base += n;
    try {
      if (this.state === S_ENDED) return true;
      if (this.state === S_BODY || this.state === S_BODY_CR || this.state === S_BODY_LF) {
        // Body bytes left, then the CR and the LF.
        const left = this.state === S_BODY ? this.remaining + 2 : this.state === S_BODY_CR ? 2 : 1;
        if (n <= left) {
          this.counters.gapsInStep++;
          this.msgEndNs = timeNs;
          this.nowNs = timeNs;
          if (this.state === S_BODY && n <= this.remaining) {
            this.remaining -= n;
            if (this.remaining === 0) this.state = S_BODY_CR;
            this.keepCap = this.keepLen; // what is kept stops before the gap
            return true;
          }
          const after = left - n; // 1: the LF is still to come; 0: the body is complete
          if (after === 1) {
            this.state = S_BODY_LF;
            return true;
          }
          this.bodyDone();
          return true;
        }
      }
      this.lostPlace();
      return false;
    } catch (err) {
      this.internalFailure(err, new Uint8Array(0));
      return false;
    }
  }

  /** Some bytes were lost, how many unknown: search for the next message. */
  reset(): void {
    if (this.state === S_ENDED) return;
    this.lostPlace();
  }

  /**
   * The caller knows from elsewhere that the next byte starts a message (a command was sent after
   * every reply byte seen so far): a search ends here, and what was half read is dropped.
   */
  restart(): void {
    if (this.state === S_ENDED) return;
    if (this.resyncing) this.counters.resyncs++;
    if (this.inMessage || this.state === S_INLINE) this.counters.truncated++;
    this.clearMessage();
    this.tentative = false;
    this.state = S_START;
  }

  /** End of stream: an unfinished message is dropped and counted. Later feeds are ignored. */
  finish(): void {
    if (this.state === S_ENDED) return;
    if (this.inMessage || this.state === S_INLINE) this.counters.truncated++;
    this.clearMessage();
    this.state = S_ENDED;
  }

  /** Messages finished since the last call, in stream order. */
  take(): RespMessage[] {
    const out = this.out;
    if (out.length > 0) this.out = [];
    return out;
  }

  /** Searching for a message after an error or a gap (a candidate is not in step until it completes). */
  get resyncing(): boolean {
    return this.state === S_RESYNC || this.tentative;
  }

  /** Between messages, and the last message was read in step: the next byte starts a message. */
  get inStep(): boolean {
    return this.state === S_START && !this.inMessage && !this.tentative;
  }

  /** Open aggregates right now (for tests: bounded by maxDepth). */
  get openAggregates(): number {
    return this.depth;
  }

  stats(): RespReaderStats {
    return { ...this.counters };
  }

  lastError(): RespParseError | null {
    return this.lastErr;
  }

  // --- the state machine -----------------------------------------------------------------------

  private run(b: Uint8Array): void {
    const len = b.length;
    let i = 0;
    while (i < len) {
      switch (this.state) {
        case S_START: {
          const c = b[i]!;
          if (!this.inMessage) {
            if (this.side === 'request' && c !== T_ARRAY) {
              this.startInline();
              break; // S_INLINE reads this byte
            }
            this.inMessage = true;
            this.msgStartNs = this.nowNs;
            this.msgType = 0;
          }
          if (!this.startValue(c)) {
            i = this.malformed(this.pendingReason, b, i);
            break;
          }
          i++;
          break;
        }
        case S_LINE: {
          // Lines are short (lengths, "+OK"): a loop beats a native call per line.
          let end = i;
          while (end < len && b[end] !== CR) end++;
          const cr = end < len ? end : -1;
          if (!this.lineBytes(b, i, end)) {
            i = this.malformed(this.pendingReason, b, i);
            break;
          }
          i = end;
          if (cr >= 0) {
            i++;
            this.state = S_LINE_LF;
          }
          break;
        }
        case S_LINE_LF:
          if (b[i] !== LF) {
            i = this.malformed('bad-terminator', b, i);
            break;
          }
          this.state = S_START;
          if (!this.lineDone()) {
            i = this.malformed(this.pendingReason, b, i);
            break;
          }
          i++;
          break;
        case S_BODY: {
          const n = Math.min(this.remaining, len - i);
          if (this.keepMode !== KEEP_NONE) this.keepBytes(b, i, i + n);
          this.remaining -= n;
          i += n;
          if (this.remaining === 0) this.state = S_BODY_CR;
          break;
        }
        case S_BODY_CR:
          if (b[i] !== CR) {
            i = this.malformed('bad-terminator', b, i);
            break;
          }
          i++;
          this.state = S_BODY_LF;
          break;
        case S_BODY_LF:
          if (b[i] !== LF) {
            i = this.malformed('bad-terminator', b, i);
            break;
          }
          i++;
          this.msgEndNs = this.nowNs;
          this.bodyDone();
          break;
        case S_INLINE:
          i = this.inlineBytes(b, i);
          break;
        case S_RESYNC: {
          const at = this.findCandidate(b, i);
          if (at < 0) {
            this.counters.skippedBytes += len - i;
            return;
          }
          this.counters.skippedBytes += at - i;
          i = at;
          this.tentative = true;
          this.state = S_START;
          break;
        }
        default: // S_ENDED
          return;
      }
    }
  }

  /** Type byte `c` read at depth `this.depth`. False when it cannot start a value here. */
  private startValue(c: number): boolean {
    if (this.streamedString) {
      if (c !== T_CHUNK) return this.fail('bad-type');
      return this.beginLine(c);
    }
    if (c === T_END) {
      // Only where a streamed aggregate expects its next value.
      if (this.depth === 0 || this.frameLeft[this.depth - 1] !== -1) return this.fail('bad-type');
      return this.beginLine(c);
    }
    if (VALUE_TYPES[c] !== 1) return this.fail('bad-type');
    if (this.side === 'request' && (this.depth > 1 || (this.depth === 1 && c !== T_BULK))) return this.fail('bad-command');
    if (this.depth === 0 && this.msgType === 0 && c !== T_ATTRIBUTE) this.msgType = c;
    // What to keep of a scalar: elements of a top-level aggregate by policy, top-level texts.
    this.keepMode = KEEP_NONE;
    if (this.depth === 1 && this.frameType[0] !== T_ATTRIBUTE && (c === T_BULK || c === T_SIMPLE || c === T_INTEGER)) {
      const index = this.frameSeen[0]!;
      if (index === 0 || (index < 8 && this.keepPolicy(index, this.parts))) {
        this.keepMode = KEEP_PART;
        this.keepIndex = index;
      }
    } else if (this.depth === 0 && (c === T_SIMPLE || c === T_ERROR || c === T_BLOB_ERROR)) {
      this.keepMode = KEEP_TEXT;
    }
    this.keepLen = 0;
    this.keepCap = this.keepMode === KEEP_TEXT ? MAX_TEXT : MAX_PART;
    return this.beginLine(c);
  }

  private beginLine(c: number): boolean {
    this.lineType = c;
    this.lineLen = 0;
    this.state = S_LINE;
    return true;
  }

  /** Bytes [from, to) of the current line (no CR among them). */
  private lineBytes(b: Uint8Array, from: number, to: number): boolean {
    const n = to - from;
    if (n === 0) return true;
    const t = this.lineType;
    if (t === T_SIMPLE || t === T_ERROR) {
      if (this.lineLen + n > MAX_TEXT_LINE) return this.fail('line-too-long');
      if (this.keepMode !== KEEP_NONE) this.keepBytes(b, from, to);
      // A bare LF inside a simple string would end the line for many readers: not RESP.
      for (let k = from; k < to; k++) if (b[k] === LF) return this.fail('bad-line');
      this.lineLen += n;
      return true;
    }
    if (t === T_BIG) {
      if (this.lineLen + n > MAX_BIG_NUMBER) return this.fail('line-too-long');
      for (let k = from; k < to; k++) {
        const d = b[k]!;
        if (!isDigit(d) && !((d === 0x2d || d === 0x2b) && this.lineLen + (k - from) === 0)) return this.fail('bad-line');
      }
      if (this.lineLen === 0) this.num[0] = b[from]!;
      this.lineLen += n;
      return true;
    }
    if (this.lineLen + n > MAX_NUMBER_LINE) return this.fail('line-too-long');
    for (let k = from, o = this.lineLen; k < to; k++, o++) this.num[o] = b[k]!;
    if (this.keepMode !== KEEP_NONE) this.keepBytes(b, from, to);
    this.lineLen += n;
    return true;
  }

  /** The line after a type byte ended (its CRLF read). */
  private lineDone(): boolean {
    const t = this.lineType;
    switch (t) {
      case T_SIMPLE:
      case T_ERROR:
      case T_BIG:
        // At least one digit after an optional sign.
        if (t === T_BIG && (this.lineLen === 0 || (this.lineLen === 1 && !isDigit(this.num[0]!)))) return this.fail('bad-line');
        return this.scalarDone();
      case T_INTEGER:
        if (this.parseInteger() === null) return this.fail('bad-line');
        return this.scalarDone();
      case T_DOUBLE:
        if (!this.validDouble()) return this.fail('bad-line');
        return this.scalarDone();
      case T_BOOLEAN:
        if (this.lineLen !== 1 || (this.num[0] !== 0x74 && this.num[0] !== 0x66)) return this.fail('bad-line');
        return this.scalarDone();
      case T_NULL:
        if (this.lineLen !== 0) return this.fail('bad-line');
        return this.scalarDone();
      case T_END:
        if (this.lineLen !== 0) return this.fail('bad-line');
        return this.aggregateDone();
      case T_CHUNK: {
        const n = this.parseLength();
        if (n === null || n < 0) return this.fail('bad-length');
        if (n > MAX_BULK) return this.fail('length-too-large');
        if (n === 0) {
          this.streamedString = false;
          return this.scalarDone();
        }
        if (this.depth === 0) this.msgLength += n;
        return this.beginBody(n);
      }
      case T_BULK:
      case T_BLOB_ERROR:
      case T_VERBATIM: {
        if (t === T_BULK && this.lineLen === 1 && this.num[0] === 0x3f) {
          // "$?": a streamed string, in ';' parts.
          if (this.side === 'request') return this.fail('bad-command');
          this.streamedString = true;
          this.keepMode = KEEP_NONE;
          if (this.depth === 0) this.msgLength = 0;
          return true;
        }
        const n = this.parseLength();
        if (n === null) return this.fail('bad-length');
        if (n === -1 && t === T_BULK) {
          if (this.side === 'request') return this.fail('bad-command');
          if (this.depth === 0) this.msgLength = -1;
          this.keepMode = KEEP_NONE;
          return this.scalarDone();
        }
        if (n < 0) return this.fail('bad-length');
        if (n > MAX_BULK) return this.fail('length-too-large');
        if (this.depth === 0) this.msgLength = n;
        this.keepLen = 0;
        return this.beginBody(n);
      }
      case T_ARRAY:
      case T_MAP:
      case T_SET:
      case T_PUSH:
      case T_ATTRIBUTE: {
        let n: number | null;
        if (this.lineLen === 1 && this.num[0] === 0x3f) {
          if (this.side === 'request' || t === T_ATTRIBUTE) return this.fail('bad-length');
          n = -1;
        } else {
          n = this.parseLength();
          if (n === null) return this.fail('bad-length');
          if (n < -1 || (n === -1 && t !== T_ARRAY)) return this.fail('bad-length');
          if (n > MAX_AGGREGATE) return this.fail('length-too-large');
          if (n === -1) {
            // RESP2 null array (as a request, no command: redis-server skips it).
            if (this.depth === 0 && this.side === 'request') {
              this.clearMessage();
              return true;
            }
            if (this.depth === 0) this.msgLength = -1;
            return this.scalarDone();
          }
        }
        if (this.depth === 0 && t !== T_ATTRIBUTE) this.msgLength = n;
        const values = n === -1 ? -1 : t === T_MAP || t === T_ATTRIBUTE ? n * 2 : n;
        if (values === 0) {
          // Empty: complete at once (an empty request array is no command: skipped).
          if (this.depth === 0 && t === T_ARRAY && this.side === 'request') {
            this.clearMessage();
            return true;
          }
          if (t === T_ATTRIBUTE) return this.attributeDone();
          return this.valueDone();
        }
        if (this.depth >= this.maxDepth) return this.fail('too-deep');
        this.frameType[this.depth] = t;
        this.frameLeft[this.depth] = values;
        this.frameSeen[this.depth] = 0;
        this.depth++;
        return true;
      }
      default:
        return this.fail('bad-type');
    }
  }

  private beginBody(n: number): boolean {
    this.remaining = n;
    this.state = n === 0 ? S_BODY_CR : S_BODY;
    return true;
  }

  /** A bulk body and its CRLF were read. */
  private bodyDone(): void {
    this.state = S_START;
    if (this.lineType === T_CHUNK) return; // a streamed string part: more parts follow
    this.scalarDone();
  }

  /** A scalar value ended (or a RESP2 null aggregate). */
  private scalarDone(): boolean {
    if (this.keepMode === KEEP_PART) {
      this.parts[this.keepIndex] = latin1(this.keepBuf, this.keepLen);
    } else if (this.keepMode === KEEP_TEXT) {
      this.text = latin1(this.keepBuf, this.keepLen);
    }
    this.keepMode = KEEP_NONE;
    this.msgEndNs = this.nowNs;
    return this.valueDone();
  }

  /** A streamed aggregate's '.' arrived. */
  private aggregateDone(): boolean {
    this.depth--;
    const t = this.frameType[this.depth]!;
    if (this.depth === 0 && t !== T_ATTRIBUTE) this.msgLength = this.frameSeen[0]!;
    this.msgEndNs = this.nowNs;
    return t === T_ATTRIBUTE ? this.attributeDone() : this.valueDone();
  }

  /** A value completed at the current depth: count it in its parent, maybe close it. */
  private valueDone(): boolean {
    this.msgEndNs = this.nowNs;
    for (;;) {
      if (this.depth === 0) {
        this.emit();
        return true;
      }
      const top = this.depth - 1;
      this.frameSeen[top]!++;
      const left = this.frameLeft[top]!;
      if (left === -1) return true; // streamed: until '.'
      if (left > 1) {
        this.frameLeft[top] = left - 1;
        return true;
      }
      // The aggregate is complete: it is itself a value of its parent.
      this.depth = top;
      const closed = this.frameType[top]!;
      if (closed === T_ATTRIBUTE) return this.attributeDone();
    }
  }

  /** An attribute ended: it was metadata for the value that follows, not a value itself. */
  private attributeDone(): boolean {
    this.counters.attributes++;
    this.msgEndNs = this.nowNs;
    // The parent still expects the value the attribute describes.
    return true;
  }

  private emit(): void {
    const m: RespMessage = {
      type: this.msgType,
      length: this.msgLength,
      parts: this.parts,
      text: this.text,
      startNs: this.msgStartNs,
      endNs: this.msgEndNs,
    };
    this.counters.messages++;
    if (this.tentative) {
      this.tentative = false;
      this.counters.resyncs++;
    }
    this.out.push(m);
    this.clearMessage();
  }

  private clearMessage(): void {
    this.inMessage = false;
    this.depth = 0;
    this.msgType = 0;
    this.msgLength = 0;
    this.parts = [];
    this.text = '';
    this.keepMode = KEEP_NONE;
    this.keepLen = 0;
    this.streamedString = false;
    this.word = W_SPACE;
    this.words = 0;
    this.inlineLen = 0;
    if (this.state !== S_ENDED && this.state !== S_RESYNC) this.state = S_START;
  }

  private keepBytes(b: Uint8Array, from: number, to: number): void {
    const n = Math.min(to - from, this.keepCap - this.keepLen);
    if (n <= 0) return;
    const buf = this.keepBuf;
    for (let k = 0, o = this.keepLen; k < n; k++, o++) buf[o] = b[from + k]!;
    this.keepLen += n;
  }

  // --- inline commands -------------------------------------------------------------------------

  private startInline(): void {
    this.state = S_INLINE;
    this.inMessage = true;
    this.msgStartNs = this.nowNs;
    this.word = W_SPACE;
    this.words = 0;
    this.inlineLen = 0;
    this.parts = [];
  }

  /** Reads inline bytes from `i`; returns where to go on (after an error: searching). */
  private inlineBytes(b: Uint8Array, i: number): number {
    const len = b.length;
    while (i < len) {
      const c = b[i]!;
      i++;
      if (++this.inlineLen > MAX_INLINE) return this.malformed('inline-too-long', b, i - 1);
      if (c === LF) {
        if (this.word !== W_SPACE && this.word !== W_WORD && this.word !== W_AFTER_QUOTE) return this.malformed('unbalanced-quotes', b, i - 1);
        this.endWord();
        this.msgEndNs = this.nowNs;
        if (this.words === 0) {
          // An empty line: redis-server runs nothing and answers nothing.
          this.clearMessage();
        } else {
          this.msgType = INLINE;
          this.msgLength = this.words;
          this.counters.inline++;
          this.state = S_START;
          this.emit();
        }
        return i;
      }
      switch (this.word) {
        case W_SPACE:
          if (isSpace(c)) break;
          this.words++;
          this.keepMode = this.words === 1 || (this.words <= 8 && this.keepPolicy(this.words - 1, this.parts)) ? KEEP_PART : KEEP_NONE;
          this.keepIndex = this.words - 1;
          this.keepLen = 0;
          this.keepCap = MAX_PART;
          if (c === 0x22) this.word = W_DQ;
          else if (c === 0x27) this.word = W_SQ;
          else {
            this.word = W_WORD;
            this.keepByte(c);
          }
          break;
        case W_WORD:
          if (isSpace(c)) this.endWord();
          else if (c === 0x22) this.word = W_DQ;
          else if (c === 0x27) this.word = W_SQ;
          else this.keepByte(c);
          break;
        case W_DQ:
          if (c === 0x5c) this.word = W_DQ_ESC;
          else if (c === 0x22) this.word = W_AFTER_QUOTE;
          else this.keepByte(c);
          break;
        case W_DQ_ESC:
          this.keepByte(c);
          this.word = W_DQ;
          break;
        case W_SQ:
          if (c === 0x5c) this.word = W_SQ_ESC;
          else if (c === 0x27) this.word = W_AFTER_QUOTE;
          else this.keepByte(c);
          break;
        case W_SQ_ESC:
          this.keepByte(c);
          this.word = W_SQ;
          break;
        default: // W_AFTER_QUOTE: a closing quote must be followed by a space
          if (!isSpace(c)) return this.malformed('unbalanced-quotes', b, i - 1);
          this.endWord();
      }
    }
    return i;
  }

  private keepByte(c: number): void {
    if (this.keepMode !== KEEP_NONE && this.keepLen < this.keepCap) this.keepBuf[this.keepLen++] = c;
  }

  private endWord(): void {
    if (this.word === W_SPACE) return;
    if (this.keepMode === KEEP_PART) this.parts[this.keepIndex] = latin1(this.keepBuf, this.keepLen);
    this.keepMode = KEEP_NONE;
    this.word = W_SPACE;
  }

  // --- numbers ---------------------------------------------------------------------------------

  /** The line as an integer (optional '-', 1-20 digits), or null. */
  private parseInteger(): number | null {
    const n = this.lineLen;
    if (n === 0 || n > 20) return null;
    let k = 0;
    let neg = false;
    if (this.num[0] === 0x2d || this.num[0] === 0x2b) {
      neg = this.num[0] === 0x2d;
      k = 1;
      if (n === 1) return null;
    }
    let v = 0;
    for (; k < n; k++) {
      const d = this.num[k]!;
      if (!isDigit(d)) return null;
      v = v * 10 + (d - 0x30);
    }
    return neg ? -v : v;
  }

  /** A length: digits or "-1" (the caller decides where -1 is allowed), or null. */
  private parseLength(): number | null {
    const n = this.lineLen;
    if (n === 2 && this.num[0] === 0x2d && this.num[1] === 0x31) return -1;
    if (n === 0 || n > 16) return null; // 16 digits: beyond any bound checked by callers
    let v = 0;
    for (let k = 0; k < n; k++) {
      const d = this.num[k]!;
      if (!isDigit(d)) return null;
      v = v * 10 + (d - 0x30);
    }
    return v;
  }

  /** RESP3 double: a decimal number with optional exponent, or inf / -inf / nan. */
  private validDouble(): boolean {
    const s = latin1(this.num, this.lineLen).toLowerCase();
    return /^[+-]?(?:inf|nan|(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?)$/.test(s);
  }

  // --- errors, resync --------------------------------------------------------------------------

  private pendingReason: RespErrorReason = 'bad-type';

  /** Records why the current value is malformed, for the caller's malformed(). */
  private fail(reason: RespErrorReason): false {
    this.pendingReason = reason;
    return false;
  }

  /**
   * Malformed input at b[at]: record it, drop the message, search for the next one from the byte
   * after. Returns that position.
   */
  private malformed(reason: RespErrorReason, b: Uint8Array, at: number): number {
    if (this.tentative) this.counters.resyncMisses++;
    else {
      this.counters.parseErrors++;
      this.lastErr = { reason, offset: this.base + at, evidence: Uint8Array.from(b.subarray(at, at + EVIDENCE_BYTES)) };
      this.markLost();
    }
    this.clearMessage();
    this.tentative = false;
    this.state = S_RESYNC;
    this.counters.skippedBytes++;
    this.candidateNext = b[at] === LF;
    return at + 1;
  }

  private lostPlace(): void {
    if (this.inMessage || this.state === S_INLINE) this.counters.truncated++;
    if (!this.resyncing) this.markLost();
    this.clearMessage();
    this.tentative = false;
    this.state = S_RESYNC;
    // What follows a gap starts a chunk: the likeliest place for a message to start.
    this.candidateNext = true;
  }

  /**
   * Where a message may start in b[from..]: the first byte of a chunk (syscalls, or the kernel's
   * pieces of one), or right after a LF; for a response, any type byte, for a request '*' and a
   * digit. A candidate inside bulk bytes that look like RESP may be taken: the caller treats what
   * comes before its next quiet point as unpaired. -1 if nowhere.
   */
  private findCandidate(b: Uint8Array, from: number): number {
    const len = b.length;
    const ok = this.side === 'response'
      ? (k: number): boolean => VALUE_TYPES[b[k]!] === 1
      : (k: number): boolean => b[k] === T_ARRAY && (k + 1 >= len || (b[k + 1]! >= 0x31 && b[k + 1]! <= 0x39));
    if (from < len && this.candidateNext && ok(from)) return from;
    let k = from;
    for (;;) {
      const lf = b.indexOf(LF, k);
      if (lf < 0) break;
      if (lf + 1 < len && ok(lf + 1)) return lf + 1;
      k = lf + 1;
    }
    // The next chunk's first byte is a candidate when this one ended a line.
    this.candidateNext = len > 0 && b[len - 1] === LF;
    return -1;
  }

  private markLost(): void {
    this.out.push({ type: LOST, length: 0, parts: [], text: '', startNs: this.nowNs, endNs: this.nowNs });
  }

  private internalFailure(err: unknown, chunk: Uint8Array): void {
    void err;
    this.counters.internalErrors++;
    if (!this.resyncing) this.markLost();
    this.lastErr = { reason: 'internal', offset: this.base, evidence: Uint8Array.from(chunk.subarray(0, EVIDENCE_BYTES)) };
    this.clearMessage();
    this.tentative = false;
    if (this.state !== S_ENDED) this.state = S_RESYNC;
  }
}

function latin1(b: Uint8Array, n: number): string {
  let s = '';
  for (let k = 0; k < n; k++) s += String.fromCharCode(b[k]!);
  return s;
}
