// A minimal protobuf writer: varints, fixed-width numbers, strings, hex ids and length-delimited
// sub-messages, into one growing buffer. Lantern encodes its OTLP spans with it in one pass from its
// own records (no intermediate message objects, see otlp-spans.ts).
//
// Sub-messages are written in place: `begin()` reserves one byte for the length, `end()` fills it
// in and, when the body needs a longer varint, moves the body up by the missing bytes (one memmove
// per message over 127 bytes, cheaper than encoding every message twice to learn its size).

import { ByteBuffer } from './byte-buffer.js';
import { hexCheck } from '../model/hex-id.js';

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

export function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** Writes `n` (0 ≤ n < 2^53) as a varint at `p`; returns the position after it. */
export function putVarint(buf: Uint8Array, p: number, n: number): number {
  while (n >= 0x80) {
    buf[p++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[p++] = n;
  return p;
}

/** The bytes of a length-delimited field `field` whose body is `len` bytes: its tag, its length and the body. */
export function lengthDelimitedSize(field: number, len: number): number {
  return varintSize(field * 8 + WIRE_LEN) + varintSize(len) + len;
}

/** The tag and length of a length-delimited field `field` of `len` bytes, written at `p` (its body follows); the position after them. */
export function putLengthDelimited(buf: Uint8Array, p: number, field: number, len: number): number {
  return putVarint(buf, putVarint(buf, p, field * 8 + WIRE_LEN), len);
}

export class ProtoWriter {
  readonly #b: ByteBuffer;
  readonly #starts: number[] = [];
  /** Where the length of the message beginRecord opened goes (two bytes kept); -1: none open. */
  #recordStart = -1;

  constructor(initialBytes = 64 * 1024) {
    this.#b = new ByteBuffer(initialBytes);
  }

  /** The memory written into (a view of it is `finish()`; see `resetAt`). */
  get buffer(): Uint8Array {
    return this.#b.buf;
  }

  /** Starts over, writing into `buf` from `pos` on (ByteBuffer.adopt: a record arena's slab). */
  resetAt(buf: Uint8Array, pos: number): void {
    this.reset();
    this.#b.adopt(buf, pos);
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
  finish(): Uint8Array {
    if (this.#starts.length > 0 || this.#recordStart >= 0) throw new Error('ProtoWriter: a sub-message is still open');
    return this.#b.buf.subarray(0, this.#b.pos);
  }

  /** Starts over, keeping the buffer. */
  reset(): void {
    this.#b.pos = 0;
    // Only when messages were left open: the length setter is a call into V8's runtime (~20 ns),
    // and a record writer is reset for every span with none open.
    if (this.#starts.length !== 0) this.#starts.length = 0;
    this.#recordStart = -1;
  }

  #rawVarint(n: number): void {
    const b = this.#b;
    b.ensure(10);
    b.pos = putVarint(b.buf, b.pos, n);
  }

  #tag(field: number, wire: number): void {
    this.#rawVarint(field * 8 + wire);
  }

  /** uint32/uint64/enum/int64 ≥ 0 (exact up to 2^53); negative int64 as ten bytes of two's complement. */
  varint(field: number, n: number): void {
    this.#tag(field, WIRE_VARINT);
    if (n >= 0) {
      this.#rawVarint(n);
      return;
    }
    let v = BigInt.asUintN(64, BigInt(n));
    const b = this.#b;
    b.ensure(10);
    for (let i = 0; i < 10; i++) {
      const byte = Number(v & 0x7fn);
      v >>= 7n;
      b.buf[b.pos++] = v === 0n ? byte : byte | 0x80;
      if (v === 0n) break;
    }
  }

  /** uint64 of any size (kernel addresses are past 2^53). */
  uint64(field: number, v: bigint): void {
    this.#tag(field, WIRE_VARINT);
    let x = BigInt.asUintN(64, v);
    const b = this.#b;
    b.ensure(10);
    while (x >= 0x80n) {
      b.buf[b.pos++] = Number(x & 0x7fn) | 0x80;
      x >>= 7n;
    }
    b.buf[b.pos++] = Number(x);
  }

  bool(field: number, v: boolean): void {
    this.varint(field, v ? 1 : 0);
  }

  fixed64(field: number, v: bigint): void {
    this.#tag(field, WIRE_I64);
    const b = this.#b;
    b.ensure(8);
    // setBigUint64 stores `v` modulo 2^64 itself: a BigInt.asUintN first made a second BigInt per time.
    b.view.setBigUint64(b.pos, v, true);
    b.pos += 8;
  }

  fixed32(field: number, v: number): void {
    this.#tag(field, WIRE_I32);
    const b = this.#b;
    b.ensure(4);
    // The DataView's store is inlined; a Buffer method is a generic property load on Buffer.prototype first.
    b.view.setUint32(b.pos, v >>> 0, true);
    b.pos += 4;
  }

  double(field: number, v: number): void {
    this.#tag(field, WIRE_I64);
    const b = this.#b;
    b.ensure(8);
    b.view.setFloat64(b.pos, v, true);
    b.pos += 8;
  }

  string(field: number, s: string): void {
    this.#tag(field, WIRE_LEN);
    const b = this.#b;
    // Short ASCII: its length is its byte count and fits the one-byte varint written first.
    const lengthAt = b.pos;
    b.ensure(1);
    b.pos++;
    if (b.ascii(s)) {
      b.buf[lengthAt] = s.length;
      return;
    }
    b.pos = lengthAt;
    const n = Buffer.byteLength(s, 'utf8');
    this.#rawVarint(n);
    b.utf8(s, n);
  }

  /** An id given as lowercase hex (trace and span ids), as its bytes (its pairs of digits: a last odd one is left out). */
  hexBytes(field: number, hex: string): void {
    const n = hex.length >> 1;
    this.#tag(field, WIRE_LEN);
    this.#rawVarint(n);
    const b = this.#b;
    b.ensure(n);
    const buf = b.buf;
    let p = b.pos;
    for (let i = 0; i < n; i++) buf[p++] = (hexCheck(hex.charCodeAt(2 * i)) << 4) | hexCheck(hex.charCodeAt(2 * i + 1));
    b.pos = p;
  }

  /** Field `field`: a span id's 8 bytes from its words (model/span-ids.ts: little-endian int32s). */
  idWords2(field: number, w0: number, w1: number): void {
    const p = this.#idField(field, 8);
    const buf = this.#b.buf;
    writeWord(buf, p, w0);
    writeWord(buf, p + 4, w1);
  }

  /** Field `field`: a trace id's 16 bytes from its words. */
  idWords4(field: number, w0: number, w1: number, w2: number, w3: number): void {
    const p = this.#idField(field, 16);
    const buf = this.#b.buf;
    writeWord(buf, p, w0);
    writeWord(buf, p + 4, w1);
    writeWord(buf, p + 8, w2);
    writeWord(buf, p + 12, w3);
  }

  /** Field `field`'s tag and length, `n` bytes (under 128) of room made after them: where they go. */
  #idField(field: number, n: number): number {
    this.#tag(field, WIRE_LEN);
    const b = this.#b;
    b.ensure(n + 1);
    b.buf[b.pos] = n;
    const p = b.pos + 1;
    b.pos = p + n;
    return p;
  }

  /** Already-encoded message bytes as field `field`. */
  bytes(field: number, bytes: Uint8Array): void {
    this.#tag(field, WIRE_LEN);
    this.#rawVarint(bytes.length);
    this.#b.bytes(bytes);
  }

  /** Fields already encoded (tags included), copied as they are. */
  encoded(fields: Uint8Array): void {
    this.#b.bytes(fields);
  }

  /** Fields already encoded, `source[start, end)`, copied as they are. */
  encodedRange(source: Uint8Array, start: number, end: number): void {
    this.#b.range(source, start, end);
  }

  /**
   * A KeyValue whose whole encoding is under 128 bytes, in one go: `field` { `keyField` (KeyValue.key,
   * encoded), 2: AnyValue { 1: `v` } } for a string, { 3: `v` } for an integer ≥ 0. Every length is
   * then one byte, known before the value is written: no sub-message bookkeeping (begin/end) for
   * the common attribute. The same bytes as begin/encoded/string or varint/end. Returns false,
   * having written nothing, when `v` is not such a value (too long, not ASCII, negative, fractional).
   */
  shortKeyValue(field: number, keyField: Uint8Array, v: string | number): boolean {
    const b = this.#b;
    const at = b.pos;
    let anyLength: number;
    if (typeof v === 'string') {
      anyLength = 2 + v.length; // tag, one-byte length, ASCII bytes
    } else {
      if (!(v >= 0 && Number.isSafeInteger(v))) return false;
      anyLength = 1 + varintSize(v);
    }
    const kvLength = keyField.length + 2 + anyLength;
    if (kvLength >= 0x80 || field >= 16) return false;
    b.ensure(2 + kvLength);
    b.buf[b.pos++] = field * 8 + WIRE_LEN;
    b.buf[b.pos++] = kvLength;
    b.bytes(keyField);
    b.buf[b.pos++] = 2 * 8 + WIRE_LEN;
    b.buf[b.pos++] = anyLength;
    if (typeof v === 'string') {
      b.buf[b.pos++] = 1 * 8 + WIRE_LEN;
      b.buf[b.pos++] = v.length;
      if (!b.ascii(v)) {
        b.pos = at;
        return false;
      }
    } else {
      b.buf[b.pos++] = 3 * 8 + WIRE_VARINT;
      b.pos = putVarint(b.buf, b.pos, v);
    }
    return true;
  }

  /** A packed repeated uint32/uint64/int64 ≥ 0 field (exact up to 2^53); nothing when `values` is empty. */
  packedVarints(field: number, values: readonly number[]): void {
    if (values.length === 0) return;
    this.begin(field);
    for (const v of values) this.#rawVarint(v);
    this.end();
  }

  /** Opens sub-message `field`; close it with end(). */
  begin(field: number): void {
    this.#tag(field, WIRE_LEN);
    this.#b.ensure(1);
    this.#starts.push(this.#b.pos);
    this.#b.pos += 1;
  }

  /**
   * Opens a record at the top (a span, a log record: 128 to 16,383 bytes, mostly), two bytes kept
   * for its length: begin's one byte had endRecord move every record's body up by one. The same bytes
   * as begin/end: a shorter body moves down, a longer one up.
   */
  beginRecord(field: number): void {
    if (this.#starts.length > 0 || this.#recordStart >= 0) throw new Error('ProtoWriter: beginRecord() inside a message');
    this.#tag(field, WIRE_LEN);
    this.#b.ensure(2);
    this.#recordStart = this.#b.pos;
    this.#b.pos += 2;
  }

  endRecord(): void {
    const start = this.#recordStart;
    if (start < 0 || this.#starts.length > 0) throw new Error('ProtoWriter: endRecord() without beginRecord(), or a sub-message still open');
    this.#recordStart = -1;
    const b = this.#b;
    const len = b.pos - start - 2;
    if (len >= 0x80 && len < 0x4000) {
      b.buf[start] = (len & 0x7f) | 0x80;
      b.buf[start + 1] = len >> 7;
      return;
    }
    this.#putLength(start, 2);
  }

  end(): void {
    const start = this.#starts.pop();
    if (start === undefined) throw new Error('ProtoWriter: end() without begin()');
    const b = this.#b;
    const len = b.pos - start - 1;
    if (len < 0x80) {
      b.buf[start] = len;
      return;
    }
    this.#putLength(start, 1);
  }

  /** The length of the body after the `reserved` bytes kept at `start`, written there, the body moved when it takes more or fewer. */
  #putLength(start: number, reserved: number): void {
    const b = this.#b;
    const len = b.pos - start - reserved;
    const size = varintSize(len);
    if (size > reserved) b.ensure(size - reserved);
    if (size !== reserved) {
      b.buf.copyWithin(start + size, start + reserved, b.pos);
      b.pos += size - reserved;
    }
    putVarint(b.buf, start, len);
  }
}

/** Word `w`'s four bytes at `p`, its low eight bits first (model/span-ids.ts). A Uint8Array keeps a store's low eight bits. */
function writeWord(buf: Uint8Array, p: number, w: number): void {
  buf[p] = w;
  buf[p + 1] = w >> 8;
  buf[p + 2] = w >> 16;
  buf[p + 3] = w >> 24;
}
