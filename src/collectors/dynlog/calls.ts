// Entry and return records of probed functions paired into calls, by goroutine: the key is the
// process, the goroutine (its g, from R14) and the probe, so 50 goroutines calling at once pair
// right, and a goroutine that moves to another thread between entry and return still pairs. A
// goroutine's nested (recursive) calls pair last-in first-out. Entries whose return never comes (a
// panic unwinding past the function, probes removed mid-call) are bounded and counted: at the
// bound the oldest open entry of all goes.
import type { DynlogEvent } from './decode.js';

export interface Call {
  entry: DynlogEvent;
  exit: DynlogEvent;
}

interface Open {
  seq: number;
  event: DynlogEvent;
}

export class CallPairer {
  readonly #open = new Map<string, Open[]>();
  /** Open entries' keys by entry order (a Map iterates in insertion order): the first is the oldest. */
  readonly #age = new Map<number, string>();
  #seq = 0;
  readonly stats = { paired: 0, unmatchedReturns: 0, evictedEntries: 0 };

  constructor(private readonly maxOpen = 65_536) {}

  /** An entry is held; a return gives the call it ends, or null when its entry is unknown. */
  add(e: DynlogEvent): Call | null {
    const key = `${e.pid}:${e.g}:${e.probeId}`;
    if (!e.isReturn) {
      // Evict first: it may empty (and drop) this key's own stack.
      if (this.#age.size >= this.maxOpen) this.#evictOldest();
      const seq = this.#seq++;
      const stack = this.#open.get(key);
      if (stack === undefined) this.#open.set(key, [{ seq, event: e }]);
      else stack.push({ seq, event: e });
      this.#age.set(seq, key);
      return null;
    }
    const stack = this.#open.get(key);
    const entry = stack?.pop();
    if (entry === undefined) {
      this.stats.unmatchedReturns++;
      return null;
    }
    this.#age.delete(entry.seq);
    if (stack!.length === 0) this.#open.delete(key);
    this.stats.paired++;
    return { entry: entry.event, exit: e };
  }

  get open(): number {
    return this.#age.size;
  }

  #evictOldest(): void {
    const first = this.#age.entries().next();
    if (first.done === true) return;
    const [seq, key] = first.value;
    this.#age.delete(seq);
    // The oldest entry of all is the oldest of its goroutine too: the bottom of its stack.
    const stack = this.#open.get(key)!;
    stack.shift();
    this.stats.evictedEntries++;
    if (stack.length === 0) this.#open.delete(key);
  }
}
