// A growing byte buffer for the encoders (ProtoWriter, JsonWriter). Short ASCII text, which is most
// of what spans carry (attribute keys, methods, paths, addresses, hex ids), is copied byte by byte
// in JavaScript: a native Buffer.write costs more per call than the copy itself for a few bytes.

/** Strings longer than this go to the native UTF-8 encoder at once. */
const JS_COPY_MAX = 64;
/**
 * Byte fragments longer than this are copied by TypedArray.set. Its call costs ~25-35 ns whatever
 * the size; the loop ~1.5-2 ns a byte: the loop wins only up to about 16 bytes (measured with
 * node 20 on this VM: at 32 bytes, an attribute's key prefix, the loop took 60 ns and set 36 ns).
 */
const JS_BYTES_MAX = 16;

/** 1 for the ASCII char codes copied as they are: all of them, and those JSON strings may hold raw. */
const ASCII = new Uint8Array(128).fill(1);
const JSON_SAFE = new Uint8Array(128).fill(1, 0x20);
JSON_SAFE[0x22] = 0; // "
JSON_SAFE[0x5c] = 0; // \

/**
 * TypedArray.prototype.set, called on the target array: `target.set(...)` looked the method up on
 * the array at every call, a generic property load (a LoadIC call, ~15 ns) in the optimized code,
 * twice a span for the shared fields' copies alone.
 */
const typedArraySet = Uint8Array.prototype.set;

/** `source` copied into `target` at `at` (TypedArray.set). */
export function setBytes(target: Uint8Array, source: Uint8Array, at: number): void {
  typedArraySet.call(target, source, at);
}

export class ByteBuffer {
  /** For byte stores from JavaScript: a plain Uint8Array (stores into a Buffer, a subclass, are slower). */
  buf: Uint8Array;
  /** The same memory as a Buffer, for Node's UTF-8 encoder (write). */
  node: Buffer;
  /**
   * The same memory for multi-byte stores (fixed32, fixed64, double): a DataView's are inlined by the
   * optimizing compiler, where a Buffer's writeUInt32LE or writeDoubleLE is first a generic property
   * load on Buffer.prototype, and its writeBigUInt64LE splits the value with several BigInt
   * operations (each an allocation).
   */
  view: DataView;
  pos = 0;

  constructor(initialBytes: number) {
    this.buf = new Uint8Array(initialBytes);
    this.node = Buffer.from(this.buf.buffer, this.buf.byteOffset, this.buf.length);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
  }

  /**
   * Writes go into `buf` from `pos` on: memory the caller owns (a record arena's slab, written in
   * place). Its Buffer and DataView are made when it is another array than the one written before.
   * Should a write outgrow it, ensure() moves what was written to memory of this buffer's own, as
   * always: the caller sees it by `buf` no longer being its array.
   */
  adopt(buf: Uint8Array, pos: number): void {
    if (buf !== this.buf) {
      this.buf = buf;
      this.node = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
      this.view = new DataView(buf.buffer, buf.byteOffset, buf.length);
    }
    this.pos = pos;
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = Math.max(64, this.buf.length * 2);
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    setBytes(next, this.buf.subarray(0, this.pos), 0);
    this.buf = next;
    this.node = Buffer.from(next.buffer, next.byteOffset, next.length);
    this.view = new DataView(next.buffer, next.byteOffset, next.length);
  }

  /**
   * Writes short ASCII text byte by byte and returns true; writes nothing and returns false when `s`
   * is long or has other characters (or, with `jsonSafe`, a control character, quote or backslash).
   */
  ascii(s: string, jsonSafe = false): boolean {
    const n = s.length;
    if (n > JS_COPY_MAX) return false;
    this.ensure(n);
    const b = this.buf;
    const start = this.pos;
    // One table lookup per char rather than four comparisons (measurably faster in V8).
    const allowed = jsonSafe ? JSON_SAFE : ASCII;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80 || allowed[c] === 0) return false;
      b[start + i] = c;
    }
    this.pos += n;
    return true;
  }

  /** A copy of what was written from `start` on (up to `end`, by default all of it). */
  copyFrom(start: number, end = this.pos): Uint8Array {
    return this.buf.slice(start, end);
  }

  /** Any text as UTF-8, through the native encoder. */
  utf8(s: string, byteLength = Buffer.byteLength(s, 'utf8')): void {
    this.ensure(byteLength);
    this.pos += this.node.write(s, this.pos, byteLength, 'utf8');
  }

  /** `source[start, end)`, copied natively (TypedArray.set: Buffer.copy's argument checks cost more than the copy of a span). */
  range(source: Uint8Array, start: number, end: number): void {
    this.ensure(end - start);
    setBytes(this.buf, source.subarray(start, end), this.pos);
    this.pos += end - start;
  }

  bytes(b: Uint8Array): void {
    const n = b.length;
    this.ensure(n);
    if (n <= JS_BYTES_MAX) {
      // Short fragments (JSON punctuation): a loop beats the native copy's call cost.
      const buf = this.buf;
      const p = this.pos;
      for (let i = 0; i < n; i++) buf[p + i] = b[i]!;
    } else {
      setBytes(this.buf, b, this.pos);
    }
    this.pos += n;
  }
}
