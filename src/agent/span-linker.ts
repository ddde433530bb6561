// Holds finished spans briefly so the CLIENT span of one process and the SERVER span of another,
// for the same request on the same host, can be joined parent → child before export.
//
// Both ends of a local connection are traced: the client's (local → remote) is the server's
// (remote → local). With what the protocol says of the request (for HTTP its ordinal on the
// connection, method and target), that names one request on both sides.
import type { ConnectionInfo } from '../model/connection.js';
import type { Exchange } from '../model/exchange.js';
import type { SpanRecord } from '../model/span.js';

export interface SpanLinkerOptions {
  /** How long a span waits for its other half. */
  windowMs: number;
  /** Bound on spans held; past it the oldest leave unlinked. */
  maxHeld: number;
  release(spans: SpanRecord[]): void;
  now?: () => number;
}

interface Held {
  span: SpanRecord;
  key: string;
  deadline: number;
}

/** "::ffff:127.0.0.1" and "127.0.0.1" are the same peer. */
function host(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/** "client>server" of a connection, or null when it cannot name one end. */
function connectionPart(c: ConnectionInfo): string | null {
  if (c.role === 'unknown' || c.local.port === 0 || c.remote.port === 0) return null;
  const local = `${host(c.local.address)}:${c.local.port}`;
  const remote = `${host(c.remote.address)}:${c.remote.port}`;
  return c.role === 'client' ? `${local}>${remote}` : `${remote}>${local}`;
}

/** The connection part per TCP connection, made once: its ends never change (a datagram socket's
 * peer does, per datagram, so those are not kept). Weak: it goes with the connection. */
const connectionParts = new WeakMap<ConnectionInfo, string | null>();

/** Names one request on both ends of a local connection; `id` is the protocol's own part. */
export function linkKey(ex: Exchange, id: string | null): string | null {
  if (id === null) return null;
  const c = ex.connection;
  let part = connectionParts.get(c);
  if (part === undefined) {
    part = connectionPart(c);
    if (c.transport === 'tcp') connectionParts.set(c, part);
  }
  return part === null ? null : `${part} ${id}`;
}

export class SpanLinker {
  #held = new Map<string, Held>();
  /** Held spans in arrival (so deadline) order: `#queue[#head..]`; released from the front in O(1). */
  #queue: Held[] = [];
  #head = 0;
  #timer: NodeJS.Timeout | null = null;
  #linked = 0;
  #overflow = 0;
  readonly #now: () => number;

  constructor(private readonly opts: SpanLinkerOptions) {
    this.#now = opts.now ?? Date.now;
  }

  add(span: SpanRecord, key: string | null): void {
    const other = key !== null ? this.#held.get(key) : undefined;
    if (other !== undefined && other.span.kind !== span.kind) {
      if (span.kind === 'client') this.#join(span, other.span);
      else this.#join(other.span, span);
    }
    const entry: Held = { span, key: key ?? '', deadline: this.#now() + this.opts.windowMs };
    // Held under its key unless a span of the same kind waits there first (the one a later other
    // half joins); a joined span takes its other half's place.
    if (key !== null && (other === undefined || other.span.kind !== span.kind)) this.#held.set(key, entry);
    this.#queue.push(entry);
    if (this.#size() > this.opts.maxHeld) {
      this.#overflow++;
      this.#release(this.#size() - this.opts.maxHeld);
    }
    this.#timer ??= setTimeout(() => this.#tick(), this.opts.windowMs).unref();
  }

  /**
   * The server span becomes the client span's child, unless the request carried the application's
   * own context to the server that the client span does not share.
   */
  #join(client: SpanRecord, server: SpanRecord): void {
    const serverFree = server.parentSpanId === undefined ||
      (server.traceId === client.traceId && server.parentSpanId === client.parentSpanId);
    if (!serverFree) return;
    server.traceId = client.traceId;
    server.parentSpanId = client.spanId;
    this.#linked++;
  }

  #tick(): void {
    this.#timer = null;
    const now = this.#now();
    let n = 0;
    while (this.#head + n < this.#queue.length && this.#queue[this.#head + n]!.deadline <= now) n++;
    this.#release(n);
    if (this.#size() > 0) {
      const wait = Math.max(1, this.#queue[this.#head]!.deadline - now);
      this.#timer = setTimeout(() => this.#tick(), wait).unref();
    }
  }

  #size(): number {
    return this.#queue.length - this.#head;
  }

  #release(n: number): void {
    if (n <= 0) return;
    const spans: SpanRecord[] = new Array<SpanRecord>(n);
    for (let i = 0; i < n; i++) {
      const h = this.#queue[this.#head + i]!;
      if (h.key !== '' && this.#held.get(h.key) === h) this.#held.delete(h.key);
      spans[i] = h.span;
    }
    this.#head += n;
    // Shift the live part down only once the released part dominates: amortised O(1) per span (a
    // splice per release made every add O(held) once the linker was full: the overload cliff).
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    this.opts.release(spans);
  }

  /** Releases everything now (agent stop). */
  flush(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#release(this.#size());
  }

  stats(): { held: number; linked: number; overflow: number } {
    return { held: this.#size(), linked: this.#linked, overflow: this.#overflow };
  }
}
