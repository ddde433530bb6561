// --otlp-file: every exported batch appended as one line of OTLP JSON (ExportLogsServiceRequest,
// ExportTraceServiceRequest, ...), the format of the OpenTelemetry Collector's file exporter.
import { type WriteStream, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { ReusableBuffers } from './reusable-buffers.js';

/** Line buffers kept for reuse, and the largest kept (a bigger one is used once and let go). */
const SPARE_BUFFERS = 4;
const MAX_SPARE_BYTES = 8 << 20;

export class OtlpFileWriter {
  #out: WriteStream;
  #lines = 0;
  #failed = 0;
  /** Buffers for lines on their way to the disk, back once the file has them (reusable-buffers.ts). */
  readonly #lineBuffers = new ReusableBuffers(SPARE_BUFFERS, MAX_SPARE_BYTES);

  constructor(readonly path: string) {
    this.#out = createWriteStream(path, { flags: 'a' });
    // A broken disk must not take the agent down: count and carry on.
    this.#out.on('error', () => this.#failed++);
  }

  /**
   * Each write resolves once the file has the line (or the write failed, which the 'error' listener
   * counts): a writer that waits for its lines holds as many in memory as it has in flight. The stream itself
   * queues whatever it is given: under overload, at ~100 MB/s of JSON lines, writes that nobody
   * waited for held 700–900 MiB of lines waiting for the disk (benchmarks/RESULTS.md, "Overload").
   */
  writeBatch(request: object): Promise<void> {
    return this.writeLine(JSON.stringify(request));
  }

  /** A request already encoded as one line of JSON. */
  writeLine(json: string): Promise<void> {
    this.#lines++;
    return new Promise((resolve) => this.#out.write(`${json}\n`, () => resolve()));
  }

  /**
   * A request already encoded as one line of JSON in UTF-8, its newline included. `line` is copied
   * (it may be an encoder's buffer, reused at the next encode) into a buffer that comes back for
   * the next line once the file has this one.
   */
  writeLineBytes(line: Uint8Array): Promise<void> {
    const buf = this.#lineBuffers.copyOf(line);
    this.#lines++;
    return new Promise((resolve) => this.#out.write(buf, () => {
      this.#lineBuffers.release(buf);
      resolve();
    }));
  }

  stats(): { lines: number; writeErrors: number } {
    return { lines: this.#lines, writeErrors: this.#failed };
  }

  async close(): Promise<void> {
    this.#out.end();
    if (!this.#out.closed) await once(this.#out, 'close').catch(() => undefined);
  }
}
