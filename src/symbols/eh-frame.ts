// `.eh_frame` call frame information (x86-64): CIEs and FDEs, their pointer encodings, and the DWARF
// CFA programs run into per-address rows of the columns a stack walker needs (the CFA, rbp, the
// return address). Specs: the Linux Standard Base Core spec §10.6 "Exception Frames" (the .eh_frame
// layout, augmentation strings, DW_EH_PE_* encodings) and DWARF 5 §6.4 "Call Frame Information" (the
// DW_CFA_* instructions). Everything is bound-checked through DwarfCursor: a malformed entry is a
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

export interface EhFrame {
  fdes: Fde[];
  /** Entries that could not be parsed (skipped). */
  malformed: number;
  /** Instructions or encodings not understood (their FDE skipped). */
  unsupported: number;
}

interface Cie {
  codeAlign: number;
  dataAlign: number;
  raReg: number;
  fdeEncoding: number;
  hasAugData: boolean;
  signalFrame: boolean;
  initial: Buffer;
}

/** The registers' rules at one point of a CFA program. */
interface State {
  cfa: CfaRule;
  regs: Map<number, RegRule>;
}

const cloneState = (s: State): State => ({ cfa: { ...s.cfa }, regs: new Map(s.regs) });

/** Parses `.eh_frame` of an ELF file; null when it has none. */
export function readEhFrame(elf: ElfFile): EhFrame | null {
  const sec = elf.section('.eh_frame');
  if (sec === undefined || sec.size === 0) return null;
  return parseEhFrame(elf.sectionData(sec), sec.addr);
}

/** `data` is the section's bytes, `sectionAddr` its address (pc-relative pointers are relative to it). */
export function parseEhFrame(data: Buffer, sectionAddr: number): EhFrame {
  const fdes: Fde[] = [];
  const counts = forEachFde(data, sectionAddr, (f) => void fdes.push(f));
  return { fdes, ...counts };
}

/**
 * The FDEs of a section one at a time, in section order, keeping none: a caller that compiles each
 * as it comes (cfi-table.ts, compileEhFrame) holds only its output, not every FDE's rows at once
 * (node's 76k FDEs as objects are ~150 MiB of heap).
 */
export function forEachFde(data: Buffer, sectionAddr: number, onFde: (fde: Fde) => void): { malformed: number; unsupported: number } {
  const out = { malformed: 0, unsupported: 0 };
  const cies = new Map<number, Cie | null>();
  let pos = 0;
  while (pos + 4 <= data.length) {
    const at = pos;
    const c = new DwarfCursor(data, pos, data.length, '.eh_frame');
    let length = c.u32();
    if (length === 0) break; // terminator
    if (length === 0xffffffff) {
      if (c.remaining < 8) break;
      length = c.u64Offset();
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
      const id = new DwarfCursor(data, idField, end, '.eh_frame').u32();
      if (id === 0) continue; // a CIE: parsed when an FDE refers to it
      const cieAt = idField - id; // .eh_frame: CIE pointer = distance back from this field
      let cie = cies.get(cieAt);
      if (cie === undefined) {
        cie = parseCieAt(data, cieAt);
        cies.set(cieAt, cie);
      }
      if (cie === null) {
        out.unsupported++;
        continue;
      }
      const fc = new DwarfCursor(data, idField + 4, end, '.eh_frame');
      const start = readPointer(fc, cie.fdeEncoding, sectionAddr);
      const range = readPointer(fc, cie.fdeEncoding & 0x0f, sectionAddr);
      if (cie.hasAugData) fc.skip(fc.ulebNumber());
      const rows = runFde(cie, fc.bytes(fc.remaining), start);
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

/** A CIE at `at`, or null when its version or augmentation is one we do not read. */
function parseCieAt(data: Buffer, at: number): Cie | null {
  if (at < 0 || at >= data.length) throw new DwarfError('CIE pointer outside the section', '.eh_frame', at);
  const c = new DwarfCursor(data, at, data.length, '.eh_frame');
  let length = c.u32();
  if (length === 0xffffffff) length = c.u64Offset();
  const end = c.pos + length;
  c.end = Math.min(end, data.length);
  if (c.u32() !== 0) throw c.error('not a CIE', at);
  const version = c.u8();
  if (version !== 1 && version !== 3) return null;
  const aug = c.cstring();
  if (aug.includes('eh')) return null; // GCC 2.x's eh_ptr: long gone
  const codeAlign = c.ulebNumber();
  const da = c.sleb();
  const dataAlign = typeof da === 'bigint' ? 0 : da;
  const raReg = version === 1 ? c.u8() : c.ulebNumber();
  const cie: Cie = { codeAlign, dataAlign, raReg, fdeEncoding: PE.absptr, hasAugData: false, signalFrame: false, initial: Buffer.alloc(0) };
  if (aug.startsWith('z')) {
    cie.hasAugData = true;
    const augLen = c.ulebNumber();
    const augEnd = c.pos + augLen;
    for (const ch of aug.slice(1)) {
      if (ch === 'R') cie.fdeEncoding = c.u8();
      else if (ch === 'L') c.u8();
      else if (ch === 'P') readPointer(c, c.u8() & ~PE.indirect, 0);
      else if (ch === 'S') cie.signalFrame = true;
      else if (ch === 'B' || ch === 'G') continue; // arm64 key / MTE tagging: no data
      else break; // unknown: the length lets us skip the rest
    }
    c.pos = augEnd;
  } else if (aug !== '') {
    return null;
  }
  cie.initial = c.bytes(c.remaining);
  return cie;
}

/** A DW_EH_PE-encoded pointer. Only absolute and pc-relative ones occur in .eh_frame's FDEs. */
function readPointer(c: DwarfCursor, enc: number, sectionAddr: number): number {
  if (enc === PE.omit) return 0;
  const fieldAddr = sectionAddr + c.pos;
  let v: number;
  switch (enc & 0x0f) {
    case PE.absptr:
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

/** Runs the CIE's initial instructions, then the FDE's: its rows, or null for an instruction not understood. */
function runFde(cie: Cie, insns: Buffer, start: number): CfiRow[] | null {
  const initial: State = { cfa: { kind: 'reg', reg: X86_64_REG.RSP, offset: 8 }, regs: new Map() };
  const init = runProgram(cie, cie.initial, initial, initial, start, null);
  if (init === null) return null;
  const rows: CfiRow[] = [];
  const done = runProgram(cie, insns, init.state, init.state, start, rows);
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
function runProgram(cie: Cie, insns: Buffer, state: State, initial: State, loc: number, rows: CfiRow[] | null): { state: State; loc: number } | null {
  const c = new DwarfCursor(insns, 0, insns.length, '.eh_frame');
  let s = cloneState(state);
  const stack: State[] = [];
  const advance = (delta: number): void => {
    rows?.push(toRow(loc, s, cie));
    loc += delta * cie.codeAlign;
  };
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
      case 0x01: return null; // DW_CFA_set_loc: not emitted for .eh_frame by GCC or LLVM
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
