// A section's bytes a window at a time: each window read with pread into one small buffer, so a
// reader going through a 7 MB string table or a 2.6 MB symbol table (node's) holds 64–128 KiB, not
// the section. Whole sections are transient allocations too large for malloc to give back to the
// system at once (glibc's mmap threshold rises to the largest block freed): on a busy host the
// agent's RSS kept what the first burst of symbol reads had taken. A compressed section cannot be
// read in pieces and is inflated whole; bytes already in memory (the vDSO, MiniDebugInfo's ELF)
// are only sliced.
import { ElfError, MAX_SECTION_BYTES, SHF_COMPRESSED, SHT_NOBITS, type ElfFile, type ElfSection } from './elf.js';
import type { Buffers } from './scratch.js';

/** Bytes read by range: a section through a window, or a buffer in memory. */
export interface WindowedBytes {
  readonly size: number;
  /** Bytes [offset, min(offset + length, size)); valid until the next call. */
  bytes(offset: number, length: number): Buffer;
}

/** A buffer already in memory as WindowedBytes (a slice per call, no copy). */
export function wholeBytes(buf: Buffer): WindowedBytes {
  return { size: buf.length, bytes: (offset, length) => buf.subarray(offset, Math.min(buf.length, offset + length)) };
}

export class SectionWindow implements WindowedBytes {
  private scratch: Buffer | undefined;

  private constructor(
    private readonly elf: ElfFile,
    private readonly offset: number,
    readonly size: number,
    private readonly windowBytes: number,
    private readonly from: { buffers: Buffers; use: string } | undefined,
  ) {}

  /**
   * `section` of `elf`, read `windowBytes` at most at a time. Throws ElfError, as sectionData
   * does, for a section that is too large or does not lie inside the file. With `from`, the window
   * is `from.buffers`' buffer for `from.use` (the CFI compile worker's, reused from file to file),
   * and a read may be longer than `windowBytes` (a CFI entry is read whole).
   */
  static of(elf: ElfFile, section: ElfSection, windowBytes: number, from?: { buffers: Buffers; use: string }): WindowedBytes {
    if (section.type === SHT_NOBITS) return wholeBytes(Buffer.alloc(0));
    if ((section.flags & SHF_COMPRESSED) !== 0) return wholeBytes(elf.sectionData(section));
    if (section.size > MAX_SECTION_BYTES) throw new ElfError(`section ${section.name} too large (${section.size} bytes)`);
    if (section.offset + section.size > elf.size) throw new ElfError(`section ${section.name}: range ${section.offset}+${section.size} outside the file (${elf.size} bytes)`);
    return new SectionWindow(elf, section.offset, section.size, windowBytes, from);
  }

  bytes(offset: number, length: number): Buffer {
    const n = Math.max(0, Math.min(length, this.size - offset));
    const into = this.from === undefined
      ? (this.scratch ??= Buffer.allocUnsafe(Math.min(this.windowBytes, Math.max(this.size, 1))))
      : this.from.buffers.get(this.from.use, n);
    if (n > into.length) throw new ElfError(`window of ${n} bytes over ${into.length}`);
    return this.elf.readInto(this.offset + offset, n, into);
  }
}

/** Bytes [base, size) of `src`, as WindowedBytes of their own (a table inside a section). */
export function offsetBytes(src: WindowedBytes, base: number): WindowedBytes {
  const b = Math.min(Math.max(base, 0), src.size);
  return { size: src.size - b, bytes: (offset, length) => src.bytes(b + offset, length) };
}

/**
 * Little-endian reads at any offset of WindowedBytes, through one window that moves when a read
 * falls outside it: cheap for reads that go mostly forward (a table of entries, records in table
 * order). One reader per stream of reads: two streams through one window would re-read it.
 */
export class WindowReader {
  private base = 0;
  private window: Buffer = Buffer.alloc(0);

  constructor(private readonly src: WindowedBytes, private readonly windowBytes: number) {}

  get size(): number {
    return this.src.size;
  }

  // `at` first: it may move the window (`this.window[this.at(…)]` would read the old one).
  u8(off: number): number {
    const p = this.at(off, 1);
    return this.window[p]!;
  }

  u32(off: number): number {
    const p = this.at(off, 4);
    return this.window.readUInt32LE(p);
  }

  i32(off: number): number {
    const p = this.at(off, 4);
    return this.window.readInt32LE(p);
  }

  /** The window's index of `off`, with `n` bytes there; ElfError past the end. */
  private at(off: number, n: number): number {
    if (off < 0 || off + n > this.src.size) throw new ElfError(`read of ${n} bytes at ${off} past the end (${this.src.size})`);
    if (off < this.base || off + n > this.base + this.window.length) {
      this.base = off;
      this.window = this.src.bytes(off, Math.max(n, this.windowBytes));
    }
    return off - this.base;
  }
}
