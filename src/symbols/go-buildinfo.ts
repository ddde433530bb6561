// The Go toolchain version and module information a Go linker writes into `.go.buildinfo`, read the
// way Go's own debug/buildinfo does (src/debug/buildinfo/buildinfo.go):
//   a 32-byte header at 16-byte alignment: "\xff Go buildinf:" (14 bytes), pointer size, flags;
//   flags & 2 (Go ≥ 1.18): the version and the module text follow inline as uvarint-length strings;
//   else (Go < 1.18): two pointers at +16 to Go string headers {data pointer, length} elsewhere in memory.
// The module text is wrapped in 16-byte sentinels, "\n" at the 17th byte from its end.
import type { ElfFile } from './elf.js';

export class GoBuildInfoError extends Error {
  constructor(message: string, readonly offset?: number) {
    super(offset === undefined ? message : `${message} (file offset 0x${offset.toString(16)})`);
    this.name = 'GoBuildInfoError';
  }
}

export interface GoModule {
  path: string;
  version: string;
  sum?: string;
}

export interface GoBuildInfo {
  /** As written by the toolchain: "go1.26.8", "go1.22.0 X:boringcrypto", "devel go1.27-…". */
  goVersion: string;
  /** The main package's import path (`path` line), when module info is present. */
  path?: string;
  main?: GoModule;
  deps: GoModule[];
  /** `build` lines: -ldflags, GOARCH, GOAMD64, CGO_ENABLED, vcs.revision, … */
  settings: Record<string, string>;
}

/** A Go release as numbers; undefined parts of `go1.20` (no patch) are 0. */
export interface GoVersion {
  major: number;
  minor: number;
  patch: number;
}

const MAGIC = Buffer.from('\xff Go buildinf:', 'latin1');
const HEADER_SIZE = 32;
const ALIGN = 16;
const FLAG_BIG_ENDIAN = 0x1;
const FLAG_INLINE = 0x2;
/** Go's own bound for the search; the header is normally at the start of .go.buildinfo. */
const SEARCH_CHUNK = 1 << 20;
const MAX_SEARCH = 64 << 20;
const MAX_STRING = 1 << 20;
const PF_X = 1;
const PF_W = 2;
const PT_LOAD = 1;

/**
 * "go1.26.8" → {1, 26, 8}. Pre-releases ("go1.21rc2") count as their release and development builds
 * ("devel go1.27-a1b2c3 …") as the release they lead to; undefined when no version is named.
 */
export function parseGoVersion(v: string): GoVersion | undefined {
  const m = /(?:^|\s)go(\d+)\.(\d+)(?:\.(\d+))?/.exec(v.trim());
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), patch: m[3] === undefined ? 0 : Number(m[3]) };
}

/** Negative, zero or positive as `a` is older than, the same as or newer than `b` (major and minor only when `minorOnly`). */
export function compareGoVersions(a: GoVersion, b: GoVersion, minorOnly = false): number {
  return a.major - b.major || a.minor - b.minor || (minorOnly ? 0 : a.patch - b.patch);
}

/** Reads the build info; undefined when the file is not a Go executable (no header found). */
export function readGoBuildInfo(elf: ElfFile): GoBuildInfo | undefined {
  try {
    return read(elf);
  } catch (err) {
    if (err instanceof GoBuildInfoError) throw err;
    throw new GoBuildInfoError(`unreadable build info: ${(err as Error).message}`);
  }
}

function read(elf: ElfFile): GoBuildInfo | undefined {
  const header = findHeader(elf);
  if (!header) return undefined;
  const { offset, bytes } = header;
  const ptrSize = bytes[14]!;
  const flags = bytes[15]!;
  let version: string;
  let mod: string;
  if (flags & FLAG_INLINE) {
    const v = readVarintString(elf, offset + HEADER_SIZE);
    version = v.value;
    mod = readVarintString(elf, v.next).value;
  } else {
    if (ptrSize !== 4 && ptrSize !== 8) throw new GoBuildInfoError(`pointer size ${ptrSize}`, offset + 14);
    const big = (flags & FLAG_BIG_ENDIAN) !== 0;
    const ptr = (b: Buffer, at: number): number => {
      if (ptrSize === 4) return big ? b.readUInt32BE(at) : b.readUInt32LE(at);
      const v = big ? b.readBigUInt64BE(at) : b.readBigUInt64LE(at);
      return v > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(v);
    };
    version = readGoString(elf, ptr(bytes, 16), ptrSize, ptr);
    mod = readGoString(elf, ptr(bytes, 16 + ptrSize), ptrSize, ptr);
  }
  if (!version) throw new GoBuildInfoError('empty Go version', offset);
  return { goVersion: version, ...parseModInfo(mod) };
}

function findHeader(elf: ElfFile): { offset: number; bytes: Buffer } | undefined {
  // Where Go's reader looks: the .go.buildinfo section, else the first writable, non-executable PT_LOAD.
  const sec = elf.section('.go.buildinfo');
  let start: number;
  let size: number;
  if (sec) {
    start = sec.offset;
    size = sec.size;
  } else {
    const seg = elf.segments.find((p) => p.type === PT_LOAD && (p.flags & (PF_X | PF_W)) === PF_W);
    if (!seg) return undefined;
    start = seg.offset;
    size = seg.filesz;
  }
  size = Math.min(size, MAX_SEARCH);
  for (let done = 0; done < size; done += SEARCH_CHUNK) {
    // Chunks overlap by a header so a magic straddling two chunks is still seen.
    const len = Math.min(SEARCH_CHUNK + HEADER_SIZE, size - done);
    const chunk = elf.readAt(start + done, len);
    for (let i = chunk.indexOf(MAGIC); i >= 0; i = chunk.indexOf(MAGIC, i + 1)) {
      // File offsets and addresses agree modulo the page size, so alignment can be checked on either.
      if ((start + done + i) % ALIGN !== 0) continue;
      if (i + HEADER_SIZE > chunk.length) break;
      return { offset: start + done + i, bytes: chunk.subarray(i, i + HEADER_SIZE) };
    }
  }
  return undefined;
}

function readVarintString(elf: ElfFile, offset: number): { value: string; next: number } {
  let len = 0;
  let n = 0;
  for (;;) {
    if (n >= 10) throw new GoBuildInfoError('bad string length', offset);
    const b = elf.readAt(offset + n, 1)[0]!;
    len += (b & 0x7f) * 2 ** (7 * n);
    n++;
    if ((b & 0x80) === 0) break;
  }
  if (len > MAX_STRING) throw new GoBuildInfoError(`string of ${len} bytes`, offset);
  return { value: elf.readAt(offset + n, len).toString('utf8'), next: offset + n + len };
}

function readGoString(elf: ElfFile, addr: number, ptrSize: number, ptr: (b: Buffer, at: number) => number): string {
  const hdrOff = addr < 0 ? undefined : elf.addressToOffset(addr);
  if (hdrOff === undefined) return '';
  const hdr = elf.readAt(hdrOff, 2 * ptrSize);
  const dataOff = ptr(hdr, 0) < 0 ? undefined : elf.addressToOffset(ptr(hdr, 0));
  const len = ptr(hdr, ptrSize);
  if (dataOff === undefined || len < 0 || len > MAX_STRING) return '';
  return elf.readAt(dataOff, len).toString('utf8');
}

function parseModInfo(raw: string): Omit<GoBuildInfo, 'goVersion'> {
  const out: Omit<GoBuildInfo, 'goVersion'> = { deps: [], settings: {} };
  // Strip the 16-byte sentinels around the text, as debug/buildinfo does.
  if (raw.length < 33 || raw[raw.length - 17] !== '\n') return out;
  const text = raw.slice(16, raw.length - 16);
  for (const line of text.split('\n')) {
    const [kind, ...f] = line.split('\t');
    if (kind === 'path' && f[0] !== undefined) out.path = f[0];
    else if ((kind === 'mod' || kind === 'dep') && f[0] !== undefined) {
      const m: GoModule = { path: f[0], version: f[1] ?? '' };
      if (f[2]) m.sum = f[2];
      if (kind === 'mod') out.main = m;
      else out.deps.push(m);
    } else if (kind === '=>' && f[0] !== undefined) {
      // A replacement of the preceding module: keep what is really built.
      const last = out.deps.at(-1);
      if (last) Object.assign(last, { path: f[0], version: f[1] ?? '', sum: f[2] || undefined });
    } else if (kind === 'build' && f[0] !== undefined) {
      const eq = f[0].indexOf('=');
      if (eq > 0) out.settings[f[0].slice(0, eq)] = unquote(f[0].slice(eq + 1));
    }
  }
  return out;
}

function unquote(v: string): string {
  if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) {
    try {
      return JSON.parse(v) as string;
    } catch {
      return v;
    }
  }
  return v;
}

/**
 * A binary built by the Go toolchain: its pclntab or its build-info section is there (even when
 * stripped: `-s -w` removes symbols and DWARF, never these). Go keeps frame pointers on amd64
 * (since Go 1.7) and its linker writes no .eh_frame for Go code.
 */
export function isGoBinary(elf: ElfFile): boolean {
  return ['.gopclntab', '.data.rel.ro.gopclntab', '.go.buildinfo', '.note.go.buildid'].some((n) => elf.section(n) !== undefined);
}
