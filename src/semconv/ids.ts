// Trace and span ids for spans Lantern starts itself (W3C Trace Context §3.2.2.3-4: random, lowercase
// hex, never all zero), given to a span as text and words at once (model/span-ids.ts).
import { randomFillSync } from 'node:crypto';
import { type SpanIdWords, setSpanId, setTraceId, spanIdFromHex, traceIdFromHex } from '../model/span-ids.js';

export interface IdSource {
  /** Gives `span` a new trace id: 32 lowercase hex digits, not all zero. */
  newTraceId(span: SpanIdWords): void;
  /** Gives `span` a new span id: 16 lowercase hex digits, not all zero. */
  newSpanId(span: SpanIdWords): void;
}

/**
 * Ids given as text by `traceId` and `spanId` (tests' fixed or counted ids), their words read from it.
 * Text that is not an id gives a span the encoders refuse, as it would be written.
 */
export function hexIdSource(traceId: () => string, spanId: () => string): IdSource {
  return {
    newTraceId: (span) => traceIdFromHex(span, traceId()),
    newSpanId: (span) => spanIdFromHex(span, spanId()),
  };
}

/**
 * Cryptographically random ids. Random bytes are drawn in blocks: one getrandom call per id would
 * cost more than building the span. Each block is made hex once, in one native call, and an id's
 * text is a slice of that text (V8 makes a slice of 13 characters or more a view of its parent, no
 * copy): a `toString('hex')` per id was ~3 % of the agent's JS thread. Its words are read from the
 * block's bytes. A block serves ~1,300 spans: each `randomFillSync` costs a crypto job's set-up in
 * Node (an object made, trace categories and locks looked at), and with 4 KiB blocks, drawn every
 * ~8 ms at 20k spans/s with its code gone cold, those were 2.6 % of the JS thread (perf), the bytes'
 * generation little of it. An id keeps its block's text (64 KiB) alive while it lives; ids outlive
 * their spans only in bounded places (the local view), where they share the blocks they were drawn from.
 */
export class RandomIdSource implements IdSource {
  readonly #pool = Buffer.alloc(32 * 1024);
  /**
   * The pool's words are read through a DataView: a Buffer's `readInt32LE`, looked up on
   * Buffer.prototype, was a generic property load (a LoadIC call) in the optimized code at every
   * word, six per span (~60 ns; the view's getInt32 is inlined).
   */
  readonly #words = new DataView(this.#pool.buffer, this.#pool.byteOffset, this.#pool.length);
  #hexPool = '';
  #pos = this.#pool.length;

  newTraceId(span: SpanIdWords): void {
    const at = this.#draw(16);
    const w = this.#words;
    // A word is its four bytes little-endian (span-ids.ts).
    setTraceId(span, this.#hexPool.slice(2 * at, 2 * at + 32), w.getInt32(at, true), w.getInt32(at + 4, true), w.getInt32(at + 8, true), w.getInt32(at + 12, true));
  }

  newSpanId(span: SpanIdWords): void {
    const at = this.#draw(8);
    const w = this.#words;
    setSpanId(span, this.#hexPool.slice(2 * at, 2 * at + 16), w.getInt32(at, true), w.getInt32(at + 4, true));
  }

  /** Where in the pool the next `bytes` random bytes are, not all zero. */
  #draw(bytes: number): number {
    for (;;) {
      if (this.#pos + bytes > this.#pool.length) {
        randomFillSync(this.#pool);
        this.#hexPool = this.#pool.toString('hex');
        this.#pos = 0;
      }
      const at = this.#pos;
      this.#pos += bytes;
      // All-zero ids are invalid: checked on the bytes, before any string is made.
      if (!allZero(this.#pool, at, at + bytes)) return at;
    }
  }
}

function allZero(b: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (b[i] !== 0) return false;
  return true;
}

export const randomIds: IdSource = new RandomIdSource();
