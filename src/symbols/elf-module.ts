// One mapped ELF file and its function symbols, from the best source it has:
//   1. `.symtab` (+ `.dynsym`)            — unstripped binaries
//   2. `.gopclntab` (+ `.dynsym`)         — Go, even built with -ldflags='-s -w'
//   3. a separate debug file's `.symtab`  — by build id or .gnu_debuglink (debug-file.ts)
//   4. `.gnu_debugdata` (MiniDebugInfo)   — via the xz command (minidebuginfo.ts)
//   5. `.dynsym` alone                    — exported functions only
// The file (and any debug file candidates) is opened when the module is created, while the process
// that maps it is alive; symbols are read on first lookup, after which the descriptors are closed.
import { statSync, type Stats } from 'node:fs';
import { demangle } from './demangle/index.js';
import { closeDebugFile, debugFileCandidates, openDebugCandidates, verifyDebugFile, type OpenedDebugFile } from './debug-file.js';
import { ElfError, ElfFile, PT_LOAD, type ElfSegment } from './elf.js';
import { addFunctionSymbols } from './elf-functions.js';
import { addGoFunctions } from './gopclntab.js';
import { openMiniDebugInfo, type XzDecompressor } from './minidebuginfo.js';
import type { Counters } from './stats.js';
import { SymbolTable, SymbolTableBuilder } from './symbol-table.js';

export interface ModuleContext {
  debugRoots: readonly string[];
  xz: XzDecompressor;
  counters: Counters;
}

export function fileIdentity(st: Stats): string {
  return `${st.dev}:${st.ino}:${st.size}:${Math.trunc(st.mtimeMs)}`;
}

/** Demangled names kept per module before the memo starts over. */
const MAX_DEMANGLED = 20_000;

export class ElfModule {
  private elf: ElfFile;
  private readonly segments: readonly ElfSegment[];
  private debugFiles: OpenedDebugFile[] = [];
  private debugLink: { file: string; crc: number } | undefined;
  private table: SymbolTable | undefined;
  private readonly demangled = new Map<number, string>();
  private released = false;
  private evicted = false;
  /** False for the vDSO: its .dynsym is all there is, no debug file to look for. */
  private lookForDebugInfo = true;

  private constructor(
    elf: ElfFile,
    /** Cache key: `build:<id>` when the file has a build id, else the file's identity. */
    readonly key: string,
    readonly buildId: string | undefined,
    private readonly ctx: ModuleContext,
  ) {
    this.elf = elf;
    this.segments = elf.segments.filter((p) => p.type === PT_LOAD);
  }

  /**
   * Opens `hostPath` (how the host reaches the file: a /proc/<pid>/map_files or /proc/<pid>/root
   * path). `pathInProcess` and `rootPrefix` locate debug files the way the process sees its files.
   * Throws ElfError for a file that is not a usable ELF, and the fs error when it cannot be opened.
   */
  static open(hostPath: string, pathInProcess: string, rootPrefix: string, identity: string, ctx: ModuleContext): ElfModule {
    const elf = ElfFile.open(hostPath);
    try {
      let buildId: string | undefined;
      try {
        buildId = elf.buildId();
      } catch (err) {
        if (!(err instanceof ElfError)) throw err;
      }
      const m = new ElfModule(elf, buildId ? `build:${buildId}` : `file:${identity}`, buildId, ctx);
      m.prepareDebugFiles(pathInProcess, rootPrefix);
      return m;
    } catch (err) {
      elf.close();
      throw err;
    }
  }

  /**
   * A module over bytes already in memory (the vDSO image). `debugInfo: false` settles for
   * `.dynsym` without counting a missing debug file (the vDSO has nothing else).
   */
  static fromBuffer(buf: Buffer, key: string, ctx: ModuleContext, options: { debugInfo?: boolean } = {}): ElfModule {
    const elf = ElfFile.fromBuffer(buf);
    let buildId: string | undefined;
    try {
      buildId = elf.buildId();
    } catch (err) {
      if (!(err instanceof ElfError)) throw err;
    }
    const m = new ElfModule(elf, key, buildId, ctx);
    m.lookForDebugInfo = options.debugInfo ?? true;
    return m;
  }

  /** Identity of a file for the cache when it has no build id: device, inode, size and mtime. */
  static identityOf(hostPath: string): string {
    return fileIdentity(statSync(hostPath));
  }

  /** Whether the symbols are loaded (their size is then known). */
  get loaded(): boolean {
    return this.table !== undefined;
  }

  /** A file offset (a mapping's offset + distance into it) as the ELF virtual address it holds. */
  addressOfOffset(fileOffset: number): number | undefined {
    const seg = this.segments.find((p) => fileOffset >= p.offset && fileOffset < p.offset + p.filesz);
    return seg ? fileOffset - seg.offset + seg.vaddr : undefined;
  }

  /** The function at virtual address `vaddr`, demangled. */
  functionAt(vaddr: number): string | undefined {
    const table = this.symbols();
    const i = table.indexOf(vaddr);
    if (i < 0) return undefined;
    let name = this.demangled.get(i);
    if (name === undefined) {
      name = demangle(table.nameAt(i));
      if (this.demangled.size >= MAX_DEMANGLED) this.demangled.clear();
      this.demangled.set(i, name);
    }
    return name;
  }

  /** The function table, read on first use; never throws (a failure counts and leaves it empty). */
  symbols(): SymbolTable {
    if (this.table) return this.table;
    const c = this.ctx.counters;
    let table = SymbolTable.empty;
    if (!this.released) {
      try {
        table = this.readSymbols();
      } catch (err) {
        // Truncated or hostile files, a file replaced under us: the frame keeps module + offset.
        c.inc(err instanceof ElfError ? 'elf_errors' : 'symbol_read_errors');
      } finally {
        this.releaseFiles();
      }
    }
    if (table.count === 0) c.inc('no_symbols');
    this.table = table;
    return table;
  }

  byteEstimate(): number {
    return 512 + (this.table?.byteEstimate() ?? 0);
  }

  /** Closes files and drops the table (evicted from the cache). */
  close(): void {
    this.evicted = true;
    this.releaseFiles();
    this.table = SymbolTable.empty;
    this.demangled.clear();
  }

  /** Evicted: a process still pointing at it must open the file again. */
  get closed(): boolean {
    return this.evicted;
  }

  private prepareDebugFiles(pathInProcess: string, rootPrefix: string): void {
    // Only a binary without its own symbol table needs one: avoid the opens otherwise.
    if (this.elf.section('.symtab') || this.elf.section('.gopclntab') || this.elf.section('.data.rel.ro.gopclntab')) return;
    try {
      this.debugLink = this.elf.debugLink();
    } catch (err) {
      if (!(err instanceof ElfError)) throw err;
    }
    const candidates = debugFileCandidates(pathInProcess, this.buildId, this.debugLink?.file, this.ctx.debugRoots, rootPrefix);
    this.debugFiles = openDebugCandidates(candidates);
  }

  /**
   * The best source's functions, then `.dynsym`'s (exported functions a source may lack, at
   * addresses it does not have), each a source of one builder: no object per symbol, no section
   * held whole.
   */
  private readSymbols(): SymbolTable {
    const c = this.ctx.counters;
    const elf = this.elf;
    const b = new SymbolTableBuilder();
    const withDynamic = (): SymbolTable => {
      addFunctionSymbols(b, elf, '.dynsym');
      return b.build();
    };
    if (addFunctionSymbols(b, elf, '.symtab') > 0) {
      c.inc('symtab_used');
      return withDynamic();
    }
    if ((addGoFunctions(b, elf) ?? 0) > 0) {
      c.inc('gopclntab_used');
      return withDynamic();
    }
    if (!this.lookForDebugInfo) return withDynamic();
    if (this.addDebugFileSymbols(b)) {
      c.inc('debug_file_found');
      return withDynamic();
    }
    c.inc('missing_debug_file');
    const mini = openMiniDebugInfo(elf, this.ctx.xz);
    if (mini.kind === 'unavailable') c.inc('minidebuginfo_unavailable');
    if (mini.kind === 'ok' && addFunctionSymbols(b, mini.elf, '.symtab') > 0) {
      c.inc('minidebuginfo_used');
      return withDynamic();
    }
    const table = withDynamic();
    if (table.count > 0) c.inc('dynsym_only');
    return table;
  }

  /** The first debug file (build id, then debuglink) that matches and has functions: true when one was added. */
  private addDebugFileSymbols(b: SymbolTableBuilder): boolean {
    const c = this.ctx.counters;
    for (const f of this.debugFiles) {
      try {
        if (!verifyDebugFile(f, this.buildId, this.debugLink?.crc)) {
          c.inc('debug_file_mismatch');
          continue;
        }
        // A source that fails is not added at all: the next candidate starts from the same builder.
        if (addFunctionSymbols(b, f.elf, '.symtab') > 0) return true;
      } catch (err) {
        c.inc(err instanceof ElfError ? 'elf_errors' : 'symbol_read_errors');
      }
    }
    return false;
  }

  private releaseFiles(): void {
    if (this.released) return;
    this.released = true;
    this.elf.close();
    for (const f of this.debugFiles) closeDebugFile(f);
    this.debugFiles = [];
  }
}
