// Go's function table (`.gopclntab`): the runtime needs it for stack traces and the garbage
// collector, so it survives `go build -ldflags='-s -w'`, which strips `.symtab` and DWARF. It gives
// every function's name and entry, and the next entry is where it ends.
//
// Layouts (Go's src/debug/gosym/pclntab.go and runtime/symtab.go):
//   header: magic u32, pad u8 u8, minLC (pc quantum) u8, ptrSize u8, then ptrSize-wide words
//   - Go 1.2  (0xfffffffb): nfunc, then functab inline: (entry pc, funcoff) ptrSize pairs;
//     names at offsets from the table start.
//   - Go 1.16 (0xfffffffa): nfunc, nfiles, funcnameOffset, cuOffset, filetabOffset, pctabOffset,
//     pclnOffset; functab at pclnOffset: (entry pc, funcoff) ptrSize pairs.
//   - Go 1.18 (0xfffffff0) and 1.20+ (0xfffffff1): nfunc, nfiles, textStart, funcnameOffset, cuOffset,
//     filetabOffset, pctabOffset, pclnOffset; functab entries are u32 (entryoff, funcoff) pairs
//     relative to the text start. Since Go 1.26 textStart is not stored (it needed a relocation):
//     the text start is the `.text` section's address, as debug/gosym assumes.
// In every version a _func record starts with the entry (u32 offset since 1.18, else a pointer)
// followed by nameOff (i32 into the name table). nfunc + 1 functab entries exist: the last one's pc
// is the end of the last function.
import { ElfError, PF_X, PT_LOAD, SHF_COMPRESSED, cString, type ElfFile } from './elf.js';
import { findFunctionSymbol } from './elf-functions.js';
import { offsetBytes, SectionWindow, WindowReader, wholeBytes, type WindowedBytes } from './section-window.js';
import { isNameAt, STRING_WINDOW_BYTES, tableNames } from './string-table.js';
import { SourceColumns, stringSource, type SymbolTableBuilder } from './symbol-table.js';

export interface GoFunction {
  name: string;
  /** Virtual address of the first instruction. */
  entry: number;
  /** Virtual address just past the function (the next function's entry). */
  end: number;
}

const MAGIC_12 = 0xfffffffb;
const MAGIC_116 = 0xfffffffa;
const MAGIC_118 = 0xfffffff0;
const MAGIC_120 = 0xfffffff1;
/** A Go binary with more functions than this is implausible: treat as garbage. */
const MAX_FUNCS = 4_000_000;
/** Bytes of read-only data scanned for the table when section headers are gone. */
const MAX_SCAN_BYTES = 256 << 20;

export function isPclntabMagic(magic: number): boolean {
  return magic === MAGIC_12 || magic === MAGIC_116 || magic === MAGIC_118 || magic === MAGIC_120;
}

/**
 * Parses a pclntab (`data` starts at its header) into functions sorted by entry. `textStart` is
 * the address function offsets are relative to (Go 1.18+): when not given, the header's own (Go
 * 1.18–1.25), else `fallbackTextStart`. Throws ElfError on anything that does not fit: every
 * offset is checked against the buffer.
 */
export function parsePclntab(data: Buffer, textStart?: number, fallbackTextStart = 0): GoFunction[] {
  const bytes = wholeBytes(data);
  const found: Array<{ entry: number; end: number; nameOff: number }> = [];
  const names = forEachPclntabFunction(bytes, bytes, textStart, fallbackTextStart, (entry, end, nameOff) => found.push({ entry, end, nameOff }));
  const nameTable = data.subarray(names);
  return found.map(({ entry, end, nameOff }) => ({ name: cString(nameTable, nameOff), entry, end })).sort((a, b) => a.entry - b.entry);
}

/** Bytes a reader moves through the pclntab at a time (addGoFunctions reads the section in windows). */
const PCLN_WINDOW_BYTES = 64 << 10;

/**
 * Each function of a pclntab as (entry, end, offset of its NUL-terminated name in the name
 * table), in table order, with parsePclntab's checks (every one before any function is believed:
 * a throw may come after some were visited); returns where the name table starts. `tables` and
 * `funcs` are the same bytes, read through two windows: the function table goes forward, and so do
 * the _func records it points to, each stream in its own window. The symbolizer's reader
 * (addGoFunctions) reads the section so, and names only the functions it keeps.
 */
export function forEachPclntabFunction(tables: WindowedBytes, funcs: WindowedBytes, textStart: number | undefined, fallbackTextStart: number,
  visit: (entry: number, end: number, nameOff: number) => void): number {
  const data = new WindowReader(tables, PCLN_WINDOW_BYTES);
  const records = new WindowReader(funcs, PCLN_WINDOW_BYTES);
  const size = data.size;
  if (size < 16) throw new ElfError('gopclntab: too small');
  const magic = data.u32(0);
  if (!isPclntabMagic(magic)) throw new ElfError(`gopclntab: unknown magic 0x${magic.toString(16)}`);
  const quantum = data.u8(6);
  const ptrSize = data.u8(7);
  if (data.u8(4) !== 0 || data.u8(5) !== 0 || ![1, 2, 4].includes(quantum) || (ptrSize !== 4 && ptrSize !== 8)) {
    throw new ElfError('gopclntab: bad header');
  }
  const word = (i: number): number => readUint(data, 8 + i * ptrSize, ptrSize);
  const nfunc = word(0);
  if (nfunc > MAX_FUNCS) throw new ElfError(`gopclntab: ${nfunc} functions`);

  let functab: number; // offset of the (pc, funcoff) pairs
  let fieldSize: number; // width of each pair member
  let funcData: number; // base of funcoff
  let names: number; // base of nameOff
  let relative: boolean; // entries are offsets from textStart
  if (magic === MAGIC_118 || magic === MAGIC_120) {
    names = word(3);
    funcData = word(7);
    functab = funcData;
    fieldSize = 4;
    relative = true;
  } else if (magic === MAGIC_116) {
    names = word(2);
    funcData = word(6);
    functab = funcData;
    fieldSize = ptrSize;
    relative = false;
  } else {
    names = 0;
    funcData = 0;
    functab = 8 + ptrSize;
    fieldSize = ptrSize;
    relative = false;
  }
  const tableEnd = functab + (2 * nfunc + 1) * fieldSize;
  if (functab > size || tableEnd > size || names > size) throw new ElfError('gopclntab: tables outside the section');
  const base = relative ? (textStart ?? (word(2) || fallbackTextStart)) : 0;
  const nameTableSize = size - names;
  for (let i = 0; i < nfunc; i++) {
    const at = functab + 2 * i * fieldSize;
    const entry = base + readUint(data, at, fieldSize);
    const end = base + readUint(data, at + 2 * fieldSize, fieldSize);
    const funcOff = funcData + readUint(data, at + fieldSize, fieldSize);
    // _func: entry (u32 since 1.18, else a pointer), then nameOff i32.
    const nameField = funcOff + (relative ? 4 : ptrSize);
    if (nameField + 4 > size) throw new ElfError(`gopclntab: function ${i} outside the section`);
    const nameOff = records.i32(nameField);
    if (nameOff < 0 || nameOff >= nameTableSize) throw new ElfError(`gopclntab: function ${i} name outside the table`);
    if (end < entry) throw new ElfError(`gopclntab: function ${i} ends before it starts`);
    visit(entry, end, nameOff);
  }
  return names;
}

function readUint(r: WindowReader, off: number, size: number): number {
  if (off + size > r.size) throw new ElfError('gopclntab: read past the end');
  if (size === 4) return r.u32(off);
  const lo = r.u32(off);
  const hi = r.u32(off + 4);
  if (hi >= 0x200000) throw new ElfError('gopclntab: value out of range');
  return hi * 0x1_0000_0000 + lo;
}

/** The lowest executable segment's address: where Go's linker puts `.text` on every platform it targets. */
function firstExecAddress(elf: ElfFile): number {
  const exec = elf.segments.filter((p) => p.type === PT_LOAD && (p.flags & PF_X) !== 0).sort((a, b) => a.vaddr - b.vaddr)[0];
  return exec?.vaddr ?? 0;
}

/**
 * Every function of a Go binary, from `.gopclntab` (or `.data.rel.ro.gopclntab` in PIE builds),
 * or — when section headers are stripped too — from a scan of the read-only segments for the
 * table's magic. `undefined` when the binary has no Go function table. Throws ElfError on a table
 * that is there but malformed.
 */
export function goFunctions(elf: ElfFile): GoFunction[] | undefined {
  const sec = elf.section('.gopclntab') ?? elf.section('.data.rel.ro.gopclntab');
  const fallback = firstExecAddress(elf);
  if (sec) return parsePclntab(elf.sectionData(sec), elf.section('.text')?.addr, fallback);
  if (elf.sections.length > 0) return undefined;
  return scanForPclntab(elf, fallback);
}

function scanForPclntab(elf: ElfFile, fallback: number): GoFunction[] | undefined {
  let budget = MAX_SCAN_BYTES;
  for (const seg of elf.segments) {
    if (seg.type !== PT_LOAD || (seg.flags & PF_X) !== 0 || seg.filesz === 0) continue;
    const len = Math.min(seg.filesz, budget);
    budget -= len;
    const bytes = elf.readAt(seg.offset, len);
    for (const magic of [MAGIC_120, MAGIC_118, MAGIC_116, MAGIC_12]) {
      const needle = Buffer.alloc(4);
      needle.writeUInt32LE(magic);
      for (let at = bytes.indexOf(needle); at >= 0; at = bytes.indexOf(needle, at + 4)) {
        try {
          const funcs = parsePclntab(bytes.subarray(at), undefined, 0);
          // A false match rarely parses; one that does must look like a Go program.
          if (funcs.length > 0 && funcs.some((f) => f.name === 'runtime.main' || f.name === 'runtime.goexit')) return relocate(funcs, elf, fallback);
        } catch (err) {
          if (!(err instanceof ElfError)) throw err;
        }
      }
    }
    if (budget <= 0) break;
  }
  return undefined;
}

/**
 * Go 1.26 no longer records the text start in the table, and without section headers `.text`'s
 * address is unknown: the ELF entry point is `_rt0_<arch>_<os>`, whose offset the table has.
 */
function relocate(funcs: GoFunction[], elf: ElfFile, fallback: number): GoFunction[] {
  if (funcs.some((f) => elf.entry >= f.entry && elf.entry < f.end)) return funcs;
  const rt0 = funcs.find((f) => /^_rt0_[a-z0-9]+_[a-z]+$/.test(f.name));
  const shift = rt0 ? elf.entry - rt0.entry : fallback;
  return funcs.map((f) => ({ name: f.name, entry: f.entry + shift, end: f.end + shift }));
}

/**
 * A Go binary's functions added to `b` as a source (see goFunctions); the number kept, or undefined
 * when the binary has no Go function table. With a `.gopclntab` section no string or object is made
 * per function (a large Go program has 100k+): names are copied from the table for the entries
 * kept. The scan of a binary without section headers goes through goFunctions.
 */
export function addGoFunctions(b: SymbolTableBuilder, elf: ElfFile): number | undefined {
  const sec = elf.section('.gopclntab') ?? elf.section('.data.rel.ro.gopclntab');
  if (!sec) {
    const funcs = goFunctions(elf);
    if (funcs === undefined) return undefined;
    return b.addSource(...stringSource(funcs.map((f) => ({ name: f.name, start: f.entry, end: f.end }))));
  }
  const src = new SourceColumns();
  // The section in windows: two for the tables (see forEachPclntabFunction), one for the names;
  // a compressed one inflated once, its slices shared.
  const inflated = (sec.flags & SHF_COMPRESSED) !== 0 ? wholeBytes(elf.sectionData(sec)) : undefined;
  const open = (windowBytes: number): WindowedBytes => inflated ?? SectionWindow.of(elf, sec, windowBytes);
  const names = forEachPclntabFunction(open(PCLN_WINDOW_BYTES), open(PCLN_WINDOW_BYTES), elf.section('.text')?.addr, firstExecAddress(elf), (entry, end, nameOff) => {
    src.push(entry, end, false, 0, nameOff);
  });
  return b.addSource(src, tableNames(offsetBytes(open(STRING_WINDOW_BYTES), names)));
}

/**
 * The function named exactly `name` (e.g. `crypto/tls.(*Conn).Read`) in a Go binary, stripped or not.
 * With a `.gopclntab` section the table is read in windows (forEachPclntabFunction) and names are
 * compared in place: no string or object per function, nor the section whole.
 */
export function findGoFunction(elf: ElfFile, name: string): GoFunction | undefined {
  return findGoFunctions(elf, [name]).get(name);
}

/**
 * As findGoFunction, for several names in one pass over the table (the first function of each
 * name); the names not found are absent from the map. goFunctions makes an object and a string per
 * function from the whole section: for Jaeger's 31 MB table that was ~60 MiB more peak RSS.
 */
export function findGoFunctions(elf: ElfFile, wanted: readonly string[]): Map<string, GoFunction> {
  const found = new Map<string, GoFunction>();
  const sec = elf.section('.gopclntab') ?? elf.section('.data.rel.ro.gopclntab');
  if (!sec || (sec.flags & SHF_COMPRESSED) !== 0) {
    for (const f of goFunctions(elf) ?? []) if (wanted.includes(f.name) && !found.has(f.name)) found.set(f.name, f);
    return found;
  }
  const open = (windowBytes = PCLN_WINDOW_BYTES): WindowedBytes => SectionWindow.of(elf, sec, windowBytes);
  const textStart = elf.section('.text')?.addr;
  const fallback = firstExecAddress(elf);
  // Where the names are is known only once the table has been checked: a first pass to learn it.
  const nameTable = forEachPclntabFunction(open(), open(), textStart, fallback, () => {});
  const names = new WindowReader(offsetBytes(open(STRING_WINDOW_BYTES), nameTable), STRING_WINDOW_BYTES);
  const want = wanted.map((name) => ({ name, bytes: Buffer.from(name) }));
  forEachPclntabFunction(open(), open(), textStart, fallback, (entry, end, nameOff) => {
    if (found.size === want.length) return;
    const w = want.find((x) => !found.has(x.name) && isNameAt(names, nameOff, x.bytes));
    if (w !== undefined) found.set(w.name, { name: w.name, entry, end });
  });
  return found;
}

/**
 * One function of a Go binary by name: its .symtab entry (exact size), else its .gopclntab range;
 * neither read whole. Throws ElfError on a malformed table.
 */
export function goFunctionRange(elf: ElfFile, name: string): { address: number; size: number } | undefined {
  const s = findFunctionSymbol(elf, '.symtab', name);
  if (s !== undefined) return s;
  const f = findGoFunction(elf, name);
  return f === undefined ? undefined : { address: f.entry, size: f.end - f.entry };
}
