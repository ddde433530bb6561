// /proc/kallsyms: "<hex address> <type> <name>[\t[<module>]]" per line, for the kernel and its
// loaded modules. Only text symbols (t/T, and w/W which are weak functions here) name code. The
// kernel hides the addresses from readers without CAP_SYSLOG (kptr_restrict): every address reads
// as zero, which `usable` reports so the caller can count the fallback.
//
// The file has 100k+ lines (5 MB) and is read again when modules or BPF programs change. It is read
// 256 KiB at a time and parsed byte by byte into columns — addresses as two u32 halves, names as
// bytes in 256 KiB slabs — so neither the file nor a string, BigInt or object per line is held:
// as one string split into rows of objects it took ~15 MB of transient heap, part of the agent's
// start-up peak.
import { closeSync, openSync, readSync } from 'node:fs';
import { resized } from './bytes.js';

export interface KernelSymbolHit {
  name: string;
  /** `[kernel]` for vmlinux, `[<module>]` for a module (e.g. `[ext4]`, `[bpf]`). */
  module: string;
  offset: number;
}

/** A kernel function is never this large: beyond it, an address is in a gap (or an unlisted area). */
const MAX_SYMBOL_REACH = 1 << 20;
const NL = 0x0a;
const SPACE = 0x20;
const TAB = 0x09;
const TWO_32 = 0x1_0000_0000;
/** Bytes read at a time, and the size of a name slab. A line is far shorter (KSYM_NAME_LEN 512 + a module name). */
const CHUNK_BYTES = 256 << 10;

export class KernelSymbols {
  private constructor(
    /** Start addresses, sorted: high and low 32 bits. */
    private readonly hi: Uint32Array,
    private readonly lo: Uint32Array,
    /** Name i is slabs[nameSlabs[i]][nameStarts[i], nameEnds[i]). */
    private readonly nameSlabs: Uint16Array,
    private readonly nameStarts: Uint32Array,
    private readonly nameEnds: Uint32Array,
    private readonly slabs: readonly Buffer[],
    private readonly moduleIndex: Uint16Array,
    private readonly modules: readonly string[],
    /** Lines seen with a non-zero address: zero means the addresses were hidden from us. */
    readonly nonZero: number,
  ) {}

  /** Parses the file's bytes (a string is encoded first). */
  static parse(input: Buffer | string): KernelSymbols {
    const buf = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
    const p = new Parser(0);
    p.lines(buf, 0, buf.length);
    return p.table();
  }

  /**
   * Reads and parses the file at `path` a chunk at a time. `expected`: symbols of the previous
   * read, so the columns are allocated once. Throws the fs error when it cannot be read.
   */
  static read(path: string, expected = 0): KernelSymbols {
    const p = new Parser(expected);
    const fd = openSync(path, 'r');
    try {
      const buf = Buffer.allocUnsafe(CHUNK_BYTES);
      let filled = 0;
      for (;;) {
        const n = readSync(fd, buf, filled, buf.length - filled, null);
        filled += n;
        // Whole lines now, the rest moved to the front for the next read; at the end, everything.
        const end = n === 0 ? filled : buf.lastIndexOf(NL, filled - 1) + 1;
        if (end === 0 && filled === buf.length) {
          filled = 0; // a line longer than a chunk is no kallsyms line: dropped
          continue;
        }
        p.lines(buf, 0, end);
        buf.copy(buf, 0, end, filled);
        filled -= end;
        if (n === 0) break;
      }
    } finally {
      closeSync(fd);
    }
    return p.table();
  }

  /** For Parser.table: sorted columns. */
  static fromColumns(c: {
    hi: Uint32Array; lo: Uint32Array; nameSlabs: Uint16Array; nameStarts: Uint32Array; nameEnds: Uint32Array; slabs: readonly Buffer[];
    moduleIndex: Uint16Array; modules: readonly string[]; nonZero: number;
  }): KernelSymbols {
    return new KernelSymbols(c.hi, c.lo, c.nameSlabs, c.nameStarts, c.nameEnds, c.slabs, c.moduleIndex, c.modules, c.nonZero);
  }

  get count(): number {
    return this.hi.length;
  }

  /** False when every address read as zero (not privileged enough) or nothing was listed. */
  get usable(): boolean {
    return this.nonZero > 0;
  }

  lookup(addr: bigint): KernelSymbolHit | undefined {
    if (!this.usable || addr < 0n || addr >= 1n << 64n) return undefined;
    const hi = Number(addr >> 32n);
    const lo = Number(addr & 0xffffffffn);
    // The last start at or below addr.
    let a = 0;
    let b = this.hi.length - 1;
    let found = -1;
    while (a <= b) {
      const mid = (a + b) >>> 1;
      const h = this.hi[mid]!;
      if (h < hi || (h === hi && this.lo[mid]! <= lo)) {
        found = mid;
        a = mid + 1;
      } else b = mid - 1;
    }
    if (found < 0) return undefined;
    const offset = (hi - this.hi[found]!) * TWO_32 + (lo - this.lo[found]!);
    // Past the last symbol of an area (or of the table) only nearness makes an address plausible.
    if (offset >= MAX_SYMBOL_REACH) return undefined;
    const name = this.slabs[this.nameSlabs[found]!]!.toString('utf8', this.nameStarts[found]!, this.nameEnds[found]!);
    return { name, module: this.modules[this.moduleIndex[found]!]!, offset };
  }

  byteEstimate(): number {
    let bytes = this.hi.length * 20;
    for (const s of this.slabs) bytes += s.length;
    return bytes;
  }
}

function isSpace(c: number): boolean {
  return c === SPACE || (c >= 0x09 && c <= 0x0d);
}

/** Text symbols as columns while the file is read; sorted by address (file order among equals) at the end. */
class Parser {
  private n = 0;
  private hi: Uint32Array;
  private lo: Uint32Array;
  private module: Uint16Array;
  private nameSlab: Uint16Array;
  private nameStart: Uint32Array;
  private nameEnd: Uint32Array;
  private readonly slabs: Buffer[] = [];
  private slabUsed = CHUNK_BYTES;
  private readonly modules = ['[kernel]'];
  private readonly moduleIds = new Map<string, number>([['[kernel]', 0]]);
  /** Lines of one module are contiguous: its name is decoded once per run of lines. */
  private lastModule = Buffer.alloc(0);
  private lastModuleId = 0;
  private nonZero = 0;
  private hexHi = 0;
  private hexLo = 0;

  constructor(expected: number) {
    const size = Math.max(1024, Math.ceil(expected * 1.05));
    this.hi = new Uint32Array(size);
    this.lo = new Uint32Array(size);
    this.module = new Uint16Array(size);
    this.nameSlab = new Uint16Array(size);
    this.nameStart = new Uint32Array(size);
    this.nameEnd = new Uint32Array(size);
  }

  /** The lines of buf[start, end) (the last one may lack its newline). */
  lines(buf: Buffer, start: number, end: number): void {
    let pos = start;
    while (pos < end) {
      const line = pos;
      let sp1 = -1;
      while (pos < end && buf[pos] !== NL) {
        if (sp1 < 0 && buf[pos] === SPACE) sp1 = pos;
        pos++;
      }
      const eol = pos++;
      if (sp1 <= line || eol - sp1 < 4 || buf[sp1 + 2] !== SPACE) continue;
      if (!this.hex(buf, line, sp1)) continue;
      if (this.hexHi !== 0 || this.hexLo !== 0) this.nonZero++;
      const type = buf[sp1 + 1];
      if (type !== 0x74 && type !== 0x54 && type !== 0x77 && type !== 0x57) continue; // t T w W
      const nameStart = sp1 + 3;
      let tab = nameStart;
      while (tab < eol && buf[tab] !== TAB) tab++;
      let module = 0;
      if (tab < eol) {
        let ms = tab + 1;
        let me = eol;
        while (ms < me && isSpace(buf[ms]!)) ms++;
        while (me > ms && isSpace(buf[me - 1]!)) me--;
        if (me > ms) {
          const id = this.moduleId(buf, ms, me);
          if (id === undefined) continue;
          module = id;
        }
      }
      if (tab > nameStart) this.push(buf, nameStart, tab, module);
    }
  }

  table(): KernelSymbols {
    const { n, hi, lo } = this;
    // The kernel lists its own symbols in address order, modules after: sort only when needed.
    let sorted = true;
    for (let i = 1; i < n && sorted; i++) if (hi[i - 1]! > hi[i]! || (hi[i - 1] === hi[i] && lo[i - 1]! > lo[i]!)) sorted = false;
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    if (!sorted) order.sort((a, b) => hi[a]! - hi[b]! || lo[a]! - lo[b]! || a - b);
    const pick = <T extends Uint32Array | Uint16Array>(a: T): T => {
      const out = resized(a, n, 0); // a new column of a's kind, exactly n long
      for (let k = 0; k < n; k++) out[k] = a[order[k]!]!;
      return out;
    };
    const slabs = this.slabs.length === 0 ? [] : [...this.slabs.slice(0, -1), Buffer.from(this.slabs.at(-1)!.subarray(0, this.slabUsed))];
    return KernelSymbols.fromColumns({
      hi: pick(hi), lo: pick(lo), nameSlabs: pick(this.nameSlab), nameStarts: pick(this.nameStart), nameEnds: pick(this.nameEnd), slabs,
      moduleIndex: pick(this.module), modules: this.modules, nonZero: this.nonZero,
    });
  }

  /** The module's index, or undefined past 65535 modules (the line is dropped). */
  private moduleId(buf: Buffer, ms: number, me: number): number | undefined {
    if (me - ms === this.lastModule.length && buf.compare(this.lastModule, 0, this.lastModule.length, ms, me) === 0) return this.lastModuleId;
    const m = buf.toString('utf8', ms, me);
    let id = this.moduleIds.get(m);
    if (id === undefined) {
      id = this.modules.length;
      if (id > 0xffff) return undefined;
      this.modules.push(m.startsWith('[') ? m : `[${m}]`);
      this.moduleIds.set(m, id);
    }
    this.lastModule = Buffer.from(buf.subarray(ms, me));
    this.lastModuleId = id;
    return id;
  }

  private push(buf: Buffer, nameStart: number, nameEnd: number, module: number): void {
    const len = Math.min(nameEnd - nameStart, CHUNK_BYTES);
    if (this.slabUsed + len > CHUNK_BYTES) {
      if (this.slabs.length > 0xffff) return;
      this.slabs.push(Buffer.allocUnsafe(CHUNK_BYTES));
      this.slabUsed = 0;
    }
    if (this.n === this.hi.length) this.grow();
    const i = this.n++;
    this.hi[i] = this.hexHi;
    this.lo[i] = this.hexLo;
    this.module[i] = module;
    this.nameSlab[i] = this.slabs.length - 1;
    this.nameStart[i] = this.slabUsed;
    const slab = this.slabs[this.slabs.length - 1]!;
    for (let j = nameStart; j < nameStart + len; j++) slab[this.slabUsed++] = buf[j]!;
    this.nameEnd[i] = this.slabUsed;
  }

  private grow(): void {
    const size = this.hi.length * 2;
    this.hi = resized(this.hi, size);
    this.lo = resized(this.lo, size);
    this.module = resized(this.module, size);
    this.nameSlab = resized(this.nameSlab, size);
    this.nameStart = resized(this.nameStart, size);
    this.nameEnd = resized(this.nameEnd, size);
  }

  /** buf[start, end) as a 64-bit hex number into hexHi/hexLo; false unless it is 1–16 hex digits. */
  private hex(buf: Buffer, start: number, end: number): boolean {
    const len = end - start;
    if (len < 1 || len > 16) return false;
    let hi = 0;
    let lo = 0;
    for (let i = start; i < end; i++) {
      const c = buf[i]!;
      const d = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : -1;
      if (d < 0) return false;
      // The 64-bit value shifted left by a digit: lo's top nibble moves into hi.
      hi = ((hi << 4) | (lo >>> 28)) >>> 0;
      lo = ((lo << 4) | d) >>> 0;
    }
    this.hexHi = hi;
    this.hexLo = lo;
    return true;
  }
}
