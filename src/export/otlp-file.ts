// --otlp-file: every exported batch appended as one line of OTLP JSON (ExportLogsServiceRequest,
// ExportTraceServiceRequest, ...), the format of the OpenTelemetry Collector's file exporter.
import { type WriteStream, createWriteStream } from 'node:fs';
import { once } from 'node:events';

/** Line buffers kept for reuse, and the largest kept (a bigger one is used once and let go). */
const SPARE_BUFFERS = 4;
const MAX_SPARE_BYTES = 8 << 20;

export class OtlpFileWriter {
  #out: WriteStream;
  #lines = 0;
  #failed = 0;
  /**
   * Buffers for lines on their way to the disk, back here when the write is done. A fresh copy per
   * line lived until the write completed, long enough under load to be promoted with its wrapper:
   * its ~1 MB backing store then stayed until the next full GC (~100 MiB of them at 10k req/s).
   */
  #spare: Buffer[] = [];

  constructor(readonly path: string) {
    this.#out = createWriteStream(path, { flags: 'a' });
    // A broken disk must not take the agent down: count and carry on.
    this.#out.on('error', () => this.#failed++);
  }

  writeBatch(request: object): void {
    this.writeLine(JSON.stringify(request));
  }

  /** A request already encoded as one line of JSON. */
  writeLine(json: string): void {
    this.#out.write(`${json}\n`);
    this.#lines++;
  }

  /**
   * A request already encoded as one line of JSON in UTF-8, its newline included. `line` is copied
   * (it may be an encoder's buffer, reused at the next encode) into a buffer that comes back for
   * the next line once the file has this one.
   */
  writeLineBytes(line: Uint8Array): void {
    const buf = this.#bufferFor(line.length);
    buf.set(line);
    this.#lines++;
    this.#out.write(buf.subarray(0, line.length), () => {
      // Failed writes are counted by the 'error' listener.
      if (this.#spare.length < SPARE_BUFFERS && buf.length <= MAX_SPARE_BYTES) this.#spare.push(buf);
    });
  }

  #bufferFor(n: number): Buffer {
    for (let i = 0; i < this.#spare.length; i++) {
      if (this.#spare[i]!.length >= n) return this.#spare.splice(i, 1)[0]!;
    }
    // Rounded up to a power of two from 64 KiB, so that one buffer serves lines of similar sizes.
    let size = 64 * 1024;
    while (size < n) size *= 2;
    return Buffer.allocUnsafeSlow(size);
  }

  stats(): { lines: number; writeErrors: number } {
    return { lines: this.#lines, writeErrors: this.#failed };
  }

  async close(): Promise<void> {
    this.#out.end();
    if (!this.#out.closed) await once(this.#out, 'close').catch(() => undefined);
  }
}
