// HTTP/2 framing for one direction of one connection (RFC 9113 §4): bytes in, frames out.
//
// Resumable: a frame may be split at any byte and many may share one chunk. DATA payloads are never
// copied: their bytes are handed on as views of the chunk, padding stripped (§6.1). Other frames
// are collected whole, within bounds: header block fragments up to `maxHeaderBlock`, SETTINGS up to
// a few hundred bytes, GOAWAY's first 8 bytes (its debug data is skipped); a larger frame is skipped
// and reported lost. Unknown frame types are skipped (§5.5).
//
// Gaps: the kernel captures at most 16 KiB per syscall, so a large DATA frame often has a hole of
// known size. Inside a frame whose length is known the framer stays in step: DATA loses only those
// bytes (counted), any other frame is reported lost. A gap anywhere else — between frames, inside a
// frame header, or longer than the rest of the frame — loses the place in the stream. So does a
// header that breaks the rules every peer enforces (a PING that is not 8 bytes, a frame larger
// than the receiver's SETTINGS_MAX_FRAME_SIZE...). The framer then searches for the next place
// where a plausible frame header is followed by another, or by the end of the bytes at hand (a
// syscall boundary): peers write frames whole far more often than not. The first bytes of a
// connection, and the first after a gap, are taken as a frame start when they look like one.
import {
  CONTINUATION, DATA, DEFAULT_MAX_FRAME_SIZE, FRAME_HEADER_LENGTH, type FrameHeader, GOAWAY, HEADERS, MAX_FRAME_SIZE_LIMIT,
  PADDED, PREFACE, PUSH_PROMISE, SETTINGS, plausibleHeader, readHeader, validHeader,
} from './frames.js';

export interface FramerSink {
  /**
   * A complete frame other than DATA. `payload` (GOAWAY: its first 8 bytes) is valid during the
   * call only: it may view the caller's chunk. null when bytes of it were not captured or it
   * exceeded the bounds.
   */
  onFrame(h: FrameHeader, payload: Buffer | null, endNs: bigint): void;
  /** A DATA frame's data bytes (padding excluded), a view valid during the call only. */
  onData(h: FrameHeader, bytes: Buffer, from: number, to: number, timeNs: bigint): void;
  /** Data bytes of a DATA frame that were not captured (padding, if any, is counted as data). */
  onDataGap(h: FrameHeader, n: number, timeNs: bigint): void;
  /** The DATA frame is complete (END_STREAM is in h.flags). */
  onDataEnd(h: FrameHeader, endNs: bigint): void;
  /** The framer lost its place: frames between here and the next one found are not reported. */
  onSyncLost(reason: SyncLossReason): void;
  /** The request side began with the client preface (true) or not: the capture began mid-stream. */
  onStart?(preface: boolean): void;
}

export type SyncLossReason = 'gap' | 'bad-header' | 'bad-padding' | 'internal';

export interface FramerOptions {
  /** This is the client's direction: it begins with the connection preface (§3.4). */
  expectPreface: boolean;
  /** Header block fragment bytes kept per HEADERS/PUSH_PROMISE/CONTINUATION frame. Default 64 KiB. */
  maxHeaderBlock?: number;
  /** Bytes searched at most for a frame start before older ones are given up. Default 64 KiB. */
  resyncWindow?: number;
}

export interface FramerStats {
  frames: number;
  bytes: number;
  /** Bytes reported missing. */
  gapBytes: number;
  /** Frames skipped because a gap took some of their bytes (DATA excepted). */
  lostFrames: number;
  /** Frames skipped because they exceeded the framer's bounds. */
  oversizedFrames: number;
  /** Frames of unknown types (ignored, §5.5). */
  unknownFrames: number;
  /** Headers that broke the protocol's rules (each followed by a search). */
  parseErrors: number;
  /** Times the framer lost its place. */
  syncLosses: number;
  /** Frame starts found by searching after the place was lost. */
  resyncs: number;
  /** Bytes discarded while searching. */
  skippedBytes: number;
  /** Exceptions caught by the last-resort guard (a bug if ever non-zero). */
  internalErrors: number;
}

/** Why the framer last lost its place, with the bytes that failed, for logs and tests. */
export interface FramerError {
  reason: SyncLossReason;
  /** Bytes fed before the evidence. */
  offset: number;
  evidence: Uint8Array;
}

const DEFAULT_MAX_HEADER_BLOCK = 64 * 1024;
const DEFAULT_RESYNC_WINDOW = 64 * 1024;
/** SETTINGS frames carry a handful of 6-byte entries; more than this is not a real one. */
const MAX_SETTINGS_PAYLOAD = 6 * 64;
/** GOAWAY: last-stream-id and error code; the debug data after them is skipped. */
const GOAWAY_KEPT = 8;
/** While no stream id is known, a frame found by searching must name a stream below this. */
const FIRST_STREAM_BOUND = 2 ** 20;
/** Beyond the highest stream id seen, how far a searched-for frame's stream id may be. */
const STREAM_ID_SLACK = 10_000;
const EVIDENCE_BYTES = 32;

// States.
const PREFACE_STATE = 0;
const HEADER = 1;
const DATA_PADLEN = 2;
const DATA_BODY = 3;
const DATA_PADDING = 4;
const PAYLOAD = 5;
const SKIP = 6;
const RESYNC = 7;

const EMPTY = Buffer.alloc(0);

export class Http2Framer {
  private state: number;
  private readonly maxHeaderBlock: number;
  private readonly window: number;
  /** The receiver's SETTINGS_MAX_FRAME_SIZE when announced; the protocol's limit until then. */
  private maxFrameSize = MAX_FRAME_SIZE_LIMIT;
  private prefaceMatched = 0;
  private readonly hdr = Buffer.alloc(FRAME_HEADER_LENGTH);
  private hdrFill = 0;
  private hdrStartNs = 0n;
  private cur: FrameHeader | null = null;
  /** Payload bytes of the current frame still to come. */
  private remaining = 0;
  /** DATA: data bytes still to come (the rest of `remaining` is padding). */
  private dataLeft = 0;
  private payload: Buffer = EMPTY;
  private payloadFill = 0;
  /** Bytes of the payload kept (the rest is skipped: GOAWAY debug data). */
  private keep = 0;
  /** SKIP: report the frame as lost when its end is reached. */
  private skipReports = false;
  /** RESYNC: bytes under search. */
  private rbuf: Buffer = EMPTY;
  private rfill = 0;
  /** RESYNC: the first byte of rbuf is a syscall start (the connection's, or the first after a gap). */
  private anchored = false;
  private maxStreamSeen = 0;
  private readonly counters: FramerStats = {
    frames: 0, bytes: 0, gapBytes: 0, lostFrames: 0, oversizedFrames: 0, unknownFrames: 0, parseErrors: 0, syncLosses: 0, resyncs: 0,
    skippedBytes: 0, internalErrors: 0,
  };
  private lastErr: FramerError | null = null;

  constructor(private readonly sink: FramerSink, opts: FramerOptions) {
    this.maxHeaderBlock = Math.max(256, Math.floor(opts.maxHeaderBlock ?? DEFAULT_MAX_HEADER_BLOCK));
    this.window = Math.max(1024, Math.floor(opts.resyncWindow ?? DEFAULT_RESYNC_WINDOW));
    if (opts.expectPreface) this.state = PREFACE_STATE;
    else {
      // The server's first frame (SETTINGS, §3.4) is checked like any frame found by searching.
      this.state = RESYNC;
      this.anchored = true;
    }
  }

  /** The receiving side announced SETTINGS_MAX_FRAME_SIZE (§6.5.2). */
  setMaxFrameSize(n: number): void {
    if (n >= DEFAULT_MAX_FRAME_SIZE && n <= MAX_FRAME_SIZE_LIMIT) this.maxFrameSize = n;
  }

  /** Bytes this framer holds between feeds (search window, frame payload, header). */
  bufferedBytes(): number {
    return this.rbuf.length + this.payload.length + this.hdr.length;
  }

  stats(): FramerStats {
    return { ...this.counters };
  }

  lastError(): FramerError | null {
    return this.lastErr;
  }

  /** Bytes of one syscall, in stream order. */
  feed(chunk: Uint8Array, timeNs: bigint): void {
    if (chunk.length === 0) return;
    this.counters.bytes += chunk.length;
    let buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let p = 0;
    try {
      while (p < buf.length) {
        switch (this.state) {
          case PREFACE_STATE: {
            const matched = this.prefaceMatched;
            const n = Math.min(PREFACE.length - matched, buf.length - p);
            let k = 0;
            while (k < n && buf[p + k] === PREFACE[matched + k]) k++;
            if (k < n) {
              // Not the preface: the capture began mid-stream. Search from the first byte.
              this.sink.onStart?.(false);
              buf = Buffer.concat([PREFACE.subarray(0, matched), buf.subarray(p)]);
              p = 0;
              this.prefaceMatched = 0;
              this.state = RESYNC;
              this.anchored = true;
              break;
            }
            p += n;
            this.prefaceMatched += n;
            if (this.prefaceMatched === PREFACE.length) {
              this.sink.onStart?.(true);
              this.state = HEADER;
            }
            break;
          }
          case HEADER:
            p = this.header(buf, p, timeNs);
            break;
          case DATA_PADLEN: {
            const pad = buf[p]!;
            p++;
            this.remaining--;
            if (pad > this.remaining) {
              // §6.1: padding longer than the payload is a PROTOCOL_ERROR. The frame's end is still
              // known: its bytes are given up, END_STREAM still counts.
              this.error('bad-padding', buf, p - 1, false);
              this.dataLeft = 0;
            } else this.dataLeft = this.remaining - pad;
            this.state = DATA_BODY;
            if (this.remaining === 0) this.endData(timeNs);
            break;
          }
          case DATA_BODY: {
            const n = Math.min(this.dataLeft, buf.length - p);
            if (n > 0) this.sink.onData(this.cur!, buf, p, p + n, timeNs);
            p += n;
            this.dataLeft -= n;
            this.remaining -= n;
            if (this.dataLeft === 0) {
              if (this.remaining === 0) this.endData(timeNs);
              else this.state = DATA_PADDING;
            }
            break;
          }
          case DATA_PADDING: {
            const n = Math.min(this.remaining, buf.length - p);
            p += n;
            this.remaining -= n;
            if (this.remaining === 0) this.endData(timeNs);
            break;
          }
          case PAYLOAD: {
            const want = this.keep - this.payloadFill;
            const n = Math.min(want, buf.length - p);
            buf.copy(this.payload, this.payloadFill, p, p + n);
            this.payloadFill += n;
            p += n;
            this.remaining -= n;
            if (this.payloadFill === this.keep) {
              if (this.remaining === 0) this.endPayload(timeNs);
              else {
                this.state = SKIP; // GOAWAY debug data
                this.skipReports = false;
              }
            }
            break;
          }
          case SKIP: {
            const n = Math.min(this.remaining, buf.length - p);
            p += n;
            this.remaining -= n;
            if (this.remaining === 0) this.endSkip(timeNs);
            break;
          }
          case RESYNC: {
            if (this.anchored && this.rfill === 0 && buf.length - p >= FRAME_HEADER_LENGTH && this.plausibleAt(buf, p)) {
              // The usual case at a connection's start and after a gap: a frame right there.
              this.found(0);
              this.state = HEADER;
              this.hdrFill = 0;
              break;
            }
            const n = Math.min(buf.length - p, this.window - this.rfill);
            if (this.rbuf.length < this.rfill + n) {
              const grown = Buffer.allocUnsafe(Math.min(this.window, Math.max(this.rfill + n, this.rbuf.length * 2, 4096)));
              this.rbuf.copy(grown, 0, 0, this.rfill);
              this.rbuf = grown;
            }
            buf.copy(this.rbuf, this.rfill, p, p + n);
            this.rfill += n;
            p += n;
            const found = this.search(p === buf.length);
            if (found >= 0) {
              // Found: the bytes from there on (and what the chunk still holds) are frames again.
              const rest = Buffer.concat([this.rbuf.subarray(found, this.rfill), buf.subarray(p)]);
              this.rfill = 0;
              this.rbuf = EMPTY;
              this.state = HEADER;
              this.hdrFill = 0;
              buf = rest;
              p = 0;
            }
            break;
          }
          default:
            throw new Error(`HTTP/2 framer in unknown state ${this.state}`);
        }
      }
    } catch (err) {
      this.internalFailure(err);
    }
  }

  /**
   * `n` bytes of this direction were not captured, the last at `timeNs`. Returns true when the
   * framer stayed in step (the gap lay inside a frame of known length).
   */
  skip(n: number, timeNs: bigint): boolean {
    if (!(n > 0)) return true;
    this.counters.gapBytes += n;
    try {
      switch (this.state) {
        case DATA_PADLEN:
          if (n > this.remaining) break;
          // The pad length was lost: the rest is taken as data.
          this.remaining -= n;
          this.dataLeft = this.remaining;
          this.sink.onDataGap(this.cur!, n, timeNs);
          this.state = DATA_BODY;
          if (this.remaining === 0) this.endData(timeNs);
          return true;
        case DATA_BODY:
        case DATA_PADDING: {
          if (n > this.remaining) break;
          const data = Math.min(n, this.dataLeft);
          if (data > 0) this.sink.onDataGap(this.cur!, data, timeNs);
          this.dataLeft -= data;
          this.remaining -= n;
          if (this.dataLeft === 0) this.state = DATA_PADDING;
          if (this.remaining === 0) this.endData(timeNs);
          return true;
        }
        case PAYLOAD:
          if (n > this.remaining) break;
          this.remaining -= n;
          this.payload = EMPTY;
          this.state = SKIP;
          this.skipReports = true;
          this.counters.lostFrames++;
          if (this.remaining === 0) this.endSkip(timeNs);
          return true;
        case SKIP:
          if (n > this.remaining) break;
          this.remaining -= n;
          if (this.remaining === 0) this.endSkip(timeNs);
          return true;
        default:
      }
      this.loseSync('gap', null, 0);
      return false;
    } catch (err) {
      this.internalFailure(err);
      return false;
    }
  }

  // --- frames ----------------------------------------------------------------------------------

  private header(buf: Buffer, p: number, timeNs: bigint): number {
    let h: FrameHeader;
    const split = !(this.hdrFill === 0 && buf.length - p >= FRAME_HEADER_LENGTH);
    if (!split) {
      h = readHeader(buf, p, timeNs);
      p += FRAME_HEADER_LENGTH;
    } else {
      if (this.hdrFill === 0) this.hdrStartNs = timeNs;
      const n = Math.min(FRAME_HEADER_LENGTH - this.hdrFill, buf.length - p);
      buf.copy(this.hdr, this.hdrFill, p, p + n);
      this.hdrFill += n;
      p += n;
      if (this.hdrFill < FRAME_HEADER_LENGTH) return p;
      h = readHeader(this.hdr, 0, this.hdrStartNs);
      this.hdrFill = 0;
    }
    if (!validHeader(h.length, h.type, h.flags, h.streamId, this.maxFrameSize)) {
      // Resume the search right after the header's first byte (or after the header, when it
      // began in an earlier chunk).
      const at = split ? p : p - FRAME_HEADER_LENGTH;
      this.loseSync('bad-header', buf, at);
      this.counters.parseErrors++;
      return split ? p : at + 1;
    }
    return this.begin(h, buf, p, timeNs);
  }

  /** Starts frame `h`, whose payload begins at buf[p]; returns where parsing continues. */
  private begin(h: FrameHeader, buf: Buffer, p: number, timeNs: bigint): number {
    this.cur = h;
    this.remaining = h.length;
    if (h.streamId > this.maxStreamSeen) this.maxStreamSeen = h.streamId;
    if (h.type === DATA) {
      this.dataLeft = h.length;
      this.state = (h.flags & PADDED) !== 0 ? DATA_PADLEN : DATA_BODY;
      if (h.length === 0) this.endData(timeNs);
      return p;
    }
    if (h.type > CONTINUATION) {
      this.counters.unknownFrames++;
      this.state = SKIP;
      this.skipReports = false;
      if (h.length === 0) this.endSkip(timeNs);
      return p;
    }
    let bound = 16;
    if (h.type === HEADERS || h.type === PUSH_PROMISE || h.type === CONTINUATION) bound = this.maxHeaderBlock;
    else if (h.type === SETTINGS) bound = MAX_SETTINGS_PAYLOAD;
    else if (h.type === GOAWAY) bound = GOAWAY_KEPT;
    if (h.length > bound && h.type !== GOAWAY) {
      this.counters.oversizedFrames++;
      this.state = SKIP;
      this.skipReports = true;
      return p;
    }
    if (h.length <= bound && buf.length - p >= h.length) {
      // The whole payload is in this chunk: hand it on without a copy.
      this.cur = null;
      this.state = HEADER;
      this.counters.frames++;
      this.sink.onFrame(h, buf.subarray(p, p + h.length), timeNs);
      return p + h.length;
    }
    this.keep = Math.min(h.length, bound);
    this.payload = Buffer.allocUnsafe(this.keep);
    this.payloadFill = 0;
    this.state = PAYLOAD;
    if (this.keep === 0) {
      if (h.length === 0) this.endPayload(timeNs);
      else {
        this.state = SKIP;
        this.skipReports = false;
      }
    }
    return p;
  }

  private endData(timeNs: bigint): void {
    const h = this.cur!;
    this.cur = null;
    this.state = HEADER;
    this.counters.frames++;
    this.sink.onDataEnd(h, timeNs);
  }

  private endPayload(timeNs: bigint): void {
    const h = this.cur!;
    const payload = this.payload;
    this.cur = null;
    this.payload = EMPTY;
    this.state = HEADER;
    this.counters.frames++;
    this.sink.onFrame(h, payload, timeNs);
  }

  private endSkip(timeNs: bigint): void {
    const h = this.cur!;
    const reports = this.skipReports;
    const kept = this.payload;
    this.cur = null;
    this.payload = EMPTY;
    this.state = HEADER;
    this.counters.frames++;
    if (h.type === GOAWAY && !reports) this.sink.onFrame(h, kept, timeNs);
    else if (reports) this.sink.onFrame(h, null, timeNs);
  }

  // --- losing and finding the place ------------------------------------------------------------

  private loseSync(reason: SyncLossReason, buf: Buffer | null, at: number): void {
    const wasSearching = this.state === RESYNC;
    if (this.state === PREFACE_STATE) this.sink.onStart?.(false);
    if (buf !== null) this.error(reason, buf, at, true);
    this.cur = null;
    this.payload = EMPTY;
    this.hdrFill = 0;
    this.prefaceMatched = 0;
    // Bytes before a gap do not continue into those after it; after a gap a syscall begins.
    if (reason === 'gap') {
      this.counters.skippedBytes += this.rfill;
      this.rfill = 0;
      this.anchored = true;
    } else this.anchored = false;
    this.state = RESYNC;
    if (!wasSearching) {
      this.counters.syncLosses++;
      this.sink.onSyncLost(reason);
    }
  }

  private error(reason: SyncLossReason, buf: Buffer, at: number, countOnly: boolean): void {
    if (!countOnly) this.counters.parseErrors++;
    this.lastErr = { reason, offset: this.counters.bytes, evidence: new Uint8Array(buf.subarray(at, Math.min(buf.length, at + EVIDENCE_BYTES))) };
  }

  /**
   * Looks for a frame start in rbuf[0..rfill). Returns its offset, or -1 when more bytes are
   * needed (rbuf then keeps only what may still hold one). `atChunkEnd`: rfill is the end of a
   * syscall's bytes, so a frame ending exactly there is evidence too.
   */
  private search(atChunkEnd: boolean): number {
    const b = this.rbuf;
    const end = this.rfill;
    const maxStream = this.streamBound();
    for (let p = 0; p + FRAME_HEADER_LENGTH <= end; p++) {
      if (!this.plausibleAt(b, p)) continue;
      const len = (b[p]! << 16) | (b[p + 1]! << 8) | b[p + 2]!;
      const type = b[p + 3]!;
      const sid = ((b[p + 5]! & 0x7f) * 2 ** 24) + (b[p + 6]! << 16) + (b[p + 7]! << 8) + b[p + 8]!;
      if (p === 0 && this.anchored) return this.found(0);
      const next = p + FRAME_HEADER_LENGTH + len;
      if (next === end && atChunkEnd) return this.found(p);
      if (next + FRAME_HEADER_LENGTH <= end) {
        const nlen = (b[next]! << 16) | (b[next + 1]! << 8) | b[next + 2]!;
        const ntype = b[next + 3]!;
        const nflags = b[next + 4]!;
        const nsid = ((b[next + 5]! & 0x7f) * 2 ** 24) + (b[next + 6]! << 16) + (b[next + 7]! << 8) + b[next + 8]!;
        // The next frame may continue a header block: CONTINUATION of the same stream is fine there.
        const ok = ntype === CONTINUATION
          ? (type === HEADERS || type === PUSH_PROMISE) && nsid === sid && validHeader(nlen, ntype, nflags, nsid, this.maxFrameSize)
          : plausibleHeader(nlen, ntype, nflags, nsid, this.maxFrameSize, maxStream);
        if (ok) return this.found(p);
        continue;
      }
      // The candidate's frame runs past the bytes at hand: wait for more if the window can take
      // them; a candidate that cannot be confirmed is passed over.
      if (FRAME_HEADER_LENGTH + len + FRAME_HEADER_LENGTH <= this.window && (p > 0 || end < this.window)) {
        this.compact(p);
        return -1;
      }
    }
    // Nothing here; the last bytes may begin a header that the next chunk completes. (Fewer than
    // 9 bytes so far: the first may still be a frame start.)
    if (end >= FRAME_HEADER_LENGTH) this.anchored = false;
    this.compact(Math.max(0, end - (FRAME_HEADER_LENGTH - 1)));
    return -1;
  }

  private plausibleAt(b: Buffer, p: number): boolean {
    const len = (b[p]! << 16) | (b[p + 1]! << 8) | b[p + 2]!;
    const sid = ((b[p + 5]! & 0x7f) * 2 ** 24) + (b[p + 6]! << 16) + (b[p + 7]! << 8) + b[p + 8]!;
    return plausibleHeader(len, b[p + 3]!, b[p + 4]!, sid, this.maxFrameSize, this.streamBound());
  }

  private streamBound(): number {
    return this.maxStreamSeen === 0 ? FIRST_STREAM_BOUND : this.maxStreamSeen + STREAM_ID_SLACK;
  }

  private found(p: number): number {
    this.counters.skippedBytes += p;
    if (this.counters.syncLosses > 0) this.counters.resyncs++; // not the first frame of a capture
    this.anchored = false;
    return p;
  }

  /** Drops rbuf[0..p). */
  private compact(p: number): void {
    if (p <= 0) return;
    this.counters.skippedBytes += p;
    this.rbuf.copyWithin(0, p, this.rfill);
    this.rfill -= p;
    this.anchored = false;
  }

  /**
   * The last-resort guard: an exception (a bug here or in the sink, never bad input, which is
   * handled as a value) must not escape into the capture pipeline. Start searching again.
   */
  private internalFailure(err: unknown): void {
    this.counters.internalErrors++;
    const message = err instanceof Error ? err.message : String(err);
    this.lastErr = { reason: 'internal', offset: this.counters.bytes, evidence: new TextEncoder().encode(message.slice(0, EVIDENCE_BYTES)) };
    this.rfill = 0;
    this.rbuf = EMPTY;
    this.cur = null;
    this.payload = EMPTY;
    this.hdrFill = 0;
    const wasSearching = this.state === RESYNC;
    this.state = RESYNC;
    this.anchored = false;
    if (!wasSearching) {
      this.counters.syncLosses++;
      try {
        this.sink.onSyncLost('internal');
      } catch {
        // already counted
      }
    }
  }
}
