// One HTTP/1.x connection: a parser per direction and the matcher, joined in the one place that
// knows how they depend on each other. The response parser must know each request's method before
// it can frame the answer (a HEAD response has no body, a 2xx to CONNECT opens a tunnel); a switch
// of protocols seen in one direction ends HTTP/1 in both; a response may arrive before its request
// has finished arriving. The caller maps socket directions: the request side is ingress on a
// server socket and egress on a client socket.
import type { ConnectionInfo } from '../../model/connection.js';
import type { HttpExchange, HttpMessage, HttpRequestMessage, HttpResponseMessage, KernelSampling } from '../../model/http.js';
import type { CapturedBytes, MessageSide, ProtocolHandler, ProtocolSession } from '../session.js';
import { looksLikeHttp1Request, looksLikeHttp1Response } from './detect.js';
import { Http1Matcher, type Http1MatcherStats } from './matcher.js';
import { Http1Parser, type Http1ParserOptions, type Http1ParserStats, requestMessage, responseMessage } from './parser.js';
import { parseStatusLine } from './status-line.js';
import { headerPairs } from '../../model/header-pairs.js';

export interface Http1ConnectionOptions {
  maxBodyCapture?: number;
  maxHeaderBytes?: number;
  /** Requests awaiting a response before the oldest is given up. Default 256. */
  maxOutstanding?: number;
}

/** Http1Connection.stats(): the matcher's counters and the parsers' summed (an object type, so a Record<string, number>). */
export type Http1SessionStats = { [K in keyof (Http1ParserStats & Http1MatcherStats)]: number };

export interface Http1ConnectionStats {
  request: Http1ParserStats;
  response: Http1ParserStats;
  matcher: Http1MatcherStats;
}

const NO_BYTES = new Uint8Array(0);
/** A shed exchange's response: its status line only. */
const NO_HEADERS = headerPairs([]);

/**
 * A paired exchange that went through the parsers and the matcher from rest to rest, whole and
 * without trouble: its bytes and the messages they made. Both directions' next chunks being the
 * same bytes (a keep-alive client repeating its request, the server its answer: its Date changes once
 * a second) make the same messages at their own times: Http1Connection.paired replays them without
 * the parsers' state machines, the matcher's queue and the arrays between them.
 */
interface PairedReplay {
  /** The request's bytes, then the response's. */
  bytes: Buffer;
  requestLength: number;
  requestMessage: HttpRequestMessage;
  responseMessage: HttpResponseMessage;
}

/**
 * The most bytes of a paired exchange (request and response) a session keeps for replay: a
 * session per tracked connection (16,384 at most by default) keeps one, so 16 MiB at worst.
 * Small answers are the common ones (a health check, a `return 200`, a short JSON body).
 */
const MAX_REPLAY_BYTES = 1024;

/**
 * `request` then `response` copied into `into` when it has their length, else into a new Buffer of
 * its own memory: a small Buffer of Node's pool would hold the pool's whole 8 KiB slab for as long as
 * the session keeps its replay (MAX_REPLAY_BYTES' bound would be 8 KiB a session).
 */
function copyInto(into: Buffer | undefined, request: Uint8Array, response: Uint8Array): Buffer {
  const n = request.length + response.length;
  const out = into !== undefined && into.length === n ? into : Buffer.allocUnsafeSlow(n);
  out.set(request);
  out.set(response, request.length);
  return out;
}

/**
 * Buffer.prototype.equals, called on the kept bytes: looked up on them at every call it was a
 * generic property load (a LoadIC call, ~25 ns) in the optimized code.
 */
const bufferEquals = Buffer.prototype.equals;

/**
 * Whether `kept` (PairedReplay.bytes: a request of `requestLength` bytes, then its response) is `both`
 * (a pair's request, of `requestBytes`, then its response). One compare, a call into C++ of ~85 ns
 * whatever the length, where Buffer.equals of each side was two (~6 % of the busy time of
 * `hot-path.ts --paired --jaeger` under V8's profiler).
 */
function keptIs(kept: Buffer, requestLength: number, requestBytes: number, both: Uint8Array): boolean {
  return requestBytes === requestLength && bufferEquals.call(kept, both);
}

/** What a session had made before a paired exchange went through it (keepForReplay compares). */
interface ParsedSoFar {
  exchanges: number;
  messages: number;
  troubles: number;
  /** The request parser's headsFromMemo. */
  requestHeadsFromMemo: number;
}

/** Final responses held while their request's body is still arriving; beyond, they go unheld. */
const MAX_EARLY_RESPONSES = 16;

export class Http1Connection implements ProtocolSession {
  private readonly requests: Http1Parser;
  private readonly responses: Http1Parser;
  private readonly matcher: Http1Matcher;
  /**
   * Final responses that began while the request they answer was still arriving (a 413 or 401
   * sent before the upload ends, a refused 100-continue). They wait for that request to complete.
   */
  private early: HttpResponseMessage[] = [];
  private closedExchanges: HttpExchange[] = [];
  private closed = false;
  /** The kernel's decision on the span of the request in the next request-side bytes. */
  private requestMark: KernelSampling | undefined;
  /** Kept across connections, as the parsers' head memos: it holds bytes and what they parse to, nothing of a connection. */
  private replay: PairedReplay | null = null;
  #replayed = 0;

  constructor(
    public connection: ConnectionInfo,
    opts: Http1ConnectionOptions = {},
  ) {
    const parserOpts: Http1ParserOptions = {};
    if (opts.maxBodyCapture !== undefined) parserOpts.maxBodyCapture = opts.maxBodyCapture;
    if (opts.maxHeaderBytes !== undefined) parserOpts.maxHeaderBytes = opts.maxHeaderBytes;
    const responses = new Http1Parser('response', parserOpts);
    // The method goes to the response side as soon as the request head is parsed, not when the
    // request completes: the response may begin before the request body ends.
    this.requests = new Http1Parser('request', { ...parserOpts, onRequestHead: (method, startNs) => responses.expectResponseTo(method, startNs) });
    this.responses = responses;
    const matcherOpts = opts.maxOutstanding === undefined ? {} : { maxOutstanding: opts.maxOutstanding };
    this.matcher = new Http1Matcher(connection, matcherOpts);
  }

  /**
   * A new session's state, for connection `connection` (the handler's pool hands a session that
   * served another connection on): parsers and matcher start over, keeping their buffers and the
   * parsers' head memos.
   */
  startOver(connection: ConnectionInfo): void {
    this.connection = connection;
    this.requests.startOver();
    this.responses.startOver();
    this.matcher.startOver(connection);
    this.early = [];
    this.closedExchanges = [];
    this.closed = false;
    this.requestMark = undefined;
  }

  /** Bytes of one syscall in the given direction. */
  onData(direction: MessageSide, chunk: Uint8Array, timeNs: bigint): void {
    if (this.closed) return;
    if (direction === 'request') {
      this.requests.feed(chunk, timeNs);
      for (const m of this.requests.take()) this.matcher.onRequest(this.marked(m as HttpRequestMessage));
      this.requestMark = undefined;
      this.releaseEarly();
    } else {
      this.responses.feed(chunk, timeNs);
      for (const m of this.responses.take()) this.route(m);
      // RFC 9110 §7.8 / §9.3.6: after a 101, or a 2xx to CONNECT, neither direction is HTTP/1.
      if (this.responses.tunneled) this.requests.enterTunnel();
    }
  }

  /**
   * Bytes of one direction were not captured: `bytes` of them when known, the last at `timeNs`.
   * A known-size gap inside a body (a syscall beyond the capture bound, a sendfile body) costs
   * nothing but the body bytes; any other gap makes that direction search for its next message.
   */
  onGap(direction: MessageSide, bytes?: number, timeNs?: bigint): void {
    if (this.closed) return;
    const parser = direction === 'request' ? this.requests : this.responses;
    let inStep = false;
    if (bytes !== undefined && timeNs !== undefined) inStep = parser.skip(bytes, timeNs);
    else parser.reset();
    // A gap may have completed a message (the end of its body) before losing the place.
    if (direction === 'request') {
      for (const m of this.requests.take()) this.matcher.onRequest(m as HttpRequestMessage);
    } else {
      for (const m of this.responses.take()) this.route(m);
    }
    // When responses were lost, parser and matcher both take the next one to answer the newest
    // request that began before it.
    if (!inStep) this.matcher.onGap(direction);
    if (direction === 'request') this.releaseEarly();
  }

  keptInKernel(): void {
    this.requestMark = 'kept';
  }

  /**
   * Both heads are parsed as they would be apart (the response's fields frame a body that may go on
   * in later records; a malformed head must fail as it does unpaired): what a pair saves is before
   * this call — one connection lookup, no stream reassembly, one drain of finished exchanges — and,
   * when the session is at rest and both chunks repeat the last exchange that went through whole,
   * the parse itself (PairedReplay).
   */
  paired(request: CapturedBytes, response: CapturedBytes, both: Uint8Array): void {
    const requestNs = request.timeNs;
    const responseNs = response.timeNs;
    const atRest = this.atRest();
    const r = this.replay;
    // A response that began before its request would be an orphan: never replayed.
    if (atRest && r !== null && requestNs <= responseNs && keptIs(r.bytes, r.requestLength, request.dataLength, both)) {
      const q = requestMessage(r.requestMessage, r.requestMessage.bodySize, NO_BYTES, requestNs, requestNs);
      q.kernelSampling = 'kept';
      this.requests.countReplayed(request.dataLength);
      this.responses.countReplayed(response.dataLength);
      this.matcher.answered(q, responseMessage(r.responseMessage, r.responseMessage.bodySize, NO_BYTES, responseNs, responseNs, false, false));
      this.requestMark = undefined;
      this.#replayed++;
      return;
    }
    const before: ParsedSoFar | null = atRest
      ? { exchanges: this.matcher.completed.length, messages: this.messagesParsed(), troubles: this.troubles(), requestHeadsFromMemo: this.requests.headsFromMemo }
      : null;
    this.requestMark = 'kept';
    this.onData('request', request.data, requestNs);
    this.onData('response', response.data, responseNs);
    if (before !== null) this.keepForReplay(request.data, requestNs, response.data, responseNs, before);
  }

  /**
   * The exchange `paired` just made from rest, kept for replay when it is all the call did: back at
   * rest, one exchange completed of one message per direction (no interim response), each chunk
   * that whole message at its syscall's time (no body bytes kept: the handler's sessions keep none),
   * nothing counted as trouble, and both small (MAX_REPLAY_BYTES).
   */
  private keepForReplay(request: Uint8Array, requestNs: bigint, response: Uint8Array, responseNs: bigint, before: ParsedSoFar): void {
    // Only a request that repeated the one before (its head the parser's memo) is likely to come
    // again: traffic whose requests differ (other paths, other bodies) would pay the copies below on
    // every exchange and replay none (~5 % of `hot-path.ts --paired --distinct`).
    if (request.length + response.length > MAX_REPLAY_BYTES || this.requests.headsFromMemo === before.requestHeadsFromMemo) return;
    const completed = this.matcher.completed;
    const ex = completed[completed.length - 1];
    if (completed.length !== before.exchanges + 1 || ex === undefined || ex.response === null || !this.atRest()) return;
    if (this.messagesParsed() !== before.messages + 2 || this.troubles() !== before.troubles) return;
    const q = ex.request;
    const s = ex.response;
    if (q.startNs !== requestNs || q.endNs !== requestNs || s.startNs !== responseNs || s.endNs !== responseNs) return;
    if (q.bodyPrefix.length !== 0 || s.bodyPrefix.length !== 0 || s.interim || s.endedByClose) return;
    // The buffer of the replay this one replaces, when the size matches (a server's answer whose Date
    // changed: the same length, new bytes).
    this.replay = { bytes: copyInto(this.replay?.bytes, request, response), requestLength: request.length, requestMessage: q, responseMessage: s };
  }

  private messagesParsed(): number {
    return this.requests.counts().messages + this.responses.counts().messages;
  }

  private troubles(): number {
    return this.requests.troubles() + this.responses.troubles();
  }

  /** Paired exchanges this session replayed (tests: that the replay is taken at all). */
  get replayed(): number {
    return this.#replayed;
  }

  /** Both parsers and the matcher between messages with nothing held: where a paired exchange may be replayed. */
  private atRest(): boolean {
    return !this.closed && this.early.length === 0 && this.matcher.atRest && this.requests.atRest() && this.responses.atRest();
  }

  /**
   * `n` exchanges were shed and counted in the kernel since the last bytes: they come as counts, and
   * number the exchanges after them. Between messages, as for shedInKernel.
   */
  shedBefore(n: number): void {
    this.matcher.skip(n);
  }

  /**
   * An exchange shed in the kernel: the request is parsed as any other (its metrics have the same
   * attributes), the response is its status line. The response parser never sees it: between
   * messages, as the kernel sheds only exchanges that follow a complete one, it stays there.
   */
  shedInKernel(request: Uint8Array, requestNs: bigint, statusLine: Uint8Array, responseNs: bigint): boolean {
    const status = parseStatusLine(statusLine);
    if (this.closed || status === null || status.statusCode < 200) return false;
    this.requestMark = 'shed';
    this.onData('request', request, requestNs);
    this.responses.answeredElsewhere();
    this.route({
      kind: 'response', ...status, headers: NO_HEADERS, bodySize: 0, bodyPrefix: NO_BYTES, startNs: responseNs, endNs: responseNs, interim: false, endedByClose: false,
    });
    return true;
  }

  /** The connection closed: complete what the close completes, give up the rest. */
  onClose(timeNs: bigint): void {
    if (this.closed) return;
    this.closed = true;
    const partial = this.requests.inProgress() as HttpRequestMessage | null;
    this.requests.finish(timeNs);
    this.responses.finish(timeNs);
    for (const m of this.requests.take()) this.matcher.onRequest(m as HttpRequestMessage);
    for (const m of this.responses.take()) this.route(m);
    // A request cut short by the close is reported only if it was answered (the server refused
    // the upload); an unanswered fragment is not a request anyone saw complete.
    if (partial !== null && this.early.length > 0) this.matcher.onRequest(partial);
    for (const r of this.early) this.matcher.onResponse(r);
    this.early = [];
    this.closedExchanges.push(...this.matcher.close());
  }

  /** Exchanges completed since the last drain (after onClose, the unanswered ones too). */
  drain(): HttpExchange[] {
    const fromMatcher = this.matcher.drain();
    if (this.closedExchanges.length === 0) return fromMatcher;
    const out = this.closedExchanges.concat(fromMatcher);
    this.closedExchanges = [];
    return out;
  }

  /**
   * Flat sums over both directions and the matcher, for the collector's self-metrics. Every field
   * named, in one object of one shape: adding the parsers' counters to the matcher's copy name by
   * name (keyed stores growing an object) was ~15 % of the agent's JS thread under
   * connection-per-request traffic.
   */
  stats(): Http1SessionStats {
    const s: Http1SessionStats = {
      requests: 0, responses: 0, interim: 0, exchanges: 0, unanswered: 0, orphanResponses: 0, evicted: 0,
      messages: 0, parseErrors: 0, resyncs: 0, bytes: 0, gapBytes: 0, skippedBytes: 0,
      protocolSwitches: 0, opaqueBytes: 0, truncated: 0, internalErrors: 0,
    };
    this.addStatsTo(s);
    return s;
  }

  /** The tracker sums every connection's as it ends: named adds, one object shape. */
  addStatsTo(s: Http1SessionStats): void {
    const q = this.requests.counts();
    const r = this.responses.counts();
    const m = this.matcher.counts();
    s.requests += m.requests; s.responses += m.responses; s.interim += m.interim; s.exchanges += m.exchanges;
    s.unanswered += m.unanswered; s.orphanResponses += m.orphanResponses; s.evicted += m.evicted;
    s.messages += q.messages + r.messages; s.parseErrors += q.parseErrors + r.parseErrors; s.resyncs += q.resyncs + r.resyncs;
    s.bytes += q.bytes + r.bytes; s.gapBytes += q.gapBytes + r.gapBytes; s.skippedBytes += q.skippedBytes + r.skippedBytes;
    s.protocolSwitches += q.protocolSwitches + r.protocolSwitches; s.opaqueBytes += q.opaqueBytes + r.opaqueBytes;
    s.truncated += q.truncated + r.truncated; s.internalErrors += q.internalErrors + r.internalErrors;
  }

  detailedStats(): Http1ConnectionStats {
    return { request: this.requests.stats(), response: this.responses.stats(), matcher: this.matcher.stats() };
  }

  // ProtocolSession, the connection tracker's view.
  data(side: MessageSide, bytes: Uint8Array, timeNs: bigint): void {
    this.onData(side, bytes, timeNs);
  }

  gap(side: MessageSide, bytes: number, timeNs: bigint): void {
    this.onGap(side, bytes, timeNs);
  }

  close(timeNs: bigint): void {
    this.onClose(timeNs);
  }

  private marked(m: HttpRequestMessage): HttpRequestMessage {
    if (this.requestMark !== undefined) m.kernelSampling = this.requestMark;
    return m;
  }

  private route(m: HttpMessage): void {
    const response = m as HttpResponseMessage;
    if (!response.interim && (this.early.length > 0 || this.answersRequestInProgress(response))) {
      this.early.push(response);
      if (this.early.length > MAX_EARLY_RESPONSES) this.matcher.onResponse(this.early.shift()!);
      return;
    }
    this.matcher.onResponse(response);
  }

  /** No complete request is waiting, but one whose body is still arriving began before `r`. */
  private answersRequestInProgress(r: HttpResponseMessage): boolean {
    if (this.matcher.outstanding > 0) return false;
    const startNs = this.requests.messageStartNs;
    return startNs !== null && startNs <= r.startNs;
  }

  private releaseEarly(): void {
    while (this.early.length > 0 && (this.matcher.outstanding > 0 || this.requests.messageStartNs === null)) {
      this.matcher.onResponse(this.early.shift()!);
    }
  }
}

/**
 * Sessions the tracker gave back, for its next connections: with connection-per-request traffic,
 * making a session (two parsers, their buffers, a matcher) was ~9 % of the agent's JS thread, most
 * of what each connection had promoted out of V8's young generation, and every connection's first
 * heads were parsed in full (a pooled parser's head memo is its last connection's). LIFO: the
 * session closed last is the one most likely to meet the same client again. Bounded: what a burst
 * of connections leaves behind is let go past MAX_IDLE_SESSIONS.
 */
const idleSessions: Http1Connection[] = [];
const MAX_IDLE_SESSIONS = 32;
/** Sessions this handler made, with its options: only those are pooled (a session made elsewhere may have others). */
const handlerSessions = new WeakSet<Http1Connection>();
/** No body bytes kept: nothing downstream of the tracker reads bodyPrefix, and a copy per message (up to 1 KiB) was an allocation on every exchange. */
const SESSION_OPTIONS: Http1ConnectionOptions = { maxBodyCapture: 0 };

/** HTTP/1.x for the connection tracker. kernelId is PROTO_HTTP1 in bpf/include/sockets.h. */
export const http1Handler: ProtocolHandler = {
  name: 'http1',
  kernelId: 1,
  looksLikeRequest: looksLikeHttp1Request,
  looksLikeResponse: looksLikeHttp1Response,
  open(connection) {
    let session = idleSessions.pop();
    if (session === undefined) {
      session = new Http1Connection(connection, SESSION_OPTIONS);
      handlerSessions.add(session);
    } else {
      session.startOver(connection);
    }
    return session;
  },
  release(session) {
    // Given back once per connection; the check keeps a second release from sharing it between two.
    if (session instanceof Http1Connection && handlerSessions.has(session) && idleSessions.length < MAX_IDLE_SESSIONS && !idleSessions.includes(session)) {
      idleSessions.push(session);
    }
  },
};
