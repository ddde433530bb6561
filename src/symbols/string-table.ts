// Names from a string table (ELF .strtab/.dynstr, Go's function name table: NUL-terminated
// strings referenced by offset), visited in offset order so one forward pass through a window
// serves them all: symbols are listed in address or link order, not in their names' order, and
// .dynsym's names are scattered over .dynstr (node: a 64 KiB window kept in symbol order would be
// re-read 64k times). Sorting the references costs one typed-array sort.
import { nulAfter } from './bytes.js';
import { ElfError } from './elf.js';
import type { WindowedBytes, WindowReader } from './section-window.js';
import { MAX_NAME_BYTES, MAX_POOL_BYTES, type NameSource } from './symbol-table.js';

/** The window through a string table: twice the longest name, so a name never needs two. */
export const STRING_WINDOW_BYTES = 2 * MAX_NAME_BYTES;

/** Up to this many indices, (offset, index) pairs sort as one number each (offset · 2^21 + index < 2^53). */
const PACKED_SORT_MAX = 1 << 21;

/** Indices 0..n-1 of `offsets`, sorted by offset (then index). */
export function byOffset(offsets: Uint32Array, n: number): Uint32Array {
  const order = new Uint32Array(n);
  let sorted = true;
  for (let i = 1; i < n && sorted; i++) if (offsets[i]! < offsets[i - 1]!) sorted = false;
  if (sorted) {
    for (let i = 0; i < n; i++) order[i] = i;
  } else if (n <= PACKED_SORT_MAX) {
    // A native numeric sort of packed keys: a comparator call per comparison was most of the time.
    const keys = new Float64Array(n);
    for (let i = 0; i < n; i++) keys[i] = offsets[i]! * PACKED_SORT_MAX + i;
    keys.sort();
    for (let i = 0; i < n; i++) order[i] = keys[i]! % PACKED_SORT_MAX;
  } else {
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((a, b) => offsets[a]! - offsets[b]! || a - b);
  }
  return order;
}

/**
 * Calls `visit(k, bytes, start, end)` for each k of `order` (indices sorted by `offsets[k]`, see
 * byOffset): the name at that offset is bytes[start, end) — up to its NUL, the table's end or
 * MAX_NAME_BYTES; empty for an offset outside the table. `bytes` is valid during the call only.
 */
export function forEachName(table: WindowedBytes, offsets: Uint32Array, order: Uint32Array,
  visit: (k: number, bytes: Buffer, start: number, end: number) => void): void {
  let base = 0;
  let window: Buffer = Buffer.alloc(0);
  const load = (at: number): void => {
    base = at;
    window = table.bytes(at, STRING_WINDOW_BYTES);
  };
  for (let j = 0; j < order.length; j++) {
    const k = order[j]!;
    const off = offsets[k]!;
    if (off >= table.size) {
      visit(k, window, 0, 0);
      continue;
    }
    const limit = Math.min(table.size, off + MAX_NAME_BYTES);
    if (off < base || off >= base + window.length) load(off);
    let end = nulAfter(window, off - base, limit - off);
    // Cut by the window, not by a NUL, the table's end or the bound: read from the name on.
    if (end === window.length && base + end < limit) {
      load(off);
      end = nulAfter(window, 0, limit - off);
    }
    visit(k, window, off - base, end);
  }
}

/**
 * Whether the string at `off` of the table `names` reads is exactly `want` (its bytes, then a NUL):
 * a lookup by name that compares in place, without a string per entry. Mostly one byte is read.
 */
export function isNameAt(names: WindowReader, off: number, want: Buffer): boolean {
  if (off + want.length >= names.size) return false;
  for (let i = 0; i < want.length; i++) if (names.u8(off + i) !== want[i]) return false;
  return names.u8(off + want.length) === 0;
}

/** A string table as the NameSource of entries whose refs are offsets into it. */
export function tableNames(table: WindowedBytes): NameSource {
  return {
    names(refs) {
      // Two passes through the table: the lengths (so the pool is allocated once, exactly), then the bytes.
      const order = byOffset(refs, refs.length);
      const lengths = new Uint32Array(refs.length);
      let total = 0;
      forEachName(table, refs, order, (k, _b, start, end) => {
        lengths[k] = end - start;
        total += end - start;
      });
      if (total > MAX_POOL_BYTES) throw new ElfError(`symbol names exceed ${MAX_POOL_BYTES} bytes`);
      const pool = Buffer.allocUnsafe(total);
      const starts = new Uint32Array(refs.length);
      const ends = new Uint32Array(refs.length);
      let at = 0;
      forEachName(table, refs, order, (k, bytes, start, end) => {
        starts[k] = at;
        // Byte by byte: names are short, and a native call per name costs more. No longer than
        // the first pass found (a file changed in place must not overrun the pool).
        const stop = start + Math.min(end - start, lengths[k]!);
        for (let i = start; i < stop; i++) pool[at++] = bytes[i]!;
        ends[k] = at;
      });
      return { pool, starts, ends };
    },
  };
}
