// The agent's own CPU per traced exchange, as a user runs it, against a baseline checkout in the same
// run: `lantern run` with its defaults (every process traced) while loadgen sends a fixed rate to
// nginx `return 200` over keep-alive connections (loadgen is traced too: each request is two
// exchanges, its CLIENT span and nginx's SERVER span), with the spans going over OTLP/gRPC to a
// Jaeger all-in-one (the production path) or to a file (local mode). Then the same with a connection
// per request (loadgen -close, at --close-rate): each exchange also brings the agent a connection to
// follow from its open to its close, the traffic of clients that do not keep connections alive.
// The trees and the sinks take turns (baseline jaeger, this jaeger, baseline file, this file, then the trees in the
// other order: inTurn), so a machine whose speed drifts over the run (a shared VM) weighs on both alike; medians over
// the rounds, and the median of each round's ratio of this checkout to the baseline. With --side-by-side the two trees' agents run at once, under the same load
// (each tracing every process, nginx's and loadgen's syscalls running both agents' programs, each agent exporting to its
// own sink), so that a host whose speed drifts by tens of percent from minute to minute is the same for both within a
// round: the per-round ratio is then the figure to read (each agent also sees the other's OTLP/gRPC exports, a few
// requests a second, and the load runs a little slower under two agents' programs: the absolute figures are not those of
// one agent alone). The busier host would have an agent judged contended shed spans by its contended budget, so side by
// side both run with `--contended-cpu-percent 0`. Each round says how many spans each agent shed: one that sheds does
// less. nginx.ts
// --all-processes measures the rest of what a user sees (latency, losses, start-up, memory) for one
// tree; this is the ratio.
//
// Each round loads a fresh agent twice with the same traffic. The first load lasts --warm-up, then
// --settle, then --seconds: its first --warm-up seconds are what a just-started agent costs (V8
// compiles the hot path's functions under that load, on its helper threads), its last --seconds what
// the agent costs at a constant load from then on, for as long as it runs (steady). V8 does not
// settle within the first seconds: at 10k req/s over OTLP/gRPC it still compiled ~110 ms between 5
// and 10 s into the load (functions first met then: the kernel's first shed exchanges, the span
// shedder's fields turning from small integers to fractions) and ~5-30 ms a 5 s window after that
// (--trace-opt, session 34). Then, once that load's spans are out, a second load of --seconds: what
// a load after a pause costs. It is dearer, in both trees: what the pause brought in (loadgen's exit
// and the agent's idle paths hand their functions objects of new shapes) is compiled again as the
// load resumes (~1 µs an exchange in its first 2 s, on the helper threads).
//
//   npm run build && node dist/benchmarks/agent-cost.js [--rate N] [--close-rate N (0: keep-alive only)] [--seconds N]
//     [--warm-up N] [--settle N] [--rounds N] [--baseline DIR --baseline-label TEXT [--side-by-side]]
import { join } from 'node:path';
import { type AgentProcess, type AgentTree, roundsOptions, startAgentProcess, stopSummary } from './agent-process.js';
import { benchCommand, fixedRateArgs, runBenchmark, runLoadgen, sectionPreamble, withLoadTarget } from './loadgen-tool.js';
import { mainThreadCpuSeconds, rssMiB, treeCpuSeconds } from './proc.js';
import { writeResultsSection } from './results-file.js';
import { median } from './stats.js';
import { startJaeger } from '../test/helpers/jaeger.js';

const PATH = '/lantern-agent-cost';
const HEADING = '## Agent CPU per exchange against a baseline checkout (every process traced)';
/** After the load: the span queues export up to a second late, and that work is the exchanges' too. */
const EXPORT_WAIT_MS = 2_000;
const REST_MS = 1_500;

type Sink = 'jaeger' | 'file';
const SINKS: readonly Sink[] = ['jaeger', 'file'];
const SINK_NAME: Record<Sink, string> = { jaeger: 'OTLP/gRPC to Jaeger only', file: 'file only' };
/** Keep-alive connections, or a connection per request. */
type Traffic = 'keep-alive' | 'close';
const TRAFFIC_NAME: Record<Traffic, string> = { 'keep-alive': 'keep-alive', close: 'connection per request' };

/** CPU per exchange over a window of a load (or over a load and the export after it). */
interface Window { exchanges: number; agentUs: number; jsUs: number }

interface Round {
  label: string; traffic: Traffic; sink: Sink;
  /** Which round of the run (its trees' rounds of one phase and sink share it: they are paired). */
  round: number;
  /** The first load's first --warm-up seconds and its last --seconds; then a second load of --seconds and the export after it. */
  warmUp: Window; steady: Window; afterPause: Window;
  /** Over both loads. */
  peakRssMiB: number;
  /** Spans the agent shed (in the kernel or in JS) over both loads: an agent that sheds does less. */
  spansShed: number;
}

/** The agent's CPU (process tree, main JS thread) now, in seconds. */
function cpuNow(pid: number): { tree: number; js: number } {
  return { tree: treeCpuSeconds(pid), js: mainThreadCpuSeconds(pid) };
}

function windowOf(from: { tree: number; js: number }, to: { tree: number; js: number }, exchanges: number): Window {
  return { exchanges, agentUs: ((to.tree - from.tree) * 1e6) / exchanges, jsUs: ((to.js - from.js) * 1e6) / exchanges };
}

interface Phases { warmUpSeconds: number; settleSeconds: number; seconds: number }

/**
 * One round of `trees`' agents under one load: a single tree's agent alone, or several trees' agents
 * at once under the same load (--side-by-side: each traces every process and exports to its own
 * sink), so that the host's speed, which drifts by tens of percent over minutes on a shared VM, is
 * the same for each: their ratio is then read per round.
 */
async function measure(trees: readonly AgentTree[], round: number, traffic: Traffic, sink: Sink, jaegerEndpoint: string, rate: number, phases: Phases): Promise<Round[]> {
  const { warmUpSeconds, settleSeconds, seconds } = phases;
  return withLoadTarget(PATH, async ({ loadgen, dir, nginxPort }) => {
    // The agent inherits this process's environment: the receiver's address for the Jaeger phases only.
    if (sink === 'jaeger') process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = jaegerEndpoint;
    else delete process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
    const agents: AgentProcess[] = [];
    try {
      for (const [i, tree] of trees.entries()) {
        // Side by side, the host is busier than with one agent: an agent judged contended would shed
        // spans by its contended budget, and do less than the other. Not that budget, then: the
        // agents are compared on the same work.
        const args = ['--port', '0', '--log-format', 'json', ...(sink === 'file' ? ['--otlp-file', join(dir, `otlp-${i}.jsonl`)] : []),
          ...(trees.length > 1 ? ['--contended-cpu-percent', '0'] : [])];
        agents.push(await startAgentProcess(args, sink === 'file' ? 'writing OTLP JSON lines' : 'exporting over OTLP', 30_000, tree.lantern));
      }
      await new Promise((r) => setTimeout(r, REST_MS));
      const peakRssMiB = agents.map((a) => rssMiB(a.pid));
      const sampler = setInterval(() => agents.forEach((a, i) => (peakRssMiB[i] = Math.max(peakRssMiB[i]!, rssMiB(a.pid)))), 100);
      const load = async (s: number) => {
        const done = await runLoadgen(loadgen, [...fixedRateArgs(`127.0.0.1:${nginxPort}`, PATH, rate, s), ...(traffic === 'close' ? ['-close'] : [])]);
        if (done.errors > 0) throw new Error(`loadgen: ${done.errors} failed requests (${done.first_error ?? 'no error text'})`);
        return done;
      };
      const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
      const cpus = () => agents.map((a) => cpuNow(a.pid));
      // Windows inside the first load, by the clock from its start; the exchanges in a window are
      // those of its seconds at the rate loadgen kept over the whole load (open loop, fixed rate).
      const total = warmUpSeconds + settleSeconds + seconds;
      const start = cpus();
      const first = load(total);
      await sleep(warmUpSeconds * 1000);
      const warmed = cpus();
      await sleep(settleSeconds * 1000);
      const settled = cpus();
      await sleep(seconds * 1000);
      const end = cpus();
      const perSecond = (2 * (await first).count) / total;
      await sleep(EXPORT_WAIT_MS);
      const resumed = cpus();
      const second = await load(seconds);
      await sleep(EXPORT_WAIT_MS);
      const paused = cpus();
      clearInterval(sampler);
      await Promise.all(agents.map((a) => a.stop()));
      return trees.map((tree, i) => ({
        label: tree.label, traffic, sink, round, peakRssMiB: peakRssMiB[i]!,
        afterPause: windowOf(resumed[i]!, paused[i]!, 2 * second.count),
        warmUp: windowOf(start[i]!, warmed[i]!, Math.round(perSecond * warmUpSeconds)),
        steady: windowOf(settled[i]!, end[i]!, Math.round(perSecond * seconds)),
        spansShed: spansShed(agents[i]!),
      }));
    } finally {
      await Promise.all(agents.map((a) => a.stop()));
    }
  });
}

/** What the stopped agent's summary says it shed, in the kernel and in JS (stopSummary throws when it logged no summary). */
function spansShed(agent: AgentProcess): number {
  const pipeline = stopSummary(agent.stderr()).pipeline ?? {};
  return (pipeline.spans_shed ?? 0) + (pipeline.spans_shed_in_kernel ?? 0);
}

async function main(): Promise<void> {
  const { rate, seconds, rounds: roundCount, trees, more, flags } = roundsOptions(8, { 'close-rate': '4000', 'warm-up': '4', settle: '6' }, ['side-by-side']);
  const together = flags['side-by-side']!;
  const closeRate = Number(more['close-rate']);
  const warmUpSeconds = Number(more['warm-up']);
  const settleSeconds = Number(more.settle);
  const phases: { traffic: Traffic; rate: number }[] = [{ traffic: 'keep-alive', rate }, ...(closeRate > 0 ? [{ traffic: 'close' as const, rate: closeRate }] : [])];
  const jaeger = await startJaeger();
  const rounds: Round[] = [];
  try {
    for (let r = 0; r < roundCount; r++) {
      for (const phase of phases) {
        for (const sink of SINKS) {
          for (const group of together ? [trees] : inTurn(trees, r).map((t) => [t])) {
            for (const round of await measure(group, r, phase.traffic, sink, jaeger.otlpGrpcEndpoint, phase.rate, { warmUpSeconds, settleSeconds, seconds })) {
              rounds.push(round);
              process.stderr.write(`${describe(round)}\n`);
            }
          }
        }
      }
    }
  } finally {
    await jaeger.stop();
  }
  const med = (label: string, traffic: Traffic, sink: Sink, f: (r: Round) => number): number =>
    median(rounds.filter((r) => r.label === label && r.traffic === traffic && r.sink === sink).map(f));
  const self = trees.at(-1)!.label;
  const base = trees.length > 1 ? trees[0]!.label : null;
  // Each round of this checkout against the baseline's of the same round, phase and sink: the pair
  // ran one after the other, or side by side under the same load.
  const paired = (traffic: Traffic, sink: Sink, f: (r: Round) => number): number => {
    const of = (label: string) => rounds.filter((r) => r.label === label && r.traffic === traffic && r.sink === sink);
    const bases = of(base!);
    return median(of(self).flatMap((r) => bases.filter((b) => b.round === r.round).map((b) => f(r) / f(b))));
  };
  const cells = (traffic: Traffic, sink: Sink, f: (r: Round) => number): string => trees.map((t) => med(t.label, traffic, sink, f).toFixed(2)).join(' | ')
    + (base !== null ? ` | ${(med(self, traffic, sink, f) / med(base, traffic, sink, f)).toFixed(3)} | ${paired(traffic, sink, f).toFixed(3)}` : '');
  const text = [
    ...sectionPreamble(HEADING, benchCommand('dist/benchmarks/agent-cost.js')),
    `\`lantern run\` with its defaults (every process traced) while loadgen sends ${rate.toLocaleString('en-US')} req/s over 10 keep-alive connections`,
    ...(closeRate > 0 ? [`(then ${closeRate.toLocaleString('en-US')} req/s, each request on a connection of its own: \`loadgen -close\`, 10 workers)`] : []),
    `to nginx (\`return 200\`); loadgen is traced too, so each request is two exchanges. A fresh agent per round, loaded ${REST_MS / 1000} s after`,
    `start-up for ${warmUpSeconds + settleSeconds + seconds} s: its first ${warmUpSeconds} s (V8 compiles the hot path under them) and its last ${seconds} s (steady: what the agent costs at`,
    `a constant load, ${warmUpSeconds + settleSeconds} s in, for as long as it runs) are measured, the agent's CPU over each (process tree, and its main JS`,
    `thread) divided by the exchanges in it (2 × requests, at the rate loadgen kept). Then, ${EXPORT_WAIT_MS / 1000} s later, ${seconds} s more: a load after a pause`,
    `(its CPU and that of the ${EXPORT_WAIT_MS / 1000} s after it). Peak RSS sampled every 100 ms over both loads (VmRSS); medians over the rounds, the`,
    together
      ? 'the agents of both trees running side by side under each load (both tracing every process, each exporting to its own sink, both with `--contended-cpu-percent 0`),'
      : 'trees and sinks taking turns (the trees in one order in odd rounds, in the other in even ones),',
    `and, per round, this checkout's figure over the baseline's of the same round (${together ? 'the same load' : 'the loads one after the other'}), their median. Jaeger 1.76`,
    'all-in-one is the receiver (one for the whole run, idle in the file phases).',
    '',
    `| medians over the rounds | ${trees.map((t) => t.label).join(' | ')}${base !== null ? ` | ${self} / ${base} | ${self} / ${base}, per round` : ''} |`,
    `|---|${trees.map(() => '---:').join('|')}${base !== null ? '|---:|---:' : ''}|`,
    ...phases.flatMap(({ traffic }) => SINKS.flatMap((sink) => [
      `| **${TRAFFIC_NAME[traffic]}, ${SINK_NAME[sink]}: agent (process tree), steady** | ${cells(traffic, sink, (r) => r.steady.agentUs)} |`,
      `| ${TRAFFIC_NAME[traffic]}, ${SINK_NAME[sink]}: of which the main JS thread, steady | ${cells(traffic, sink, (r) => r.steady.jsUs)} |`,
      `| ${TRAFFIC_NAME[traffic]}, ${SINK_NAME[sink]}: agent (process tree), a load after a pause | ${cells(traffic, sink, (r) => r.afterPause.agentUs)} |`,
      `| ${TRAFFIC_NAME[traffic]}, ${SINK_NAME[sink]}: agent (process tree), first ${warmUpSeconds} s of load | ${cells(traffic, sink, (r) => r.warmUp.agentUs)} |`,
      `| ${TRAFFIC_NAME[traffic]}, ${SINK_NAME[sink]}: agent peak RSS, MiB | ${cells(traffic, sink, (r) => r.peakRssMiB)} |`,
    ])),
    '',
    ...rounds.map((r, i) => `- round ${i + 1}: ${describe(r)}`),
    '',
  ].join('\n');
  process.stdout.write(`${text}\n`);
  writeResultsSection(HEADING, text);
}

/**
 * The trees in the order they run in round `round`, one after the other: the first round's order, then the
 * other, and so on (ABBA). The agent that runs second in a round pays for what the first left: run second in
 * every round, this checkout's agent over OTLP/gRPC came out 2-19 % dearer than the baseline's in each of six
 * rounds (two runs), and 3-28 % cheaper in each of three with the order reversed (session 38; side by side
 * 10 % cheaper). The receiver, one for the whole run, is the likely cause: its in-memory store is full from
 * the first load on (a load is ~360,000 spans, the bound 100,000 traces) and it serves both agents.
 */
function inTurn<T>(trees: readonly T[], round: number): T[] {
  return round % 2 === 0 ? [...trees] : [...trees].reverse();
}

function describe(r: Round): string {
  const w = (x: Window): string => `${x.exchanges} exchanges, ${x.agentUs.toFixed(2)} µs per exchange, JS thread ${x.jsUs.toFixed(2)}`;
  return `${r.label}, ${TRAFFIC_NAME[r.traffic]}, ${SINK_NAME[r.sink]}: warm-up ${w(r.warmUp)}; steady ${w(r.steady)}; after a pause ${w(r.afterPause)}; peak RSS ${r.peakRssMiB.toFixed(1)} MiB; spans shed ${r.spansShed}`;
}

runBenchmark(main);
