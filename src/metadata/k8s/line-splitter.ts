// A watch response is one JSON object per line, in chunks that split lines anywhere (HTTP chunked
// transfer encoding, TCP segments). This joins chunks into whole lines, bounded: a line longer
// than `maxBytes` is dropped up to its newline and counted, so one huge or endless line cannot
// hold more than `maxBytes` of memory.

export class LineSplitter {
  #parts: Buffer[] = [];
  #held = 0;
  /** Inside a line already too long: skip to its end. */
  #skipping = false;
  #tooLong = 0;

  constructor(private readonly maxBytes: number) {}

  /** The lines completed by `chunk` (without their '\n'; empty lines left out). */
  feed(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(0x0a); nl >= 0; nl = chunk.indexOf(0x0a, start)) {
      this.#take(chunk.subarray(start, nl));
      if (!this.#skipping && this.#held > 0) lines.push(Buffer.concat(this.#parts, this.#held).toString('utf8'));
      this.#parts = [];
      this.#held = 0;
      this.#skipping = false;
      start = nl + 1;
    }
    this.#take(chunk.subarray(start));
    return lines;
  }

  /** Lines dropped for their length. */
  get tooLong(): number {
    return this.#tooLong;
  }

  #take(piece: Buffer): void {
    if (this.#skipping || piece.length === 0) return;
    if (this.#held + piece.length > this.maxBytes) {
      this.#tooLong++;
      this.#skipping = true;
      this.#parts = [];
      this.#held = 0;
      return;
    }
    // A copy: the chunk's buffer may be reused by the stream after this returns.
    this.#parts.push(Buffer.from(piece));
    this.#held += piece.length;
  }
}
