// The CPU-bound programs the profiler benchmarks keep a host busy with: two -O2
// -fomit-frame-pointer C programs (test/fixtures/profiler/omitfp.c, one in its shared library), a
// leaf without a frame (leaf.c), node running test/fixtures/profiler/hot.mjs and the Go test
// program (profiler-go) — five processes on this machine's cores, beside whatever else runs here.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildGoFixture } from '../test/helpers/go-build.js';

/** dist/benchmarks/profiler-workloads.js → repo root. */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURES = join(ROOT, 'test/fixtures/profiler');

function gcc(args: string[]): void {
  execFileSync('gcc', ['-g', ...args]);
}

/** The C programs, built as test/collectors/profiler-unwind.test.ts builds them. */
function buildC(): { leaf: string; omitfp: string } {
  const dir = join(ROOT, 'benchmarks/.build/unwind');
  mkdirSync(dir, { recursive: true });
  const lib = join(dir, 'libomitfp.so');
  gcc(['-O2', '-fomit-frame-pointer', '-fPIC', '-shared', '-o', lib, join(FIXTURES, 'omitfp-lib.c')]);
  gcc(['-O2', '-fomit-frame-pointer', '-o', join(dir, 'omitfp'), join(FIXTURES, 'omitfp.c'), `-L${dir}`, '-lomitfp', `-Wl,-rpath,${dir}`]);
  gcc(['-O1', '-fno-omit-frame-pointer', '-o', join(dir, 'leaf'), join(FIXTURES, 'leaf.c')]);
  return { leaf: join(dir, 'leaf'), omitfp: join(dir, 'omitfp') };
}

export interface Workloads {
  children: ChildProcess[];
  /** Kills the programs and removes their working directory. */
  stop(): void;
}

/** Starts the five programs for `seconds` (needs gcc and Go in /usr/local/go/bin). */
export function startProfilerWorkloads(seconds: number): Workloads {
  const c = buildC();
  const go = buildGoFixture('profiler-go');
  const cwd = mkdtempSync(join(tmpdir(), 'lantern-bench-profiler-'));
  const s = String(seconds);
  const cmds: Array<[string, string[]]> = [
    [c.omitfp, [s]], [c.omitfp, [s, 'lib']], [c.leaf, [s]], [process.execPath, [join(FIXTURES, 'hot.mjs'), s]], [go, [s]],
  ];
  const children = cmds.map(([cmd, args]) => spawn(cmd, args, { cwd, stdio: 'ignore' }));
  return {
    children,
    stop() {
      for (const child of children) child.kill('SIGKILL');
      rmSync(cwd, { recursive: true, force: true });
    },
  };
}
