// --otlp-file: every exported batch appended as one line of OTLP JSON (ExportLogsServiceRequest,
// ExportTraceServiceRequest, ...), the format of the OpenTelemetry Collector's file exporter.
import { type WriteStream, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { JsonWriter } from './json-writer.js';

/** Line writers kept for reuse (a line in flight each), and the largest buffer a kept one may have. */
const SPARE_WRITERS = 4;
const MAX_SPARE_BYTES = 8 << 20;

export class OtlpFileWriter {
  #out: WriteStream;
  #lines = 0;
  #failed = 0;
  /** Writers whose lines the file has: each writes a later line into the buffer it grew. */
  readonly #writers: JsonWriter[] = [];

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
   * A line of JSON in UTF-8, its newline included, that `encode` writes, in this turn, into a writer
   * of this file's and returns as chunks to write one after the other (views of that writer's bytes,
   * or of memory of the caller's: records' slabs, which must stay as they are until the returned
   * promise settles). The chunks go in one writev (the stream corked while they are handed over),
   * and the writer comes back for a later line once the file has them: a line encoded in a writer
   * shared by every line had to be copied (~1 MB per line of 1024 spans, a copy out of the cache on
   * the JS thread).
   */
  writeEncodedChunks(encode: (w: JsonWriter) => readonly Uint8Array[]): Promise<void> {
    const w = this.#writers.pop() ?? new JsonWriter();
    let chunks: readonly Uint8Array[];
    try {
      w.reset();
      chunks = encode(w);
    } catch (e) {
      this.#keep(w);
      throw e;
    }
    if (chunks.length === 0) {
      this.#keep(w);
      return Promise.resolve();
    }
    this.#lines++;
    return new Promise((resolve) => {
      const done = (): void => {
        this.#keep(w);
        resolve();
      };
      this.#out.cork();
      for (let i = 0; i < chunks.length - 1; i++) this.#out.write(chunks[i]!);
      this.#out.write(chunks[chunks.length - 1]!, done);
      this.#out.uncork();
    });
  }

  #keep(w: JsonWriter): void {
    if (this.#writers.length < SPARE_WRITERS && w.capacity <= MAX_SPARE_BYTES) this.#writers.push(w);
  }

  stats(): { lines: number; writeErrors: number } {
    return { lines: this.#lines, writeErrors: this.#failed };
  }

  async close(): Promise<void> {
    this.#out.end();
    if (!this.#out.closed) await once(this.#out, 'close').catch(() => undefined);
  }
}
