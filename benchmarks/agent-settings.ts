// One agent setting under load, against the defaults: the agent as a user runs it (every process
// traced, OTLP JSON file) at a fixed request rate, alternating A B A B … in the same run, the
// defaults against the defaults plus one change: `--args="..."` (extra `lantern run` options, e.g.
// `--args="--nice 0"`), `--env K=V` (e.g. `--env LANTERN_HEAP_GROWING_PERCENT=50`, src/agent/heap-tuning.ts)
// or `--node="OPTIONS"` (node's own, after the launcher's: `--node=--max-semi-space-size=16`).
// --close: every request on a connection of its own (`loadgen -close`), instead of 10 keep-alive ones.
// Per phase: the highest RSS (sampled every 100 ms), RSS at the end, agent CPU per exchange, the
// load tool's p50/p99 against nginx, and the spans in the file against the exchanges made (loadgen
// is traced too: two per request). A phase without the agent in each round gives the latency floor.
// --jaeger: both arms also export traces over OTLP/gRPC to one Jaeger all-in-one for the whole run
// (the production path; test/helpers/jaeger.ts, the binary the tests use).
// --busy N: N CPU-bound processes (shell busy loops, nice 0) run through the whole run, the phases
// without the agent too: a host whose CPUs are never idle, where a yielding agent must still keep up.
//
//   node dist/benchmarks/agent-settings.js (--args="OPTIONS" | --env K=V | --node="OPTIONS") [--close] [--jaeger] [--busy N] [--pairs 3]
//     [--rate 10000] [--seconds 10]
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type Jaeger, jaegerVersion, startJaeger } from '../test/helpers/jaeger.js';
import { startAgentProcess, stopSummary } from './agent-process.js';
import { type LoadResult, benchCommand, fixedRateArgs, runLoadgen, sectionPreamble, withLoadTarget } from './loadgen-tool.js';
import { rssMiB, treeCpuSeconds } from './proc.js';
import { writeResultsSection } from './results-file.js';
import { int, median } from './stats.js';

const PATH = '/lantern-settings';

/** One arm: what differs from the defaults. */
interface Setting {
  label: string;
  args: string[];
  env: Record<string, string>;
  /** Node's own options, after the launcher's. */
  node: string[];
}

interface Phase {
  maxRss: number; endRss: number; usPerExchange: number; p50: number; p99: number; requests: number; spans: number;
  /**
   * From the agent's stop summary: spans shed (in the kernel and after), records lost, the latest its
   * records were handled; from its log, the times it took its full CPU share back, by why.
   */
  shed: number; lost: number; lagMaxMs: number; cameBack: Record<ComeBackReason, number>;
}

/** Why a yielding agent took its full CPU share back (agent/cpu-priority.ts; the guard's, libbpf-ts IdleGuardStats.lastReason). */
const COME_BACK_REASONS = ['behind', 'lagging', 'records lost', 'starved (waiting for a CPU)', 'starved (heartbeat)', 'starved (ring filling)'] as const;
type ComeBackReason = typeof COME_BACK_REASONS[number];

/** The load: `rate` req/s for `seconds` over 10 keep-alive connections, or (close) each request on a connection of its own. */
interface Load {
  bin: string;
  nginxPort: number;
  rate: number;
  seconds: number;
  close: boolean;
}

const load = (l: Load, seconds = l.seconds): Promise<LoadResult> =>
  runLoadgen(l.bin, [...fixedRateArgs(`127.0.0.1:${l.nginxPort}`, PATH, l.rate, seconds), ...(l.close ? ['-close'] : [])]);

async function phase(setting: Setting, l: Load, dir: string, jaeger: Jaeger | null): Promise<Phase> {
  const file = join(dir, `otlp-${Date.now()}.jsonl`);
  const env = { ...setting.env, ...(jaeger ? { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: jaeger.otlpGrpcEndpoint } : {}) };
  const saved = Object.keys(env).map((k) => [k, process.env[k]] as const);
  Object.assign(process.env, env);
  const agent = await startAgentProcess(['--port', '0', '--otlp-file', file, '--log-format', 'json', ...setting.args], '"msg":"writing OTLP JSON lines"', 60_000,
    undefined, setting.node)
    .finally(() => {
      for (const [k, v] of saved) if (v === undefined) delete process.env[k]; else process.env[k] = v;
    });
  try {
    await new Promise((r) => setTimeout(r, 1500));
    let maxRss = rssMiB(agent.pid);
    const sampler = setInterval(() => (maxRss = Math.max(maxRss, rssMiB(agent.pid))), 100);
    const cpu0 = treeCpuSeconds(agent.pid);
    const done = await load(l);
    await new Promise((r) => setTimeout(r, 2000)); // what the load left behind, parsed and exported
    clearInterval(sampler);
    const cpu = treeCpuSeconds(agent.pid) - cpu0;
    const endRss = rssMiB(agent.pid);
    await agent.stop();
    // Each span (nginx's SERVER, loadgen's CLIENT) says url.path once.
    const spans = readFileSync(file, 'utf8').split(`{"key":"url.path","value":{"stringValue":"${PATH}"}}`).length - 1;
    // The whole host's: every process is traced, the load's exchanges nearly all of them.
    const summary = stopSummary(agent.stderr());
    const sockets = summary.collectors?.sockets ?? {};
    // spans_shed counts those the kernel shed too (spans_shed_in_kernel of them).
    const shed = summary.pipeline?.spans_shed ?? 0;
    const lost = (sockets.kernel_lost_ringbuf_full ?? 0) + (sockets.lost_js_queue_full ?? 0);
    return {
      maxRss: Math.max(maxRss, endRss), endRss, usPerExchange: (cpu / (2 * done.count)) * 1e6, p50: done.p50_us, p99: done.p99_us, requests: done.count, spans,
      shed, lost, lagMaxMs: sockets.records_lag_max_ms ?? 0, cameBack: cameBack(agent.stderr()),
    };
  } finally {
    await agent.stop();
    rmSync(file, { force: true });
  }
}

/** Times the agent's log says it took its full share back, by why. */
function cameBack(log: string): Record<ComeBackReason, number> {
  const back = log.split('\n').filter((l) => l.includes('"msg":"cpu priority: back to full share"'));
  return Object.fromEntries(COME_BACK_REASONS.map((why) => [why, back.filter((l) => l.includes(`"reason":"${why}"`)).length])) as Record<ComeBackReason, number>;
}

function settingFrom(values: { args?: string; env?: string; node?: string }): Setting {
  const words = (s: string): string[] => s.split(/\s+/).filter(Boolean);
  if (values.args !== undefined) return { label: `\`lantern run ${values.args}\``, args: words(values.args), env: {}, node: [] };
  if (values.node !== undefined) return { label: `\`node ${values.node}\``, args: [], env: {}, node: words(values.node) };
  const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(values.env ?? '');
  if (!m) throw new Error('give the setting to compare: --args="OPTIONS", --env K=V or --node="OPTIONS"');
  return { label: `\`${m[1]}=${m[2]}\``, args: [], env: { [m[1]!]: m[2]! }, node: [] };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { pairs: { type: 'string' }, rate: { type: 'string' }, seconds: { type: 'string' }, args: { type: 'string' }, env: { type: 'string' },
    node: { type: 'string' }, close: { type: 'boolean' }, jaeger: { type: 'boolean' }, busy: { type: 'string' } } });
  const setting = settingFrom(values);
  const defaults: Setting = { label: 'defaults', args: [], env: {}, node: [] };
  const close = values.close === true;
  const pairs = Number(values.pairs ?? 3);
  const rate = Number(values.rate ?? 10_000);
  const seconds = Number(values.seconds ?? 10);
  const runs = { defaults: [] as Phase[], setting: [] as Phase[], floor: [] as LoadResult[] };
  const jaeger = values.jaeger === true ? await startJaeger() : null;
  const busy = Number(values.busy ?? 0);
  const loops = Array.from({ length: busy }, () => spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' }));
  await withLoadTarget(PATH, async ({ loadgen, dir, nginxPort }) => {
    const l: Load = { bin: loadgen, nginxPort, rate, seconds, close };
    await load(l, 2); // warm-up
    for (let i = 0; i < pairs; i++) {
      const floor = await load(l);
      runs.floor.push(floor);
      console.error(`settings: round ${i + 1} without the agent: p50 ${int(floor.p50_us)} µs, p99 ${int(floor.p99_us)} µs`);
      for (const [name, s] of [['defaults', defaults], ['setting', setting]] as const) {
        const p = await phase(s, l, dir, jaeger);
        runs[name].push(p);
        console.error(`settings: round ${i + 1} ${s.label}: max RSS ${p.maxRss.toFixed(1)} MiB, end ${p.endRss.toFixed(1)} MiB, ${p.usPerExchange.toFixed(1)} µs/exchange, p50 ${int(p.p50)} µs, p99 ${int(p.p99)} µs, spans ${p.spans} of ${2 * p.requests}, shed ${p.shed}, lost ${p.lost}, lag at most ${int(p.lagMaxMs)} ms, came back: ${COME_BACK_REASONS.map((why) => `${p.cameBack[why]} (${why})`).join(' + ')}`);
      }
    }
  }).finally(() => {
    for (const l of loops) l.kill('SIGKILL');
    return jaeger?.stop();
  });
  const sink = jaeger ? ' (OTLP/gRPC to Jaeger + file)' : '';
  const beside = busy > 0 ? `, beside ${busy} CPU-bound process${busy > 1 ? 'es' : ''}` : '';
  const perRequest = close ? ', a connection per request' : '';
  const heading = `## Under load${beside}${perRequest}: the agent's defaults against ${setting.label}${sink}`;
  const text = section(heading, pairs, rate, seconds, setting, runs, jaeger !== null, busy, close);
  console.log(text);
  writeResultsSection(heading, text);
}

function section(heading: string, pairs: number, rate: number, seconds: number, setting: Setting, runs: { defaults: Phase[]; setting: Phase[]; floor: LoadResult[] }, withJaeger: boolean,
  busy: number, close: boolean): string {
  const cell = (ps: Phase[], f: (p: Phase) => number, digits: number): string =>
    `${median(ps.map(f)).toFixed(digits)} (${ps.map((p) => f(p).toFixed(digits)).join(', ')})`;
  const row = (label: string, f: (p: Phase) => number, digits = 1): string =>
    `| ${label} | ${cell(runs.defaults, f, digits)} | ${cell(runs.setting, f, digits)} |`;
  const floor = (f: (l: LoadResult) => number): string => `${int(median(runs.floor.map(f)))} (${runs.floor.map((l) => int(f(l))).join(', ')})`;
  return [
    ...sectionPreamble(heading, benchCommand('dist/benchmarks/agent-settings.js'),
      [`Load average before the run: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} (shared machine)`]),
    `\`lantern run --otlp-file F\` (default collectors, every process traced${withJaeger ? `; traces also over OTLP/gRPC to one Jaeger ${jaegerVersion()} all-in-one for the run, \`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT\`` : ''}) while \`benchmarks/loadgen\` sends ${int(rate)} req/s over 10`,
    `${close ? 'workers, each request on a connection of its own (`loadgen -close`),' : 'keep-alive connections'} to nginx (\`return 200\`) for ${seconds} s; loadgen is traced too, so a request is two exchanges. ${pairs} rounds,`,
    `each: the load without the agent, then the agent with its defaults, then with ${setting.label}; medians, each run in parentheses.`,
    `Max RSS: VmRSS sampled every 100 ms from 1.5 s after start to 2 s after the load; CPU: the agent's process tree over the load and those 2 s.`,
    ...(busy > 0 ? [`${busy} shell busy loop${busy > 1 ? 's' : ''} (\`while :; do :; done\`, nice 0) ran through the whole run, the phases without the agent too.`] : []),
    `Without the agent: p50 ${floor((l) => l.p50_us)} µs, p99 ${floor((l) => l.p99_us)} µs.`,
    '',
    `| | defaults | ${setting.label} |`,
    '|---|---|---|',
    row('max RSS, MiB', (p) => p.maxRss),
    row('RSS at the end, MiB', (p) => p.endRss),
    row('agent CPU per exchange, µs', (p) => p.usPerExchange),
    row('nginx p50 (load tool), µs', (p) => p.p50, 0),
    row('nginx p99 (load tool), µs', (p) => p.p99, 0),
    row('exchanges (2 × requests)', (p) => 2 * p.requests, 0),
    row('spans in the file', (p) => p.spans, 0),
    row('spans shed (kernel and user space, every process)', (p) => p.shed, 0),
    row('records lost (kernel ring, queue to JS)', (p) => p.lost, 0),
    row('latest a batch of records was handled, ms after the kernel wrote its first', (p) => p.lagMaxMs, 0),
    ...COME_BACK_REASONS.map((why, i) => row(`${i === 0 ? 'times a yielding agent took its full share back: ' : '… '}${why}`, (p) => p.cameBack[why], 0)),
    '',
  ].join('\n');
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
