// --otlp-file: every exported batch appended as one line of OTLP JSON (ExportLogsServiceRequest,
// ExportTraceServiceRequest, ...), the format of the OpenTelemetry Collector's file exporter.
import { type WriteStream, createWriteStream } from 'node:fs';
import { once } from 'node:events';

export class OtlpFileWriter {
  #out: WriteStream;
  #lines = 0;
  #failed = 0;

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

  /** A request already encoded as one line of JSON in UTF-8, its newline included. */
  writeLineBytes(line: Uint8Array): void {
    this.#out.write(line);
    this.#lines++;
  }

  stats(): { lines: number; writeErrors: number } {
    return { lines: this.#lines, writeErrors: this.#failed };
  }

  async close(): Promise<void> {
    this.#out.end();
    if (!this.#out.closed) await once(this.#out, 'close').catch(() => undefined);
  }
}
