// The tracker's connections, found by the kernel's generation (a counter: one per connection), then
// checked against pid and fd. One map keyed by a number: a record finds its connection without a
// string key made and hashed for it, and a connection's open and close cost one insertion and one
// deletion. Keyed by "pid:fd:generation" beside a map by generation, every connection-per-request
// connection made two strings and churned two maps, whose tables, rebuilt as deletions filled them,
// were much of what the agent promoted out of V8's young generation. Two live connections of one
// generation (tests make them: other pids or fds) are chained behind the map's entry.
import type { ConnectionKey } from '../../model/connection.js';

/** What the table holds: a connection by its key, and the next one of the same generation. */
export interface TableEntry<T> {
  readonly info: ConnectionKey;
  sameGeneration: T | null;
}

export class ConnectionTable<T extends TableEntry<T>> {
  readonly #byGeneration = new Map<number, T>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** The connection (pid, fd, generation), if held. */
  find(pid: number, fd: number, generation: number): T | undefined {
    for (let c: T | null = this.#byGeneration.get(generation) ?? null; c !== null; c = c.sameGeneration) {
      if (c.info.pid === pid && c.info.fd === fd) return c;
    }
    return undefined;
  }

  /** Holds `c`, whose key none held has (the caller ends such a one first). */
  add(c: T): void {
    const head = this.#byGeneration.get(c.info.generation);
    c.sameGeneration = head ?? null;
    this.#byGeneration.set(c.info.generation, c);
    this.#size++;
  }

  /** Lets `c` go; false if it was not held. */
  remove(c: T): boolean {
    const generation = c.info.generation;
    const head = this.#byGeneration.get(generation);
    if (head === c) {
      if (c.sameGeneration !== null) this.#byGeneration.set(generation, c.sameGeneration);
      else this.#byGeneration.delete(generation);
    } else {
      let prev: T | null = head ?? null;
      while (prev !== null && prev.sameGeneration !== c) prev = prev.sameGeneration;
      if (prev === null) return false;
      prev.sameGeneration = c.sameGeneration;
    }
    c.sameGeneration = null;
    this.#size--;
    return true;
  }

  /** Every connection held, in a new array (the caller may end them as it goes). */
  all(): T[] {
    const out: T[] = [];
    for (const head of this.#byGeneration.values()) {
      for (let c: T | null = head; c !== null; c = c.sameGeneration) out.push(c);
    }
    return out;
  }
}
