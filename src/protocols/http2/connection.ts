// One HTTP/2 connection (RFC 9113): a framer and an HPACK decoder per direction and the streams they
// multiplex, joined in the one place that knows how they depend on each other. The request side
// (client → server) carries requests, the response side responses; each stream becomes one
// exchange when both halves have ended (END_STREAM), when it is reset (RST_STREAM, or refused by a
// GOAWAY), or when the connection closes.
//
// Header blocks are decoded in wire order per direction, whichever stream they belong to, because
// HPACK's dynamic table is shared by the whole direction (RFC 7541 §2.2). A header block that
// cannot be read whole (a gap, a lost place in the stream, beyond the bounds) leaves that table
// partly unknown; fields that need the unknown part are counted lost and the exchange says so
// (headersLost) rather than guessing. A capture that begins mid-connection — the request side does
// not start with the preface — starts that way. (The kernel classifies a connection as HTTP/2 only
// when it sees the preface, so in practice this covers tests and a lost start; a connection first
// seen mid-stream is not captured as HTTP/2 at all.)
//
// Bounded: at most `maxStreams` open streams (the oldest is completed as it stands beyond), header
// blocks of at most `maxHeaderBlock` compressed bytes and `maxContinuations` CONTINUATION frames,
// decoded header lists of at most `maxHeaderListBytes`.
import type { ConnectionInfo } from '../../model/connection.js';
import { headerPairs } from '../../model/header-pairs.js';
import type { HeaderList, HttpRequestMessage, HttpResponseMessage } from '../../model/http.js';
import type { GrpcCall, Http2Exchange } from '../../model/http2.js';
import type { MessageSide, ProtocolHandler, ProtocolSession } from '../session.js';
import { looksLikeHttp2Request, looksLikeHttp2Response } from './detect.js';
import {
  CONTINUATION, END_HEADERS, END_STREAM, type FrameHeader, GOAWAY, HEADERS, PUSH_PROMISE, RST_STREAM, SETTINGS,
  SETTINGS_HEADER_TABLE_SIZE, SETTINGS_MAX_FRAME_SIZE, ACK, errorCodeName, headerFragment, u32,
} from './frames.js';
import { Http2Framer, type FramerSink, type FramerStats, type SyncLossReason } from './framer.js';
import { GrpcMessageCounter, decodeGrpcMessage, headerValue, isGrpcContentType } from './grpc.js';
import { HpackDecoder, type HpackStats } from './hpack.js';

export interface Http2ConnectionOptions {
  /** Open streams tracked; beyond, the oldest is completed as it stands. Default 1024. */
  maxStreams?: number;
  /** Compressed bytes of one header block (HEADERS/PUSH_PROMISE + CONTINUATIONs). Default 64 KiB. */
  maxHeaderBlock?: number;
  /** CONTINUATION frames per header block. Default 128. */
  maxContinuations?: number;
  /** Decoded header list bytes kept per block. Default 64 KiB. */
  maxHeaderListBytes?: number;
  /** Dynamic table bytes kept per direction. Default 64 KiB. */
  tableMemoryLimit?: number;
}

export interface Http2SessionStats {
  /** Streams opened (seen for the first time). */
  streams: number;
  /** Exchanges completed. */
  exchanges: number;
  /** Exchanges with some header fields lost. */
  headersLostExchanges: number;
  /** Streams completed with nothing known of their headers: not reported. */
  orphanStreams: number;
  /** Streams completed early because too many were open. */
  evictedStreams: number;
  resets: number;
  goaways: number;
  /** Streams refused by a GOAWAY (reported as reset REFUSED_STREAM). */
  refusedStreams: number;
  /** 1xx responses (counted, not reported). */
  interimResponses: number;
  /** Header blocks not decoded: bytes lost in a gap, beyond the bounds, or malformed framing. */
  lostHeaderBlocks: number;
  /** Frames that break the stream rules (a CONTINUATION out of place, a client's PUSH_PROMISE...). */
  protocolErrors: number;
  /** Frames for streams already completed (a reset's in-flight frames) or never seen: ignored. */
  closedStreamFrames: number;
  /** 1 when the capture began after the connection did (no preface). */
  midstream: number;
  internalErrors: number;
}

const DEFAULT_MAX_STREAMS = 1024;
const DEFAULT_MAX_HEADER_BLOCK = 64 * 1024;
const DEFAULT_MAX_CONTINUATIONS = 128;
const EMPTY = new Uint8Array(0);
const NO_ERROR = 0;
/** Completed stream ids remembered, to ignore their late frames. */
const RECENT_STREAMS = 512;

/** One direction of one stream. */
interface Half {
  /** The first header list (the final response's, for responses), pseudo-header fields included. */
  headers: HeaderList | null;
  trailers: HeaderList;
  startNs: bigint;
  endNs: bigint;
  bodySize: number;
  ended: boolean;
  /** Fields lost, or header blocks of this half not decoded. */
  lost: number;
  grpc: GrpcMessageCounter | null;
}

interface Stream {
  id: number;
  firstNs: bigint;
  request: Half;
  response: Half;
  reset?: string;
  pushed: boolean;
}

/** A header block being collected: the HEADERS/PUSH_PROMISE fragment and its CONTINUATIONs. */
interface Block {
  streamId: number;
  type: number;
  flags: number;
  promisedId: number;
  parts: Buffer[];
  bytes: number;
  continuations: number;
  startNs: bigint;
  /** Some of it was not captured, or it exceeded the bounds: it is consumed, not decoded. */
  lost: boolean;
}

interface Direction {
  framer: Http2Framer;
  hpack: HpackDecoder;
  block: Block | null;
}

const newHalf = (): Half => ({ headers: null, trailers: [], startNs: 0n, endNs: 0n, bodySize: 0, ended: false, lost: 0, grpc: null });
const other = (side: MessageSide): MessageSide => (side === 'request' ? 'response' : 'request');

export class Http2Connection implements ProtocolSession {
  private readonly dirs: Record<MessageSide, Direction>;
  /** Open streams in order of first sight (eviction order). */
  private readonly streams = new Map<number, Stream>();
  /** Highest pushed (even) stream id promised: ids only grow (§5.1.1). */
  private maxPushedStream = 0;
  /** Streams completed lately: frames still in flight for them (after a reset) open nothing. */
  private readonly recent = new Set<number>();
  private readonly recentOrder: number[] = [];
  /** Streams whose response ended before their request's HEADERS were seen. */
  private readonly awaitingRequest = new Set<Stream>();
  private done: Http2Exchange[] = [];
  private closed = false;
  private readonly maxStreams: number;
  private readonly maxHeaderBlock: number;
  private readonly maxContinuations: number;
  private readonly counters: Http2SessionStats = {
    streams: 0, exchanges: 0, headersLostExchanges: 0, orphanStreams: 0, evictedStreams: 0, resets: 0, goaways: 0, refusedStreams: 0,
    interimResponses: 0, lostHeaderBlocks: 0, protocolErrors: 0, closedStreamFrames: 0, midstream: 0, internalErrors: 0,
  };

  constructor(readonly connection: ConnectionInfo, opts: Http2ConnectionOptions = {}) {
    this.maxStreams = Math.max(1, Math.floor(opts.maxStreams ?? DEFAULT_MAX_STREAMS));
    this.maxHeaderBlock = Math.max(256, Math.floor(opts.maxHeaderBlock ?? DEFAULT_MAX_HEADER_BLOCK));
    this.maxContinuations = Math.max(1, Math.floor(opts.maxContinuations ?? DEFAULT_MAX_CONTINUATIONS));
    const hpackOpts = {
      ...(opts.maxHeaderListBytes === undefined ? {} : { maxHeaderListBytes: opts.maxHeaderListBytes }),
      ...(opts.tableMemoryLimit === undefined ? {} : { tableMemoryLimit: opts.tableMemoryLimit }),
    };
    const direction = (side: MessageSide): Direction => ({
      framer: new Http2Framer(this.sinkFor(side), { expectPreface: side === 'request', maxHeaderBlock: this.maxHeaderBlock }),
      hpack: new HpackDecoder(hpackOpts),
      block: null,
    });
    this.dirs = { request: direction('request'), response: direction('response') };
  }

  /**
   * The direction of `side`. Read as `dirs[side]`, a keyed load whose key is one of two names, it was
   * a megamorphic load (a stub cache probe) in the optimized code, for every chunk and header block.
   */
  private dir(side: MessageSide): Direction {
    return side === 'request' ? this.dirs.request : this.dirs.response;
  }

  // --- ProtocolSession ---------------------------------------------------------------------------

  data(side: MessageSide, bytes: Uint8Array, timeNs: bigint): void {
    if (this.closed) return;
    this.dir(side).framer.feed(bytes, timeNs);
  }

  gap(side: MessageSide, bytes: number, timeNs: bigint): void {
    if (this.closed) return;
    this.dir(side).framer.skip(bytes, timeNs);
  }

  /** The connection closed: every open stream completes as it stands. */
  close(timeNs: bigint): void {
    if (this.closed) return;
    this.closed = true;
    void timeNs;
    try {
      for (const side of ['request', 'response'] as const) {
        const block = this.dir(side).block;
        if (block !== null) this.loseBlock(side, block);
      }
      for (const s of [...this.streams.values()]) this.complete(s);
    } catch {
      this.counters.internalErrors++;
      this.streams.clear();
    }
  }

  drain(): Http2Exchange[] {
    const out = this.done;
    if (out.length > 0) this.done = [];
    return out;
  }

  /** Bytes held between calls: both framers' buffers and header blocks being collected. */
  bufferedBytes(): number {
    let n = 0;
    for (const side of ['request', 'response'] as const) {
      n += this.dir(side).framer.bufferedBytes();
      n += this.dir(side).block?.bytes ?? 0;
    }
    return n;
  }

  /** Flat sums for the collector's self-metrics: the session's, both framers' and both decoders'. */
  stats(): Record<string, number> {
    const out: Record<string, number> = { ...this.counters };
    for (const side of ['request', 'response'] as const) {
      const f: FramerStats = this.dir(side).framer.stats();
      for (const [k, v] of Object.entries(f)) out[k] = (out[k] ?? 0) + v;
      const h: HpackStats = this.dir(side).hpack.stats();
      for (const [k, v] of Object.entries(h)) {
        const key = `hpack${k[0]!.toUpperCase()}${k.slice(1)}`;
        out[key] = (out[key] ?? 0) + v;
      }
    }
    out.openStreams = this.streams.size;
    return out;
  }

  // --- frames ------------------------------------------------------------------------------------

  private sinkFor(side: MessageSide): FramerSink {
    return {
      onFrame: (h, payload, endNs) => this.frame(side, h, payload, endNs),
      onData: (h, bytes, from, to, timeNs) => this.dataBytes(side, h, bytes, from, to, timeNs),
      onDataGap: (h, n, timeNs) => this.dataGap(side, h, n, timeNs),
      onDataEnd: (h, endNs) => this.dataEnd(side, h, endNs),
      onSyncLost: (reason) => this.syncLost(side, reason),
      onStart: (preface) => this.started(preface),
    };
  }

  private started(preface: boolean): void {
    if (preface) return;
    // Mid-stream: the dynamic tables of both directions hold entries from before the capture.
    this.counters.midstream = 1;
    this.dirs.request.hpack.assumeUnknownTail();
    this.dirs.response.hpack.assumeUnknownTail();
  }

  private frame(side: MessageSide, h: FrameHeader, payload: Buffer | null, endNs: bigint): void {
    const dir = this.dir(side);
    // §6.10: a header block is a contiguous sequence of frames; anything else in between is a
    // connection error. Take the block as lost and the frame as what it is.
    if (dir.block !== null && h.type !== CONTINUATION) {
      this.counters.protocolErrors++;
      this.loseBlock(side, dir.block);
    }
    switch (h.type) {
      case HEADERS:
      case PUSH_PROMISE: {
        if (h.type === PUSH_PROMISE && side === 'request') this.counters.protocolErrors++; // §8.4: servers push
        const fragment = payload === null ? null : headerFragment(h, payload);
        const block: Block = {
          streamId: h.streamId, type: h.type, flags: h.flags, promisedId: fragment?.promisedId ?? 0,
          parts: fragment === null ? [] : [fragment.fragment], bytes: fragment?.fragment.length ?? 0,
          continuations: 0, startNs: h.startNs, lost: fragment === null,
        };
        if ((h.flags & END_HEADERS) !== 0) this.endBlock(side, block, endNs);
        else {
          // CONTINUATION frames follow in later calls: keep a copy of the fragment.
          block.parts = block.parts.map((part) => Buffer.from(part));
          dir.block = block;
        }
        return;
      }
      case CONTINUATION: {
        const block = dir.block;
        if (block === null || block.streamId !== h.streamId) {
          this.counters.protocolErrors++;
          if (block !== null) this.loseBlock(side, block);
          return;
        }
        if (payload === null || ++block.continuations > this.maxContinuations || block.bytes + payload.length > this.maxHeaderBlock) {
          block.lost = true;
          block.parts = [];
        } else if (!block.lost) {
          block.parts.push(Buffer.from(payload)); // the payload views the caller's chunk
          block.bytes += payload.length;
        }
        if ((h.flags & END_HEADERS) !== 0) {
          dir.block = null;
          this.endBlock(side, block, endNs);
        }
        return;
      }
      case RST_STREAM: {
        if (payload === null) return;
        const s = this.streams.get(h.streamId);
        if (s === undefined) {
          this.counters.closedStreamFrames++;
          return;
        }
        this.counters.resets++;
        const code = u32(payload, 0);
        // §8.1: a server may end the response and then reset the request with NO_ERROR: not a failure.
        if (!(code === NO_ERROR && s.response.ended)) s.reset = errorCodeName(code);
        this.touch(s, side, endNs);
        this.complete(s);
        return;
      }
      case SETTINGS: {
        if (payload === null || (h.flags & ACK) !== 0) return;
        // Settings describe what the sender accepts: they bound what the other side sends.
        const peer = this.dir(other(side));
        for (let p = 0; p + 6 <= payload.length; p += 6) {
          const id = (payload[p]! << 8) | payload[p + 1]!;
          const value = u32(payload, p + 2);
          if (id === SETTINGS_HEADER_TABLE_SIZE) peer.hpack.allowTableSize(value);
          else if (id === SETTINGS_MAX_FRAME_SIZE) peer.framer.setMaxFrameSize(value);
        }
        return;
      }
      case GOAWAY: {
        if (payload === null || payload.length < 8) return;
        this.counters.goaways++;
        // §6.8: streams the sender's peer initiated above last-stream-id were not processed.
        const last = u32(payload, 0) & 0x7fffffff;
        const refusedParity = side === 'response' ? 1 : 0;
        for (const s of [...this.streams.values()]) {
          if (s.id > last && s.id % 2 === refusedParity) {
            this.counters.refusedStreams++;
            s.reset = 'REFUSED_STREAM';
            this.complete(s);
          }
        }
        return;
      }
      default:
        // PRIORITY, PING, WINDOW_UPDATE: nothing an exchange reports.
    }
  }

  private dataBytes(side: MessageSide, h: FrameHeader, bytes: Buffer, from: number, to: number, timeNs: bigint): void {
    const s = this.streamFor(h.streamId, timeNs);
    if (s === null) return;
    const half = side === 'request' ? s.request : s.response;
    half.bodySize += to - from;
    half.endNs = timeNs;
    half.grpc?.feed(bytes, from, to);
  }

  private dataGap(side: MessageSide, h: FrameHeader, n: number, timeNs: bigint): void {
    const s = this.streamFor(h.streamId, timeNs);
    if (s === null) return;
    const half = side === 'request' ? s.request : s.response;
    half.bodySize += n;
    half.endNs = timeNs;
    half.grpc?.skip(n);
  }

  private dataEnd(side: MessageSide, h: FrameHeader, endNs: bigint): void {
    if ((h.flags & END_STREAM) === 0) {
      const s = this.streams.get(h.streamId);
      if (s !== undefined) this.touch(s, side, endNs);
      return;
    }
    const s = this.streamFor(h.streamId, h.startNs);
    if (s !== null) this.endHalf(s, side, endNs);
  }

  private syncLost(side: MessageSide, reason: SyncLossReason): void {
    void reason;
    const dir = this.dir(side);
    // Frames went by unseen: header blocks among them changed the table in unknown ways.
    if (dir.block !== null) this.loseBlock(side, dir.block);
    dir.hpack.desync();
  }

  // --- header blocks -----------------------------------------------------------------------------

  private loseBlock(side: MessageSide, block: Block): void {
    this.dir(side).block = null;
    block.lost = true;
    block.parts = [];
    this.endBlock(side, block, block.startNs);
  }

  private endBlock(side: MessageSide, block: Block, endNs: bigint): void {
    const dir = this.dir(side);
    let headers: HeaderList = [];
    let lost = 0;
    if (block.lost) {
      this.counters.lostHeaderBlocks++;
      dir.hpack.desync();
      lost = 1;
    } else {
      const decoded = dir.hpack.decode(block.parts.length === 1 ? block.parts[0]! : Buffer.concat(block.parts));
      headers = decoded.headers;
      lost = decoded.lost + (decoded.error === null ? 0 : 1);
    }
    if (block.type === PUSH_PROMISE) {
      if (side === 'response') this.promise(block, headers, lost, endNs);
      return;
    }
    const s = this.streamFor(block.streamId, block.startNs);
    if (s === null) return;
    const half = side === 'request' ? s.request : s.response;
    half.lost += lost;
    if (half.headers === null && !block.lost) {
      const status = side === 'response' ? headerValue(headers, ':status') : undefined;
      if (status !== undefined && status.length === 3 && status[0] === '1') {
        // §8.1: informational responses precede the final one.
        this.counters.interimResponses++;
        return;
      }
      // Trailers without the header block they follow (the capture began between them).
      if (side === 'response' && status === undefined && lost === 0 && s.response.bodySize > 0) half.trailers.push(...headers);
      else {
        half.headers = headers;
        half.startNs = block.startNs;
        if (side === 'request') this.requestOpened(s);
        const contentType = headerValue(headers, 'content-type');
        const grpc = isGrpcContentType(contentType) || (side === 'response' && s.request.grpc !== null);
        if (grpc) half.grpc = new GrpcMessageCounter();
      }
    } else if (!block.lost) half.trailers.push(...headers);
    if (half.startNs === 0n) half.startNs = block.startNs;
    half.endNs = endNs;
    if ((block.flags & END_STREAM) !== 0) this.endHalf(s, side, endNs);
  }

  /** §6.6: PUSH_PROMISE carries the request of a stream the server will open (an even id). */
  private promise(block: Block, headers: HeaderList, lost: number, endNs: bigint): void {
    const id = block.promisedId;
    if (id === 0 || id % 2 !== 0 || id <= this.maxPushedStream) {
      this.counters.protocolErrors++;
      return;
    }
    this.maxPushedStream = id;
    const s = this.open(id, block.startNs, true);
    s.request.headers = block.lost ? null : headers;
    s.request.lost = lost;
    s.request.startNs = block.startNs;
    s.request.endNs = endNs;
    s.request.ended = true; // a promised request has no body (§8.4)
  }

  // --- streams -----------------------------------------------------------------------------------

  /**
   * The stream a frame belongs to, opened on first sight — from either direction: the two
   * directions are captured by different syscalls, and a response's first bytes can be reported
   * just before its request's. Frames for a stream completed lately (a reset's frames in flight)
   * open nothing; pushed (even) streams open only by promise.
   */
  private streamFor(id: number, timeNs: bigint): Stream | null {
    const s = this.streams.get(id);
    if (s !== undefined) return s;
    if (id % 2 === 0 || this.recent.has(id)) {
      this.counters.closedStreamFrames++;
      return null;
    }
    return this.open(id, timeNs, false);
  }

  private open(id: number, timeNs: bigint, pushed: boolean): Stream {
    if (this.streams.size >= this.maxStreams) {
      const oldest = this.streams.values().next().value;
      if (oldest !== undefined) {
        this.counters.evictedStreams++;
        this.complete(oldest);
      }
    }
    const s: Stream = { id, firstNs: timeNs, request: newHalf(), response: newHalf(), pushed };
    this.streams.set(id, s);
    this.counters.streams++;
    return s;
  }

  private touch(s: Stream, side: MessageSide, timeNs: bigint): void {
    const half = side === 'request' ? s.request : s.response;
    if (timeNs > half.endNs) half.endNs = timeNs;
  }

  private endHalf(s: Stream, side: MessageSide, endNs: bigint): void {
    const half = side === 'request' ? s.request : s.response;
    half.ended = true;
    half.endNs = endNs;
    // The response ends the exchange once the request has ended too.
    if (!s.response.ended || s.request.ended) {
      if (s.response.ended) this.complete(s);
      return;
    }
    if (s.request.headers !== null) return; // the request body is still coming
    // The request's HEADERS were not seen. They began before the capture (mid-stream) or were
    // lost: complete now. Otherwise they may still be reported: wait until they are, or until
    // the client opens a later stream (it opens them in order of id, §5.1.1).
    if (this.counters.midstream === 1 || s.request.lost > 0) this.complete(s);
    else this.awaitingRequest.add(s);
  }

  /** The client opened stream `id`: streams below it whose request never showed are complete. */
  private requestOpened(s: Stream): void {
    this.awaitingRequest.delete(s);
    for (const w of [...this.awaitingRequest]) if (w.id < s.id) this.complete(w);
  }

  private complete(s: Stream): void {
    if (!this.streams.delete(s.id)) return;
    this.awaitingRequest.delete(s);
    this.recent.add(s.id);
    this.recentOrder.push(s.id);
    if (this.recentOrder.length > RECENT_STREAMS) this.recent.delete(this.recentOrder.shift()!);
    const ex = this.toExchange(s);
    if (ex === null) {
      this.counters.orphanStreams++;
      return;
    }
    this.counters.exchanges++;
    if (ex.headersLost === true) this.counters.headersLostExchanges++;
    this.done.push(ex);
  }

  private toExchange(s: Stream): Http2Exchange | null {
    const { request: q, response: r } = s;
    if (q.headers === null && r.headers === null && r.trailers.length === 0) return null;
    let method = '';
    let path = '';
    let authority: string | undefined;
    let scheme: string | undefined;
    const headers: HeaderList = [];
    for (const field of q.headers ?? []) {
      const [name, value] = field;
      if (name.charCodeAt(0) !== 0x3a) headers.push(field);
      else if (name === ':method') method = value;
      else if (name === ':path') path = value;
      else if (name === ':authority') authority = value;
      else if (name === ':scheme') scheme = value;
    }
    // §8.3.1: :authority takes the place of Host; the HTTP conventions read Host.
    if (authority !== undefined && headerValue(headers, 'host') === undefined) headers.unshift(['host', authority]);
    const startNs = q.headers !== null ? q.startNs : s.firstNs;
    const request: HttpRequestMessage = {
      kind: 'request', method, target: method === 'CONNECT' ? (authority ?? '') : path, version: '2', headers: headerPairs(headers),
      bodySize: q.bodySize, bodyPrefix: EMPTY, startNs, endNs: q.endNs > startNs ? q.endNs : startNs,
    };
    let response: HttpResponseMessage | null = null;
    if (r.headers !== null) {
      const status = Number(headerValue(r.headers, ':status') ?? '0');
      response = {
        kind: 'response', statusCode: Number.isInteger(status) ? status : 0, reason: '', version: '2',
        headers: headerPairs(r.headers.filter(([name]) => name.charCodeAt(0) !== 0x3a)),
        bodySize: r.bodySize, bodyPrefix: EMPTY, startNs: r.startNs, endNs: r.endNs > r.startNs ? r.endNs : r.startNs, interim: false, endedByClose: false,
      };
    }
    const ex: Http2Exchange = {
      protocol: 'http2', connection: this.connection, ordinal: s.id >>> 1, streamId: s.id, request, response, trailers: r.trailers,
    };
    if (scheme !== undefined) ex.scheme = scheme;
    if (q.grpc !== null || r.grpc !== null) ex.grpc = grpcCall(path, q, r);
    if (s.reset !== undefined) ex.reset = s.reset;
    if (q.lost > 0 || r.lost > 0 || q.headers === null) ex.headersLost = true;
    if (s.pushed) ex.pushed = true;
    return ex;
  }
}

function grpcCall(path: string, q: Half, r: Half): GrpcCall {
  const call: GrpcCall = { method: path, requestMessages: q.grpc?.messages ?? 0, responseMessages: r.grpc?.messages ?? 0 };
  // Trailers carry the status; a Trailers-Only response carries it in its only header block.
  const status = headerValue(r.trailers, 'grpc-status') ?? (r.headers === null ? undefined : headerValue(r.headers, 'grpc-status'));
  if (status !== undefined && /^\d{1,9}$/.test(status)) call.status = Number(status);
  const message = headerValue(r.trailers, 'grpc-message') ?? (r.headers === null ? undefined : headerValue(r.headers, 'grpc-message'));
  if (message !== undefined) call.message = decodeGrpcMessage(message);
  if (q.grpc?.lost === true || r.grpc?.lost === true) call.messagesLost = true;
  return call;
}

/** HTTP/2 with prior knowledge (h2c) for the connection tracker. kernelId is PROTO_HTTP2. */
export const http2Handler: ProtocolHandler = {
  name: 'http2',
  kernelId: 2,
  looksLikeRequest: looksLikeHttp2Request,
  looksLikeResponse: looksLikeHttp2Response,
  open: (connection) => new Http2Connection(connection),
};
