// Puts one direction of a connection's captured bytes back in order and reports what is missing.
//
// Chunks carry their position in the byte stream. Concurrent writers on one socket can make chunks
// arrive out of order, so a small window of early chunks is held; past that window (or on a skip
// marker, or at close) a hole becomes a gap of known size that the parser can step over or
// resynchronise after.

export interface StreamSink {
  data(bytes: Uint8Array, timeNs: bigint): void;
  gap(bytes: number, timeNs: bigint): void;
}

export interface StreamStats {
  bytesDelivered: number;
  bytesGap: number;
  gaps: number;
  duplicates: number;
  reordered: number;
}

interface Pending {
  position: number;
  bytes: Uint8Array | null; // null: skip marker
  length: number;
  timeNs: bigint;
}

export class StreamAssembler {
  /** Next expected position; null until the first chunk (we may join mid-stream). */
  #next: number | null = null;
  #pending: Pending[] = [];
  #pendingBytes = 0;
  readonly stats: StreamStats = { bytesDelivered: 0, bytesGap: 0, gaps: 0, duplicates: 0, reordered: 0 };

  constructor(
    private readonly sink: StreamSink,
    private readonly maxPendingBytes = 256 * 1024,
    private readonly maxPendingChunks = 64,
  ) {}

  /** A captured chunk (bytes must stay valid only during this call: held chunks are copied). */
  chunk(position: number, bytes: Uint8Array, timeNs: bigint): void {
    // The common case, the next bytes in order with nothing held: delivered without a record.
    if (this.continues(position, bytes.length)) {
      this.passed(position, bytes.length);
      this.sink.data(bytes, timeNs);
      return;
    }
    this.#accept({ position, bytes, length: bytes.length, timeNs });
  }

  /**
   * Whether `length` captured bytes at `position` are the next of the stream, nothing held before
   * them: `chunk` would hand them on whole, at once (a stream's first bytes always are).
   */
  continues(position: number, length: number): boolean {
    return length > 0 && this.#pending.length === 0 && (this.#next === null || this.#next === position);
  }

  /**
   * Bytes that `continues` allowed were handed to the parser by the caller, not through the sink (a
   * pair of them, one per direction, must reach the session as one call): the stream moves past them.
   */
  passed(position: number, length: number): void {
    this.stats.bytesDelivered += length;
    this.#next = position + length;
  }

  /** `length` bytes at `position` that were not captured. */
  skip(position: number, length: number, timeNs: bigint): void {
    this.#accept({ position, bytes: null, length, timeNs });
  }

  /**
   * The bytes up to here were accounted for elsewhere (an exchange shed in the kernel, whose bytes
   * never come): what is held goes out, and the next chunk continues the stream wherever it is.
   */
  restart(): void {
    this.#flushPending(Number.POSITIVE_INFINITY);
    this.#next = null;
  }

  /** A new assembler's state, for another stream (the tracker reuses a connection's assemblers: another connection, a TLS upgrade): nothing held, nothing counted. */
  startOver(): void {
    this.#next = null;
    this.#pending = [];
    this.#pendingBytes = 0;
    const s = this.stats;
    s.bytesDelivered = s.bytesGap = s.gaps = s.duplicates = s.reordered = 0;
  }

  /** End of stream: `total` is the byte count the kernel reported for this direction, if known. */
  end(total: number | null, timeNs: bigint): void {
    this.#flushPending(Number.POSITIVE_INFINITY);
    if (total !== null && this.#next !== null && total > this.#next) this.#gap(total - this.#next, timeNs);
    if (total !== null && this.#next !== null) this.#next = Math.max(this.#next, total);
  }

  #accept(p: Pending): void {
    if (p.length === 0) return;
    if (this.#next === null) this.#next = p.position;
    if (p.position + p.length <= this.#next) {
      this.stats.duplicates++;
      return;
    }
    if (p.position > this.#next) {
      this.#hold(p);
      return;
    }
    this.#deliver(p);
    this.#drainPending();
  }

  #deliver(p: Pending): void {
    const next = this.#next ?? p.position;
    // Overlap with what was already delivered: deliver only the new tail.
    const skipHead = next - p.position;
    if (p.bytes === null) {
      this.#gap(p.length - skipHead, p.timeNs);
    } else {
      const fresh = skipHead > 0 ? p.bytes.subarray(skipHead) : p.bytes;
      this.stats.bytesDelivered += fresh.length;
      this.sink.data(fresh, p.timeNs);
    }
    this.#next = p.position + p.length;
  }

  #gap(n: number, timeNs: bigint): void {
    if (n <= 0) return;
    this.stats.gaps++;
    this.stats.bytesGap += n;
    this.sink.gap(n, timeNs);
  }

  #hold(p: Pending): void {
    this.stats.reordered++;
    const copy: Pending = { ...p, bytes: p.bytes === null ? null : Uint8Array.from(p.bytes) };
    const i = this.#pending.findIndex((x) => x.position > p.position);
    if (i < 0) this.#pending.push(copy);
    else this.#pending.splice(i, 0, copy);
    this.#pendingBytes += copy.bytes?.length ?? 0;
    // The window is full: what is missing before the earliest held chunk is not coming.
    while (this.#pending.length > this.maxPendingChunks || this.#pendingBytes > this.maxPendingBytes) {
      const first = this.#pending[0];
      if (first === undefined) break;
      this.#flushPending(first.position);
    }
  }

  /** Delivers held chunks up to `upTo`, declaring the holes before them as gaps. */
  #flushPending(upTo: number): void {
    while (this.#pending.length > 0) {
      const first = this.#pending[0]!;
      if (first.position > upTo) break;
      this.#pending.shift();
      this.#pendingBytes -= first.bytes?.length ?? 0;
      if (this.#next !== null && first.position > this.#next) this.#gap(first.position - this.#next, first.timeNs);
      if (this.#next !== null && first.position + first.length <= this.#next) {
        this.stats.duplicates++;
        continue;
      }
      this.#deliver(first);
    }
    this.#drainPending();
  }

  #drainPending(): void {
    while (this.#pending.length > 0 && this.#next !== null && this.#pending[0]!.position <= this.#next) {
      const p = this.#pending.shift()!;
      this.#pendingBytes -= p.bytes?.length ?? 0;
      if (p.position + p.length <= this.#next) {
        this.stats.duplicates++;
        continue;
      }
      this.#deliver(p);
    }
  }

  get pendingBytes(): number {
    return this.#pendingBytes;
  }
}
