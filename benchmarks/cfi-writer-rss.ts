// The memory the agent's CFI tables cost on their way into the kernel: the real compile worker and
// the real table writer (UnwindTables, over the profiler object's own BPF maps, loaded and never
// attached), of two builds, on the files with the largest .eh_frame at hand — libLLVM, libclang-cpp,
// node, go — while the parent samples the child's VmRSS every 5 ms.
//
// Each round starts, for each build in turn (the order alternating), a child process that loads the
// object, then for each file: starts a small C program that maps the file executable (as a process
// would), notes that program's pid (UnwindTables.notePid: the file is queued, compiled on the worker,
// its rows written), waits until idle, ends the program, forgets its pid, and returns free memory to
// the system (malloc_trim, as the agent does every 10 s). Before the first file the helper alone is
// noted (its own binary, libc, ld.so, the vDSO): the files' figures are not theirs.
//
//   npx tsc -p tsconfig.json && node dist/benchmarks/cfi-writer-rss.js --before <other checkout>/dist [--rounds N] [--files a,b]
//
// Prints a Markdown table: per file and build, the peak VmRSS over the RSS before it (medians over
// the rounds), and the process's VmHWM at the end.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { mapFiles, mapFilesHelper } from './map-files.js';
import { machine, median } from './stats.js';

const DIST = fileURLToPath(new URL('../', import.meta.url));
const FILES = ['/usr/lib/x86_64-linux-gnu/libLLVM-14.so.1', '/usr/lib/x86_64-linux-gnu/libLLVM-15.so.1', '/usr/lib/llvm-14/lib/libclang-cpp.so.14', '/usr/bin/node', '/usr/local/go/bin/go'];
const kib = (field: string, pid: number | 'self'): number => {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? 0 : Number(m[1]);
};

// --- the child: one build's writer on every file --------------------------------------------------

interface Tables {
  notePid(pid: number): boolean;
  forgetPid(pid: number): void;
  idle(): Promise<void>;
  close(): Promise<void>;
  stats(): Record<string, number>;
}

async function child(dist: string, helper: string, files: string[]): Promise<void> {
  const bpf = (await import(resolve(dist, 'src/collectors/bpf-object.js'))) as typeof import('../src/collectors/bpf-object.js');
  const mod = (await import(resolve(dist, 'src/collectors/profiler/unwind-tables.js'))) as { UnwindTables: new (maps: unknown, opts: { maxRows: number; maxTables: number }) => Tables };
  const { codec, releaseFreeMemory } = await import('libbpf-ts');
  // The agent's default row capacity (profiler.unwind_table_rows).
  const maxRows = 1 << 20;
  const obj = bpf.loadLanternObject('profiler', { agentPid: process.pid, pids: [] }, (o) => {
    o.setMapMaxEntries('unwind_rows', maxRows);
    o.setMapMaxEntries('unwind_tables', 4096);
  });
  const rows = obj.map('unwind_rows');
  const maps = {
    rows: rows.typed(codec.u32, codec.bytes(rows.valueSize)),
    tables: obj.map('unwind_tables').typed(codec.u32, codec.bytes(8)),
    procs: obj.map('unwind_procs').typed(codec.u32, codec.bytes(obj.map('unwind_procs').valueSize)),
  };
  const tables = new mod.UnwindTables(maps, { maxRows, maxTables: 4096 });
  const say = (line: string): void => void process.stdout.write(`${line}\n`);
  const run = async (label: string, list: string[]): Promise<void> => {
    const m = await mapFiles(helper, list);
    const before = tables.stats();
    say(`start ${label}`);
    const t0 = performance.now();
    tables.notePid(m.pid);
    await tables.idle();
    const s = tables.stats();
    say(`end ${label} ${JSON.stringify({ rows: s.table_rows! - before.table_rows!, ms: performance.now() - t0, slice: s.max_slice_ms, errors: s.file_errors })}`);
    m.end();
    tables.forgetPid(m.pid);
    releaseFreeMemory();
    await new Promise((r) => setTimeout(r, 300));
  };
  await run('(helper, libc, ld.so, vDSO)', []);
  for (const f of files) await run(f, [f]);
  await tables.close();
  obj.close();
  say(`hwm ${kib('VmHWM', 'self')}`);
}

// --- the parent -----------------------------------------------------------------------------------

interface FileRss {
  /** Peak VmRSS while it compiled and was written, over the VmRSS just before, KiB. */
  delta: number;
  peak: number;
  rows: number;
  ms: number;
}

/** One child: per label, its figures; and the child's VmHWM. */
async function runChild(dist: string, helper: string, files: string[]): Promise<{ files: Map<string, FileRss>; hwm: number }> {
  const p = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', dist, '--helper', helper, '--files', files.join(',')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const out = new Map<string, FileRss>();
  let current: { label: string; base: number; peak: number } | null = null;
  let hwm = 0;
  const timer = setInterval(() => {
    if (current === null) return;
    try {
      current.peak = Math.max(current.peak, kib('VmRSS', p.pid!));
    } catch {
      // exited
    }
  }, 5);
  let buf = '';
  p.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const [what, ...rest] = line.split(' ');
      if (what === 'start') {
        const base = kib('VmRSS', p.pid!);
        current = { label: rest.join(' '), base, peak: base };
      } else if (what === 'end' && current !== null) {
        const figures = JSON.parse(rest.at(-1)!) as { rows: number; ms: number };
        out.set(current.label, { delta: current.peak - current.base, peak: current.peak, rows: figures.rows, ms: figures.ms });
        current = null;
      } else if (what === 'hwm') hwm = Number(rest[0]);
    }
  });
  const code = await new Promise<number | null>((r) => p.once('exit', r));
  clearInterval(timer);
  if (code !== 0) throw new Error(`child for ${dist} exited ${code}`);
  return { files: out, hwm };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      child: { type: 'string' }, helper: { type: 'string' }, files: { type: 'string' },
      before: { type: 'string' }, after: { type: 'string' }, rounds: { type: 'string', default: '3' },
    },
  });
  const files = (values.files?.split(',') ?? FILES.filter((f) => existsSync(f))).map((f) => realpathSync(f));
  if (values.child !== undefined) return child(values.child, values.helper!, files);
  if (values.before === undefined) throw new Error('--before <dist of the other build> is required');
  const builds = { before: resolve(values.before), after: resolve(values.after ?? DIST) };
  const helper = mapFilesHelper();
  const load0 = loadavg();
  const runs: Record<'before' | 'after', Array<Awaited<ReturnType<typeof runChild>>>> = { before: [], after: [] };
  for (let round = 0; round < Number(values.rounds); round++) {
    const order: Array<'before' | 'after'> = round % 2 === 0 ? ['before', 'after'] : ['after', 'before'];
    for (const b of order) runs[b].push(await runChild(builds[b], helper, files));
  }
  const mib = (k: number): string => (k / 1024).toFixed(1);
  const cell = (b: 'before' | 'after', f: (r: Awaited<ReturnType<typeof runChild>>) => number): string => {
    const xs = runs[b].map(f);
    return `${mib(median(xs))} (${xs.map(mib).join(', ')})`;
  };
  const lines = [
    `Builds: before ${builds.before}, after ${builds.after}; ${values.rounds} rounds, alternating`,
    `Machine: ${machine()}; load average before ${load0.map((x) => x.toFixed(2)).join(' ')}, after ${loadavg().map((x) => x.toFixed(2)).join(' ')}`,
    '',
    '| file | rows | before: peak VmRSS over the start, MiB | after | before: noted → rows in the kernel, wall ms | after |',
    '|---|---|---|---|---|---|',
  ];
  for (const label of runs.after[0]!.files.keys()) {
    const get = (b: 'before' | 'after', k: keyof FileRss) => (r: Awaited<ReturnType<typeof runChild>>): number => r.files.get(label)?.[k] ?? NaN;
    const ms = (b: 'before' | 'after'): string => String(Math.round(median(runs[b].map(get(b, 'ms')))));
    lines.push(`| \`${label}\` | ${runs.after[0]!.files.get(label)!.rows} | ${cell('before', get('before', 'delta'))} | ${cell('after', get('after', 'delta'))} | ${ms('before')} | ${ms('after')} |`);
  }
  lines.push(`| whole child: VmHWM, MiB | | ${cell('before', (r) => r.hwm)} | ${cell('after', (r) => r.hwm)} | | |`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
