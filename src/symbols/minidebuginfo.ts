// MiniDebugInfo (https://sourceware.org/gdb/current/onlinedocs/gdb.html/MiniDebugInfo.html): Fedora
// and others ship stripped binaries with `.gnu_debugdata`, an xz-compressed ELF whose `.symtab`
// holds the local function symbols `.dynsym` lacks. Node has no xz decoder, so the `xz` command
// does it when installed (Debian: xz-utils), with a bounded output and a timeout; without it the
// section is skipped and the caller counts the fallback.
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { ElfError, ElfFile } from './elf.js';

/** xz stream magic: FD 37 7A 58 5A 00. */
const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);

export interface XzOptions {
  /** Path of the xz binary; undefined → looked up in PATH; null → never decompress. */
  xzPath?: string | null;
  /** Largest decompressed size accepted. */
  maxOutputBytes?: number;
  timeoutMs?: number;
}

export interface XzDecompressor {
  /** Whether an xz binary is there to use. */
  readonly available: boolean;
  /** Decompressed bytes; throws ElfError when xz fails, times out or the output is too large. */
  decompress(data: Buffer): Buffer;
}

/** The first executable `name` in PATH, like `which`. */
export function findInPath(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export function xzDecompressor(options: XzOptions = {}): XzDecompressor {
  const path = options.xzPath === null ? undefined : (options.xzPath ?? findInPath('xz'));
  const maxBuffer = options.maxOutputBytes ?? 64 << 20;
  const timeout = options.timeoutMs ?? 5000;
  return {
    available: path !== undefined,
    decompress(data: Buffer): Buffer {
      if (path === undefined) throw new ElfError('xz is not installed');
      try {
        return execFileSync(path, ['--decompress', '--stdout', '--quiet', '--no-warn'], {
          input: data,
          maxBuffer,
          timeout,
          stdio: ['pipe', 'pipe', 'ignore'],
        });
      } catch (err) {
        throw new ElfError(`xz failed: ${(err as Error).message.split('\n')[0]}`);
      }
    },
  };
}

export type MiniDebugInfoResult =
  | { kind: 'absent' }
  | { kind: 'unavailable' }
  | { kind: 'ok'; elf: ElfFile };

/**
 * The embedded ELF of `.gnu_debugdata`: 'absent' when the binary has none, 'unavailable' when it
 * has one but xz is not installed. Throws ElfError when the section is malformed.
 */
export function openMiniDebugInfo(elf: ElfFile, xz: XzDecompressor): MiniDebugInfoResult {
  const sec = elf.section('.gnu_debugdata');
  if (!sec) return { kind: 'absent' };
  if (!xz.available) return { kind: 'unavailable' };
  const compressed = elf.sectionData(sec);
  if (compressed.length < XZ_MAGIC.length || !compressed.subarray(0, XZ_MAGIC.length).equals(XZ_MAGIC)) {
    throw new ElfError('.gnu_debugdata is not an xz stream');
  }
  return { kind: 'ok', elf: ElfFile.fromBuffer(xz.decompress(compressed)) };
}
