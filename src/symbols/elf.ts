// A reader for 64-bit little-endian ELF files (x86-64 and arm64): headers, sections, segments,
// symbol tables, notes. Reads lazily through a byte source so a 100 MB binary (node) costs only the
// parts asked for. Anything that does not parse is an ElfError, never a read past the end.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { inflateSync } from 'node:zlib';

export class ElfError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ElfError';
  }
}

/** Where the bytes come from: a file descriptor read on demand, or a buffer already in memory. */
export interface ByteSource {
  readonly size: number;
  read(offset: number, length: number): Buffer;
  /**
   * Bytes [offset, offset + length) without a new buffer: a file is read into `into` (at least
   * `length` long), bytes already in memory are returned as they are.
   */
  readInto(offset: number, length: number, into: Buffer): Buffer;
  close(): void;
}

class FileSource implements ByteSource {
  readonly size: number;
  private fd: number | undefined;
  constructor(path: string) {
    this.fd = openSync(path, 'r');
    this.size = fstatSync(this.fd).size;
  }
  read(offset: number, length: number): Buffer {
    return this.readInto(offset, length, Buffer.allocUnsafe(length));
  }
  readInto(offset: number, length: number, into: Buffer): Buffer {
    if (this.fd === undefined) throw new ElfError('file is closed');
    checkRange(offset, length, this.size);
    if (into.length < length) throw new ElfError(`read of ${length} bytes into ${into.length}`);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, into, done, length - done, offset + done);
      if (n === 0) throw new ElfError(`short read at ${offset + done}`);
      done += n;
    }
    return into.subarray(0, length);
  }
  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

class BufferSource implements ByteSource {
  constructor(private readonly buf: Buffer) {}
  get size(): number {
    return this.buf.length;
  }
  read(offset: number, length: number): Buffer {
    checkRange(offset, length, this.buf.length);
    return this.buf.subarray(offset, offset + length);
  }
  readInto(offset: number, length: number): Buffer {
    return this.read(offset, length);
  }
  close(): void {}
}

function checkRange(offset: number, length: number, size: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    throw new ElfError(`range ${offset}+${length} outside the file (${size} bytes)`);
  }
}

// Constants from the System V ABI (elf.h).
export const ET_EXEC = 2;
export const ET_DYN = 3;
export const PT_LOAD = 1;
export const PT_NOTE = 4;
export const PF_X = 1;
export const SHN_UNDEF = 0;
export const SHF_EXECINSTR = 0x4;
export const SHT_SYMTAB = 2;
export const SHT_NOTE = 7;
export const SHT_NOBITS = 8;
export const SHT_DYNSYM = 11;
export const SHF_COMPRESSED = 0x800;
export const STT_FUNC = 2;
export const STT_GNU_IFUNC = 10;
const NT_GNU_BUILD_ID = 3;
const ELFCOMPRESS_ZLIB = 1;
/** Bounds so a hostile header cannot make us allocate without limit. */
const MAX_SECTIONS = 65_535;
export const MAX_SECTION_BYTES = 1 << 30;

export interface ElfSection {
  index: number;
  name: string;
  type: number;
  flags: number;
  addr: number;
  offset: number;
  size: number;
  link: number;
  info: number;
  entsize: number;
}

export interface ElfSegment {
  type: number;
  flags: number;
  offset: number;
  vaddr: number;
  filesz: number;
  memsz: number;
}

export interface ElfSymbol {
  name: string;
  /** Virtual address (st_value). */
  value: number;
  size: number;
  type: number;
  bind: number;
  sectionIndex: number;
}

export class ElfFile {
  readonly type: number;
  readonly machine: number;
  readonly entry: number;
  readonly sections: readonly ElfSection[];
  readonly segments: readonly ElfSegment[];
  private readonly byName = new Map<string, ElfSection>();

  private constructor(private readonly src: ByteSource) {
    if (src.size < 64) throw new ElfError('too small for an ELF header');
    const h = src.read(0, 64);
    if (h.readUInt32BE(0) !== 0x7f454c46) throw new ElfError('not an ELF file');
    if (h[4] !== 2) throw new ElfError('only 64-bit ELF is supported');
    if (h[5] !== 1) throw new ElfError('only little-endian ELF is supported');
    this.type = h.readUInt16LE(16);
    this.machine = h.readUInt16LE(18);
    this.entry = num(h.readBigUInt64LE(24));
    const phoff = num(h.readBigUInt64LE(32));
    const shoff = num(h.readBigUInt64LE(40));
    const phentsize = h.readUInt16LE(54);
    const phnum = h.readUInt16LE(56);
    const shentsize = h.readUInt16LE(58);
    const shnum = h.readUInt16LE(60);
    const shstrndx = h.readUInt16LE(62);
    this.segments = phnum > 0 ? this.readSegments(phoff, phentsize, phnum) : [];
    this.sections = shnum > 0 && shoff > 0 ? this.readSections(shoff, shentsize, shnum, shstrndx) : [];
    for (const s of this.sections) if (!this.byName.has(s.name)) this.byName.set(s.name, s);
  }

  static open(path: string): ElfFile {
    const src = new FileSource(path);
    try {
      return new ElfFile(src);
    } catch (err) {
      src.close();
      throw err;
    }
  }

  static fromBuffer(buf: Buffer): ElfFile {
    return new ElfFile(new BufferSource(buf));
  }

  close(): void {
    this.src.close();
  }

  /** Size of the file (or buffer) in bytes. */
  get size(): number {
    return this.src.size;
  }

  section(name: string): ElfSection | undefined {
    return this.byName.get(name);
  }

  /** A section's bytes, decompressed when SHF_COMPRESSED (zlib, as Go and `ld --compress-debug-sections` write). */
  sectionData(section: ElfSection): Buffer {
    if (section.type === SHT_NOBITS) return Buffer.alloc(0);
    if (section.size > MAX_SECTION_BYTES) throw new ElfError(`section ${section.name} too large (${section.size} bytes)`);
    const raw = this.src.read(section.offset, section.size);
    if ((section.flags & SHF_COMPRESSED) === 0) return raw;
    if (raw.length < 24) throw new ElfError(`section ${section.name}: truncated compression header`);
    const kind = raw.readUInt32LE(0);
    const size = num(raw.readBigUInt64LE(8));
    if (kind !== ELFCOMPRESS_ZLIB) throw new ElfError(`section ${section.name}: compression type ${kind} not supported`);
    if (size > MAX_SECTION_BYTES) throw new ElfError(`section ${section.name}: inflated size ${size} too large`);
    try {
      return inflateSync(raw.subarray(24), { maxOutputLength: Math.max(size, 1) });
    } catch (err) {
      throw new ElfError(`section ${section.name}: ${(err as Error).message}`);
    }
  }

  /** Reads `length` bytes at file offset `offset` (e.g. a function's code for instruction scanning). */
  readAt(offset: number, length: number): Buffer {
    return this.src.read(offset, length);
  }

  /** As readAt, into `into` when the bytes come from a file (see ByteSource.readInto): valid until `into` is reused. */
  readInto(offset: number, length: number, into: Buffer): Buffer {
    return this.src.readInto(offset, length, into);
  }

  /** Symbols of `.symtab` (static, often stripped) or `.dynsym` (exported). Empty when absent. */
  symbols(table: '.symtab' | '.dynsym'): ElfSymbol[] {
    const raw = this.symbolTableData(table);
    if (!raw) return [];
    const { data, strings, entsize } = raw;
    const out: ElfSymbol[] = [];
    for (let off = 0; off + 24 <= data.length; off += entsize) {
      const info = data[off + 4]!;
      out.push({
        name: cString(strings, data.readUInt32LE(off)),
        value: readU64(data, off + 8),
        size: readU64(data, off + 16),
        type: info & 0xf,
        bind: info >> 4,
        sectionIndex: data.readUInt16LE(off + 6),
      });
    }
    return out;
  }

  /**
   * A symbol table's section, its string table's and its entry size, checked, for readers that
   * read them a window at a time (elf-functions.ts). Undefined when absent.
   */
  symbolTableSections(table: '.symtab' | '.dynsym'): { entries: ElfSection; strings: ElfSection; entsize: number } | undefined {
    const sec = this.section(table);
    if (!sec || sec.type === SHT_NOBITS) return undefined;
    const strtab = this.sections[sec.link];
    if (!strtab) throw new ElfError(`${table}: string table index ${sec.link} missing`);
    const entsize = sec.entsize || 24;
    if (entsize < 24) throw new ElfError(`${table}: entry size ${entsize} too small`);
    return { entries: sec, strings: strtab, entsize };
  }

  /** A symbol table's raw entries (Elf64_Sym, `entsize` bytes apart) and its whole string table. */
  private symbolTableData(table: '.symtab' | '.dynsym'): { data: Buffer; strings: Buffer; entsize: number } | undefined {
    const t = this.symbolTableSections(table);
    return t && { data: this.sectionData(t.entries), strings: this.sectionData(t.strings), entsize: t.entsize };
  }

  /** The GNU build id as lowercase hex, from the note sections or PT_NOTE segments. */
  buildId(): string | undefined {
    const areas = this.sections.length > 0
      ? this.sections.filter((s) => s.type === SHT_NOTE).map((s) => ({ offset: s.offset, size: s.size }))
      : this.segments.filter((p) => p.type === PT_NOTE).map((p) => ({ offset: p.offset, size: p.filesz }));
    for (const area of areas) {
      if (area.size > 1 << 20) continue;
      const id = findBuildIdNote(this.src.read(area.offset, area.size));
      if (id) return id;
    }
    return undefined;
  }

  /** `.gnu_debuglink`: the separate debug file's name and its CRC32. */
  debugLink(): { file: string; crc: number } | undefined {
    const sec = this.section('.gnu_debuglink');
    if (!sec) return undefined;
    const data = this.sectionData(sec);
    const file = cString(data, 0);
    const crcOff = (file.length + 1 + 3) & ~3;
    if (!file || crcOff + 4 > data.length) return undefined;
    return { file, crc: data.readUInt32LE(crcOff) };
  }

  /** The PT_LOAD segment holding a file offset: how a mapping's offset becomes an address. */
  loadSegmentForOffset(offset: number): ElfSegment | undefined {
    return this.segments.find((p) => p.type === PT_LOAD && offset >= p.offset && offset < p.offset + p.filesz);
  }

  /** Virtual address → file offset (for uprobes, which attach at file offsets). */
  addressToOffset(addr: number): number | undefined {
    const seg = this.segments.find((p) => p.type === PT_LOAD && addr >= p.vaddr && addr < p.vaddr + p.filesz);
    return seg ? addr - seg.vaddr + seg.offset : undefined;
  }

  private readSegments(off: number, entsize: number, count: number): ElfSegment[] {
    if (entsize < 56) throw new ElfError(`program header size ${entsize} too small`);
    const data = this.src.read(off, entsize * count);
    const out: ElfSegment[] = [];
    for (let i = 0; i < count; i++) {
      const b = i * entsize;
      out.push({
        type: data.readUInt32LE(b),
        flags: data.readUInt32LE(b + 4),
        offset: num(data.readBigUInt64LE(b + 8)),
        vaddr: num(data.readBigUInt64LE(b + 16)),
        filesz: num(data.readBigUInt64LE(b + 32)),
        memsz: num(data.readBigUInt64LE(b + 40)),
      });
    }
    return out;
  }

  private readSections(off: number, entsize: number, count: number, shstrndx: number): ElfSection[] {
    if (entsize < 64) throw new ElfError(`section header size ${entsize} too small`);
    if (count > MAX_SECTIONS) throw new ElfError(`too many sections (${count})`);
    const data = this.src.read(off, entsize * count);
    const raw: Omit<ElfSection, 'name'>[] = [];
    const nameOffsets: number[] = [];
    for (let i = 0; i < count; i++) {
      const b = i * entsize;
      nameOffsets.push(data.readUInt32LE(b));
      raw.push({
        index: i,
        type: data.readUInt32LE(b + 4),
        flags: num(data.readBigUInt64LE(b + 8)),
        addr: num(data.readBigUInt64LE(b + 16)),
        offset: num(data.readBigUInt64LE(b + 24)),
        size: num(data.readBigUInt64LE(b + 32)),
        link: data.readUInt32LE(b + 40),
        info: data.readUInt32LE(b + 44),
        entsize: num(data.readBigUInt64LE(b + 56)),
      });
    }
    const strtab = raw[shstrndx];
    const names = strtab && strtab.type !== SHT_NOBITS && strtab.size <= MAX_SECTION_BYTES
      ? this.src.read(strtab.offset, strtab.size)
      : Buffer.alloc(0);
    return raw.map((s, i) => ({ ...s, name: cString(names, nameOffsets[i]!) }));
  }
}

function num(v: bigint): number {
  // Addresses and sizes above 2^53 only appear in garbage; clamp so they fail range checks.
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
}

/**
 * A little-endian u64 at `off` as a number, clamped like `num`, without the BigInt that
 * readBigUInt64LE makes (two per symbol: hundreds of thousands for one large binary).
 */
export function readU64(buf: Buffer, off: number): number {
  const lo = buf.readUInt32LE(off);
  const hi = buf.readUInt32LE(off + 4);
  return hi >= 0x200000 ? Number.MAX_SAFE_INTEGER : hi * 0x1_0000_0000 + lo;
}

/** A NUL-terminated string at `off`, or '' when `off` is outside the table. */
export function cString(buf: Buffer, off: number): string {
  if (off >= buf.length) return '';
  const end = buf.indexOf(0, off);
  return buf.toString('utf8', off, end < 0 ? buf.length : end);
}

function findBuildIdNote(notes: Buffer): string | undefined {
  let off = 0;
  while (off + 12 <= notes.length) {
    const namesz = notes.readUInt32LE(off);
    const descsz = notes.readUInt32LE(off + 4);
    const type = notes.readUInt32LE(off + 8);
    const nameOff = off + 12;
    const descOff = nameOff + ((namesz + 3) & ~3);
    const next = descOff + ((descsz + 3) & ~3);
    if (next > notes.length || next <= off) return undefined;
    if (type === NT_GNU_BUILD_ID && namesz === 4 && notes.toString('latin1', nameOff, nameOff + 3) === 'GNU') {
      return notes.toString('hex', descOff, descOff + descsz);
    }
    off = next;
  }
  return undefined;
}
