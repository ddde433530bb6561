// JSON text written straight into one growing buffer: fixed fragments as ASCII, strings escaped by
// JSON.stringify (native) and copied in as UTF-8. Building a large line by string concatenation
// makes V8 flatten a deep rope and copy it again into a Buffer; this writes each byte once.

export class JsonWriter {
  #buf: Buffer;
  #pos = 0;

  constructor(initialBytes = 64 * 1024) {
    this.#buf = Buffer.allocUnsafe(initialBytes);
  }

  reset(): void {
    this.#pos = 0;
  }

  /** The bytes written so far (a view: copy it before writing more). */
  finish(): Buffer {
    return this.#buf.subarray(0, this.#pos);
  }

  #ensure(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.#buf.copy(next, 0, 0, this.#pos);
    this.#buf = next;
  }

  /** Text that is already JSON and ASCII (punctuation, keys, numbers, hex ids). */
  raw(ascii: string): this {
    this.#ensure(ascii.length);
    this.#pos += this.#buf.write(ascii, this.#pos, 'latin1');
    return this;
  }

  /** JSON text already encoded as UTF-8. */
  bytes(b: Uint8Array): this {
    this.#ensure(b.length);
    this.#buf.set(b, this.#pos);
    this.#pos += b.length;
    return this;
  }

  /** A JSON string literal for any text. */
  string(s: string): this {
    const quoted = JSON.stringify(s);
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    this.#ensure(quoted.length * 3);
    this.#pos += this.#buf.write(quoted, this.#pos, 'utf8');
    return this;
  }
}
