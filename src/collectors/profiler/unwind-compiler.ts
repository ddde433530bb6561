// Compiles binaries' .eh_frame into unwind rows on a worker thread (unwind-worker.ts), one file at
// a time, so that the agent's event loop never waits for a parse (node's binary: 1.2 s). The worker
// starts at the first request, has a bounded heap (a file that needs more fails, counted, and the
// worker is started again for the next), and ends after IDLE_MS without work so its memory goes
// back to the system between bursts of new binaries.
import { closeSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

export interface CompileRequest {
  id: number;
  /** An open descriptor of the file (the worker opens its own through /proc/self/fd; this one is closed here with the reply). */
  fd: number;
}

export interface SegmentInfo {
  offset: number;
  vaddr: number;
  filesz: number;
}

export type CompileReply =
  | { id: number; kind: 'table'; rows: Uint8Array; count: number; segments: SegmentInfo[]; ms: number }
  | { id: number; kind: 'none'; reason: 'go' | 'no-eh-frame' | 'high-addresses' | 'no-rows'; segments: SegmentInfo[]; ms: number }
  | { id: number; kind: 'error'; error: string; ms: number };

/** The worker ends after this long without a request. */
const IDLE_MS = 10_000;
/**
 * The worker thread's nice value: a compile (node's binary: ~1.2 s of CPU) is a burst the busy
 * programs being profiled should not pay for. At 10 (CFS weight 110 against 1024) it still gets ~10 %
 * of a core that nice-0 work keeps busy, so tables arrive within seconds on a loaded host.
 */
const WORKER_NICE = 10;
/** The worker's heap: streaming compile of node's .eh_frame peaks well below this. */
const WORKER_HEAP_MB = 96;

export class UnwindCompiler {
  #worker: Worker | null = null;
  #nextId = 1;
  readonly #inFlight = new Map<number, { fd: number; resolve: (r: CompileReply) => void }>();
  #idle: NodeJS.Timeout | null = null;
  #closed = false;
  readonly stats = { worker_starts: 0, worker_failures: 0 };

  /** Compiles the file open at `fd`, and closes `fd`. */
  compile(fd: number): Promise<CompileReply> {
    const id = this.#nextId++;
    if (this.#closed) return Promise.resolve({ id, kind: 'error', error: 'compiler closed', ms: 0 });
    if (this.#idle !== null) clearTimeout(this.#idle);
    this.#idle = null;
    const w = this.#start();
    return new Promise((resolve) => {
      this.#inFlight.set(id, { fd, resolve });
      // The descriptor stays open here until the reply: the worker only reads through it.
      w.postMessage({ id, fd } satisfies CompileRequest);
    });
  }

  /** A descriptor that will not be compiled after all. */
  discard(fd: number): void {
    closeQuietly(fd);
  }

  get busy(): number {
    return this.#inFlight.size;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#idle !== null) clearTimeout(this.#idle);
    const w = this.#worker;
    this.#worker = null;
    if (w !== null) await w.terminate();
    this.#failAll('compiler closed');
  }

  #start(): Worker {
    if (this.#worker !== null) return this.#worker;
    this.stats.worker_starts++;
    const w = new Worker(new URL('./unwind-worker.js', import.meta.url), {
      // Not the agent's flags: loader hooks (a test runner's) made each start take seconds.
      execArgv: [],
      workerData: { nice: WORKER_NICE },
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB, maxYoungGenerationSizeMb: 16 },
    });
    w.unref();
    w.on('message', (r: CompileReply) => {
      const job = this.#inFlight.get(r.id);
      if (job === undefined) return;
      this.#inFlight.delete(r.id);
      closeQuietly(job.fd);
      if (r.kind === 'table') r.rows = Buffer.from(r.rows.buffer, r.rows.byteOffset, r.rows.byteLength);
      job.resolve(r);
      if (this.#inFlight.size === 0 && !this.#closed) this.#idle = setTimeout(() => void this.#stopIdle(w), IDLE_MS).unref();
    });
    const failed = (why: string): void => {
      if (this.#worker !== w) return;
      this.#worker = null;
      this.stats.worker_failures++;
      this.#failAll(why);
    };
    w.on('error', (e) => failed(e.message));
    w.on('exit', (code) => failed(`worker exited (${code})`));
    this.#worker = w;
    return w;
  }

  async #stopIdle(w: Worker): Promise<void> {
    if (this.#worker !== w || this.#inFlight.size > 0) return;
    this.#worker = null;
    await w.terminate();
  }

  #failAll(error: string): void {
    for (const [id, job] of this.#inFlight) {
      closeQuietly(job.fd);
      job.resolve({ id, kind: 'error', error, ms: 0 });
    }
    this.#inFlight.clear();
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}
