// A small kernel-generated file read again and again (/proc/stat with each CPU-priority tick, the
// CPU's PSI with each of its host windows): kept open and read from its start into one buffer. readFileSync opened, stat'ed, read and closed it,
// through option parsing and a string made of the whole file, each time: with the code cold between
// ticks (100 ms apart, the hot path's code and data in the caches), ~1-2.5 % of the agent's JS thread
// under load (perf).
import { closeSync, openSync, readSync } from 'node:fs';

export class KeptFile {
  #fd = -1;
  #buf = Buffer.alloc(4096);

  constructor(private readonly path: string) {}

  /**
   * The file's bytes as they are now: a view of this reader's buffer, valid until the next read.
   * Throws when it cannot be opened or read (then opened again at the next call).
   */
  read(): Uint8Array {
    if (this.#fd < 0) this.#fd = openSync(this.path, 'r');
    try {
      for (;;) {
        const n = readSync(this.#fd, this.#buf, 0, this.#buf.length, 0);
        if (n < this.#buf.length) return this.#buf.subarray(0, n);
        // Filled: the file may be longer (an intr line of many interrupts): read it whole.
        this.#buf = Buffer.alloc(this.#buf.length * 2);
      }
    } catch (e) {
      this.close();
      throw e;
    }
  }

  close(): void {
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#fd = -1;
  }

  /** `read` given the file at `path` kept open for it alone, then closed: a reader's one-shot form. */
  static once<T>(path: string, read: (file: KeptFile) => T): T {
    const file = new KeptFile(path);
    try {
      return read(file);
    } finally {
      file.close();
    }
  }
}

const CPU = [0x63, 0x70, 0x75]; // "cpu"

/**
 * Idle and iowait ticks (USER_HZ) of the CPUs in `cpus`, from /proc/stat's "cpuN user nice system
 * idle iowait …" lines (the per-CPU lines follow the total "cpu " line, before any other). Parsed
 * from the bytes: no string of the file, no line split, no regular expression.
 */
export function idleTicksOf(stat: Uint8Array, cpus: ReadonlySet<number>): number {
  let ticks = 0;
  let p = 0;
  const n = stat.length;
  while (p < n) {
    if (!startsWith(stat, p, CPU)) break;
    p += 3;
    let cpu = -1;
    while (p < n && isDigit(stat[p]!)) cpu = (cpu < 0 ? 0 : cpu * 10) + stat[p++]! - 0x30;
    // Fields 1-5: user nice system idle iowait; idle and iowait counted.
    for (let field = 1; field <= 5 && p < n && stat[p] !== 0x0a; field++) {
      while (p < n && stat[p] === 0x20) p++;
      let v = 0;
      while (p < n && isDigit(stat[p]!)) v = v * 10 + stat[p++]! - 0x30;
      if (field >= 4 && cpu >= 0 && cpus.has(cpu)) ticks += v;
    }
    while (p < n && stat[p] !== 0x0a) p++;
    p++;
  }
  return ticks;
}

const SOME = [0x73, 0x6f, 0x6d, 0x65, 0x20]; // "some "
const TOTAL = [0x74, 0x6f, 0x74, 0x61, 0x6c, 0x3d]; // "total="

/**
 * PSI's `some … total=N` (µs during which some runnable task waited; /proc/pressure/cpu's first
 * line), from the bytes; NaN without a `some` line or its total.
 */
export function psiSomeTotalOf(psi: Uint8Array): number {
  if (!startsWith(psi, 0, SOME)) return Number.NaN;
  const n = psi.length;
  for (let p = SOME.length; p < n && psi[p] !== 0x0a; p++) {
    if (!startsWith(psi, p, TOTAL)) continue;
    let q = p + TOTAL.length;
    if (q >= n || !isDigit(psi[q]!)) return Number.NaN;
    let v = 0;
    while (q < n && isDigit(psi[q]!)) v = v * 10 + psi[q++]! - 0x30;
    return v;
  }
  return Number.NaN;
}

function startsWith(b: Uint8Array, at: number, prefix: readonly number[]): boolean {
  if (at + prefix.length > b.length) return false;
  for (let i = 0; i < prefix.length; i++) if (b[at + i] !== prefix[i]) return false;
  return true;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}
