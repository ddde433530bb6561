// Export requests a network destination could not take, kept on disk and sent again oldest first
// once it answers — across agent restarts (what is on disk at start is replayed). Bounded in bytes
// like the Collector's persistent sending queue: past the bound the oldest requests are deleted,
// and their records counted as dropped.
//
// One directory per signal; one file per request: the encoded body exactly as the transport sends
// it, named `<sequence>-<records>.otlp` so the order and the record count survive a restart without
// reading the files. A file is written under a temporary name and renamed, so a crash leaves whole
// requests only (a leftover `.tmp` is deleted at start).
import { mkdirSync, readFileSync, readdirSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { backoffDelay } from './retrying-transport.js';
import type { SendResult, Transport } from './transport.js';

export interface DiskBufferStats {
  /** Records written to disk. */
  spilled: number;
  /** Records sent from disk and acknowledged. */
  replayed: number;
  /** Records deleted unsent: the bound was reached (oldest first), or one request was larger than it. */
  droppedFull: number;
  /** Records the backend refused for good (a non-retryable answer to a replayed request). */
  droppedRejected: number;
  /** Records on disk now, and the bytes and files holding them. */
  pendingRecords: number;
  bytes: number;
  files: number;
  /** Records found on disk at start (an earlier run's). */
  recovered: number;
  /** Replay attempts that failed and were tried again later. */
  replayFailures: number;
  writeErrors: number;
}

export interface DiskBufferOptions {
  dir: string;
  maxBytes: number;
  /** One attempt per call; the buffer retries with its own backoff (1 s doubling to 30 s, jittered). */
  transport: Transport<Uint8Array>;
  onError?(what: string, e: Error): void;
}

interface Entry {
  seq: number;
  records: number;
  bytes: number;
  name: string;
}

const NAME = /^(\d{16})-(\d+)\.otlp$/;
const BACKOFF = { maxAttempts: Infinity, initialBackoffMs: 1000, maxBackoffMs: 30_000, multiplier: 2, jitter: 0.2, maxElapsedMs: Infinity };

export class DiskBuffer {
  readonly #o: DiskBufferOptions;
  #entries: Entry[] = [];
  #bytes = 0;
  #nextSeq = 0;
  /** The file being sent: never evicted under it. */
  #sending: Entry | null = null;
  #replay: Promise<void> | null = null;
  /** Ends the backoff wait at once (stop). */
  #interrupt: (() => void) | null = null;
  #stopped = false;
  #s = { spilled: 0, replayed: 0, droppedFull: 0, droppedRejected: 0, recovered: 0, replayFailures: 0, writeErrors: 0 };

  constructor(o: DiskBufferOptions) {
    this.#o = o;
    mkdirSync(o.dir, { recursive: true, mode: 0o700 });
    for (const name of readdirSync(o.dir)) {
      const m = NAME.exec(name);
      if (m === null) {
        if (name.endsWith('.tmp')) this.#unlink(name);
        continue;
      }
      try {
        const bytes = statSync(join(o.dir, name)).size;
        this.#entries.push({ seq: Number(m[1]), records: Number(m[2]), bytes, name });
        this.#bytes += bytes;
      } catch {
        // gone meanwhile
      }
    }
    this.#entries.sort((a, b) => a.seq - b.seq);
    this.#nextSeq = (this.#entries.at(-1)?.seq ?? -1) + 1;
    this.#s.recovered = this.#entries.reduce((n, e) => n + e.records, 0);
    // A smaller bound than the last run's: the oldest go now.
    this.#evict(0);
    if (this.#entries.length > 0) this.#startReplay();
  }

  /** Requests wait on disk: new ones go behind them (oldest first), not to the network. */
  get pending(): boolean {
    return this.#entries.length > 0;
  }

  /** Keeps one encoded request of `records` records; false when it could not be kept (counted). */
  write(body: Uint8Array, records: number): boolean {
    if (body.length > this.#o.maxBytes) {
      this.#s.droppedFull += records;
      return false;
    }
    this.#evict(body.length);
    const seq = this.#nextSeq++;
    const name = `${String(seq).padStart(16, '0')}-${records}.otlp`;
    try {
      const tmp = join(this.#o.dir, `${name}.tmp`);
      writeFileSync(tmp, body, { mode: 0o600 });
      renameSync(tmp, join(this.#o.dir, name));
    } catch (e) {
      this.#s.writeErrors++;
      this.#s.droppedFull += records;
      this.#o.onError?.('write', e as Error);
      return false;
    }
    this.#entries.push({ seq, records, bytes: body.length, name });
    this.#bytes += body.length;
    this.#s.spilled += records;
    if (!this.#stopped) this.#startReplay();
    return true;
  }

  /** Oldest first, never the file being sent, until `incoming` more bytes fit. */
  #evict(incoming: number): void {
    while (this.#bytes + incoming > this.#o.maxBytes) {
      const i = this.#entries.findIndex((e) => e !== this.#sending);
      if (i < 0) return;
      const [e] = this.#entries.splice(i, 1) as [Entry];
      this.#bytes -= e.bytes;
      this.#s.droppedFull += e.records;
      this.#unlink(e.name);
    }
  }

  #startReplay(): void {
    // A running loop takes new files in turn; a new write does not cut its backoff short.
    if (this.#replay !== null) return;
    this.#replay = this.#replayLoop().finally(() => (this.#replay = null));
  }

  async #replayLoop(): Promise<void> {
    let failures = 0;
    while (!this.#stopped && this.#entries.length > 0) {
      const e = this.#entries[0] as Entry;
      let body: Buffer;
      try {
        body = readFileSync(join(this.#o.dir, e.name));
      } catch (err) {
        this.#remove(e);
        this.#s.droppedFull += e.records; // unreadable: lost, and said so
        this.#o.onError?.('read', err as Error);
        continue;
      }
      this.#sending = e;
      let r: SendResult;
      try {
        r = await this.#o.transport.send(body);
      } catch (err) {
        r = { ok: false, retryable: false, error: err as Error };
      } finally {
        this.#sending = null;
      }
      if (r.ok || !r.retryable) {
        if (this.#entries.includes(e)) {
          this.#remove(e);
          if (r.ok) this.#s.replayed += e.records;
          else this.#s.droppedRejected += e.records;
        }
        failures = 0;
        continue;
      }
      this.#s.replayFailures++;
      failures++;
      await this.#sleep(r.retryAfterMs ?? backoffDelay(BACKOFF, failures, Math.random()));
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.#stopped) return resolve();
      const done = (): void => {
        clearTimeout(timer);
        this.#interrupt = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      this.#interrupt = done;
    });
  }

  #remove(e: Entry): void {
    const i = this.#entries.indexOf(e);
    if (i >= 0) this.#entries.splice(i, 1);
    this.#bytes -= e.bytes;
    this.#unlink(e.name);
  }

  #unlink(name: string): void {
    try {
      unlinkSync(join(this.#o.dir, name));
    } catch {
      // already gone
    }
  }

  /** Ends replay (the send in progress, if any, is awaited by the caller's deadline); files stay for the next run. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#interrupt?.();
    await this.#replay;
  }

  stats(): DiskBufferStats {
    return {
      ...this.#s,
      pendingRecords: this.#entries.reduce((n, e) => n + e.records, 0),
      bytes: this.#bytes,
      files: this.#entries.length,
    };
  }
}
