// A bounds-checked cursor over one PostgreSQL message body, the way pg-protocol's BufferReader reads
// (int16, int32, cstring, bytes), except that captures are truncated: a body may hold fewer bytes
// than its length field declared (the capture bound, a gap). A read that would pass the captured
// bytes fails as `truncated` when the message itself is longer, as `malformed` when the declared
// body ends first. Reads never throw and never look past the end; the first failure sticks, later
// reads return zero values, and the caller checks `failure` once at the end.
//
// Field types are those of "Message Data Types" in the protocol chapter
// (https://www.postgresql.org/docs/current/protocol-message-types.html): Int8/16/32 big-endian,
// String = NUL-terminated, Byte(n).

export type ReadFailure = 'truncated' | 'malformed';

const EMPTY = new Uint8Array(0);

export class PgReader {
  #pos: number;
  readonly #buf: Uint8Array;
  /** End of the captured bytes. */
  readonly #end: number;
  /** End of the body as its length field declared it (>= #end). */
  readonly #declaredEnd: number;
  /** Why the first failed read failed; null while every read succeeded. */
  failure: ReadFailure | null = null;

  /**
   * `captured` holds the first bytes of a body of `declaredLength` bytes. A body captured whole
   * has declaredLength === captured.length (the default).
   */
  constructor(captured: Uint8Array, declaredLength: number = captured.length) {
    this.#buf = captured;
    this.#pos = 0;
    this.#end = captured.length;
    this.#declaredEnd = Math.max(declaredLength, captured.length);
  }

  get offset(): number {
    return this.#pos;
  }

  /** Captured bytes not read yet. */
  get remaining(): number {
    return this.failure === null ? this.#end - this.#pos : 0;
  }

  /** Is everything the length field declared inside the captured bytes? */
  get complete(): boolean {
    return this.#end === this.#declaredEnd;
  }

  /** Reads `n` bytes' worth of position; false (and the failure recorded) when they are not there. */
  #take(n: number): boolean {
    if (this.failure !== null) return false;
    if (this.#pos + n <= this.#end) return true;
    this.failure = this.#pos + n <= this.#declaredEnd ? 'truncated' : 'malformed';
    return false;
  }

  byte(): number {
    if (!this.#take(1)) return 0;
    return this.#buf[this.#pos++]!;
  }

  int16(): number {
    if (!this.#take(2)) return 0;
    const b = this.#buf;
    const p = this.#pos;
    this.#pos += 2;
    const v = (b[p]! << 8) | b[p + 1]!;
    return v >= 0x8000 ? v - 0x10000 : v;
  }

  int32(): number {
    if (!this.#take(4)) return 0;
    const b = this.#buf;
    const p = this.#pos;
    this.#pos += 4;
    return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) | 0;
  }

  /** `n` bytes as a view (not a copy) of the body. */
  bytes(n: number): Uint8Array {
    if (n < 0) {
      if (this.failure === null) this.failure = 'malformed';
      return EMPTY;
    }
    if (!this.#take(n)) return EMPTY;
    const out = this.#buf.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return out;
  }

  skip(n: number): void {
    this.bytes(n);
  }

  /**
   * A NUL-terminated string, decoded as UTF-8 (the client_encoding of nearly every connection;
   * other encodings decode with replacement characters, never an error). At most `maxChars`
   * bytes are decoded: a longer string is cut there, the rest skipped.
   */
  cstring(maxBytes = Number.MAX_SAFE_INTEGER): string {
    if (this.failure !== null) return '';
    const b = this.#buf;
    const start = this.#pos;
    let i = start;
    while (i < this.#end && b[i] !== 0) i++;
    if (i >= this.#end) {
      // No terminator among the captured bytes: the body was cut (truncated) or lacks one.
      this.failure = this.#end < this.#declaredEnd ? 'truncated' : 'malformed';
      return '';
    }
    this.#pos = i + 1;
    return decodeUtf8(b, start, Math.min(i, start + maxBytes));
  }

  /**
   * What a cstring would be when the capture cut it: the captured bytes up to a NUL or the end.
   * `cut` says whether the terminator was missing. Used for query text, whose prefix is worth
   * keeping when the rest was not captured.
   */
  cstringPrefix(maxBytes: number): { text: string; cut: boolean } {
    if (this.failure !== null) return { text: '', cut: true };
    const b = this.#buf;
    const start = this.#pos;
    let i = start;
    while (i < this.#end && b[i] !== 0) i++;
    if (i >= this.#end) {
      if (this.#end >= this.#declaredEnd) this.failure = 'malformed';
      else this.#pos = this.#end;
      return { text: decodeUtf8(b, start, Math.min(this.#end, start + maxBytes)), cut: true };
    }
    this.#pos = i + 1;
    return { text: decodeUtf8(b, start, Math.min(i, start + maxBytes)), cut: i - start > maxBytes };
  }
}

/** UTF-8 text of b[start, end); a multi-byte character cut at `end` becomes U+FFFD. */
export function decodeUtf8(b: Uint8Array, start: number, end: number): string {
  if (end <= start) return '';
  return Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('utf8');
}

/** Big-endian Int32 at `i` of `b` (the caller checked that four bytes are there). */
export function int32At(b: Uint8Array, i: number): number {
  return ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) | 0;
}
