// The function symbols of an ELF symbol table, read into a SymbolTableBuilder as one source: the
// same choice as `functionEntries` (functionEnd, symbolRank), but the entries are read a window at
// a time and the names from the string table in offset order (string-table.ts), with no ElfSymbol,
// string or BigInt per symbol and neither section held whole. Entries at addresses an earlier
// source has are dropped before their names are looked at: an unstripped binary's .dynsym repeats
// its .symtab, and its string table is then not read at all.
import { type ElfFile, type ElfSection, readU64, STT_FUNC } from './elf.js';
import { SectionWindow, WindowReader } from './section-window.js';
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
  const entries = SectionWindow.of(elf, t.entries, ENTRY_WINDOW_BYTES);
  const names = new WindowReader(SectionWindow.of(elf, t.strings, STRING_WINDOW_BYTES), STRING_WINDOW_BYTES);
  const want = Buffer.from(name);
  const total = entries.size >= 24 ? Math.floor((entries.size - 24) / t.entsize) + 1 : 0;
  const perWindow = Math.max(1, Math.floor(ENTRY_WINDOW_BYTES / t.entsize));
  for (let first = 0; first < total; first += perWindow) {
    const n = Math.min(perWindow, total - first);
    const data = entries.bytes(first * t.entsize, (n - 1) * t.entsize + 24);
    for (let off = 0; off < n * t.entsize; off += t.entsize) {
      if ((data[off + 4]! & 0xf) !== STT_FUNC) continue;
      const size = readU64(data, off + 16);
      // The entry is read before the name: the window of names may re-read the same bytes.
      if (size > 0 && isNameAt(names, data.readUInt32LE(off), want)) return { address: readU64(data, off + 8), size };
    }
  }
  return undefined;
}

/** Function symbols of the table not at an address `b` already has, read a window of entries at a time. */
function readCandidates(b: SymbolTableBuilder, elf: ElfFile, section: ElfSection, entsize: number): Candidates {
  const entries = SectionWindow.of(elf, section, ENTRY_WINDOW_BYTES);
  // Elf64_Sym is 24 bytes; entsize may be larger, and the last entry needs only its 24.
  const total = entries.size >= 24 ? Math.floor((entries.size - 24) / entsize) + 1 : 0;
  const c: Candidates = {
    count: 0,
    values: new Float64Array(total),
    ends: new Float64Array(total),
    sizeZero: new Uint8Array(total),
    binds: new Uint8Array(total),
    nameOffsets: new Uint32Array(total),
  };
  const perWindow = Math.max(1, Math.floor(ENTRY_WINDOW_BYTES / entsize));
  const sections = elf.sections;
  for (let first = 0; first < total; first += perWindow) {
    const n = Math.min(perWindow, total - first);
    const data = entries.bytes(first * entsize, (n - 1) * entsize + 24);
    for (let j = 0; j < n; j++) {
      const off = j * entsize;
      const info = data[off + 4]!;
      const value = readU64(data, off + 8);
      const size = readU64(data, off + 16);
      // The name is checked with the others, in offset order: present here means "maybe".
      const end = functionEnd(value, size, info & 0xf, data.readUInt16LE(off + 6), true, sections);
      if (end === undefined || b.covers(value)) continue;
      const k = c.count++;
      c.values[k] = value;
      c.ends[k] = end;
      c.sizeZero[k] = size === 0 ? 1 : 0;
      c.binds[k] = info >> 4;
      c.nameOffsets[k] = data.readUInt32LE(off);
    }
  }
  return c;
}
