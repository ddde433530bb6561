// Address → function lookup over a sorted table, built from ELF symbols (`.symtab` / `.dynsym`),
// Go's pclntab or anything else that yields (name, start, end). Two typed arrays and a name array
// keep a 100k-symbol binary (node) at a few MB; lookup is a binary search.
import { SHF_EXECINSTR, SHN_UNDEF, STT_FUNC, STT_GNU_IFUNC, type ElfSection, type ElfSymbol } from './elf.js';
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

export class SymbolTable {
  private constructor(
    private readonly starts: Float64Array,
    private readonly ends: Float64Array,
    private readonly names: readonly string[],
  ) {}

  static readonly empty = new SymbolTable(new Float64Array(0), new Float64Array(0), []);

  /**
   * Sorts and deduplicates: at one address the first entry given wins (callers list preferred
   * sources first). An entry without an end stops where the next one starts.
   */
  static fromEntries(entries: readonly SymbolEntry[]): SymbolTable {
    const sorted = entries
      .map((e, i) => ({ e, i }))
      .filter(({ e }) => Number.isFinite(e.start) && e.start >= 0 && e.end > e.start)
      .sort((a, b) => a.e.start - b.e.start || a.i - b.i);
    const kept: SymbolEntry[] = [];
    for (const { e } of sorted) {
      const last = kept.at(-1);
      if (last && last.start === e.start) continue;
      kept.push(e);
    }
    const starts = new Float64Array(kept.length);
    const ends = new Float64Array(kept.length);
    const names: string[] = [];
    for (const [i, e] of kept.entries()) {
      starts[i] = e.start;
      // A size-0 symbol with nothing after it in its section would otherwise cover all addresses above.
      ends[i] = e.open ? Math.min(e.end, kept[i + 1]?.start ?? Infinity, e.start + MAX_OPEN_SYMBOL) : e.end;
      names.push(e.name);
    }
    return new SymbolTable(starts, ends, names);
  }

  get count(): number {
    return this.names.length;
  }

  /** The symbol containing `addr`, or undefined in a gap / outside the table. */
  lookup(addr: number): SymbolHit | undefined {
    const i = this.indexOf(addr);
    if (i < 0) return undefined;
    return { name: this.names[i]!, offset: addr - this.starts[i]! };
  }

  /** Index of the symbol containing `addr`, or -1. */
  indexOf(addr: number): number {
    const found = lastAtOrBelow(this.starts, addr);
    if (found < 0 || addr >= this.ends[found]!) return -1;
    return found;
  }

  nameAt(index: number): string {
    return this.names[index] ?? '';
  }

  /** Rough bytes held (two doubles per entry plus the strings): what the module cache charges. */
  byteEstimate(): number {
    let bytes = 64 + this.starts.length * 16;
    for (const n of this.names) bytes += 32 + n.length;
    return bytes;
  }

  /** Every (name, start, end), in address order. */
  *entries(): IterableIterator<SymbolEntry> {
    for (let i = 0; i < this.names.length; i++) yield { name: this.names[i]!, start: this.starts[i]!, end: this.ends[i]! };
  }
}

/**
 * Function symbols of an ELF symbol table as entries: STT_FUNC and STT_GNU_IFUNC, plus sized
 * untyped symbols in executable sections (hand-written assembly often lacks `.type`). A size-0
 * symbol is given the rest of its section; SymbolTable cuts it at the next symbol.
 */
export function functionEntries(symbols: readonly ElfSymbol[], sections: readonly ElfSection[]): SymbolEntry[] {
  const out: { entry: SymbolEntry; rank: number }[] = [];
  for (const s of symbols) {
    if (s.sectionIndex === SHN_UNDEF || s.sectionIndex >= SHN_LORESERVE || s.value === 0 || !s.name) continue;
    const section = sections[s.sectionIndex];
    const exec = section !== undefined && (section.flags & SHF_EXECINSTR) !== 0;
    const isFunc = s.type === STT_FUNC || s.type === STT_GNU_IFUNC;
    if (!isFunc && !(s.type === STT_NOTYPE && s.size > 0 && exec)) continue;
    if (!isFunc && !exec) continue;
    let end: number;
    if (s.size > 0) end = s.value + s.size;
    else if (section && section.addr <= s.value && s.value < section.addr + section.size) end = section.addr + section.size;
    else end = Infinity;
    out.push({ entry: { name: s.name, start: s.value, end, open: s.size === 0 }, rank: rank(s) });
  }
  // Aliases share an address (malloc / __libc_malloc): prefer a sized, global, plainly named one.
  out.sort((a, b) => a.entry.start - b.entry.start || a.rank - b.rank);
  return out.map((o) => o.entry);
}

function rank(s: ElfSymbol): number {
  let r = 0;
  if (s.size === 0) r += 100;
  if (s.bind === STB_WEAK) r += 10;
  else if (s.bind === STB_LOCAL) r += 20;
  else if (s.bind !== STB_GLOBAL) r += 30;
  const underscores = /^_*/.exec(s.name)![0].length;
  return r + Math.min(underscores, 9);
}
