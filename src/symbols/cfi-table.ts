// The CFI rows of one binary compiled for the BPF unwinder (bpf/include/profiler.h, struct
// unwind_row): sorted by address, one row per change of what the walker needs — how to compute
// the CFA (rsp+n or rbp+n), whether rbp was saved (at CFA+n) — with a NONE row at each gap between
// FDEs, consecutive equal rows merged. The kernel side binary-searches the last row at or below a PC.
// The FDEs come from .eh_frame and .debug_frame; where both describe the same code, .eh_frame's are
// kept (see Coverage).
import type { CfiRow, CfiSection, EhFrame, Fde } from './eh-frame.js';
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

/**
 * The address ranges some FDE of the sections before covers: sorted, disjoint. An FDE of a later
 * section that overlaps them is dropped whole: .eh_frame comes first, as it is what the program's
 * own unwinder (and perf) use. A binary that has both sections usually has them for different
 * code: the C runtime's start files keep .eh_frame when the program is built without unwind tables
 * (then its own functions are in .debug_frame only).
 */
class Coverage {
  readonly #starts: number[] = [];
  readonly #ends: number[] = [];

  /** `ranges`: [start, end) pairs in any order. */
  constructor(ranges: ReadonlyArray<readonly [number, number]>) {
    const sorted = [...ranges].filter(([s, e]) => e > s).sort((a, b) => a[0] - b[0]);
    for (const [s, e] of sorted) {
      const last = this.#ends.length - 1;
      if (last >= 0 && s <= this.#ends[last]!) this.#ends[last] = Math.max(this.#ends[last]!, e);
      else {
        this.#starts.push(s);
        this.#ends.push(e);
      }
    }
  }

  overlaps(start: number, end: number): boolean {
    // The last range that starts below `end`: the only one that can reach into [start, end).
    let lo = 0;
    let hi = this.#starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#starts[mid]! < end) lo = mid + 1;
      else hi = mid;
    }
    return lo > 0 && this.#ends[lo - 1]! > start;
  }
}

/**
 * The FDEs of several parsed sections as one, in order of precedence (.eh_frame, then .debug_frame):
 * a later section's FDEs that overlap an earlier one's are left out (Coverage).
 */
export function mergeCfi(sections: readonly EhFrame[]): EhFrame {
  const out: EhFrame = { fdes: [], malformed: 0, unsupported: 0 };
  for (const sec of sections) {
    const cover = new Coverage(out.fdes.map((f) => [f.start, f.end] as const));
    out.fdes.push(...sec.fdes.filter((f) => !cover.overlaps(f.start, f.end)));
    out.malformed += sec.malformed;
    out.unsupported += sec.unsupported;
  }
  return out;
}

/** The rows of a parsed .eh_frame (or mergeCfi's sections); null when its addresses do not fit in 32 bits. */
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
  /** FDEs compiled, of every section. */
  fdes: number;
  /** FDEs compiled of each section, in the order given. */
  sectionFdes: number[];
  /** FDEs of a later section left out because an earlier one's cover their code (Coverage). */
  overlapping: number;
  malformed: number;
  unsupported: number;
}

/** compileCfi of one .eh_frame section. */
export function compileEhFrame(data: Buffer, sectionAddr: number): CompiledTable | null {
  return compileCfi([{ kind: 'eh_frame', data, addr: sectionAddr }]);
}

/**
 * The same table as compileUnwindTable(mergeCfi(sections.map(parseCfi))), row for row, compiled FDE
 * by FDE as the sections are read: what it holds is 16 bytes per compiled row and per FDE, never the
 * parsed rows of a whole section (node: 4.5 MB of rows instead of ~150 MiB of objects). Sections in
 * order of precedence (.eh_frame first). Null when an FDE's addresses do not fit in 32 bits.
 */
export function compileCfi(sections: readonly CfiSection[]): CompiledTable | null {
  const rows = new Ints(); // pc, cfaType | rbpType << 8, cfaOffset, rbpOffset
  const fdes = new Ints(); // start, end, first row, row count (start/end < 2^32: stored as int32 bits)
  let tooHigh = false;
  const counts = { malformed: 0, unsupported: 0, overlapping: 0 };
  const sectionFdes: number[] = [];
  for (const sec of sections) {
    const before = fdes.n;
    const covered: Array<readonly [number, number]> = [];
    for (let i = 0; i < fdes.n; i += 4) covered.push([fdes.a[i]! >>> 0, fdes.a[i + 1]! >>> 0]);
    const cover = new Coverage(covered);
    const n = forEachFde(sec, (fde) => {
      if (cover.overlaps(fde.start, fde.end)) {
        counts.overlapping++;
        return;
      }
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
    counts.malformed += n.malformed;
    counts.unsupported += n.unsupported;
    sectionFdes.push((fdes.n - before) / 4);
  }
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
  return { rows: buf, count, fdes: nFdes, sectionFdes, ...counts };
}
