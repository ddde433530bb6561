// A table's rows as they arrive from the compile worker, in address order, one slice at a time
// (unwind-compiler.ts makes them; unwind-tables.ts writes each into the kernel). Flow control is
// the consumer's pace: asking for the next slice says the one before is written, and only then may
// the worker make another — so the agent holds one or two slices of a table, never the whole of it
// (libLLVM: 11 MB).

/** The last answer: every slice was given; the table's row count and the compile's time. */
export interface SlicesEnd {
  count: number;
  ms: number;
  /** What the worker's isolate held after it (unwind-compiler.ts, HELD_MAX_BYTES). */
  held?: number;
}

export interface RowSlices {
  /** The next slice (struct unwind_row[]), or the end. Rejects when the compile failed mid-way. */
  next(): Promise<{ rows: Buffer } | SlicesEnd>;
  /** No more slices wanted (the table is not stored): the worker stops making them. */
  cancel(): void;
}

/** Slices pushed by the compiler as the worker's messages come, taken by the table writer. */
export class SliceQueue implements RowSlices {
  readonly #slices: Buffer[] = [];
  #end: SlicesEnd | null = null;
  #error: Error | null = null;
  #waiter: { resolve: (r: { rows: Buffer } | SlicesEnd) => void; reject: (e: Error) => void } | null = null;
  #given = 0;
  #done = false;
  readonly #more: () => void;
  readonly #cancel: () => void;

  /** `more`: the worker may make one more slice; `cancel`: it should stop. */
  constructor(more: () => void, cancel: () => void) {
    this.#more = more;
    this.#cancel = cancel;
  }

  push(rows: Buffer): void {
    this.#slices.push(rows);
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
    // The slice given before is written: the worker may make another.
    if (this.#given++ > 0 && !this.#done) this.#more();
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
      this.#wake();
    });
  }

  cancel(): void {
    this.#slices.length = 0;
    if (!this.#done) this.#cancel();
    this.#done = true;
  }

  #wake(): void {
    const w = this.#waiter;
    if (w === null) return;
    const rows = this.#slices.shift();
    if (rows !== undefined) w.resolve({ rows });
    else if (this.#error !== null) w.reject(this.#error);
    else if (this.#end !== null) w.resolve(this.#end);
    else return;
    this.#waiter = null;
  }
}

/** A table made whole (the vDSO's, on the event loop) as one slice. */
export function wholeTable(rows: Buffer, count: number, ms: number): RowSlices {
  const q = new SliceQueue(() => {}, () => {});
  q.push(rows);
  q.finish({ count, ms });
  return q;
}

/** Every slice, concatenated (tests and benchmarks: the agent writes each as it comes). */
export async function allRows(s: RowSlices): Promise<{ rows: Buffer } & SlicesEnd> {
  const parts: Buffer[] = [];
  for (;;) {
    const r = await s.next();
    if (!('rows' in r)) return { rows: Buffer.concat(parts), ...r };
    parts.push(r.rows);
  }
}
