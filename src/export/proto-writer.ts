// A minimal protobuf writer: varints, fixed-width numbers, strings, hex ids and length-delimited
// sub-messages, into one growing buffer. Lantern encodes its OTLP spans with it in one pass from its
// own records (no intermediate message objects, see otlp-spans.ts).
//
// Sub-messages are written in place: `begin()` reserves one byte for the length, `end()` fills it
// in and, when the body needs a longer varint, moves the body up by the missing bytes (one memmove
// per message over 127 bytes, cheaper than encoding every message twice to learn its size).

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

export class ProtoWriter {
  #buf: Buffer;
  #pos = 0;
  readonly #starts: number[] = [];

  constructor(initialBytes = 64 * 1024) {
    this.#buf = Buffer.allocUnsafe(initialBytes);
  }

  /** The bytes written so far (a view: copy it before writing more). */
  finish(): Uint8Array {
    if (this.#starts.length > 0) throw new Error('ProtoWriter: a sub-message is still open');
    return this.#buf.subarray(0, this.#pos);
  }

  /** Starts over, keeping the buffer. */
  reset(): void {
    this.#pos = 0;
    this.#starts.length = 0;
  }

  #ensure(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.#buf.copy(next, 0, 0, this.#pos);
    this.#buf = next;
  }

  #rawVarint(n: number): void {
    this.#ensure(10);
    const b = this.#buf;
    let p = this.#pos;
    while (n >= 0x80) {
      b[p++] = (n & 0x7f) | 0x80;
      n = Math.floor(n / 128);
    }
    b[p++] = n;
    this.#pos = p;
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
    this.#ensure(10);
    for (let i = 0; i < 10; i++) {
      const byte = Number(v & 0x7fn);
      v >>= 7n;
      this.#buf[this.#pos++] = v === 0n ? byte : byte | 0x80;
      if (v === 0n) break;
    }
  }

  bool(field: number, v: boolean): void {
    this.varint(field, v ? 1 : 0);
  }

  fixed64(field: number, v: bigint): void {
    this.#tag(field, WIRE_I64);
    this.#ensure(8);
    this.#buf.writeBigUInt64LE(BigInt.asUintN(64, v), this.#pos);
    this.#pos += 8;
  }

  fixed32(field: number, v: number): void {
    this.#tag(field, WIRE_I32);
    this.#ensure(4);
    this.#buf.writeUInt32LE(v >>> 0, this.#pos);
    this.#pos += 4;
  }

  double(field: number, v: number): void {
    this.#tag(field, WIRE_I64);
    this.#ensure(8);
    this.#buf.writeDoubleLE(v, this.#pos);
    this.#pos += 8;
  }

  string(field: number, s: string): void {
    this.#tag(field, WIRE_LEN);
    const n = Buffer.byteLength(s, 'utf8');
    this.#rawVarint(n);
    this.#ensure(n);
    this.#buf.write(s, this.#pos, n, 'utf8');
    this.#pos += n;
  }

  /** An id given as lowercase hex (trace and span ids), as its bytes. */
  hexBytes(field: number, hex: string): void {
    this.#tag(field, WIRE_LEN);
    const n = hex.length >> 1;
    this.#rawVarint(n);
    this.#ensure(n);
    this.#buf.write(hex, this.#pos, n, 'hex');
    this.#pos += n;
  }

  /** Already-encoded message bytes as field `field`. */
  bytes(field: number, bytes: Uint8Array): void {
    this.#tag(field, WIRE_LEN);
    this.#rawVarint(bytes.length);
    this.#ensure(bytes.length);
    this.#buf.set(bytes, this.#pos);
    this.#pos += bytes.length;
  }

  /** Opens sub-message `field`; close it with end(). */
  begin(field: number): void {
    this.#tag(field, WIRE_LEN);
    this.#ensure(1);
    this.#starts.push(this.#pos);
    this.#pos += 1;
  }

  end(): void {
    const start = this.#starts.pop();
    if (start === undefined) throw new Error('ProtoWriter: end() without begin()');
    const len = this.#pos - start - 1;
    if (len < 0x80) {
      this.#buf[start] = len;
      return;
    }
    const extra = varintSize(len) - 1;
    this.#ensure(extra);
    this.#buf.copyWithin(start + 1 + extra, start + 1, this.#pos);
    this.#pos += extra;
    let p = start;
    let n = len;
    while (n >= 0x80) {
      this.#buf[p++] = (n & 0x7f) | 0x80;
      n = Math.floor(n / 128);
    }
    this.#buf[p] = n;
  }
}
