// Ring buffer consumption: a native thread drains the kernel rings into batches; JS gets one call
// per batch and walks its records in place.
import type { BpfMap } from './map.js';
import { native, type NativeRingConsumer, type RingConsumerStats } from './native.js';

/** Layout of one record inside a batch (written by the native consumer). */
const HEADER_BYTES = 8;

/**
 * A batch of ring-buffer records: `u32 length | u32 ring index | payload | pad to 8`, repeated.
 * Valid during the onBatch call only: its pooled memory goes back to the consumer when the call
 * returns and the Buffer is detached (views kept past it read as empty). Copy what must outlive it.
 */
export class RecordBatch {
  readonly view: DataView;

  constructor(
    readonly buffer: Buffer,
    readonly count: number,
  ) {
    this.view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  }

  /**
   * Calls `fn` for each record with the batch's DataView and the record's payload offset and length:
   * no allocation per record.
   */
  forEach(fn: (view: DataView, offset: number, length: number, ring: number) => void): void {
    const v = this.view;
    const end = v.byteLength;
    for (let off = 0; off + HEADER_BYTES <= end;) {
      const len = v.getUint32(off, true);
      const ring = v.getUint32(off + 4, true);
      fn(v, off + HEADER_BYTES, len, ring);
      off += HEADER_BYTES + ((len + 7) & ~7);
    }
  }

  /** The first record's payload offset and length (as forEach gives them), or null in an empty batch. */
  first(): { offset: number; length: number } | null {
    if (this.view.byteLength < HEADER_BYTES) return null;
    return { offset: HEADER_BYTES, length: this.view.getUint32(0, true) };
  }

  /** Copies of each payload, for tests and slow paths. */
  records(): Array<{ ring: number; data: Buffer }> {
    const out: Array<{ ring: number; data: Buffer }> = [];
    this.forEach((_v, off, len, ring) => out.push({ ring, data: Buffer.from(this.buffer.subarray(off, off + len)) }));
    return out;
  }
}

export interface RingConsumerOptions {
  /** Called on the JS thread, once per batch. Exceptions are counted (`callbackErrors`), not fatal. */
  onBatch(batch: RecordBatch): void;
  /** Capacity of one batch; records larger than this are counted as oversize. Default 1 MiB. */
  batchBytes?: number;
  /**
   * Batches that may wait for JS. While all are taken, the batch being filled is held back (it
   * fills up rather than leaving half empty); a full batch that finds none free is dropped whole and
   * counted (droppedRecords), or see leaveInRing. Default 16.
   */
  maxPendingBatches?: number;
  /**
   * While every pending batch is taken and the one being filled is full, stop reading: the records
   * wait in the kernel rings, and what does not fit there is the producers' to handle (a program
   * can see its ring fill with bpf_ringbuf_query and shed or count before it loses anything). Nothing
   * is dropped here then but at close. Each such wait is counted (ringWaits). Default false.
   */
  leaveInRing?: boolean;
  /** A partly filled batch is delivered at most this long after its first record (unless JS is
   * behind, see maxPendingBatches). Default 10 ms. */
  flushMs?: number;
  /**
   * The rings are swept at least this often even when no producer woke the consumer, so programs
   * may submit with BPF_RB_NO_WAKEUP (waking a consumer per event is costly). Default 10 ms. Rings
   * whose producers submit with wake-ups need no sweep: a long period costs nothing there, as close()
   * wakes the consumer at once whatever its period.
   */
  pollMs?: number;
  /** Called once per batch's error, with the error. */
  onError?(error: unknown): void;
}

export interface RingBufferStats extends RingConsumerStats {
  callbackErrors: number;
}

/** Consumes one or more ring buffer maps; `ring` in each record is the index in `maps`. */
export class RingBufferConsumer {
  readonly #native: NativeRingConsumer;
  #closed = false;
  #callbackErrors = 0;
  /**
   * The native side hands one batch per event-loop turn (a ThreadSafeFunction would otherwise
   * deliver every batch waiting, and those that come meanwhile, in one turn, with no I/O completed
   * or timer run in between): after each, the next is asked for from a setImmediate.
   */
  #nextAsked = false;
  readonly #askNext = (): void => {
    this.#nextAsked = false;
    this.#native.next();
  };

  constructor(maps: Array<BpfMap<unknown, unknown> | number>, opts: RingConsumerOptions) {
    const fds = maps.map((m) => {
      if (typeof m === 'number') return m;
      if (m.type !== 'ringbuf') throw new TypeError(`map ${m.name} is a ${m.type}, not a ringbuf`);
      return m.fd;
    });
    if (fds.length === 0) throw new RangeError('RingBufferConsumer needs at least one ring buffer');
    const onBatch = (buf: Buffer, count: number): void => {
      try {
        opts.onBatch(new RecordBatch(buf, count));
      } catch (e) {
        this.#callbackErrors++;
        opts.onError?.(e);
      } finally {
        // The next batch once the event loop has turned (its I/O and timers between batches).
        if (!this.#nextAsked) {
          this.#nextAsked = true;
          setImmediate(this.#askNext);
        }
      }
    };
    this.#native = new native.NativeRingConsumer(
      fds,
      {
        batchBytes: opts.batchBytes ?? 1 << 20,
        maxPendingBatches: opts.maxPendingBatches ?? 16,
        flushMs: opts.flushMs ?? 10,
        pollMs: opts.pollMs ?? 10,
        leaveInRing: opts.leaveInRing ?? false,
      },
      onBatch,
    );
  }

  /** Counters stay readable after close. */
  stats(): RingBufferStats {
    return { ...this.#native.stats(), callbackErrors: this.#callbackErrors };
  }

  /**
   * Batches handed to JS and not yet through onBatch (stats().pendingBatches), without building the
   * stats object: cheap enough to ask with every batch.
   */
  pendingBatches(): number {
    return this.#native.pendingBatches();
  }

  /** Let the process exit while the consumer runs (an agent keeps it referenced). */
  unref(): this {
    if (!this.#closed) this.#native.unref();
    return this;
  }

  ref(): this {
    if (!this.#closed) this.#native.ref();
    return this;
  }

  /**
   * Stops the thread after a last drain of the rings. Batches already queued for JS are still
   * delivered on following event-loop turns: `closeAndFlush()` waits for them.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#native.close();
  }

  /** close(), then wait (bounded) until every queued batch has reached onBatch. */
  async closeAndFlush(timeoutMs = 5000): Promise<void> {
    this.close();
    const until = Date.now() + timeoutMs;
    while (this.#native.pendingBatches() > 0 && Date.now() < until) {
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
}
