// The CFI rows of one binary compiled for the BPF unwinder (bpf/include/profiler.h, struct
// unwind_row): sorted by address, one row per change of what the walker needs — how to compute
// the CFA (rsp+n or rbp+n), whether rbp was saved (at CFA+n) — with a NONE row at each gap between
// FDEs, consecutive equal rows merged. The kernel side binary-searches the last row at or below a PC.
import type { CfiRow, EhFrame, Fde } from './eh-frame.js';
import { forEachFde, X86_64_REG } from './eh-frame.js';

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

/** Growable Int32Array. */
class Ints {
  a = new Int32Array(1024);
  n = 0;
  push4(x: number, y: number, z: number, w: number): void {
    if (this.n + 4 > this.a.length) {
      const b = new Int32Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = x; this.a[this.n++] = y; this.a[this.n++] = z; this.a[this.n++] = w;
  }
}

export interface CompiledTable {
  /** struct unwind_row[count], encoded (encodeUnwindRow) and sorted. */
  rows: Buffer;
  count: number;
  fdes: number;
  malformed: number;
  unsupported: number;
}

/**
 * The same table as compileUnwindTable(parseEhFrame(data, sectionAddr)), row for row, compiled FDE
 * by FDE as the section is read: what it holds is 16 bytes per compiled row and per FDE, never the
 * parsed rows of the whole section (node: 4.5 MB of rows instead of ~150 MiB of objects). Null when
 * an FDE's addresses do not fit in 32 bits.
 */
export function compileEhFrame(data: Buffer, sectionAddr: number): CompiledTable | null {
  const rows = new Ints(); // pc, cfaType | rbpType << 8, cfaOffset, rbpOffset
  const fdes = new Ints(); // start, end, first row, row count (start/end < 2^32: stored as int32 bits)
  let tooHigh = false;
  const counts = forEachFde(data, sectionAddr, (fde) => {
    if (fde.start < 0 || fde.end > MAX_PC) {
      tooHigh = true;
      return;
    }
    const first = rows.n / 4;
    for (const r of fde.rows) {
      if (r.loc < fde.start || r.loc >= fde.end) continue;
      const c = compileRow(r, fde);
      rows.push4(r.loc | 0, c.cfaType | (c.rbpType << 8), c.cfaOffset, c.rbpOffset);
    }
    fdes.push4(fde.start | 0, fde.end | 0, first, rows.n / 4 - first);
  });
  if (tooHigh) return null;
  const nFdes = fdes.n / 4;
  const F = fdes.a;
  const R = rows.a;
  // Sorted by start; equal starts keep section order (as compileUnwindTable's stable sort does).
  const order = Array.from({ length: nFdes }, (_, i) => i).sort((x, y) => (F[4 * x]! >>> 0) - (F[4 * y]! >>> 0) || x - y);
  const out = new Ints();
  const push = (pc: number, type: number, cfaOffset: number, rbpOffset: number): void => {
    while (out.n > 0 && out.a[out.n - 4]! >>> 0 >= pc) out.n -= 4;
    if (out.n > 0 && out.a[out.n - 3] === type && out.a[out.n - 2] === cfaOffset && out.a[out.n - 1] === rbpOffset) return;
    out.push4(pc | 0, type, cfaOffset, rbpOffset);
  };
  let covered = -1;
  for (const i of order) {
    const start = F[4 * i]! >>> 0;
    const end = F[4 * i + 1]! >>> 0;
    if (covered >= 0 && start > covered) push(covered, CFA_TYPE.NONE, 0, 0);
    for (let r = F[4 * i + 2]!, e = r + F[4 * i + 3]!; r < e; r++) push(R[4 * r]! >>> 0, R[4 * r + 1]!, R[4 * r + 2]!, R[4 * r + 3]!);
    covered = Math.max(covered, end);
  }
  if (nFdes > 0) push(covered, CFA_TYPE.NONE, 0, 0);
  const count = out.n / 4;
  const buf = Buffer.alloc(count * UNWIND_ROW_SIZE);
  for (let i = 0; i < count; i++) {
    const at = i * UNWIND_ROW_SIZE;
    buf.writeUInt32LE(out.a[4 * i]! >>> 0, at);
    buf.writeInt32LE(out.a[4 * i + 2]!, at + 4);
    buf.writeInt16LE(out.a[4 * i + 3]!, at + 8);
    buf.writeUInt8(out.a[4 * i + 1]! & 0xff, at + 10);
    buf.writeUInt8(out.a[4 * i + 1]! >> 8, at + 11);
  }
  return { rows: buf, count, fdes: nFdes, ...counts };
}
