// Call frame information (x86-64) from `.eh_frame` or `.debug_frame`: CIEs and FDEs, their pointer
// encodings, and the DWARF CFA programs run into per-address rows of the columns a stack walker needs
// (the CFA, rbp, the return address). Specs: the Linux Standard Base Core spec §10.6 "Exception
// Frames" (the .eh_frame layout, augmentation strings, DW_EH_PE_* encodings) and DWARF 5 §6.4 "Call
// Frame Information" (the .debug_frame layout, §6.4.1, and the DW_CFA_* instructions, §6.4.2).
// The two sections differ only in how entries are framed and addressed (see CfiSection); the CFA
// programs are the same. Everything is bound-checked through DwarfCursor: a malformed entry is a
// DwarfError, never a read past the end; one bad FDE does not stop the others (counted).
import { DwarfCursor, DwarfError } from './dwarf-cursor.js';
import type { ElfFile } from './elf.js';
import type { Buffers } from './scratch.js';
import { SectionWindow, type WindowedBytes } from './section-window.js';

/** x86-64 DWARF register numbers (System V AMD64 ABI, figure 3.36). */
export const X86_64_REG = { RBP: 6, RSP: 7, RA: 16 } as const;

/** DW_EH_PE_*: low nibble is the format, bits 4–6 what it is relative to, 0x80 indirect. */
const PE = {
  absptr: 0x00, uleb128: 0x01, udata2: 0x02, udata4: 0x03, udata8: 0x04,
  sleb128: 0x09, sdata2: 0x0a, sdata4: 0x0b, sdata8: 0x0c,
  pcrel: 0x10, datarel: 0x30, indirect: 0x80, omit: 0xff,
} as const;

/** How to find the CFA: register + offset, or a DWARF expression (not evaluated here). */
export type CfaRule = { kind: 'reg'; reg: number; offset: number } | { kind: 'expr' };

/**
 * A register's rule, as far as a walker that tracks rsp, rbp and the return address needs:
 * `same` (unchanged, also "undefined in the CIE": callee-saved registers not yet saved), `offset`
 * (saved at CFA + offset), `undefined` (DW_CFA_undefined: for the return address, the outermost
 * frame), `other` (in another register, a val_offset, an expression).
 */
export type RegRule = { kind: 'same' } | { kind: 'offset'; offset: number } | { kind: 'undefined' } | { kind: 'other' };

export interface CfiRow {
  /** Address (ELF virtual address) from which the row applies, up to the next row or the FDE's end. */
  loc: number;
  cfa: CfaRule;
  rbp: RegRule;
  ra: RegRule;
}

export interface Fde {
  /** Offset of the FDE in the section (as readelf prints it). */
  offset: number;
  start: number;
  end: number;
  rows: CfiRow[];
  /** The CIE says this is a signal trampoline ('S' augmentation). */
  signalFrame: boolean;
}

/** The FDEs of one section (.eh_frame or .debug_frame), or of both merged (mergeCfi). */
export interface EhFrame {
  fdes: Fde[];
  /** Entries that could not be parsed (skipped). */
  malformed: number;
  /** Instructions or encodings not understood (their FDE skipped). */
  unsupported: number;
}

/**
 * One call frame information section. `.eh_frame` (LSB §10.6): a CIE's id is 0, an FDE's CIE pointer
 * counts back from its own field, addresses are DW_EH_PE-encoded (usually pc-relative: `addr` is
 * the section's address), a zero length ends the section. `.debug_frame` (DWARF 5 §6.4.1): a CIE's
 * id is all ones (0xffffffff, or 0xffffffffffffffff in 64-bit DWARF, whose ids and CIE pointers are
 * 8 bytes), an FDE's CIE pointer is an offset from the section start, addresses are absolute and
 * address-sized (CIE version 4 says the size and a segment selector size; before it, the ELF class:
 * 8), and the section is not loaded (`addr` 0).
 */
export interface CfiSection {
  kind: 'eh_frame' | 'debug_frame';
  /**
   * The section's bytes whole, or read from its file a window at a time (cfiSectionWindowed: the
   * compile worker never holds libLLVM's 5 MB .eh_frame whole; a compile needs an entry and its CIE).
   */
  data: Buffer | WindowedBytes;
  addr: number;
}

/**
 * Bytes read from the section's file per window: a few hundred FDEs. The scanner's reads go forward
 * through the section (the first pass in section order; the second in address order, which follows
 * section order in long runs), so a window is read from the entry asked for onwards.
 */
const WINDOW_BYTES = 64 << 10;

const EMPTY: Buffer = Buffer.alloc(0);

/** ElfFile reads ELF64 only: addresses are 8 bytes unless a version 4 CIE says otherwise. */
const ELF64_ADDRESS_SIZE = 8;

interface Cie {
  codeAlign: number;
  dataAlign: number;
  raReg: number;
  fdeEncoding: number;
  hasAugData: boolean;
  signalFrame: boolean;
  /** Bytes of an absolute address (DW_EH_PE_absptr, .debug_frame's addresses, DW_CFA_set_loc). */
  addressSize: number;
  /** Bytes of the segment selector before an FDE's initial location (version 4 CIEs; 0 on x86-64). */
  segmentSize: number;
  /** The initial instructions' section offset, and their bytes (a copy: the section may be read in windows). */
  initialFrom: number;
  initialInstructions: Buffer;
  /**
   * The rules after the initial instructions (a state, as ROW lays it out), the same for every FDE of
   * the CIE, so run once: 'unsupported' or 'malformed' when they fail. Undefined until the first
   * FDE, and again after a run that met DW_CFA_set_loc (its outcome depends on the FDE's start).
   */
  initial?: Float64Array | 'unsupported' | 'malformed';
}

/** Parses `.eh_frame` of an ELF file; null when it has none. */
export function readEhFrame(elf: ElfFile): EhFrame | null {
  const sec = cfiSectionOf(elf, 'eh_frame');
  return sec === undefined ? null : parseCfi(sec);
}

/** Parses `.debug_frame` of an ELF file (a binary or its separate debug file); null when it has none. */
export function readDebugFrame(elf: ElfFile): EhFrame | null {
  const sec = cfiSectionOf(elf, 'debug_frame');
  return sec === undefined ? null : parseCfi(sec);
}

/** The section with its bytes; undefined when absent, empty or without bytes (a debug file's NOBITS copy). */
export function cfiSectionOf(elf: ElfFile, kind: CfiSection['kind']): (CfiSection & { data: Buffer }) | undefined {
  const sec = elf.section(`.${kind}`);
  if (sec === undefined || sec.size === 0) return undefined;
  const data = elf.sectionData(sec);
  if (data.length === 0) return undefined;
  return { kind, data, addr: kind === 'eh_frame' ? sec.addr : 0 };
}

/**
 * As cfiSectionOf, but the bytes are read from the file in windows (SectionWindows) through
 * `buffers`, unless the section is compressed (a debug file's .debug_frame may be: then inflated whole).
 * The ElfFile must stay open while the section is read.
 */
export function cfiSectionWindowed(elf: ElfFile, kind: CfiSection['kind'], buffers: Buffers, use: string): CfiSection | undefined {
  const sec = elf.section(`.${kind}`);
  if (sec === undefined || sec.size === 0) return undefined;
  const data = SectionWindow.of(elf, sec, WINDOW_BYTES, { buffers, use });
  if (data.size === 0) return undefined;
  return { kind, data, addr: kind === 'eh_frame' ? sec.addr : 0 };
}

/** `data` is the section's bytes, `sectionAddr` its address (pc-relative pointers are relative to it). */
export function parseEhFrame(data: Buffer, sectionAddr: number): EhFrame {
  return parseCfi({ kind: 'eh_frame', data, addr: sectionAddr });
}

/** `data` is the bytes of a `.debug_frame` section. */
export function parseDebugFrame(data: Buffer): EhFrame {
  return parseCfi({ kind: 'debug_frame', data, addr: 0 });
}

export function parseCfi(sec: CfiSection): EhFrame {
  const fdes: Fde[] = [];
  const counts = forEachFde(sec, (f) => void fdes.push(f));
  return { fdes, ...counts };
}

/**
 * The FDEs of a section one at a time, in section order, keeping none: a caller that compiles each
 * as it comes holds only its output, not every FDE's rows at once (node's 76k FDEs as objects are
 * ~150 MiB of heap). The table compiler (cfi-table.ts, compileCfi) goes further: it takes the rows
 * through a CfiSink, without an object per row.
 */
export function forEachFde(sec: CfiSection, onFde: (fde: Fde) => void): { malformed: number; unsupported: number } {
  return scanCfi(sec, new ObjectSink(onFde));
}

/** RegRule kinds as a CfiSink is given them. */
export const RULE = { SAME: 0, OFFSET: 1, UNDEFINED: 2, OTHER: 3 } as const;
/** A CfiSink's CFA register when the CFA is a DWARF expression (its offset is then 0). */
export const CFA_EXPR = -1;

/**
 * Where the CFA programs' rows go, FDE by FDE, as numbers: for each FDE begin, its rows, then end.
 * Rows come in order of location, a row at the location of the one before replacing it (the last
 * wins); the last row is at the end of the program (possibly at the FDE's end, or past it).
 */
export interface CfiSink {
  /** An FDE's program is about to run: its address range and whether its CIE marks a signal frame. */
  begin(start: number, end: number, signalFrame: boolean): void;
  /**
   * A row: the location, the CFA (register or CFA_EXPR, offset), rbp's and the return address's
   * rules (RULE kind, offset). Offsets are LEB128 values times an alignment factor: doubles, to be
   * range-checked by whoever narrows them.
   */
  row(loc: number, cfaReg: number, cfaOffset: number, rbpKind: number, rbpOffset: number, raKind: number, raOffset: number): void;
  /**
   * The FDE is done: `ok` when its program ran to its end and its range is not empty, else its rows
   * are to be dropped (an instruction not understood, a malformed entry, an empty range).
   */
  end(ok: boolean, offset: number): void;
}

/** Rows as CfiRow objects (parseCfi, forEachFde): what tests compare with readelf. */
class ObjectSink implements CfiSink {
  #rows: CfiRow[] = [];
  #start = 0;
  #end = 0;
  #signalFrame = false;

  constructor(readonly onFde: (fde: Fde) => void) {}

  begin(start: number, end: number, signalFrame: boolean): void {
    this.#rows = [];
    this.#start = start;
    this.#end = end;
    this.#signalFrame = signalFrame;
  }

  row(loc: number, cfaReg: number, cfaOffset: number, rbpKind: number, rbpOffset: number, raKind: number, raOffset: number): void {
    const rule = (kind: number, offset: number): RegRule =>
      kind === RULE.OFFSET ? { kind: 'offset', offset } : { kind: kind === RULE.SAME ? 'same' : kind === RULE.UNDEFINED ? 'undefined' : 'other' } as RegRule;
    const r: CfiRow = {
      loc,
      cfa: cfaReg === CFA_EXPR ? { kind: 'expr' } : { kind: 'reg', reg: cfaReg, offset: cfaOffset },
      rbp: rule(rbpKind, rbpOffset),
      ra: rule(raKind, raOffset),
    };
    if (this.#rows.at(-1)?.loc === loc) this.#rows[this.#rows.length - 1] = r;
    else this.#rows.push(r);
  }

  end(ok: boolean, offset: number): void {
    if (ok) this.onFde({ offset, start: this.#start, end: this.#end, rows: this.#rows, signalFrame: this.#signalFrame });
  }
}

/** The state's layout: a row in the making, in CfiSink.row's order. */
const ROW = { LOC: 0, CFA_REG: 1, CFA_OFFSET: 2, RBP_KIND: 3, RBP_OFFSET: 4, RA_KIND: 5, RA_OFFSET: 6, WIDTH: 7 } as const;

/** Copies one state (ROW.WIDTH numbers): element by element, which is faster than TypedArray.set for so few. */
function copyRow(from: Float64Array, fromAt: number, to: Float64Array, toAt: number): void {
  for (let i = 0; i < ROW.WIDTH; i++) to[toAt + i] = from[fromAt + i]!;
}

/**
 * The FDEs of a section one at a time, in section order, their rows into `sink` (see CfiSink).
 * Counts what it skipped.
 */
export function scanCfi(sec: CfiSection, sink: CfiSink): { malformed: number; unsupported: number } {
  const scanner = new CfiScanner(sec, sink);
  for (let pos = 0; pos >= 0;) pos = scanner.entryAt(pos);
  return scanner.skipped;
}

/**
 * Runs a section's entries one at a time from their offsets: scanCfi in section order, or again
 * for chosen FDEs in another order (cfi-table.ts compiles a table's rows in address order this way,
 * from the offsets a first pass noted, instead of keeping every FDE's rows between the passes).
 * CIEs are parsed once, when an FDE first refers to them.
 */
export class CfiScanner {
  /** Entries skipped so far: malformed, or with an instruction or encoding not understood. */
  readonly skipped = { malformed: 0, unsupported: 0 };
  readonly #sec: CfiSection;
  /** The section's bytes: null when they are whole in #window. */
  readonly #bytes: WindowedBytes | null;
  /** The bytes read last (the whole section when it is in memory) and their section offset. */
  #window: Buffer = EMPTY;
  #base = 0;
  readonly #size: number;
  readonly #sink: CfiSink;
  readonly #cies = new Map<number, Cie | null>();
  // One cursor for the whole section, moved from entry to entry (bounded by each entry's end) and
  // from window to window (its positions are the window's, its base the window's section offset).
  readonly #c: DwarfCursor;
  readonly #machine: CfaMachine;

  constructor(sec: CfiSection, sink: CfiSink) {
    this.#sec = sec;
    if (Buffer.isBuffer(sec.data)) {
      this.#bytes = null;
      this.#window = sec.data;
      this.#size = sec.data.length;
    } else {
      this.#bytes = sec.data;
      this.#size = sec.data.size;
    }
    this.#sink = sink;
    this.#c = new DwarfCursor(EMPTY, 0, 0, `.${sec.kind}`);
    this.#machine = new CfaMachine(this.#c, sec.addr, sink, (pos, length) => void this.#at(pos, length));
  }

  /** The cursor at section offset `pos`, bounded by pos + length (within the section), on a window holding them. */
  #at(pos: number, length: number): DwarfCursor {
    if (this.#bytes !== null && (pos < this.#base || pos + length > this.#base + this.#window.length)) {
      this.#window = this.#bytes.bytes(pos, Math.max(length, WINDOW_BYTES));
      this.#base = pos;
    }
    const c = this.#c;
    c.buf = this.#window;
    c.base = this.#base;
    c.pos = pos - this.#base;
    c.end = pos + length - this.#base;
    return c;
  }

  /**
   * The entry at `pos`: a CIE is passed over, an FDE's rows go to the sink (CfiSink.end gets `pos`).
   * The next entry's offset, or -1 at the section's end (or when its framing is broken).
   */
  entryAt(pos: number): number {
    const sec = this.#sec;
    const { kind } = sec;
    const size = this.#size;
    const debug = kind === 'debug_frame';
    const sink = this.#sink;
    if (pos + 4 > size) return -1;
    // The length (4 bytes, or 12 in the 64-bit format), then the whole entry.
    let c = this.#at(pos, Math.min(12, size - pos));
    let length = c.u32();
    let offsetSize = 4;
    if (length === 0) {
      // .eh_frame's terminator; in .debug_frame (which has none) padding, skipped as readelf does.
      return debug ? pos + 4 : -1;
    }
    if (length === 0xffffffff) {
      if (c.remaining < 8) return -1;
      length = c.u64Offset();
      offsetSize = 8;
    }
    const idField = c.base + c.pos;
    const end = idField + length;
    if (end > size) {
      this.skipped.malformed++;
      return -1;
    }
    let begun = false;
    try {
      c = this.#at(idField, length);
      // .eh_frame's CIE id / CIE pointer is 4 bytes even in the 64-bit format (LSB §10.6.1.1).
      const id = readCieId(c, kind, debug ? offsetSize : 4, size);
      if (id === IS_CIE) return end; // a CIE: parsed when an FDE refers to it
      // .eh_frame: distance back from this field; .debug_frame: offset from the section start.
      const cieAt = debug ? id : idField - id;
      let cie = this.#cies.get(cieAt);
      if (cie === undefined) {
        const from = c.base + c.pos;
        cie = parseCieAt(kind, size, cieAt, (p, n) => this.#at(p, n));
        this.#cies.set(cieAt, cie);
        // The CIE may have been read into another window.
        c = this.#at(from, end - from);
      }
      if (cie === null) {
        this.skipped.unsupported++;
        return end;
      }
      c.skip(cie.segmentSize);
      const start = readPointer(c, cie.fdeEncoding, sec.addr, cie.addressSize);
      const range = readPointer(c, cie.fdeEncoding & 0x0f, sec.addr, cie.addressSize);
      if (cie.hasAugData) c.skip(c.ulebNumber());
      sink.begin(start, start + range, cie.signalFrame);
      begun = true;
      const ran = this.#machine.runFde(cie, c.base + c.pos, end, start);
      if (!ran) this.skipped.unsupported++;
      sink.end(ran && range !== 0, pos);
    } catch (e) {
      if (!(e instanceof DwarfError)) throw e;
      this.skipped.malformed++;
      if (begun) sink.end(false, pos);
    }
    return end;
  }
}

/** readCieId's answer for a CIE. */
const IS_CIE = -1;

/**
 * The CIE id / CIE pointer field of an entry of `idSize` bytes: IS_CIE for a CIE's id (0 in
 * .eh_frame, all ones in .debug_frame), else the pointer, which must lie in the section.
 */
function readCieId(c: DwarfCursor, kind: CfiSection['kind'], idSize: number, sectionSize: number): number {
  const at = c.pos;
  const low = c.u32();
  const high = idSize === 8 ? c.u32() : kind === 'debug_frame' ? 0xffffffff : 0;
  if (kind === 'eh_frame' ? low === 0 : low === 0xffffffff && high === 0xffffffff) return IS_CIE;
  if ((idSize === 8 && high !== 0) || low > sectionSize) throw c.error('CIE pointer outside the section', at);
  return low;
}

/** A CIE at `at`, or null when its version or augmentation is one we do not read. */
/**
 * A CIE at section offset `at` of a section of `size` bytes, or null when its version or augmentation
 * is one we do not read. `cursor(pos, length)`: a cursor on section bytes [pos, pos + length).
 */
function parseCieAt(kind: CfiSection['kind'], size: number, at: number, cursor: (pos: number, length: number) => DwarfCursor): Cie | null {
  if (at < 0 || at >= size) throw new DwarfError('CIE pointer outside the section', `.${kind}`, at);
  let c = cursor(at, Math.min(12, size - at));
  let length = c.u32();
  let idSize = 4;
  if (length === 0xffffffff) {
    length = c.u64Offset();
    if (kind === 'debug_frame') idSize = 8;
  }
  const from = c.base + c.pos;
  c = cursor(from, Math.min(from + length, size) - from);
  if (readCieId(c, kind, idSize, size) !== IS_CIE) throw c.error('not a CIE', at - c.base);
  const version = c.u8();
  // .eh_frame: 1 or 3 (LSB); .debug_frame: 1 (DWARF 2), 3 (DWARF 3), 4 (DWARF 4 and 5).
  if (version !== 1 && version !== 3 && !(version === 4 && kind === 'debug_frame')) return null;
  const aug = c.cstring();
  if (aug.includes('eh')) return null; // GCC 2.x's eh_ptr: long gone
  let addressSize = ELF64_ADDRESS_SIZE;
  let segmentSize = 0;
  if (version === 4) {
    addressSize = c.u8();
    segmentSize = c.u8();
    if (addressSize !== 4 && addressSize !== 8) return null;
  }
  const codeAlign = c.ulebNumber();
  const da = c.sleb();
  const dataAlign = typeof da === 'bigint' ? 0 : da;
  const raReg = version === 1 ? c.u8() : c.ulebNumber();
  const cie: Cie = {
    codeAlign, dataAlign, raReg, fdeEncoding: PE.absptr, hasAugData: false, signalFrame: false,
    addressSize, segmentSize, initialFrom: 0, initialInstructions: EMPTY,
  };
  if (aug.startsWith('z')) {
    cie.hasAugData = true;
    const augLen = c.ulebNumber();
    const augEnd = c.pos + augLen;
    for (const ch of aug.slice(1)) {
      if (ch === 'R') cie.fdeEncoding = c.u8();
      else if (ch === 'L') c.u8();
      else if (ch === 'P') readPointer(c, c.u8() & ~PE.indirect, 0, addressSize);
      else if (ch === 'S') cie.signalFrame = true;
      else if (ch === 'B' || ch === 'G') continue; // arm64 key / MTE tagging: no data
      else break; // unknown: the length lets us skip the rest
    }
    c.pos = augEnd;
  } else if (aug !== '') {
    return null;
  }
  if (c.pos > c.end) throw c.error('augmentation data past the end of the CIE');
  cie.initialFrom = c.base + c.pos;
  cie.initialInstructions = Buffer.from(c.buf.subarray(c.pos, c.end));
  return cie;
}

/**
 * A DW_EH_PE-encoded pointer. Only absolute and pc-relative ones occur in .eh_frame's FDEs;
 * .debug_frame's are absolute (absptr: `addressSize` bytes).
 */
function readPointer(c: DwarfCursor, enc: number, sectionAddr: number, addressSize: number): number {
  if (enc === PE.omit) return 0;
  const fieldAddr = sectionAddr + c.base + c.pos;
  let v: number;
  switch (enc & 0x0f) {
    case PE.absptr: v = c.uN(addressSize); break;
    case PE.udata8: v = c.u64Offset(); break;
    case PE.uleb128: v = c.ulebNumber(); break;
    case PE.udata2: v = c.u16(); break;
    case PE.udata4: v = c.u32(); break;
    case PE.sleb128: { const s = c.sleb(); if (typeof s === 'bigint') throw c.error('pointer too large'); v = s; break; }
    case PE.sdata2: v = (c.u16() << 16) >> 16; break;
    case PE.sdata4: v = c.u32() | 0; break;
    case PE.sdata8: v = Number(BigInt.asIntN(64, c.u64Big())); break;
    default: throw c.error(`pointer encoding 0x${enc.toString(16)}`);
  }
  switch (enc & 0x70) {
    case 0: return v;
    case PE.pcrel: return fieldAddr + v;
    default: throw c.error(`pointer application 0x${(enc & 0x70).toString(16)}`);
  }
}

const DEFAULT_STATE = (() => {
  // Before the CIE's initial instructions: CFA = rsp + 8 (the call has pushed the return address),
  // every rule "same".
  const s = new Float64Array(ROW.WIDTH);
  s[ROW.CFA_REG] = X86_64_REG.RSP;
  s[ROW.CFA_OFFSET] = 8;
  return s;
})();

/** The CFA programs of one section's entries: a CIE's initial instructions, then an FDE's. */
class CfaMachine {
  /** The state: a row in the making (ROW). */
  readonly #s = new Float64Array(ROW.WIDTH);
  /** DW_CFA_remember_state's stack: states without their location, ROW.WIDTH numbers each. */
  #stack = new Float64Array(8 * ROW.WIDTH);
  /** DW_CFA_set_loc instructions run by the last program. */
  #setLocs = 0;

  /** `at(pos, length)`: the cursor `c` moved onto a window holding section bytes [pos, pos + length), at pos. */
  constructor(readonly c: DwarfCursor, readonly sectionAddr: number, readonly sink: CfiSink, readonly at: (pos: number, length: number) => void) {}

  /**
   * Runs the CIE's initial instructions (once per CIE: see Cie.initial), then the FDE's (section
   * offsets [from, to)), its rows into the sink. False for an instruction not understood; a
   * DwarfError for a malformed one.
   */
  runFde(cie: Cie, from: number, to: number, start: number): boolean {
    const initial = this.#initial(cie, start);
    if (initial === 'unsupported') return false;
    const s = this.#s;
    copyRow(initial, 0, s, 0);
    s[ROW.LOC] = start;
    this.at(from, to - from);
    if (!this.#run(cie, initial, true)) return false;
    this.sink.row(s[ROW.LOC]!, s[ROW.CFA_REG]!, s[ROW.CFA_OFFSET]!, s[ROW.RBP_KIND]!, s[ROW.RBP_OFFSET]!, s[ROW.RA_KIND]!, s[ROW.RA_OFFSET]!);
    return true;
  }

  #initial(cie: Cie, start: number): Float64Array | 'unsupported' {
    const c = this.c;
    if (cie.initial === 'malformed') throw new DwarfError('malformed CIE instructions', c.section, cie.initialFrom);
    if (cie.initial !== undefined) return cie.initial;
    const s = this.#s;
    copyRow(DEFAULT_STATE, 0, s, 0);
    // The location only matters to a DW_CFA_set_loc (then not kept, see below): as the FDE's start.
    s[ROW.LOC] = start;
    c.buf = cie.initialInstructions;
    c.base = cie.initialFrom;
    c.pos = 0;
    c.end = c.buf.length;
    this.#setLocs = 0;
    let outcome: Float64Array | 'unsupported' | 'malformed';
    try {
      outcome = this.#run(cie, DEFAULT_STATE, false) ? s.slice() : 'unsupported';
    } catch (e) {
      if (e instanceof DwarfError && this.#setLocs === 0) cie.initial = 'malformed';
      throw e;
    }
    if (this.#setLocs === 0) cie.initial = outcome;
    return outcome;
  }

  /**
   * One CFA program (DWARF 5 §6.4.2) from the cursor to its end, on the state. With `emit`, each
   * advance of the location first records the row in effect until then. `restore` holds the rules
   * DW_CFA_restore returns a register to. False for an instruction not understood.
   *
   * The compile's inner loop (libLLVM: 2.2M instructions): the state is in locals, the commonest
   * instructions (advance_loc, offset, def_cfa_offset, nop: 97 % of libLLVM's) come first, and a
   * register rule is set in one place, after the switch, from what the instruction said.
   */
  #run(cie: Cie, restore: Float64Array, emit: boolean): boolean {
    const c = this.c;
    const buf = c.buf;
    const end = c.end;
    const sink = this.sink;
    const s = this.#s;
    const { raReg, dataAlign, codeAlign } = cie;
    let loc = s[ROW.LOC]!;
    let cfaReg = s[ROW.CFA_REG]!;
    let cfaOffset = s[ROW.CFA_OFFSET]!;
    let rbpKind = s[ROW.RBP_KIND]!;
    let rbpOffset = s[ROW.RBP_OFFSET]!;
    let raKind = s[ROW.RA_KIND]!;
    let raOffset = s[ROW.RA_OFFSET]!;
    let depth = 0;
    let p = c.pos;
    while (p < end) {
      const op = buf[p++]!;
      // What the instruction does to a register: set its rule (kind, offset) or restore it.
      let reg = -1;
      let kind = 0;
      let offset = 0;
      let restoreIt = false;
      if (op >= 0x40) {
        const low = op & 0x3f; // the delta or the register
        if (op < 0x80) { // DW_CFA_advance_loc
          if (emit) sink.row(loc, cfaReg, cfaOffset, rbpKind, rbpOffset, raKind, raOffset);
          loc += low * codeAlign;
          continue;
        }
        reg = low;
        if (op < 0xc0) { // DW_CFA_offset
          c.pos = p;
          offset = c.ulebNumber() * dataAlign;
          p = c.pos;
          kind = RULE.OFFSET;
        } else {
          restoreIt = true; // DW_CFA_restore
        }
      } else if (op === 0x0e) { // DW_CFA_def_cfa_offset
        c.pos = p;
        const x = c.ulebNumber();
        p = c.pos;
        if (cfaReg !== CFA_EXPR) cfaOffset = x;
        continue;
      } else if (op === 0x00) { // nop
        continue;
      } else {
        c.pos = p;
        switch (op) {
          case 0x01: { // DW_CFA_set_loc: an address encoded as the FDE's (libgcc's unwind-dw2.c reads it so)
            this.#setLocs++;
            c.skip(cie.segmentSize);
            const to = readPointer(c, cie.fdeEncoding, this.sectionAddr, cie.addressSize);
            if (to < loc) return false; // DWARF 5 §6.4.2.1: locations only increase
            if (emit) sink.row(loc, cfaReg, cfaOffset, rbpKind, rbpOffset, raKind, raOffset);
            loc = to;
            break;
          }
          case 0x02: case 0x03: case 0x04: { // advance_loc1/2/4
            const delta = op === 0x02 ? c.u8() : op === 0x03 ? c.u16() : c.u32();
            if (emit) sink.row(loc, cfaReg, cfaOffset, rbpKind, rbpOffset, raKind, raOffset);
            loc += delta * codeAlign;
            break;
          }
          case 0x05: reg = c.ulebNumber(); kind = RULE.OFFSET; offset = c.ulebNumber() * dataAlign; break; // offset_extended
          case 0x06: reg = c.ulebNumber(); restoreIt = true; break; // restore_extended
          case 0x07: reg = c.ulebNumber(); kind = RULE.UNDEFINED; break;
          case 0x08: reg = c.ulebNumber(); kind = RULE.SAME; break;
          case 0x09: reg = c.ulebNumber(); kind = RULE.OTHER; c.ulebNumber(); break; // register
          case 0x0a: { // remember_state: the rules, not the location
            if ((depth + 1) * ROW.WIDTH > this.#stack.length) {
              const grown = new Float64Array(this.#stack.length * 2);
              grown.set(this.#stack);
              this.#stack = grown;
            }
            const st = this.#stack;
            const at = depth * ROW.WIDTH;
            st[at + ROW.CFA_REG] = cfaReg;
            st[at + ROW.CFA_OFFSET] = cfaOffset;
            st[at + ROW.RBP_KIND] = rbpKind;
            st[at + ROW.RBP_OFFSET] = rbpOffset;
            st[at + ROW.RA_KIND] = raKind;
            st[at + ROW.RA_OFFSET] = raOffset;
            depth++;
            break;
          }
          case 0x0b: { // restore_state
            if (depth === 0) return false;
            depth--;
            const st = this.#stack;
            const at = depth * ROW.WIDTH;
            cfaReg = st[at + ROW.CFA_REG]!;
            cfaOffset = st[at + ROW.CFA_OFFSET]!;
            rbpKind = st[at + ROW.RBP_KIND]!;
            rbpOffset = st[at + ROW.RBP_OFFSET]!;
            raKind = st[at + ROW.RA_KIND]!;
            raOffset = st[at + ROW.RA_OFFSET]!;
            break;
          }
          case 0x0c: cfaReg = c.ulebNumber(); cfaOffset = c.ulebNumber(); break; // def_cfa
          // def_cfa_register: keeps the offset (an expression's is 0)
          case 0x0d: cfaReg = c.ulebNumber(); break;
          case 0x0f: c.skip(c.ulebNumber()); cfaReg = CFA_EXPR; cfaOffset = 0; break; // def_cfa_expression
          case 0x10: reg = c.ulebNumber(); c.skip(c.ulebNumber()); kind = RULE.OTHER; break; // expression
          case 0x11: reg = c.ulebNumber(); kind = RULE.OFFSET; offset = slebNumber(c) * dataAlign; break; // offset_extended_sf
          case 0x12: cfaReg = c.ulebNumber(); cfaOffset = slebNumber(c) * dataAlign; break; // def_cfa_sf
          case 0x13: { const x = slebNumber(c) * dataAlign; if (cfaReg !== CFA_EXPR) cfaOffset = x; break; } // def_cfa_offset_sf
          case 0x14: reg = c.ulebNumber(); kind = RULE.OTHER; c.ulebNumber(); break; // val_offset
          case 0x15: reg = c.ulebNumber(); kind = RULE.OTHER; slebNumber(c); break; // val_offset_sf
          case 0x16: reg = c.ulebNumber(); c.skip(c.ulebNumber()); kind = RULE.OTHER; break; // val_expression
          case 0x2e: c.ulebNumber(); break; // GNU_args_size
          case 0x2f: reg = c.ulebNumber(); kind = RULE.OFFSET; offset = -c.ulebNumber() * dataAlign; break; // GNU_negative_offset_extended
          default: return false;
        }
        p = c.pos;
      }
      // Only rbp's and the return address's rules are kept (both when the return-address column is rbp).
      if (reg === X86_64_REG.RBP) {
        rbpKind = restoreIt ? restore[ROW.RBP_KIND]! : kind;
        rbpOffset = restoreIt ? restore[ROW.RBP_OFFSET]! : offset;
      }
      if (reg === raReg) {
        raKind = restoreIt ? restore[ROW.RA_KIND]! : kind;
        raOffset = restoreIt ? restore[ROW.RA_OFFSET]! : offset;
      }
    }
    c.pos = p;
    s[ROW.LOC] = loc;
    s[ROW.CFA_REG] = cfaReg;
    s[ROW.CFA_OFFSET] = cfaOffset;
    s[ROW.RBP_KIND] = rbpKind;
    s[ROW.RBP_OFFSET] = rbpOffset;
    s[ROW.RA_KIND] = raKind;
    s[ROW.RA_OFFSET] = raOffset;
    return true;
  }
}

function slebNumber(c: DwarfCursor): number {
  const v = c.sleb();
  if (typeof v === 'bigint') throw c.error('offset too large');
  return v;
}
