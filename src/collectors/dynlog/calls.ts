// Entry and return records of probed functions paired into calls, by goroutine: the key is the
// process, the goroutine (its g, from R14) and the probe, so 50 goroutines calling at once pair
// right, and a goroutine that moves to another thread between entry and return still pairs. A
// goroutine's nested (recursive) calls pair last-in first-out. Entries whose return never comes (a
// panic unwinding past the function, probes removed mid-call) are bounded and counted.
import type { DynlogEvent } from './decode.js';

export interface Call {
  entry: DynlogEvent;
  exit: DynlogEvent;
}

export class CallPairer {
  readonly #open = new Map<string, DynlogEvent[]>();
  #size = 0;
  readonly stats = { paired: 0, unmatchedReturns: 0, evictedEntries: 0 };

  constructor(private readonly maxOpen = 65_536) {}

  /** An entry is held; a return gives the call it ends, or null when its entry is unknown. */
  add(e: DynlogEvent): Call | null {
    const key = `${e.pid}:${e.g}:${e.probeId}`;
    const stack = this.#open.get(key);
    if (!e.isReturn) {
      if (this.#size >= this.maxOpen) this.#evictOldest();
      if (stack === undefined) this.#open.set(key, [e]);
      else stack.push(e);
      this.#size++;
      return null;
    }
    const entry = stack?.pop();
    if (entry === undefined) {
      this.stats.unmatchedReturns++;
      return null;
    }
    this.#size--;
    if (stack!.length === 0) this.#open.delete(key);
    this.stats.paired++;
    return { entry, exit: e };
  }

  get open(): number {
    return this.#size;
  }

  #evictOldest(): void {
    const first = this.#open.keys().next();
    if (first.done === true) return;
    const stack = this.#open.get(first.value)!;
    stack.shift();
    this.#size--;
    this.stats.evictedEntries++;
    if (stack.length === 0) this.#open.delete(first.value);
  }
}
