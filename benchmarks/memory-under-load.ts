// Memory under load: the agent as a user runs it (every process traced, OTLP JSON file) at a fixed
// request rate, with V8's heap growth policy against LANTERN_HEAP_GROWING_PERCENT=P
// (src/agent/heap-tuning.ts), alternating A B A B … in the same run. Per phase: the
// highest RSS (sampled every 100 ms), RSS at the end, agent CPU per exchange, nginx's p99.
//
//   node dist/benchmarks/memory-under-load.js [--pairs 3] [--rate 10000] [--seconds 10] [--percent 50]
import { rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startAgentProcess } from './agent-process.js';
import { benchCommand, runLoadgen, sectionPreamble, withLoadTarget } from './loadgen-tool.js';
import { rssMiB, treeCpuSeconds } from './proc.js';
import { writeResultsSection } from './results-file.js';
import { int, median } from './stats.js';

const HEADING = '## Memory under load: V8\'s heap growth policy against LANTERN_HEAP_GROWING_PERCENT';
const PATH = '/lantern-mem';

interface Phase { maxRss: number; endRss: number; usPerExchange: number; p99: number; requests: number }

async function phase(percent: string, nginxPort: number, bin: string, rate: number, seconds: number, dir: string): Promise<Phase> {
  const file = join(dir, `otlp-${percent}-${Date.now()}.jsonl`);
  process.env.LANTERN_HEAP_GROWING_PERCENT = percent;
  const agent = await startAgentProcess(['--port', '0', '--otlp-file', file, '--log-format', 'json'], '"msg":"writing OTLP JSON lines"', 60_000);
  try {
    await new Promise((r) => setTimeout(r, 1500));
    let maxRss = rssMiB(agent.pid);
    const sampler = setInterval(() => (maxRss = Math.max(maxRss, rssMiB(agent.pid))), 100);
    const cpu0 = treeCpuSeconds(agent.pid);
    const load = await runLoadgen(bin, ['-addr', `127.0.0.1:${nginxPort}`, '-path', PATH, '-rate', String(rate), '-c', '10', '-d', `${seconds}s`]);
    await new Promise((r) => setTimeout(r, 2000)); // what the load left behind, parsed and exported
    clearInterval(sampler);
    const cpu = treeCpuSeconds(agent.pid) - cpu0;
    const endRss = rssMiB(agent.pid);
    return { maxRss: Math.max(maxRss, endRss), endRss, usPerExchange: (cpu / (2 * load.count)) * 1e6, p99: load.p99_us, requests: load.count };
  } finally {
    await agent.stop();
    rmSync(file, { force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { pairs: { type: 'string' }, rate: { type: 'string' }, seconds: { type: 'string' }, percent: { type: 'string' } } });
  const percent = String(Number(values.percent ?? 50));
  const pairs = Number(values.pairs ?? 3);
  const rate = Number(values.rate ?? 10_000);
  const seconds = Number(values.seconds ?? 10);
  const runs: Record<'agent' | 'v8', Phase[]> = { agent: [], v8: [] };
  try {
    await withLoadTarget(PATH, async ({ loadgen, dir, nginxPort }) => {
      for (let i = 0; i < pairs; i++) {
        for (const [name, setting] of [['agent', percent], ['v8', '']] as const) {
          const p = await phase(setting, nginxPort, loadgen, rate, seconds, dir);
          runs[name].push(p);
          console.error(`memory: pair ${i + 1} ${name}: max RSS ${p.maxRss.toFixed(1)} MiB, end ${p.endRss.toFixed(1)} MiB, ${p.usPerExchange.toFixed(1)} µs/exchange, p99 ${int(p.p99)} µs`);
        }
      }
    });
  } finally {
    delete process.env.LANTERN_HEAP_GROWING_PERCENT;
  }
  const text = section(pairs, rate, seconds, percent, runs);
  console.log(text);
  writeResultsSection(HEADING, text);
}

function section(pairs: number, rate: number, seconds: number, percent: string, runs: Record<'agent' | 'v8', Phase[]>): string {
  const row = (label: string, f: (p: Phase) => number, digits = 1): string =>
    `| ${label} | ${median(runs.v8.map(f)).toFixed(digits)} (${runs.v8.map((p) => f(p).toFixed(digits)).join(', ')}) | ${median(runs.agent.map(f)).toFixed(digits)} (${runs.agent.map((p) => f(p).toFixed(digits)).join(', ')}) |`;
  return [
    ...sectionPreamble(HEADING, benchCommand('dist/benchmarks/memory-under-load.js'),
      [`Load average before the run: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} (shared machine)`]),
    `\`lantern run --otlp-file F\` (default collectors, every process traced) while \`benchmarks/loadgen\` sends ${int(rate)} req/s over 10`,
    `keep-alive connections to nginx (\`return 200\`) for ${seconds} s; loadgen is traced too, so a request is two exchanges. ${pairs} pairs,`,
    `alternating V8's own heap growth policy (the default) and \`LANTERN_HEAP_GROWING_PERCENT=${percent}\`; medians, each run in parentheses.`,
    `Max RSS: VmRSS sampled every 100 ms from 1.5 s after start to 2 s after the load; CPU: the agent's process tree over the load and those 2 s.`,
    '',
    `| | V8's policy | LANTERN_HEAP_GROWING_PERCENT=${percent} |`,
    '|---|---|---|',
    row('max RSS, MiB', (p) => p.maxRss),
    row('RSS at the end, MiB', (p) => p.endRss),
    row('agent CPU per exchange, µs', (p) => p.usPerExchange),
    row('nginx p99, µs', (p) => p.p99, 0),
    row('requests', (p) => p.requests, 0),
    '',
  ].join('\n');
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
