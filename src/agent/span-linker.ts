// Holds finished spans briefly so the CLIENT span of one process and the SERVER span of another,
// for the same request on the same host, can be joined parent → child before export.
//
// Both ends of a local connection are traced: the client's (local → remote) is the server's
// (remote → local). With what the protocol says of the request (for HTTP its ordinal on the
// connection, method and target), that names one request on both sides.
import type { Exchange } from '../model/exchange.js';
import { linkPart } from '../model/link-part.js';
import type { SpanRecord } from '../model/span.js';
import { joinAsChild } from '../model/span-ids.js';
import { InsertionOrder } from '../fifo.js';
import { turnNow } from '../model/turn-clock.js';

export interface SpanLinkerOptions {
  /** How long a span waits for its other half. */
  windowMs: number;
  /** Bound on spans held; past it the oldest leave unlinked. */
  maxHeld: number;
  release(spans: SpanRecord[]): void;
  now?: () => number;
}

/**
 * Names one request on both ends of a local connection: the connection, as both ends name it
 * (`part`: "client>server"), and the request: `id`, the protocol's own name of it, and `ordinal`,
 * its place on the connection when order is what tells requests apart (-1: the id says it all).
 * The ordinal apart from the id: HTTP/1's id (method and target) repeats request after request and
 * is made once, where a string with the ordinal in it was made per exchange and compared (both
 * flattened) when the other end came.
 */
export interface LinkKey {
  readonly part: string;
  readonly id: string;
  readonly ordinal: number;
}

/** The key as one string (the span shedder remembers and hashes decisions by it). */
export function linkKeyText(key: LinkKey): string {
  return key.ordinal < 0 ? `${key.part} ${key.id}` : `${key.part} #${key.ordinal} ${key.id}`;
}

/** Whether two keys of one connection name the same request. */
function sameRequest(a: LinkKey, b: LinkKey): boolean {
  return a.ordinal === b.ordinal && a.id === b.id;
}

/** Where a request waits among several of its connection's: by its ordinal, when it has one. */
function requestSlot(key: LinkKey): string | number {
  return key.ordinal >= 0 ? key.ordinal : key.id;
}

interface Held {
  /** null once gone. */
  span: SpanRecord | null;
  /** null: not held under a key (none, gone, or another span of its kind held it first). */
  key: LinkKey | null;
  deadline: number;
  /** Left with its other half before its deadline: an empty place in the queue. */
  gone: boolean;
}

/** Names one request on both ends of a local connection; `id` and `ordinal` are the protocol's own part. */
export function linkKey(ex: Exchange, id: string | null, ordinal = -1): LinkKey | null {
  if (id === null) return null;
  const part = linkPart(ex.connection);
  return part === null ? null : { part, id, ordinal };
}

/** Places of the linker's queue kept for reuse when nothing waits (SpanLinker.#startOver). */
const SPARE_PLACES = 1024;
/**
 * Emptied connections kept in the linker's map (SpanLinker.#emptied): the keep-alive connections a
 * host's clients and servers take turns on, mostly (past that, a delete and an insertion per
 * exchange, as without). 256 cost a connection per request ~1.5 % of `hot-path.ts`: slots that
 * lived long enough to be promoted, in a map of a few hundred connections rebuilt as they came and went.
 */
const EMPTIED_KEPT = 64;
/** Emptyings are numbered modulo this (a multiple of EMPTIED_KEPT, a small integer for V8). */
const EMPTYINGS_WRAP = EMPTIED_KEPT << 20;

/** A connection in the linker's map: what waits on it, if anything. */
interface ConnectionSlot {
  readonly part: string;
  /** The one span waiting, or several by request (requestSlot); null: none (kept, see SpanLinker.#emptied). */
  waiting: Held | Map<string | number, Held> | null;
  /** The number of the emptying that left it with nothing waiting. */
  emptiedAt: number;
}

/** Spans handed on at once at most, of those that wait no more (the exporters' batch size). */
const MAX_READY_BATCH = 1024;

/**
 * Spans of one connection in a row that left at their deadline without their other half, after
 * which the connection's other end is taken as not traced on this host (a client on another host,
 * as most of a server's clients are; a process outside the selection): its spans leave at once.
 */
const ALONE_AFTER = 3;
/** Of a connection taken as alone, one span in this many still waits: if its other half comes, the connection links again. */
const PROBE_EVERY = 64;
/** Connections remembered as alone, at most (connection-per-request traffic makes a new one per request); the oldest go first. */
const MAX_ALONE = 16_384;

/** What the linker learnt of a connection (by part) whose spans found no other half. */
interface Alone {
  /** Spans in a row that left at their deadline unjoined. */
  unjoined: number;
  /** Spans let go at once since it counted as alone (every PROBE_EVERY-th waits). */
  passed: number;
}

export class SpanLinker {
  /**
   * Spans waiting for their other halves, by connection part: the one span waiting on that
   * connection (a request/response protocol's usual case), or a map of them by request id (several:
   * pipelining, multiplexed streams). A connection end's part is one string for all its exchanges
   * (linkPart), hashed once; only the id is compared or hashed per span. A flat map keyed by
   * "part id" hashed a ~70-character string made per span (flattened first): the linker was the
   * largest self time of the agent's JS thread. A connection with nothing waiting is not kept for
   * the next tick (with connection-per-request traffic the map grew to every connection of a window,
   * ~2,400 at 8k connections/s, and its tables, rebuilt as it grew and shrank, were promoted out of
   * V8's young generation with an empty map per connection), only for a few emptyings (#emptied).
   */
  readonly #held = new Map<string, ConnectionSlot>();
  /**
   * Connections with nothing waiting stay in #held until EMPTIED_KEPT emptyings later: a keep-alive
   * connection is emptied and filled again exchange after exchange, and a delete then a set per
   * exchange made V8 rebuild the map's table every few exchanges (~3 % of what the hot path
   * allocated); its slot is emptied and filled in place. `#emptied[n % EMPTIED_KEPT]` is the slot of
   * emptying n; when that place is taken again, the slot's connection goes unless it was filled or
   * emptied again since (a connection per request: one delete per connection, as before).
   */
  readonly #emptied: ConnectionSlot[] = [];
  #emptyings = 0;
  /** Connections in #held with a span waiting. */
  #connections = 0;
  /**
   * Held spans in arrival (so deadline) order: `#queue[#head..#tail)`; released from the front in
   * O(1). Places past #tail are left by spans that went, empty, and taken again by the next spans
   * held: when nothing waits the queue starts over at 0 without letting go of its array and entries
   * (a pair's first half is held and leaves again at every exchange: a fresh array per pair, and an
   * entry, were ~8 % of what the hot path allocated).
   */
  #queue: Held[] = [];
  #head = 0;
  #tail = 0;
  /** Spans in the queue still waiting (the queue also has the places of joined spans that left). */
  #waiting = 0;
  /**
   * Spans that wait no more — joined pairs, and spans of connections whose other end is not traced
   * here — released together once the current batch of records is through.
   */
  #ready: SpanRecord[] = [];
  #readyScheduled = false;
  /**
   * Connections (by part) whose last spans left unjoined at their deadline. A server's spans whose
   * clients are on other hosts waited out the window for nothing: at 10k spans/s, 3,000 finished
   * spans held, each surviving young-generation GCs.
   */
  readonly #alone = new Map<string, Alone>();
  readonly #aloneOrder = new InsertionOrder(this.#alone);
  #timer: NodeJS.Timeout | null = null;
  #linked = 0;
  #overflow = 0;
  readonly #now: () => number;

  constructor(private readonly opts: SpanLinkerOptions) {
    this.#now = opts.now ?? turnNow;
  }

  /**
   * A finished span, named by `key` (null: it cannot be joined). `otherEndFollowed`: false when its
   * connection's other end is known not to be followed here (FollowedConnections), so no other half
   * can come unless it came already: the span waits only for one already here.
   */
  add(span: SpanRecord, key: LinkKey | null, otherEndFollowed = true): void {
    const other = key !== null ? this.#lookup(key) : undefined;
    const waiting = other?.span;
    if (other !== undefined && waiting != null && waiting.kind !== span.kind) {
      if (span.kind === 'client') this.#join(span, waiting);
      else this.#join(waiting, span);
      // Both halves are here: nothing more can join them, so neither waits out the window (at 20k
      // spans/s a 300 ms window held 6,000 finished spans, each surviving young-generation GCs).
      this.#forget(key!);
      // Its place stays in the queue until the head passes it (up to a window later): without its
      // span and key, or every first half of a pair survived two young-generation GCs there and was
      // promoted (~1.6 MB per scavenge at 10k requests/s, the old generation's whole growth).
      other.gone = true;
      other.span = null;
      other.key = null;
      this.#waiting--;
      if (this.#waiting === 0) this.#startOver();
      if (this.#alone.size !== 0) this.#alone.delete(key!.part);
      this.#ready.push(waiting, span);
      this.#readied();
      return;
    }
    // Nothing of the other end comes on this connection, as far as the linker knows: no wait.
    if (key !== null && other === undefined && (!otherEndFollowed || this.#passesAlone(key.part))) {
      this.#ready.push(span);
      this.#readied();
      return;
    }
    // Held under its key unless a span of the same kind waits there first, or another request of its
    // connection holds its place (ends that numbered their requests differently).
    const entry = this.#place(span, this.#now() + this.opts.windowMs);
    if (other === undefined && key !== null && this.#remember(key, entry)) entry.key = key;
    this.#waiting++;
    if (this.#waiting > this.opts.maxHeld) {
      this.#overflow++;
      this.#release(this.#waiting - this.opts.maxHeld);
    }
    this.#timer ??= setTimeout(() => this.#tick(), this.opts.windowMs).unref();
  }

  /** Spans here, waiting for their other halves or to be released: on their way to the sinks. */
  get pending(): number {
    return this.#waiting + this.#ready.length;
  }

  /** Whether a span of the request named `key` waits here for its other half. */
  holds(key: LinkKey): boolean {
    return this.#lookup(key) !== undefined;
  }

  #lookup(key: LinkKey): Held | undefined {
    const waiting = this.#held.get(key.part)?.waiting;
    if (waiting == null) return undefined;
    const h = waiting instanceof Map ? waiting.get(requestSlot(key)) : waiting;
    return h !== undefined && sameRequest(h.key!, key) ? h : undefined;
  }

  /**
   * `h`, held under `key`: alone on its connection, or beside others by request (requestSlot). False
   * when another request holds that place: the first stays found.
   */
  #remember(key: LinkKey, h: Held): boolean {
    const slot = requestSlot(key);
    const c = this.#held.get(key.part);
    const waiting = c?.waiting;
    if (c === undefined) {
      this.#held.set(key.part, { part: key.part, waiting: h, emptiedAt: -1 });
      this.#connections++;
    } else if (waiting == null) {
      c.waiting = h;
      this.#connections++;
    } else if (waiting instanceof Map) {
      if (waiting.has(slot)) return false;
      waiting.set(slot, h);
    } else {
      const other = requestSlot(waiting.key!);
      if (other === slot) return false;
      c.waiting = new Map([[other, waiting], [slot, h]]);
    }
    return true;
  }

  /** The span held under `key` waits no more; its connection goes once nothing of it waits. */
  #forget(key: LinkKey): void {
    const c = this.#held.get(key.part);
    const waiting = c?.waiting;
    if (waiting == null) return;
    if (!(waiting instanceof Map)) {
      if (sameRequest(waiting.key!, key)) this.#emptiedNow(c!);
    } else {
      const slot = requestSlot(key);
      const h = waiting.get(slot);
      if (h === undefined || !sameRequest(h.key!, key)) return;
      waiting.delete(slot);
      if (waiting.size === 0) this.#emptiedNow(c!);
    }
  }

  /** Nothing of connection `c` waits any more: kept for a while (see #emptied). */
  #emptiedNow(c: ConnectionSlot): void {
    const n = this.#emptyings;
    // Wraps long before 2^53; the numbers only need to differ within EMPTIED_KEPT emptyings.
    this.#emptyings = n + 1 === EMPTYINGS_WRAP ? 0 : n + 1;
    c.waiting = null;
    c.emptiedAt = n;
    this.#connections--;
    const i = n % EMPTIED_KEPT;
    const leaving = this.#emptied[i];
    this.#emptied[i] = c;
    // Emptied EMPTIED_KEPT emptyings ago and not filled or emptied since.
    if (leaving !== undefined && leaving.waiting === null && leaving.emptiedAt === (n - EMPTIED_KEPT + EMPTYINGS_WRAP) % EMPTYINGS_WRAP) {
      this.#held.delete(leaving.part);
    }
  }

  /**
   * The server span becomes the client span's child, unless the request carried the application's
   * own context to the server that the client span does not share.
   */
  #join(client: SpanRecord, server: SpanRecord): void {
    const serverFree = server.parentSpanId === undefined ||
      (server.traceId === client.traceId && server.parentSpanId === client.parentSpanId);
    if (!serverFree) return;
    joinAsChild(server, client);
    this.#linked++;
  }

  /** Spans were put in #ready: they leave after this batch of records, or now when there are many. */
  #readied(): void {
    // A large batch of records can join tens of thousands of pairs before the immediate runs:
    // they leave in batches of a bounded size, as spans released at their deadline do.
    if (this.#ready.length >= MAX_READY_BATCH) {
      this.#releaseReady();
    } else if (!this.#readyScheduled) {
      this.#readyScheduled = true;
      setImmediate(() => {
        this.#readyScheduled = false;
        this.#releaseReady();
      });
    }
  }

  #releaseReady(): void {
    const spans = this.#ready;
    if (spans.length === 0) return;
    this.#ready = [];
    this.opts.release(spans);
  }

  /** The queue's next place, for `span` until `deadline` (not yet under a key). */
  #place(span: SpanRecord, deadline: number): Held {
    const spare = this.#queue[this.#tail];
    if (spare === undefined) {
      const h: Held = { span, key: null, deadline, gone: false };
      this.#queue.push(h);
      this.#tail++;
      return h;
    }
    spare.span = span;
    spare.key = null;
    spare.deadline = deadline;
    spare.gone = false;
    this.#tail++;
    return spare;
  }

  /**
   * Nothing waits: every place in the queue is a gone one, dropped now rather than at the tick
   * (each pair's first half would live out the window there); the array and its places are kept
   * for the next spans, up to SPARE_PLACES (after a burst the rest go).
   */
  #startOver(): void {
    this.#head = this.#tail = 0;
    if (this.#queue.length > SPARE_PLACES) this.#queue.length = SPARE_PLACES;
  }

  /** Whether a span of connection `part`, nothing of the other end waiting, leaves at once (see ALONE_AFTER). */
  #passesAlone(part: string): boolean {
    const a = this.#alone.get(part);
    if (a === undefined || a.unjoined < ALONE_AFTER) return false;
    a.passed++;
    return a.passed % PROBE_EVERY !== 0;
  }

  /** A span of connection `part` left at its deadline without its other half. */
  #unjoined(part: string): void {
    const a = this.#alone.get(part);
    if (a !== undefined) {
      a.unjoined++;
      return;
    }
    if (this.#alone.size >= MAX_ALONE) {
      const oldest = this.#aloneOrder.takeOldest();
      if (oldest !== undefined) this.#alone.delete(oldest);
    }
    this.#alone.set(part, { unjoined: 1, passed: 0 });
    this.#aloneOrder.added(part);
  }

  #tick(): void {
    this.#timer = null;
    const now = this.#now();
    let n = 0;
    for (let i = this.#head; i < this.#tail && this.#queue[i]!.deadline <= now; i++) if (!this.#queue[i]!.gone) n++;
    this.#release(n, true);
    this.#skipGone();
    if (this.#head < this.#tail) {
      const wait = Math.max(1, this.#queue[this.#head]!.deadline - now);
      this.#timer = setTimeout(() => this.#tick(), wait).unref();
    }
  }

  /** Steps the head over the places of spans that already left. */
  #skipGone(): void {
    while (this.#head < this.#tail && this.#queue[this.#head]!.gone) this.#head++;
    this.#compact();
  }

  /**
   * Drops the queue's released part once it dominates: amortised O(1) per span (a splice per
   * release made every add O(held) once the linker was full: the overload cliff). Also where
   * joined spans' places go, which is most of them: the head steps over those without releasing.
   */
  #compact(): void {
    if (this.#head > 1024 && this.#head * 2 > this.#tail) {
      this.#queue = this.#queue.slice(this.#head, this.#tail);
      this.#tail -= this.#head;
      this.#head = 0;
    }
  }

  /**
   * Releases the `n` oldest waiting spans; `expired`: at their deadline (not pushed out by the bound
   * or a flush), so their connections learn they found no other half.
   */
  #release(n: number, expired = false): void {
    if (n <= 0) return;
    const spans: SpanRecord[] = new Array<SpanRecord>(n);
    let k = 0;
    while (k < n && this.#head < this.#tail) {
      const h = this.#queue[this.#head++]!;
      if (h.gone) continue;
      if (h.key !== null && this.#lookup(h.key) === h) {
        this.#forget(h.key);
        if (expired) this.#unjoined(h.key.part);
      }
      spans[k++] = h.span!;
      // Its place may be taken again (#startOver): it must not keep the span.
      h.span = null;
      h.key = null;
      h.gone = true;
    }
    spans.length = k;
    this.#waiting -= k;
    if (this.#waiting === 0) this.#startOver();
    else this.#compact();
    this.opts.release(spans);
  }

  /** Releases everything now (agent stop). */
  flush(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#releaseReady();
    this.#release(this.#waiting);
    this.#queue = [];
    this.#head = this.#tail = 0;
  }

  /**
   * `places`: entries the queue holds in memory, stepped-over ones included until it is compacted;
   * `connections`: connections with a span waiting; `kept`: connections in the map, those with
   * nothing waiting kept for a while (#emptied) included.
   */
  stats(): { held: number; linked: number; overflow: number; places: number; alone: number; connections: number; kept: number } {
    return {
      held: this.pending, linked: this.#linked, overflow: this.#overflow, places: this.#tail, alone: this.#alone.size,
      connections: this.#connections, kept: this.#held.size,
    };
  }
}
