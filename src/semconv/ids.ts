// Trace and span ids for spans Lantern starts itself (W3C Trace Context §3.2.2.3-4: random, lowercase
// hex, never all zero).
import { randomFillSync } from 'node:crypto';

export interface IdSource {
  /** 32 lowercase hex digits, not all zero. */
  traceId(): string;
  /** 16 lowercase hex digits, not all zero. */
  spanId(): string;
}

/**
 * Cryptographically random ids. Random bytes are drawn in blocks: one getrandom call per id would
 * cost more than building the span. Each block is made hex once, in one native call, and an id is a
 * slice of that text (V8 makes a slice of 13 characters or more a view of its parent, no copy): a
 * `toString('hex')` per id was ~3 % of the agent's JS thread. A block serves ~1,300 spans: each
 * `randomFillSync` costs a crypto job's set-up in Node (an object made, trace categories and locks
 * looked at), and with 4 KiB blocks, drawn every ~8 ms at 20k spans/s with its code gone cold, those
 * were 2.6 % of the JS thread (perf), the bytes' generation little of it. An id keeps its block's
 * text (64 KiB) alive while it lives; ids outlive their spans only in bounded places (the local
 * view), where they share the blocks they were drawn from.
 */
export class RandomIdSource implements IdSource {
  readonly #pool = Buffer.alloc(32 * 1024);
  #hexPool = '';
  #pos = this.#pool.length;

  traceId(): string {
    return this.#hex(16);
  }

  spanId(): string {
    return this.#hex(8);
  }

  #hex(bytes: number): string {
    for (;;) {
      if (this.#pos + bytes > this.#pool.length) {
        randomFillSync(this.#pool);
        this.#hexPool = this.#pool.toString('hex');
        this.#pos = 0;
      }
      const at = this.#pos;
      this.#pos += bytes;
      // All-zero ids are invalid: checked on the bytes, before any string is made.
      if (!allZero(this.#pool, at, at + bytes)) return this.#hexPool.slice(2 * at, 2 * (at + bytes));
    }
  }
}

function allZero(b: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (b[i] !== 0) return false;
  return true;
}

export const randomIds: IdSource = new RandomIdSource();
