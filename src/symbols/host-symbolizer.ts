// The Symbolizer the profiler uses: user addresses through the process's mappings to ELF symbols
// (elf-module.ts), JIT maps and the vDSO; kernel addresses through /proc/kallsyms.
//
// address → region of /proc/<pid>/maps → file offset (region offset + distance) → ELF virtual
// address (the PT_LOAD segment holding that offset) → function.
//
// Files are reached through /proc/<pid>/map_files/<start>-<end> (the very file mapped, even deleted
// or replaced, in any mount namespace) and else /proc/<pid>/root/<path>. They are opened at
// notePid, so a process that exits before its samples are symbolized still resolves; modules are
// shared by build id (or device + inode) across processes and kept in a cache bounded by count and
// by the bytes of their symbol tables. Nothing here throws on bad input: every fallback is counted
// and the frame keeps its module and offset.
import { readFileSync, readlinkSync, statSync } from 'node:fs';
import { parseProcMaps } from '../metadata/proc.js';
import { ElfError } from './elf.js';
import { ElfModule, fileIdentity, type ModuleContext } from './elf-module.js';
import { KernelSymbols } from './kallsyms.js';
import { BoundedLru } from './lru.js';
import { xzDecompressor } from './minidebuginfo.js';
import { PerfMap } from './perf-map.js';
import { executableRegions, findRegion, namespacePid, viewBytes, type ProcessView, type Region } from './process-view.js';
import { Counters } from './stats.js';
import type { Frame, Symbolizer } from './symbolizer.js';
import { readOwnVdso } from './vdso.js';

export interface SymbolizerOptions {
  /** Roots of separate debug files (build-id and debuglink layouts). Default ['/usr/lib/debug']. */
  debugRoots?: readonly string[];
  /** Default '/proc/kallsyms'. */
  kallsymsPath?: string;
  /** The xz binary for MiniDebugInfo: a path, undefined (look in PATH) or null (never). */
  xzPath?: string | null;
  /** Modules (opened ELF files) kept. Default 512. */
  maxModules?: number;
  /** Bytes of symbol tables kept across modules. Default 512 MiB. */
  maxModuleBytes?: number;
  /** Processes whose mappings are kept. Default 4096. */
  maxPids?: number;
  /** Bytes of process state (mappings, JIT maps) kept. Default 256 MiB. */
  maxPidBytes?: number;
  /** Per JIT map: entries and bytes read. Defaults 200k, 64 MiB. */
  perfMapMaxEntries?: number;
  perfMapMaxBytes?: number;
  /** Least time between re-reads of a live process's maps (or JIT map) on a miss. Default 1 s. */
  refreshIntervalMs?: number;
  /** Least time between re-reads of /proc/kallsyms on a miss (modules load, BPF programs come and go). Default 60 s. */
  kallsymsRefreshMs?: number;
  /** Clock for the intervals (tests). */
  now?: () => number;
}

/** Counters always reported (zero until they happen), so each is a stable series. */
const REPORTED = [
  'hits', 'misses', 'resolved_frames', 'unknown_frames', 'elf_errors', 'no_symbols', 'symtab_used', 'gopclntab_used',
  'debug_file_found', 'missing_debug_file', 'debug_file_mismatch', 'minidebuginfo_used', 'minidebuginfo_unavailable',
  'dynsym_only', 'perf_map_frames', 'anon_frames', 'vdso_frames', 'kernel_frames', 'kernel_unknown_frames',
  'kallsyms_unavailable', 'maps_unreadable', 'module_open_errors', 'module_evictions', 'unknown_pid',
];

/** Identities (files that are not usable ELF) remembered so they are not parsed again and again. */
const MAX_BAD_FILES = 10_000;

export class HostSymbolizer implements Symbolizer {
  private readonly counters = new Counters();
  private readonly ctx: ModuleContext;
  private readonly modules: BoundedLru<string, ElfModule>;
  /** File identity → module key (several paths / processes, one module). */
  private readonly aliases = new Map<string, string>();
  private readonly badFiles = new Set<string>();
  private readonly views: BoundedLru<number, ProcessView>;
  private kernel: KernelSymbols | undefined;
  private kernelReadAt = -Infinity;
  private vdso: ElfModule | null | undefined;
  private readonly ownMountNs: string | undefined;
  private readonly now: () => number;
  private readonly o: Required<Omit<SymbolizerOptions, 'xzPath' | 'now' | 'debugRoots'>>;

  constructor(options: SymbolizerOptions = {}) {
    this.now = options.now ?? (() => performance.now());
    this.o = {
      kallsymsPath: options.kallsymsPath ?? '/proc/kallsyms',
      maxModules: options.maxModules ?? 512,
      maxModuleBytes: options.maxModuleBytes ?? 512 << 20,
      maxPids: options.maxPids ?? 4096,
      maxPidBytes: options.maxPidBytes ?? 256 << 20,
      perfMapMaxEntries: options.perfMapMaxEntries ?? 200_000,
      perfMapMaxBytes: options.perfMapMaxBytes ?? 64 << 20,
      refreshIntervalMs: options.refreshIntervalMs ?? 1000,
      kallsymsRefreshMs: options.kallsymsRefreshMs ?? 60_000,
    };
    this.ctx = {
      debugRoots: options.debugRoots ?? ['/usr/lib/debug'],
      xz: xzDecompressor({ xzPath: options.xzPath }),
      counters: this.counters,
    };
    this.modules = new BoundedLru(this.o.maxModules, this.o.maxModuleBytes, (key, m) => {
      m.close();
      for (const [identity, k] of this.aliases) if (k === key) this.aliases.delete(identity);
      this.counters.inc('module_evictions');
    });
    this.views = new BoundedLru(this.o.maxPids, this.o.maxPidBytes, () => this.counters.inc('pid_evictions'));
    this.ownMountNs = safeReadlink('/proc/self/ns/mnt');
  }

  notePid(pid: number): void {
    if (this.views.get(pid)) return;
    const view = this.readView(pid);
    if (view) this.views.set(pid, view, viewBytes(view));
  }

  forgetPid(pid: number): void {
    this.views.delete(pid);
  }

  symbolizeUser(pid: number, addresses: readonly bigint[]): Frame[] {
    let view = this.views.get(pid);
    if (!view) {
      this.notePid(pid);
      view = this.views.get(pid);
    }
    const memo = new Map<bigint, Frame>();
    const out: Frame[] = [];
    for (const addr of addresses) {
      let frame = memo.get(addr);
      if (!frame) {
        frame = view ? this.userFrame(view, addr) : unknownFrame(addr);
        if (frame.function === undefined) this.counters.inc('unknown_frames');
        else this.counters.inc('resolved_frames');
        memo.set(addr, frame);
      }
      out.push({ ...frame });
    }
    if (!view) this.counters.inc('unknown_pid');
    else this.views.resize(pid, viewBytes(view));
    return out;
  }

  symbolizeKernel(addresses: readonly bigint[]): Frame[] {
    const ksyms = this.kernelSymbols(false);
    const out: Frame[] = [];
    let refreshed = false;
    for (const addr of addresses) {
      let hit = ksyms?.lookup(addr);
      if (!hit && ksyms?.usable && !refreshed) {
        // A module loaded or a BPF program appeared since the last read.
        refreshed = true;
        hit = this.kernelSymbols(true)?.lookup(addr);
      }
      if (hit) {
        this.counters.inc('kernel_frames');
        out.push({ function: hit.name, module: hit.module });
      } else {
        this.counters.inc('kernel_unknown_frames');
        out.push({ module: '[kernel]' });
      }
    }
    return out;
  }

  stats(): Record<string, number> {
    return {
      ...Object.fromEntries(REPORTED.map((k) => [k, 0])),
      ...this.counters.snapshot(),
      pids: this.views.size,
      modules: this.modules.size,
      module_bytes: this.modules.bytes,
      kallsyms_symbols: this.kernel?.count ?? 0,
    };
  }

  // ---- user space ----

  private userFrame(view: ProcessView, address: bigint): Frame {
    if (address > BigInt(Number.MAX_SAFE_INTEGER)) return unknownFrame(address);
    const addr = Number(address);
    let region = findRegion(view.regions, addr);
    if (!region && this.refreshView(view)) region = findRegion(view.regions, addr);
    if (region?.kind === 'file') return this.fileFrame(view, region, addr);
    if (region?.kind === 'vdso') return this.vdsoFrame(region, addr);
    const jit = this.jitFrame(view, addr);
    if (jit) return jit;
    if (region?.kind === 'anon') {
      this.counters.inc('anon_frames');
      return { module: '[anon]', moduleOffset: addr - region.start };
    }
    if (region) return { module: region.path, moduleOffset: addr - region.start };
    return unknownFrame(address);
  }

  private fileFrame(view: ProcessView, region: Region, addr: number): Frame {
    const fileOffset = addr - region.start + region.offset;
    const frame: Frame = { module: region.path, moduleOffset: fileOffset };
    let mod = region.module;
    if (mod?.closed) {
      // Evicted from the cache while this process still maps it: open it again if we still can.
      mod = region.module = view.gone ? null : this.openModule(view, region);
    }
    if (!mod) return frame;
    if (mod.buildId) frame.buildId = mod.buildId;
    const wasLoaded = mod.loaded;
    const vaddr = mod.addressOfOffset(fileOffset);
    const name = vaddr === undefined ? undefined : mod.functionAt(vaddr);
    if (!wasLoaded && mod.loaded) this.modules.resize(mod.key, mod.byteEstimate());
    if (name !== undefined) frame.function = name;
    return frame;
  }

  private vdsoFrame(region: Region, addr: number): Frame {
    const offset = addr - region.start;
    const frame: Frame = { module: '[vdso]', moduleOffset: offset };
    if (this.vdso === undefined) {
      const image = readOwnVdso();
      try {
        this.vdso = image ? ElfModule.fromBuffer(image, 'vdso', this.ctx, { debugInfo: false }) : null;
      } catch {
        this.counters.inc('elf_errors');
        this.vdso = null;
      }
    }
    const vaddr = this.vdso?.addressOfOffset(offset);
    const name = vaddr === undefined ? undefined : this.vdso?.functionAt(vaddr);
    if (name !== undefined) {
      this.counters.inc('vdso_frames');
      frame.function = name;
    }
    return frame;
  }

  private jitFrame(view: ProcessView, addr: number): Frame | undefined {
    let name = view.perfMap?.lookup(addr);
    if (name === undefined && this.now() - view.perfMapCheckedAt >= this.o.refreshIntervalMs) {
      // The JIT appends as it compiles: read what is new (or find the map if it appeared since).
      view.perfMapCheckedAt = this.now();
      this.refreshPerfMap(view);
      name = view.perfMap?.lookup(addr);
    }
    if (name === undefined) return undefined;
    this.counters.inc('perf_map_frames');
    return { function: name, module: view.perfMapShownPath ?? '[jit]' };
  }

  private refreshPerfMap(view: ProcessView): void {
    if (!view.perfMap) {
      for (const c of view.perfMapCandidates) {
        const map = new PerfMap(c.hostPath, { maxEntries: this.o.perfMapMaxEntries, maxBytes: this.o.perfMapMaxBytes });
        if (map.refresh()) {
          view.perfMap = map;
          view.perfMapShownPath = c.shownPath;
          this.counters.inc('perf_maps');
          break;
        }
      }
      return;
    }
    const before = view.perfMap.truncated;
    view.perfMap.refresh();
    if (view.perfMap.truncated > before) this.counters.inc('perf_map_truncated', view.perfMap.truncated - before);
  }

  /** Reads a live process's maps again (new libraries, JIT regions); rate limited. */
  private refreshView(view: ProcessView): boolean {
    if (view.gone || this.now() - view.mapsReadAt < this.o.refreshIntervalMs) return false;
    const fresh = this.readView(view.pid, view);
    if (!fresh) {
      view.gone = true;
      return false;
    }
    view.regions = fresh.regions;
    view.mapsReadAt = fresh.mapsReadAt;
    this.counters.inc('maps_refreshes');
    return true;
  }

  private readView(pid: number, previous?: ProcessView): ProcessView | undefined {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/maps`, 'utf8');
    } catch {
      // A process seen before has exited: expected. One never seen could not be read at all.
      if (!previous) this.counters.inc('maps_unreadable');
      return undefined;
    }
    const rootPrefix = previous?.rootPrefix ?? this.rootPrefixOf(pid);
    const view: ProcessView = previous ?? {
      pid,
      rootPrefix,
      regions: [],
      mapsReadAt: 0,
      gone: false,
      perfMapCandidates: this.perfMapCandidates(pid, rootPrefix),
      perfMapCheckedAt: -Infinity,
    };
    const regions = executableRegions(parseProcMaps(text));
    // Keep the modules already opened for unchanged regions.
    const known = new Map(previous?.regions.map((r) => [`${r.start}:${r.end}:${r.offset}:${r.path}:${r.inode}`, r]));
    for (const r of regions) {
      const old = known.get(`${r.start}:${r.end}:${r.offset}:${r.path}:${r.inode}`);
      if (old) r.module = old.module;
      else if (r.kind === 'file') r.module = this.openModule(view, r);
    }
    if (!previous) {
      view.regions = regions;
      view.mapsReadAt = this.now();
      return view;
    }
    return { ...view, regions, mapsReadAt: this.now() };
  }

  /** '' when the process sees our filesystem, else its root through /proc. */
  private rootPrefixOf(pid: number): string {
    const ns = safeReadlink(`/proc/${pid}/ns/mnt`);
    return ns !== undefined && ns === this.ownMountNs ? '' : `/proc/${pid}/root`;
  }

  private perfMapCandidates(pid: number, rootPrefix: string): { hostPath: string; shownPath: string }[] {
    let nspid = pid;
    try {
      nspid = namespacePid(readFileSync(`/proc/${pid}/status`, 'utf8')) ?? pid;
    } catch {
      // gone: keep the host pid
    }
    const out = [{ hostPath: `${rootPrefix}/tmp/perf-${nspid}.map`, shownPath: `/tmp/perf-${nspid}.map` }];
    // perf's own convention for processes in other namespaces: the host pid in the host's /tmp.
    if (rootPrefix || nspid !== pid) out.push({ hostPath: `/tmp/perf-${pid}.map`, shownPath: `/tmp/perf-${pid}.map` });
    return out;
  }

  /** The module for a file region, shared with other processes mapping the same file. */
  private openModule(view: ProcessView, region: Region): ElfModule | null {
    const mapFiles = `/proc/${view.pid}/map_files/${region.start.toString(16)}-${region.end.toString(16)}`;
    const paths = region.deleted ? [mapFiles] : [mapFiles, `${view.rootPrefix}${region.path}`];
    for (const [i, hostPath] of paths.entries()) {
      let identity: string;
      try {
        const st = statSync(hostPath);
        // Through the path (not map_files) the file may have been replaced since it was mapped.
        if (i > 0 && st.ino !== region.inode) {
          this.counters.inc('module_replaced');
          continue;
        }
        identity = fileIdentity(st);
      } catch {
        continue;
      }
      if (this.badFiles.has(identity)) return null;
      const key = this.aliases.get(identity);
      const cached = key === undefined ? undefined : this.modules.get(key);
      if (cached) {
        this.counters.inc('hits');
        return cached;
      }
      this.counters.inc('misses');
      let mod: ElfModule;
      try {
        mod = ElfModule.open(hostPath, region.path, view.rootPrefix, identity, this.ctx);
      } catch (err) {
        if (err instanceof ElfError) {
          this.counters.inc('elf_errors');
          if (this.badFiles.size >= MAX_BAD_FILES) this.badFiles.clear();
          this.badFiles.add(identity);
          return null;
        }
        continue; // not readable this way: try the next path
      }
      // Another file with the same build id (a copy, another container's layer) is the same module.
      const same = this.modules.get(mod.key);
      if (same) {
        mod.close();
        this.aliases.set(identity, same.key);
        return same;
      }
      this.modules.set(mod.key, mod, mod.byteEstimate());
      this.aliases.set(identity, mod.key);
      return mod;
    }
    this.counters.inc('module_open_errors');
    return null;
  }

  // ---- kernel ----

  private kernelSymbols(forceRefresh: boolean): KernelSymbols | undefined {
    const stale = this.now() - this.kernelReadAt >= this.o.kallsymsRefreshMs;
    if (this.kernel && !(forceRefresh && stale)) return this.kernel;
    if (!this.kernel && this.kernelReadAt > -Infinity && !stale) return undefined;
    this.kernelReadAt = this.now();
    try {
      this.kernel = KernelSymbols.read(this.o.kallsymsPath, this.kernel?.count);
      this.counters.inc('kallsyms_reads');
    } catch {
      this.kernel = undefined;
    }
    // Without CAP_SYSLOG the addresses read as zero: kernel frames stay unnamed.
    if (!this.kernel?.usable) this.counters.inc('kallsyms_unavailable');
    return this.kernel;
  }
}

function unknownFrame(address: bigint): Frame {
  return address <= BigInt(Number.MAX_SAFE_INTEGER) ? { module: '[unknown]', moduleOffset: Number(address) } : { module: '[unknown]' };
}

function safeReadlink(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}
