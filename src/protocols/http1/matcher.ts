// Pairs the requests and responses of one HTTP/1.x connection into exchanges. A server answers
// requests in the order they came (RFC 9112 §9.3.2, pipelining), so pairing is first in, first out;
// timestamps catch what a lossy capture breaks: a response cannot start before its request did.
import type { ConnectionInfo } from '../../model/connection.js';
import type { HttpExchange, HttpRequestMessage, HttpResponseMessage } from '../../model/http.js';

export interface Http1MatcherOptions {
  /** Requests awaiting a response; beyond, the oldest is given up (reported with response null). */
  maxOutstanding?: number;
}

export interface Http1MatcherStats {
  requests: number;
  /** Final responses received (interim ones are counted apart). */
  responses: number;
  /** 1xx responses other than 101: reported by the parser, never paired. */
  interim: number;
  /** Exchanges with a response. */
  exchanges: number;
  /** Exchanges without one: the connection closed, or a gap lost the response. */
  unanswered: number;
  /** Responses to requests that were never seen (capture started late, a gap). Dropped. */
  orphanResponses: number;
  /** Requests given up because too many were outstanding (also counted in unanswered). */
  evicted: number;
}

const DEFAULT_MAX_OUTSTANDING = 256;

interface Outstanding {
  request: HttpRequestMessage;
  ordinal: number;
}

export class Http1Matcher {
  private readonly maxOutstanding: number;
  private queue: Outstanding[] = [];
  private done: HttpExchange[] = [];
  private nextOrdinal = 0;
  /** A gap in the response direction: the next response may skip some requests. */
  private responseGap = false;
  private readonly counters: Http1MatcherStats = {
    requests: 0, responses: 0, interim: 0, exchanges: 0, unanswered: 0, orphanResponses: 0, evicted: 0,
  };

  constructor(
    public connection: ConnectionInfo,
    opts: Http1MatcherOptions = {},
  ) {
    this.maxOutstanding = Math.max(1, Math.floor(opts.maxOutstanding ?? DEFAULT_MAX_OUTSTANDING));
  }

  /** A new matcher's state, for another connection (a pooled session's next one). */
  startOver(connection: ConnectionInfo): void {
    this.connection = connection;
    this.queue = [];
    this.done = [];
    this.nextOrdinal = 0;
    this.responseGap = false;
    const c = this.counters;
    c.requests = c.responses = c.interim = c.exchanges = c.unanswered = c.orphanResponses = c.evicted = 0;
  }

  /** A complete request, in stream order. Its ordinal is its position on the connection. */
  onRequest(request: HttpRequestMessage): void {
    this.counters.requests++;
    this.queue.push({ request, ordinal: this.nextOrdinal++ });
    if (this.queue.length > this.maxOutstanding) {
      this.counters.evicted++;
      const evicted = this.queue.shift()!;
      this.finish(evicted.request, evicted.ordinal, null);
    }
  }

  /** A complete response, in stream order. Interim (1xx) responses are counted and ignored. */
  onResponse(response: HttpResponseMessage): void {
    if (response.interim) {
      this.counters.interim++;
      return;
    }
    this.counters.responses++;
    let k = 0;
    if (this.responseGap) {
      // Responses were lost: this one answers the newest request sent before it. Older requests
      // lost their answers in the gap (in the common non-pipelined case there is only one).
      this.responseGap = false;
      k = this.queue.length - 1;
      while (k >= 0 && this.queue[k]!.request.startNs > response.startNs) k--;
      if (k < 0) {
        this.counters.orphanResponses++;
        return;
      }
      for (const unanswered of this.queue.splice(0, k)) this.finish(unanswered.request, unanswered.ordinal, null);
    } else if (this.queue.length === 0 || this.queue[0]!.request.startNs > response.startNs) {
      // Nothing outstanding, or the oldest request began after this response did: it answers a
      // request that was not captured.
      this.counters.orphanResponses++;
      return;
    }
    const answered = this.queue.shift()!;
    this.finish(answered.request, answered.ordinal, response);
  }

  /**
   * `n` exchanges went by that the kernel shed and counted (bpf/include/pairing.h): their ordinals
   * are taken, as at the other end of the connection, where the same exchanges were shed.
   */
  skip(n: number): void {
    this.nextOrdinal += n;
  }

  /** Bytes of one direction were lost. Requests lost in a gap leave their responses orphaned. */
  onGap(direction: 'request' | 'response'): void {
    if (direction === 'response') this.responseGap = true;
  }

  /**
   * A request and the response that answered it, both complete, with nothing outstanding (a paired
   * exchange replayed, Http1Connection): counted and paired as onRequest then onResponse would.
   */
  answered(request: HttpRequestMessage, response: HttpResponseMessage): void {
    this.counters.requests++;
    this.counters.responses++;
    this.finish(request, this.nextOrdinal++, response);
  }

  /** Nothing outstanding, no gap to realign after: the next request and response pair as the first would. */
  get atRest(): boolean {
    return this.queue.length === 0 && !this.responseGap;
  }

  /** Exchanges completed and not drained yet. */
  get completed(): readonly HttpExchange[] {
    return this.done;
  }

  /** Requests waiting for a response. */
  get outstanding(): number {
    return this.queue.length;
  }

  /** Exchanges completed since the last drain, in completion order (ordinals ascend). */
  drain(): HttpExchange[] {
    const out = this.done;
    if (out.length > 0) this.done = [];
    return out;
  }

  /**
   * The connection closed: every request still waiting becomes an exchange with response null.
   * Returns those and any completed exchanges not drained yet.
   */
  close(): HttpExchange[] {
    for (const unanswered of this.queue) this.finish(unanswered.request, unanswered.ordinal, null);
    this.queue = [];
    this.responseGap = false;
    return this.drain();
  }

  stats(): Http1MatcherStats {
    return { ...this.counters };
  }

  /** The live counters, not a copy: read them at once. */
  counts(): Readonly<Http1MatcherStats> {
    return this.counters;
  }

  private finish(request: HttpRequestMessage, ordinal: number, response: HttpResponseMessage | null): void {
    if (response === null) this.counters.unanswered++;
    else this.counters.exchanges++;
    // `counted` is there from the start, if only undefined: set later on the exchanges the kernel shed
    // (collector.ts), it would give them a hidden class of their own, and the optimized code every
    // exchange goes through (the pipeline, the conventions) was thrown away and compiled again once
    // the first of them came (--trace-deopt: "wrong map", a second wave of compiles under load).
    const ex: HttpExchange = { protocol: 'http1', connection: this.connection, request, response, ordinal, counted: undefined };
    // Drained after nearly every exchange, `done` is mostly a new empty array: a push would give it
    // room for 17 (~150 bytes an exchange for the GC), a literal room for one.
    if (this.done.length === 0) this.done = [ex];
    else this.done.push(ex);
  }
}
