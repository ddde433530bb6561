// Compiles binaries' CFI (.eh_frame, .debug_frame) into unwind rows on a worker thread
// (unwind-worker.ts), one file at a time, so that the agent's event loop never waits for a parse
// (libLLVM's 1 M rows: ~0.13 s of CPU once the worker's code is optimized, ~0.25 s in a fresh worker;
// benchmarks/RESULTS.md, "compiling unwind tables"). The worker starts at the first request, has a
// bounded heap (a file that needs more fails, counted, and the worker is started again for the
// next), and ends after IDLE_MS without work so its memory goes back to the system between bursts
// of new binaries. Within a burst it is also ended once its isolate holds more than HELD_MAX_BYTES
// (see there), and started again for the next file.
//
// A table comes in slices (row-slices.ts): the worker answers the first pass with the table's row
// bound (the agent reserves that much kernel-side), then puts SLICE_ROWS-row slices in address
// order, as the second pass makes them, into one of SLOTS slots of memory the worker and the agent
// share, each written into the kernel straight from there and given back: neither side allocates a
// buffer per slice (transferred buffers were garbage the agent's V8 kept until a full GC: libLLVM's
// 11 MB of slices, the whole table again).
import { closeSync } from 'node:fs';
import v8 from 'node:v8';
import { Worker } from 'node:worker_threads';
import { UNWIND_ROW_SIZE } from '../../symbols/cfi-table.js';
import { type RowSlices, SliceQueue } from './row-slices.js';
import type { DebugFrameSource, FileTable, SegmentInfo } from './unwind-file.js';

export type { SegmentInfo } from './unwind-file.js';

/** Where to look for the binary's separate debug file (for its .debug_frame). */
export interface DebugFileWhere {
  /** The binary's path as its process sees it. */
  path: string;
  /** A descriptor of the process's root directory when it is not ours (closed here with the reply). */
  rootFd?: number;
  debugRoots: readonly string[];
}

/** The agent to the worker: a file to compile; one more slice wanted; no more wanted. */
export type WorkerRequest =
  | {
    type: 'compile';
    id: number;
    /** An open descriptor of the file (the worker opens its own through /proc/self/fd; this one is closed here once it has). */
    fd: number;
    debug?: DebugFileWhere;
  }
  /** The agent is done with a slot's slice. */
  | { type: 'free'; slot: number }
  | { type: 'cancel'; id: number };

type NoTable = { id: number; kind: 'none'; reason: Extract<FileTable, { kind: 'none' }>['reason']; segments: SegmentInfo[]; ms: number };
type Failed = { id: number; kind: 'error'; error: string; ms: number };
/** The first pass done: the table has at most rowBound rows. */
type Planned = { id: number; kind: 'table'; rowBound: number; segments: SegmentInfo[]; debugFrame: DebugFrameSource | null; cgo: boolean; ms: number };

/** The worker to the agent; the last message of a compile (end, none, error) says what its isolate holds. */
export type WorkerReply =
  | Planned
  /** `rows` rows in slot `slot`. */
  | { id: number; kind: 'slice'; slot: number; rows: number }
  | ((NoTable | Failed | { id: number; kind: 'end'; count: number; ms: number }) & {
    /** Bytes of buffers the worker's isolate held after the compile, live or not yet collected, the rows not counted. */
    held: number;
  });

export type CompileReply = ((NoTable | Failed) & { held?: number }) | (Planned & { slices: RowSlices });

/** Rows in a slice: 768 KiB. */
const SLICE_ROWS = 1 << 16;
/** One slice the agent writes while the worker makes the next. */
const SLOTS = 2;

/** What the worker is started with. */
export interface WorkerSetup {
  nice: number;
  /** SLOTS slots of sliceRows rows each. */
  slots: SharedArrayBuffer;
  sliceRows: number;
}

/** The worker ends after this long without a request. */
const IDLE_MS = 10_000;
/**
 * The worker thread's nice value: a compile (node's binary: ~0.15–0.25 s of CPU) is a burst the busy
 * programs being profiled should not pay for. At 10 (CFS weight 110 against 1024) it still gets ~10 %
 * of a core that nice-0 work keeps busy, so tables arrive within seconds on a loaded host.
 */
const WORKER_NICE = 10;
/** The worker's heap: streaming compile of node's .eh_frame peaks well below this. */
const WORKER_HEAP_MB = 96;
/**
 * The worker's young generation: a compile allocates few objects (its buffers are a Scratch), and
 * V8 kept growing the semi-spaces towards the 16 MB first set here. A burst of 80 new binaries
 * (UnwindTables and the worker alone, 3 runs each): peak 38–39 MiB over the start at 16, 33 at 2 or
 * 1, the same CPU.
 */
const WORKER_YOUNG_MB = 2;
/**
 * Garbage buffers a compile may leave in the worker, which V8 collects only when its isolate has
 * ~64 MB of such external memory. The compile proper leaves almost none (its sections are read in
 * windows and its buffers are the worker's Scratch, reused: node's compile leaves ~20 KB, libLLVM's
 * ~0.9 MB); what reads a section whole still does (a compressed .debug_frame, a debug file's). Before
 * the Scratch every compile left its sections and FDE index (~10 MB after libLLVM's), and a burst
 * of new binaries piled up 30–55 MiB. Past this bound the worker is ended (all of it freed at once)
 * and the next file has a fresh one (~15 MiB of isolate, ~50 ms of CPU to start, and its code is
 * optimized again).
 */
export const HELD_MAX_BYTES = 8 << 20;

interface Job {
  fds: number[];
  resolve: (r: CompileReply) => void;
  /** Once the first pass is done. */
  slices?: SliceQueue;
}

export class UnwindCompiler {
  #worker: Worker | null = null;
  #nextId = 1;
  readonly #inFlight = new Map<number, Job>();
  #idle: NodeJS.Timeout | null = null;
  /** The last worker ended: settles when its isolate is gone. */
  #ended: Promise<unknown> = Promise.resolve();
  #closed = false;
  readonly stats = { worker_starts: 0, worker_failures: 0, worker_recycles: 0 };
  readonly #idleMs: number;
  readonly #heldMaxBytes: number;
  readonly #sliceRows: number;

  /** The bounds are options for tests; the agent keeps the defaults. */
  constructor(opts: { idleMs?: number; heldMaxBytes?: number; sliceRows?: number } = {}) {
    this.#idleMs = opts.idleMs ?? IDLE_MS;
    this.#heldMaxBytes = opts.heldMaxBytes ?? HELD_MAX_BYTES;
    this.#sliceRows = opts.sliceRows ?? SLICE_ROWS;
  }

  /**
   * Compiles the file open at `fd`, and closes `fd` (and `debug.rootFd`). A table's reply comes after
   * the first pass; its rows follow through `slices`, which must be read to the end or cancelled.
   */
  compile(fd: number, debug?: DebugFileWhere): Promise<CompileReply> {
    const id = this.#nextId++;
    const fds = debug?.rootFd === undefined ? [fd] : [fd, debug.rootFd];
    if (this.#closed) {
      fds.forEach(closeQuietly);
      return Promise.resolve({ id, kind: 'error', error: 'compiler closed', ms: 0 });
    }
    if (this.#idle !== null) clearTimeout(this.#idle);
    this.#idle = null;
    return new Promise((resolve) => {
      this.#inFlight.set(id, { fds, resolve });
      // Once the worker ended last is gone: two isolates at once would be the peak HELD_MAX_BYTES
      // bounds. The descriptors stay open here until the reply: the worker only reads through them.
      void this.#ended.then(() => {
        if (!this.#inFlight.has(id)) return;
        const req: WorkerRequest = { type: 'compile', id, fd, ...(debug === undefined ? {} : { debug }) };
        this.#start().postMessage(req);
      });
    });
  }

  /** Descriptors that will not be compiled after all. */
  discard(fd: number, debug?: DebugFileWhere): void {
    closeQuietly(fd);
    if (debug?.rootFd !== undefined) closeQuietly(debug.rootFd);
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
    const slots = new SharedArrayBuffer(SLOTS * this.#sliceRows * UNWIND_ROW_SIZE);
    const w = withoutConcurrentRecompilation(() => new Worker(new URL('./unwind-worker.js', import.meta.url), {
      // Not the agent's flags: loader hooks (a test runner's) made each start take seconds.
      execArgv: [],
      workerData: { nice: WORKER_NICE, slots, sliceRows: this.#sliceRows } satisfies WorkerSetup,
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB, maxYoungGenerationSizeMb: WORKER_YOUNG_MB },
    }));
    w.unref();
    w.on('message', (r: WorkerReply) => this.#onReply(w, slots, r));
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

  #onReply(w: Worker, slots: SharedArrayBuffer, r: WorkerReply): void {
    const job = this.#inFlight.get(r.id);
    if (r.kind === 'slice') {
      const bytes = this.#sliceRows * UNWIND_ROW_SIZE;
      // A compile no one waits for (failed, closed): its slot is free at once.
      if (job?.slices === undefined) w.postMessage({ type: 'free', slot: r.slot } satisfies WorkerRequest);
      else job.slices.push(Buffer.from(slots, r.slot * bytes, r.rows * UNWIND_ROW_SIZE), r.slot);
      return;
    }
    if (job === undefined) return;
    // The worker has opened its own descriptors (and read the debug file) by its first answer.
    job.fds.forEach(closeQuietly);
    job.fds = [];
    if (r.kind === 'table') {
      const send = (m: WorkerRequest): void => {
        if (this.#worker === w) w.postMessage(m);
      };
      job.slices = new SliceQueue((slot) => send({ type: 'free', slot }), () => send({ type: 'cancel', id: r.id }));
      job.resolve({ ...r, slices: job.slices });
      return;
    }
    if (r.kind === 'end') job.slices?.finish({ count: r.count, ms: r.ms, held: r.held });
    else if (job.slices !== undefined) job.slices.fail(r.kind === 'error' ? r.error : 'no table after all');
    else job.resolve(r);
    this.#inFlight.delete(r.id);
    if (this.#inFlight.size > 0 || this.#closed) return;
    if (r.held > this.#heldMaxBytes) {
      this.stats.worker_recycles++;
      void this.#end(w);
    } else this.#idle = setTimeout(() => void this.#end(w), this.#idleMs).unref();
  }

  /** Ends `w` if it is still the worker and has nothing to do (a request since starts another). */
  async #end(w: Worker): Promise<void> {
    if (this.#worker !== w || this.#inFlight.size > 0) return;
    this.#worker = null;
    this.#ended = w.terminate();
    await this.#ended;
  }

  #failAll(error: string): void {
    for (const [id, job] of this.#inFlight) {
      job.fds.forEach(closeQuietly);
      if (job.slices !== undefined) job.slices.fail(error);
      else job.resolve({ id, kind: 'error', error, ms: 0 });
    }
    this.#inFlight.clear();
  }
}

/**
 * `start()`'s worker with an isolate that optimizes its hot code on its own thread. V8 gives an
 * isolate a concurrent optimizing compiler when --concurrent-recompilation is on as the isolate
 * starts (Isolate::Init), and its jobs run on the process's platform threads: at nice 0, not the
 * worker's 10, and in their own malloc arenas, which kept the compiler's memory after a burst of
 * new binaries (UnwindTables and the worker alone, 80 files: 27 against 33–35 MiB over the start,
 * 3 runs each, alternating; the same CPU). The flag is off while the worker's isolate starts and on again once it runs (the
 * agent's isolate already has its compiler); left alone when the agent was started with it set.
 */
function withoutConcurrentRecompilation(start: () => Worker): Worker {
  if (process.execArgv.some((a) => /concurrent[-_]recompilation/.test(a))) return start();
  v8.setFlagsFromString('--no-concurrent-recompilation');
  let restored = false;
  const restore = (): void => {
    if (!restored) v8.setFlagsFromString('--concurrent-recompilation');
    restored = true;
  };
  let w: Worker;
  try {
    w = start();
  } catch (e) {
    restore();
    throw e;
  }
  for (const ev of ['online', 'error', 'exit']) w.once(ev, restore);
  return w;
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}
