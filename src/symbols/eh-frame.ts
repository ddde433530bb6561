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
  data: Buffer;
  addr: number;
}

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
  /** The initial instructions: section offsets [from, to). */
  initialFrom: number;
  initialTo: number;
}

/** The registers' rules at one point of a CFA program. */
interface State {
  cfa: CfaRule;
  regs: Map<number, RegRule>;
}

const cloneState = (s: State): State => ({ cfa: { ...s.cfa }, regs: new Map(s.regs) });

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
export function cfiSectionOf(elf: ElfFile, kind: CfiSection['kind']): CfiSection | undefined {
  const sec = elf.section(`.${kind}`);
  if (sec === undefined || sec.size === 0) return undefined;
  const data = elf.sectionData(sec);
  if (data.length === 0) return undefined;
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
 * as it comes (cfi-table.ts, compileCfi) holds only its output, not every FDE's rows at once
 * (node's 76k FDEs as objects are ~150 MiB of heap).
 */
export function forEachFde(sec: CfiSection, onFde: (fde: Fde) => void): { malformed: number; unsupported: number } {
  const { data, kind } = sec;
  const name = `.${kind}`;
  const debug = kind === 'debug_frame';
  const out = { malformed: 0, unsupported: 0 };
  const cies = new Map<number, Cie | null>();
  let pos = 0;
  while (pos + 4 <= data.length) {
    const at = pos;
    const c = new DwarfCursor(data, pos, data.length, name);
    let length = c.u32();
    let offsetSize = 4;
    if (length === 0) {
      // .eh_frame's terminator; in .debug_frame (which has none) padding, skipped as readelf does.
      if (!debug) break;
      pos += 4;
      continue;
    }
    if (length === 0xffffffff) {
      if (c.remaining < 8) break;
      length = c.u64Offset();
      offsetSize = 8;
    }
    const bodyStart = c.pos;
    const end = bodyStart + length;
    if (end > data.length) {
      out.malformed++;
      break;
    }
    pos = end;
    try {
      const idField = c.pos;
      // .eh_frame's CIE id / CIE pointer is 4 bytes even in the 64-bit format (LSB §10.6.1.1).
      const idSize = debug ? offsetSize : 4;
      const ic = new DwarfCursor(data, idField, end, name);
      const id = idSize === 8 ? ic.u64Big() : BigInt(ic.u32());
      if (id === cieId(kind, idSize)) continue; // a CIE: parsed when an FDE refers to it
      if (id > BigInt(data.length)) throw ic.error('CIE pointer outside the section', idField);
      // .eh_frame: distance back from this field; .debug_frame: offset from the section start.
      const cieAt = debug ? Number(id) : idField - Number(id);
      let cie = cies.get(cieAt);
      if (cie === undefined) {
        cie = parseCieAt(sec, cieAt);
        cies.set(cieAt, cie);
      }
      if (cie === null) {
        out.unsupported++;
        continue;
      }
      const fc = new DwarfCursor(data, idField + idSize, end, name);
      fc.skip(cie.segmentSize);
      const start = readPointer(fc, cie.fdeEncoding, sec.addr, cie.addressSize);
      const range = readPointer(fc, cie.fdeEncoding & 0x0f, sec.addr, cie.addressSize);
      if (cie.hasAugData) fc.skip(fc.ulebNumber());
      const rows = runFde(sec, cie, fc.pos, end, start);
      if (rows === null) {
        out.unsupported++;
        continue;
      }
      if (range === 0) continue;
      onFde({ offset: at, start, end: start + range, rows, signalFrame: cie.signalFrame });
    } catch (e) {
      if (!(e instanceof DwarfError)) throw e;
      out.malformed++;
    }
  }
  return out;
}

/** The CIE id: 0 in .eh_frame, all ones of its size in .debug_frame. */
const cieId = (kind: CfiSection['kind'], size: number): bigint => (kind === 'eh_frame' ? 0n : (1n << BigInt(8 * size)) - 1n);

/** A CIE at `at`, or null when its version or augmentation is one we do not read. */
function parseCieAt(sec: CfiSection, at: number): Cie | null {
  const { data, kind } = sec;
  const name = `.${kind}`;
  if (at < 0 || at >= data.length) throw new DwarfError('CIE pointer outside the section', name, at);
  const c = new DwarfCursor(data, at, data.length, name);
  let length = c.u32();
  let idSize = 4;
  if (length === 0xffffffff) {
    length = c.u64Offset();
    if (kind === 'debug_frame') idSize = 8;
  }
  const end = c.pos + length;
  c.end = Math.min(end, data.length);
  if ((idSize === 8 ? c.u64Big() : BigInt(c.u32())) !== cieId(kind, idSize)) throw c.error('not a CIE', at);
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
    addressSize, segmentSize, initialFrom: 0, initialTo: 0,
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
  cie.initialFrom = c.pos;
  cie.initialTo = c.end;
  return cie;
}

/**
 * A DW_EH_PE-encoded pointer. Only absolute and pc-relative ones occur in .eh_frame's FDEs;
 * .debug_frame's are absolute (absptr: `addressSize` bytes).
 */
function readPointer(c: DwarfCursor, enc: number, sectionAddr: number, addressSize: number): number {
  if (enc === PE.omit) return 0;
  const fieldAddr = sectionAddr + c.pos;
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

/**
 * Runs the CIE's initial instructions, then the FDE's (section offsets [from, to)): its rows, or
 * null for an instruction not understood.
 */
function runFde(sec: CfiSection, cie: Cie, from: number, to: number, start: number): CfiRow[] | null {
  const initial: State = { cfa: { kind: 'reg', reg: X86_64_REG.RSP, offset: 8 }, regs: new Map() };
  const init = runProgram(sec, cie, cie.initialFrom, cie.initialTo, initial, initial, start, null);
  if (init === null) return null;
  const rows: CfiRow[] = [];
  const done = runProgram(sec, cie, from, to, init.state, init.state, start, rows);
  if (done === null) return null;
  rows.push(toRow(done.loc, done.state, cie));
  // Rows that start at the same address: the last one wins.
  const out: CfiRow[] = [];
  for (const r of rows) {
    if (out.length > 0 && out[out.length - 1]!.loc === r.loc) out[out.length - 1] = r;
    else out.push(r);
  }
  return out;
}

function toRow(loc: number, s: State, cie: Cie): CfiRow {
  return { loc, cfa: { ...s.cfa }, rbp: s.regs.get(X86_64_REG.RBP) ?? { kind: 'same' }, ra: s.regs.get(cie.raReg) ?? { kind: 'same' } };
}

/**
 * One CFA program (DWARF 5 §6.4.2). With `rows`, each advance of the location first records the
 * row in effect until then. `initial` is what DW_CFA_restore returns a register to.
 */
function runProgram(sec: CfiSection, cie: Cie, from: number, to: number, state: State, initial: State, loc: number, rows: CfiRow[] | null): { state: State; loc: number } | null {
  // Over the section itself, not a copy: a pc-relative DW_CFA_set_loc counts from the section's address.
  const c = new DwarfCursor(sec.data, from, to, `.${sec.kind}`);
  let s = cloneState(state);
  const stack: State[] = [];
  const moveTo = (next: number): void => {
    rows?.push(toRow(loc, s, cie));
    loc = next;
  };
  const advance = (delta: number): void => moveTo(loc + delta * cie.codeAlign);
  const set = (reg: number, rule: RegRule): void => void s.regs.set(reg, rule);
  const restore = (reg: number): void => {
    const r = initial.regs.get(reg);
    if (r === undefined) s.regs.delete(reg);
    else s.regs.set(reg, r);
  };
  const sleb = (): number => {
    const v = c.sleb();
    if (typeof v === 'bigint') throw c.error('offset too large');
    return v;
  };
  while (c.remaining > 0) {
    const op = c.u8();
    const high = op & 0xc0;
    const low = op & 0x3f;
    if (high === 0x40) { advance(low); continue; } // DW_CFA_advance_loc
    if (high === 0x80) { set(low, { kind: 'offset', offset: c.ulebNumber() * cie.dataAlign }); continue; } // DW_CFA_offset
    if (high === 0xc0) { restore(low); continue; } // DW_CFA_restore
    switch (op) {
      case 0x00: break; // nop
      case 0x01: { // DW_CFA_set_loc: an address encoded as the FDE's (libgcc's unwind-dw2.c reads it so)
        c.skip(cie.segmentSize);
        const to = readPointer(c, cie.fdeEncoding, sec.addr, cie.addressSize);
        if (to < loc) return null; // DWARF 5 §6.4.2.1: locations only increase
        moveTo(to);
        break;
      }
      case 0x02: advance(c.u8()); break;
      case 0x03: advance(c.u16()); break;
      case 0x04: advance(c.u32()); break;
      case 0x05: { const r = c.ulebNumber(); set(r, { kind: 'offset', offset: c.ulebNumber() * cie.dataAlign }); break; } // offset_extended
      case 0x06: restore(c.ulebNumber()); break; // restore_extended
      case 0x07: set(c.ulebNumber(), { kind: 'undefined' }); break;
      case 0x08: set(c.ulebNumber(), { kind: 'same' }); break;
      case 0x09: { set(c.ulebNumber(), { kind: 'other' }); c.ulebNumber(); break; } // register
      case 0x0a: stack.push(cloneState(s)); break; // remember_state
      case 0x0b: { const p = stack.pop(); if (p === undefined) return null; s = p; break; } // restore_state
      case 0x0c: { const reg = c.ulebNumber(); s.cfa = { kind: 'reg', reg, offset: c.ulebNumber() }; break; } // def_cfa
      case 0x0d: { const reg = c.ulebNumber(); s.cfa = { kind: 'reg', reg, offset: s.cfa.kind === 'reg' ? s.cfa.offset : 0 }; break; }
      case 0x0e: { const offset = c.ulebNumber(); s.cfa = s.cfa.kind === 'reg' ? { ...s.cfa, offset } : s.cfa; break; }
      case 0x0f: c.skip(c.ulebNumber()); s.cfa = { kind: 'expr' }; break; // def_cfa_expression
      case 0x10: { const r = c.ulebNumber(); c.skip(c.ulebNumber()); set(r, { kind: 'other' }); break; } // expression
      case 0x11: { const r = c.ulebNumber(); set(r, { kind: 'offset', offset: sleb() * cie.dataAlign }); break; } // offset_extended_sf
      case 0x12: { const reg = c.ulebNumber(); s.cfa = { kind: 'reg', reg, offset: sleb() * cie.dataAlign }; break; } // def_cfa_sf
      case 0x13: { const offset = sleb() * cie.dataAlign; s.cfa = s.cfa.kind === 'reg' ? { ...s.cfa, offset } : s.cfa; break; } // def_cfa_offset_sf
      case 0x14: { set(c.ulebNumber(), { kind: 'other' }); c.ulebNumber(); break; } // val_offset
      case 0x15: { set(c.ulebNumber(), { kind: 'other' }); sleb(); break; } // val_offset_sf
      case 0x16: { const r = c.ulebNumber(); c.skip(c.ulebNumber()); set(r, { kind: 'other' }); break; } // val_expression
      case 0x2e: c.ulebNumber(); break; // GNU_args_size
      case 0x2f: { const r = c.ulebNumber(); set(r, { kind: 'offset', offset: -c.ulebNumber() * cie.dataAlign }); break; } // GNU_negative_offset_extended
      default: return null;
    }
  }
  return { state: s, loc };
}
