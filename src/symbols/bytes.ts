// Byte and column helpers for the symbol readers, which go through large string tables and build
// typed-array columns: a loop beats a native call (Buffer.indexOf) per name of a few dozen bytes.

/** Where the NUL-terminated string at `start` ends: its NUL, the buffer's end or `start + max`. */
export function nulAfter(buf: Uint8Array, start: number, max: number): number {
  const limit = Math.min(buf.length, start + max);
  let i = start;
  while (i < limit && buf[i] !== 0) i++;
  return i;
}

type Column = Float64Array | Uint32Array | Uint16Array | Uint8Array;

/** A column grown (or cut) to `size`, its first `used` values kept: how the readers' columns grow. */
export function resized<T extends Column>(a: T, size: number, used = a.length): T {
  const b = new (a.constructor as new (n: number) => T)(size);
  b.set(a.subarray(0, Math.min(used, size)));
  return b;
}
