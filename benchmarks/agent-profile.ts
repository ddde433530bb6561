// Where the real agent's CPU goes under load, as a user runs it: `lantern run` with its defaults
// (every process traced), nginx `return 200` on loopback loaded by loadgen (traced too), the agent
// under V8's sampling profiler (`node --cpu-prof`). Prints the functions with the most self time and the agent's CPU per exchange; the
// .cpuprofile files stay in --out for Chrome DevTools or speedscope. A profile, not a benchmark:
// the profiler itself costs a few percent, so its µs per exchange is not comparable with RESULTS.md.
// V8's sampler takes its samples by signal, which a thread in a system call gets on its way back:
// code right after a syscall collects more than its share (session 36: the two kernel counters read
// per ring batch, map.js's perCpuCounter, had 4.7 % of the samples here and 0.9 % of the JS thread's
// under `perf record -g` with `node --perf-basic-prof`, which also shows the native and kernel parts).
// --jaeger: traces also go over OTLP/gRPC to a Jaeger all-in-one; --jaeger-only: there alone, no
// --otlp-file (the production path).
// --flame-graph FILE: the JS thread's samples of the load window as an SVG flame graph
// (benchmarks/flame-graph.ts), for RESULTS.md.
// --warm-up N: the load starts N s before the window (default 10) and goes on through it, so that
// the window is the agent at a constant load, V8 done compiling (agent-cost.ts: it is not in the first
// seconds); 0: the window is a fresh agent's first load.
//
//   node dist/benchmarks/agent-profile.js [--rate N] [--seconds N] [--warm-up N] [--top N] [--out DIR] [--jaeger | --jaeger-only]
//     [--flame-graph FILE]
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startAgentProcess } from './agent-process.js';
import { fixedRateArgs, runLoadgen, withLoadTarget } from './loadgen-tool.js';
import { treeCpuSeconds } from './proc.js';
import { startJaeger } from '../test/helpers/jaeger.js';
import { type CpuProfile, busySamples, frameName } from './cpu-profile.js';
import { flameGraphSvg, foldedStacks } from './flame-graph.js';

const PATH = '/lantern-profile';


/** CLOCK_MONOTONIC µs, the clock of V8's profile timestamps. */
const monoUs = (): number => Number(process.hrtime.bigint() / 1000n);

/**
 * Self samples per function (name, file and line), the largest first, as shares of the samples
 * taken between `fromUs` and `toUs` in which the agent was not idle.
 */
function selfTimes(profile: CpuProfile, fromUs: number, toUs: number): { busy: number; top: Array<{ name: string; share: number }> } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const counts = new Map<string, number>();
  const samples = busySamples(profile, fromUs, toUs);
  for (const id of samples) {
    const name = frameName(byId.get(id)!.callFrame);
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  const total = Math.max(1, samples.length);
  return { busy: samples.length, top: [...counts].map(([name, n]) => ({ name, share: n / total })).sort((a, b) => b.share - a.share) };
}

/**
 * Inclusive share of each named function (its own time and its callees'), counted once per sample
 * however deep the recursion, in the same window as selfTimes.
 */
function inclusiveTimes(profile: CpuProfile, names: readonly string[], fromUs: number, toUs: number): Array<{ name: string; share: number }> {
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const counts = new Map<string, number>(names.map((n) => [n, 0]));
  const samples = busySamples(profile, fromUs, toUs);
  const busy = samples.length;
  for (const id of samples) {
    const seen = new Set<string>();
    for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
      const name = byId.get(n)?.callFrame.functionName ?? '';
      if (counts.has(name) && !seen.has(name)) {
        seen.add(name);
        counts.set(name, counts.get(name)! + 1);
      }
    }
  }
  return names.map((name) => ({ name, share: counts.get(name)! / Math.max(1, busy) }));
}

/** The stages of an exchange's way through the agent, by the function that does each. */
const STAGES = ['onBatch', 'decodeSocketRecord', 'handle', 'feed', 'put', '#exchange', 'toMetrics', 'httpExchangeToSpan', 'histograms', 'record',
  'add', 'exportSpans', 'encodeRecord', 'encodeRecordJson', 'encodedRequestJsonLine', 'writeLineBytes', 'encodedRequest', '(garbage collector)'];

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rate: { type: 'string' }, seconds: { type: 'string' }, top: { type: 'string' }, out: { type: 'string' }, jaeger: { type: 'boolean' }, 'jaeger-only': { type: 'boolean' }, 'flame-graph': { type: 'string' }, 'warm-up': { type: 'string' } } });
  const rate = Number(values.rate ?? 10_000);
  const seconds = Number(values.seconds ?? 10);
  const warmUpSeconds = Number(values['warm-up'] ?? 10);
  const out = values.out ?? '/tmp/lantern-agent-profile';
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const window = { fromUs: 0, toUs: 0 };
  let perExchange = '';
  const noFile = values['jaeger-only'] === true;
  const jaeger = values.jaeger === true || noFile ? await startJaeger() : null;
  // The agent inherits this process's environment.
  if (jaeger) process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = jaeger.otlpGrpcEndpoint;
  await withLoadTarget(PATH, async ({ loadgen, dir, nginxPort }) => {
    const file = join(dir, 'spans.jsonl');
    const agent = await startAgentProcess(['--port', '0', ...(noFile ? [] : ['--otlp-file', file]), '--log-format', 'json'],
      noFile ? '"msg":"exporting over OTLP"' : '"msg":"writing OTLP JSON lines"', 60_000,
      undefined, ['--cpu-prof', `--cpu-prof-dir=${out}`]);
    try {
      await new Promise((r) => setTimeout(r, 1500));
      const loading = runLoadgen(loadgen, fixedRateArgs(`127.0.0.1:${nginxPort}`, PATH, rate, warmUpSeconds + seconds));
      await new Promise((r) => setTimeout(r, warmUpSeconds * 1000));
      const cpu0 = treeCpuSeconds(agent.pid);
      window.fromUs = monoUs();
      const load = await loading;
      // A fresh agent's window also holds the 2 s after the load: the export of its last spans.
      if (warmUpSeconds === 0) await new Promise((r) => setTimeout(r, 2000));
      window.toUs = monoUs();
      const cpu = treeCpuSeconds(agent.pid) - cpu0;
      const requests = load.count * seconds / (warmUpSeconds + seconds);
      perExchange = `${(cpu / (2 * requests) * 1e6).toFixed(1)} µs of agent CPU per exchange under the profiler`;
      console.log(`${load.count} requests (${Math.round(requests)} in the window), ${perExchange}`);
    } finally {
      await agent.stop();
    }
  }).finally(() => jaeger?.stop());
  for (const f of readdirSync(out).filter((x) => x.endsWith('.cpuprofile'))) {
    const profile = JSON.parse(readFileSync(join(out, f), 'utf8')) as CpuProfile;
    const { busy, top } = selfTimes(profile, window.fromUs, window.toUs);
    const during = warmUpSeconds === 0 ? 'during the load and the 2 s after it' : `during the load's last ${seconds} s, ${warmUpSeconds} s in`;
    console.log(`\n${join(out, f)}: self time, share of the ${busy} samples in which the JS thread was busy ${during}`);
    for (const s of top.slice(0, Number(values.top ?? 30))) console.log(`${(100 * s.share).toFixed(1).padStart(5)} %  ${s.name}`);
    console.log('\ninclusive (a function and what it calls; names, so every function of that name):');
    for (const s of inclusiveTimes(profile, STAGES, window.fromUs, window.toUs)) console.log(`${(100 * s.share).toFixed(1).padStart(5)} %  ${s.name}`);
    const svg = values['flame-graph'];
    // The main thread's profile is the one with the agent's own code (a worker's has none of it).
    if (svg !== undefined && profile.nodes.some((n) => n.callFrame.url.endsWith('/exchange-pipeline.js'))) {
      const sink = noFile ? 'OTLP/gRPC to Jaeger only' : jaeger !== null ? 'OTLP/gRPC to Jaeger + file' : 'file only';
      const title = `lantern run, every process traced, ${rate} req/s (${sink}), ${warmUpSeconds} s into the load: the JS thread, ${busy} samples; ${perExchange}`;
      writeFileSync(svg, flameGraphSvg(foldedStacks(profile, window.fromUs, window.toUs), { title }));
      console.log(`flame graph: ${svg}`);
    }
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
