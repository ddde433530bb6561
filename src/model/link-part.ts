// The name both ends of a local connection give it ("client>server"), and which connections on this
// host are followed at both ends. The span linker joins a request's CLIENT and SERVER spans by it
// (agent/span-linker.ts); the socket tracker tells it which connections it follows, so that a span
// whose other end is not followed here (a client on another host, a process not traced) does not
// wait for a half that cannot come.
import type { ConnectionInfo } from './connection.js';

/** "::ffff:127.0.0.1" and "127.0.0.1" are the same peer. */
function host(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/** Loopback never leaves its network namespace: the same addresses in two namespaces are two connections. */
function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1';
}

/**
 * "client>server" of a connection, or null when it cannot name one end. Over loopback both ends are
 * in one network namespace, which the part names too (two pods' sidecars may use the same loopback
 * addresses at once); other addresses name their ends across namespaces (a veth pair), so the part
 * cannot include it there.
 */
function connectionPart(c: ConnectionInfo): string | null {
  if (c.role === 'unknown' || c.local.port === 0 || c.remote.port === 0) return null;
  const local = `${host(c.local.address)}:${c.local.port}`;
  const remote = `${host(c.remote.address)}:${c.remote.port}`;
  const ends = c.role === 'client' ? `${local}>${remote}` : `${remote}>${local}`;
  return c.netns !== undefined && isLoopback(host(c.local.address)) ? `${ends}@${c.netns}` : ends;
}

/**
 * The connection's part (see connectionPart), the same string for both of its ends. A TCP
 * connection's is made once and kept on its info: its ends never change (a datagram socket's peer
 * does, per datagram, so those are not kept). A WeakMap by connection cost ~5-10 % of the path under
 * a connection per request, in time though hardly in instructions (an insertion per connection into
 * a table as large as the connections alive, and ephemerons for the GC to walk).
 */
export function linkPart(c: ConnectionInfo): string | null {
  const known = c.linkPartMemo;
  if (known !== undefined) return known;
  const part = connectionPart(c);
  if (part !== null && c.transport === 'tcp') c.linkPartMemo = part;
  return part;
}

/**
 * TCP connections the socket tracker follows, by part: a connection whose both ends are processes
 * traced here counts two. Told by the tracker as it starts and stops following each one. Datagram
 * sockets are not told (their part changes with each peer): of them nothing is known.
 */
export class FollowedConnections {
  readonly #ends = new Map<string, number>();

  /** The part under which connection `c` is followed: its link part when it is TCP, else null. */
  static partOf(c: ConnectionInfo): string | null {
    return c.transport === 'tcp' ? linkPart(c) : null;
  }

  add(part: string): void {
    this.#ends.set(part, (this.#ends.get(part) ?? 0) + 1);
  }

  remove(part: string): void {
    const n = (this.#ends.get(part) ?? 0) - 1;
    if (n > 0) this.#ends.set(part, n);
    else this.#ends.delete(part);
  }

  /**
   * Whether spans of the other end of connection `c` (link part `part`) can still come: both its
   * ends are followed now, or it is not a connection this tells of (a datagram socket).
   */
  otherEndMayCome(c: ConnectionInfo, part: string): boolean {
    return c.transport !== 'tcp' || this.bothEnds(part);
  }

  /** Whether both ends of connection `part` are followed now. */
  bothEnds(part: string): boolean {
    return (this.#ends.get(part) ?? 0) >= 2;
  }

  get size(): number {
    return this.#ends.size;
  }
}
