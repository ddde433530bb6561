// CFI unwinding's cost (profiler.unwind: auto, the default) against the frame-pointer-only profiler
// (unwind: frame_pointers), in one run, on a whole busy host:
//
//   two -O2 -fomit-frame-pointer C programs (test/fixtures/profiler/omitfp.c, one in its shared
//   library), a leaf without a frame (leaf.c), node running test/fixtures/profiler/hot.mjs and the
//   Go test program (profiler-go) — five CPU-bound processes on this machine's cores — plus whatever
//   else runs here, all sampled at 99 Hz by `lantern run --collectors profiler` (whole host).
//
// Phases alternate (FP, CFI, FP, CFI, …), each a fresh agent: a warm-up (start, the worker compiling
// every mapped binary's table, the first drains), then a measured window. Per phase: the agent's
// CPU (utime+stime of the process, every thread: the worker too) and its main thread's, as % of one
// core; RSS at the end and the highest seen over the whole phase (warm-up included: the compile
// peak); the BPF program's own time (run_time_ns/run_cnt of the agent's perf_event programs, from
// /proc/<agent>/fdinfo with kernel.bpf_stats_enabled on) per sample and as % of one core — that time
// is taken from the sampled programs, in the timer interrupt; and the profiler's counters from the
// agent's summary (frames walked by CFI and by frame pointers, tables, worker time, the longest
// event-loop slice spent writing rows).
//
//   npx tsc -p tsconfig.json && node dist/benchmarks/profiler-unwind.js [--pairs N] [--warmup S] [--window S]
//
// Needs root, gcc, Go (/usr/local/go/bin) and a built tree. Results go to stdout and to
// benchmarks/RESULTS.md.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { onlineCpus } from 'libbpf-ts';
import { cpuSeconds, machineBusyS, mainThreadCpuSeconds, rssMiB } from './proc.js';
import { type AgentProcess, startAgentProcess } from './agent-process.js';
import { startProfilerWorkloads } from './profiler-workloads.js';
import { writeResultsSection } from './results-file.js';
import { machine, median } from './stats.js';

/** dist/benchmarks/profiler-unwind.js → repo root. */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SECTION = '## CPU profiler: CFI unwinding against frame pointers (busy host)';
const BPF_STATS = '/proc/sys/kernel/bpf_stats_enabled';
/** BPF_PROG_TYPE_PERF_EVENT, as /proc/<pid>/fdinfo prints prog_type. */
const PROG_TYPE_PERF_EVENT = 7;

type Mode = 'frame_pointers' | 'auto';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// --- the agent ---------------------------------------------------------------------------------

function startAgent(config: string): Promise<AgentProcess> {
  return startAgentProcess(['--collectors', 'profiler', '--port', '0', '--config', config], 'tracing ');
}

/** Summed run_time_ns and run_cnt of the agent's perf_event programs (each program once). */
function bpfRunStats(pid: number): { ns: number; runs: number } {
  const seen = new Set<string>();
  let ns = 0;
  let runs = 0;
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    let info: string;
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) !== 'anon_inode:bpf-prog') continue;
      info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue;
    }
    const field = (k: string): string | undefined => new RegExp(`^${k}:\\s*(\\S+)`, 'm').exec(info)?.[1];
    if (Number(field('prog_type')) !== PROG_TYPE_PERF_EVENT) continue;
    const id = field('prog_id') ?? fd;
    if (seen.has(id)) continue;
    seen.add(id);
    ns += Number(field('run_time_ns') ?? 0);
    runs += Number(field('run_cnt') ?? 0);
  }
  return { ns, runs };
}

interface Phase {
  mode: Mode;
  cpuPct: number;
  mainThreadPct: number;
  rssMiB: number;
  maxRssMiB: number;
  bpfNsPerSample: number;
  bpfCorePct: number;
  hostBusyPct: number;
  counters: Record<string, number>;
}

async function phase(mode: Mode, scratch: string, warmupS: number, windowS: number): Promise<Phase> {
  const config = join(scratch, `${mode}.yaml`);
  writeFileSync(config, `profiler:\n  unwind: ${mode}\n  frequency: 99\n  interval: 10\n`);
  const agent = await startAgent(config);
  let maxRss = 0;
  const rssTimer = setInterval(() => (maxRss = Math.max(maxRss, rssMiB(agent.pid) || 0)), 250);
  await sleep(warmupS * 1000);
  const c0 = cpuSeconds(agent.pid);
  const m0 = mainThreadCpuSeconds(agent.pid);
  const b0 = bpfRunStats(agent.pid);
  const h0 = machineBusyS();
  const t0 = performance.now();
  await sleep(windowS * 1000);
  const el = (performance.now() - t0) / 1000;
  const b1 = bpfRunStats(agent.pid);
  const out: Phase = {
    mode,
    cpuPct: (100 * (cpuSeconds(agent.pid) - c0)) / el,
    mainThreadPct: (100 * (mainThreadCpuSeconds(agent.pid) - m0)) / el,
    rssMiB: rssMiB(agent.pid),
    maxRssMiB: 0,
    bpfNsPerSample: b1.runs > b0.runs ? (b1.ns - b0.ns) / (b1.runs - b0.runs) : NaN,
    bpfCorePct: (100 * (b1.ns - b0.ns)) / 1e9 / el,
    hostBusyPct: (100 * (machineBusyS() - h0)) / el / onlineCpus().length,
    counters: {},
  };
  clearInterval(rssTimer);
  out.maxRssMiB = Math.max(maxRss, out.rssMiB);
  await agent.stop();
  const summary = /stopped\s+summary=(.*)$/m.exec(agent.stderr())?.[1];
  if (summary !== undefined) {
    out.counters = (JSON.parse(summary) as { collectors: { profiler?: Record<string, number> } }).collectors.profiler ?? {};
  }
  const k = out.counters;
  console.error(`${mode}: agent ${out.cpuPct.toFixed(2)}% (main thread ${out.mainThreadPct.toFixed(2)}%), RSS ${out.rssMiB.toFixed(0)} MiB (max ${out.maxRssMiB.toFixed(0)}), `
    + `BPF ${out.bpfNsPerSample.toFixed(0)} ns/sample = ${out.bpfCorePct.toFixed(3)}% of a core; cfi frames ${k.kernel_unwind_cfi_frames ?? 0}, fp frames ${k.kernel_unwind_fp_frames ?? 0}, `
    + `tables ${k.unwind_tables_loaded ?? 0} (${k.unwind_table_rows ?? 0} rows), parse ${k.unwind_parse_ms ?? 0} ms, max slice ${k.unwind_max_slice_ms ?? 0} ms; load ${loadavg()[0]!.toFixed(2)}`);
  return out;
}

// --- main --------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { pairs: { type: 'string', default: '3' }, warmup: { type: 'string', default: '20' }, window: { type: 'string', default: '30' } } });
  const pairs = Number(values.pairs);
  const warmupS = Number(values.warmup);
  const windowS = Number(values.window);
  const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'bpf', 'packages/libbpf-ts/src'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
  const loadBefore = loadavg().map((x) => x.toFixed(2)).join(' ');
  const statsBefore = readFileSync(BPF_STATS, 'utf8').trim();
  writeFileSync(BPF_STATS, '1');
  const scratch = mkdtempSync(join(tmpdir(), 'lantern-bench-unwind-cfg-'));
  const total = pairs * 2 * (warmupS + windowS + 10) + 30;
  const w = startProfilerWorkloads(total);
  const phases: Phase[] = [];
  try {
    await sleep(3000); // node and Go past their start-up
    for (let i = 0; i < pairs; i++) {
      for (const mode of ['frame_pointers', 'auto'] as const) phases.push(await phase(mode, scratch, warmupS, windowS));
    }
  } finally {
    w.stop();
    writeFileSync(BPF_STATS, statsBefore);
    rmSync(scratch, { recursive: true, force: true });
  }
  const loadAfter = loadavg().map((x) => x.toFixed(2)).join(' ');

  const of = (mode: Mode): Phase[] => phases.filter((p) => p.mode === mode);
  const med = (mode: Mode, f: (p: Phase) => number): number => median(of(mode).map(f));
  const runs = (mode: Mode, f: (p: Phase) => number, d = 2): string => of(mode).map((p) => f(p).toFixed(d)).join(', ');
  const ctr = (k: string) => (p: Phase): number => p.counters[k] ?? 0;
  const row = (label: string, f: (p: Phase) => number, d = 2): string =>
    `| ${label} | ${med('frame_pointers', f).toFixed(d)} (${runs('frame_pointers', f, d)}) | ${med('auto', f).toFixed(d)} (${runs('auto', f, d)}) |`;
  const cfiShare = (p: Phase): number => {
    const c = ctr('kernel_unwind_cfi_frames')(p);
    const f = ctr('kernel_unwind_fp_frames')(p);
    return c + f === 0 ? 0 : (100 * c) / (c + f);
  };
  const text = `${SECTION}

Command: \`npx tsc -p tsconfig.json && node dist/benchmarks/profiler-unwind.js --pairs ${pairs} --warmup ${warmupS} --window ${windowS}\`  
Commit: ${commit}${dirty ? ' (with uncommitted changes in src/bpf)' : ''}  
Date: ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC  
Machine: ${machine()}  
Load average (1/5/15 min) before: ${loadBefore}; after: ${loadAfter} (shared machine: other engineers' tests ran meanwhile)

Whole host at 99 Hz (\`lantern run --collectors profiler\`, no --pid), busy with five CPU-bound programs of
ours — omitfp (-O2 -fomit-frame-pointer), omitfp in its shared library, leaf (-O1, a frameless leaf),
node hot.mjs, the Go test program — and whatever else ran here. ${pairs} pairs of phases alternating
frame_pointers / auto (each a fresh agent: ${warmupS} s warm-up, then ${windowS} s measured); medians, each
run in parentheses. Agent CPU: utime+stime of the process (every thread, the compile worker too) over
the window, % of one core. BPF: run_time_ns / run_cnt of the agent's perf_event program over the window
(kernel.bpf_stats_enabled=1 for the run); that time is spent in the sampled programs' timer interrupts,
not in the agent. Max RSS: the highest over the whole phase, warm-up (table compiles) included.

| | frame_pointers | auto (CFI) |
|---|---|---|
${row('agent CPU, % of one core', (p) => p.cpuPct)}
${row('agent main thread CPU, %', (p) => p.mainThreadPct)}
${row('agent RSS at the end, MiB', (p) => p.rssMiB, 0)}
${row('agent max RSS over the phase, MiB', (p) => p.maxRssMiB, 0)}
${row('BPF ns per sample', (p) => p.bpfNsPerSample, 0)}
${row('BPF, % of one core', (p) => p.bpfCorePct, 3)}
${row('host busy, %', (p) => p.hostBusyPct, 0)}
${row('samples (whole phase)', ctr('kernel_samples'), 0)}
${row('user frames stepped by CFI, % of walked frames', cfiShare, 1)}
${row('tables loaded', ctr('unwind_tables_loaded'), 0)}
${row('table rows', ctr('unwind_table_rows'), 0)}
${row('worker compile time (all tables), ms', ctr('unwind_parse_ms'), 0)}
${row('longest compile of one file, ms', ctr('unwind_max_parse_ms'), 0)}
${row('longest event-loop slice writing rows, ms', ctr('unwind_max_slice_ms'), 1)}
${row('Go binaries (no table)', ctr('unwind_go_binaries'), 0)}
${row('stacks cut: read failed', ctr('kernel_unwind_read_failed'), 0)}
${row('stacks cut: bad frame', ctr('kernel_unwind_bad_frame'), 0)}
${row('max drain, ms', ctr('max_drain_ms'), 0)}
`;
  console.log(text);
  writeResultsSection(SECTION, text);
}

await main();
