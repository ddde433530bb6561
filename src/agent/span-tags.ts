// Span-aware profiles, user side: which server span a thread tag stands for. The socket tracer tags
// a thread when it reads a request (bpf/sockets.bpf.c, tag_serving_thread): the connection's
// generation (low 32 bits) << 32 | the time of that read, CLOCK_MONOTONIC microseconds (low 32
// bits). A server span starts at the syscall that carried its request's first byte, timed a few
// microseconds after the tag in the same syscall-exit handler: the span of that connection whose start
// is nearest the tag's time (within MATCH_US), and which had not ended by then, is the one. For
// HTTP/2, whose reads also carry frames of streams already open, a tag that starts no span stands
// for the latest stream open at its time.
// Every protocol with server spans works alike (HTTP/1, HTTP/2 and gRPC, PostgreSQL, MySQL, Redis,
// and their TLS plaintext): no ordinal to keep in step with each protocol's own. Reads that start
// no span (a login, a startup message) resolve to nothing; pipelined requests share their first's tag.
//
// The profiler asks at each drain, seconds after its samples, so entries are kept for
// `retentionMs`; at most `max` of them. Past `max`, short spans go first: a span shorter than
// SHORT_US rarely holds a sample (one at 99 Hz every ~10 ms of CPU), and a burst of them (a busy
// Redis serving 100k SET/GET) evicted by age alone would push out the long request that did, before
// the drain that asks for it.
//
// An entry holds its span only until the linker has released it (`settle`): the linker may still
// make a server span the child of its client span (a new trace id) until then. After that it keeps
// what a sample is labelled with, not the span: at 10k server spans/s a full index held 65,536 whole
// spans (attributes, strings, times) for seconds, every one promoted to V8's old generation.
import type { SpanRef, SpanTagResolver } from '../collectors/profiler/span-tags.js';
import type { Exchange } from '../model/exchange.js';
import type { SpanRecord } from '../model/span.js';
import { Fifo } from '../fifo.js';

/** How far a span's start may be from the tag's time: the two are taken in one syscall-exit handler. */
export const MATCH_US = 1000;
const U32 = 0x1_0000_0000;
/** Spans shorter than this are evicted before longer ones when the index is full. */
export const SHORT_US = 1000;

/** The tag the kernel would give a read at `monoUs` on connection `generation` (tests). */
export function spanTag(generation: number, monoUs: number): bigint {
  return (BigInt(generation % U32) << 32n) | BigInt(Math.floor(monoUs) % U32);
}

/** a − b for 32-bit wrapping microsecond counters, in −2^31..2^31. */
function diff32(a: number, b: number): number {
  const d = (a - b) % U32;
  return d >= U32 / 2 ? d - U32 : d < -U32 / 2 ? d + U32 : d;
}

interface Entry {
  conn: string;
  /** CLOCK_MONOTONIC µs. */
  startUs: number;
  endUs: number;
  /** The span until it is settled (final), then null. */
  span: SpanRecord | null;
  /** What the span resolves to, made when it is settled. */
  ref: SpanRef | null;
  atMs: number;
  /** Forgotten (expired or evicted): stepped over in its connection's list. */
  gone: boolean;
}

/** What a sample is labelled with: the span's ids, name, route and method. */
function spanRef(span: SpanRecord): SpanRef {
  const ref: SpanRef = { traceId: span.traceId, spanId: span.spanId, spanName: span.name };
  const route = span.attributes['http.route'];
  if (typeof route === 'string') ref.httpRoute = route;
  const method = span.attributes['rpc.method'];
  if (typeof method === 'string') ref.rpcMethod = method;
  return ref;
}

export interface SpanTagIndexOptions {
  max?: number;
  retentionMs?: number;
  /** wall − monotonic ns, as the socket tracer converted its timestamps (its KernelClock). */
  clockOffsetNs?: bigint;
}

export class SpanTagIndex implements SpanTagResolver {
  /** Per connection (`pid:generation`), entries in start order. */
  readonly #byConn = new Map<string, ConnectionSpans>();
  /** Entries in insertion order, the oldest first: short spans and the others apart. */
  readonly #short = new Fifo<Entry>();
  readonly #long = new Fifo<Entry>();
  /** Entries whose span the linker has not released yet, by span. */
  readonly #unsettled = new Map<SpanRecord, Entry>();
  #size = 0;
  readonly #max: number;
  readonly #retentionMs: number;
  readonly #offsetNs: bigint;

  constructor(opts: SpanTagIndexOptions = {}, private readonly now: () => number = Date.now) {
    this.#max = opts.max ?? 65_536;
    this.#retentionMs = opts.retentionMs ?? 60_000;
    this.#offsetNs = opts.clockOffsetNs ?? 0n;
  }

  /** A span built from an exchange; only server spans are looked up. */
  note(ex: Exchange, span: SpanRecord): void {
    if (span.kind !== 'server') return;
    const conn = `${ex.connection.pid}:${ex.connection.generation % U32}`;
    const e: Entry = {
      conn, span, ref: null, atMs: this.now(), gone: false,
      // The record itself: the linker may still make it a child of its client span (new trace id).
      startUs: Number((span.startTimeUnixNano - this.#offsetNs) / 1000n),
      endUs: Number((span.endTimeUnixNano - this.#offsetNs) / 1000n),
    };
    let list = this.#byConn.get(conn);
    if (list === undefined) this.#byConn.set(conn, (list = new ConnectionSpans()));
    list.insert(e);
    (e.endUs - e.startUs < SHORT_US ? this.#short : this.#long).push(e);
    this.#unsettled.set(span, e);
    this.#size++;
    this.#expire();
  }

  /** Spans the linker released, final now: their entries keep only what samples are labelled with. */
  settle(spans: readonly SpanRecord[]): void {
    if (this.#unsettled.size === 0) return;
    for (const s of spans) {
      if (s.kind !== 'server') continue;
      const e = this.#unsettled.get(s);
      if (e === undefined) continue;
      this.#unsettled.delete(s);
      e.ref = spanRef(s);
      e.span = null;
    }
  }

  resolve(pid: number, tag: bigint): SpanRef | undefined {
    this.#expire();
    const list = this.#byConn.get(`${pid}:${Number(tag >> 32n)}`);
    const last = list?.latestStart();
    if (list === undefined || last === undefined) return undefined;
    // The tag's time on the full clock: the one nearest the connection's latest span.
    const t = last - diff32(last, Number(tag & 0xffffffffn));
    const e = list.nearestStart(t) ?? list.openAt(t);
    if (e === undefined) return undefined;
    return e.ref ?? spanRef(e.span!);
  }

  get size(): number {
    return this.#size;
  }

  #expire(): void {
    const cutoff = this.now() - this.#retentionMs;
    for (let e = this.#short.oldest(); e !== undefined && e.atMs < cutoff; e = this.#short.oldest()) this.#forget(this.#short.shift()!);
    for (let e = this.#long.oldest(); e !== undefined && e.atMs < cutoff; e = this.#long.oldest()) this.#forget(this.#long.shift()!);
    while (this.#size > this.#max) this.#forget((this.#short.length > 0 ? this.#short : this.#long).shift()!);
  }

  #forget(e: Entry): void {
    this.#size--;
    if (e.span !== null) this.#unsettled.delete(e.span);
    const list = this.#byConn.get(e.conn);
    if (list !== undefined && list.forget(e) === 0) this.#byConn.delete(e.conn);
  }
}

/**
 * One connection's entries in start order, `#items[#head..]`. A forgotten entry is marked and
 * stepped over, not spliced out: the index forgets the oldest entries first, and a splice per
 * forget moved the whole list (a keep-alive connection holds thousands: ~10 µs per span).
 */
class ConnectionSpans {
  #items: Entry[] = [];
  #head = 0;
  #live = 0;

  insert(e: Entry): void {
    // Spans complete about in start order (HTTP/2 streams not quite): insert from the end.
    let i = this.#items.length;
    while (i > this.#head && this.#items[i - 1]!.startUs > e.startUs) i--;
    if (i === this.#items.length) this.#items.push(e);
    else this.#items.splice(i, 0, e);
    this.#live++;
  }

  /** Marks `e` forgotten; returns the entries left. */
  forget(e: Entry): number {
    e.gone = true;
    this.#live--;
    const items = this.#items;
    while (this.#head < items.length && items[this.#head]!.gone) this.#head++;
    // Forgotten entries behind live ones (a short span evicted before an older long one) are
    // dropped once they outnumber the live ones; the stepped-over front once it dominates.
    const marked = items.length - this.#head - this.#live;
    if (marked > this.#live + 64) {
      this.#items = items.filter((x) => !x.gone);
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > items.length) {
      this.#items = items.slice(this.#head);
      this.#head = 0;
    }
    return this.#live;
  }

  latestStart(): number | undefined {
    for (let i = this.#items.length - 1; i >= this.#head; i--) if (!this.#items[i]!.gone) return this.#items[i]!.startUs;
    return undefined;
  }

  /**
   * The span that began at the read the tag was taken at. Not one that ended before that read: it is
   * the exchange before on the connection, which starts within MATCH_US when the client sends its
   * next request at once (redis-cli's EVAL after its AUTH's reply) — and until the tag's own span is
   * built, samples of a request still running (resolved at a drain) went to that one.
   */
  nearestStart(t: number): Entry | undefined {
    const i = this.#firstAtOrAfter(t);
    let best: Entry | undefined;
    for (const e of [this.#present(i - 1, -1), this.#present(i, 1)]) {
      if (e === undefined || Math.abs(e.startUs - t) > MATCH_US || e.endUs < t) continue;
      if (best === undefined || Math.abs(e.startUs - t) < Math.abs(best.startUs - t)) best = e;
    }
    return best;
  }

  /**
   * HTTP/2 and a request read in several turns: the latest span open at `t`. Open means not yet
   * ended: a read just after a span's end (a client's WINDOW_UPDATE, or the next request whose own
   * span is not built yet) is not that span's — the next request's samples, resolved while it runs,
   * went to the request before it. Such a tag resolves once its own span is noted.
   */
  openAt(t: number): Entry | undefined {
    const i = this.#firstAtOrAfter(t + 1);
    let looked = 0;
    for (let j = i - 1; j >= this.#head && looked < 64; j--) {
      const e = this.#items[j]!;
      if (e.gone) continue;
      looked++;
      if (e.endUs >= t) return e;
    }
    return undefined;
  }

  /** The first entry at or after `i` going by `step` that is not forgotten. */
  #present(i: number, step: 1 | -1): Entry | undefined {
    for (; i >= this.#head && i < this.#items.length; i += step) if (!this.#items[i]!.gone) return this.#items[i];
    return undefined;
  }

  /** Index of the first entry starting at or after `t`. */
  #firstAtOrAfter(t: number): number {
    let lo = this.#head;
    let hi = this.#items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#items[mid]!.startUs < t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
