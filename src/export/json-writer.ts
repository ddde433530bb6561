// JSON text written straight into one growing buffer: fixed fragments and short plain strings copied
// as ASCII, other strings escaped by JSON.stringify (native) and encoded as UTF-8. Building a large
// line by string concatenation makes V8 flatten a deep rope and copy it again into a Buffer.
import { ByteBuffer } from './byte-buffer.js';

const NS_PER_S = 1_000_000_000n;
const NO_DIGITS = new Uint8Array(0);
/** "00" to "99": two decimal digits per step. */
const DIGIT_PAIRS = Buffer.from(Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0')).join(''), 'latin1');
/** nanos(): times from here on are written by String() (2^63 ns: year 2262). */
const FAST_END = 1n << 63n;
/** A byte's two lowercase hex digits, as the char codes of both (the first in the low eight bits). */
const HEX_PAIRS = new Uint16Array(256);
for (let i = 0; i < 256; i++) HEX_PAIRS[i] = '0123456789abcdef'.charCodeAt(i >> 4) | ('0123456789abcdef'.charCodeAt(i & 15) << 8);

/** Word `w`'s four bytes (its low eight bits first, model/span-ids.ts) as eight hex digits at `p`. */
function writeWordHex(buf: Uint8Array, p: number, w: number): void {
  for (let i = 0; i < 4; i++) {
    const pair = HEX_PAIRS[(w >> (8 * i)) & 0xff]!;
    buf[p + 2 * i] = pair;
    buf[p + 2 * i + 1] = pair >> 8;
  }
}

export class JsonWriter {
  readonly #b: ByteBuffer;
  /** nanos(): a whole second since the epoch, in ns, and its decimal digits (none for second 0): the base of the times written next. */
  #secondNs = 0n;
  #secondDigits: Uint8Array = NO_DIGITS;

  constructor(initialBytes = 64 * 1024) {
    this.#b = new ByteBuffer(initialBytes);
  }

  reset(): void {
    this.#b.pos = 0;
  }

  /** The memory written into (see `resetAt`). */
  get buffer(): Uint8Array {
    return this.#b.buf;
  }

  /** Starts over, writing into `buf` from `pos` on (ByteBuffer.adopt: a record arena's slab). */
  resetAt(buf: Uint8Array, pos: number): void {
    this.#b.adopt(buf, pos);
  }

  /** Bytes its buffer holds before it grows. */
  get capacity(): number {
    return this.#b.buf.length;
  }

  /** Bytes written so far: where the next one goes. */
  get length(): number {
    return this.#b.pos;
  }

  /** Writes go on from `pos` (an earlier `length`, or one past bytes written since): bytes after it stay until overwritten. */
  seek(pos: number): void {
    this.#b.pos = pos;
  }

  /** A copy of the bytes written from `start` (an earlier `length`) on, up to `end` (by default all of them). */
  copyFrom(start: number, end = this.#b.pos): Uint8Array {
    return this.#b.copyFrom(start, end);
  }

  /** The bytes written so far (a view: copy it before writing more). */
  finish(): Buffer {
    return this.#b.node.subarray(0, this.#b.pos);
  }

  /**
   * The same bytes as a plain Uint8Array's view, to copy elsewhere: made by the builtin, where a
   * Buffer's view is a FastBuffer made in JavaScript (~100 ns, once per record encoded).
   */
  written(): Uint8Array {
    return this.#b.buf.subarray(0, this.#b.pos);
  }

  /** Text that is already JSON (punctuation, keys, numbers, hex ids, decimal digits). */
  raw(json: string): this {
    if (!this.#b.ascii(json)) this.#b.utf8(json);
    return this;
  }

  /** A span id's lowercase hex from its two words (model/span-ids.ts): the words' bytes in order. */
  idWords2(w0: number, w1: number): this {
    const b = this.#b;
    b.ensure(16);
    writeWordHex(b.buf, b.pos, w0);
    writeWordHex(b.buf, b.pos + 8, w1);
    b.pos += 16;
    return this;
  }

  /** A trace id's lowercase hex from its four words. */
  idWords4(w0: number, w1: number, w2: number, w3: number): this {
    const b = this.#b;
    b.ensure(32);
    writeWordHex(b.buf, b.pos, w0);
    writeWordHex(b.buf, b.pos + 8, w1);
    writeWordHex(b.buf, b.pos + 16, w2);
    writeWordHex(b.buf, b.pos + 24, w3);
    b.pos += 32;
    return this;
  }

  /** A safe integer's decimal digits, without making a string. */
  integer(n: number): this {
    const b = this.#b;
    if (n < 0) {
      b.ensure(1);
      b.buf[b.pos++] = 0x2d;
      n = -n;
    }
    let digits = 1;
    for (let x = n; x >= 10; x = Math.floor(x / 10)) digits++;
    b.ensure(digits);
    let p = b.pos + digits;
    do {
      b.buf[--p] = 0x30 + (n % 10);
      n = Math.floor(n / 10);
    } while (n > 0);
    b.pos += digits;
    return this;
  }

  /**
   * A time in ns since the epoch (a u64) as its decimal digits: those of a whole second kept from an
   * earlier time, then nine digits of ns past it. String(bigint) divides the whole 19-digit value
   * (~80 ns, twice per span); this takes one BigInt subtraction and two-digit steps on a small
   * integer, and divides only when a time leaves the kept second.
   */
  nanos(t: bigint): this {
    let past = Number(t - this.#secondNs);
    if (!(past >= 0 && past < 1e9)) {
      // Outside u64's first half (never a time of this era) String() does it.
      if (t < 0n || t >= FAST_END) return this.raw(String(t));
      const second = t / NS_PER_S;
      this.#secondNs = second * NS_PER_S;
      // A plain Uint8Array, as the fragments bytes() copies elsewhere are (one element kind there).
      this.#secondDigits = second === 0n ? NO_DIGITS : Uint8Array.from(String(second), (c) => c.charCodeAt(0));
      past = Number(t - this.#secondNs);
    }
    if (this.#secondDigits.length === 0) return this.integer(past);
    this.#b.bytes(this.#secondDigits);
    const b = this.#b;
    b.ensure(9);
    const buf = b.buf;
    let n = past;
    for (let p = b.pos + 7; p > b.pos; p -= 2) {
      const pair = (n % 100) * 2;
      buf[p] = DIGIT_PAIRS[pair]!;
      buf[p + 1] = DIGIT_PAIRS[pair + 1]!;
      n = (n / 100) | 0;
    }
    buf[b.pos] = 0x30 + n;
    b.pos += 9;
    return this;
  }

  /** JSON text already encoded as UTF-8. */
  bytes(b: Uint8Array): this {
    this.#b.bytes(b);
    return this;
  }

  /** The same, as ProtoWriter.encoded names it (writers of either encoding: shared-span-fields.ts). */
  encoded(b: Uint8Array): void {
    this.#b.bytes(b);
  }

  /** JSON text already encoded as UTF-8, `source[start, end)`. */
  range(source: Uint8Array, start: number, end: number): this {
    this.#b.range(source, start, end);
    return this;
  }

  /** A JSON string literal for any text. */
  string(s: string): this {
    const b = this.#b;
    const start = b.pos;
    b.ensure(1);
    b.buf[b.pos++] = 0x22;
    if (b.ascii(s, true)) {
      b.ensure(1);
      b.buf[b.pos++] = 0x22;
      return this;
    }
    b.pos = start;
    b.utf8(JSON.stringify(s));
    return this;
  }
}
