// What the compile worker (unwind-worker.ts) does with one binary: its call frame information —
// `.eh_frame`, then `.debug_frame` for the code `.eh_frame` does not cover — compiled into one table
// (cfi-table.ts): planned first (planFile: which FDEs, how many rows at most, or why there is no
// table), then its rows made whole (compileFile) or in slices the agent writes as they come. `.debug_frame` comes from the file itself or, when the file has none
// (stripped), from its separate debug file (debug-file.ts: by build id or .gnu_debuglink). A
// program built with -g but without unwind tables (-fno-asynchronous-unwind-tables, common in
// embedded and some distribution builds) has its functions' CFI only there.
import { CFA_TYPE, type CfiPlan, type CompiledTable, RBP_TYPE, UNWIND_ROW_SIZE, cfiRowSlices, compileCfi, planCfi, tableOf, withRule } from '../../symbols/cfi-table.js';
import { closeDebugFile, debugFileCandidates, findDebugFile } from '../../symbols/debug-file.js';
import { type CfiSection, cfiSectionOf, cfiSectionWindowed } from '../../symbols/eh-frame.js';
import { ElfError, type ElfFile, PT_LOAD, SHT_NOBITS } from '../../symbols/elf.js';
import type { Buffers } from '../../symbols/scratch.js';
import { isGoBinary } from '../../symbols/go-buildinfo.js';
// Not go-tls.js's findGoFunction (the same lookup, its errors wrapped): its imports (a DWARF reader,
// an x86 decoder, offset tables) are code the worker would load and never run.
import { goFunctionRange } from '../../symbols/gopclntab.js';

export interface SegmentInfo {
  offset: number;
  vaddr: number;
  filesz: number;
}

/** Where a binary's separate debug file may be (debug-file.ts, debugFileCandidates). */
export interface DebugFileSearch {
  /** The binary's path as its process sees it (a debuglink is looked for beside it). */
  path: string;
  /** How this process reaches that process's root: '' for our own. */
  rootPrefix: string;
  debugRoots: readonly string[];
}

/** Where the table's .debug_frame FDEs came from. */
export type DebugFrameSource = 'file' | 'debug-file';

export type FileTable =
  /** cgo: a Go binary's table, of the C code linked into it (its Go code has no rows: frame pointers). */
  | { kind: 'table'; table: CompiledTable; segments: SegmentInfo[]; debugFrame: DebugFrameSource | null; cgo?: true }
  | NoTable;

type NoTable = { kind: 'none'; reason: 'go' | 'no-cfi' | 'high-addresses' | 'no-rows'; segments: SegmentInfo[] };

/** A binary's table after the first pass: its rows still to be made, whole or in slices. */
export type FilePlan =
  | {
    kind: 'table';
    /** The table has at most this many rows. */
    rowBound: number;
    segments: SegmentInfo[];
    debugFrame: DebugFrameSource | null;
    cgo?: true;
    table: () => CompiledTable;
    /** The rows in address order, slices of at least `rows` rows (cfiRowSlices); returns the count. */
    slices: (rows: number) => Generator<Buffer, number>;
  }
  | NoTable;

/** The unwind table of an open binary. Throws ElfError (or an fs error) for a file it cannot read. */
export function compileFile(elf: ElfFile, search: DebugFileSearch | null): FileTable {
  const p = planFile(elf, search);
  if (p.kind === 'none') return p;
  return { kind: 'table', table: p.table(), segments: p.segments, debugFrame: p.debugFrame, ...(p.cgo === true ? { cgo: true } : {}) };
}

/**
 * The first pass over an open binary's CFI. Throws ElfError (or an fs error) for a file it cannot
 * read. With `buffers` (the compile worker's Scratch) the file's own sections are read in windows
 * into them, and the passes work in them: the plan holds `elf` open and is valid until the next
 * plan with the same buffers. Without, the sections are read whole (the vDSO, tests).
 */
export function planFile(elf: ElfFile, search: DebugFileSearch | null, buffers?: Buffers): FilePlan {
  const segments = elf.segments.filter((p) => p.type === PT_LOAD).map((p) => ({ offset: p.offset, vaddr: p.vaddr, filesz: p.filesz }));
  const sectionOf = (kind: CfiSection['kind']): CfiSection | undefined =>
    buffers === undefined ? cfiSectionOf(elf, kind) : cfiSectionWindowed(elf, kind, buffers, `${kind} window`);
  // Go code keeps frame pointers; the walker's frame-pointer step is right for it, and cheaper: its
  // .debug_frame is not read. C code linked in by cgo may keep none (gcc -O2 leaves), and only it has
  // FDEs in .eh_frame (gcc's): those rows, and frame pointers for every PC they do not cover.
  if (isGoBinary(elf)) {
    const cgo = sectionOf('eh_frame');
    const table = cgo === undefined ? null : compileCfi([cgo]);
    if (table === null || table.count === 0) return { kind: 'none', reason: 'go', segments };
    // Made whole (withRule rewrites a range of it): the C code of a Go binary, a small table.
    const whole = acrossAsmcgocall(elf, table);
    return { kind: 'table', rowBound: whole.count, segments, debugFrame: null, cgo: true, table: () => whole, slices: (rows) => slicesOf(whole, rows) };
  }
  const sections: CfiSection[] = [];
  const eh = sectionOf('eh_frame');
  if (eh !== undefined) sections.push(eh);
  const debug = debugFrameOf(elf, search, sectionOf);
  if (debug !== undefined) sections.push(debug.section);
  if (sections.length === 0) return { kind: 'none', reason: 'no-cfi', segments };
  const plan: CfiPlan | null = planCfi(sections, buffers);
  if (plan === null) return { kind: 'none', reason: 'high-addresses', segments };
  // No FDE kept: no row (the second pass adds a NONE row only after an FDE).
  if (plan.fdes === 0) return { kind: 'none', reason: 'no-rows', segments };
  const fromDebug = debug !== undefined && plan.sectionFdes[sections.length - 1]! > 0;
  return {
    kind: 'table', rowBound: plan.rowBound, segments, debugFrame: fromDebug ? debug.source : null,
    table: () => tableOf(plan), slices: (rows) => cfiRowSlices(plan, rows),
  };
}

/** A table made whole, as slices of at most `rows` rows (views of it). */
export function* slicesOf(table: CompiledTable, rows: number): Generator<Buffer, number> {
  const step = Math.max(1, rows) * UNWIND_ROW_SIZE;
  for (let at = 0; at < table.count * UNWIND_ROW_SIZE; at += step) yield table.rows.subarray(at, Math.min(at + step, table.count * UNWIND_ROW_SIZE));
  return table.count;
}

/**
 * C code called from Go runs on the system stack: runtime.asmcgocall switches to it and keeps the
 * goroutine's frame pointer in rbp. Its rows say so (RBP_SWITCH: a frame-pointer step that may go to
 * another stack), so a walk from C code goes on into the goroutine's Go frames (asmcgocall's caller,
 * runtime.cgocall, is skipped: its return address is not where rbp leads).
 */
function acrossAsmcgocall(elf: ElfFile, table: CompiledTable): CompiledTable {
  const f = goFunctionRange(elf, 'runtime.asmcgocall.abi0') ?? goFunctionRange(elf, 'runtime.asmcgocall');
  if (f === undefined || f.address + f.size > 0xffffffff) return table;
  return withRule(table, f.address, f.address + f.size, { cfaType: CFA_TYPE.RBP_SWITCH, cfaOffset: 16, rbpType: RBP_TYPE.AT_CFA, rbpOffset: -16 });
}

/**
 * The binary's own .debug_frame (as `sectionOf` reads it), else its debug file's (read whole: the file
 * is closed here); undefined when neither has one.
 */
function debugFrameOf(elf: ElfFile, search: DebugFileSearch | null, sectionOf: (kind: CfiSection['kind']) => CfiSection | undefined): { section: CfiSection; source: DebugFrameSource } | undefined {
  const own = sectionOf('debug_frame');
  if (own !== undefined) return { section: own, source: 'file' };
  if (search === null) return undefined;
  let buildId: string | undefined;
  let link: { file: string; crc: number } | undefined;
  try {
    buildId = elf.buildId();
    link = elf.debugLink();
  } catch (err) {
    if (!(err instanceof ElfError)) throw err;
  }
  const candidates = debugFileCandidates(search.path, buildId, link?.file, search.debugRoots, search.rootPrefix);
  // A debug file whose .debug_frame is NOBITS (its binary kept the CFI) has nothing to add.
  const hasFrames = (d: ElfFile): boolean => {
    const s = d.section('.debug_frame');
    return s !== undefined && s.size > 0 && s.type !== SHT_NOBITS;
  };
  const found = findDebugFile(candidates, buildId, link?.crc, hasFrames);
  if (found === undefined) return undefined;
  try {
    const section = cfiSectionOf(found.elf, 'debug_frame');
    return section === undefined ? undefined : { section, source: 'debug-file' };
  } finally {
    closeDebugFile(found);
  }
}
