// What the symbolizer keeps of one process: its executable mappings as read from /proc/<pid>/maps
// (each with the module opened for it), how to reach its files (its root), and its JIT map.
// Pure helpers here; the I/O that fills a view is in host-symbolizer.ts.
import type { MemoryMapping } from '../metadata/proc.js';
import type { ElfModule } from './elf-module.js';
import type { PerfMap } from './perf-map.js';

export type RegionKind = 'file' | 'vdso' | 'anon' | 'special';

export interface Region {
  start: number;
  end: number;
  /** File offset of `start`. */
  offset: number;
  /** As the process sees it: the module name frames carry. */
  path: string;
  kind: RegionKind;
  deleted: boolean;
  inode: number;
  /** The opened ELF (file regions); null when it could not be opened or parsed. */
  module?: ElfModule | null;
}

export interface ProcessView {
  pid: number;
  /** '' when the process shares our mount namespace, else `/proc/<pid>/root`. */
  rootPrefix: string;
  /** Executable regions sorted by start. */
  regions: Region[];
  /** When the maps were last read (ms). */
  mapsReadAt: number;
  /** The process was gone at the last attempt to read it. */
  gone: boolean;
  /** Candidate JIT map paths (host view) and the one found, with the path frames show. */
  perfMapCandidates: { hostPath: string; shownPath: string }[];
  perfMap?: PerfMap;
  perfMapShownPath?: string;
  perfMapCheckedAt: number;
}

/** Anonymous memory that JITs fill: no file, or a named anonymous region / memfd. */
function isAnonymous(path: string): boolean {
  return path === '' || path.startsWith('[anon') || path.startsWith('//anon') || path.startsWith('memfd:') || path.startsWith('/memfd:');
}

export function classify(path: string): RegionKind {
  if (path === '[vdso]') return 'vdso';
  if (isAnonymous(path)) return 'anon';
  if (path.startsWith('[')) return 'special';
  return 'file';
}

/** Executable mappings as regions (numbers: user-space addresses are below 2^53), sorted. */
export function executableRegions(mappings: readonly MemoryMapping[]): Region[] {
  const out: Region[] = [];
  for (const m of mappings) {
    if (!m.perms.includes('x')) continue;
    if (m.end > BigInt(Number.MAX_SAFE_INTEGER)) continue;
    out.push({
      start: Number(m.start),
      end: Number(m.end),
      offset: m.offset,
      path: m.path,
      kind: classify(m.path),
      deleted: m.deleted,
      inode: m.inode,
    });
  }
  return out.sort((a, b) => a.start - b.start);
}

/** The region containing `addr`, by binary search. */
export function findRegion(regions: readonly Region[], addr: number): Region | undefined {
  let lo = 0;
  let hi = regions.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const r = regions[mid]!;
    if (addr < r.start) hi = mid - 1;
    else if (addr >= r.end) lo = mid + 1;
    else return r;
  }
  return undefined;
}

/** The innermost pid of an `NSpid:` line of /proc/<pid>/status: the pid the process knows itself by. */
export function namespacePid(status: string): number | undefined {
  const m = /^NSpid:\s*([\d\s]+)$/m.exec(status);
  const last = m?.[1]?.trim().split(/\s+/).at(-1);
  return last ? Number(last) : undefined;
}

export function viewBytes(view: ProcessView): number {
  return 256 + view.regions.length * 96 + (view.perfMap?.byteEstimate() ?? 0);
}
