// What the BPF side needs to trace Go crypto/tls in one binary: where to put uprobes on
// crypto/tls.(*Conn).Read and Write (the entry and every RET — uretprobes corrupt Go stacks, which the
// runtime moves and unwinds itself) and the struct offsets that lead from the *tls.Conn to the socket
// fd and from the goroutine (g) to its id.
//
//   functions: .symtab (exact sizes), else .gopclntab (survives `-ldflags='-s -w'`; ends at the next
//              function, so alignment padding is decoded too: INT3 on amd64, zero words on arm64);
//   returns:   x86-64 instruction walk from entry to end (x86-decode.ts), arm64 word scan (insn-arm64.ts);
//   offsets:   DWARF when present, else the per-release table (go-offsets-table.ts);
//   version:   .go.buildinfo (go-buildinfo.ts).
//
// The fd path, as the kernel side follows it (Go's net and internal/poll sources):
//   c    = *tls.Conn                      (RAX at entry on amd64: the receiver)
//   data = *(c + tlsConnConn + 8)          net.Conn interface {itab, data}: data is the *net.TCPConn
//   nfd  = *(data + tcpConnConnFd)         TCPConn{conn}; conn{fd *netFD}
//   fd   = *(int64*)(nfd + netFdPfd + pfdSysfd)   netFD{pfd poll.FD}; poll.FD{fdmu; Sysfd int}
// Only valid when the interface holds a *net.TCPConn: compare its itab with `tcpConnItab` (+ load bias
// for PIE) where the symbol is known.
import { type DwarfStruct, DwarfError, DwarfInfo } from './dwarf.js';
import { ET_DYN, ElfFile, STT_FUNC } from './elf.js';
import { type GoBuildInfo, type GoVersion, GoBuildInfoError, parseGoVersion, readGoBuildInfo } from './go-buildinfo.js';
import { type GoTlsStructOffsets, goTlsOffsetsFor } from './go-offsets-table.js';
import { findSymbolsNamed } from './elf-functions.js';
import { findGoFunctions, goFunctionRange } from './gopclntab.js';
import { arm64ReturnOffsets } from './insn-arm64.js';
import { X86DecodeError, x86ReturnOffsets } from './x86-decode.js';

export type { GoTlsStructOffsets } from './go-offsets-table.js';

export const GO_TLS_READ = 'crypto/tls.(*Conn).Read';
export const GO_TLS_WRITE = 'crypto/tls.(*Conn).Write';
/** Every `go` statement ends here; span tags pass from the creating goroutine to the new one. */
export const GO_NEWPROC1 = 'runtime.newproc1';

export type GoTlsErrorReason =
  /** Neither x86-64 nor arm64. */
  | 'unsupported-arch'
  /** The function's code could not be read or decoded, or has no RET. */
  | 'bad-function'
  /** No DWARF, and the Go release is not in the offsets table. */
  | 'unknown-layout'
  /** The ELF, build info or function table is corrupt. */
  | 'unreadable';

export class GoTlsError extends Error {
  constructor(
    readonly reason: GoTlsErrorReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'GoTlsError';
  }
}

/** Where to attach for one function. */
export interface GoProbePoints {
  symbol: string;
  /** Virtual address of the entry (ELF st_value / pclntab entry). */
  address: number;
  /** Bytes of code walked (symbol size, or up to the next function from .gopclntab). */
  size: number;
  /** File offset of the first instruction (uprobes attach at file offsets). */
  entryOffset: number;
  /** File offsets of every RET instruction, ascending. */
  returnOffsets: number[];
}

export interface GoTlsTarget {
  /** From .go.buildinfo, as written: "go1.26.8". */
  goVersion: string;
  /** The main module (`mod` line), when the binary has module info. */
  modulePath?: string;
  arch: 'amd64' | 'arm64';
  /**
   * Arguments and results in registers (Go's internal ABI): amd64 since Go 1.17, arm64 since 1.18.
   * amd64: receiver in RAX, b []byte in RBX/RCX/RDI, results (n, err) in RAX, RBX/RCX; g in R14.
   * arm64: receiver in R0, b in R1/R2/R3, results in R0, R1/R2; g in R28.
   */
  registerAbi: boolean;
  read: GoProbePoints;
  write: GoProbePoints;
  offsets: GoTlsStructOffsets;
  offsetsSource: 'dwarf' | 'table';
  /** False when the table row was measured on older releases than this binary's (assumed unchanged). */
  offsetsVerified: boolean;
  functionsSource: 'symtab' | 'gopclntab';
  /** Position-independent (ET_DYN): addresses in the file are not those in memory. */
  pie: boolean;
  /** Virtual address of `go:itab.*net.TCPConn,net.Conn` (from .symtab; undefined when stripped). */
  tcpConnItab?: number;
  /** Virtual address of `go:itab.*net.UnixConn,net.Conn` (TLS over a unix socket has the same fd path). */
  unixConnItab?: number;
  /** Why a preferred source was not used (e.g. DWARF that did not parse), for the agent's log. */
  warnings: string[];
}

/** The values of `struct go_tls_layout` (bpf/include/sockets.h) for this binary. */
export interface GoTlsBpfLayout {
  connData: number;
  tcpConnFd: number;
  netFdSysfd: number;
  /** 0xffffffff when unknown. */
  vers: number;
  /**
   * Itab addresses a conn's net.Conn may hold for the fd path to be valid (*net.TCPConn,
   * *net.UnixConn); empty when unknown (stripped) or not fixed (PIE: the address moves per process).
   */
  connItabs: number[];
}

export const EM_X86_64 = 62;
const EM_AARCH64 = 183;
/** A Go function larger than this is not crypto/tls.(*Conn).Read: the table or symbol is garbage. */
const MAX_FUNCTION_BYTES = 1 << 20;
const POINTER_SIZE = 8;

/**
 * Analyzes a Go binary for crypto/tls tracing. Undefined when the file is not a Go program or does not
 * contain crypto/tls.(*Conn).Read and Write; throws GoTlsError when it does but cannot be used.
 */
export function analyzeGoTlsBinary(path: string): GoTlsTarget | undefined {
  let elf: ElfFile;
  try {
    elf = ElfFile.open(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== undefined) throw err; // I/O: the caller's concern
    return undefined; // not an ELF file
  }
  try {
    return analyzeGoTlsElf(elf);
  } finally {
    elf.close();
  }
}

/** As analyzeGoTlsBinary, for an ELF file the caller already opened (and closes). */
export function analyzeGoTlsElf(elf: ElfFile): GoTlsTarget | undefined {
  const info = goBuildInfoOf(elf);
  if (!info) return undefined;
  const arch = goArchOf(elf);
  if (!arch) throw new GoTlsError('unsupported-arch', `Go binary for ELF machine ${elf.machine}: only x86-64 and arm64 are supported`);
  const version = parseGoVersion(info.goVersion);

  const found = locateFunctions(elf);
  if (!found) return undefined;
  const warnings: string[] = [];
  const read = goProbePoints(elf, arch, GO_TLS_READ, found.read);
  const write = goProbePoints(elf, arch, GO_TLS_WRITE, found.write);
  const layout = structOffsets(elf, info.goVersion, version, warnings);

  const target: GoTlsTarget = {
    goVersion: info.goVersion,
    arch,
    registerAbi: version !== undefined && registerAbi(arch, version),
    read,
    write,
    offsets: layout.offsets,
    offsetsSource: layout.source,
    offsetsVerified: layout.verified,
    functionsSource: found.source,
    pie: elf.type === ET_DYN,
    warnings,
  };
  if (info.main?.path) target.modulePath = info.main.path;
  if (found.tcpConnItab !== undefined) target.tcpConnItab = found.tcpConnItab;
  if (found.unixConnItab !== undefined) target.unixConnItab = found.unixConnItab;
  return target;
}

/**
 * Where to probe goroutine creation (runtime.newproc1: the creator in the second argument register,
 * the new g in the first result register). Undefined for a file that is not a Go program, passes
 * arguments on the stack (before Go 1.17 on amd64, 1.18 on arm64), or where the function is not found.
 * Throws GoTlsError when the function is there but its code cannot be used.
 */
export function goSpawnProbePoints(elf: ElfFile): GoProbePoints | undefined {
  const info = goBuildInfoOf(elf);
  if (!info) return undefined;
  const arch = goArchOf(elf);
  const version = parseGoVersion(info.goVersion);
  if (arch === undefined || version === undefined || !registerAbi(arch, version)) return undefined;
  const f = findGoFunction(elf, GO_NEWPROC1);
  return f === undefined ? undefined : goProbePoints(elf, arch, GO_NEWPROC1, f);
}

/** The build info of a Go program; undefined for any other file. */
function goBuildInfoOf(elf: ElfFile): GoBuildInfo | undefined {
  try {
    return readGoBuildInfo(elf);
  } catch (err) {
    if (err instanceof GoBuildInfoError) throw new GoTlsError('unreadable', err.message, { cause: err });
    throw err;
  }
}

function goArchOf(elf: ElfFile): 'amd64' | 'arm64' | undefined {
  return elf.machine === EM_X86_64 ? 'amd64' : elf.machine === EM_AARCH64 ? 'arm64' : undefined;
}

function registerAbi(arch: 'amd64' | 'arm64', v: GoVersion): boolean {
  return v.major === 1 && v.minor >= (arch === 'amd64' ? 17 : 18);
}

/** One function of a Go binary by name: .symtab (exact size), else .gopclntab; neither read whole. */
export function findGoFunction(elf: ElfFile, name: string): FunctionRange | undefined {
  try {
    return goFunctionRange(elf, name);
  } catch (err) {
    throw new GoTlsError('unreadable', `function table: ${(err as Error).message}`, { cause: err });
  }
}

/** What `struct go_tls_layout` wants: offsets folded along the fd path. */
export function goTlsBpfLayout(t: GoTlsTarget): GoTlsBpfLayout {
  const o = t.offsets;
  return {
    connData: o.tlsConnConn + POINTER_SIZE,
    tcpConnFd: o.tcpConnConnFd,
    netFdSysfd: o.netFdPfd + o.pfdSysfd,
    vers: o.tlsConnVers ?? 0xffffffff,
    connItabs: t.pie ? [] : [t.tcpConnItab, t.unixConnItab].filter((a): a is number => a !== undefined),
  };
}

export interface FunctionRange {
  address: number;
  size: number;
}

interface Located {
  read: FunctionRange;
  write: FunctionRange;
  source: 'symtab' | 'gopclntab';
  tcpConnItab?: number;
  unixConnItab?: number;
}

const ITAB_NAMES = new Set(['go:itab.*net.TCPConn,net.Conn', 'go.itab.*net.TCPConn,net.Conn']);
const UNIX_ITAB_NAMES = new Set(['go:itab.*net.UnixConn,net.Conn', 'go.itab.*net.UnixConn,net.Conn']);

function locateFunctions(elf: ElfFile): Located | undefined {
  try {
    return locateInSymtab(elf) ?? locateInPclntab(elf);
  } catch (err) {
    throw new GoTlsError('unreadable', `function table: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Read and Write with their exact sizes, and the conn itabs, from `.symtab`: looked up by name, not
 * listed (a large Go program has 100k+ symbols). Undefined when the table lacks either function.
 */
function locateInSymtab(elf: ElfFile): Located | undefined {
  const functions = new Set([GO_TLS_READ, GO_TLS_WRITE]);
  const syms = findSymbolsNamed(elf, '.symtab', [...functions, ...ITAB_NAMES, ...UNIX_ITAB_NAMES],
    (s) => !functions.has(s.name) || (s.type === STT_FUNC && s.size > 0));
  const read = syms.get(GO_TLS_READ);
  const write = syms.get(GO_TLS_WRITE);
  if (!read || !write) return undefined;
  const itab = (names: ReadonlySet<string>): number | undefined => [...names].map((n) => syms.get(n)?.value).find((v) => v !== undefined);
  const tcpConnItab = itab(ITAB_NAMES);
  const unixConnItab = itab(UNIX_ITAB_NAMES);
  return {
    read: { address: read.value, size: read.size },
    write: { address: write.value, size: write.size },
    source: 'symtab',
    ...(tcpConnItab !== undefined ? { tcpConnItab } : {}),
    ...(unixConnItab !== undefined ? { unixConnItab } : {}),
  };
}

/** Stripped (`-ldflags=-s`): Go's own function table is always there, read in windows. */
function locateInPclntab(elf: ElfFile): Located | undefined {
  const funcs = findGoFunctions(elf, [GO_TLS_READ, GO_TLS_WRITE]);
  const read = funcs.get(GO_TLS_READ);
  const write = funcs.get(GO_TLS_WRITE);
  if (!read || !write) return undefined;
  return {
    read: { address: read.entry, size: read.end - read.entry },
    write: { address: write.entry, size: write.end - write.entry },
    source: 'gopclntab',
  };
}

/** The entry and every RET of a Go function (dynamic logging probes any function the same way). */
export function goProbePoints(elf: ElfFile, arch: 'amd64' | 'arm64', symbol: string, f: FunctionRange): GoProbePoints {
  const entryOffset = elf.addressToOffset(f.address);
  if (entryOffset === undefined) throw new GoTlsError('bad-function', `${symbol} at 0x${f.address.toString(16)} is in no loaded segment`);
  if (f.size <= 0 || f.size > MAX_FUNCTION_BYTES) throw new GoTlsError('bad-function', `${symbol}: implausible size ${f.size}`);
  // The whole function must sit in the segment that holds its entry.
  const seg = elf.loadSegmentForOffset(entryOffset);
  if (!seg || entryOffset + f.size > seg.offset + seg.filesz) throw new GoTlsError('bad-function', `${symbol} runs past its segment`);
  let code: Buffer;
  let returns: number[];
  try {
    code = elf.readAt(entryOffset, f.size);
    returns = arch === 'amd64' ? x86ReturnOffsets(code) : arm64ReturnOffsets(code);
  } catch (err) {
    const why = err instanceof X86DecodeError ? `instruction decoding failed: ${err.message}` : (err as Error).message;
    throw new GoTlsError('bad-function', `${symbol}: ${why}`, { cause: err });
  }
  if (returns.length === 0) throw new GoTlsError('bad-function', `${symbol}: no RET instruction found`);
  return { symbol, address: f.address, size: f.size, entryOffset, returnOffsets: returns.map((r) => entryOffset + r) };
}

/** Struct and field names read from DWARF, per offset. */
const DWARF_FIELDS = {
  tlsConnConn: [['crypto/tls.Conn', 'conn']],
  tcpConnConnFd: [['net.TCPConn', 'conn'], ['net.conn', 'fd']],
  netFdPfd: [['net.netFD', 'pfd']],
  pfdSysfd: [['internal/poll.FD', 'Sysfd']],
  gGoid: [['runtime.g', 'goid']],
  tlsConnVers: [['crypto/tls.Conn', 'vers']],
  tlsConnIsClient: [['crypto/tls.Conn', 'isClient']],
} as const satisfies Record<keyof GoTlsStructOffsets, ReadonlyArray<readonly [string, string]>>;

const OPTIONAL_FIELDS = new Set<keyof GoTlsStructOffsets>(['tlsConnVers', 'tlsConnIsClient']);

/** Reads the offsets from DWARF; undefined (with a warning) when DWARF is absent, corrupt or incomplete. */
export function goTlsOffsetsFromDwarf(elf: ElfFile, warnings: string[] = []): GoTlsStructOffsets | undefined {
  let dwarf: DwarfInfo | undefined;
  try {
    dwarf = DwarfInfo.fromElf(elf);
    if (!dwarf) return undefined;
    const structs = new Map<string, DwarfStruct | undefined>();
    const member = (type: string, field: string): number | undefined => {
      if (!structs.has(type)) structs.set(type, dwarf!.findStruct(type));
      return structs.get(type)?.members.find((m) => m.name === field)?.offset;
    };
    const out: Partial<GoTlsStructOffsets> = {};
    for (const [key, path] of Object.entries(DWARF_FIELDS) as Array<[keyof GoTlsStructOffsets, ReadonlyArray<readonly [string, string]>]>) {
      let sum = 0;
      for (const [type, field] of path) {
        const off = member(type, field);
        if (off === undefined) {
          if (OPTIONAL_FIELDS.has(key)) {
            sum = NaN;
            break;
          }
          warnings.push(`DWARF has no ${type}.${field}`);
          return undefined;
        }
        sum += off;
      }
      if (!Number.isNaN(sum)) out[key] = sum;
    }
    return out as GoTlsStructOffsets;
  } catch (err) {
    if (err instanceof DwarfError) {
      warnings.push(`DWARF unreadable: ${err.message}`);
      return undefined;
    }
    throw err;
  }
}

function structOffsets(elf: ElfFile, goVersion: string, version: GoVersion | undefined, warnings: string[]): { offsets: GoTlsStructOffsets; source: 'dwarf' | 'table'; verified: boolean } {
  const row = version && goTlsOffsetsFor(version);
  // A release the table has measured (its rows are checked against the DWARF of real builds by
  // test/symbols/go-offsets-table.test.ts): no need to index the binary's DWARF, which costs a
  // large Go binary ~0.3 s of the agent's main thread and tens of MiB, at every new binary.
  if (row?.verified === true) return { offsets: row.offsets, source: 'table', verified: true };
  const fromDwarf = goTlsOffsetsFromDwarf(elf, warnings);
  if (fromDwarf) {
    // DWARF is authoritative; a difference from a measured row means the table needs a new row.
    const differs = row?.verified && (Object.keys(fromDwarf) as Array<keyof GoTlsStructOffsets>).some((k) => row.offsets[k] !== fromDwarf[k]);
    if (differs) warnings.push(`DWARF offsets of ${goVersion} differ from the table's: ${JSON.stringify(fromDwarf)}`);
    return { offsets: fromDwarf, source: 'dwarf', verified: true };
  }
  if (!row) throw new GoTlsError('unknown-layout', `no DWARF and no offsets table entry for ${goVersion}`);
  if (!row.verified) warnings.push(`offsets for ${goVersion} assumed from the newest measured release`);
  return { offsets: row.offsets, source: 'table', verified: row.verified };
}
