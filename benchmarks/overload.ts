// Past the agent's capacity: does it shed whole exchanges (in the kernel first) while the RED metrics
// stay exact, and say what it shed? `lantern run` as a user runs it (every process traced, so loadgen's
// CLIENT exchange and nginx's SERVER exchange are both seen) writing OTLP JSON lines to a file, nginx
// `return 200`, loadgen at fixed rates over 10 keep-alive connections, rising past what the agent can
// export; a fresh agent per rate. Per rate, from the agent's file after it stopped: the requests
// loadgen made against the count of nginx's http.server.request.duration and loadgen's
// http.client.request.duration histograms (cumulative: the last export holds every exchange), the
// spans exported, and the agent's own figures (lantern.agent.stat): exchanges shed in the kernel
// (counted there, or sent as summaries), spans shed by the shedder, records lost in the kernel's ring
// and in the queue to JavaScript, spans dropped at the file's full export queue (built, then lost).
//
//   npm run build && node dist/benchmarks/overload.js [--rates 10000,20000,40000] [--duration S]
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { startAgentProcess } from './agent-process.js';
import { type LoadResult, benchCommand, fixedRateArgs, runLoadgen, runBenchmark, sectionPreamble, withLoadTarget } from './loadgen-tool.js';
import { rssMiB, treeCpuSeconds } from './proc.js';
import { writeResultsSection } from './results-file.js';

const PATH = '/lantern-overload';
const HEADING = '## Overload: every process traced, past the agent\'s capacity (shedding, RED exactness)';

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

/** What the agent's file says: spans of PATH by kind, the last cumulative histogram counts, the last self-figures. */
/** The agent's file, line by line: at 40k req/s it is larger than the longest string V8 makes. */
async function readAgentFile(file: string, nginxPort: number): Promise<Pick<Outcome, 'red' | 'spans' | 'stats'>> {
  const spans = { server: 0, client: 0 };
  const lastCount = new Map<string, number>(); // metric name + series → its last cumulative count
  const stats = new Map<string, number>();
  for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
    if (line === '') continue;
    const req = JSON.parse(line) as OtlpLine;
    for (const s of (req.resourceSpans ?? []).flatMap((r) => r.scopeSpans.flatMap((x) => x.spans))) {
      if (str(s.attributes, 'url.path') !== PATH) continue;
      if (s.kind === 2) spans.server++;
      else if (s.kind === 3) spans.client++;
    }
    for (const rm of req.resourceMetrics ?? []) {
      const service = str(rm.resource.attributes, 'service.name') ?? '';
      for (const m of rm.scopeMetrics.flatMap((x) => x.metrics)) {
        for (const p of m.histogram?.dataPoints ?? []) {
          // Clients: the series of requests to nginx's port, whatever the client's service name.
          const to = p.attributes.find((a) => a.key === 'server.port')?.value.intValue;
          const who = m.name === 'http.client.request.duration' ? (to === String(nginxPort) ? 'nginx-port' : 'other') : service;
          lastCount.set(`${m.name} ${who} ${JSON.stringify(p.attributes)}`, Number(p.count));
        }
        if (m.name !== 'lantern.agent.stat') continue;
        for (const p of m.gauge?.dataPoints ?? []) {
          const name = str(p.attributes, 'lantern.stat');
          if (name !== undefined) stats.set(name, p.asDouble ?? Number(p.asInt));
        }
      }
    }
  }
  const sum = (prefix: string): number => [...lastCount].filter(([k]) => k.startsWith(prefix)).reduce((a, [, v]) => a + v, 0);
  return { red: { server: sum('http.server.request.duration nginx '), client: sum('http.client.request.duration nginx-port ') }, spans, stats };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rates: { type: 'string', default: '10000,20000,40000' }, duration: { type: 'string', default: '8' } } });
  const rates = values.rates.split(',').map(Number);
  const seconds = Number(values.duration);
  const outcomes = await withLoadTarget(PATH, async ({ loadgen, dir, nginxPort }) => {
    const out: Outcome[] = [];
    for (const rate of rates) {
      const file = join(dir, `otlp-${rate}.jsonl`);
      const agent = await startAgentProcess(['--port', '0', '--otlp-file', file, '--log-format', 'json'], 'writing OTLP JSON lines');
      const cpu0 = treeCpuSeconds(agent.pid);
      const t0 = performance.now();
      let peakRssMiB = rssMiB(agent.pid);
      const sampler = setInterval(() => (peakRssMiB = Math.max(peakRssMiB, rssMiB(agent.pid))), 100);
      const load = await runLoadgen(loadgen, fixedRateArgs(`127.0.0.1:${nginxPort}`, PATH, rate, seconds));
      await new Promise((r) => setTimeout(r, 2000)); // what the agent still has in its queues
      clearInterval(sampler);
      const agentCpuPct = (100 * (treeCpuSeconds(agent.pid) - cpu0)) / ((performance.now() - t0) / 1000);
      await agent.stop();
      out.push({ rate, load, agentCpuPct, peakRssMiB, ...(await readAgentFile(file, nginxPort)) });
      process.stderr.write(`rate ${rate}: ${JSON.stringify(out.at(-1)!.red)} spans ${JSON.stringify(out.at(-1)!.spans)} sent ${load.sent} answered ${load.count}\n`);
    }
    return out;
  });
  const stat = (o: Outcome, name: string): number => o.stats.get(name) ?? 0;
  const rows = outcomes.map((o) => `| ${o.rate} | ${o.load.sent} / ${o.load.count} (${Math.round(o.load.rate)}/s) | ${o.red.server} | ${o.red.client} | ${o.spans.server} / ${o.spans.client} | `
    + `${stat(o, 'collectors.sockets.kernel_http1_shed_counted_in_kernel')} / ${stat(o, 'collectors.sockets.kernel_http1_shed_in_kernel')} | ${stat(o, 'pipeline.spans_shed') - stat(o, 'pipeline.spans_shed_in_kernel')} | `
    + `${stat(o, 'collectors.sockets.kernel_lost_ringbuf_full')} / ${stat(o, 'collectors.sockets.lost_js_queue_full')} / ${stat(o, 'export.file.traces.dropped.queue_full')} | ${o.agentCpuPct.toFixed(0)} | ${o.peakRssMiB.toFixed(1)} |`);
  const text = [
    ...sectionPreamble(HEADING, benchCommand('dist/benchmarks/overload.js')),
    `\`lantern run --port 0 --otlp-file F --log-format json\` (defaults: every process traced), a fresh agent per rate; nginx \`return 200\`;`,
    `loadgen (Go, open loop) at each rate for ${seconds} s over 10 keep-alive connections; figures from the agent's file after it stopped.`,
    'RED: the count of the last (cumulative) export of nginx\'s `http.server.request.duration` and of `http.client.request.duration` towards nginx\'s port.',
    'Agent RSS peak: VmRSS sampled every 100 ms from the load\'s start to 2 s after it.',
    '',
    '| rate asked | requests sent / answered | RED server | RED client | spans server / client | shed in kernel: counted there / sent as summaries | shed by the shedder | lost: kernel ring / JS queue / spans dropped at the file\'s full queue | agent CPU, % of one core | agent RSS peak, MiB |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows,
    '',
  ].join('\n');
  process.stdout.write(`${text}\n`);
  writeResultsSection(HEADING, text);
}

runBenchmark(main);
