// Everything user space works out before a function is probed, from its binary alone: that it is a
// Go binary with DWARF, where the function is (entry and every RET, as file offsets), its signature,
// the capture plans for the arguments asked for and the results, where the goroutine id is, and the
// names of the itabs and type descriptors (to name an error's dynamic type). Refusals say what is
// wrong and what would work.
import { EM_X86_64, GoTlsError, goProbePoints } from '../../symbols/go-tls.js';
import { DwarfError, DwarfInfo } from '../../symbols/dwarf.js';
import { ElfError, ElfFile } from '../../symbols/elf.js';
import { GoBuildInfoError, readGoBuildInfo } from '../../symbols/go-buildinfo.js';
import { type GoFunctionSignature, GoDwarf } from '../../symbols/go-dwarf.js';
import { assignAbi } from './abi.js';
import { type ValuePlan, PlanError, checkCaptureCount, compileExpression, planAssigned } from './plan.js';

export type DynlogRefusal = 'not-elf' | 'not-go' | 'unsupported-arch' | 'no-dwarf' | 'not-found' | 'inlined' | 'bad-expression' | 'bad-function';

export class DynlogError extends Error {
  constructor(readonly reason: DynlogRefusal, message: string) {
    super(message);
  }
}

export interface FunctionProbe {
  binary: string;
  function: string;
  goVersion: string;
  entryOffset: number;
  returnOffsets: number[];
  signature: GoFunctionSignature;
  entry: ValuePlan[];
  returns: ValuePlan[];
  goidOffset: number;
  /** itab and type descriptor addresses → Go type names ("*errors.errorString"), non-PIE binaries. */
  typeNames: Map<bigint, string>;
}

export interface AnalyzeOptions {
  /** Expressions over the arguments; none: every argument. */
  args?: string[];
  /** Capture the results too (the call's duration is there either way). */
  returns: boolean;
  /** Bytes kept per string or slice. */
  bound: number;
}

export function analyzeFunction(binary: string, fn: string, o: AnalyzeOptions): FunctionProbe {
  let elf: ElfFile;
  try {
    elf = ElfFile.open(binary);
  } catch (e) {
    if (e instanceof ElfError) throw new DynlogError('not-elf', `${binary} is not an ELF executable: ${e.message}`);
    throw e;
  }
  try {
    let info: ReturnType<typeof readGoBuildInfo>;
    try {
      info = readGoBuildInfo(elf);
    } catch (e) {
      // A damaged or truncated file: the Go build information was found but cannot be read.
      if (e instanceof GoBuildInfoError) throw new DynlogError('not-go', `${binary} is damaged: ${e.message}`);
      throw e;
    }
    if (info === undefined) throw new DynlogError('not-go', `${binary} is not a Go program (no Go build information): dynamic logging reads Go's ABI and DWARF; for other programs, write a bpftrace script (lantern bpftrace)`);
    if (elf.machine !== EM_X86_64) throw new DynlogError('unsupported-arch', `${binary}: only x86-64 Go binaries are supported for now`);
    let dwarf: DwarfInfo | undefined;
    try {
      dwarf = DwarfInfo.fromElf(elf);
    } catch (e) {
      if (e instanceof DwarfError) throw new DynlogError('no-dwarf', `${binary}: its DWARF is unreadable (${e.message})`);
      throw e;
    }
    if (dwarf === undefined) {
      throw new DynlogError('no-dwarf', `${binary} has no DWARF (built with -ldflags=-w or stripped): argument types and names are unknown. ` +
        'Function-level tracing of Go TLS and protocols still works; rebuild without -w to log arguments');
    }
    const go = new GoDwarf(dwarf);
    const sig = go.signature(fn);
    if ('missing' in sig) {
      if (sig.missing === 'inlined' || inlinedName(elf, fn)) {
        throw new DynlogError('inlined', `${fn} is inlined into every caller, so it has no code of its own to probe: add //go:noinline, or log its caller`);
      }
      throw new DynlogError('not-found', `${fn} is not a function of ${binary}${suggest(fn, go.functionNames())}`);
    }
    let points: ReturnType<typeof goProbePoints>;
    try {
      points = goProbePoints(elf, 'amd64', fn, { address: sig.lowPc, size: sig.highPc - sig.lowPc });
    } catch (e) {
      if (e instanceof GoTlsError) throw new DynlogError('bad-function', e.message);
      throw e;
    }
    const abi = assignAbi(sig.params);
    let entry: ValuePlan[];
    let returns: ValuePlan[] = [];
    try {
      entry = (o.args ?? abi.args.map((a) => a.name)).map((e) => compileExpression(e, abi.args, o.bound));
      if (o.returns) returns = abi.results.map((r, i) => planAssigned(`lantern.return.${i}`, r, o.bound));
      checkCaptureCount(entry);
      checkCaptureCount(returns);
    } catch (e) {
      if (e instanceof PlanError) throw new DynlogError('bad-expression', `${fn}: ${e.message}`);
      throw e;
    }
    return {
      binary, function: fn, goVersion: info.goVersion, entryOffset: points.entryOffset, returnOffsets: points.returnOffsets,
      signature: sig, entry, returns, goidOffset: goidOffset(dwarf), typeNames: typeNames(elf),
    };
  } catch (e) {
    // A section table or symbol table cut short, found past the headers.
    if (e instanceof ElfError) throw new DynlogError('not-elf', `${binary} is damaged: ${e.message}`);
    throw e;
  } finally {
    elf.close();
  }
}

/** runtime.g.goid from DWARF (it moved between releases: 152, 160, 152). */
function goidOffset(dwarf: DwarfInfo): number {
  return dwarf.findStruct('runtime.g')?.members.find((m) => m.name === 'goid')?.offset ?? 152;
}

/** go:itab.*errors.errorString,error → *errors.errorString; type:main.User → main.User. */
function typeNames(elf: ElfFile): Map<bigint, string> {
  const out = new Map<bigint, string>();
  for (const s of elf.symbols('.symtab')) {
    const itab = /^go[:.]itab\.(.+),[^,]+$/.exec(s.name);
    if (itab !== null) out.set(BigInt(s.value), itab[1] as string);
    else if (s.name.startsWith('type:') && !s.name.startsWith('type:.')) out.set(BigInt(s.value), s.name.slice(5));
  }
  return out;
}

/** Whether Go's function name table knows `fn` although no DWARF function has code: inlined only. */
function inlinedName(elf: ElfFile, fn: string): boolean {
  const tab = elf.section('.gopclntab');
  if (tab === undefined) return false;
  return elf.sectionData(tab).includes(Buffer.from(`\0${fn}\0`));
}

/** " (did you mean main.(*Server).Login?)": the names whose last part is closest, same package first. */
export function suggest(fn: string, names: string[]): string {
  const split = (n: string): { pkg: string; last: string } => {
    const lastDot = n.lastIndexOf('.');
    const pkg = n.slice(0, n.search(/\.[^/]*$/) === -1 ? 0 : n.indexOf('.', n.lastIndexOf('/') + 1));
    return { pkg, last: n.slice(lastDot + 1).toLowerCase() };
  };
  const want = split(fn);
  const scored = names.map((n) => {
    const h = split(n);
    return { n, d: distance(want.last, h.last) + (h.pkg === want.pkg ? 0 : 2) };
  }).filter((x) => x.d <= Math.max(2, Math.floor(want.last.length / 3))).sort((a, b) => a.d - b.d || a.n.length - b.n.length).slice(0, 5);
  return scored.length === 0 ? '' : ` (did you mean ${scored.map((x) => x.n).join(', ')}?)`;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}
