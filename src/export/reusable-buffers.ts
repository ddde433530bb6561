// Buffers for encoded bodies on their way out (a request to the backend), back here once the call
// is done. An encoder's own buffer is reused at its next encode, so a body that waits must be
// copied; a fresh copy per body (~1 MB for 1024 spans) lived as long as its call, often past a
// young-generation GC: promoted with its wrapper, its backing store then stayed until the next full
// GC (on the gRPC path, the C heap at 37–73 MiB against 19 with the file alone; the file's lines,
// ~100 MiB of such copies at 10k req/s before, are written from writers of their own now:
// otlp-file.ts; benchmarks/RESULTS.md).

/** Smallest buffer made: sizes go up in powers of two from here, so one buffer serves bodies of similar sizes. */
const MIN_BYTES = 64 * 1024;

export class ReusableBuffers {
  #spare: Buffer[] = [];

  /**
   * @param maxSpare buffers kept for reuse at most
   * @param maxSpareBytes the largest kept: a bigger one is used once and let go
   */
  constructor(private readonly maxSpare: number, private readonly maxSpareBytes: number) {}

  /** `bytes` copied into a buffer of this pool (a view of its length); give it back with `release`. */
  copyOf(bytes: Uint8Array): Buffer {
    const body = this.take(bytes.length);
    body.set(bytes);
    return body;
  }

  /** A view of `n` bytes of a buffer of this pool, to write a body into; give it back with `release`. */
  take(n: number): Buffer {
    return this.#bufferFor(n).subarray(0, n);
  }

  /** A body from `copyOf` or `take` that nothing reads any more. */
  release(body: Buffer): void {
    const whole = Buffer.from(body.buffer); // allocUnsafeSlow: the buffer is its own whole ArrayBuffer
    if (this.#spare.length < this.maxSpare && whole.length <= this.maxSpareBytes) this.#spare.push(whole);
  }

  #bufferFor(n: number): Buffer {
    for (let i = 0; i < this.#spare.length; i++) {
      if (this.#spare[i]!.length >= n) return this.#spare.splice(i, 1)[0]!;
    }
    let size = MIN_BYTES;
    while (size < n) size *= 2;
    return Buffer.allocUnsafeSlow(size);
  }
}
