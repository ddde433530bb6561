// The function symbols of an ELF symbol table, read into a SymbolTableBuilder as one source: the
// same choice as `functionEntries` (functionEnd, symbolRank), but the entries are read a window at
// a time and the names from the string table in offset order (string-table.ts), with no ElfSymbol,
// string or BigInt per symbol and neither section held whole. Entries at addresses an earlier
// source has are dropped before their names are looked at: an unstripped binary's .dynsym repeats
// its .symtab, and its string table is then not read at all.
import { type ElfFile, type ElfSection, type ElfSymbol, readU64, STT_FUNC } from './elf.js';
import { SectionWindow, WindowReader, type WindowedBytes } from './section-window.js';
import { byOffset, forEachName, isNameAt, STRING_WINDOW_BYTES, tableNames } from './string-table.js';
import { functionEnd, SourceColumns, symbolRank, type SymbolTableBuilder } from './symbol-table.js';

const ENTRY_WINDOW_BYTES = 64 << 10;
const UNDERSCORE = 0x5f;

/** The candidates of one table before their names are known. */
interface Candidates {
  count: number;
  values: Float64Array;
  ends: Float64Array;
  sizeZero: Uint8Array;
  binds: Uint8Array;
  nameOffsets: Uint32Array;
}

/** Adds `table`'s functions to `b` as a source; returns how many were kept. Throws ElfError on a malformed table. */
export function addFunctionSymbols(b: SymbolTableBuilder, elf: ElfFile, table: '.symtab' | '.dynsym'): number {
  const t = elf.symbolTableSections(table);
  if (!t) return 0;
  const c = readCandidates(b, elf, t.entries, t.entsize);
  if (c.count === 0) return 0;
  const strings = SectionWindow.of(elf, t.strings, STRING_WINDOW_BYTES);
  // An empty name is no function; leading underscores rank aliases. In symbol order after this,
  // which breaks ties between aliases of equal rank as functionEntries does.
  const ranks = new Int16Array(c.count).fill(-1);
  forEachName(strings, c.nameOffsets, byOffset(c.nameOffsets, c.count), (k, bytes, start, end) => {
    if (end === start) return;
    let underscores = 0;
    while (underscores < 9 && start + underscores < end && bytes[start + underscores] === UNDERSCORE) underscores++;
    ranks[k] = symbolRank(c.sizeZero[k] === 0, c.binds[k]!, underscores);
  });
  const src = new SourceColumns(c.count);
  for (let k = 0; k < c.count; k++) {
    if (ranks[k]! >= 0) src.push(c.values[k]!, c.ends[k]!, c.sizeZero[k] === 1, ranks[k]!, c.nameOffsets[k]!);
  }
  return b.addSource(src, tableNames(strings));
}

/**
 * The first function symbol of `table` with a size (STT_FUNC, size > 0) named exactly `name`, read
 * as addFunctionSymbols reads: entries a window at a time, names compared in place — no ElfSymbol
 * per entry, neither section whole (a Go binary's .symtab: 100k+ symbols). Throws ElfError on a
 * malformed table.
 */
export function findFunctionSymbol(elf: ElfFile, table: '.symtab' | '.dynsym', name: string): { address: number; size: number } | undefined {
  const t = elf.symbolTableSections(table);
  if (!t) return undefined;
  const names = new WindowReader(SectionWindow.of(elf, t.strings, STRING_WINDOW_BYTES), STRING_WINDOW_BYTES);
  const want = Buffer.from(name);
  let found: { address: number; size: number } | undefined;
  forEachEntry(SectionWindow.of(elf, t.entries, ENTRY_WINDOW_BYTES), t.entsize, (data, off) => {
    if ((data[off + 4]! & 0xf) !== STT_FUNC) return true;
    const size = readU64(data, off + 16);
    // The entry is read before the name: the window of names may re-read the same bytes.
    if (size > 0 && isNameAt(names, data.readUInt32LE(off), want)) found = { address: readU64(data, off + 8), size };
    return found === undefined;
  });
  return found;
}

/** The defined entries of a symbol table before their names are known: index and name offset of each. */
interface NamedCandidates {
  count: number;
  indices: Uint32Array;
  nameOffsets: Uint32Array;
}

/**
 * The defined symbols of `table` (section index and value not 0) named as one of `names`, read as
 * addFunctionSymbols reads: entries a window at a time, then the names in offset order compared in
 * place, and only the entries named so read again whole. The whole-table alternative,
 * elf.symbols(), makes an object and a string per entry, with both sections read whole: for node's
 * .dynsym (75k entries, 5 MB of names), to find the 6 OpenSSL functions the TLS probes want, that
 * was ~17 MiB more peak RSS (measured on one lookup). `accept` says which of a name's entries
 * count; of several, the last in the table wins. Throws ElfError on a malformed table.
 */
export function findSymbolsNamed(elf: ElfFile, table: '.symtab' | '.dynsym', names: readonly string[],
  accept: (s: ElfSymbol) => boolean = () => true): Map<string, ElfSymbol> {
  const found = new Map<string, ElfSymbol>();
  const t = elf.symbolTableSections(table);
  if (!t || names.length === 0) return found;
  const entries = SectionWindow.of(elf, t.entries, ENTRY_WINDOW_BYTES);
  const c = definedEntries(entries, t.entsize);
  const wanted = names.map((n) => Buffer.from(n));
  const longest = Math.max(...wanted.map((w) => w.length));
  const best = new Map<string, number>();
  forEachName(SectionWindow.of(elf, t.strings, STRING_WINDOW_BYTES), c.nameOffsets.subarray(0, c.count),
    byOffset(c.nameOffsets, c.count), (k, bytes, start, end) => {
      if (end - start > longest) return;
      const i = wanted.findIndex((w) => w.length === end - start && bytes.compare(w, 0, w.length, start, end) === 0);
      if (i < 0) return;
      const index = c.indices[k]!;
      const s = symbolAt(entries.bytes(index * t.entsize, 24), names[i]!);
      if (accept(s) && index >= (best.get(s.name) ?? -1)) {
        best.set(s.name, index);
        found.set(s.name, s);
      }
    });
  return found;
}

/** The Elf64_Sym at the start of `data`, with its name already known. */
function symbolAt(data: Buffer, name: string): ElfSymbol {
  const info = data[4]!;
  return { name, value: readU64(data, 8), size: readU64(data, 16), type: info & 0xf, bind: info >> 4, sectionIndex: data.readUInt16LE(6) };
}

/** The entries of a symbol table with a section and a value, their names not read. */
function definedEntries(entries: WindowedBytes, entsize: number): NamedCandidates {
  const total = entryCount(entries.size, entsize);
  const c: NamedCandidates = { count: 0, indices: new Uint32Array(total), nameOffsets: new Uint32Array(total) };
  let index = 0;
  forEachEntry(entries, entsize, (data, off) => {
    if (data.readUInt16LE(off + 6) !== 0 && readU64(data, off + 8) !== 0) {
      c.indices[c.count] = index;
      c.nameOffsets[c.count++] = data.readUInt32LE(off);
    }
    index++;
    return true;
  });
  return c;
}

/** How many entries a symbol table holds: Elf64_Sym is 24 bytes, entsize may be larger, and the last entry needs only its 24. */
function entryCount(sectionBytes: number, entsize: number): number {
  return sectionBytes >= 24 ? Math.floor((sectionBytes - 24) / entsize) + 1 : 0;
}

/**
 * Calls `visit(data, off)` for each entry of a symbol table in order, the entry at data[off, off + 24),
 * reading a window of entries at a time; stops when `visit` returns false.
 */
function forEachEntry(entries: WindowedBytes, entsize: number, visit: (data: Buffer, off: number) => boolean): void {
  const total = entryCount(entries.size, entsize);
  const perWindow = Math.max(1, Math.floor(ENTRY_WINDOW_BYTES / entsize));
  for (let first = 0; first < total; first += perWindow) {
    const n = Math.min(perWindow, total - first);
    const data = entries.bytes(first * entsize, (n - 1) * entsize + 24);
    for (let off = 0; off < n * entsize; off += entsize) if (!visit(data, off)) return;
  }
}

/** Function symbols of the table not at an address `b` already has, read a window of entries at a time. */
function readCandidates(b: SymbolTableBuilder, elf: ElfFile, section: ElfSection, entsize: number): Candidates {
  const entries = SectionWindow.of(elf, section, ENTRY_WINDOW_BYTES);
  const total = entryCount(entries.size, entsize);
  const c: Candidates = {
    count: 0,
    values: new Float64Array(total),
    ends: new Float64Array(total),
    sizeZero: new Uint8Array(total),
    binds: new Uint8Array(total),
    nameOffsets: new Uint32Array(total),
  };
  const sections = elf.sections;
  forEachEntry(entries, entsize, (data, off) => {
    const info = data[off + 4]!;
    const value = readU64(data, off + 8);
    const size = readU64(data, off + 16);
    // The name is checked with the others, in offset order: present here means "maybe".
    const end = functionEnd(value, size, info & 0xf, data.readUInt16LE(off + 6), true, sections);
    if (end === undefined || b.covers(value)) return true;
    const k = c.count++;
    c.values[k] = value;
    c.ends[k] = end;
    c.sizeZero[k] = size === 0 ? 1 : 0;
    c.binds[k] = info >> 4;
    c.nameOffsets[k] = data.readUInt32LE(off);
    return true;
  });
  return c;
}
