// A bounded buffer in front of a Transport: callers push and return at once; a batch is sent when
// full or after a short delay, with up to `maxInFlight` batches in flight at once (a receiver's
// latency, not its throughput, would otherwise bound the export rate). When the backend is slower than the traffic the
// buffer fills and new items are dropped and counted: the agent must not grow without bound because a
// collector is down.
import type { SendResult } from './transport.js';

export interface BoundedQueueOptions<T> {
  /** Items waiting to be sent (the batch in flight not included). */
  capacity: number;
  /**
   * Their bytes at most, by `bytesOf` (both or neither): what a queue holds in memory follows the
   * size of its items, not their count (a span in OTLP JSON is ~3 times its protobuf).
   */
  capacityBytes?: number;
  bytesOf?: (item: T) => number;
  maxBatch: number;
  /**
   * A batch's bytes at most (with capacityBytes; an item larger goes alone): a batch is sent when it
   * has maxBatch items or this many bytes, so that the count can be large (each batch a request,
   * whose cost does not depend on its size) while a request stays well under what a receiver takes.
   */
  maxBatchBytes?: number;
  /** How long a partial batch waits for more items. */
  delayMs: number;
  /** Batches sent concurrently; default 1. */
  maxInFlight?: number;
  send(batch: T[]): Promise<SendResult>;
  /** Told about each failed batch (for logging). */
  onFailure?(result: SendResult & { ok: false }, items: number): void;
  /** Told when pushed items did not fit (for logging; they are counted in droppedQueueFull). */
  onQueueFull?(dropped: number): void;
  /** At close, what is still queued: returns how many it kept elsewhere (disk buffer); the rest are dropped. */
  onClose?(items: T[]): number;
}

export interface QueueStats {
  queued: number;
  /** Their bytes, with capacityBytes. */
  queuedBytes?: number;
  inFlight: number;
  accepted: number;
  exported: number;
  batches: number;
  droppedQueueFull: number;
  droppedRetriesExhausted: number;
  droppedRejected: number;
  droppedShutdown: number;
  /** Sent to the disk buffer instead (SendResult.spilled, or kept by onClose). */
  spilled: number;
}

/**
 * How many of `items` from `from` on make one batch: `maxBatch` at most, and no more than
 * `maxBatchBytes` by `bytesOf` when both are given (one at least, however large).
 */
export function batchLength<T>(items: readonly T[], from: number, maxBatch: number, maxBatchBytes?: number, bytesOf?: (item: T) => number): number {
  const end = Math.min(items.length, from + Math.max(1, maxBatch));
  if (maxBatchBytes === undefined || bytesOf === undefined || end <= from) return end - from;
  let bytes = bytesOf(items[from] as T);
  let i = from + 1;
  for (; i < end; i++) {
    bytes += bytesOf(items[i] as T);
    if (bytes > maxBatchBytes) break;
  }
  return i - from;
}

export class BoundedQueue<T> {
  readonly #o: BoundedQueueOptions<T>;
  #items: T[] = [];
  /** The bytes of #items (with capacityBytes), and of every item accepted (their average sizes room). */
  #bytes = 0;
  #bytesAccepted = 0;
  #inFlight = 0;
  #sending = 0;
  #timer: NodeJS.Timeout | null = null;
  #flushing = 0;
  #closed = false;
  #idleWaiters: Array<() => void> = [];
  #s = { accepted: 0, exported: 0, batches: 0, droppedQueueFull: 0, droppedRetriesExhausted: 0, droppedRejected: 0, droppedShutdown: 0, spilled: 0 };

  constructor(opts: BoundedQueueOptions<T>) {
    const capacity = Math.max(1, opts.capacity);
    const { capacityBytes, maxBatchBytes } = opts;
    this.#o = {
      ...opts, capacity,
      // A full queue is a whole batch: with a batch larger than the queue, a full queue waited for
      // its delay, taking nothing (a backend back from an outage found its queue full for up to a
      // second, and the span shedder shed what came meanwhile).
      maxBatch: Math.max(1, Math.min(opts.maxBatch, capacity)),
      ...(maxBatchBytes !== undefined && capacityBytes !== undefined ? { maxBatchBytes: Math.min(maxBatchBytes, capacityBytes) } : {}),
      maxInFlight: Math.max(1, opts.maxInFlight ?? 1),
    };
  }

  /** The share of the capacity (in items, or in bytes if that is more) taken by items waiting to be sent, 0 … 1. */
  get fill(): number {
    const items = this.#items.length / this.#o.capacity;
    const cap = this.#o.capacityBytes;
    return cap === undefined ? items : Math.max(items, this.#bytes / cap);
  }

  /** Items that fit now (0 once closed); with capacityBytes, items of the average size so far. */
  get room(): number {
    if (this.#closed) return 0;
    const items = Math.max(0, this.#o.capacity - this.#items.length);
    const cap = this.#o.capacityBytes;
    if (cap === undefined || this.#s.accepted === 0) return items;
    return Math.min(items, Math.max(0, Math.floor((cap - this.#bytes) / (this.#bytesAccepted / this.#s.accepted))));
  }

  /**
   * Never throws, never waits. Returns how many items were accepted. `offered`: how many the caller
   * had, when it hands over only the first `room` of them (the rest count as dropped).
   */
  push(items: readonly T[], offered = items.length): number {
    if (this.#closed) {
      this.#s.droppedShutdown += offered;
      return 0;
    }
    const cap = this.#o.capacityBytes;
    const bytesOf = this.#o.bytesOf;
    let n = Math.min(Math.max(0, this.#o.capacity - this.#items.length), items.length);
    if (cap !== undefined && bytesOf !== undefined) {
      // In order, while they fit (one at least into an empty queue, however large).
      let i = 0;
      for (; i < n; i++) {
        const b = bytesOf(items[i] as T);
        if (this.#bytes + b > cap && this.#items.length > 0) break;
        this.#items.push(items[i] as T);
        this.#bytes += b;
        this.#bytesAccepted += b;
      }
      n = i;
    } else {
      for (let i = 0; i < n; i++) this.#items.push(items[i] as T);
    }
    this.#s.accepted += n;
    const dropped = Math.max(offered, items.length) - n;
    this.#s.droppedQueueFull += dropped;
    if (dropped > 0) {
      try {
        this.#o.onQueueFull?.(dropped);
      } catch {
        // a logging hook must not stop the queue
      }
    }
    this.#schedule();
    return n;
  }

  /** Sends everything queued now; resolves true when drained, false when the timeout came first. */
  async flush(timeoutMs: number): Promise<boolean> {
    this.#flushing++;
    try {
      this.#schedule();
      if (this.#isIdle()) return true;
      let timer: NodeJS.Timeout | undefined;
      const idle = new Promise<boolean>((resolve) => this.#idleWaiters.push(() => resolve(true)));
      const late = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), Math.max(0, timeoutMs));
      });
      const drained = await Promise.race([idle, late]);
      clearTimeout(timer);
      return drained;
    } finally {
      this.#flushing--;
    }
  }

  /** Flushes within the timeout, then refuses new items; whatever is still queued is dropped and counted. */
  async close(timeoutMs: number): Promise<void> {
    if (!this.#closed) {
      await this.flush(timeoutMs);
      this.#closed = true;
    }
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const left = this.#items;
    this.#items = [];
    this.#bytes = 0;
    let kept = 0;
    if (left.length > 0 && this.#o.onClose !== undefined) {
      try {
        kept = Math.min(left.length, this.#o.onClose(left));
      } catch {
        kept = 0;
      }
    }
    this.#s.spilled += kept;
    this.#s.droppedShutdown += left.length - kept;
  }

  stats(): QueueStats {
    return { queued: this.#items.length, ...(this.#o.capacityBytes !== undefined ? { queuedBytes: this.#bytes } : {}), inFlight: this.#inFlight, ...this.#s };
  }

  #isIdle(): boolean {
    return this.#items.length === 0 && this.#sending === 0;
  }

  /** Whether a whole batch waits: maxBatch items, or maxBatchBytes. */
  #batchReady(): boolean {
    const maxBytes = this.#o.maxBatchBytes;
    return this.#items.length >= this.#o.maxBatch || (maxBytes !== undefined && this.#o.capacityBytes !== undefined && this.#bytes >= maxBytes);
  }

  /** How many of the first items make the next batch (one at least). */
  #batchLength(): number {
    const o = this.#o;
    // All that waits is within the bytes: no need to count them.
    if (o.capacityBytes === undefined || o.maxBatchBytes === undefined || this.#bytes <= o.maxBatchBytes) return Math.min(this.#items.length, o.maxBatch);
    return batchLength(this.#items, 0, o.maxBatch, o.maxBatchBytes, o.bytesOf);
  }

  #schedule(): void {
    if (this.#sending >= this.#o.maxInFlight! || this.#items.length === 0) return;
    if (this.#batchReady() || this.#flushing > 0 || this.#o.delayMs <= 0) {
      if (this.#timer !== null) clearTimeout(this.#timer);
      this.#timer = null;
      void this.#sendOne();
    } else if (this.#timer === null) {
      this.#timer = setTimeout(() => {
        this.#timer = null;
        void this.#sendOne();
      }, this.#o.delayMs);
      // A timer must not keep the process alive; shutdown() flushes what is left.
      this.#timer.unref();
    }
  }

  async #sendOne(): Promise<void> {
    if (this.#sending >= this.#o.maxInFlight! || this.#items.length === 0) return;
    this.#sending++;
    // Only the count is kept past the send: the items themselves (spans) can die once encoded,
    // not when the backend answers (a slow receiver otherwise kept every span in flight alive for
    // its round trip).
    let batch: T[] | null = this.#items.splice(0, this.#batchLength());
    const count = batch.length;
    const bytesOf = this.#o.bytesOf;
    if (this.#o.capacityBytes !== undefined && bytesOf !== undefined) for (const item of batch) this.#bytes -= bytesOf(item);
    this.#inFlight += count;
    const failed = (e: unknown): SendResult => ({ ok: false, retryable: false, error: e instanceof Error ? e : new Error(String(e)) });
    let sending: Promise<SendResult>;
    try {
      sending = this.#o.send(batch);
    } catch (e) {
      sending = Promise.resolve(failed(e));
    }
    batch = null;
    // More full batches waiting: start the next one now (after this one, so batches go in order).
    if (this.#batchReady()) this.#schedule();
    let r: SendResult;
    try {
      r = await sending;
    } catch (e) {
      r = failed(e);
    }
    this.#s.batches++;
    if (r.ok) this.#s.exported += count;
    else if (r.spilled === true) this.#s.spilled += count;
    else {
      if (r.aborted) this.#s.droppedShutdown += count;
      else if (r.retryable) this.#s.droppedRetriesExhausted += count;
      else this.#s.droppedRejected += count;
      try {
        this.#o.onFailure?.(r, count);
      } catch {
        // a logging hook must not stop the queue
      }
    }
    this.#inFlight -= count;
    this.#sending--;
    if (this.#items.length > 0) {
      this.#schedule();
    } else if (this.#sending === 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}
