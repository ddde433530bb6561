// /proc/kallsyms: "<hex address> <type> <name>[\t[<module>]]" per line, for the kernel and its
// loaded modules. Only text symbols (t/T, and w/W which are weak functions here) name code. The
// kernel hides the addresses from readers without CAP_SYSLOG (kptr_restrict): every address reads
// as zero, which `usable` reports so the caller can count the fallback.
import { lastAtOrBelow } from './search.js';

export interface KernelSymbolHit {
  name: string;
  /** `[kernel]` for vmlinux, `[<module>]` for a module (e.g. `[ext4]`, `[bpf]`). */
  module: string;
  offset: number;
}

/** A kernel function is never this large: beyond it, an address is in a gap (or an unlisted area). */
const MAX_SYMBOL_REACH = 1n << 20n;

export class KernelSymbols {
  private constructor(
    private readonly addrs: BigUint64Array,
    private readonly names: readonly string[],
    private readonly moduleIndex: Uint16Array,
    private readonly modules: readonly string[],
    /** Lines seen with a non-zero address: zero means the addresses were hidden from us. */
    readonly nonZero: number,
  ) {}

  static parse(text: string): KernelSymbols {
    const rows: { addr: bigint; name: string; module: number }[] = [];
    const modules = ['[kernel]'];
    const moduleIds = new Map<string, number>([['[kernel]', 0]]);
    let nonZero = 0;
    let pos = 0;
    while (pos < text.length) {
      let eol = text.indexOf('\n', pos);
      if (eol < 0) eol = text.length;
      const line = text.slice(pos, eol);
      pos = eol + 1;
      const sp1 = line.indexOf(' ');
      if (sp1 <= 0 || line.length < sp1 + 4 || line[sp1 + 2] !== ' ') continue;
      const type = line[sp1 + 1];
      const hex = line.slice(0, sp1);
      if (!/^[0-9a-fA-F]{1,16}$/.test(hex)) continue;
      const addr = BigInt(`0x${hex}`);
      if (addr !== 0n) nonZero++;
      if (type !== 't' && type !== 'T' && type !== 'w' && type !== 'W') continue;
      const rest = line.slice(sp1 + 3);
      const tab = rest.indexOf('\t');
      const name = tab < 0 ? rest : rest.slice(0, tab);
      let module = 0;
      if (tab >= 0) {
        const m = rest.slice(tab + 1).trim();
        if (m) {
          let id = moduleIds.get(m);
          if (id === undefined) {
            id = modules.length;
            if (id > 0xffff) continue;
            modules.push(m.startsWith('[') ? m : `[${m}]`);
            moduleIds.set(m, id);
          }
          module = id;
        }
      }
      if (name) rows.push({ addr, name, module });
    }
    rows.sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0));
    const addrs = new BigUint64Array(rows.length);
    const moduleIndex = new Uint16Array(rows.length);
    const names: string[] = [];
    for (const [i, r] of rows.entries()) {
      addrs[i] = r.addr;
      moduleIndex[i] = r.module;
      names.push(r.name);
    }
    return new KernelSymbols(addrs, names, moduleIndex, modules, nonZero);
  }

  get count(): number {
    return this.names.length;
  }

  /** False when every address read as zero (not privileged enough) or nothing was listed. */
  get usable(): boolean {
    return this.nonZero > 0;
  }

  lookup(addr: bigint): KernelSymbolHit | undefined {
    if (!this.usable) return undefined;
    const found = lastAtOrBelow(this.addrs, addr);
    if (found < 0) return undefined;
    const start = this.addrs[found]!;
    // Past the last symbol of an area (or of the table) only nearness makes an address plausible.
    if (addr - start >= MAX_SYMBOL_REACH) return undefined;
    return { name: this.names[found]!, module: this.modules[this.moduleIndex[found]!]!, offset: Number(addr - start) };
  }

  byteEstimate(): number {
    let bytes = this.addrs.length * 10;
    for (const n of this.names) bytes += 32 + n.length;
    return bytes;
  }
}
