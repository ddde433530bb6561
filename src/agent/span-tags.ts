// Span-aware profiles, user side: which span each served HTTP/1 exchange became, under the tag the
// socket tracer put on the serving thread (bpf/sockets.bpf.c, tag_serving_thread: the connection's
// generation << 16 | the request's ordinal on it). The profiler asks at each drain, seconds after
// its samples, so entries are kept for `retentionMs`; at most `max` of them.
import type { SpanRef, SpanTagResolver } from '../collectors/profiler/span-tags.js';
import type { Exchange } from '../model/exchange.js';
import type { SpanRecord } from '../model/span.js';

export function spanTag(generation: number, ordinal: number): bigint {
  return (BigInt(generation) << 16n) | BigInt(ordinal & 0xffff);
}

export interface SpanTagIndexOptions {
  max?: number;
  retentionMs?: number;
}

export class SpanTagIndex implements SpanTagResolver {
  /** Insertion order is age order: the oldest entries are at the front. */
  readonly #spans = new Map<string, { span: SpanRecord; atMs: number }>();
  readonly #max: number;
  readonly #retentionMs: number;

  constructor(opts: SpanTagIndexOptions = {}, private readonly now: () => number = Date.now) {
    this.#max = opts.max ?? 65_536;
    this.#retentionMs = opts.retentionMs ?? 60_000;
  }

  /** A span built from an exchange; only server spans of HTTP/1 exchanges have tags. */
  note(ex: Exchange, span: SpanRecord): void {
    if (ex.protocol !== 'http1' || span.kind !== 'server') return;
    const key = `${ex.connection.pid}:${spanTag(ex.connection.generation, ex.ordinal)}`;
    this.#spans.delete(key);
    // The record itself: the linker may still make it a child of its client span (new trace id).
    this.#spans.set(key, { span, atMs: this.now() });
    this.#expire();
  }

  resolve(pid: number, tag: bigint): SpanRef | undefined {
    this.#expire();
    const e = this.#spans.get(`${pid}:${tag}`);
    return e === undefined ? undefined : { traceId: e.span.traceId, spanId: e.span.spanId, spanName: e.span.name };
  }

  get size(): number {
    return this.#spans.size;
  }

  #expire(): void {
    const cutoff = this.now() - this.#retentionMs;
    for (const [key, e] of this.#spans) {
      if (this.#spans.size <= this.#max && e.atMs >= cutoff) break;
      this.#spans.delete(key);
    }
  }
}
