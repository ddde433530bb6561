// The user-space half of CFI unwinding: compiles each mapped binary's .eh_frame and .debug_frame
// (its own or its debug file's; unwind-file.ts) into rows (src/symbols/cfi-table.ts) once per file
// — shared by every process that maps it — stores them in
// the BPF maps of profiler.bpf.c (unwind_rows, unwind_tables), and publishes each process's
// executable mappings with their table and load bias (unwind_procs).
//
// The vDSO too: one image per kernel, read from our own memory and compiled once, on the event loop
// (32 rows, ~2 ms), published for every process's [vdso] mapping.
//
// Nothing else here parses on the event loop: a file not seen before is opened (so it stays readable if
// its process exits) and queued for the compiler's worker thread (unwind-compiler.ts); its
// mappings are published at once without a table (frame pointers), and again, with it, when its
// rows are in the kernel. The rows come from the worker in slices (row-slices.ts), each written as
// it arrives into a range reserved from the first pass's bound (1–27 % above the final count; the
// unused tail is released at the end), TURN_ROWS at a time with the event loop's other work in
// between (node's 372k rows: 91 turns of well under a millisecond each). Only when every row is
// there is the table's index entry written: the BPF side never sees a table half-written, and a
// compile that fails mid-way leaves the rows it wrote unreferenced, their range free again.
//
// Bounds: rows live in one ARRAY of `maxRows` entries, allocated first-fit; a table that does not
// fit evicts the least recently used tables no live process maps; if it still does not fit it is
// not loaded (that binary is walked with frame pointers, counted). At most `maxTables` tables, at
// most UNWIND_MAX_MAPPINGS mappings per process (file-backed first; the rest counted), at most
// MAX_QUEUED files (and descriptors) waiting for the worker (past that a file is looked at again at
// the next process that maps it, counted as deferred).
import { constants, openSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import type { BpfMap } from 'libbpf-ts';
import { parseProcMaps } from '../../metadata/proc.js';
import { UNWIND_ROW_SIZE } from '../../symbols/cfi-table.js';
import { ElfFile } from '../../symbols/elf.js';
import { fileIdentity } from '../../symbols/elf-module.js';
import { executableRegions, type Region } from '../../symbols/process-view.js';
import { UNWIND_MAX_MAPPINGS, UNWIND_NO_TABLE, UNWIND_PROC } from './layout.js';
import { readOwnVdso } from '../../symbols/vdso.js';
import { type RowSlices, type SlicesEnd, wholeTable } from './row-slices.js';
import { type CompileReply, type DebugFileWhere, type SegmentInfo, UnwindCompiler } from './unwind-compiler.js';
import { compileFile } from './unwind-file.js';

/** The BPF object's find_row takes 21 binary-search steps. */
const MAX_TABLE_ROWS = 1 << 21;
/** Processes' mappings read again at most this often (a PC outside them asks for it). */
const REFRESH_MIN_MS = 1000;
/** Files remembered as having no usable table (no .eh_frame, Go, addresses above 4 GiB, unreadable). */
const MAX_NEGATIVE = 4096;
/** Files waiting for the worker, each holding a descriptor. */
const MAX_QUEUED = 256;
/** Rows written to the kernel per event-loop turn. */
const TURN_ROWS = 4096;
/** Where separate debug files are looked for (as the symbolizer does by default). */
const DEBUG_ROOTS = ['/usr/lib/debug'];

/** What is used of the maps (tests give maps of their own). */
type MapOps = Pick<BpfMap<number, Buffer>, 'set' | 'delete' | 'writeBatchRaw'>;

export interface UnwindMaps {
  rows: MapOps;
  tables: MapOps;
  procs: MapOps;
}

/** The compiler, as the tables use it (tests wrap it). */
export type TableCompiler = Pick<UnwindCompiler, 'compile' | 'discard' | 'close' | 'busy' | 'stats'>;

interface Table {
  key: string;
  /** pending: queued or compiling; ready: rows in the kernel (id valid); none: no usable table. */
  state: 'pending' | 'ready' | 'none';
  /** PT_LOAD segments: how a mapping's file offset becomes the address the rows use. */
  segments: SegmentInfo[];
  /** UNWIND_NO_TABLE unless ready. */
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

const yieldTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** The key of the vDSO's table (file tables are keyed by device and inode). */
const VDSO_KEY = 'vdso';

/** The vDSO image of this process compiled, as the worker would answer for a file. */
function compileVdso(): CompileReply {
  const t0 = performance.now();
  const image = readOwnVdso();
  if (image === undefined) return { id: 0, kind: 'error', error: 'vDSO not readable', ms: 0 };
  try {
    const r = compileFile(ElfFile.fromBuffer(image), null);
    const ms = performance.now() - t0;
    if (r.kind === 'none') return { id: 0, kind: 'none', reason: r.reason, segments: r.segments, ms };
    return { id: 0, kind: 'table', rowBound: r.table.count, segments: r.segments, debugFrame: null, cgo: false, ms, slices: wholeTable(r.table.rows, r.table.count, ms) };
  } catch (e) {
    return { id: 0, kind: 'error', error: e instanceof Error ? e.message : String(e), ms: performance.now() - t0 };
  }
}

export class UnwindTables {
  readonly #maps: UnwindMaps;
  readonly #maxRows: number;
  readonly #compiler: TableCompiler;
  readonly #tables = new Map<string, Table>();
  #negative = 0;
  readonly #freeIds: number[] = [];
  /** Free row ranges, sorted by start, adjacent ones merged. */
  #free: Range[];
  readonly #pids = new Map<number, { regions: Region[]; keys: Map<Region, string>; at: number }>();
  readonly #queue: Array<{ table: Table; fd: number; debug: DebugFileWhere }> = [];
  readonly #debugRoots: readonly string[];
  /** Our mount namespace: a process in another one has its debug files under its own root. */
  readonly #ownMountNs = readlinkQuietly('/proc/self/ns/mnt');
  /** The keys of a turn's rows, one buffer for every turn: not 16 KiB of garbage each. */
  readonly #keys = Buffer.allocUnsafeSlow(4 * TURN_ROWS);
  #pumping = false;
  #closed = false;
  #idleWaiters: Array<() => void> = [];
  #tick = 0;
  readonly #stats = {
    tables_loaded: 0, table_rows: 0, table_bytes: 0, tables_evicted: 0, tables_too_big: 0, tables_no_room: 0,
    files_without_table: 0, go_binaries: 0, file_errors: 0, pids_published: 0, pid_refreshes: 0, mappings_dropped: 0,
    parse_ms: 0, max_parse_ms: 0, tables_deferred: 0, max_slice_ms: 0, debug_frame_tables: 0, debug_file_tables: 0, cgo_tables: 0,
  };

  constructor(maps: UnwindMaps, opts: { maxRows: number; maxTables: number; compiler?: TableCompiler; debugRoots?: readonly string[] }) {
    this.#maps = maps;
    this.#debugRoots = opts.debugRoots ?? DEBUG_ROOTS;
    this.#maxRows = opts.maxRows;
    this.#compiler = opts.compiler ?? new UnwindCompiler();
    this.#free = [{ start: 0, count: opts.maxRows }];
    for (let i = opts.maxTables - 1; i >= 0; i--) this.#freeIds.push(i);
  }

  /**
   * Reads the process's mappings, queues the binaries not seen before, publishes the mappings (with
   * the tables that are ready). False when it is gone. Synchronous and cheap: /proc reads and stats.
   */
  notePid(pid: number): boolean {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/maps`, 'utf8');
    } catch {
      return false;
    }
    const regions = executableRegions(parseProcMaps(text));
    const keys = new Map<Region, string>();
    for (const r of regions) {
      if (r.kind !== 'file' && r.kind !== 'vdso') continue;
      const t = r.kind === 'vdso' ? this.#vdsoTable() : this.#tableFor(pid, r);
      if (t === null) continue;
      keys.set(r, t.key);
      t.users.add(pid);
      t.lastUsed = ++this.#tick;
    }
    const before = this.#pids.get(pid);
    const used = new Set(keys.values());
    for (const k of before?.keys.values() ?? []) if (!used.has(k)) this.#tables.get(k)?.users.delete(pid);
    this.#pids.set(pid, { regions, keys, at: Date.now() });
    this.#publish(pid);
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
    for (const k of p.keys.values()) this.#tables.get(k)?.users.delete(pid);
    this.#maps.procs.delete(pid);
  }

  /** Resolves when no file is queued or compiling (tests, benchmarks). */
  idle(): Promise<void> {
    if (!this.#pumping && this.#queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.#idleWaiters.push(r));
  }

  /** Stops the worker; queued files are dropped. The maps are the sampler's to close. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const q of this.#queue.splice(0)) this.#compiler.discard(q.fd, q.debug);
    await this.#compiler.close();
    this.#wakeIdle();
  }

  stats(): Record<string, number> {
    return { ...this.#stats, ...this.#compiler.stats, pids_tracked: this.#pids.size, row_capacity: this.#maxRows, tables_pending: this.#queue.length + this.#compiler.busy };
  }

  /** unwind_procs[pid] from its regions: file mappings with their table if ready, then JIT and the vDSO. */
  #publish(pid: number): void {
    const p = this.#pids.get(pid);
    if (p === undefined) return;
    const entries: ProcEntry[] = [];
    for (const r of p.regions) {
      const key = p.keys.get(r);
      const t = key === undefined ? undefined : this.#tables.get(key);
      if (t === undefined) continue;
      if (t.state !== 'ready') {
        entries.push({ r, table: UNWIND_NO_TABLE, bias: 0n });
        continue;
      }
      const seg = t.segments.find((s) => r.offset >= s.offset && r.offset < s.offset + Math.max(s.filesz, 1));
      const bias = seg === undefined ? 0n : BigInt(r.start) - BigInt(r.offset) + BigInt(seg.offset) - BigInt(seg.vaddr);
      entries.push({ r, table: seg === undefined ? UNWIND_NO_TABLE : t.id, bias });
    }
    // JIT code (and the vDSO without a table): known, walked with frame pointers (a PC in them is no
    // reason to re-read).
    for (const r of p.regions) if (r.kind !== 'file' && !p.keys.has(r)) entries.push({ r, table: UNWIND_NO_TABLE, bias: 0n });
    if (entries.length > UNWIND_MAX_MAPPINGS) this.#stats.mappings_dropped += entries.length - UNWIND_MAX_MAPPINGS;
    const kept = entries.slice(0, UNWIND_MAX_MAPPINGS).sort((a, b) => a.r.start - b.r.start);
    try {
      this.#maps.procs.set(pid, encodeProc(kept));
      this.#stats.pids_published++;
    } catch {
      // the object is closing
    }
  }

  /**
   * The vDSO's table: one image per kernel, mapped into every process, read from our own memory and
   * compiled here (32 rows, ~2 ms). Its functions (clock_gettime, gettimeofday) keep no frame
   * pointer: walked by frame pointers, a sample in them lost its caller — a third of the samples of a
   * loop around clock_gettime named the wrong caller.
   */
  #vdsoTable(): Table {
    const have = this.#tables.get(VDSO_KEY);
    if (have !== undefined) return have;
    const table: Table = { key: VDSO_KEY, state: 'pending', segments: [], id: UNWIND_NO_TABLE, start: 0, count: 0, users: new Set(), lastUsed: 0 };
    this.#tables.set(VDSO_KEY, table);
    void this.#finish(table, compileVdso());
    return table;
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
      return this.#enqueue(key, host, pid, r.path);
    }
    this.#stats.file_errors++;
    return null;
  }

  /**
   * A file not seen before: opened now (while its process lives), compiled on the worker. So is the
   * process's root when it is not ours: the worker looks for the file's debug file there too.
   */
  #enqueue(key: string, host: string, pid: number, path: string): Table | null {
    if (this.#closed) return null;
    if (this.#queue.length >= MAX_QUEUED) {
      this.#stats.tables_deferred++;
      return null;
    }
    let fd: number;
    try {
      fd = openSync(host, 'r');
    } catch {
      this.#stats.file_errors++;
      return null;
    }
    const debug: DebugFileWhere = { path, debugRoots: this.#debugRoots };
    const ns = readlinkQuietly(`/proc/${pid}/ns/mnt`);
    if (ns !== undefined && ns !== this.#ownMountNs) {
      try {
        debug.rootFd = openSync(`/proc/${pid}/root`, constants.O_RDONLY | constants.O_DIRECTORY);
      } catch {
        // gone: its debug files are looked for on the host only
      }
    }
    const table: Table = { key, state: 'pending', segments: [], id: UNWIND_NO_TABLE, start: 0, count: 0, users: new Set(), lastUsed: 0 };
    this.#tables.set(key, table);
    this.#queue.push({ table, fd, debug });
    void this.#pump();
    return table;
  }

  /** One file at a time: compile on the worker, store the rows in slices, publish its processes again. */
  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      for (let job = this.#queue.shift(); job !== undefined && !this.#closed; job = this.#queue.shift()) {
        const reply = await this.#compiler.compile(job.fd, job.debug);
        if (this.#closed) break;
        await this.#finish(job.table, reply);
      }
    } finally {
      this.#pumping = false;
      this.#wakeIdle();
    }
  }

  async #finish(table: Table, reply: CompileReply): Promise<void> {
    if (reply.kind === 'error') this.#stats.file_errors++;
    else if (reply.kind === 'none') {
      if (reply.reason === 'go') this.#stats.go_binaries++;
      else this.#stats.files_without_table++;
    } else if (reply.rowBound > MAX_TABLE_ROWS || reply.rowBound > this.#maxRows) {
      // The first pass's bound, not the final count: the range is reserved before the rows exist.
      reply.slices.cancel();
      this.#stats.tables_too_big++;
    } else {
      table.segments = reply.segments;
      reply.ms = await this.#store(table, reply.rowBound, reply.slices) ?? reply.ms;
      if (table.state === 'ready' && reply.debugFrame !== null) this.#stats.debug_frame_tables++;
      if (table.state === 'ready' && reply.debugFrame === 'debug-file') this.#stats.debug_file_tables++;
      if (table.state === 'ready' && reply.cgo) this.#stats.cgo_tables++;
    }
    this.#stats.parse_ms += Math.round(reply.ms);
    this.#stats.max_parse_ms = Math.max(this.#stats.max_parse_ms, Math.round(reply.ms));
    if (table.state !== 'ready') {
      table.state = 'none';
      // Remembered so the next process mapping it does not compile it again; past the bound, forgotten.
      if (this.#negative >= MAX_NEGATIVE) this.#tables.delete(table.key);
      else this.#negative++;
      return;
    }
    for (const pid of table.users) this.#publish(pid);
  }

  /**
   * `bound` rows reserved, the slices written into them as they come, then the index entry and the
   * unused tail given back. The compile's time when every slice came (undefined: not stored).
   */
  async #store(table: Table, bound: number, slices: RowSlices): Promise<number | undefined> {
    const range = this.#reserve(bound);
    if (range === null) {
      slices.cancel();
      this.#stats.tables_no_room++;
      return undefined;
    }
    const id = this.#freeIds.pop()!;
    let end: SlicesEnd;
    try {
      let count = 0;
      let r = await slices.next();
      for (; 'rows' in r; r = await slices.next()) {
        const n = r.rows.length / UNWIND_ROW_SIZE;
        if (count + n > bound) throw new Error(`more rows than the first pass counted (${bound})`);
        await this.#write(range.start + count, r.rows, n);
        count += n;
      }
      if (r.count !== count) throw new Error(`${count} rows came, the worker made ${r.count}`);
      end = r;
      // The index entry last: the BPF side never sees a table whose rows are not all there.
      this.#maps.tables.set(id, encodeIndex(range.start, count));
    } catch {
      slices.cancel();
      this.#freeIds.push(id);
      this.#release(range);
      if (!this.#closed) this.#stats.file_errors++;
      return undefined;
    }
    if (end.count < bound) this.#release({ start: range.start + end.count, count: bound - end.count });
    Object.assign(table, { state: 'ready', id, start: range.start, count: end.count });
    this.#stats.tables_loaded++;
    this.#stats.table_rows += end.count;
    this.#stats.table_bytes = this.#stats.table_rows * UNWIND_ROW_SIZE;
    return end.ms;
  }

  /** `count` rows, evicting tables no process maps until they fit; null (nothing taken) when they do not. */
  #reserve(count: number): Range | null {
    let range = this.#alloc(count);
    while (range === null || this.#freeIds.length === 0) {
      if (!this.#evictOne()) break;
      range ??= this.#alloc(count);
    }
    if (range !== null && this.#freeIds.length > 0) return range;
    if (range !== null) this.#release(range);
    return null;
  }

  /** Rows into the kernel at `start`, TURN_ROWS per event-loop turn. */
  async #write(start: number, rows: Buffer, count: number): Promise<void> {
    for (let i = 0; i < count; i += TURN_ROWS) {
      if (this.#closed) throw new Error('closed');
      const t0 = performance.now();
      const n = Math.min(TURN_ROWS, count - i);
      const keys = this.#keys.subarray(0, 4 * n);
      for (let j = 0; j < n; j++) keys.writeUInt32LE(start + i + j, 4 * j);
      this.#maps.rows.writeBatchRaw(keys, rows.subarray(i * UNWIND_ROW_SIZE, (i + n) * UNWIND_ROW_SIZE), n);
      this.#stats.max_slice_ms = Math.max(this.#stats.max_slice_ms, Math.round((performance.now() - t0) * 10) / 10);
      if (i + TURN_ROWS < count) await yieldTurn();
    }
  }

  #wakeIdle(): void {
    if (this.#pumping && !this.#closed) return;
    for (const w of this.#idleWaiters.splice(0)) w();
  }

  /** Evicts the least recently used table no live process maps; false when there is none. */
  #evictOne(): boolean {
    let victim: Table | undefined;
    for (const t of this.#tables.values()) {
      if (t.state !== 'ready' || t.users.size > 0) continue;
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

function readlinkQuietly(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

function encodeIndex(start: number, count: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(start, 0);
  b.writeUInt32LE(count, 4);
  return b;
}

interface ProcEntry {
  r: Region;
  table: number;
  bias: bigint;
}

function encodeProc(entries: readonly ProcEntry[]): Buffer {
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
