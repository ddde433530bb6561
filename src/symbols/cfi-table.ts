// The CFI rows of one binary compiled for the BPF unwinder (bpf/include/profiler.h, struct
// unwind_row): sorted by address, one row per change of what the walker needs — how to compute
// the CFA (rsp+n or rbp+n), whether rbp was saved (at CFA+n) — with a NONE row at each gap between
// FDEs, consecutive equal rows merged. The kernel side binary-searches the last row at or below a PC.
import type { CfiRow, EhFrame, Fde } from './eh-frame.js';
import { X86_64_REG } from './eh-frame.js';

/** enum unwind_cfa_type */
export const CFA_TYPE = {
  /** No FDE covers the address: the walker falls back to frame pointers. */
  NONE: 0,
  RSP: 1,
  RBP: 2,
  /** A DWARF expression, another register, a signal frame, a return address not at CFA-8. */
  UNSUPPORTED: 3,
  /** The return address is undefined: the outermost frame (_start, clone3's child). */
  END: 4,
} as const;

/** enum unwind_rbp_type */
export const RBP_TYPE = { UNCHANGED: 0, AT_CFA: 1, UNDEFINED: 2 } as const;

export interface UnwindRow {
  /** ELF virtual address (u32: the table is for addresses below 4 GiB, as PIEs and libraries have). */
  pc: number;
  cfaType: number;
  cfaOffset: number;
  rbpType: number;
  rbpOffset: number;
}

/** struct unwind_row: u32 pc, s32 cfa_offset, s16 rbp_offset, u8 cfa_type, u8 rbp_type. */
export const UNWIND_ROW_SIZE = 12;

const MAX_PC = 0xffffffff;

function compileRow(r: CfiRow, fde: Fde): Omit<UnwindRow, 'pc'> {
  const out = { cfaType: CFA_TYPE.UNSUPPORTED as number, cfaOffset: 0, rbpType: RBP_TYPE.UNCHANGED as number, rbpOffset: 0 };
  if (r.ra.kind === 'undefined') return { ...out, cfaType: CFA_TYPE.END };
  if (fde.signalFrame || r.cfa.kind !== 'reg' || r.ra.kind !== 'offset' || r.ra.offset !== -8) return out;
  if (r.cfa.reg === X86_64_REG.RSP) out.cfaType = CFA_TYPE.RSP;
  else if (r.cfa.reg === X86_64_REG.RBP) out.cfaType = CFA_TYPE.RBP;
  else return out;
  if (r.cfa.offset < -0x80000000 || r.cfa.offset > 0x7fffffff) return { ...out, cfaType: CFA_TYPE.UNSUPPORTED };
  out.cfaOffset = r.cfa.offset;
  if (r.rbp.kind === 'offset' && r.rbp.offset >= -0x8000 && r.rbp.offset <= 0x7fff) {
    out.rbpType = RBP_TYPE.AT_CFA;
    out.rbpOffset = r.rbp.offset;
  } else if (r.rbp.kind !== 'same') {
    out.rbpType = RBP_TYPE.UNDEFINED;
  }
  return out;
}

const sameRule = (a: Omit<UnwindRow, 'pc'>, b: Omit<UnwindRow, 'pc'>): boolean =>
  a.cfaType === b.cfaType && a.cfaOffset === b.cfaOffset && a.rbpType === b.rbpType && a.rbpOffset === b.rbpOffset;

/** The rows of a parsed .eh_frame; null when its addresses do not fit in 32 bits. */
export function compileUnwindTable(eh: EhFrame): UnwindRow[] | null {
  const fdes = [...eh.fdes].sort((a, b) => a.start - b.start);
  if (fdes.length === 0) return [];
  if (fdes[fdes.length - 1]!.end > MAX_PC || fdes.some((f) => f.end > MAX_PC || f.start < 0)) return null;
  const rows: UnwindRow[] = [];
  const push = (r: UnwindRow): void => {
    // An FDE that overlaps the previous one wins from its start on.
    while (rows.length > 0 && rows[rows.length - 1]!.pc >= r.pc) rows.pop();
    const last = rows[rows.length - 1];
    if (last !== undefined && sameRule(last, r)) return;
    rows.push(r);
  };
  let covered = -1;
  for (const fde of fdes) {
    if (covered >= 0 && fde.start > covered) push({ pc: covered, cfaType: CFA_TYPE.NONE, cfaOffset: 0, rbpType: 0, rbpOffset: 0 });
    for (const r of fde.rows) {
      if (r.loc < fde.start || r.loc >= fde.end) continue;
      push({ pc: r.loc, ...compileRow(r, fde) });
    }
    covered = Math.max(covered, fde.end);
  }
  push({ pc: covered, cfaType: CFA_TYPE.NONE, cfaOffset: 0, rbpType: 0, rbpOffset: 0 });
  return rows;
}

/** The row for `pc` (the last at or below it), as the BPF program finds it; undefined below the first. */
export function rowFor(rows: readonly UnwindRow[], pc: number): UnwindRow | undefined {
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (rows[mid]!.pc <= pc) lo = mid + 1;
    else hi = mid;
  }
  return lo === 0 ? undefined : rows[lo - 1];
}

export function encodeUnwindRow(r: UnwindRow, out: Buffer = Buffer.alloc(UNWIND_ROW_SIZE), at = 0): Buffer {
  out.writeUInt32LE(r.pc, at);
  out.writeInt32LE(r.cfaOffset, at + 4);
  out.writeInt16LE(r.rbpOffset, at + 8);
  out.writeUInt8(r.cfaType, at + 10);
  out.writeUInt8(r.rbpType, at + 11);
  return out;
}
