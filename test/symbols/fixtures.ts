// Test programs for the symbol readers, built on this machine: a C program with known functions and
// its stripped variants (debug file by build id / by debuglink, MiniDebugInfo), and the Go program
// of test/fixtures/go-symbols linked with -ldflags='-s -w'.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { buildGoFixture } from '../helpers/go-build.js';
import { repoRoot } from '../helpers/cli.js';

export const C_SOURCE = `
#include <stdio.h>
#include <string.h>
#include <unistd.h>

__attribute__((noinline)) long hot_function(long n) {
  long s = 0;
  for (long i = 0; i < n; i++) s += i * i ^ (s >> 3);
  return s;
}

__attribute__((noinline)) static long helper_static(long n) {
  return hot_function(n) + 1;
}

int main(int argc, char **argv) {
  /* The runtime address of hot_function (PIE), for the live tests. */
  printf("%p\\n", (void *)hot_function);
  fflush(stdout);
  if (argc > 1 && strcmp(argv[1], "spin") == 0) {
    for (;;) helper_static(100000);
  }
  if (argc > 1 && strcmp(argv[1], "wait") == 0) pause();
  return (int)(helper_static(10) & 1);
}
`;

export interface CProgram {
  dir: string;
  /** With .symtab and DWARF. */
  full: string;
  /** strip --strip-all, with a .gnu_debuglink to prog.debug. */
  stripped: string;
  /** The separate debug file (objcopy --only-keep-debug). */
  debugFile: string;
  /** strip --strip-all, no debuglink, a .gnu_debugdata section (xz of a symbols-only ELF). */
  mini: string;
  /** strip --strip-all, nothing else: only .dynsym. */
  bare: string;
  buildId: string;
}

function run(cmd: string, args: string[], cwd?: string): string {
  return execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 }).toString();
}

export function buildCProgram(): CProgram {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-symbols-'));
  writeFileSync(join(dir, 'prog.c'), C_SOURCE);
  const full = join(dir, 'prog');
  run('gcc', ['-O1', '-fno-omit-frame-pointer', '-g', '-Wl,--build-id=sha1', '-o', full, join(dir, 'prog.c')]);
  const debugFile = join(dir, 'prog.debug');
  run('objcopy', ['--only-keep-debug', full, debugFile]);
  const stripped = join(dir, 'prog.stripped');
  // --add-gnu-debuglink records the debug file's base name and CRC32.
  run('objcopy', ['--strip-all', `--add-gnu-debuglink=${debugFile}`, full, stripped]);
  const bare = join(dir, 'prog.bare');
  run('objcopy', ['--strip-all', full, bare]);
  // MiniDebugInfo as Fedora builds it: the symbols (no DWARF) of the debug file, xz-compressed.
  const miniElf = join(dir, 'mini.elf');
  run('objcopy', ['--strip-debug', '--remove-section=.gdb_index', '--remove-section=.comment', debugFile, miniElf]);
  run('xz', ['--keep', '--force', miniElf]);
  const mini = join(dir, 'prog.mini');
  run('objcopy', [`--add-section=.gnu_debugdata=${miniElf}.xz`, bare, mini]);
  const notes = run('readelf', ['-n', full]);
  const buildId = /Build ID: ([0-9a-f]+)/.exec(notes)?.[1];
  if (!buildId) throw new Error('the C fixture has no build id');
  return { dir, full, stripped, debugFile, mini, bare, buildId };
}

/** Lays out a debug root the way distributions do: .build-id/ab/cdef….debug. */
export function debugRootByBuildId(p: CProgram): string {
  const root = mkdtempSync(join(tmpdir(), 'lantern-debugroot-'));
  const target = join(root, '.build-id', p.buildId.slice(0, 2), `${p.buildId.slice(2)}.debug`);
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(p.debugFile, target);
  return root;
}

/** Value of a symbol in an ELF's .symtab, from nm (the reference the tests compare with). */
export function nmAddress(file: string, name: string): number {
  for (const line of run('nm', [file]).split('\n')) {
    const [addr, , sym] = line.trim().split(/\s+/);
    if (sym === name && addr) return parseInt(addr, 16);
  }
  throw new Error(`${name} not in ${file}`);
}

export interface GoProgram {
  /** Built by setup like every Go fixture: with .symtab. */
  full: string;
  /** Same source, -ldflags='-s -w': no .symtab, no DWARF. */
  stripped: string;
}

/** The go-symbols fixture, unstripped (shared helper, cached) and stripped (cached beside it). */
export function buildGoPrograms(): GoProgram {
  const full = buildGoFixture('go-symbols');
  const stripped = `${full}-stripped`;
  if (!existsSync(stripped)) {
    const tmp = `${stripped}.tmp${process.pid}`;
    const env = { ...process.env, PATH: `${process.env.PATH}:/usr/local/go/bin`, CGO_ENABLED: '0', GOFLAGS: '-mod=mod' };
    execFileSync('go', ['build', '-ldflags=-s -w', '-o', tmp, '.'], { cwd: join(repoRoot, 'test/fixtures/go-symbols'), env, stdio: ['ignore', 'inherit', 'inherit'] });
    renameSync(tmp, stripped);
  }
  return { full, stripped };
}
