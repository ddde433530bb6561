// Past the agent's capacity: does it shed whole exchanges (in the kernel first) while the RED metrics
// stay exact, and say what it shed? `lantern run` as a user runs it (every process traced, so loadgen's
// CLIENT exchange and nginx's SERVER exchange are both seen), nginx `return 200`, loadgen at fixed
// rates over 10 keep-alive connections, rising past what the agent can export; a fresh agent per rate.
// Spans go to a file (`--sink file`, local mode: OTLP JSON lines) or over OTLP/gRPC to a Jaeger
// all-in-one (`--sink jaeger`, the production path: Jaeger shares the 2 CPUs, a backend that answers
// but cannot keep up), metrics then over OTLP/HTTP to a receiver in this process. Per rate, from what
// the agent wrote or sent (after it stopped): the requests loadgen made against the count of nginx's
// http.server.request.duration and loadgen's http.client.request.duration histograms (cumulative:
// the last export holds every exchange), the spans exported, and the agent's own figures
// (lantern.agent.stat): exchanges shed in the kernel (counted there, or sent as summaries), spans shed
// by the shedder, records lost in the kernel's ring and in the queue to JavaScript, spans dropped at
// the span destination's full export queue (built, then lost). With --baseline DIR, that checkout's
// agent runs each rate too, the two taking turns.
//
//   npm run build && node dist/benchmarks/overload.js [--rates 10000,20000,40000] [--duration S] [--sink file|jaeger]
//     [--baseline DIR --baseline-label TEXT]
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { type AgentTree, BASELINE_OPTIONS, startAgentProcess, thisTree, treesToMeasure } from './agent-process.js';
import { type LoadResult, benchCommand, fixedRateArgs, runLoadgen, runBenchmark, sectionPreamble, withLoadTarget } from './loadgen-tool.js';
import { rssMiB, treeCpuSeconds } from './proc.js';
import { writeResultsSection } from './results-file.js';
import { decodeMetricsRequest, startHttpReceiver } from '../test/export/otlp-receivers.js';
import { startJaeger } from '../test/helpers/jaeger.js';

const PATH = '/lantern-overload';
type Sink = 'file' | 'jaeger';
const HEADING: Record<Sink, string> = {
  file: '## Overload: every process traced, past the agent\'s capacity (shedding, RED exactness)',
  jaeger: '## Overload over OTLP/gRPC: every process traced, past the agent\'s capacity, spans to Jaeger',
};
/** The self-figure of spans dropped at the span destination's full queue. */
const QUEUE_FULL: Record<Sink, string> = { file: 'export.file.traces.dropped.queue_full', jaeger: 'export.traces.dropped.queue_full' };
/** The self-figure of spans the span destination took. */
const EXPORTED: Record<Sink, string> = { file: 'export.file.traces.exported', jaeger: 'export.traces.exported' };

interface OtlpKeyValue { key: string; value: { stringValue?: string; intValue?: string } }
interface OtlpLine {
  resourceSpans?: Array<{ scopeSpans: Array<{ spans: Array<{ kind: number; attributes: OtlpKeyValue[] }> }> }>;
  resourceMetrics?: Array<{
    resource: { attributes: OtlpKeyValue[] };
    scopeMetrics: Array<{ metrics: Array<{
      name: string;
      histogram?: { dataPoints: Array<{ count: string | number; attributes: OtlpKeyValue[] }> };
      gauge?: { dataPoints: Array<{ attributes: OtlpKeyValue[]; asDouble?: number; asInt?: string }> };
    }> }>;
  }>;
}

interface Outcome {
  tree: string;
  rate: number;
  load: LoadResult;
  agentCpuPct: number;
  /** Agent VmRSS, highest of the samples over the load and the 2 s after it. */
  peakRssMiB: number;
  /** Histogram counts of the last export, by metric name, for the benchmark's requests' services. */
  red: { server: number; client: number };
  spans: { server: number; client: number };
  stats: Map<string, number>;
}

const str = (kvs: OtlpKeyValue[], key: string): string | undefined => kvs.find((a) => a.key === key)?.value.stringValue;

/** What the agent wrote or sent: spans of PATH by kind, the last cumulative histogram counts, the last self-figures. */
class AgentOutput {
  readonly spans = { server: 0, client: 0 };
  readonly #lastCount = new Map<string, number>(); // metric name + series → its last cumulative count
  readonly stats = new Map<string, number>();

  constructor(private readonly nginxPort: number) {}

  /** One OTLP request (a line of the file, or a decoded protobuf body). */
  add(req: OtlpLine): void {
    for (const s of (req.resourceSpans ?? []).flatMap((r) => r.scopeSpans.flatMap((x) => x.spans))) {
      if (str(s.attributes, 'url.path') !== PATH) continue;
      if (s.kind === 2) this.spans.server++;
      else if (s.kind === 3) this.spans.client++;
    }
    for (const rm of req.resourceMetrics ?? []) {
      const service = str(rm.resource.attributes, 'service.name') ?? '';
      for (const m of rm.scopeMetrics.flatMap((x) => x.metrics)) {
        for (const p of m.histogram?.dataPoints ?? []) {
          // Clients: the series of requests to nginx's port, whatever the client's service name.
          const to = p.attributes.find((a) => a.key === 'server.port')?.value.intValue;
          const who = m.name === 'http.client.request.duration' ? (to === String(this.nginxPort) ? 'nginx-port' : 'other') : service;
          this.#lastCount.set(`${m.name} ${who} ${JSON.stringify(p.attributes)}`, Number(p.count));
        }
        if (m.name !== 'lantern.agent.stat') continue;
        for (const p of m.gauge?.dataPoints ?? []) {
          const name = str(p.attributes, 'lantern.stat');
          if (name !== undefined) this.stats.set(name, p.asDouble ?? Number(p.asInt));
        }
      }
    }
  }

  outcome(): Pick<Outcome, 'red' | 'spans' | 'stats'> {
    const sum = (prefix: string): number => [...this.#lastCount].filter(([k]) => k.startsWith(prefix)).reduce((a, [, v]) => a + v, 0);
    return { red: { server: sum('http.server.request.duration nginx '), client: sum('http.client.request.duration nginx-port ') }, spans: this.spans, stats: this.stats };
  }
}

/** The agent's file, line by line: at 40k req/s it is larger than the longest string V8 makes. */
async function readAgentFile(file: string, out: AgentOutput): Promise<void> {
  for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
    if (line !== '') out.add(JSON.parse(line) as OtlpLine);
  }
}

/** One agent of `tree` at `rate`, spans to Jaeger's OTLP/gRPC endpoint `jaeger`, or to a file (null). */
async function overloadOnce(tree: AgentTree, rate: number, seconds: number, jaeger: string | null): Promise<Outcome> {
  return withLoadTarget(PATH, async ({ loadgen, dir, nginxPort }) => {
    const output = new AgentOutput(nginxPort);
    const file = join(dir, `otlp-${rate}.jsonl`);
    const metrics = jaeger !== null ? await startHttpReceiver() : null;
    try {
      // The agent inherits this process's environment: the receivers' addresses in the OTLP/gRPC runs only.
      if (metrics !== null && jaeger !== null) {
        process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = jaeger;
        process.env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT = `${metrics.url}/v1/metrics`;
      } else {
        delete process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
        delete process.env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT;
      }
      const args = ['--port', '0', '--log-format', 'json', ...(metrics === null ? ['--otlp-file', file] : [])];
      const agent = await startAgentProcess(args, metrics === null ? 'writing OTLP JSON lines' : 'exporting over OTLP', 30_000, tree.lantern);
      const cpu0 = treeCpuSeconds(agent.pid);
      const t0 = performance.now();
      let peakRssMiB = rssMiB(agent.pid);
      const sampler = setInterval(() => (peakRssMiB = Math.max(peakRssMiB, rssMiB(agent.pid))), 100);
      const load = await runLoadgen(loadgen, fixedRateArgs(`127.0.0.1:${nginxPort}`, PATH, rate, seconds));
      await new Promise((r) => setTimeout(r, 2000)); // what the agent still has in its queues
      clearInterval(sampler);
      const agentCpuPct = (100 * (treeCpuSeconds(agent.pid) - cpu0)) / ((performance.now() - t0) / 1000);
      await agent.stop();
      if (metrics === null) await readAgentFile(file, output);
      else for (const r of metrics.requests) output.add(decodeMetricsRequest(r.body) as unknown as OtlpLine);
      const o: Outcome = { tree: tree.label, rate, load, agentCpuPct, peakRssMiB, ...output.outcome() };
      process.stderr.write(`${tree.label}, rate ${rate}: ${JSON.stringify(o.red)} sent ${load.sent} answered ${load.count}\n`);
      return o;
    } finally {
      await metrics?.close();
    }
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    rates: { type: 'string', default: '10000,20000,40000' }, duration: { type: 'string', default: '8' }, sink: { type: 'string', default: 'file' },
    ...BASELINE_OPTIONS,
  } });
  const rates = values.rates.split(',').map(Number);
  const seconds = Number(values.duration);
  if (values.sink !== 'file' && values.sink !== 'jaeger') throw new Error(`--sink: file or jaeger, got ${values.sink}`);
  const sink: Sink = values.sink;
  const trees = treesToMeasure(thisTree('this checkout'), values.baseline, values['baseline-label']);
  const jaeger = sink === 'jaeger' ? await startJaeger() : null;
  const outcomes: Outcome[] = [];
  try {
    for (const rate of rates) for (const tree of trees) outcomes.push(await overloadOnce(tree, rate, seconds, jaeger?.otlpGrpcEndpoint ?? null));
  } finally {
    await jaeger?.stop();
  }
  const stat = (o: Outcome, name: string): number => o.stats.get(name) ?? 0;
  const spansCell = (o: Outcome): string => (sink === 'file' ? `${o.spans.server} / ${o.spans.client}` : String(stat(o, EXPORTED[sink])));
  const rows = outcomes.map((o) => `| ${trees.length > 1 ? `${o.tree} | ` : ''}${o.rate} | ${o.load.sent} / ${o.load.count} (${Math.round(o.load.rate)}/s) | ${o.red.server} | ${o.red.client} | ${spansCell(o)} | `
    + `${stat(o, 'collectors.sockets.kernel_http1_shed_counted_in_kernel')} / ${stat(o, 'collectors.sockets.kernel_http1_shed_in_kernel')} | ${stat(o, 'pipeline.spans_shed') - stat(o, 'pipeline.spans_shed_in_kernel')} | `
    + `${stat(o, 'collectors.sockets.kernel_lost_ringbuf_full')} / ${stat(o, 'collectors.sockets.lost_js_queue_full')} / ${stat(o, QUEUE_FULL[sink])} | ${o.agentCpuPct.toFixed(0)} | ${o.peakRssMiB.toFixed(1)} |`);
  const where = sink === 'file'
    ? ['`lantern run --port 0 --otlp-file F --log-format json` (defaults: every process traced), a fresh agent per rate; nginx `return 200`;',
      `loadgen (Go, open loop) at each rate for ${seconds} s over 10 keep-alive connections; figures from the agent's file after it stopped.`]
    : ['`lantern run --port 0 --log-format json` (defaults: every process traced), spans over OTLP/gRPC to a Jaeger all-in-one (1.76, on the same',
      'machine), metrics over OTLP/HTTP to a receiver in the benchmark; a fresh agent per rate; nginx `return 200`; loadgen (Go, open loop) at each',
      `rate for ${seconds} s over 10 keep-alive connections; figures from the metrics the agent sent, the last export at its stop.`];
  const text = [
    ...sectionPreamble(HEADING[sink], benchCommand('dist/benchmarks/overload.js')),
    ...where,
    ...(trees.length > 1 ? [`Each rate: ${trees.map((t) => t.label).join(', then ')}, each a fresh agent.`] : []),
    'RED: the count of the last (cumulative) export of nginx\'s `http.server.request.duration` and of `http.client.request.duration` towards nginx\'s port.',
    'Agent RSS peak: VmRSS sampled every 100 ms from the load\'s start to 2 s after it.',
    '',
    `| ${trees.length > 1 ? 'agent | ' : ''}rate asked | requests sent / answered | RED server | RED client | ${sink === 'file' ? 'spans server / client' : 'spans Jaeger took (agent\'s count)'} | shed in kernel: counted there / sent as summaries | shed by the shedder | lost: kernel ring / JS queue / spans dropped at the ${sink === 'file' ? 'file\'s' : 'backend\'s'} full queue | agent CPU, % of one core | agent RSS peak, MiB |`,
    `|${trees.length > 1 ? '---|' : ''}---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|`,
    ...rows,
    '',
  ].join('\n');
  process.stdout.write(`${text}\n`);
  writeResultsSection(HEADING[sink], text);
}

runBenchmark(main);
