// Processes that map binaries as a program would (PROT_READ|PROT_EXEC), for the benchmarks that make
// the profiler's CFI side compile tables: cfi-writer-rss.ts (one file at a time) and
// profiler-startup-rss.ts --burst (many new binaries at once, as when a busy host starts many
// programs). A program is what the agent sees, through /proc/<pid>/maps, so mapping the file is
// enough: nothing has to run in it. And the largest binaries at hand, by their .eh_frame.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ET_DYN, ET_EXEC, ElfFile } from '../src/symbols/elf.js';

const HELPER_DIR = '/tmp/lantern-map-files';
/**
 * Maps each file named, says `ready`, spends -b MS of CPU (so that a whole-host profiler samples
 * it and looks at its mappings), and waits to be killed.
 */
const HELPER_C = `#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}
int main(int argc, char **argv) {
  double burn = 0;
  int i = 1;
  if (argc > 2 && strcmp(argv[1], "-b") == 0) {
    burn = atof(argv[2]) / 1000;
    i = 3;
  }
  for (; i < argc; i++) {
    int fd = open(argv[i], O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || mmap(0, st.st_size, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0) == MAP_FAILED) return 1;
    close(fd);
  }
  puts("ready");
  fflush(stdout);
  volatile unsigned long spin = 0;
  for (double until = now() + burn; now() < until;)
    for (int k = 0; k < 1000000; k++) spin++;
  pause();
  return 0;
}
`;

/** Builds the helper (gcc) once per call; its path. */
export function mapFilesHelper(): string {
  mkdirSync(HELPER_DIR, { recursive: true });
  const src = join(HELPER_DIR, 'map-files.c');
  const bin = join(HELPER_DIR, 'map-files');
  writeFileSync(src, HELPER_C);
  execFileSync('gcc', ['-O1', '-o', bin, src]);
  return bin;
}

export interface Mapper {
  pid: number;
  child: ChildProcess;
  end(): void;
}

/** A helper process mapping `files`, once it has (after which it burns `burnMs` of CPU). */
export async function mapFiles(helper: string, files: readonly string[], burnMs = 0): Promise<Mapper> {
  const p = spawn(helper, [...(burnMs > 0 ? ['-b', String(burnMs)] : []), ...files], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((ok, fail) => {
    p.stdout!.once('data', () => ok());
    p.once('exit', (code) => fail(new Error(`map-files exited (${code})`)));
  });
  return { pid: p.pid!, child: p, end: () => p.kill('SIGKILL') };
}

/** Where binaries are looked for: the system's, a local build's, JDKs, Go's toolchain. */
export const BINARY_ROOTS = ['/usr/bin', '/usr/sbin', '/usr/lib', '/usr/libexec', '/usr/local/bin', '/usr/local/lib', '/usr/local/go'];

export interface CfiFile {
  path: string;
  ehFrameBytes: number;
}

/**
 * The `n` ELF executables and shared objects under `roots` with the largest .eh_frame, each file
 * (device and inode) once, separate debug files left out: the most CFI a burst of that many new
 * programs can bring. Ordered by size, then path, so the same host gives the same list.
 */
export function largestCfiFiles(n: number, roots: readonly string[] = BINARY_ROOTS): CfiFile[] {
  const seen = new Set<string>();
  const out: CfiFile[] = [];
  const magic = Buffer.alloc(4);
  const visit = (dir: string, depth: number): void => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const path = join(dir, e.name);
      if (e.isDirectory()) {
        if (depth < 6 && path !== '/usr/lib/debug') visit(path, depth + 1);
        continue;
      }
      if (!e.isFile()) continue;
      try {
        const st = statSync(path);
        // Smaller files have too little CFI to matter in a burst (libc's .eh_frame: 150 KB).
        if (st.size < 1 << 20 || seen.has(`${st.dev}:${st.ino}`)) continue;
        seen.add(`${st.dev}:${st.ino}`);
        const fd = openSync(path, 'r');
        try {
          readSync(fd, magic, 0, 4, 0);
        } finally {
          closeSync(fd);
        }
        if (magic.toString('latin1') !== '\x7fELF') continue;
        const elf = ElfFile.open(path);
        try {
          const eh = elf.section('.eh_frame');
          if ((elf.type === ET_EXEC || elf.type === ET_DYN) && eh !== undefined && eh.size > 0) out.push({ path, ehFrameBytes: eh.size });
        } finally {
          elf.close();
        }
      } catch {
        // unreadable, not ELF64, gone
      }
    }
  };
  for (const r of roots) visit(r, 0);
  return out.sort((a, b) => b.ehFrameBytes - a.ehFrameBytes || (a.path < b.path ? -1 : 1)).slice(0, n);
}
