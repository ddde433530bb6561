// Soak: the agent as a user runs it (every process traced, OTLP JSON file) under a steady request
// rate for many minutes, its RSS and CPU sampled every 10 s. What it shows: whether memory is flat
// (no slow leak: a slope near zero over the second half, after the heap has settled) and CPU steady,
// and that every exchange is accounted for at the end — in the file, or shed and counted.
//
//   node dist/benchmarks/soak.js [--minutes 10] [--rate 2000] [--connections 10]
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { startAgentProcess } from './agent-process.js';
import { benchCommand, fixedRateArgs, runLoadgen, sectionPreamble, withLoadTarget } from './loadgen-tool.js';
import { rssMiB, treeCpuSeconds } from './proc.js';
import { writeResultsSection } from './results-file.js';
import { int } from './stats.js';

const HEADING = '## Soak: every process traced at a steady rate, RSS and CPU every 10 s';
const PATH = '/lantern-soak';
const SAMPLE_S = 10;

interface Sample { t: number; rssMiB: number; cpuPct: number }

/** Least-squares slope of y over x. */
function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** Spans of PATH in the file: nginx's SERVER ones and loadgen's CLIENT ones, and span ids seen twice. */
async function countSpans(file: string): Promise<{ server: number; client: number; duplicates: number }> {
  const out = { server: 0, client: 0, duplicates: 0 };
  const seen = new Set<string>();
  interface Line { resourceSpans?: Array<{ scopeSpans?: Array<{ spans?: Array<{ spanId: string; kind: number; attributes?: Array<{ key: string; value: { stringValue?: string } }> }> }> }> }
  for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
    if (!line.includes('"resourceSpans"')) continue;
    for (const rs of (JSON.parse(line) as Line).resourceSpans ?? []) {
      for (const ss of rs.scopeSpans ?? []) {
        for (const s of ss.spans ?? []) {
          if (s.attributes?.find((a) => a.key === 'url.path')?.value.stringValue !== PATH) continue;
          if (seen.has(s.spanId)) out.duplicates++;
          seen.add(s.spanId);
          if (s.kind === 2) out.server++;
          else if (s.kind === 3) out.client++;
        }
      }
    }
  }
  return out;
}


async function main(): Promise<void> {
  const { values } = parseArgs({ options: { minutes: { type: 'string' }, rate: { type: 'string' }, connections: { type: 'string' } } });
  const minutes = Number(values.minutes ?? 10);
  const rate = Number(values.rate ?? 2000);
  const connections = Number(values.connections ?? 10);
  await withLoadTarget(PATH, async ({ loadgen, dir, nginxPort }) => {
    const file = join(dir, 'otlp.jsonl');
    const agent = await startAgentProcess(['--port', '0', '--otlp-file', file, '--log-format', 'json'], '"msg":"writing OTLP JSON lines"', 60_000);
    const pid = agent.pid;
    await new Promise((r) => setTimeout(r, 2000));
    const samples: Sample[] = [];
    const t0 = Date.now();
    let lastCpu = treeCpuSeconds(pid);
    let lastT = t0;
    const timer = setInterval(() => {
      const now = Date.now();
      const cpu = treeCpuSeconds(pid);
      samples.push({ t: (now - t0) / 1000, rssMiB: rssMiB(pid), cpuPct: ((cpu - lastCpu) / ((now - lastT) / 1000)) * 100 });
      console.error(`soak: ${samples.at(-1)!.t.toFixed(0)} s, RSS ${samples.at(-1)!.rssMiB.toFixed(1)} MiB, CPU ${samples.at(-1)!.cpuPct.toFixed(1)} %`);
      lastCpu = cpu;
      lastT = now;
    }, SAMPLE_S * 1000);
    const load = await runLoadgen(loadgen, fixedRateArgs(`127.0.0.1:${nginxPort}`, PATH, rate, minutes * 60, connections));
    clearInterval(timer);
    await new Promise((r) => setTimeout(r, 3000));
    await agent.stop();
    const stopped = agent.stderr().split('\n').find((l) => l.includes('"msg":"stopped"'));
    const summary = stopped === undefined ? null : (JSON.parse(stopped) as { summary: { pipeline: Record<string, number>; collectors: Record<string, Record<string, number>>; export: Record<string, number> } }).summary;
    const spans = await countSpans(file);
    const text = section(minutes, rate, connections, load, samples, spans, summary);
    console.log(text);
    writeResultsSection(HEADING, text);
  });
}

function section(minutes: number, rate: number, connections: number, load: Awaited<ReturnType<typeof runLoadgen>>, samples: Sample[],
  spans: { server: number; client: number; duplicates: number }, summary: { pipeline: Record<string, number>; collectors: Record<string, Record<string, number>>; export: Record<string, number> } | null): string {
  const second = samples.filter((s) => s.t > (minutes * 60) / 2);
  const rssSlope = slope(second.map((s) => s.t / 60), second.map((s) => s.rssMiB));
  const rss = samples.map((s) => s.rssMiB);
  const cpu = samples.map((s) => s.cpuPct);
  const expected = 2 * load.count;
  const shed = summary?.pipeline['spans_shed'] ?? NaN;
  const sockets = summary?.collectors['sockets'] ?? {};
  const losses = Object.entries(sockets).filter(([k, v]) => (k.startsWith('lost_') || k.startsWith('kernel_lost_')) && v > 0).map(([k, v]) => `${k}=${v}`);
  const exportDrops = Object.entries(summary?.export ?? {}).filter(([k, v]) => k.includes('.dropped.') && v > 0).map(([k, v]) => `${k}=${v}`);
  const unexplained = expected - (spans.server + spans.client - spans.duplicates) - (Number.isNaN(shed) ? 0 : shed);
  return [
    ...sectionPreamble(HEADING, benchCommand('dist/benchmarks/soak.js')),
    `The agent as a user runs it (\`lantern run --otlp-file F\`, default collectors, every process traced) while \`benchmarks/loadgen\` sends`,
    `${int(rate)} req/s over ${connections} keep-alive connections to nginx (\`GET ${PATH}\`, \`return 200\`) for ${minutes} minutes; loadgen is traced`,
    `too, so each request is two exchanges. Every ${SAMPLE_S} s: the agent's RSS (VmRSS) and CPU (its process tree, over the interval).`,
    '',
    '| minute | RSS, MiB | CPU, % of one core |',
    '|---:|---:|---:|',
    ...samples.filter((_, i) => i % 6 === 5 || i === 0).map((s) => `| ${(s.t / 60).toFixed(1)} | ${s.rssMiB.toFixed(1)} | ${s.cpuPct.toFixed(1)} |`),
    '',
    `- ${samples.length} samples; RSS first ${rss[0]?.toFixed(1)} MiB, max ${Math.max(...rss).toFixed(1)} MiB, last ${rss.at(-1)?.toFixed(1)} MiB; `
      + `**RSS slope over the second half ${rssSlope >= 0 ? '+' : ''}${rssSlope.toFixed(2)} MiB per minute**`,
    `- CPU: mean ${(cpu.reduce((a, b) => a + b, 0) / cpu.length).toFixed(1)} %, min ${Math.min(...cpu).toFixed(1)} %, max ${Math.max(...cpu).toFixed(1)} % of one core`,
    `- load: ${int(load.count)} requests at ${int(load.rate)} req/s, ${load.errors} errors, p50 ${int(load.p50_us)} µs, p99 ${int(load.p99_us)} µs`,
    `- exchanges: ${int(expected)} expected (2 × requests) = ${int(spans.server)} SERVER + ${int(spans.client)} CLIENT spans in the file + ${Number.isNaN(shed) ? '?' : int(shed)} spans shed (counted, all processes)`
      + `; ${int(spans.duplicates)} span ids seen twice; **unexplained: ${int(unexplained)}** (negative: more spans than requests)`,
    `- losses counted by the sockets collector: ${losses.length === 0 ? 'none' : losses.join(', ')}; export drops: ${exportDrops.length === 0 ? 'none' : exportDrops.join(', ')}`,
    '',
  ].join('\n');
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
