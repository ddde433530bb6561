// The connections closed lately, remembered for the kernel's late counts of their shed exchanges
// (kernel-red.ts): by generation, oldest forgotten first, for a while and up to a bound.
//
// Column-wise in a ring rather than an object per connection. With a connection per request at
// 10k/s over OTLP/gRPC, the kernel sheds from the first contended moment and the memory stays at its
// bound: 65,536 copies of the info, each with its two endpoints, its link-part string and a boxed
// close time, were ~22 MB of the agent's ~50 MB of live heap (heap snapshot), and V8 sized the heap
// around them. Here an entry is ~90 bytes: ~70 of typed arrays and pointers (its addresses are the
// strings address.ts already interned) and four index cells; the info is made again when a count
// asks for it.

import type { ConnectionInfo, ConnectionRole, TlsInfo } from '../../model/connection.js';

const ROLES: readonly ConnectionRole[] = ['client', 'server', 'unknown'];
const FAMILIES: readonly ConnectionInfo['family'][] = ['ipv4', 'ipv6', 'unix', 'unknown'];
const TRANSPORTS: readonly ConnectionInfo['transport'][] = ['tcp', 'udp', 'unknown'];

/**
 * Slots the ring starts with; it doubles up to its bound, so a quiet host holds little. Grown, it
 * stays so (~6 MB at the tracker's bound of 65,536): a host that had such a flood may have another.
 */
const FIRST_CAPACITY = 256;

/** The columns of the ring, one slot per remembered connection. */
class Columns {
  readonly generation: Float64Array;
  readonly closedMs: Float64Array;
  readonly pid: Int32Array;
  readonly fd: Int32Array;
  /** NaN when the kernel did not tell the namespace. */
  readonly netns: Float64Array;
  readonly localPort: Uint16Array;
  readonly remotePort: Uint16Array;
  /** Indexes into ROLES, FAMILIES and TRANSPORTS. */
  readonly role: Uint8Array;
  readonly family: Uint8Array;
  readonly transport: Uint8Array;
  readonly localAddress: string[];
  readonly remoteAddress: string[];
  readonly tls: Array<TlsInfo | undefined>;

  constructor(readonly capacity: number) {
    this.generation = new Float64Array(capacity);
    this.closedMs = new Float64Array(capacity);
    this.pid = new Int32Array(capacity);
    this.fd = new Int32Array(capacity);
    this.netns = new Float64Array(capacity);
    this.localPort = new Uint16Array(capacity);
    this.remotePort = new Uint16Array(capacity);
    this.role = new Uint8Array(capacity);
    this.family = new Uint8Array(capacity);
    this.transport = new Uint8Array(capacity);
    this.localAddress = new Array<string>(capacity).fill('');
    this.remoteAddress = new Array<string>(capacity).fill('');
    this.tls = new Array<TlsInfo | undefined>(capacity).fill(undefined);
  }

  write(slot: number, info: ConnectionInfo, closedMs: number): void {
    this.generation[slot] = info.generation;
    this.closedMs[slot] = closedMs;
    this.pid[slot] = info.pid;
    this.fd[slot] = info.fd;
    this.netns[slot] = info.netns ?? NaN;
    this.localPort[slot] = info.local.port;
    this.remotePort[slot] = info.remote.port;
    this.role[slot] = ROLES.indexOf(info.role);
    this.family[slot] = FAMILIES.indexOf(info.family);
    this.transport[slot] = TRANSPORTS.indexOf(info.transport);
    this.localAddress[slot] = info.local.address;
    this.remoteAddress[slot] = info.remote.address;
    this.tls[slot] = info.tls;
  }

  /** Lets go of what the slot points to. */
  clear(slot: number): void {
    this.localAddress[slot] = '';
    this.remoteAddress[slot] = '';
    this.tls[slot] = undefined;
  }

  read(slot: number): ConnectionInfo {
    const info: ConnectionInfo = {
      pid: this.pid[slot]!,
      fd: this.fd[slot]!,
      generation: this.generation[slot]!,
      role: ROLES[this.role[slot]!]!,
      family: FAMILIES[this.family[slot]!]!,
      transport: TRANSPORTS[this.transport[slot]!]!,
      local: { address: this.localAddress[slot]!, port: this.localPort[slot]! },
      remote: { address: this.remoteAddress[slot]!, port: this.remotePort[slot]! },
    };
    const netns = this.netns[slot]!;
    if (!Number.isNaN(netns)) info.netns = netns;
    const tls = this.tls[slot];
    if (tls !== undefined) info.tls = tls;
    return info;
  }
}

/**
 * Generation → slot of the ring. Generations come from one counter in the kernel, so the connections
 * remembered at once have generations close together: a table indexed by the generation's low bits
 * (four cells per slot) holds nearly every one in its own cell, and the rare one whose cell a newer
 * connection takes (a long-lived connection that closes beside a recent one, 2^k generations apart)
 * moves to a Map. It replaced a Map of every entry: at its bound of 65,536 (a connection per request,
 * contended) its sets, gets and deletes missed the caches and were ~11 % of the agent's JS thread
 * (perf); a cell is one typed-array read.
 */
class GenerationIndex {
  readonly #cells: Int32Array;
  readonly #mask: number;
  /** Entries whose cell a later one took. */
  readonly #moved = new Map<number, number>();

  constructor(slots: number, private readonly generationAt: Float64Array) {
    const cells = 2 ** Math.ceil(Math.log2(4 * slots));
    this.#cells = new Int32Array(cells).fill(-1);
    this.#mask = cells - 1;
  }

  /** Slot `slot` now holds `generation`'s entry. */
  set(generation: number, slot: number): void {
    const cell = generation & this.#mask;
    const held = this.#cells[cell]!;
    if (held >= 0) {
      const heldGeneration = this.generationAt[held]!;
      if (heldGeneration !== generation) this.#moved.set(heldGeneration, held);
      else this.#moved.delete(generation);
    }
    this.#cells[cell] = slot;
  }

  get(generation: number): number | undefined {
    const slot = this.#cells[generation & this.#mask]!;
    if (slot >= 0 && this.generationAt[slot] === generation) return slot;
    return this.#moved.size === 0 ? undefined : this.#moved.get(generation);
  }

  /** Slot `slot`, of `generation`, is forgotten (the index may have let it go already for a later entry of the same generation). */
  delete(generation: number, slot: number): void {
    const cell = generation & this.#mask;
    if (this.#cells[cell] === slot) this.#cells[cell] = -1;
    else if (this.#moved.get(generation) === slot) this.#moved.delete(generation);
  }
}

export class ClosedConnections {
  #columns = new Columns(FIRST_CAPACITY);
  #index = new GenerationIndex(FIRST_CAPACITY, this.#columns.generation);
  /** Slot of the oldest entry, and how many there are from it on (wrapping). */
  #oldest = 0;
  #count = 0;

  constructor(private readonly bound: number, private readonly keepMs: number) {}

  get size(): number {
    return this.#count;
  }

  /** `info` as it is at its close; what it points to besides its addresses and TLS facts is not kept. */
  remember(info: ConnectionInfo, nowMs: number): void {
    this.#forgetOlderThan(nowMs - this.keepMs);
    if (this.#count === this.bound) this.#forgetOldest();
    if (this.#count === this.#columns.capacity) this.#grow();
    const slot = (this.#oldest + this.#count) % this.#columns.capacity;
    this.#columns.write(slot, info, nowMs);
    this.#count++;
    this.#index.set(info.generation, slot);
  }

  /** The info of the connection of `generation`, made anew (no two calls share it); undefined once forgotten. */
  find(generation: number): ConnectionInfo | undefined {
    const slot = this.#index.get(generation);
    return slot === undefined ? undefined : this.#columns.read(slot);
  }

  #forgetOlderThan(ms: number): void {
    while (this.#count > 0 && this.#columns.closedMs[this.#oldest]! <= ms) this.#forgetOldest();
  }

  #forgetOldest(): void {
    const slot = this.#oldest;
    this.#index.delete(this.#columns.generation[slot]!, slot);
    this.#columns.clear(slot);
    this.#oldest = (slot + 1) % this.#columns.capacity;
    this.#count--;
  }

  /** Twice the room, up to the bound; the entries move over oldest first, from slot 0, and are indexed again. */
  #grow(): void {
    const old = this.#columns;
    const grown = new Columns(Math.min(this.bound, old.capacity * 2));
    const index = new GenerationIndex(grown.capacity, grown.generation);
    for (let i = 0; i < this.#count; i++) {
      // Through an info made again: a handful of times in the agent's life, not per entry remembered.
      const from = (this.#oldest + i) % old.capacity;
      grown.write(i, old.read(from), old.closedMs[from]!);
      index.set(grown.generation[i]!, i);
    }
    this.#columns = grown;
    this.#index = index;
    this.#oldest = 0;
  }
}
