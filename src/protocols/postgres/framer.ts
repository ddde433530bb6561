// Cuts one direction of a PostgreSQL connection into whole messages, the middle layer of
// pg-protocol's design (cursor reader → framer → one parser per message), made for captures:
//
// - resumable: a header or body split across chunks is kept until its end arrives; bodies are
//   copied only up to what the caller wants of that message type (`capture`), the rest counted, so
//   a 1 GB CopyData or DataRow costs its length, not its bytes;
// - both framings of the protocol: untyped startup-phase packets (Int32 length, Int32 code) on the
//   request side until a StartupMessage, then typed ones (Byte1 type, Int32 length);
//   the one-byte answer to SSLRequest/GSSENCRequest on the response side ('S' or 'G': what follows
//   is encrypted and only counted; 'N': plaintext continues) — protocol-flow.html §"SSL Session
//   Encryption" and §"GSSAPI Session Encryption";
// - gaps: bytes not captured inside a body keep the framer in step (the body is just cut short);
//   anything else loses the message boundary, and the framer searches for the next plausible one
//   (a valid type with a plausible length, chained to the next header or to the end of the data),
//   holding a bounded window of bytes while it does. Nothing here throws.
import { MAX_STARTUP_LENGTH, STARTUP_CODE, isTransactionStatus, plausibleHeader } from './messages.js';
import { int32At } from './reader.js';

/** `type` of an untyped startup-phase packet (StartupMessage, SSLRequest, GSSENCRequest, CancelRequest). */
export const STARTUP_FRAME = -1;
/** `type` of the server's one-byte answer to SSLRequest or GSSENCRequest; the byte is the body. */
export const ENCRYPTION_ANSWER = -2;

export interface PgFrame {
  /** Message code byte, STARTUP_FRAME or ENCRYPTION_ANSWER. */
  type: number;
  /** Body length the length field declared (the field's own 4 bytes excluded). */
  length: number;
  /** The first bytes of the body, as many as `capture` asked for and the capture held. */
  body: Uint8Array;
  /** Time of the chunk that carried the first / last byte of the message. */
  startNs: bigint;
  endNs: bigint;
}

export type FramerMode = 'startup' | 'typed' | 'opaque';

export interface PgFramerOptions {
  side: 'request' | 'response';
  /** Body bytes worth copying for a message of this type; 0: count it only. */
  capture(type: number): number;
  /** Start in typed mode (a request stream that did not begin with a startup packet). */
  typed?: boolean;
  /** Bytes held while searching for a message boundary. Default 64 KiB. */
  maxResyncBytes?: number;
}

export interface PgFramerStats {
  messages: number;
  /** Bytes fed, captured or not. */
  bytes: number;
  /** Body bytes counted but not copied (beyond the capture, or inside a gap in step). */
  uncopied: number;
  gaps: number;
  gapBytes: number;
  /** Boundaries found again after losing them. */
  resyncs: number;
  /** Bytes thrown away while searching for a boundary. */
  discarded: number;
  /** Headers that could not start a message (the framer lost its place on them). */
  malformed: number;
  /** Bytes after the switch to TLS or GSSAPI encryption. */
  encrypted: number;
}

const EMPTY = new Uint8Array(0);
const DEFAULT_MAX_RESYNC = 64 * 1024;
const ACCEPT = 0;
const REJECT = 1;
const NEED_MORE = 2;

export class PgFramer {
  readonly side: 'request' | 'response';
  #mode: FramerMode;
  readonly #capture: (type: number) => number;
  readonly #maxResync: number;
  /** The response side expects the one-byte answer to an encryption request. */
  #expectAnswer = false;

  // Header in progress (5 bytes typed, 4 bytes startup).
  readonly #hdr = new Uint8Array(5);
  #hdrLen = 0;
  #hdrStartNs = 0n;

  // Body in progress.
  #inBody = false;
  #type = 0;
  #length = 0;
  #remaining = 0;
  #body: Uint8Array = EMPTY;
  #captured = 0;
  #cap = 0;
  #startNs = 0n;

  // Searching for a boundary.
  #lost = false;
  #rbuf: Uint8Array = EMPTY;
  #rlen = 0;

  #frames: PgFrame[] = [];
  readonly #s: PgFramerStats = { messages: 0, bytes: 0, uncopied: 0, gaps: 0, gapBytes: 0, resyncs: 0, discarded: 0, malformed: 0, encrypted: 0 };

  constructor(opts: PgFramerOptions) {
    this.side = opts.side;
    this.#capture = opts.capture;
    this.#maxResync = Math.max(64, opts.maxResyncBytes ?? DEFAULT_MAX_RESYNC);
    this.#mode = opts.side === 'request' && opts.typed !== true ? 'startup' : 'typed';
  }

  get mode(): FramerMode {
    return this.#mode;
  }

  /** Searching for a message boundary after lost bytes. */
  get lost(): boolean {
    return this.#lost;
  }

  /** Before any byte: the request stream starts with typed messages (joined after its startup). */
  assumeTyped(): void {
    if (this.#mode === 'startup' && this.#s.bytes === 0) this.#mode = 'typed';
  }

  /** The next response byte answers an SSLRequest or GSSENCRequest. */
  expectEncryptionAnswer(): void {
    if (this.#mode === 'typed' && !this.#inBody && this.#hdrLen === 0 && !this.#lost) this.#expectAnswer = true;
  }

  /** Everything from here on is encrypted: counted, never parsed. */
  enterOpaque(): void {
    this.#mode = 'opaque';
    this.#inBody = false;
    this.#hdrLen = 0;
    this.#lost = false;
    this.#rlen = 0;
    this.#rbuf = EMPTY;
  }

  /** The bytes of one syscall, in stream order. */
  feed(chunk: Uint8Array, timeNs: bigint): void {
    this.#s.bytes += chunk.length;
    // In step, #run parses until it loses its place and hands back the bytes to search; the
    // search hands back the bytes from a boundary it found. A loop, not mutual recursion: garbage
    // can make them alternate many times in one chunk.
    let pending: Uint8Array | null = chunk;
    while (pending !== null && pending.length > 0) {
      if (this.#lost) pending = this.#search(pending);
      if (pending !== null) pending = this.#run(pending, timeNs);
    }
  }

  /**
   * `n` bytes were not captured. True when the framer stays in step (they fell inside one body);
   * false when message boundaries were lost and the framer is searching for the next one.
   */
  skip(n: number, timeNs: bigint): boolean {
    if (n <= 0) return true;
    this.#s.gaps++;
    this.#s.gapBytes += n;
    this.#s.bytes += n;
    if (this.#mode === 'opaque') {
      this.#s.encrypted += n;
      return true;
    }
    if (this.#lost) {
      // What was held cannot chain across the hole: start the search again after it.
      this.#s.discarded += this.#rlen;
      this.#rlen = 0;
      return false;
    }
    if (this.#inBody) {
      // Bytes after the hole would land at the wrong place in the body: stop copying.
      this.#cap = this.#captured;
      const inside = Math.min(n, this.#remaining);
      this.#remaining -= inside;
      this.#s.uncopied += inside;
      if (this.#remaining === 0) this.#emit(timeNs);
      if (inside === n) return true;
    }
    this.#lose();
    return false;
  }

  /** Messages completed since the last take. */
  take(): PgFrame[] {
    const out = this.#frames;
    if (out.length === 0) return [];
    this.#frames = [];
    return out;
  }

  stats(): PgFramerStats {
    return { ...this.#s };
  }

  /** Bytes held by this framer (header, body copy, search window): for memory-bound tests. */
  get heldBytes(): number {
    return this.#body.length + this.#rbuf.length + this.#hdr.length;
  }

  /** Parses in step; returns the bytes to search when it lost its place, else null. */
  #run(chunk: Uint8Array, timeNs: bigint): Uint8Array | null {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      if (this.#mode === 'opaque') {
        this.#s.encrypted += n - i;
        return null;
      }
      if (this.#inBody) {
        const k = Math.min(this.#remaining, n - i);
        const keep = Math.min(k, this.#cap - this.#captured);
        if (keep > 0) {
          this.#body.set(chunk.subarray(i, i + keep), this.#captured);
          this.#captured += keep;
        }
        this.#s.uncopied += k - keep;
        this.#remaining -= k;
        i += k;
        if (this.#remaining === 0) this.#emit(timeNs);
        continue;
      }
      if (this.#expectAnswer) {
        this.#expectAnswer = false;
        const b = chunk[i]!;
        // A server that cannot encrypt may answer with an ErrorResponse instead: typed as usual.
        if (b === 0x45) continue;
        if (b !== 0x53 && b !== 0x4e && b !== 0x47) {
          this.#s.malformed++;
          this.#lose();
          return chunk.subarray(i);
        }
        i++;
        this.#s.messages++;
        this.#frames.push({ type: ENCRYPTION_ANSWER, length: 0, body: Uint8Array.of(b), startNs: timeNs, endNs: timeNs });
        if (b !== 0x4e) this.enterOpaque();
        continue;
      }
      const need = this.#mode === 'startup' ? 4 : 5;
      if (this.#hdrLen === 0) this.#hdrStartNs = timeNs;
      const k = Math.min(need - this.#hdrLen, n - i);
      this.#hdr.set(chunk.subarray(i, i + k), this.#hdrLen);
      this.#hdrLen += k;
      i += k;
      if (this.#hdrLen < need) return null;
      const startup = this.#mode === 'startup';
      const type = startup ? STARTUP_FRAME : this.#hdr[0]!;
      const lengthField = int32At(this.#hdr, startup ? 0 : 1);
      const valid = startup ? lengthField >= 8 && lengthField <= MAX_STARTUP_LENGTH : plausibleHeader(this.side, type, lengthField);
      if (!valid) {
        // Not a message start: search from this header's first byte (a request stream found
        // mid-life starts with typed messages, which the search accepts at offset 0).
        this.#s.malformed++;
        const rest = new Uint8Array(this.#hdrLen + n - i);
        rest.set(this.#hdr.subarray(0, this.#hdrLen));
        rest.set(chunk.subarray(i), this.#hdrLen);
        this.#lose();
        return rest;
      }
      this.#hdrLen = 0;
      this.#begin(type, lengthField - 4, this.#hdrStartNs);
      if (this.#remaining === 0) this.#emit(timeNs);
    }
    return null;
  }

  #begin(type: number, length: number, startNs: bigint): void {
    this.#inBody = true;
    this.#type = type;
    this.#length = length;
    this.#remaining = length;
    // A startup packet's code is needed to know what framing follows.
    const want = type === STARTUP_FRAME ? Math.max(4, this.#capture(type)) : this.#capture(type);
    this.#cap = Math.max(0, Math.min(want, length));
    this.#body = this.#cap > 0 ? new Uint8Array(this.#cap) : EMPTY;
    this.#captured = 0;
    this.#startNs = startNs;
  }

  #emit(timeNs: bigint): void {
    const body = this.#captured === this.#body.length ? this.#body : this.#body.subarray(0, this.#captured);
    this.#inBody = false;
    this.#body = EMPTY;
    this.#s.messages++;
    this.#frames.push({ type: this.#type, length: this.#length, body, startNs: this.#startNs, endNs: timeNs });
    if (this.#type === STARTUP_FRAME && body.length >= 4) {
      // protocol-flow.html §"Start-up": after SSLRequest/GSSENCRequest answered 'N' the client
      // sends a StartupMessage; after a StartupMessage every message is typed.
      const c = int32At(body, 0);
      if (c !== STARTUP_CODE.SSL_REQUEST && c !== STARTUP_CODE.GSSENC_REQUEST && c !== STARTUP_CODE.CANCEL_REQUEST) this.#mode = 'typed';
    }
  }

  #lose(): void {
    this.#lost = true;
    this.#inBody = false;
    this.#body = EMPTY;
    this.#hdrLen = 0;
    this.#expectAnswer = false;
    // Whatever framing was expected, a resumed stream is made of typed messages.
    if (this.#mode === 'startup') this.#mode = 'typed';
  }

  /**
   * Adds bytes to the search window and looks for a message boundary in it: returns the bytes
   * from the boundary on (the framer is in step again), or null while still searching.
   */
  #search(chunk: Uint8Array): Uint8Array | null {
    let src = chunk;
    if (src.length > this.#maxResync) {
      // Only the last window can matter.
      this.#s.discarded += this.#rlen + src.length - this.#maxResync;
      this.#rlen = 0;
      src = src.subarray(src.length - this.#maxResync);
    } else if (this.#rlen + src.length > this.#maxResync) {
      const drop = this.#rlen + src.length - this.#maxResync;
      this.#rbuf.copyWithin(0, drop, this.#rlen);
      this.#rlen -= drop;
      this.#s.discarded += drop;
    }
    if (this.#rbuf.length < this.#rlen + src.length) {
      const grown = new Uint8Array(Math.min(this.#maxResync, Math.max(this.#rlen + src.length, this.#rbuf.length * 2, 256)));
      grown.set(this.#rbuf.subarray(0, this.#rlen));
      this.#rbuf = grown;
    }
    this.#rbuf.set(src, this.#rlen);
    this.#rlen += src.length;

    const buf = this.#rbuf;
    const len = this.#rlen;
    const full = len >= this.#maxResync;
    for (let p = 0; p + 5 <= len; p++) {
      const v = this.#candidate(buf, p, len, full);
      if (v === REJECT) continue;
      this.#s.discarded += p;
      if (v === NEED_MORE) {
        buf.copyWithin(0, p, len);
        this.#rlen = len - p;
        return null;
      }
      this.#s.resyncs++;
      this.#lost = false;
      const rest = buf.slice(p, len);
      this.#rlen = 0;
      return rest;
    }
    // No start among them; a header may begin in the last four bytes.
    const keep = Math.min(4, len);
    this.#s.discarded += len - keep;
    buf.copyWithin(0, len - keep, len);
    this.#rlen = keep;
    return null;
  }

  /**
   * Could a message start at `p`? Walks the chain of headers from there: every one must be
   * plausible, and the chain must end exactly at the end of the data, or hold two messages.
   */
  #candidate(buf: Uint8Array, p: number, len: number, full: boolean): number {
    let q = p;
    let count = 0;
    while (q + 5 <= len) {
      const type = buf[q]!;
      const lengthField = int32At(buf, q + 1);
      if (!plausibleHeader(this.side, type, lengthField)) return REJECT;
      if (this.side === 'response' && type === 0x5a && q + 5 < len && !isTransactionStatus(buf[q + 5]!)) return REJECT;
      count++;
      q += 1 + lengthField;
    }
    if (q === len || count >= 2) return ACCEPT;
    return full ? REJECT : NEED_MORE;
  }
}
