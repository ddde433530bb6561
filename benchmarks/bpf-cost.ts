// What the agent's BPF programs cost the traced processes, per request: the kernel's own count of
// each program's runs and run time (`kernel.bpf_stats_enabled`, read with `bpftool prog show -j`)
// while `lantern run` (its defaults: every process traced, writing OTLP JSON lines to a file) traces
// nginx `return 200` loaded by loadgen over keep-alive connections (traced too: both ends of each
// request run the socket programs). That time is spent in nginx's and loadgen's syscalls, not in
// the agent's process, so the agent's own CPU figures never show it.
// With `--baseline DIR` another checkout's agent (its bin/lantern.js and its compiled BPF objects)
// is measured in the same run, the two alternating, for a ratio against a baseline of the same hour.
//
//   npm run build && node dist/benchmarks/bpf-cost.js [--rate N] [--seconds N] [--rounds N] [--baseline DIR --baseline-label TEXT]
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { type AgentTree, roundsOptions, startAgentProcess } from './agent-process.js';
import { benchCommand, fixedRateArgs, runLoadgen, runBenchmark, sectionPreamble, withLoadTarget } from './loadgen-tool.js';
import { writeResultsSection } from './results-file.js';
import { median } from './stats.js';

const PATH = '/lantern-bpf-cost';
const HEADING = '## BPF programs: run time per request in the traced processes';

interface ProgStat { id: number; name: string; run_cnt?: number; run_time_ns?: number }

/** Run time per program name over one load, from the kernel's counters before and after it. */
interface Round { label: string; requests: number; byProgram: Map<string, { runs: number; ns: number }> }

function programs(): ProgStat[] {
  return JSON.parse(execFileSync('bpftool', ['prog', 'show', '-j'], { encoding: 'utf8', maxBuffer: 64 << 20 })) as ProgStat[];
}

function setStats(on: boolean): void {
  execFileSync('sysctl', ['-q', `kernel.bpf_stats_enabled=${on ? 1 : 0}`]);
}

async function measure(tree: AgentTree, rate: number, seconds: number): Promise<Round> {
  return withLoadTarget(PATH, async ({ loadgen, dir, nginxPort }) => {
    const others = new Set(programs().map((p) => p.id)); // loaded by anything else on the host
    const agent = await startAgentProcess(['--port', '0', '--otlp-file', join(dir, 'otlp.jsonl'), '--log-format', 'json'], 'writing OTLP JSON lines', 30_000, tree.lantern);
    try {
      const agentProgs = new Set(programs().map((p) => p.id).filter((id) => !others.has(id)));
      setStats(true);
      const before = new Map(programs().map((p) => [p.id, p]));
      const load = await runLoadgen(loadgen, fixedRateArgs(`127.0.0.1:${nginxPort}`, PATH, rate, seconds));
      const after = programs();
      setStats(false);
      const byProgram = new Map<string, { runs: number; ns: number }>();
      for (const p of after) {
        if (!agentProgs.has(p.id)) continue;
        const b = before.get(p.id);
        const runs = (p.run_cnt ?? 0) - (b?.run_cnt ?? 0);
        if (runs <= 0) continue;
        const s = byProgram.get(p.name) ?? { runs: 0, ns: 0 };
        s.runs += runs;
        s.ns += (p.run_time_ns ?? 0) - (b?.run_time_ns ?? 0);
        byProgram.set(p.name, s);
      }
      return { label: tree.label, requests: load.count, byProgram };
    } finally {
      setStats(false);
      await agent.stop();
    }
  });
}

async function main(): Promise<void> {
  const { rate, seconds, rounds: roundCount, trees } = roundsOptions(5);
  const rounds: Round[] = [];
  for (let r = 0; r < roundCount; r++) {
    for (const tree of trees) {
      const round = await measure(tree, rate, seconds);
      rounds.push(round);
      const total = [...round.byProgram.values()].reduce((a, s) => a + s.ns, 0);
      process.stderr.write(`${tree.label}: ${(total / round.requests / 1000).toFixed(2)} µs of BPF per request (${round.requests} requests)\n`);
    }
  }
  const perRequest = (label: string, name?: string): number => median(rounds.filter((r) => r.label === label).map((r) =>
    [...r.byProgram].filter(([n]) => name === undefined || n === name).reduce((a, [, s]) => a + s.ns, 0) / r.requests));
  const perRun = (label: string, name: string): number => median(rounds.filter((r) => r.label === label).map((r) => {
    const s = r.byProgram.get(name);
    return s === undefined ? 0 : s.ns / s.runs;
  }));
  const names = [...new Set(rounds.flatMap((r) => [...r.byProgram.keys()]))]
    .filter((n) => trees.some((t) => perRequest(t.label, n) >= 10))
    .sort((a, b) => perRequest(trees.at(-1)!.label, b) - perRequest(trees.at(-1)!.label, a));
  const head = trees.map((t) => `${t.label}: ns per run | ${t.label}: ns per request`).join(' | ');
  const text = [
    ...sectionPreamble(HEADING, benchCommand('dist/benchmarks/bpf-cost.js')),
    `\`lantern run --otlp-file F\` (defaults: every process traced) while loadgen sends ${rate.toLocaleString('en-US')} req/s over 10 keep-alive`,
    `connections to nginx (\`return 200\`) for ${seconds} s; both ends are traced. Run time per BPF program from the kernel's own counters`,
    '(`kernel.bpf_stats_enabled`, which adds two clock reads per run), over the load only; medians over the rounds'
      + (trees.length > 1 ? ', the two trees alternating.' : '.'),
    '',
    `| program | ${head} |`,
    `|---|${trees.map(() => '---:|---:').join('|')}|`,
    ...names.map((n) => `| ${n} | ${trees.map((t) => `${perRun(t.label, n).toFixed(0)} | ${perRequest(t.label, n).toFixed(0)}`).join(' | ')} |`),
    `| **all programs, µs per request** | ${trees.map((t) => `| **${(perRequest(t.label) / 1000).toFixed(2)}**`).join(' | ')} |`,
    '',
    ...rounds.map((r, i) => `- round ${i + 1} (${r.label}): ${r.requests} requests, ${([...r.byProgram.values()].reduce((a, s) => a + s.ns, 0) / r.requests / 1000).toFixed(2)} µs of BPF per request`),
    '',
  ].join('\n');
  process.stdout.write(`${text}\n`);
  writeResultsSection(HEADING, text);
}

runBenchmark(main);
