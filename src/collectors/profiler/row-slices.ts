// A table's rows as they arrive from the compile worker, in address order, one slice at a time
// (unwind-compiler.ts makes them; unwind-tables.ts writes each into the kernel). Each slice is a
// view of a slot of memory shared with the worker; flow control is the consumer's pace: asking for
// the next slice says the one before is written, and gives its slot back to the worker for the
// next — so a table is never whole in the agent (libLLVM: 11 MB), only one or two slots.

/** The last answer: every slice was given; the table's row count and the compile's time. */
export interface SlicesEnd {
  count: number;
  ms: number;
  /** What the worker's isolate held after it (unwind-compiler.ts, HELD_MAX_BYTES). */
  held?: number;
}

export interface RowSlices {
  /**
   * The next slice (struct unwind_row[], valid until the next call or cancel), or the end. Rejects
   * when the compile failed mid-way.
   */
  next(): Promise<{ rows: Buffer } | SlicesEnd>;
  /** No more slices wanted (the table is not stored): the worker stops making them. */
  cancel(): void;
}

/** Slices pushed by the compiler as the worker's messages come, taken by the table writer. */
export class SliceQueue implements RowSlices {
  readonly #slices: Array<{ rows: Buffer; slot: number }> = [];
  /** The slot of the slice given last (-1: none). */
  #given = -1;
  #end: SlicesEnd | null = null;
  #error: Error | null = null;
  #waiter: { resolve: (r: { rows: Buffer } | SlicesEnd) => void; reject: (e: Error) => void } | null = null;
  #done = false;
  #cancelled = false;
  readonly #free: (slot: number) => void;
  readonly #cancel: () => void;

  /** `free`: the worker may use the slot again; `cancel`: it should stop. */
  constructor(free: (slot: number) => void, cancel: () => void) {
    this.#free = free;
    this.#cancel = cancel;
  }

  push(rows: Buffer, slot: number): void {
    // Made before the worker saw the cancel: not wanted, its slot free again at once.
    if (this.#cancelled) return this.#free(slot);
    this.#slices.push({ rows, slot });
    this.#wake();
  }

  finish(end: SlicesEnd): void {
    this.#end = end;
    this.#done = true;
    this.#wake();
  }

  fail(error: string): void {
    this.#error ??= new Error(error);
    this.#done = true;
    this.#wake();
  }

  next(): Promise<{ rows: Buffer } | SlicesEnd> {
    // The slice given before is written: its slot can take another.
    this.#release();
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
      this.#wake();
    });
  }

  cancel(): void {
    this.#release();
    for (const s of this.#slices.splice(0)) this.#free(s.slot);
    if (!this.#done) this.#cancel();
    this.#done = true;
    this.#cancelled = true;
  }

  #release(): void {
    if (this.#given >= 0) this.#free(this.#given);
    this.#given = -1;
  }

  #wake(): void {
    const w = this.#waiter;
    if (w === null) return;
    const s = this.#slices.shift();
    if (s !== undefined) {
      this.#given = s.slot;
      w.resolve({ rows: s.rows });
    }
    else if (this.#error !== null) w.reject(this.#error);
    else if (this.#end !== null) w.resolve(this.#end);
    else return;
    this.#waiter = null;
  }
}

/** A table made whole (the vDSO's, on the event loop) as one slice. */
export function wholeTable(rows: Buffer, count: number, ms: number): RowSlices {
  const q = new SliceQueue(() => {}, () => {});
  q.push(rows, 0);
  q.finish({ count, ms });
  return q;
}

/** Every slice, concatenated (tests and benchmarks: the agent writes each as it comes). */
export async function allRows(s: RowSlices): Promise<{ rows: Buffer } & SlicesEnd> {
  const parts: Buffer[] = [];
  for (;;) {
    const r = await s.next();
    if (!('rows' in r)) return { rows: Buffer.concat(parts), ...r };
    parts.push(Buffer.from(r.rows));
  }
}
