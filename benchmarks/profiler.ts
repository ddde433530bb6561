// The continuous CPU profiler's cost, in one run:
//
//  1. overhead on a CPU-bound program: test/fixtures/profiler/hot.c in "deep" mode (recursion of
//     varying depth: nearly every sample a new stack, the costly case for the kernel side), a fixed
//     amount of work, timed without and with `lantern run --collectors profiler` (whole host, 99 Hz,
//     default settings), alternating A B A B, medians of its wall and CPU time. The BPF program runs
//     in the timer interrupt of the CPU it samples, so its cost lands in the program's own time;
//  2. the agent's own CPU (utime+stime of the agent process, all threads, from /proc) as % of one
//     core, and its RSS, over several profiler intervals after a warm-up: profiling the whole host
//     with nothing of ours running, the whole host with one "deep" program per CPU, and only those
//     programs (--pid). This machine is shared: "nothing of ours" is not an idle host, so the
//     processes the agent saw are reported with the figures;
//  3. symbolization cost per stack: stacks drained from the kernel while a C ("deep"), a Go and a
//     Node (--perf-basic-prof) program run, symbolized with a fresh symbolizer (cold: reading
//     /proc/<pid>/maps, ELF symbol tables, .gopclntab, the perf map) and again (warm: cached), as
//     the profiler does it (one call per process); and the whole interval build (labels, services).
//
//   npx tsc -p tsconfig.json && node dist/benchmarks/profiler.js [--pairs N] [--iterations N]
//       [--window S]
//
// Needs root (BPF), gcc, Go (/usr/local/go/bin) and a built tree (`npm run build`). Results go to
// stdout and to benchmarks/RESULTS.md.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { onlineCpus } from 'libbpf-ts';
import { ProfileBuilder } from '../src/collectors/profiler/builder.js';
import { ProfileSampler, type DrainedBuffer } from '../src/collectors/profiler/sampler.js';
import { ProcessMetadata } from '../src/metadata/process-metadata.js';
import { createSymbolizer } from '../src/symbols/index.js';
import { buildGoFixture } from '../test/helpers/go-build.js';
import { cpuSeconds, machineBusyS, rssMiB } from './proc.js';
import { type AgentProcess, startAgentProcess } from './agent-process.js';
import { writeResultsSection } from './results-file.js';
import { int, machine, median } from './stats.js';

/** dist/benchmarks/profiler.js → repo root. */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SECTION = '## CPU profiler (overhead, agent cost, symbolization)';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function hotBinary(): string {
  const dir = join(ROOT, 'benchmarks/.build');
  mkdirSync(dir, { recursive: true });
  const out = join(dir, 'profiler-hot');
  execFileSync('gcc', ['-O0', '-g', '-fno-omit-frame-pointer', '-o', out, join(ROOT, 'test/fixtures/profiler/hot.c')]);
  return out;
}

// --- the agent ---------------------------------------------------------------------------------

function startAgent(pids: number[] = []): Promise<AgentProcess> {
  return startAgentProcess(['--collectors', 'profiler', '--port', '0', ...pids.flatMap((p) => ['--pid', String(p)])], 'tracing ');
}

// --- 1. overhead -------------------------------------------------------------------------------

interface WorkResult {
  wallS: number;
  cpuS: number;
}

async function work(bin: string, iterations: number): Promise<WorkResult> {
  const out = execFileSync(bin, ['0', 'deep', String(iterations)], { encoding: 'utf8' });
  const m = /elapsed_ns=(\d+) cpu_ns=(\d+)/.exec(out);
  if (m === null) throw new Error(`unexpected workload output: ${out}`);
  return { wallS: Number(m[1]) / 1e9, cpuS: Number(m[2]) / 1e9 };
}

interface Overhead {
  without: WorkResult[];
  with: WorkResult[];
  agentCpuPct: number[];
}

async function overhead(bin: string, pairs: number, iterations: number): Promise<Overhead> {
  const r: Overhead = { without: [], with: [], agentCpuPct: [] };
  await work(bin, Math.max(1, iterations >> 3)); // warm caches, page in the binary
  for (let i = 0; i < pairs; i++) {
    r.without.push(await work(bin, iterations));
    const agent = await startAgent();
    await sleep(1000);
    const c0 = cpuSeconds(agent.pid);
    const t0 = performance.now();
    const w = await work(bin, iterations);
    r.agentCpuPct.push((100 * (cpuSeconds(agent.pid) - c0)) / ((performance.now() - t0) / 1000));
    r.with.push(w);
    await agent.stop();
    const a = r.without.at(-1)!;
    console.error(`pair ${i + 1}: without ${a.wallS.toFixed(3)} s wall / ${a.cpuS.toFixed(3)} s CPU, with ${w.wallS.toFixed(3)} s / ${w.cpuS.toFixed(3)} s`);
  }
  return r;
}

// --- 2. the agent at rest and busy -------------------------------------------------------------

interface AgentCost {
  name: string;
  cpuPct: number;
  rssMiB: number;
  maxRssMiB: number;
  hostBusyPct: number;
  drains: number;
  samples: number;
  processes: number;
}

const WARMUP_S = 25;

async function agentCost(name: string, bin: string, windowS: number, load: 'none' | 'host' | 'scoped'): Promise<AgentCost> {
  const loads: ChildProcess[] = [];
  if (load !== 'none') for (const _ of onlineCpus()) loads.push(spawn(bin, [String(windowS + WARMUP_S + 10), 'deep'], { stdio: 'ignore' }));
  const agent = await startAgent(load === 'scoped' ? loads.map((l) => l.pid!) : []);
  let maxRss = 0;
  const rssTimer = setInterval(() => (maxRss = Math.max(maxRss, rssMiB(agent.pid) || 0)), 500);
  await sleep(WARMUP_S * 1000); // past start-up and the first JIT compilations
  const c0 = cpuSeconds(agent.pid);
  const h0 = machineBusyS();
  const t0 = performance.now();
  await sleep(windowS * 1000);
  clearInterval(rssTimer);
  const el = (performance.now() - t0) / 1000;
  const out: AgentCost = {
    name,
    cpuPct: (100 * (cpuSeconds(agent.pid) - c0)) / el,
    rssMiB: rssMiB(agent.pid),
    maxRssMiB: maxRss,
    hostBusyPct: (100 * (machineBusyS() - h0)) / el / onlineCpus().length,
    drains: 0,
    samples: 0,
    processes: 0,
  };
  for (const l of loads) l.kill('SIGKILL');
  await agent.stop();
  const summary = /stopped\s+summary=(.*)$/m.exec(agent.stderr())?.[1];
  if (summary !== undefined) {
    const s = JSON.parse(summary) as { collectors: { profiler?: Record<string, number> } };
    out.drains = s.collectors.profiler?.drains ?? 0;
    out.samples = s.collectors.profiler?.kernel_samples ?? 0;
    out.processes = s.collectors.profiler?.pids_noted ?? 0;
  }
  console.error(`${name}: agent ${out.cpuPct.toFixed(2)}% of a core, RSS ${out.rssMiB.toFixed(0)} MiB (max ${out.maxRssMiB.toFixed(0)}), host ${out.hostBusyPct.toFixed(0)}% busy`);
  return out;
}

/** Medians of each figure over the runs of one setting; the per-run CPU figures are kept. */
function medianCost(rs: AgentCost[]): AgentCost & { cpuRuns: number[] } {
  const m = (f: (c: AgentCost) => number): number => median(rs.map(f));
  return {
    name: rs[0]!.name, cpuPct: m((c) => c.cpuPct), rssMiB: m((c) => c.rssMiB), maxRssMiB: m((c) => c.maxRssMiB),
    hostBusyPct: m((c) => c.hostBusyPct), drains: m((c) => c.drains), samples: m((c) => c.samples), processes: m((c) => c.processes),
    cpuRuns: rs.map((c) => c.cpuPct),
  };
}

// --- 3. symbolization --------------------------------------------------------------------------

interface SymRow {
  runtime: string;
  stacks: number;
  frames: number;
  coldMs: number;
  warmMs: number;
  named: number;
}

async function symbolization(bin: string): Promise<{ rows: SymRow[]; buildMsPerStack: number; buildStacks: number }> {
  const goBin = buildGoFixture('profiler-go');
  const scratch = mkdtempSync(join(tmpdir(), 'lantern-bench-'));
  const sampler = ProfileSampler.start({
    frequencyHz: 499, stackMapEntries: 65536, countMapEntries: 131072, pids: [process.pid], agentPid: process.pid,
    includeIdle: false, onNotice: () => undefined, onError: () => undefined,
  });
  const programs: Array<{ runtime: string; child: ChildProcess }> = [
    { runtime: 'C (ELF .symtab)', child: spawn(bin, ['6', 'deep'], { stdio: 'ignore' }) },
    { runtime: 'Go (.gopclntab)', child: spawn(goBin, ['6'], { stdio: 'ignore' }) },
    // (V8 writes its logs into the working directory under --perf-basic-prof: a scratch one.)
    { runtime: 'Node (perf map + ELF)', child: spawn(process.execPath, ['--perf-basic-prof', join(ROOT, 'test/fixtures/profiler/hot.mjs'), '6'], { stdio: 'ignore', cwd: scratch }) },
  ];
  await sleep(4000);
  let buf: DrainedBuffer;
  try {
    buf = await sampler.drain();
  } finally {
    await sampler.close();
  }
  const rows: SymRow[] = [];
  const cold = createSymbolizer();
  const warmUp: Array<() => void> = [];
  for (const p of programs) {
    const pid = p.child.pid!;
    const ids = [...new Set(buf.counts.filter((c) => c.key.pid === pid && c.key.userStackId >= 0).map((c) => c.key.userStackId))];
    const addrs = ids.flatMap((id) => (buf.stacks.get(id) ?? []).map((ip, i) => (i === 0 ? ip : ip - 1n)));
    const t0 = performance.now();
    cold.notePid(pid);
    const frames = cold.symbolizeUser(pid, addrs);
    const coldMs = performance.now() - t0;
    const t1 = performance.now();
    cold.symbolizeUser(pid, addrs);
    const warmMs = performance.now() - t1;
    rows.push({ runtime: p.runtime, stacks: ids.length, frames: addrs.length, coldMs, warmMs, named: frames.filter((f) => f.function !== undefined).length });
    warmUp.push(() => cold.notePid(pid));
  }
  const kids = [...new Set(buf.counts.filter((c) => c.key.kernelStackId >= 0).map((c) => c.key.kernelStackId))];
  const kAddrs = kids.flatMap((id) => (buf.stacks.get(id) ?? []).map((ip, i) => (i === 0 ? ip : ip - 1n)));
  const k0 = performance.now();
  const kFrames = cold.symbolizeKernel(kAddrs);
  const kCold = performance.now() - k0;
  const k1 = performance.now();
  cold.symbolizeKernel(kAddrs);
  rows.push({ runtime: 'kernel (kallsyms)', stacks: kids.length, frames: kAddrs.length, coldMs: kCold, warmMs: performance.now() - k1, named: kFrames.filter((f) => f.function !== undefined).length });
  // The whole build of the interval, as the collector does it, with the warm symbolizer.
  const metadata = new ProcessMetadata({ base: {} });
  const builder = new ProfileBuilder({
    symbolizer: cold, frequencyHz: 499, maxSamples: 1_000_000, problem: () => undefined,
    identify: (pid, comm) => ({ service: String(metadata.resource(pid, comm).attributes['service.name'] ?? comm) }),
  });
  const b0 = performance.now();
  await builder.build(buf);
  const buildMs = performance.now() - b0;
  const buildStacks = new Set(buf.counts.map((c) => `${c.key.pid}:${c.key.userStackId}:${c.key.kernelStackId}`)).size;
  for (const p of programs) {
    p.child.kill('SIGKILL');
    rmSync(`/tmp/perf-${p.child.pid}.map`, { force: true });
  }
  rmSync(scratch, { recursive: true, force: true });
  for (const r of rows) console.error(`${r.runtime}: ${r.stacks} stacks, ${r.frames} frames, cold ${r.coldMs.toFixed(1)} ms, warm ${r.warmMs.toFixed(2)} ms, ${r.named} named`);
  return { rows, buildMsPerStack: buildMs / Math.max(1, buildStacks), buildStacks };
}

// --- main --------------------------------------------------------------------------------------

const pct = (a: number, b: number): string => `${((100 * (a - b)) / b >= 0 ? '+' : '')}${((100 * (a - b)) / b).toFixed(2)}%`;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { pairs: { type: 'string' }, iterations: { type: 'string' }, window: { type: 'string' }, 'cost-runs': { type: 'string' } } });
  const costRuns = Number(values['cost-runs'] ?? 3);
  const pairs = Number(values.pairs ?? 7);
  const iterations = Number(values.iterations ?? 1500);
  const windowS = Number(values.window ?? 60);
  if (!(pairs >= 1 && iterations >= 1 && windowS >= 5 && costRuns >= 1)) throw new RangeError('--pairs ≥ 1, --iterations ≥ 1, --window ≥ 5, --cost-runs ≥ 1');
  const bin = hotBinary();

  const o = await overhead(bin, pairs, iterations);
  // Each setting costRuns times, interleaved; the medians are reported.
  const settings = [
    ['whole host, nothing of ours running', 'none'],
    ['whole host + one "deep" program per CPU', 'host'],
    ['only the "deep" programs (--pid)', 'scoped'],
  ] as const;
  const runs: AgentCost[][] = settings.map(() => []);
  for (let r = 0; r < costRuns; r++) {
    for (const [i, [name, load]] of settings.entries()) runs[i]!.push(await agentCost(name, bin, windowS, load));
  }
  const costs = runs.map((rs) => medianCost(rs));
  const sym = await symbolization(bin);

  const wallA = median(o.without.map((w) => w.wallS));
  const wallB = median(o.with.map((w) => w.wallS));
  const cpuA = median(o.without.map((w) => w.cpuS));
  const cpuB = median(o.with.map((w) => w.cpuS));
  const perRun = o.without.map((a, i) => `${pct(o.with[i]!.cpuS, a.cpuS)}`).join(', ');
  const symRows = sym.rows.map((r) => `| ${r.runtime} | ${int(r.stacks)} | ${int(r.frames)} | ${r.frames === 0 ? '—' : `${((100 * r.named) / r.frames).toFixed(0)}%`} | ${r.coldMs.toFixed(1)} | ${r.stacks === 0 ? '—' : ((1000 * r.coldMs) / r.stacks).toFixed(0)} | ${r.stacks === 0 ? '—' : ((1000 * r.warmMs) / r.stacks).toFixed(1)} |`);
  const text = `${SECTION}

Command: \`node dist/benchmarks/profiler.js --pairs ${pairs} --iterations ${iterations} --window ${windowS} --cost-runs ${costRuns}\` (as root, after \`npm run build\`)  
Date: ${new Date().toISOString().slice(0, 10)}  
Machine: ${machine()}

The agent is \`lantern run --collectors profiler --port 0\`: the whole host sampled at 99 Hz on every CPU, drained every
10 s, symbolized and kept in the local view (no files, no Pyroscope), started fresh for each "with" run.

### 1. Overhead on a CPU-bound program

\`test/fixtures/profiler/hot.c\` in "deep" mode (${iterations} iterations of recursion 10–50 frames deep through two
functions, so nearly every sample is a new stack: the costly case for \`bpf_get_stackid\`), timed by the program
itself; ${pairs} pairs, without then with, alternating. The BPF program runs in the timer interrupt of the CPU it
samples, so its cost is inside the program's own CPU time (tick accounting, no IRQ time accounting on this kernel).

| | without | with | difference |
|---|---:|---:|---:|
| CPU time (median) | ${cpuA.toFixed(3)} s | ${cpuB.toFixed(3)} s | **${pct(cpuB, cpuA)}** |
| wall time (median) | ${wallA.toFixed(3)} s | ${wallB.toFixed(3)} s | ${pct(wallB, wallA)} |

Per pair, CPU time with vs without: ${perRun}. The agent's own CPU during the "with" runs: median
${median(o.agentCpuPct).toFixed(2)}% of one core. At 99 Hz one sample costs the sampled CPU well under 1% of its time
unless a sample costs more than ~100 µs: the figure above is within the run-to-run noise of this shared machine.

### 2. The agent itself

Over ${windowS} s (${Math.floor(windowS / 10)} intervals), measured from ${WARMUP_S} s after start-up (past the first drains, which
read kallsyms and the first binaries cold): utime+stime of the agent process (all threads) from /proc, and its RSS (at
the end, and the highest seen, sampled every 0.5 s from start-up). *Processes* is how many the agent announced and
symbolized (first-sample notices), *samples* what the kernel counted over the whole run. Medians of ${costRuns} runs per
setting, the settings interleaved; the CPU figure of each run is in the last column.

| agent profiles | agent CPU (% of one core) | RSS at the end | RSS max | host CPU busy | processes | drains | samples | CPU per run |
|---|---:|---:|---:|---:|---:|---:|---:|---|
${costs.map((c) => `| ${c.name} | ${c.cpuPct.toFixed(2)}% | ${c.rssMiB.toFixed(0)} MiB | ${c.maxRssMiB.toFixed(0)} MiB | ${c.hostBusyPct.toFixed(0)}% | ${int(c.processes)} | ${c.drains} | ${int(c.samples)} | ${c.cpuRuns.map((x) => `${x.toFixed(2)}%`).join(', ')} |`).join('\n')}

This machine is shared with other sessions whose test suites start and end processes all the time: the "whole host"
rows include symbolizing every one of them (each new binary costs a cold read of its symbol tables; the
\`symbols_*\` self-metrics count them), which a quiet production host does not see at this rate.

### 3. Symbolization per stack

User stacks drained after 4 s at 499 Hz of three programs, symbolized as the profiler does (one call per process, callers
at their call site). *Cold*: a fresh symbolizer, including \`notePid\` (reading /proc/<pid>/maps and opening what it
names); *warm*: the same addresses again.

| runtime | distinct stacks | frames | frames named | cold ms | cold µs/stack | warm µs/stack |
|---|---:|---:|---:|---:|---:|---:|
${symRows.join('\n')}

The whole interval build (every stack of every process, kernel stacks, labels, one profile per service) with the warm
symbolizer: ${((1000 * sym.buildMsPerStack)).toFixed(1)} µs per distinct (process, user stack, kernel stack), over ${int(sym.buildStacks)} of them.
`;
  console.log(text);
  writeResultsSection(SECTION, text);
}

await main();
