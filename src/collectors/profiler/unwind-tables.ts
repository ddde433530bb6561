// The user-space half of CFI unwinding: compiles each mapped binary's .eh_frame into rows
// (src/symbols/cfi-table.ts) once per file — shared by every process that maps it — stores them in
// the BPF maps of profiler.bpf.c (unwind_rows, unwind_tables), and publishes each process's
// executable mappings with their table and load bias (unwind_procs).
//
// Bounds: rows live in one ARRAY of `maxRows` entries, allocated first-fit; a table that does not
// fit evicts the least recently used tables no live process maps; if it still does not fit it is
// not loaded (that binary is walked with frame pointers, counted). At most `maxTables` tables, at
// most UNWIND_MAX_MAPPINGS mappings per process (file-backed first; the rest counted).
import { readFileSync, statSync } from 'node:fs';
import type { BpfMap } from 'libbpf-ts';
import { parseProcMaps } from '../../metadata/proc.js';
import { compileUnwindTable, encodeUnwindRow, UNWIND_ROW_SIZE } from '../../symbols/cfi-table.js';
import { readEhFrame } from '../../symbols/eh-frame.js';
import { ElfFile, PT_LOAD, type ElfSegment } from '../../symbols/elf.js';
import { fileIdentity } from '../../symbols/elf-module.js';
import { executableRegions, type Region } from '../../symbols/process-view.js';
import { UNWIND_MAX_MAPPINGS, UNWIND_NO_TABLE, UNWIND_PROC } from './layout.js';

/** The BPF object's find_row takes 21 binary-search steps. */
const MAX_TABLE_ROWS = 1 << 21;
/** Processes' mappings read again at most this often (a PC outside them asks for it). */
const REFRESH_MIN_MS = 1000;
/** Files remembered as having no usable table (no .eh_frame, addresses above 4 GiB, unreadable). */
const MAX_NEGATIVE = 4096;

export interface UnwindMaps {
  rows: BpfMap<number, Buffer>;
  tables: BpfMap<number, Buffer>;
  procs: BpfMap<number, Buffer>;
}

interface Table {
  key: string;
  /** PT_LOAD segments: how a mapping's file offset becomes the address the rows use. */
  segments: ElfSegment[];
  /** UNWIND_NO_TABLE when the file has no usable table. */
  id: number;
  start: number;
  count: number;
  users: Set<number>;
  lastUsed: number;
}

interface Range {
  start: number;
  count: number;
}

export class UnwindTables {
  readonly #maps: UnwindMaps;
  readonly #maxRows: number;
  readonly #tables = new Map<string, Table>();
  readonly #freeIds: number[] = [];
  /** Free row ranges, sorted by start, adjacent ones merged. */
  #free: Range[];
  readonly #pids = new Map<number, { keys: Set<string>; at: number }>();
  #tick = 0;
  readonly #stats = {
    tables_loaded: 0, table_rows: 0, table_bytes: 0, tables_evicted: 0, tables_too_big: 0, tables_no_room: 0,
    files_without_table: 0, file_errors: 0, pids_published: 0, pid_refreshes: 0, mappings_dropped: 0, parse_ms: 0,
  };

  constructor(maps: UnwindMaps, opts: { maxRows: number; maxTables: number }) {
    this.#maps = maps;
    this.#maxRows = opts.maxRows;
    this.#free = [{ start: 0, count: opts.maxRows }];
    for (let i = opts.maxTables - 1; i >= 0; i--) this.#freeIds.push(i);
  }

  /** Reads the process's mappings, loads tables for its binaries, publishes them. False when it is gone. */
  notePid(pid: number): boolean {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/maps`, 'utf8');
    } catch {
      return false;
    }
    const regions = executableRegions(parseProcMaps(text));
    const used = new Set<string>();
    const entries: Array<{ r: Region; table: number; bias: bigint }> = [];
    for (const r of regions) {
      if (r.kind !== 'file') continue;
      const t = this.#tableFor(pid, r);
      if (t === null) continue;
      used.add(t.key);
      t.users.add(pid);
      t.lastUsed = ++this.#tick;
      const seg = t.segments.find((p) => r.offset >= p.offset && r.offset < p.offset + Math.max(p.filesz, 1));
      const bias = seg === undefined ? 0n : BigInt(r.start) - BigInt(r.offset) + BigInt(seg.offset) - BigInt(seg.vaddr);
      entries.push({ r, table: seg === undefined ? UNWIND_NO_TABLE : t.id, bias });
    }
    // JIT code and the vDSO: known, walked with frame pointers (a PC in them is no reason to re-read).
    for (const r of regions) if (r.kind !== 'file') entries.push({ r, table: UNWIND_NO_TABLE, bias: 0n });
    if (entries.length > UNWIND_MAX_MAPPINGS) this.#stats.mappings_dropped += entries.length - UNWIND_MAX_MAPPINGS;
    const kept = entries.slice(0, UNWIND_MAX_MAPPINGS).sort((a, b) => a.r.start - b.r.start);
    this.#maps.procs.set(pid, encodeProc(kept));
    const before = this.#pids.get(pid);
    for (const k of before?.keys ?? []) if (!used.has(k)) this.#tables.get(k)?.users.delete(pid);
    this.#pids.set(pid, { keys: used, at: Date.now() });
    this.#stats.pids_published++;
    return true;
  }

  /** A PC outside the published mappings: read them again (at most once a second per process). */
  refresh(pid: number): void {
    const p = this.#pids.get(pid);
    if (p !== undefined && Date.now() - p.at < REFRESH_MIN_MS) return;
    this.#stats.pid_refreshes++;
    this.notePid(pid);
  }

  /** The process exited or exec'd: unpublish it; its tables become evictable once no one maps them. */
  forgetPid(pid: number): void {
    const p = this.#pids.get(pid);
    if (p === undefined) return;
    this.#pids.delete(pid);
    for (const k of p.keys) this.#tables.get(k)?.users.delete(pid);
    this.#maps.procs.delete(pid);
  }

  stats(): Record<string, number> {
    return { ...this.#stats, pids_tracked: this.#pids.size, row_capacity: this.#maxRows };
  }

  #tableFor(pid: number, r: Region): Table | null {
    const hostPaths = [`/proc/${pid}/map_files/${r.start.toString(16)}-${r.end.toString(16)}`, `/proc/${pid}/root${r.path}`];
    for (const host of hostPaths) {
      let key: string;
      try {
        key = fileIdentity(statSync(host));
      } catch {
        continue;
      }
      const have = this.#tables.get(key);
      if (have !== undefined) return have;
      return this.#load(key, host);
    }
    this.#stats.file_errors++;
    return null;
  }

  #load(key: string, host: string): Table | null {
    const t0 = performance.now();
    let elf: ElfFile;
    try {
      elf = ElfFile.open(host);
    } catch {
      this.#stats.file_errors++;
      return null;
    }
    const table: Table = { key, segments: elf.segments.filter((p) => p.type === PT_LOAD), id: UNWIND_NO_TABLE, start: 0, count: 0, users: new Set(), lastUsed: 0 };
    try {
      const eh = readEhFrame(elf);
      const rows = eh === null ? null : compileUnwindTable(eh);
      if (rows === null || rows.length === 0) this.#stats.files_without_table++;
      else if (rows.length > MAX_TABLE_ROWS || rows.length > this.#maxRows) this.#stats.tables_too_big++;
      else this.#store(table, rows.map((row) => encodeUnwindRow(row)));
    } catch {
      this.#stats.file_errors++;
    } finally {
      elf.close();
      this.#stats.parse_ms += Math.round(performance.now() - t0);
    }
    if (table.id === UNWIND_NO_TABLE) {
      // Remembered so the next process mapping it does not parse it again.
      if ([...this.#tables.values()].filter((t) => t.id === UNWIND_NO_TABLE).length >= MAX_NEGATIVE) return table;
    }
    this.#tables.set(key, table);
    return table;
  }

  #store(table: Table, rows: Buffer[]): void {
    let range = this.#alloc(rows.length);
    while (range === null || this.#freeIds.length === 0) {
      if (!this.#evictOne()) break;
      range ??= this.#alloc(rows.length);
    }
    if (range === null || this.#freeIds.length === 0) {
      if (range !== null) this.#release(range);
      this.#stats.tables_no_room++;
      return;
    }
    const id = this.#freeIds.pop()!;
    this.#maps.rows.writeBatch(rows.map((b, i) => [range.start + i, b] as [number, Buffer]));
    // The index entry last: the BPF side never sees a table whose rows are not all there.
    this.#maps.tables.set(id, encodeIndex(range.start, rows.length));
    Object.assign(table, { id, start: range.start, count: rows.length });
    this.#stats.tables_loaded++;
    this.#stats.table_rows += rows.length;
    this.#stats.table_bytes = this.#stats.table_rows * UNWIND_ROW_SIZE;
  }

  /** Evicts the least recently used table no live process maps; false when there is none. */
  #evictOne(): boolean {
    let victim: Table | undefined;
    for (const t of this.#tables.values()) {
      if (t.id === UNWIND_NO_TABLE || t.users.size > 0) continue;
      if (victim === undefined || t.lastUsed < victim.lastUsed) victim = t;
    }
    if (victim === undefined) return false;
    this.#maps.tables.set(victim.id, encodeIndex(0, 0));
    this.#freeIds.push(victim.id);
    this.#release({ start: victim.start, count: victim.count });
    this.#tables.delete(victim.key);
    this.#stats.tables_evicted++;
    this.#stats.tables_loaded--;
    this.#stats.table_rows -= victim.count;
    this.#stats.table_bytes = this.#stats.table_rows * UNWIND_ROW_SIZE;
    return true;
  }

  #alloc(count: number): Range | null {
    const i = this.#free.findIndex((f) => f.count >= count);
    if (i < 0) return null;
    const f = this.#free[i]!;
    const out = { start: f.start, count };
    if (f.count === count) this.#free.splice(i, 1);
    else this.#free[i] = { start: f.start + count, count: f.count - count };
    return out;
  }

  #release(r: Range): void {
    this.#free.push(r);
    this.#free.sort((a, b) => a.start - b.start);
    const merged: Range[] = [];
    for (const f of this.#free) {
      const last = merged[merged.length - 1];
      if (last !== undefined && last.start + last.count === f.start) last.count += f.count;
      else merged.push({ ...f });
    }
    this.#free = merged;
  }
}

function encodeIndex(start: number, count: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(start, 0);
  b.writeUInt32LE(count, 4);
  return b;
}

function encodeProc(entries: ReadonlyArray<{ r: Region; table: number; bias: bigint }>): Buffer {
  const b = Buffer.alloc(UNWIND_PROC.size);
  b.writeUInt32LE(entries.length, UNWIND_PROC.count);
  entries.forEach((e, i) => {
    const at = UNWIND_PROC.mappings + i * UNWIND_PROC.mappingSize;
    b.writeBigUInt64LE(BigInt(e.r.start), at);
    b.writeBigUInt64LE(BigInt(e.r.end), at + 8);
    b.writeBigUInt64LE(BigInt.asUintN(64, e.bias), at + 16);
    b.writeUInt32LE(e.table, at + 24);
  });
  return b;
}
