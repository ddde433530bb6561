// Connection tracker: socket events in, exchanges out. Keyed by (pid, fd, generation); per direction
// a StreamAssembler puts bytes in order; the connection's protocol session parses them. Bounded:
// at most `maxConnections` tracked, idle ones evicted.
import type { ConnectionInfo, ConnectionRole, Direction } from '../../model/connection.js';
import type { Exchange } from '../../model/exchange.js';
import { FollowedConnections } from '../../model/link-part.js';
import type { MessageSide, ProtocolHandler, ProtocolSession } from '../../protocols/session.js';
import type { SocketClose, SocketData, SocketEvent, SocketOpen, SocketPair, SocketShed } from './decode.js';
import { ClosedConnections } from './closed-connections.js';
import { ConnectionTable } from './connection-table.js';
import { StreamAssembler } from './stream.js';

export interface TrackerOptions {
  maxConnections: number;
  idleTimeoutMs: number;
  handlers: ProtocolHandler[];
  /** Receives finished exchanges. */
  onExchange(exchange: Exchange): void;
  /** Told of every TCP connection followed here, by its link part, while it is (the span linker asks it). */
  followed?: FollowedConnections;
  /**
   * May the kernel's counts of exchanges of a connection closing now still come (counted() after
   * the close)? Only then is the connection remembered once closed. Absent: always remembered.
   */
  countsMayFollowClose?: () => boolean;
}

export interface TrackerStats {
  connections: number;
  opened: number;
  closed: number;
  evictedIdle: number;
  evictedFull: number;
  dataWithoutOpen: number;
  roleUnresolved: number;
  unknownProtocol: number;
  exchanges: number;
  /** Exchanges shed in the kernel that came as summaries, and those no session could take. */
  shedInKernel: number;
  shedUnreadable: number;
  /** Exchanges shed in the kernel that came as counts (kernel-red.ts), and those no session could describe. */
  shedCounted: number;
  shedCountedUnreadable: number;
  tlsConnections: number;
  bytesDelivered: number;
  bytesGap: number;
  gaps: number;
  [protocolCounter: string]: number;
}

class TrackedConnection {
  info: ConnectionInfo;
  /** Its link part as told to FollowedConnections (null: not told: no part yet, or not TCP). */
  followedAs: string | null = null;
  /** The next connection of the same generation in the tracker's table (ConnectionTable). */
  sameGeneration: TrackedConnection | null = null;
  session: ProtocolSession | null = null;
  handler: ProtocolHandler | null = null;
  lastSeenMs: number;
  streams: Record<Direction, StreamAssembler>;

  constructor(info: ConnectionInfo, nowMs: number) {
    this.info = info;
    this.lastSeenMs = nowMs;
    this.streams = {
      egress: new StreamAssembler({ data: (b, t) => this.#data('egress', b, t), gap: (n, t) => this.#gap('egress', n, t) }),
      ingress: new StreamAssembler({ data: (b, t) => this.#data('ingress', b, t), gap: (n, t) => this.#gap('ingress', n, t) }),
    };
  }

  /** A new one's state, for another connection (the tracker's pool). */
  startOver(info: ConnectionInfo, nowMs: number): void {
    this.restart(info);
    this.followedAs = null;
    this.sameGeneration = null;
    this.lastSeenMs = nowMs;
  }

  /**
   * No session, and streams started over: the bytes that follow are another conversation (a TLS
   * upgrade, another connection). Their counters are the tracker's to have read before.
   */
  restart(info: ConnectionInfo): void {
    this.info = info;
    this.session = null;
    this.handler = null;
    this.streams.egress.startOver();
    this.streams.ingress.startOver();
  }

  /**
   * The stream of `direction`. Read as `streams[direction]`, a keyed load whose key is one of two
   * names, it was a megamorphic load (a stub cache probe) in the optimized code, three per exchange.
   */
  stream(direction: Direction): StreamAssembler {
    return direction === 'egress' ? this.streams.egress : this.streams.ingress;
  }

  side(direction: Direction): MessageSide | null {
    if (this.info.role === 'server') return direction === 'ingress' ? 'request' : 'response';
    if (this.info.role === 'client') return direction === 'egress' ? 'request' : 'response';
    return null;
  }

  #data(direction: Direction, bytes: Uint8Array, timeNs: bigint): void {
    const side = this.side(direction);
    if (side !== null) this.session?.data(side, bytes, timeNs);
  }

  #gap(direction: Direction, n: number, timeNs: bigint): void {
    const side = this.side(direction);
    if (side !== null) this.session?.gap(side, n, timeNs);
  }
}

/**
 * Ended connections kept for the next ones (their objects and stream assemblers): with
 * connection-per-request traffic, making them for every connection was what most often outlived a
 * young-generation GC. LIFO, bounded: a burst's leftovers are let go past this.
 */
const MAX_IDLE_CONNECTIONS = 64;

/**
 * How long, and how many, closed connections are remembered for the kernel's late counts. A flood
 * of short connections closes ~11,000 a second, both ends traced (test/agent/flood.test.ts), and
 * the counts come up to two drain periods late, later while the agent lags under SCHED_IDLE: with
 * 16,384 remembered, 241 of 67,263 nginx exchanges counted in the kernel could not be attributed
 * (`tracker_shedCountedUnreadable`) and nginx's RED came out short. ~90 bytes an entry
 * (closed-connections.ts): ~6 MB at most, once such a flood has been.
 */
const CLOSED_REMEMBERED_MS = 10_000;
const MAX_CLOSED_REMEMBERED = 65_536;

export class ConnectionTracker {
  readonly #conns = new ConnectionTable<TrackedConnection>();
  readonly #counters = { opened: 0, closed: 0, evictedIdle: 0, evictedFull: 0, dataWithoutOpen: 0, roleUnresolved: 0, unknownProtocol: 0, exchanges: 0, shedInKernel: 0, shedUnreadable: 0, shedCounted: 0, shedCountedUnreadable: 0, tlsConnections: 0 };
  /** Stream and protocol counters of connections already gone. */
  readonly #retired = new ConnectionCounters();
  /**
   * Connections closed lately, by generation: the kernel's counts of their last shed exchanges
   * arrive up to two drain periods after the close (kernel-red.ts).
   */
  readonly #closed = new ClosedConnections(MAX_CLOSED_REMEMBERED, CLOSED_REMEMBERED_MS);
  /** Ended connections, their session given back, for #track to start over (MAX_IDLE_CONNECTIONS). */
  readonly #idle: TrackedConnection[] = [];

  constructor(private readonly opts: TrackerOptions, private readonly now: () => number = Date.now) {}

  handle(e: SocketEvent): void {
    if (e.type === 'open') this.#open(e);
    else if (e.type === 'data') this.#data(e);
    else if (e.type === 'pair') this.#pair(e);
    else if (e.type === 'close') this.#close(e);
    else if (e.type === 'shed') this.#shed(e);
  }

  #open(e: SocketOpen): void {
    const old = this.#conns.find(e.pid, e.fd, e.generation);
    if (old !== undefined) this.#finish(old, e.timeNs);
    this.#counters.opened++;
    this.#insert(this.#track({
      pid: e.pid, fd: e.fd, generation: e.generation, role: e.role, family: e.family, transport: e.transport, local: e.local, remote: e.remote,
      ...(e.netns !== 0 ? { netns: e.netns } : {}),
    }));
  }

  /** A connection to track as `info`: an ended one started over, or a new one. */
  #track(info: ConnectionInfo): TrackedConnection {
    const c = this.#idle.pop();
    if (c === undefined) return new TrackedConnection(info, this.now());
    c.startOver(info, this.now());
    return c;
  }

  #insert(c: TrackedConnection): void {
    if (this.#conns.size >= this.opts.maxConnections) {
      // Full: the least recently active connection goes. Found by a scan, only when full: keeping
      // the Map in recency order instead cost a delete and a set on every record.
      let oldest: TrackedConnection | null = null;
      for (const x of this.#conns.all()) if (oldest === null || x.lastSeenMs < oldest.lastSeenMs) oldest = x;
      if (oldest !== null) {
        this.#counters.evictedFull++;
        this.#finish(oldest, null);
      }
    }
    this.#conns.add(c);
    this.#follow(c);
  }

  /**
   * Tells FollowedConnections the connection's link part as it is now (it has none while its role
   * is unknown). Removed when the connection ends, once its last exchanges are out: whatever of them
   * waits in the linker is found there without it.
   */
  #follow(c: TrackedConnection): void {
    const followed = this.opts.followed;
    if (followed === undefined) return;
    const part = FollowedConnections.partOf(c.info);
    if (part === c.followedAs) return;
    if (c.followedAs !== null) followed.remove(c.followedAs);
    if (part !== null) followed.add(part);
    c.followedAs = part;
  }

  #unfollow(c: TrackedConnection): void {
    if (c.followedAs !== null) this.opts.followed?.remove(c.followedAs);
    c.followedAs = null;
  }

  #data(e: SocketData): void {
    const c = this.#connectionOf(e);
    if (c === null) return;
    this.#feed(c, e);
    this.#drain(c);
  }

  #feed(c: TrackedConnection, e: SocketData): void {
    const stream = c.stream(e.direction);
    if (e.dataLength === 0) stream.skip(e.position, e.callLen, e.timeNs);
    else stream.chunk(e.position, e.data, e.timeNs);
  }

  /**
   * An exchange the kernel paired and kept. Both sides are the same connection's, so it is looked up
   * once. When both continue their streams in order (keep-alive traffic: always), the session takes
   * them in one call; otherwise they go through the streams as the two data events they stand for.
   */
  #pair(e: SocketPair): void {
    const { request: q, response: s } = e;
    const c = this.#connectionOf(q);
    // As the two events would: the response may still start a session the request could not (its
    // role inferred from a status line).
    if (c === null) return this.#data(s);
    const session = c.session!;
    const qs = c.stream(q.direction);
    const ss = c.stream(s.direction);
    if (session.paired !== undefined && q.direction !== s.direction && c.side(q.direction) === 'request' &&
      qs.continues(q.position, q.dataLength) && ss.continues(s.position, s.dataLength)) {
      qs.passed(q.position, q.dataLength);
      ss.passed(s.position, s.dataLength);
      session.paired(q, s, e.both);
    } else {
      session.keptInKernel?.();
      this.#feed(c, q);
      this.#feed(c, s);
    }
    this.#drain(c);
  }

  /** An exchange shed in the kernel: its summary goes to the session, its bytes never come. */
  #shed(e: SocketShed): void {
    const c = this.#connectionOf(e.request);
    if (c === null) return;
    c.streams.egress.restart();
    c.streams.ingress.restart();
    if (c.session!.shedInKernel?.(e.request.data, e.request.timeNs, e.response.data, e.response.timeNs) === true) this.#counters.shedInKernel++;
    else this.#counters.shedUnreadable++;
    this.#drain(c);
  }

  /** The connection a data event belongs to, with its session; null when no protocol session can take it. */
  #connectionOf(e: SocketData): TrackedConnection | null {
    let c = this.#conns.find(e.pid, e.fd, e.generation);
    if (c === undefined) {
      // Its open event was lost (ring full) or evicted: track it with what the data tells.
      this.#counters.dataWithoutOpen++;
      c = this.#track({
        pid: e.pid, fd: e.fd, generation: e.generation, role: e.role, family: 'unknown', transport: e.peer !== null ? 'udp' : 'tcp',
        local: { address: '', port: 0 }, remote: { address: '', port: 0 },
      });
      this.#insert(c);
    }
    c.lastSeenMs = this.now();
    // An unconnected datagram socket talks to whoever the syscall named: that is its peer now.
    if (e.peer !== null) {
      c.info.remote.address = e.peer.address;
      c.info.remote.port = e.peer.port;
    }
    if (e.tls !== null) this.#noteTls(c, e);
    if (c.session === null && !this.#startSession(c, e)) return null;
    if (e.shedBefore > 0) this.#afterCounted(c, e.shedBefore);
    return c;
  }

  /**
   * Exchanges went by that the kernel shed and counted: no bytes of theirs ever come, in either
   * direction (no gap either), and the session numbers its next exchanges past them.
   */
  #afterCounted(c: TrackedConnection, n: number): void {
    c.streams.egress.restart();
    c.streams.ingress.restart();
    c.session!.shedBefore?.(n);
  }

  /**
   * Shed exchanges the kernel counted (kernel-red.ts): `e` is the summary of the first of them, and
   * `describe` makes the exchanges it yields stand for all of them. Described by a session of their
   * own (never the connection's, whose streams have moved on), with the connection as it was
   * tracked, closed since or not. A connection whose every exchange was counted (one request, then
   * close) never had bytes, so no session: the summary's protocol and direction say what it is.
   * False: no connection or no session to describe them (counted).
   */
  counted(e: SocketShed, describe: (ex: Exchange) => void): boolean {
    const q = e.request;
    let info = this.#conns.find(q.pid, q.fd, q.generation)?.info ?? this.#closed.find(q.generation);
    if (info?.role === 'unknown') info = { ...info, role: q.direction === 'egress' ? 'client' : 'server' };
    const handler = this.opts.handlers.find((h) => h.kernelId === q.protocol);
    const session = info === undefined ? undefined : handler?.open(info);
    if (session?.shedInKernel?.(q.data, q.timeNs, e.response.data, e.response.timeNs) !== true) {
      this.#counters.shedCountedUnreadable++;
      return false;
    }
    this.#counters.shedCounted++;
    for (const ex of session.drain()) {
      describe(ex);
      this.opts.onExchange(ex);
    }
    handler!.release?.(session);
    return true;
  }

  /**
   * Plaintext from a TLS library. On a connection that began in cleartext (PostgreSQL's SSLRequest,
   * STARTTLS) the conversation starts over: what was parsed so far ends, the positions restart.
   */
  #noteTls(c: TrackedConnection, e: SocketData): void {
    const tls = e.tls!;
    if (c.info.tls === undefined) {
      this.#counters.tlsConnections++;
      if (c.session?.resumeOverTls?.() === true) {
        // The same conversation goes on (the session holds this info object).
        c.info.tls = { ...tls };
        return;
      }
      if (c.session !== null) {
        c.session.close(e.timeNs);
        this.#drain(c);
      }
      this.#retired.add(c);
      this.#releaseSession(c);
      c.restart({ ...c.info, tls: { ...tls } });
    } else if (tls.version !== undefined && c.info.tls.version === undefined) {
      // Sessions hold this object: the version reaches their exchanges too.
      c.info.tls.version = tls.version;
    }
  }

  /** Picks the protocol and, for connections found mid-life, the role. */
  #startSession(c: TrackedConnection, e: SocketData): boolean {
    const handler = this.opts.handlers.find((h) => h.kernelId === e.protocol) ?? null;
    if (handler === null) {
      this.#counters.unknownProtocol++;
      return false;
    }
    if (c.info.role === 'unknown') {
      const role = inferRole(handler, e);
      if (role === null) {
        this.#counters.roleUnresolved++;
        return false;
      }
      c.info = { ...c.info, role };
      this.#follow(c);
    }
    c.handler = handler;
    c.session = handler.open(c.info);
    return true;
  }

  #close(e: SocketClose): void {
    const c = this.#conns.find(e.pid, e.fd, e.generation);
    if (c === undefined) return;
    this.#counters.closed++;
    // The last exchanges were counted in the kernel: their bytes are in the totals and never came,
    // which without this would end the streams with a gap of their size.
    if (e.shedBefore > 0 && c.session !== null) this.#afterCounted(c, e.shedBefore);
    // The kernel's totals count bytes on the wire: ciphertext, on a TLS connection.
    const tls = c.info.tls !== undefined;
    c.streams.egress.end(tls ? null : e.bytesEgress, e.timeNs);
    c.streams.ingress.end(tls ? null : e.bytesIngress, e.timeNs);
    this.#finish(c, e.timeNs);
  }

  #finish(c: TrackedConnection, timeNs: bigint | null): void {
    // Once per connection: ended twice, its counters would count twice and the pool would hand
    // it to two connections.
    if (!this.#conns.remove(c)) return;
    const t = timeNs ?? BigInt(this.now()) * 1_000_000n;
    c.session?.close(t);
    this.#drain(c);
    // After the drain: the spans of its last exchanges still find both ends followed.
    this.#unfollow(c);
    this.#retired.add(c);
    this.#releaseSession(c);
    // With connection-per-request traffic remembering every closed connection for 10 s was 6-8 % of
    // the JS thread and most of what outlived a young-generation GC: only while counts may follow.
    if (this.opts.countsMayFollowClose?.() !== false) this.#closed.remember(c.info, this.now());
    if (this.#idle.length < MAX_IDLE_CONNECTIONS) this.#idle.push(c);
  }

  /** The connection's session goes back to its handler (counters read, exchanges drained): the connection has none from here. */
  #releaseSession(c: TrackedConnection): void {
    const session = c.session;
    c.session = null;
    if (session !== null) c.handler?.release?.(session);
  }

  #drain(c: TrackedConnection): void {
    const done = c.session?.drain() ?? [];
    for (const ex of done) {
      this.#counters.exchanges++;
      this.opts.onExchange(ex);
    }
  }

  /** Closes connections idle for longer than the timeout; call periodically. */
  sweep(): void {
    const cutoff = this.now() - this.opts.idleTimeoutMs;
    for (const c of this.#conns.all()) {
      if (c.lastSeenMs >= cutoff) continue;
      this.#counters.evictedIdle++;
      this.#finish(c, null);
    }
  }

  /** Ends every connection (agent stop). */
  closeAll(): void {
    for (const c of this.#conns.all()) this.#finish(c, null);
  }

  stats(): TrackerStats {
    // Connections gone are already in #retired; the live ones are added on a copy.
    const all = this.#retired.copy();
    for (const c of this.#conns.all()) all.add(c);
    return { connections: this.#conns.size, ...this.#counters, ...all.named() } as TrackerStats;
  }
}

/**
 * A session counter's name in the tracker's stats ("http1_requests"), made once per protocol and
 * counter.
 */
const counterNames = new Map<string, Map<string, string>>();

function counterName(protocol: string, counter: string): string {
  let names = counterNames.get(protocol);
  if (names === undefined) counterNames.set(protocol, (names = new Map()));
  let name = names.get(counter);
  if (name === undefined) names.set(counter, (name = `${protocol}_${counter}`));
  return name;
}

/**
 * Connections' counters: their streams' summed, and their sessions' summed per protocol under the
 * session's own names, named for the stats ("http1_requests") only when they are read. The tracker
 * adds every connection's as it ends: with connection-per-request traffic, a name looked up and a
 * keyed store into one object of every protocol's names, per counter and connection, was ~3 % of
 * the hot path.
 */
class ConnectionCounters {
  readonly #streams = { bytesDelivered: 0, bytesGap: 0, gaps: 0 };
  /** By protocol: the sum of its sessions' stats (every name a session reported, zeros too). */
  readonly #sessions = new Map<string, Record<string, number>>();

  /** The same sums, to add to apart. */
  copy(): ConnectionCounters {
    const c = new ConnectionCounters();
    Object.assign(c.#streams, this.#streams);
    for (const [protocol, sum] of this.#sessions) c.#sessions.set(protocol, { ...sum });
    return c;
  }

  add(c: TrackedConnection): void {
    for (const s of [c.streams.egress.stats, c.streams.ingress.stats]) {
      this.#streams.bytesDelivered += s.bytesDelivered;
      this.#streams.bytesGap += s.bytesGap;
      this.#streams.gaps += s.gaps;
    }
    const session = c.session;
    if (session === null || session === undefined) return;
    const protocol = c.handler?.name ?? 'unknown';
    const sum = this.#sessions.get(protocol);
    if (sum === undefined) {
      this.#sessions.set(protocol, { ...session.stats() });
    } else if (session.addStatsTo !== undefined) {
      session.addStatsTo(sum);
    } else {
      const stats = session.stats();
      for (const k in stats) sum[k] = (sum[k] ?? 0) + stats[k]!;
    }
  }

  /** Every counter under its stats name, in an object of the caller's. */
  named(): Record<string, number> {
    const out: Record<string, number> = { ...this.#streams };
    for (const [protocol, sum] of this.#sessions) for (const k in sum) out[counterName(protocol, k)] = sum[k]!;
    return out;
  }
}

/** A request leaving means we are the client; a request arriving means we serve it. */
function inferRole(handler: ProtocolHandler, e: SocketData): ConnectionRole | null {
  if (e.dataLength === 0) return null;
  if (handler.looksLikeRequest(e.data)) return e.direction === 'egress' ? 'client' : 'server';
  if (handler.looksLikeResponse(e.data)) return e.direction === 'egress' ? 'server' : 'client';
  return null;
}
