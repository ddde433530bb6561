// The CPU the profiler's compile worker spends on unwind tables (CFI: .eh_frame, .debug_frame) of
// real binaries, this tree's build against another's (--before: the dist/ directory of another
// checkout, built with the same tsconfig), in one run on one machine.
//
// Each round starts, for each build in turn (the order alternates from round to round), a child
// process that runs that build's UnwindCompiler — the real worker thread at nice 10 with its bounded
// heap — on every file in turn, as the agent does when it meets a burst of new binaries, and takes
// the process's CPU time (utime + stime: the worker's, the main thread only waits) around each
// compile. First a descriptor that is no ELF file: that reply is the worker's start. The files: every
// executable file a process on this host maps (what `lantern run` compiles in whole-host mode), and
// node, libLLVM and libclang-cpp when present (the largest tables at hand). Then a few files each
// alone in a fresh worker (--alone): a new binary met after the worker has ended. Medians per file
// over the rounds; the two builds' tables are compared by row count and sha256.
//
//   npx tsc -p tsconfig.json && node dist/benchmarks/cfi-compile.js --before <other checkout>/dist [--rounds N] [--files a,b] [--alone c,d]
//
// Results go to stdout and to benchmarks/RESULTS.md (--results: another file).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, openSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { RESULTS_PATH, writeResultsSection } from './results-file.js';
import { int, machine, median } from './stats.js';

const SECTION = '## CPU profiler: compiling unwind tables (CFI), two builds';
/** This build's dist/ directory (dist/benchmarks/cfi-compile.js → dist/). */
const DIST = fileURLToPath(new URL('../', import.meta.url));
const BIG = ['/usr/lib/x86_64-linux-gnu/libLLVM-14.so.1', '/usr/lib/llvm-14/lib/libclang-cpp.so.14'];

interface FileResult {
  file: string;
  cpuMs: number;
  wallMs: number;
  kind: string;
  count: number;
  hash: string;
}

// --- the child: one build's worker on every file --------------------------------------------------

/** A slice of a build that sends its tables in slices (row-slices.ts), or the end. */
type SliceOrEnd = { rows: Buffer } | { count: number; ms: number };

/** The subset of UnwindCompiler both builds have: the rows whole, or in slices (since the tables came in slices). */
interface Compiler {
  compile(fd: number, debug?: { path: string; debugRoots: readonly string[] }): Promise<{
    kind: string; rows?: Uint8Array; count?: number; ms: number; slices?: { next(): Promise<SliceOrEnd> };
  }>;
  close(): Promise<void>;
}

/** A reply's rows, count and time, whichever way its build sends them. */
async function wholeReply(r: Awaited<ReturnType<Compiler['compile']>>): Promise<{ kind: string; rows?: Uint8Array; count: number; ms: number }> {
  if (r.slices === undefined) return { kind: r.kind, count: r.count ?? 0, ms: r.ms, ...(r.rows === undefined ? {} : { rows: r.rows }) };
  const parts: Buffer[] = [];
  for (let s = await r.slices.next(); ; s = await r.slices.next()) {
    if (!('rows' in s)) return { kind: r.kind, rows: Buffer.concat(parts), count: s.count, ms: s.ms };
    parts.push(Buffer.from(s.rows)); // a view of a slot the worker reuses once the next is asked for
  }
}

const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

async function child(dist: string, files: string[]): Promise<void> {
  const mod = (await import(resolve(dist, 'src/collectors/profiler/unwind-compiler.js'))) as { UnwindCompiler: new () => Compiler };
  const compiler = new mod.UnwindCompiler();
  const run = async (file: string, fd: number): Promise<FileResult> => {
    const c0 = cpuMs();
    const r = await wholeReply(await compiler.compile(fd, { path: file, debugRoots: ['/usr/lib/debug'] }));
    const cpu = cpuMs() - c0;
    const hash = r.rows === undefined ? '' : createHash('sha256').update(r.rows).digest('hex').slice(0, 16);
    return { file, cpuMs: cpu, wallMs: r.ms, kind: r.kind, count: r.count, hash };
  };
  const out: FileResult[] = [await run('(worker start)', openSync('/dev/null', 'r'))];
  for (const f of files) out.push(await run(f, openSync(f, 'r')));
  await compiler.close();
  process.stdout.write(JSON.stringify(out));
}

// --- the parent -----------------------------------------------------------------------------------

/** Executable files mapped by processes on this host, and the big libraries, each once. */
function hostBinaries(): string[] {
  const paths = new Set<string>();
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let maps: string;
    try {
      maps = readFileSync(`/proc/${pid}/maps`, 'utf8');
    } catch {
      continue;
    }
    for (const line of maps.split('\n')) {
      const f = line.split(/\s+/);
      if (f[1]?.includes('x') && f[5]?.startsWith('/') && f.length === 6) paths.add(f[5]);
    }
  }
  for (const p of [process.execPath, ...BIG]) if (existsSync(p)) paths.add(p);
  return [...paths].filter((p) => {
    try {
      return statSync(p).isFile();
    } catch {
      return false;
    }
  }).sort();
}

function runChild(dist: string, files: string[]): FileResult[] {
  const text = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--child', dist, '--files', files.join(',')],
    { encoding: 'utf8', maxBuffer: 64 << 20 });
  return JSON.parse(text) as FileResult[];
}

function gitCommit(dist: string): string {
  try {
    const head = execFileSync('git', ['-C', resolve(dist, '..'), 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['-C', resolve(dist, '..'), 'status', '--porcelain', '--', 'src'], { encoding: 'utf8' }).trim() !== '';
    return dirty ? `${head} (with uncommitted changes in src)` : head;
  } catch {
    return 'not a git checkout';
  }
}

type Build = 'before' | 'after';

/**
 * `rounds` rounds; in each, for each build (the order alternating), one child per list of files.
 * Per list, per build: the children's results, one array per round.
 */
function measure(builds: Record<Build, string>, rounds: number, lists: string[][]): Array<Record<Build, FileResult[][]>> {
  const out = lists.map(() => ({ before: [], after: [] }) as Record<Build, FileResult[][]>);
  for (let r = 0; r < rounds; r++) {
    for (const which of r % 2 === 0 ? (['before', 'after'] as const) : (['after', 'before'] as const)) {
      lists.forEach((files, i) => out[i]![which].push(runChild(builds[which], files)));
      const total = out[0]![which].at(-1)!.reduce((a, x) => a + x.cpuMs, 0);
      console.error(`round ${r + 1} ${which}: ${int(total)} ms of CPU for ${lists[0]!.length} files; load ${loadavg()[0]!.toFixed(2)}`);
    }
  }
  return out;
}

const row = (label: string, count: string, b: number, a: number): string => `| ${label} | ${count} | ${int(b)} | ${int(a)} | ${(b / a).toFixed(1)}× |`;
const HEADER = '| file | rows | before, CPU ms | after, CPU ms | before / after |\n|---|---|---|---|---|';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      before: { type: 'string' },
      rounds: { type: 'string', default: '5' },
      files: { type: 'string' },
      alone: { type: 'string' },
      child: { type: 'string' },
      results: { type: 'string' },
    },
  });
  const files = values.files?.split(',').filter((f) => f !== '') ?? hostBinaries();
  if (values.child !== undefined) return child(values.child, files);
  if (values.before === undefined) throw new Error('--before <dist directory of the build to compare with> is needed');
  // Each alone in a fresh worker: a new binary met after the worker ended (10 s without work).
  const alone = values.alone?.split(',').filter((f) => f !== '')
    ?? [process.execPath, BIG[0]!, '/usr/lib/x86_64-linux-gnu/libc.so.6', '/usr/bin/bash'].filter((f) => existsSync(f));
  const builds = { before: resolve(values.before), after: DIST };
  const rounds = Number(values.rounds);
  const load0 = loadavg().map((x) => x.toFixed(2)).join(' ');
  const [burst, ...lone] = measure(builds, rounds, [files, ...alone.map((f) => [f])]);
  const load1 = loadavg().map((x) => x.toFixed(2)).join(' ');
  const names = ['(worker start)', ...files];
  const med = (runs: FileResult[][], i: number): number => median(runs.map((run) => run[i]!.cpuMs));
  const total = (runs: FileResult[][]): number => median(runs.map((run) => run.reduce((a, x) => a + x.cpuMs, 0)));
  const last = (which: Build, i: number): FileResult => burst![which].at(-1)![i]!;
  const differ = names.filter((_, i) => last('before', i).count !== last('after', i).count || last('before', i).hash !== last('after', i).hash);
  const withTable = names.map((_, i) => i).filter((i) => last('after', i).kind === 'table');
  const biggest = [...withTable].sort((a, b) => last('after', b).count - last('after', a).count).slice(0, 8);
  const burstTable = [
    HEADER,
    row('(worker start: thread, modules)', '', med(burst!.before, 0), med(burst!.after, 0)),
    ...biggest.map((i) => row(`\`${names[i]}\``, int(last('after', i).count), med(burst!.before, i), med(burst!.after, i))),
    row(`all ${files.length} files in turn (${withTable.length} with a table, ${int(withTable.reduce((a, i) => a + last('after', i).count, 0))} rows)`, '',
      total(burst!.before), total(burst!.after)),
  ].join('\n');
  const aloneTable = [HEADER, ...alone.map((f, i) => row(`\`${f}\``, int(lone[i]!.after.at(-1)![1]!.count), med(lone[i]!.before, 1), med(lone[i]!.after, 1)))].join('\n');
  const text = `${SECTION}

Command: \`npx tsc -p tsconfig.json && node dist/benchmarks/cfi-compile.js --before ${values.before} --rounds ${rounds}\`  
Commits: before ${gitCommit(builds.before)}, after ${gitCommit(builds.after)}  
Date: ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC  
Machine: ${machine()}  
Load average (1/5/15 min) before: ${load0}; after: ${load1} (shared machine)

CPU time (utime + stime) of a process whose only work is the build's UnwindCompiler — the agent's
worker thread, nice 10, 96 MiB heap — medians over ${rounds} rounds, each build in fresh processes per
round (order alternating). Tables: ${differ.length === 0 ? 'the same row count and sha256 for every file in both builds' : `DIFFERENT for ${differ.join(', ')}`}.

A burst of new binaries, one worker compiling each file in turn (sorted by path; the first files
also pay for the fresh worker's JIT warm-up): the executable files processes on this host map,
plus node and libLLVM/libclang-cpp.

${burstTable}

One new binary alone in a fresh worker (as when the worker has ended after 10 s without work): its
compile, the worker's start not included.

${aloneTable}
`;
  console.log(text);
  writeResultsSection(SECTION, text, values.results ?? RESULTS_PATH);
}

await main();
