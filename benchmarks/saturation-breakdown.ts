// Saturation, part by part: what nginx loses under `wrk` to each part of tracing it. nginx.ts's
// saturation ratio (wrk's requests/s with the agent against without) is one figure; this one takes
// it apart, each condition in turn in every round, as one machine under one load:
//
//   none          nothing loaded;
//   tracepoints   a program that does nothing on every syscall tracepoint the socket tracer attaches
//                 to (benchmarks/bpf/tracepoint_floor.bpf.c): what the tracepoints cost by themselves;
//   BPF alone     the agent started, then stopped (SIGSTOP) for the load: its programs do their work
//                 in nginx's syscalls, its process takes no CPU (its ring fills at once and the kernel
//                 sheds every exchange, counting its RED there: the programs' cheapest path per request);
//   agent         the agent as it runs.
//
// Then one more load per agent condition with `kernel.bpf_stats_enabled` (two clock reads more per
// program run, so not in the ratios) for each program's run time per request. The agent traces
// nginx's pids (as nginx.ts), or every process with --all-processes (wrk's syscalls then do the
// programs' work too). nginx has one worker: it is what saturates, so what its syscalls cost it is
// what the ratio loses, with whatever CPU the agent takes from it or from wrk.
//
// With `--baseline DIR` another checkout's agent (its bin/lantern.js and BPF objects) takes the two
// agent conditions too, in the same rounds: a change to the programs against the code before it.
//
//   npm run build && node dist/benchmarks/saturation-breakdown.js [--rounds N] [--seconds N] [--all-processes] [--baseline DIR --baseline-label TEXT]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BpfObject, type Link } from 'libbpf-ts';
import { nginxWithWorkerPids, startNginx } from '../test/helpers/nginx.js';
import { type AgentProcess, type AgentTree, BASELINE_OPTIONS, startAgentProcess, thisTree, treesToMeasure } from './agent-process.js';
import { benchCommand, runBenchmark, sectionPreamble, type WrkResult, wrk } from './loadgen-tool.js';
import { treeCpuSeconds } from './proc.js';
import { writeResultsSection } from './results-file.js';
import { median } from './stats.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const HEADING = '## Saturation, part by part: nginx under wrk, the tracepoints, the BPF programs and the agent';
const PATH = '/lantern-saturation';
const SOCKETS_OBJECT = join(ROOT, 'bpf/.output/sockets.bpf.o');
const FLOOR_SOURCE = join(ROOT, 'benchmarks/bpf/tracepoint_floor.bpf.c');
const BUILD_DIR = join(ROOT, 'benchmarks/.build');
/** After the agent's start-up, before the load (as nginx.ts's rest). */
const REST_MS = 1500;

/** What runs beside nginx for one load: nothing, the do-nothing programs, or a tree's agent, stopped or running. */
interface Condition {
  label: string;
  kind: 'none' | 'tracepoints' | 'BPF alone' | 'agent';
  tree: AgentTree | null;
}

/** The conditions of a round, in turn: the agent's two for each tree (the baseline's first). */
function conditions(trees: readonly AgentTree[]): Condition[] {
  const agentKinds = ['BPF alone', 'agent'] as const;
  const named = (kind: string, tree: AgentTree): string => (trees.length > 1 ? `${kind} (${tree.label})` : kind);
  return [
    { label: 'none', kind: 'none', tree: null },
    { label: 'tracepoints', kind: 'tracepoints', tree: null },
    ...trees.flatMap((tree) => agentKinds.map((kind) => ({ label: named(kind, tree), kind, tree }))),
  ];
}

interface Run {
  condition: Condition;
  wrk: WrkResult;
  /** The agent's CPU over the load (process tree), % of one core; NaN without an agent. */
  agentCpuPercent: number;
}

interface ProgStat { id: number; name: string; run_cnt?: number; run_time_ns?: number }

/** Per program name: runs and run time per wrk request over one load with bpf_stats on. */
type ProgramCosts = Map<string, { runsPerRequest: number; nsPerRequest: number; nsPerRun: number }>;

function programs(): ProgStat[] {
  return JSON.parse(execFileSync('bpftool', ['prog', 'show', '-j'], { encoding: 'utf8', maxBuffer: 64 << 20 })) as ProgStat[];
}

function setStats(on: boolean): void {
  execFileSync('sysctl', ['-q', `kernel.bpf_stats_enabled=${on ? 1 : 0}`]);
}

/**
 * The syscall tracepoints the socket tracer attaches to, from its object's section names
 * (`tracepoint/syscalls/sys_enter_read`, …): the same set, whatever the tracer adds later.
 */
function socketTracepoints(): Array<[string, string]> {
  const obj = BpfObject.open(SOCKETS_OBJECT);
  try {
    return obj.programs()
      .map((p) => p.info.section.split('/'))
      .filter((s): s is [string, string, string] => s.length === 3 && s[0] === 'tracepoint')
      .map(([, category, name]) => [category, name]);
  } finally {
    obj.close();
  }
}

/** The do-nothing program on each of `tracepoints`; closing the object detaches them all. */
function attachFloor(tracepoints: ReadonlyArray<[string, string]>): { close(): void } {
  execFileSync(process.execPath, [join(ROOT, 'packages/libbpf-ts/scripts/bpf-cc.mjs'), '--out', BUILD_DIR, FLOOR_SOURCE],
    { stdio: ['ignore', 'ignore', 'inherit'] });
  const obj = BpfObject.load(join(BUILD_DIR, 'tracepoint_floor.bpf.o'));
  const prog = obj.program('nothing');
  const links: Link[] = [];
  try {
    for (const [category, name] of tracepoints) links.push(prog.attachTracepoint(category, name));
  } catch (e) {
    for (const l of links) l.close();
    obj.close();
    throw e;
  }
  return { close: () => { for (const l of links) l.close(); obj.close(); } };
}

interface Env { url: string; dir: string; agentArgs: string[]; tracepoints: Array<[string, string]>; seconds: number }

async function startAgent(env: Env, tree: AgentTree): Promise<AgentProcess> {
  const agent = await startAgentProcess(['--port', '0', '--log-format', 'json', '--otlp-file', join(env.dir, 'spans.jsonl'), ...env.agentArgs],
    'writing OTLP JSON lines', 30_000, tree.lantern);
  await sleep(REST_MS);
  return agent;
}

/** One load under `condition`; with `stats`, the agent's programs' run time per request as well. */
async function load(env: Env, condition: Condition, stats: boolean): Promise<{ run: Run; costs: ProgramCosts | null }> {
  const floor = condition.kind === 'tracepoints' ? attachFloor(env.tracepoints) : null;
  const others = new Set(programs().map((p) => p.id));
  const agent = condition.tree === null ? null : await startAgent(env, condition.tree);
  const stopped = agent !== null && condition.kind === 'BPF alone';
  try {
    if (stopped) process.kill(agent.pid, 'SIGSTOP');
    if (floor !== null) await sleep(REST_MS);
    if (stats) setStats(true);
    const before = new Map(programs().map((p) => [p.id, p]));
    const cpu0 = agent === null ? NaN : treeCpuSeconds(agent.pid);
    const result = await wrk(env.url, env.seconds);
    const cpu1 = agent === null ? NaN : treeCpuSeconds(agent.pid);
    const after = stats ? programs() : [];
    if (stats) setStats(false);
    let costs: ProgramCosts | null = null;
    if (stats) {
      costs = new Map();
      for (const p of after) {
        const b = before.get(p.id);
        const runs = (p.run_cnt ?? 0) - (b?.run_cnt ?? 0);
        if (others.has(p.id) || b === undefined || runs <= 0) continue;
        const ns = (p.run_time_ns ?? 0) - (b.run_time_ns ?? 0);
        const s = costs.get(p.name) ?? { runsPerRequest: 0, nsPerRequest: 0, nsPerRun: 0 };
        s.runsPerRequest += runs / result.requests;
        s.nsPerRequest += ns / result.requests;
        s.nsPerRun = s.nsPerRequest / s.runsPerRequest;
        costs.set(p.name, s);
      }
    }
    return { run: { condition, wrk: result, agentCpuPercent: ((cpu1 - cpu0) / env.seconds) * 100 }, costs };
  } finally {
    if (stats) setStats(false);
    if (agent !== null) {
      if (stopped) process.kill(agent.pid, 'SIGCONT');
      await agent.stop();
    }
    floor?.close();
  }
}

function costTable(costs: ReadonlyMap<string, ProgramCosts>): string[] {
  const conditions = [...costs.keys()];
  const total = (c: string): number => [...costs.get(c)!.values()].reduce((a, s) => a + s.nsPerRequest, 0);
  const names = [...new Set(conditions.flatMap((c) => [...costs.get(c)!.keys()]))]
    .filter((n) => conditions.some((c) => (costs.get(c)!.get(n)?.nsPerRequest ?? 0) >= 10))
    .sort((a, b) => (costs.get(conditions[0]!)!.get(b)?.nsPerRequest ?? 0) - (costs.get(conditions[0]!)!.get(a)?.nsPerRequest ?? 0));
  const cell = (c: string, n: string): string => {
    const s = costs.get(c)!.get(n);
    return s === undefined ? '— | — | —' : `${s.runsPerRequest.toFixed(2)} | ${s.nsPerRun.toFixed(0)} | ${s.nsPerRequest.toFixed(0)}`;
  };
  return [
    `| program | ${conditions.map((c) => `${c}: runs per request | ${c}: ns per run | ${c}: ns per request`).join(' | ')} |`,
    `|---|${conditions.map(() => '---:|---:|---:').join('|')}|`,
    ...names.map((n) => `| ${n} | ${conditions.map((c) => cell(c, n)).join(' | ')} |`),
    `| **all programs, µs per request** | ${conditions.map((c) => `| | **${(total(c) / 1000).toFixed(2)}**`).join(' | ')} |`,
  ];
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '5' },
    'all-processes': { type: 'boolean', default: false },
    ...BASELINE_OPTIONS,
  } });
  const trees = treesToMeasure(thisTree('this checkout'), values.baseline, values['baseline-label']);
  const round = conditions(trees);
  const rounds = Number(values.rounds);
  const seconds = Number(values.seconds);
  const allProcesses = values['all-processes'];
  if (process.getuid?.() !== 0) throw new Error('run as root: the agent loads BPF programs');
  const dir = mkdtempSync(join(os.tmpdir(), 'lantern-saturation-'));
  const nginx = await startNginx({ locations: `location = ${PATH} { return 200 "ok\\n"; }` });
  const t0 = performance.now();
  try {
    const pids = await nginxWithWorkerPids(nginx);
    const env: Env = {
      url: `http://127.0.0.1:${nginx.port}${PATH}`, dir, seconds, tracepoints: socketTracepoints(),
      agentArgs: allProcesses ? [] : pids.flatMap((p) => ['--pid', String(p)]),
    };
    const runs: Run[] = [];
    for (let r = 0; r < rounds; r++) {
      for (const condition of round) {
        const { run } = await load(env, condition, false);
        runs.push(run);
        process.stderr.write(`round ${r + 1}, ${condition.label}: ${run.wrk.rate.toFixed(0)} req/s${Number.isNaN(run.agentCpuPercent) ? '' : `, agent ${run.agentCpuPercent.toFixed(1)} % of a core`}\n`);
      }
    }
    const costs = new Map<string, ProgramCosts>();
    for (const condition of round.filter((c) => c.tree !== null)) {
      const { costs: c } = await load(env, condition, true);
      costs.set(condition.label, c!);
    }
    const rate = (c: Condition): number => median(runs.filter((x) => x.condition === c).map((x) => x.wrk.rate));
    const agentCpu = (c: Condition): number => median(runs.filter((x) => x.condition === c).map((x) => x.agentCpuPercent));
    const none = rate(round[0]!);
    const text = [
      ...sectionPreamble(HEADING, benchCommand('dist/benchmarks/saturation-breakdown.js'), [
        `Total run time: ${((performance.now() - t0) / 1000).toFixed(0)} s; nothing pinned`,
      ]),
      `nginx (1 worker, \`return 200\`) under \`wrk -t1 -c16 -d${seconds}s\`, ${rounds} rounds, the conditions in turn in each: nothing; a program`,
      `that does nothing on each of the ${env.tracepoints.length} tracepoints the socket tracer attaches to (syscalls, sched); the agent's programs alone (the agent`,
      'started, then stopped with SIGSTOP for the load: the ring fills and the kernel sheds every exchange, counting its RED there);',
      `the agent running (\`lantern run\` tracing ${allProcesses ? 'every process (wrk too)' : "nginx's two pids (as nginx.js)"}, OTLP JSON lines to a file).`,
      'Then one load more per agent condition with `kernel.bpf_stats_enabled` for the run time per program (not in the ratios).'
        + (trees.length > 1 ? ` The agent conditions for each checkout: ${trees.map((t) => t.label).join(', then ')}.` : ''),
      '',
      '| medians over the rounds | wrk req/s | against nothing | agent CPU, % of one core |',
      '|---|---:|---:|---:|',
      ...round.map((c) => `| ${c.label} | ${rate(c).toFixed(0)} | ${(rate(c) / none).toFixed(3)} | ${Number.isNaN(agentCpu(c)) ? '—' : agentCpu(c).toFixed(1)} |`),
      '',
      ...runs.map((x, i) => `- load ${i + 1} (round ${Math.floor(i / round.length) + 1}, ${x.condition.label}): ${x.wrk.rate.toFixed(0)} req/s`
        + `${Number.isNaN(x.agentCpuPercent) ? '' : `, agent ${x.agentCpuPercent.toFixed(1)} % of a core`}${x.wrk.errors === null ? '' : ` (${x.wrk.errors})`}`),
      '',
      'Run time of the agent\'s programs per wrk request (`kernel.bpf_stats_enabled`, one load each):',
      '',
      ...costTable(costs),
      '',
    ].join('\n');
    process.stdout.write(`${text}\n`);
    writeResultsSection(HEADING, text);
  } finally {
    await nginx.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

runBenchmark(main);
