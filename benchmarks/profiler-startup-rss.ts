// The profiler's memory from a cold start on a whole busy host: `lantern run --collectors profiler`
// (no --pid, 99 Hz, 10 s intervals) while the five CPU-bound programs of profiler-workloads.ts and
// whatever else runs here are sampled. At its first drain the agent reads the symbols of every
// binary those processes were sampled in, and /proc/kallsyms; that burst, not the steady state, is
// where its RSS peaked (issue 15: ≤ 150 MiB).
//
// Per phase (a fresh agent): VmRSS every 100 ms, the peak (VmHWM, the kernel's own high-water mark,
// read before the agent is stopped) and when VmRSS first reached its highest sample, RSS at the
// end, the agent's CPU (every thread) over the second half of the phase (after the first drains:
// steady state), and the symbolizer's counters from the agent's summary. With `--baseline DIR`
// (another built tree, e.g. `git archive` of an older commit) phases alternate between that tree's
// agent and this one's, so both see the same host.
//
// With `--burst N` a burst of new programs comes too (issue 15's worst case for CFI: a busy host
// starting many large programs at once): `--burst-at` seconds after the agent is ready, processes
// map the N binaries of this host with the largest .eh_frame (map-files.ts, largestCfiFiles: the
// same list in every phase), BURST_FILES_PER_PROC each, spend BURST_CPU_MS on the CPU so that the
// profiler samples them, and stay until the phase ends. The agent with CFI compiles every one of them
// (those past the row map's capacity up to the first pass); with frame pointers it only symbolizes
// the helpers' own frames — the same in both modes.
//
//   npx tsc -p tsconfig.json && node dist/benchmarks/profiler-startup-rss.js [--runs N] [--seconds S]
//     [--modes frame_pointers,auto] [--baseline DIR --baseline-label TEXT] [--label TEXT]
//     [--burst N [--burst-at S]]
//
// Needs root, gcc, Go (/usr/local/go/bin) and a built tree. Results go to stdout and to
// benchmarks/RESULTS.md.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type AgentTree, BASELINE_OPTIONS, startAgentProcess, thisTree, treesToMeasure } from './agent-process.js';
import { type CfiFile, type Mapper, largestCfiFiles, mapFiles, mapFilesHelper } from './map-files.js';
import { cpuSeconds } from './proc.js';
import { startProfilerWorkloads } from './profiler-workloads.js';
import { writeResultsSection } from './results-file.js';
import { machine, median } from './stats.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SECTION = '## CPU profiler: start-up RSS peak (busy host)';
const SAMPLE_MS = 100;
/** Binaries mapped by each process of a burst: a large program and its libraries. */
const BURST_FILES_PER_PROC = 10;
/** CPU each process of a burst spends after mapping: a few samples at 99 Hz even on a loaded host. */
const BURST_CPU_MS = 2000;

type Mode = 'frame_pointers' | 'auto';

interface Phase {
  tree: string;
  mode: Mode;
  peakMiB: number;
  /** The highest VmRSS sample. */
  maxSampleMiB: number;
  peakAtS: number;
  endMiB: number;
  cpuPct: number;
  /** utime+stime of the whole phase, s. */
  cpuS: number;
  counters: Record<string, number>;
}

/** A burst of new programs: the helper and the files it maps, when. */
interface Burst {
  helper: string;
  files: readonly CfiFile[];
  atS: number;
}

/** The burst's processes, BURST_FILES_PER_PROC files each, all started at once. */
function startBurst(b: Burst): Promise<Mapper[]> {
  const groups: string[][] = [];
  for (let i = 0; i < b.files.length; i += BURST_FILES_PER_PROC) groups.push(b.files.slice(i, i + BURST_FILES_PER_PROC).map((f) => f.path));
  return Promise.all(groups.map((g) => mapFiles(b.helper, g, BURST_CPU_MS)));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** VmRSS and VmHWM of a process in MiB (NaN when it is gone). */
function memory(pid: number): { rss: number; hwm: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
  } catch {
    return { rss: NaN, hwm: NaN };
  }
}

async function phase(tree: AgentTree, mode: Mode, scratch: string, seconds: number, burst: Burst | null): Promise<Phase> {
  const config = join(scratch, `${mode}.yaml`);
  writeFileSync(config, `profiler:\n  unwind: ${mode}\n  frequency: 99\n  interval: 10\n`);
  const agent = await startAgentProcess(['--collectors', 'profiler', '--port', '0', '--config', config], 'tracing ', 30_000, tree.lantern);
  const t0 = performance.now();
  let max = 0;
  let maxAt = 0;
  let cpu0 = NaN;
  let burstProcs: Promise<Mapper[]> | null = null;
  while (performance.now() - t0 < seconds * 1000) {
    if (burst !== null && burstProcs === null && performance.now() - t0 >= burst.atS * 1000) burstProcs = startBurst(burst);
    const { rss } = memory(agent.pid);
    if (rss > max) {
      max = rss;
      maxAt = (performance.now() - t0) / 1000;
    }
    if (Number.isNaN(cpu0) && performance.now() - t0 >= (seconds * 1000) / 2) cpu0 = cpuSeconds(agent.pid);
    await sleep(SAMPLE_MS);
  }
  const end = memory(agent.pid);
  const cpuS = cpuSeconds(agent.pid);
  const cpuPct = (100 * (cpuS - cpu0)) / (seconds / 2);
  await agent.stop();
  for (const m of (await burstProcs) ?? []) m.end();
  const summary = /stopped\s+summary=(.*)$/m.exec(agent.stderr())?.[1];
  const counters = summary === undefined ? {} : (JSON.parse(summary) as { collectors: { profiler?: Record<string, number> } }).collectors.profiler ?? {};
  const out: Phase = { tree: tree.label, mode, peakMiB: Math.max(end.hwm, max), maxSampleMiB: max, peakAtS: maxAt, endMiB: end.rss, cpuPct, cpuS, counters };
  console.error(`${tree.label} ${mode}: peak ${out.peakMiB.toFixed(0)} MiB (samples ${max.toFixed(0)}) at ${maxAt.toFixed(1)} s, end ${end.rss.toFixed(0)} MiB, CPU ${cpuPct.toFixed(2)} % (${cpuS.toFixed(1)} s in all), `
    + `modules ${counters.symbols_modules ?? 0} (${((counters.symbols_module_bytes ?? 0) / 2 ** 20).toFixed(1)} MiB), tables ${counters.unwind_tables_loaded ?? 0} `
    + `(too big ${counters.unwind_tables_too_big ?? 0}, no room ${counters.unwind_tables_no_room ?? 0}, pending ${counters.unwind_tables_pending ?? 0}), load ${loadavg()[0]!.toFixed(2)}`);
  return out;
}

/** This tree's commit and whether src/bpf differ from it; a copy outside git is named by `label`. */
function treeState(label: string | undefined): { commit: string; dirty: boolean } {
  try {
    const git = (args: string[]): string => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return { commit: git(['rev-parse', '--short', 'HEAD']), dirty: git(['status', '--porcelain', '--', 'src', 'bpf', 'packages/libbpf-ts/src']) !== '' };
  } catch {
    return { commit: label ?? 'not a git tree', dirty: false };
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    runs: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '60' },
    modes: { type: 'string', default: 'frame_pointers,auto' },
    ...BASELINE_OPTIONS,
    /** This tree's name in the table (a copy outside git: what it holds). */
    label: { type: 'string' },
    burst: { type: 'string', default: '0' },
    'burst-at': { type: 'string', default: '0' },
  } });
  const runs = Number(values.runs);
  const seconds = Number(values.seconds);
  const modes = values.modes.split(',') as Mode[];
  const { commit, dirty } = treeState(values.label);
  const trees = treesToMeasure(thisTree(values.label ?? `${commit}${dirty ? '+' : ''}`), values.baseline, values['baseline-label']);
  const burstFiles = Number(values.burst) > 0 ? largestCfiFiles(Number(values.burst)) : [];
  const burst: Burst | null = burstFiles.length === 0 ? null : { helper: mapFilesHelper(), files: burstFiles, atS: Number(values['burst-at']) };
  const loadBefore = loadavg().map((x) => x.toFixed(2)).join(' ');
  const scratch = mkdtempSync(join(tmpdir(), 'lantern-bench-rss-'));
  const w = startProfilerWorkloads(runs * modes.length * trees.length * (seconds + 15) + 30);
  const phases: Phase[] = [];
  try {
    await sleep(3000); // node and Go past their start-up
    for (let i = 0; i < runs; i++) {
      for (const mode of modes) for (const tree of trees) phases.push(await phase(tree, mode, scratch, seconds, burst));
    }
  } finally {
    w.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
  const loadAfter = loadavg().map((x) => x.toFixed(2)).join(' ');

  const columns = modes.flatMap((mode) => trees.map((tree) => ({ mode, tree: tree.label })));
  const of = (c: { mode: Mode; tree: string }): Phase[] => phases.filter((p) => p.mode === c.mode && p.tree === c.tree);
  const row = (label: string, f: (p: Phase) => number, d = 0): string =>
    `| ${label} | ${columns.map((c) => `${median(of(c).map(f)).toFixed(d)} (${of(c).map((p) => f(p).toFixed(d)).join(', ')})`).join(' | ')} |`;
  const ctr = (k: string) => (p: Phase): number => p.counters[k] ?? 0;
  const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);
  const burstText = burst === null ? '' : `
A burst of ${burst.files.length} new programs ${burst.atS} s after the agent is ready: ${Math.ceil(burst.files.length / BURST_FILES_PER_PROC)} processes
(benchmarks/map-files.ts) each mapping ${BURST_FILES_PER_PROC} of the ${burst.files.length} ELF files of this host with the largest .eh_frame
(${mib(burst.files.reduce((a, f) => a + f.ehFrameBytes, 0))} MiB of .eh_frame in all; the largest ${burst.files.slice(0, 5).map((f) => `\`${f.path}\` ${mib(f.ehFrameBytes)}`).join(', ')}; the smallest
${mib(burst.files.at(-1)!.ehFrameBytes)}), then spending ${BURST_CPU_MS} ms of CPU and staying until the phase ends. Max sample: the highest
100 ms VmRSS sample. Tables past the row map's capacity (\`unwind_table_rows\`) are compiled up to their first pass, then dropped
("too big" / "no room").
`;
  const burstRows = burst === null ? '' : [
    row('highest VmRSS sample, MiB', (p) => p.maxSampleMiB),
    row('agent CPU, whole phase, s', (p) => p.cpuS, 1),
    row('CFI tables too big / no room', (p) => ctr('unwind_tables_too_big')(p) + ctr('unwind_tables_no_room')(p)),
    row('CFI files still pending at the end', ctr('unwind_tables_pending')),
    row('CFI table rows', ctr('unwind_table_rows')),
    row('CFI compile time (all files), ms', ctr('unwind_parse_ms')),
    row('compile worker starts', ctr('unwind_worker_starts')),
    row('compile worker recycles (past HELD_MAX_BYTES)', ctr('unwind_worker_recycles')),
  ].join('\n') + '\n';
  const text = `${burst === null ? SECTION : `${SECTION} — a burst of ${burst.files.length} new binaries`}

Command: \`npx tsc -p tsconfig.json && node dist/benchmarks/profiler-startup-rss.js --runs ${runs} --seconds ${seconds} --modes ${modes.join(',')}${values.baseline === undefined ? '' : ` --baseline DIR --baseline-label ${values['baseline-label']}`}${values.label === undefined ? '' : ` --label ${values.label}`}${burst === null ? '' : ` --burst ${burst.files.length} --burst-at ${burst.atS}`}\`  
Commit: ${commit}${dirty ? ' (with uncommitted changes in src/bpf)' : ''}  
Date: ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC  
Machine: ${machine()}  
Load average (1/5/15 min) before: ${loadBefore}; after: ${loadAfter} (shared machine: other engineers' tests ran meanwhile)

Whole host at 99 Hz (\`lantern run --collectors profiler\`, no --pid, 10 s intervals), busy with the five
CPU-bound programs of benchmarks/profiler-workloads.ts and whatever else ran here; each phase a fresh agent
for ${seconds} s, ${runs} runs${trees.length > 1 ? ', the two builds alternating' : ''}; medians, each run in parentheses. Peak: VmHWM before the agent
is stopped; when: the first 100 ms sample at the highest VmRSS, seconds after the agent said it traces.
CPU: utime+stime of the agent (every thread) over the second half of the phase, % of one core.
${burstText}
| | ${columns.map((c) => `${c.tree}, ${c.mode}`).join(' | ')} |
|---|${columns.map(() => '---|').join('')}
${row('peak RSS (VmHWM), MiB', (p) => p.peakMiB)}
${row('peak reached at, s', (p) => p.peakAtS, 1)}
${row('RSS at the end, MiB', (p) => p.endMiB)}
${row('agent CPU, second half, % of one core', (p) => p.cpuPct, 2)}
${row('processes noted', ctr('pids_noted'))}
${row('symbol modules cached', ctr('symbols_modules'))}
${row('symbol table bytes cached, KiB', (p) => ctr('symbols_module_bytes')(p) / 1024)}
${row('frames resolved', ctr('symbols_resolved_frames'))}
${row('frames unknown', ctr('symbols_unknown_frames'))}
${row('CFI tables loaded', ctr('unwind_tables_loaded'))}
${burstRows}`;
  console.log(text);
  writeResultsSection(text.slice(0, text.indexOf('\n')), text);
}

await main();
