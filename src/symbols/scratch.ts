// Buffers that one job after another can reuse. The CFI compile worker compiles file after file; each
// compile's buffers (section windows, the FDE index, its sort, the rows in the making) were garbage
// that V8 collects only once an isolate holds ~64 MB of external memory: a burst of new binaries piled
// up 30 MB of it in the worker before a collection (and the worker was ended and started again past
// 8 MiB, a fresh isolate each time). With a Scratch, a compile asks for the buffers it needs and gets
// the last one's back when they are big enough: what the worker holds is the largest compile's
// working set, and no garbage.

/** Where a compile gets its working buffers (each `use` one buffer at a time). */
export interface Buffers {
  /**
   * A buffer of at least `bytes` bytes, of its own ArrayBuffer (offset 0), for `use`; its contents
   * are not kept. A later call for the same use may return the same buffer: the one before is
   * then no longer the caller's.
   */
  get(use: string, bytes: number): Buffer;
}

/** A new buffer each time (a compile on its own: tests, the vDSO). */
export const FRESH_BUFFERS: Buffers = { get: (_use, bytes) => Buffer.allocUnsafeSlow(bytes) };

export class Scratch implements Buffers {
  readonly #buffers = new Map<string, Buffer>();

  get(use: string, bytes: number): Buffer {
    const have = this.#buffers.get(use);
    if (have !== undefined && have.length >= bytes) return have;
    const b = Buffer.allocUnsafeSlow(bytes);
    this.#buffers.set(use, b);
    return b;
  }

  /** Bytes held. */
  get bytes(): number {
    let n = 0;
    for (const b of this.#buffers.values()) n += b.length;
    return n;
  }
}
