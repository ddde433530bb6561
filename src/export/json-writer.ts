// JSON text written straight into one growing buffer: fixed fragments and short plain strings copied
// as ASCII, other strings escaped by JSON.stringify (native) and encoded as UTF-8. Building a large
// line by string concatenation makes V8 flatten a deep rope and copy it again into a Buffer.
import { ByteBuffer } from './byte-buffer.js';

export class JsonWriter {
  readonly #b: ByteBuffer;

  constructor(initialBytes = 64 * 1024) {
    this.#b = new ByteBuffer(initialBytes);
  }

  reset(): void {
    this.#b.pos = 0;
  }

  /** The bytes written so far (a view: copy it before writing more). */
  finish(): Buffer {
    return this.#b.buf.subarray(0, this.#b.pos);
  }

  /** Text that is already JSON (punctuation, keys, numbers, hex ids). */
  raw(json: string): this {
    if (!this.#b.ascii(json)) this.#b.utf8(json);
    return this;
  }

  /** JSON text of any length, encoded natively as UTF-8 (one call for a whole fragment). */
  text(json: string): this {
    this.#b.utf8(json);
    return this;
  }

  /** JSON text already encoded as UTF-8. */
  bytes(b: Uint8Array): this {
    this.#b.bytes(b);
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
