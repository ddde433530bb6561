// A bounded buffer in front of a Transport: callers push and return at once; a batch is sent when
// full or after a short delay, with up to `maxInFlight` batches in flight at once (a receiver's
// latency, not its throughput, would otherwise bound the export rate). When the backend is slower than the traffic the
// buffer fills and new items are dropped and counted: the agent must not grow without bound because a
// collector is down.
import type { SendResult } from './transport.js';

export interface BoundedQueueOptions<T> {
  /** Items waiting to be sent (the batch in flight not included). */
  capacity: number;
  maxBatch: number;
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

export class BoundedQueue<T> {
  readonly #o: BoundedQueueOptions<T>;
  #items: T[] = [];
  #inFlight = 0;
  #sending = 0;
  #timer: NodeJS.Timeout | null = null;
  #flushing = 0;
  #closed = false;
  #idleWaiters: Array<() => void> = [];
  #s = { accepted: 0, exported: 0, batches: 0, droppedQueueFull: 0, droppedRetriesExhausted: 0, droppedRejected: 0, droppedShutdown: 0, spilled: 0 };

  constructor(opts: BoundedQueueOptions<T>) {
    this.#o = { ...opts, capacity: Math.max(1, opts.capacity), maxBatch: Math.max(1, opts.maxBatch), maxInFlight: Math.max(1, opts.maxInFlight ?? 1) };
  }

  /** The share of the capacity taken by items waiting to be sent, 0 … 1. */
  get fill(): number {
    return this.#items.length / this.#o.capacity;
  }

  /** Items that fit now (0 once closed). */
  get room(): number {
    return this.#closed ? 0 : Math.max(0, this.#o.capacity - this.#items.length);
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
    const n = Math.min(this.room, items.length);
    for (let i = 0; i < n; i++) this.#items.push(items[i] as T);
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
    return { queued: this.#items.length, inFlight: this.#inFlight, ...this.#s };
  }

  #isIdle(): boolean {
    return this.#items.length === 0 && this.#sending === 0;
  }

  #schedule(): void {
    if (this.#sending >= this.#o.maxInFlight! || this.#items.length === 0) return;
    if (this.#items.length >= this.#o.maxBatch || this.#flushing > 0 || this.#o.delayMs <= 0) {
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
    let batch: T[] | null = this.#items.splice(0, this.#o.maxBatch);
    const count = batch.length;
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
    if (this.#items.length >= this.#o.maxBatch) this.#schedule();
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
