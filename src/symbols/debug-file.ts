// Separate debug files for stripped binaries, found where GDB looks for them
// (https://sourceware.org/gdb/current/onlinedocs/gdb.html/Separate-Debug-Files.html):
//   by build id:        <root>/.build-id/ab/cdef1234….debug
//   by .gnu_debuglink:  <dir>/<name>, <dir>/.debug/<name>, <root>/<dir>/<name>
// where <root> is each debug root (/usr/lib/debug by default) and <dir> the binary's directory.
// For a process in another mount namespace the same paths are tried under its root
// (/proc/<pid>/root) as well as on the host. A debuglink candidate must match the CRC32 the binary
// recorded; a build-id candidate must carry the same build id.
import { posix } from 'node:path';
import { crc32 } from 'node:zlib';
import { ElfError, ElfFile } from './elf.js';

export interface DebugCandidate {
  /** Path to open (host view). */
  path: string;
  kind: 'build-id' | 'debuglink';
}

/** Debug files larger than this are not checksummed (nor used). */
const MAX_DEBUG_FILE_BYTES = 4 * 2 ** 30;
const CRC_CHUNK = 1 << 20;

/**
 * Where a binary's debug file may be, in GDB's order. `binaryPath` is the path as the process
 * sees it; `rootPrefix` is how the host reaches that view ('' for the host's own, or
 * `/proc/<pid>/root`).
 */
export function debugFileCandidates(
  binaryPath: string,
  buildId: string | undefined,
  debugLink: string | undefined,
  debugRoots: readonly string[],
  rootPrefix = '',
): DebugCandidate[] {
  const roots: string[] = [];
  for (const root of debugRoots) {
    roots.push(root);
    if (rootPrefix) roots.push(posix.join(rootPrefix, root));
  }
  const out: DebugCandidate[] = [];
  const seen = new Set<string>();
  const add = (path: string, kind: DebugCandidate['kind']): void => {
    if (seen.has(path)) return;
    seen.add(path);
    out.push({ path, kind });
  };
  if (buildId && /^[0-9a-f]{4,}$/.test(buildId)) {
    for (const root of roots) add(posix.join(root, '.build-id', buildId.slice(0, 2), `${buildId.slice(2)}.debug`), 'build-id');
  }
  // A debuglink names a file, never a path: anything else is ignored rather than followed.
  if (debugLink && !debugLink.includes('/') && debugLink !== '.' && debugLink !== '..') {
    const dir = posix.dirname(binaryPath);
    add(posix.join(rootPrefix || '/', dir, debugLink), 'debuglink');
    add(posix.join(rootPrefix || '/', dir, '.debug', debugLink), 'debuglink');
    for (const root of roots) add(posix.join(root, dir, debugLink), 'debuglink');
  }
  return out;
}

/** CRC32 (the zlib polynomial, as .gnu_debuglink records it) of a whole file, read in chunks. */
export function fileCrc32(elf: ElfFile): number {
  if (elf.size > MAX_DEBUG_FILE_BYTES) throw new ElfError(`debug file too large (${elf.size} bytes)`);
  let crc = 0;
  for (let pos = 0; pos < elf.size; pos += CRC_CHUNK) crc = crc32(elf.readAt(pos, Math.min(CRC_CHUNK, elf.size - pos)), crc);
  return crc >>> 0;
}

/** An opened candidate, checked later (the check reads the whole file, so only when needed). */
export interface OpenedDebugFile {
  candidate: DebugCandidate;
  elf: ElfFile;
}

/**
 * Opens the candidates that exist (and are ELF files). Done while the process is alive (its root
 * may vanish with it); each keeps a file descriptor until `closeDebugFile`.
 */
export function openDebugCandidates(candidates: readonly DebugCandidate[]): OpenedDebugFile[] {
  return candidates.map(openCandidate).filter((f) => f !== undefined);
}

function openCandidate(candidate: DebugCandidate): OpenedDebugFile | undefined {
  try {
    return { candidate, elf: ElfFile.open(candidate.path) };
  } catch {
    return undefined; // not there, not readable, or not an ELF file: not a candidate
  }
}

/**
 * The first candidate that has what `usable` looks for and is the binary's debug file, opened one
 * at a time (the caller closes the one returned). `usable` goes first because it is cheap (a
 * section header) and verifying a debuglink candidate reads the whole file.
 */
export function findDebugFile(
  candidates: readonly DebugCandidate[],
  buildId: string | undefined,
  crc: number | undefined,
  usable: (elf: ElfFile) => boolean,
): OpenedDebugFile | undefined {
  for (const candidate of candidates) {
    const f = openCandidate(candidate);
    if (f === undefined) continue;
    try {
      if (usable(f.elf) && verifyDebugFile(f, buildId, crc)) return f;
    } catch (err) {
      if (!(err instanceof ElfError)) {
        closeDebugFile(f);
        throw err;
      }
    }
    closeDebugFile(f);
  }
  return undefined;
}

export function closeDebugFile(f: OpenedDebugFile): void {
  f.elf.close();
}

/**
 * Whether an opened candidate really is the binary's debug file: same build id for build-id
 * paths; matching CRC32 for debuglink paths (and same build id when both have one).
 */
export function verifyDebugFile(f: OpenedDebugFile, buildId: string | undefined, crc: number | undefined): boolean {
  const theirs = f.elf.buildId();
  if (f.candidate.kind === 'build-id') return theirs === buildId;
  if (buildId && theirs && theirs !== buildId) return false;
  return crc !== undefined && fileCrc32(f.elf) === crc >>> 0;
}
