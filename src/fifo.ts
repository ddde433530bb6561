// First in, first out, for what is forgotten oldest first (bounded memories of shed decisions, of
// lone connections; the tracker's closed connections are a ring of their own, closed-connections.ts).
//
// Not a Map or Set's own order: V8 iterates them from their first slot, over the holes that deleted
// entries leave until the table is rehashed, so taking the oldest entry (`keys().next()`, or a
// `for … of` that breaks at the first one young enough) after deleting the ones before it costs one
// step per entry deleted since the last rehash. Kept full and evicting one per insert, that was
// 4.3 µs an eviction at 16,384 entries and 12-16 µs at 65,536 (node 20); the connection tracker's
// memory of closed connections took half of the agent's JS thread under connection-per-request traffic.

/**
 * A FIFO over one array, compacted once most of it has been taken. A slot taken is emptied at once:
 * the items gone must not stay reachable until the compaction (up to as many again as are held).
 */
export class Fifo<T> {
  #items: Array<T | undefined> = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  /** The oldest item, left in. */
  oldest(): T | undefined {
    return this.#items[this.#head];
  }

  /** The oldest item, taken out. */
  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head] as T;
    this.#items[this.#head] = undefined;
    this.#head++;
    if (this.#head > 4096 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** Keeps only the items `keep` says to, in order. */
  retain(keep: (item: T) => boolean): void {
    this.#items = this.#items.slice(this.#head).filter((item) => keep(item as T));
    this.#head = 0;
  }
}

/**
 * The order in which keys went into `keys` (a Map or Set that also loses keys on its own: a request's
 * other end took its decision, a connection was joined after all): its oldest key still there, for
 * eviction. Keys gone are skipped when met, and dropped in one pass once they outnumber the keys
 * still there, so that this holds at most about twice the collection's keys. A key that leaves and
 * comes back is found at its first place (evicted sooner than its return would say): for memories
 * that are bounds, not caches.
 */
export class InsertionOrder<K> {
  readonly #order = new Fifo<K>();
  readonly #present = (key: K): boolean => this.keys.has(key);

  constructor(private readonly keys: { has(key: K): boolean; readonly size: number }) {}

  /** `key` went into the collection (it was not there). */
  added(key: K): void {
    this.#order.push(key);
    if (this.#order.length > 2 * this.keys.size + 1024) this.#order.retain(this.#present);
  }

  /** The oldest key still in the collection, taken out of the order; undefined when none is. */
  takeOldest(): K | undefined {
    for (let k = this.#order.shift(); k !== undefined; k = this.#order.shift()) if (this.#present(k)) return k;
    return undefined;
  }
}
