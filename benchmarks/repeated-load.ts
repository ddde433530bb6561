// Saturation that comes and goes: one agent (its defaults, every process traced, OTLP JSON file)
// through several wrk bursts with pauses between them, as a host sees load come and go, against the
// same bursts without the agent. The agent yields its CPU while it keeps up and holds its spans to
// the contended budget while the host has none to spare (src/agent/cpu-priority.ts): how fast it
// gets there at each burst, not only the first one after its start (nginx.js's wrk phases each start
// a fresh agent), is what this measures. Per burst: wrk's req/s against the median without the agent,
// the agent's CPU over the burst and over its first second (% of one core).
// With --baseline DIR, that checkout's agent runs too, alternating with this one's (one agent each).
//
//   node dist/benchmarks/repeated-load.js [--bursts 4] [--seconds 5] [--pause 3] [--rounds 2] [--baseline DIR --baseline-label L]
import { rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type AgentTree, BASELINE_OPTIONS, startAgentProcess, thisTree, treesToMeasure } from './agent-process.js';
import { benchCommand, runBenchmark, sectionPreamble, withNginx, wrk } from './loadgen-tool.js';
import { treeCpuSeconds } from './proc.js';
import { writeResultsSection } from './results-file.js';
import { int, median } from './stats.js';

const PATH = '/lantern-bursts';

/** One burst: wrk's rate, and the agent's CPU (% of one core) over it and over its first second (NaN without the agent). */
interface Burst {
  rate: number;
  cpuPercent: number;
  firstSecondPercent: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The bursts, each after `pauseS` of quiet; with `agentPid`, the agent's CPU over each. */
async function bursts(url: string, n: number, seconds: number, pauseS: number, agentPid: number | null): Promise<Burst[]> {
  const out: Burst[] = [];
  for (let i = 0; i < n; i++) {
    await sleep(pauseS * 1000);
    const cpu0 = agentPid === null ? 0 : treeCpuSeconds(agentPid);
    let firstSecond = Number.NaN;
    const first = sleep(1000).then(() => {
      if (agentPid !== null) firstSecond = treeCpuSeconds(agentPid) - cpu0;
    });
    const { rate } = await wrk(url, seconds);
    await first;
    const cpu = agentPid === null ? Number.NaN : treeCpuSeconds(agentPid) - cpu0;
    out.push({ rate, cpuPercent: (100 * cpu) / seconds, firstSecondPercent: 100 * firstSecond });
  }
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    bursts: { type: 'string', default: '4' }, seconds: { type: 'string', default: '5' }, pause: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '2' }, ...BASELINE_OPTIONS,
  } });
  const [n, seconds, pause, rounds] = [Number(values.bursts), Number(values.seconds), Number(values.pause), Number(values.rounds)];
  const trees = treesToMeasure(thisTree('this checkout'), values.baseline, values['baseline-label']);
  const without: Burst[][] = [];
  const withAgent = new Map<AgentTree, Burst[][]>(trees.map((t) => [t, []]));
  const contentions = new Map<AgentTree, string[]>(trees.map((t) => [t, []]));
  await withNginx(PATH, async ({ dir, nginxPort }) => {
    const url = `http://127.0.0.1:${nginxPort}${PATH}`;
    await wrk(url, 2); // warm-up
    for (let r = 0; r < rounds; r++) {
      without.push(await bursts(url, n, seconds, pause, null));
      console.error(`bursts: round ${r + 1} without the agent: ${without.at(-1)!.map((b) => int(b.rate)).join(', ')} req/s`);
      for (const tree of trees) {
        const file = join(dir, `otlp-${r}.jsonl`);
        const agent = await startAgentProcess(['--port', '0', '--otlp-file', file, '--log-format', 'json'], '"msg":"writing OTLP JSON lines"', 60_000, tree.lantern);
        try {
          await sleep(1500);
          const b = await bursts(url, n, seconds, pause, agent.pid);
          withAgent.get(tree)!.push(b);
          console.error(`bursts: round ${r + 1} ${tree.label}: ${b.map((x) => `${int(x.rate)} req/s, agent ${x.cpuPercent.toFixed(0)} % (first second ${x.firstSecondPercent.toFixed(0)} %)`).join('; ')}`);
        } finally {
          await agent.stop();
          rmSync(file, { force: true });
        }
        const began = agent.stderr().split('\n').filter((l) => l.includes('spans held to the contended CPU budget')).map((l) => /"reason":"([^"]*)"/.exec(l)?.[1] ?? 'why not logged');
        contentions.get(tree)!.push(...began);
      }
    }
  });
  const heading = '## Saturation in bursts: one agent through repeated wrk loads';
  const floor = median(without.flat().map((b) => b.rate));
  const cell = (runs: Burst[][], i: number, f: (b: Burst) => number, digits: number): string =>
    `${median(runs.map((bs) => f(bs[i]!))).toFixed(digits)} (${runs.map((bs) => f(bs[i]!).toFixed(digits)).join(', ')})`;
  const rows: string[] = [];
  for (let i = 0; i < n; i++) {
    rows.push(`| ${i + 1} | ${cell(without, i, (b) => b.rate, 0)} | ${trees.map((t) => [
      cell(withAgent.get(t)!, i, (b) => b.rate / floor, 3), cell(withAgent.get(t)!, i, (b) => b.cpuPercent, 0), cell(withAgent.get(t)!, i, (b) => b.firstSecondPercent, 0),
    ].join(' | ')).join(' | ')} |`);
  }
  const whyCounts = (t: AgentTree): string => {
    const c = new Map<string, number>();
    for (const why of contentions.get(t)!) c.set(why, (c.get(why) ?? 0) + 1);
    return [...c].map(([why, k]) => `${k} × ${why}`).join(', ') || 'none';
  };
  const text = [
    ...sectionPreamble(heading, benchCommand('dist/benchmarks/repeated-load.js'), [`Load average before the run: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} (shared machine)`]),
    `nginx (\`return 200\`, 1 worker) loaded by \`wrk -t1 -c16 -d${seconds}s\` ${n} times, each after ${pause} s of quiet; ${rounds} rounds, each: the bursts without the agent, then`,
    `${trees.length > 1 ? 'for each tree in turn ' : ''}one agent (\`lantern run --otlp-file F\`, its defaults: every process traced, wrk too) started 1.5 s before its first burst and kept`,
    `through all of them. Ratio: wrk's req/s against the median of every burst without the agent (${int(floor)} req/s); agent CPU: its process tree, % of one core,`,
    'over the burst and over its first second. Medians over the rounds, each round in parentheses.',
    '',
    `| burst | without the agent, req/s | ${trees.map((t) => `${t.label}: ratio | ${t.label}: agent CPU, % | ${t.label}: first second, %`).join(' | ')} |`,
    `|---:|---:|${trees.map(() => '---:|---:|---:|').join('')}`,
    ...rows,
    '',
    ...trees.map((t) => `Contentions begun (${t.label}), by why: ${whyCounts(t)}.`),
    '',
  ].join('\n');
  console.log(text);
  writeResultsSection(heading, text);
}

runBenchmark(main);
