// Address → function lookup over a sorted table, built from ELF symbols (`.symtab` / `.dynsym`),
// Go's pclntab or anything else that yields (name, start, end). Columns, not objects: Float64Arrays
// of bounds and the names as UTF-8 bytes in a pool or two, decoded when asked for — a 100k-symbol
// binary (node) costs 7 MB. SymbolTableBuilder makes a table from its sources one at a time, without
// an object or a string per symbol: node's 190k symbols as objects and strings were ~90 MB of
// short-lived heap, the agent's start-up RSS peak on a busy host.
import { ElfError, SHF_EXECINSTR, SHN_UNDEF, STT_FUNC, STT_GNU_IFUNC, type ElfSection, type ElfSymbol } from './elf.js';
import { resized } from './bytes.js';
import { lastAtOrBelow } from './search.js';

export interface SymbolEntry {
  name: string;
  start: number;
  /** Exclusive end: start + size, or for a size-0 symbol the end of its section (Infinity if unknown). */
  end: number;
  /** A size-0 symbol: it also stops where the next symbol starts. */
  open?: boolean;
}

export interface SymbolHit {
  /** The name as stored (mangled). */
  name: string;
  /** Address - symbol start. */
  offset: number;
}

const STT_NOTYPE = 0;
const STB_LOCAL = 0;
const STB_GLOBAL = 1;
const STB_WEAK = 2;
/** How far a size-0 symbol may reach when nothing bounds it. */
const MAX_OPEN_SYMBOL = 16 << 20;
/** Section indexes from SHN_LORESERVE up (ABS, COMMON, XINDEX) name no section. */
const SHN_LORESERVE = 0xff00;
/**
 * Bytes of one name kept (longer ones are cut) and of all names of a table: a hostile string table
 * (every symbol naming the same huge string) must not make the pool grow without bound. Real names
 * are far below both (node: 5 MB of function names, the longest C++ name a few KB).
 */
export const MAX_NAME_BYTES = 64 << 10;
export const MAX_POOL_BYTES = 256 << 20;

export class SymbolTable {
  private constructor(
    private readonly starts: Float64Array,
    private readonly ends: Float64Array,
    /** Name i is pools[poolIds[i]][nameStarts[i], nameEnds[i]), UTF-8. */
    private readonly nameStarts: Uint32Array,
    private readonly nameEnds: Uint32Array,
    private readonly poolIds: Uint8Array,
    private readonly pools: readonly Buffer[],
  ) {}

  static readonly empty = new SymbolTable(new Float64Array(0), new Float64Array(0), new Uint32Array(0), new Uint32Array(0), new Uint8Array(0), []);

  /**
   * Sorts and deduplicates: at one address the first entry given wins (callers list preferred
   * sources first). An entry without an end stops where the next one starts.
   */
  static fromEntries(entries: readonly SymbolEntry[]): SymbolTable {
    const b = new SymbolTableBuilder();
    b.addSource(...stringSource(entries));
    return b.build();
  }

  /** The columns SymbolTableBuilder made (sorted, deduplicated). */
  static fromColumns(starts: Float64Array, ends: Float64Array, nameStarts: Uint32Array, nameEnds: Uint32Array, poolIds: Uint8Array, pools: readonly Buffer[]): SymbolTable {
    return new SymbolTable(starts, ends, nameStarts, nameEnds, poolIds, pools);
  }

  get count(): number {
    return this.starts.length;
  }

  /** The symbol containing `addr`, or undefined in a gap / outside the table. */
  lookup(addr: number): SymbolHit | undefined {
    const i = this.indexOf(addr);
    if (i < 0) return undefined;
    return { name: this.nameAt(i), offset: addr - this.starts[i]! };
  }

  /** Index of the symbol containing `addr`, or -1. */
  indexOf(addr: number): number {
    const found = lastAtOrBelow(this.starts, addr);
    if (found < 0 || addr >= this.ends[found]!) return -1;
    return found;
  }

  nameAt(index: number): string {
    if (!(index >= 0 && index < this.starts.length)) return '';
    return this.pools[this.poolIds[index]!]!.toString('utf8', this.nameStarts[index]!, this.nameEnds[index]!);
  }

  /** Bytes held (bounds, name ranges, name bytes): what the module cache charges. */
  byteEstimate(): number {
    let bytes = 64 + this.starts.length * 25;
    for (const p of this.pools) bytes += p.length;
    return bytes;
  }

  /** Every (name, start, end), in address order. */
  *entries(): IterableIterator<SymbolEntry> {
    for (let i = 0; i < this.starts.length; i++) yield { name: this.nameAt(i), start: this.starts[i]!, end: this.ends[i]! };
  }
}

/** Where a source's names are: `names` copies those of the entries kept into one pool. */
export interface NameSource {
  /** The name of each ref (a source's own reference, e.g. a string table offset): pool[starts[i], ends[i]). */
  names(refs: Uint32Array): { pool: Buffer; starts: Uint32Array; ends: Uint32Array };
}

/** One source's entries as columns, before sorting: each with a rank (lower wins an address) and a name ref. */
export class SourceColumns {
  count = 0;
  starts: Float64Array;
  ends: Float64Array;
  open: Uint8Array;
  ranks: Uint8Array;
  refs: Uint32Array;

  constructor(capacity = 256) {
    this.starts = new Float64Array(capacity);
    this.ends = new Float64Array(capacity);
    this.open = new Uint8Array(capacity);
    this.ranks = new Uint8Array(capacity);
    this.refs = new Uint32Array(capacity);
  }

  push(start: number, end: number, open: boolean, rank: number, ref: number): void {
    if (this.count === this.starts.length) this.grow();
    const i = this.count++;
    this.starts[i] = start;
    this.ends[i] = end;
    this.open[i] = open ? 1 : 0;
    this.ranks[i] = Math.min(Math.max(rank, 0), 255);
    this.refs[i] = ref;
  }

  private grow(): void {
    const size = Math.max(256, this.starts.length * 2);
    this.starts = resized(this.starts, size);
    this.ends = resized(this.ends, size);
    this.open = resized(this.open, size);
    this.ranks = resized(this.ranks, size);
    this.refs = resized(this.refs, size);
  }
}

/**
 * Builds a table from sources in order of preference. Each `addSource` sorts and deduplicates
 * its entries (lower rank, then the one given first, wins an address), drops those at addresses an
 * earlier source already has, and only then asks the source for the names of what it keeps: a
 * source's string table is not held past its turn, and node's .dynsym (67k functions, all at
 * addresses its .symtab has) costs no name at all.
 */
export class SymbolTableBuilder {
  private starts = new Float64Array(0);
  /** As given: a size-0 symbol's end is cut at the next start in build. */
  private ends = new Float64Array(0);
  private open = new Uint8Array(0);
  private nameStarts = new Uint32Array(0);
  private nameEnds = new Uint32Array(0);
  private poolIds = new Uint8Array(0);
  private readonly pools: Buffer[] = [];
  private poolBytes = 0;

  /** Entries kept so far. */
  get count(): number {
    return this.starts.length;
  }

  /** Whether an earlier source has an entry at exactly `start` (a later source's entry there is dropped). */
  covers(start: number): boolean {
    const i = lastAtOrBelow(this.starts, start);
    return i >= 0 && this.starts[i] === start;
  }

  /**
   * Adds a source's entries at addresses not taken yet; returns how many. Throws ElfError (from
   * `names` or a bound), leaving the builder as it was.
   */
  addSource(src: SourceColumns, names: NameSource): number {
    const { starts, ends, ranks } = src;
    const order = new Uint32Array(src.count);
    let m = 0;
    for (let i = 0; i < src.count; i++) {
      const start = starts[i]!;
      if (Number.isFinite(start) && start >= 0 && ends[i]! > start && !this.covers(start)) order[m++] = i;
    }
    const sorted = order.subarray(0, m).sort((a, b) => starts[a]! - starts[b]! || ranks[a]! - ranks[b]! || a - b);
    const kept = new Uint32Array(m);
    let count = 0;
    for (let j = 0; j < m; j++) {
      const i = sorted[j]!;
      if (count === 0 || starts[kept[count - 1]!] !== starts[i]) kept[count++] = i;
    }
    if (count === 0) return 0;
    if (this.pools.length > 0xff) throw new ElfError('too many symbol sources');
    const refs = new Uint32Array(count);
    for (let k = 0; k < count; k++) refs[k] = src.refs[kept[k]!]!;
    const named = names.names(refs);
    if (this.poolBytes + named.pool.length > MAX_POOL_BYTES) throw new ElfError(`symbol names exceed ${MAX_POOL_BYTES} bytes`);
    this.merge(src, kept.subarray(0, count), named);
    return count;
  }

  build(): SymbolTable {
    const n = this.starts.length;
    const ends = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const start = this.starts[i]!;
      // A size-0 symbol with nothing after it in its section would otherwise cover all addresses above.
      ends[i] = this.open[i] === 1 ? Math.min(this.ends[i]!, i + 1 < n ? this.starts[i + 1]! : Infinity, start + MAX_OPEN_SYMBOL) : this.ends[i]!;
    }
    return SymbolTable.fromColumns(this.starts, ends, this.nameStarts, this.nameEnds, this.poolIds, this.pools);
  }

  /** The kept entries (sorted by start, none at a start already held) merged into the columns. */
  private merge(src: SourceColumns, kept: Uint32Array, named: { pool: Buffer; starts: Uint32Array; ends: Uint32Array }): void {
    const a = this.starts.length;
    const n = a + kept.length;
    const starts = new Float64Array(n);
    const ends = new Float64Array(n);
    const open = new Uint8Array(n);
    const nameStarts = new Uint32Array(n);
    const nameEnds = new Uint32Array(n);
    const poolIds = new Uint8Array(n);
    const pool = this.pools.length;
    let i = 0;
    let j = 0;
    for (let o = 0; o < n; o++) {
      if (j >= kept.length || (i < a && this.starts[i]! < src.starts[kept[j]!]!)) {
        starts[o] = this.starts[i]!;
        ends[o] = this.ends[i]!;
        open[o] = this.open[i]!;
        nameStarts[o] = this.nameStarts[i]!;
        nameEnds[o] = this.nameEnds[i]!;
        poolIds[o] = this.poolIds[i]!;
        i++;
      } else {
        const s = kept[j]!;
        starts[o] = src.starts[s]!;
        ends[o] = src.ends[s]!;
        open[o] = src.open[s]!;
        nameStarts[o] = named.starts[j]!;
        nameEnds[o] = named.ends[j]!;
        poolIds[o] = pool;
        j++;
      }
    }
    this.starts = starts;
    this.ends = ends;
    this.open = open;
    this.nameStarts = nameStarts;
    this.nameEnds = nameEnds;
    this.poolIds = poolIds;
    this.pools.push(named.pool);
    this.poolBytes += named.pool.length;
  }
}

/**
 * Entries whose names are strings as a source: the names UTF-8 encoded into one buffer (cut at
 * MAX_NAME_BYTES, on a character boundary) and copied from it for the entries kept.
 */
export function stringSource(entries: readonly SymbolEntry[]): [SourceColumns, NameSource] {
  const src = new SourceColumns(Math.max(1, entries.length));
  let total = 0;
  for (const e of entries) total += Math.min(Buffer.byteLength(e.name), MAX_NAME_BYTES);
  if (total > MAX_POOL_BYTES) throw new ElfError(`symbol names exceed ${MAX_POOL_BYTES} bytes`);
  const text = Buffer.allocUnsafe(total);
  const bounds = new Uint32Array(entries.length + 1);
  let at = 0;
  entries.forEach((e, i) => {
    bounds[i] = at;
    at += text.write(e.name, at, Math.min(Buffer.byteLength(e.name), MAX_NAME_BYTES), 'utf8');
    src.push(e.start, e.end, e.open === true, 0, i);
  });
  bounds[entries.length] = at;
  return [src, {
    names(refs) {
      let bytes = 0;
      for (const r of refs) bytes += bounds[r + 1]! - bounds[r]!;
      const pool = Buffer.allocUnsafe(bytes);
      const starts = new Uint32Array(refs.length);
      const ends = new Uint32Array(refs.length);
      let p = 0;
      refs.forEach((r, k) => {
        starts[k] = p;
        p += text.copy(pool, p, bounds[r]!, bounds[r + 1]!);
        ends[k] = p;
      });
      return { pool, starts, ends };
    },
  }];
}

/**
 * The end of a function symbol, or undefined when the symbol names no function: STT_FUNC and
 * STT_GNU_IFUNC, plus sized untyped symbols in executable sections (hand-written assembly often
 * lacks `.type`). A size-0 symbol is given the rest of its section; SymbolTable cuts it at the
 * next symbol. Shared by `functionEntries` and the column reader (elf-functions.ts).
 */
export function functionEnd(value: number, size: number, type: number, sectionIndex: number, hasName: boolean, sections: readonly ElfSection[]): number | undefined {
  if (sectionIndex === SHN_UNDEF || sectionIndex >= SHN_LORESERVE || value === 0 || !hasName) return undefined;
  const section = sections[sectionIndex];
  const exec = section !== undefined && (section.flags & SHF_EXECINSTR) !== 0;
  const isFunc = type === STT_FUNC || type === STT_GNU_IFUNC;
  if (!isFunc && !(type === STT_NOTYPE && size > 0 && exec)) return undefined;
  if (!isFunc && !exec) return undefined;
  if (size > 0) return value + size;
  if (section && section.addr <= value && value < section.addr + section.size) return section.addr + section.size;
  return Infinity;
}

/**
 * Aliases share an address (malloc / __libc_malloc): the lower rank wins — sized, global, plainly
 * named. `underscores`: leading underscores of the name.
 */
export function symbolRank(sized: boolean, bind: number, underscores: number): number {
  let r = 0;
  if (!sized) r += 100;
  if (bind === STB_WEAK) r += 10;
  else if (bind === STB_LOCAL) r += 20;
  else if (bind !== STB_GLOBAL) r += 30;
  return r + Math.min(underscores, 9);
}

/** Function symbols of an ELF symbol table as entries (see functionEnd), aliases ordered by rank. */
export function functionEntries(symbols: readonly ElfSymbol[], sections: readonly ElfSection[]): SymbolEntry[] {
  const out: { entry: SymbolEntry; rank: number }[] = [];
  for (const s of symbols) {
    const end = functionEnd(s.value, s.size, s.type, s.sectionIndex, s.name !== '', sections);
    if (end === undefined) continue;
    const rank = symbolRank(s.size > 0, s.bind, /^_*/.exec(s.name)![0].length);
    out.push({ entry: { name: s.name, start: s.value, end, open: s.size === 0 }, rank });
  }
  out.sort((a, b) => a.entry.start - b.entry.start || a.rank - b.rank);
  return out.map((o) => o.entry);
}
