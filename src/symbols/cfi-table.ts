// The CFI rows of one binary compiled for the BPF unwinder (bpf/include/profiler.h, struct
// unwind_row): sorted by address, one row per change of what the walker needs — how to compute
// the CFA (rsp+n or rbp+n), whether rbp was saved (at CFA+n) — with a NONE row at each gap between
// FDEs, consecutive equal rows merged. The kernel side binary-searches the last row at or below a PC.
// The FDEs come from .eh_frame and .debug_frame; where both describe the same code, .eh_frame's are
// kept (see Coverage).
import type { CfiRow, CfiSection, CfiSink, EhFrame, Fde, RegRule } from './eh-frame.js';
import { CFA_EXPR, CfiScanner, RULE, scanCfi, X86_64_REG } from './eh-frame.js';
import { type Buffers, FRESH_BUFFERS } from './scratch.js';

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
  /**
   * CFA = rbp + offset on another stack: not from CFI, set by user space over Go's asmcgocall, which
   * runs C code on the system stack with the goroutine's frame pointer kept in rbp.
   */
  RBP_SWITCH: 5,
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

/**
 * The walker's rule for a CFI row (see CFA_TYPE) as struct unwind_row's third 32-bit word:
 * rbp_offset | cfa_type << 16 | rbp_type << 24 (the struct's bytes on a little-endian host, which
 * x86-64 is). Kinds and registers as CfiSink.row gives them. The second word, cfa_offset, is the CFA's
 * offset for RSP and RBP rows (cfaOffsetOf), else 0.
 */
function compileRule(cfaReg: number, cfaOffset: number, rbpKind: number, rbpOffset: number, raKind: number, raOffset: number, signalFrame: boolean): number {
  if (raKind === RULE.UNDEFINED) return CFA_TYPE.END << 16;
  if (signalFrame || raKind !== RULE.OFFSET || raOffset !== -8 || (cfaReg !== X86_64_REG.RSP && cfaReg !== X86_64_REG.RBP)
    || cfaOffset < -0x80000000 || cfaOffset > 0x7fffffff) return CFA_TYPE.UNSUPPORTED << 16;
  const type = cfaReg === X86_64_REG.RSP ? CFA_TYPE.RSP : CFA_TYPE.RBP;
  if (rbpKind === RULE.OFFSET && rbpOffset >= -0x8000 && rbpOffset <= 0x7fff) return (rbpOffset & 0xffff) | (type << 16) | (RBP_TYPE.AT_CFA << 24);
  return (type << 16) | ((rbpKind === RULE.SAME ? RBP_TYPE.UNCHANGED : RBP_TYPE.UNDEFINED) << 24);
}

/** struct unwind_row's cfa_offset for a row whose third word compileRule made. */
function cfaOffsetOf(word: number, cfaOffset: number): number {
  const type = (word >>> 16) & 0xff;
  return type === CFA_TYPE.RSP || type === CFA_TYPE.RBP ? cfaOffset : 0;
}

const KIND = { same: RULE.SAME, offset: RULE.OFFSET, undefined: RULE.UNDEFINED, other: RULE.OTHER } as const;

/** compileRule of a parsed row (compileUnwindTable). */
function compileRow(r: CfiRow, fde: Fde): Omit<UnwindRow, 'pc'> {
  const ruleOffset = (x: RegRule): number => (x.kind === 'offset' ? x.offset : 0);
  const cfaOffset = r.cfa.kind === 'reg' ? r.cfa.offset : 0;
  const w = compileRule(r.cfa.kind === 'reg' ? r.cfa.reg : CFA_EXPR, cfaOffset,
    KIND[r.rbp.kind], ruleOffset(r.rbp), KIND[r.ra.kind], ruleOffset(r.ra), fde.signalFrame);
  return { cfaType: (w >>> 16) & 0xff, cfaOffset: cfaOffsetOf(w, cfaOffset), rbpType: w >>> 24, rbpOffset: (w << 16) >> 16 };
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

/**
 * The table's rows in struct unwind_row's layout, three 32-bit words each (pc, cfa_offset,
 * compileRule's word), as they are pushed in address order. Whole (tableOf): `size` words, enough
 * for every row and a NONE row per FDE, never grown. In slices (cfiRowSlices): the rows no later push
 * can drop or merge into are taken out (take), the last of them kept as the row the next is compared with.
 */
class MergedRows {
  /** The table's bytes: rows are merged straight into the buffer the table is returned in. */
  bytes: Buffer;
  a: Int32Array;
  n = 0;
  /** Rows at the start of `a` already taken (0, or 1: the last taken, kept for merging). */
  #kept = 0;
  /** `size` words at least; `buffers`' own ArrayBuffers (never the pool's): a whole table can be transferred. */
  constructor(size: number, readonly buffers: Buffers = FRESH_BUFFERS) {
    this.bytes = buffers.get('merged rows', Math.max(size, 3) * 4);
    this.a = int32s(this.bytes);
  }

  /** Rows pushed and not taken. */
  get pending(): number {
    return this.n / 3 - this.#kept;
  }

  push(pc: number, cfaOffset: number, word: number): void {
    let n = this.n;
    if (n + 3 > this.a.length) this.#grow();
    const a = this.a;
    // An FDE that overlaps the previous one wins from its start on (never back into the rows taken:
    // take gives only rows below every later push).
    while (n > 0 && a[n - 3]! >>> 0 >= pc) n -= 3;
    this.n = n;
    if (n > 0 && a[n - 2] === cfaOffset && a[n - 1] === word) return; // the same rule: merged
    a[n] = pc;
    a[n + 1] = cfaOffset;
    a[n + 2] = word;
    this.n = n + 3;
  }

  /**
   * The first rows not taken yet whose pc is below `below` — final once every later push is at or
   * above it — copied into `into`, as many as fit; how many.
   */
  take(below: number, into: Buffer): number {
    const a = this.a;
    const from = this.#kept * 3;
    let m = this.n;
    while (m > from && a[m - 3]! >>> 0 >= below) m -= 3;
    m = Math.min(m, from + (into.length / UNWIND_ROW_SIZE) * 3);
    if (m === from) return 0;
    into.set(this.bytes.subarray(from * 4, m * 4));
    // The last row taken stays first: the next push is merged with it, as in one table.
    a.copyWithin(0, m - 3, this.n);
    this.n -= m - 3;
    this.#kept = 1;
    return (m - from) / 3;
  }

  /** Only in slices: one FDE can have more rows than a slice. */
  #grow(): void {
    const bytes = this.buffers.get('merged rows', this.bytes.length * 2);
    bytes.set(this.bytes);
    this.bytes = bytes;
    this.a = int32s(bytes);
  }
}

/** The whole of a buffer of `Buffers` as 32-bit words (its length a multiple of 4 or not). */
function int32s(b: Buffer): Int32Array {
  return new Int32Array(b.buffer, b.byteOffset, b.length >> 2);
}

/** `count` 32-bit words of a buffer of `Buffers` for `use`, not zeroed. */
function uint32s(buffers: Buffers, use: string, count: number): Uint32Array {
  return new Uint32Array(buffers.get(use, count * 4).buffer, 0, count);
}

/**
 * FDE indexes sorted by start address (`F`: 4 words an FDE, the start first); equal starts keep
 * section order, as compileUnwindTable's stable sort does. Many binaries have their FDEs in order
 * already (411 of the 963 libraries on the machine this was written on): no sort then. The others
 * have runs (.text.unlikely, .text.startup laid out apart from the rest).
 */
function byStart(F: Int32Array, count: number, buffers: Buffers): Uint32Array {
  const order = uint32s(buffers, 'fde order', count);
  let sorted = true;
  for (let i = 0; i < count; i++) {
    order[i] = i;
    if (i > 0 && F[4 * i]! >>> 0 < F[4 * (i - 1)]! >>> 0) sorted = false;
  }
  if (sorted) return order;
  // A stable LSD radix sort of the 32-bit starts, 16 bits a pass: linear. For libLLVM's 95k FDEs,
  // ~4 ms where an Array sort with a comparison function took ~30 ms.
  const keys = uint32s(buffers, 'fde keys', count);
  for (let i = 0; i < count; i++) keys[i] = F[4 * i]!;
  const other = uint32s(buffers, 'fde order 2', count);
  let from = order;
  let to = other;
  for (let shift = 0; shift < 32; shift += 16) {
    const buckets = uint32s(buffers, 'fde buckets', (1 << 16) + 1).fill(0);
    for (let i = 0; i < count; i++) buckets[((keys[from[i]!]! >>> shift) & 0xffff) + 1]!++;
    for (let b = 1; b <= 1 << 16; b++) buckets[b]! += buckets[b - 1]!;
    for (let i = 0; i < count; i++) to[buckets[(keys[from[i]!]! >>> shift) & 0xffff]!++] = from[i]!;
    [from, to] = [to, from];
  }
  return from;
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

/**
 * `table` with `rule` over [start, end), whatever rows it had there; after `end` the rule in force
 * before (a row at `end`). Rows stay sorted; a new buffer of its own (transferable).
 */
export function withRule(table: CompiledTable, start: number, end: number, rule: Omit<UnwindRow, 'pc'>): CompiledTable {
  const rows = table.rows;
  const pcAt = (i: number): number => rows.readUInt32LE(i * UNWIND_ROW_SIZE);
  let before = 0; // rows with pc < start
  while (before < table.count && pcAt(before) < start) before++;
  let after = before; // rows with pc <= end: the last of them is the rule in force at end
  while (after < table.count && pcAt(after) <= end) after++;
  const atEnd = after > 0 ? rows.subarray((after - 1) * UNWIND_ROW_SIZE, after * UNWIND_ROW_SIZE) : null;
  const count = before + 2 + table.count - after;
  const out = Buffer.allocUnsafeSlow(count * UNWIND_ROW_SIZE);
  rows.copy(out, 0, 0, before * UNWIND_ROW_SIZE);
  encodeUnwindRow({ pc: start, ...rule }, out, before * UNWIND_ROW_SIZE);
  const endAt = (before + 1) * UNWIND_ROW_SIZE;
  if (atEnd !== null) atEnd.copy(out, endAt);
  else encodeUnwindRow({ pc: end, cfaType: CFA_TYPE.NONE, cfaOffset: 0, rbpType: RBP_TYPE.UNCHANGED, rbpOffset: 0 }, out, endAt);
  out.writeUInt32LE(end, endAt);
  rows.copy(out, endAt + UNWIND_ROW_SIZE, after * UNWIND_ROW_SIZE, table.count * UNWIND_ROW_SIZE);
  return { ...table, rows: out, count };
}

/** Growable Int32Array of records of `width` words, in `buffers`' buffer for `use`. */
class Ints {
  a: Int32Array;
  /** Words used. */
  n = 0;
  constructor(readonly width: number, records: number, readonly buffers: Buffers, readonly use: string) {
    this.a = int32s(buffers.get(use, Math.max(records, 16) * width * 4));
  }
  /** Room for `records` more records. */
  reserve(records: number): void {
    const need = this.n + records * this.width;
    if (need <= this.a.length) return;
    const b = int32s(this.buffers.get(this.use, Math.max(need, this.a.length * 2) * 4));
    b.set(this.a.subarray(0, this.n));
    this.a = b;
  }
}

/**
 * compileCfi's first pass: every FDE's program run to learn which FDEs are kept and how many rows
 * each gives, no row kept. An FDE that turns out unusable (its program, an empty range, overlapping
 * an earlier section's FDE, an address past 32 bits) is left out.
 */
class FdeIndex implements CfiSink {
  /** start, end, entry offset in its section, row count (start/end < 2^32: stored as int32 bits). */
  readonly fdes: Ints;
  /** Rows of the FDEs kept. */
  rows = 0;
  /** What the sections before cover. */
  cover = new Coverage([]);
  overlapping = 0;
  tooHigh = false;
  #start = 0;
  #end = 0;
  #rows = 0;
  /** The FDE's last row's location (NaN: none yet). */
  #lastLoc = NaN;

  constructor(buffers: Buffers) {
    this.fdes = new Ints(4, 1024, buffers, 'fde index');
  }

  /** The address ranges of the FDEs kept so far. */
  ranges(): Array<readonly [number, number]> {
    const out: Array<readonly [number, number]> = [];
    for (let i = 0; i < this.fdes.n; i += 4) out.push([this.fdes.a[i]! >>> 0, this.fdes.a[i + 1]! >>> 0]);
    return out;
  }

  begin(start: number, end: number): void {
    this.#start = start;
    this.#end = end;
    this.#rows = 0;
    this.#lastLoc = NaN;
  }

  row(loc: number): void {
    // Rows before the start or from the end on apply to no address of the FDE; a row at the same
    // location again replaces the last.
    if (loc < this.#start || loc >= this.#end || loc === this.#lastLoc) return;
    this.#rows++;
    this.#lastLoc = loc;
  }

  end(ok: boolean, offset: number): void {
    const start = this.#start;
    const end = this.#end;
    if (ok && this.cover.overlaps(start, end)) {
      this.overlapping++;
      ok = false;
    } else if (ok && (start < 0 || end > MAX_PC)) {
      this.tooHigh = true;
      ok = false;
    }
    if (!ok) return;
    const fdes = this.fdes;
    fdes.reserve(1);
    const f = fdes.n;
    fdes.a[f] = start;
    fdes.a[f + 1] = end;
    fdes.a[f + 2] = offset;
    fdes.a[f + 3] = this.#rows;
    fdes.n = f + 4;
    this.rows += this.#rows;
  }
}

/**
 * compileCfi's second pass: the kept FDEs' programs run again in address order, each row compiled
 * (compileRule) and merged into the table as it comes, a NONE row at each gap between FDEs.
 */
class MergeSink implements CfiSink {
  /** The end of the code the FDEs so far cover (-1: none yet). */
  #covered = -1;
  #start = 0;
  #end = 0;
  #signalFrame = false;

  constructor(readonly out: MergedRows) {}

  begin(start: number, end: number, signalFrame: boolean): void {
    if (this.#covered >= 0 && start > this.#covered) this.out.push(this.#covered, 0, CFA_TYPE.NONE << 16);
    this.#start = start;
    this.#end = end;
    this.#signalFrame = signalFrame;
  }

  row(loc: number, cfaReg: number, cfaOffset: number, rbpKind: number, rbpOffset: number, raKind: number, raOffset: number): void {
    if (loc < this.#start || loc >= this.#end) return;
    // A row at the location of the one before replaces it: MergedRows.push drops rows at or past its pc.
    const word = compileRule(cfaReg, cfaOffset, rbpKind, rbpOffset, raKind, raOffset, this.#signalFrame);
    this.out.push(loc, cfaOffsetOf(word, cfaOffset), word);
  }

  end(): void {
    this.#covered = Math.max(this.#covered, this.#end);
  }

  /** The NONE row after the last FDE. */
  finish(): void {
    if (this.#covered >= 0) this.out.push(this.#covered, 0, CFA_TYPE.NONE << 16);
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

/** What the first pass learnt: which FDEs are kept, where they are, and a bound on the table's rows. */
export interface CfiPlan extends Omit<CompiledTable, 'rows' | 'count'> {
  /**
   * Every kept row, and a NONE row per FDE and after the last: merging only ever drops rows, so
   * the table has at most this many (1–27 % more than it has, on this host's largest files).
   */
  rowBound: number;
  readonly sections: readonly CfiSection[];
  /** FdeIndex's records. */
  readonly index: Int32Array;
  /** Where the second pass gets its buffers (planCfi's). */
  readonly buffers: Buffers;
}

/**
 * The first pass (FdeIndex): every FDE's program run to count its rows and note where it is, over
 * the sections in order of precedence (.eh_frame first). Null when an FDE's addresses do not fit in
 * 32 bits. The passes' buffers come from `buffers` (the worker's Scratch: the plan is valid until
 * the next compile with them).
 */
export function planCfi(sections: readonly CfiSection[], buffers: Buffers = FRESH_BUFFERS): CfiPlan | null {
  const index = new FdeIndex(buffers);
  const counts = { malformed: 0, unsupported: 0 };
  const sectionFdes: number[] = [];
  for (const sec of sections) {
    const before = index.fdes.n;
    index.cover = new Coverage(index.ranges());
    const n = scanCfi(sec, index);
    counts.malformed += n.malformed;
    counts.unsupported += n.unsupported;
    sectionFdes.push((index.fdes.n - before) / 4);
  }
  if (index.tooHigh) return null;
  const fdes = index.fdes.n / 4;
  return { rowBound: index.rows + fdes + 1, sections, index: index.fdes.a, buffers, fdes, sectionFdes, overlapping: index.overlapping, ...counts };
}

/**
 * The second pass (MergeSink): the kept FDEs' programs run again in address order, their rows merged
 * into `out` as they come. While `slice` can be filled, before an FDE, it yields it filled with rows
 * below that FDE's start — final: later FDEs start there or after, and a gap's NONE row is above
 * every row before it. Returns the table's row count.
 */
function* mergePass(plan: CfiPlan, out: MergedRows, slice: Buffer | null): Generator<Buffer, number> {
  const sink = new MergeSink(out);
  const scanners = plan.sections.map((sec) => new CfiScanner(sec, sink));
  const F = plan.index;
  // FDE i is of section s when ends[s - 1] <= i < ends[s] (FdeIndex noted them section by section).
  const ends: number[] = [];
  for (const n of plan.sectionFdes) ends.push((ends.at(-1) ?? 0) + n);
  const order = byStart(F, plan.fdes, plan.buffers);
  const sliceRows = slice === null ? Infinity : slice.length / UNWIND_ROW_SIZE;
  let count = 0;
  for (let k = 0; k < plan.fdes; k++) {
    const i = order[k]!;
    while (out.pending >= sliceRows) {
      const n = out.take(F[4 * i]! >>> 0, slice!);
      if (n === 0) break;
      count += n;
      yield slice!.subarray(0, n * UNWIND_ROW_SIZE);
    }
    let s = 0;
    while (i >= ends[s]!) s++;
    scanners[s]!.entryAt(F[4 * i + 2]!);
  }
  sink.finish();
  return count + out.pending;
}

/** The second pass whole: the table in one buffer of plan.rowBound rows. */
export function tableOf(plan: CfiPlan): CompiledTable {
  const out = new MergedRows(3 * plan.rowBound);
  const pass = mergePass(plan, out, null);
  let r = pass.next();
  while (r.done !== true) r = pass.next();
  const count = r.value;
  const { rowBound: _b, sections: _s, index: _i, buffers: _f, ...rest } = plan;
  // Not copied into a buffer of the exact size: for libLLVM that copy was another 11 MB at the
  // compile's peak. The view is the rows; the rest of its ArrayBuffer (what merging dropped) goes along.
  return { rows: out.bytes.subarray(0, count * UNWIND_ROW_SIZE), count, ...rest };
}

/**
 * The second pass in slices of `sliceRows` rows (the last the rest), in address order: exactly
 * tableOf's rows, never all of them at once. Each slice is a view of one buffer, valid until the
 * next step (the caller copies it out). Returns the row count.
 */
export function* cfiRowSlices(plan: CfiPlan, sliceRows: number): Generator<Buffer, number> {
  const slice = plan.buffers.get('slice', sliceRows * UNWIND_ROW_SIZE).subarray(0, sliceRows * UNWIND_ROW_SIZE);
  // The working buffer: a slice, and room for the FDE that fills it (grown past that).
  const out = new MergedRows(3 * (Math.min(sliceRows, plan.rowBound) + 1024), plan.buffers);
  const count = yield* mergePass(plan, out, slice);
  for (let n = out.take(Infinity, slice); n > 0; n = out.take(Infinity, slice)) yield slice.subarray(0, n * UNWIND_ROW_SIZE);
  return count;
}

/**
 * The same table as compileUnwindTable(mergeCfi(sections.map(parseCfi))), row for row, in two passes
 * over the sections' bytes: the first (planCfi) runs every FDE's program to count its rows and note
 * where it is, the second (tableOf, or cfiRowSlices) runs the kept ones again in address order,
 * merging their rows straight into the table. What it holds besides the sections is the table (12
 * bytes a row, its size known from the first pass; or a slice of it) and 16 bytes per FDE, never a
 * row as an object (node: 4.5 MB of rows instead of ~150 MiB of objects) nor the rows in section
 * order beside the table (libLLVM: 12 MB less at the compile's peak, for ~1.5× the CPU: the programs
 * run twice). Sections in order of precedence (.eh_frame first). Null when an FDE's addresses do not
 * fit in 32 bits.
 */
export function compileCfi(sections: readonly CfiSection[]): CompiledTable | null {
  const plan = planCfi(sections);
  return plan === null ? null : tableOf(plan);
}
