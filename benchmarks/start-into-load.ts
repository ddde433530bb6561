// An agent started into a host already under load, as a DaemonSet's pod restarts on a busy node:
// does its start-up lose captured exchanges (and their RED)? The load runs before the agent starts,
// so the kernel sends every exchange from the moment the tracepoints attach, while the rest of the
// start-up (collectors, the control API) still holds the JS thread. `lantern run` as a user runs it
// (every process traced: loadgen's CLIENT exchange and nginx's SERVER exchange), nginx `return 200`,
// loadgen at a fixed rate over 10 keep-alive connections; the agent starts `--lead` seconds into it and
// stops after it. Per start, from the summary the agent logs at its stop: records lost in the kernel's
// ring and in the queue to JavaScript, the consumer's waits with records left in the ring, exchanges
// the kernel shed as the ring filled, and exchanges shed and counted in the kernel. With --baseline
// DIR, that checkout's agent starts as often, the two taking turns.
//
//   npm run build && node dist/benchmarks/start-into-load.js [--rate 40000] [--starts 8] [--lead 1.5]
//     [--baseline DIR --baseline-label TEXT]
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type AgentTree, BASELINE_OPTIONS, startAgentProcess, stopSummary, thisTree, treesToMeasure } from './agent-process.js';
import { benchCommand, fixedRateArgs, runBenchmark, runLoadgen, sectionPreamble, withLoadTarget } from './loadgen-tool.js';
import { writeResultsSection } from './results-file.js';

const PATH = '/lantern-start-into-load';
const HEADING = '## Start-up into a loaded host: what a fresh agent loses';
/** The agent's figures per start (its summary's collectors.sockets), in the table's order. */
const FIGURES = ['kernel_lost_ringbuf_full', 'lost_js_queue_full', 'ring_waits', 'kernel_http1_shed_ring_filling', 'kernel_http1_shed_counted_in_kernel'] as const;
type Figures = Partial<Record<(typeof FIGURES)[number], number>>;

interface Start {
  tree: string;
  /** From `lantern run` to the end of its start-up (its log's last start-up line; the tracepoints attach before). */
  readyS: number;
  sent: number;
  figures: Figures;
}

/** The sockets collector's figures in the summary of the agent's `stopped` line (JSON log); absent ones are left out. */
export function socketsFigures(log: string): Figures {
  const sockets = stopSummary(log).collectors?.sockets ?? {};
  const out: Figures = {};
  for (const k of FIGURES) if (typeof sockets[k] === 'number') out[k] = sockets[k];
  return out;
}

async function startOnce(tree: AgentTree, rate: number, seconds: number, leadS: number, dir: string, nginxPort: number, loadgen: string): Promise<Start> {
  const load = runLoadgen(loadgen, fixedRateArgs(`127.0.0.1:${nginxPort}`, PATH, rate, seconds));
  await new Promise((r) => setTimeout(r, leadS * 1000));
  const t0 = performance.now();
  const agent = await startAgentProcess(['--port', '0', '--log-format', 'json', '--otlp-file', join(dir, 'otlp.jsonl')], 'writing OTLP JSON lines', 30_000, tree.lantern);
  const readyS = (performance.now() - t0) / 1000;
  const result = await load;
  await new Promise((r) => setTimeout(r, 1500)); // what the agent still has in its queues
  await agent.stop();
  const start: Start = { tree: tree.label, readyS, sent: result.sent, figures: socketsFigures(agent.stderr()) };
  process.stderr.write(`${tree.label}: ${JSON.stringify(start.figures)}\n`);
  return start;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    rate: { type: 'string', default: '40000' }, starts: { type: 'string', default: '8' }, lead: { type: 'string', default: '1.5' },
    seconds: { type: 'string', default: '7' }, ...BASELINE_OPTIONS,
  } });
  const [rate, starts, leadS, seconds] = [Number(values.rate), Number(values.starts), Number(values.lead), Number(values.seconds)];
  const trees = treesToMeasure(thisTree('this checkout'), values.baseline, values['baseline-label']);
  const runs = await withLoadTarget(PATH, async ({ loadgen, dir, nginxPort }) => {
    const out: Start[] = [];
    for (let i = 0; i < starts; i++) for (const tree of trees) out.push(await startOnce(tree, rate, seconds, leadS, dir, nginxPort, loadgen));
    return out;
  });
  const cell = (v: number | undefined): string => (v === undefined ? '–' : String(v));
  const rows = trees.map((tree) => {
    const mine = runs.filter((r) => r.tree === tree.label);
    const losing = mine.filter((r) => (r.figures.kernel_lost_ringbuf_full ?? 0) + (r.figures.lost_js_queue_full ?? 0) > 0).length;
    const each = FIGURES.map((k) => mine.map((r) => cell(r.figures[k])).join(', '));
    const ready = mine.map((r) => r.readyS.toFixed(2)).join(', ');
    return `| ${tree.label} | ${losing} of ${mine.length} | ${each.join(' | ')} | ${ready} |`;
  });
  const text = [
    ...sectionPreamble(HEADING, benchCommand('dist/benchmarks/start-into-load.js')),
    '`lantern run --port 0 --otlp-file F --log-format json` (defaults: every process traced) started ' + `${leadS} s into loadgen's ${rate} req/s`,
    `(Go, open loop, ${seconds} s over 10 keep-alive connections) against nginx \`return 200\`, stopped 1.5 s after the load; ${starts} starts per agent,`,
    `${trees.length > 1 ? `taking turns (${trees.map((t) => t.label).join(', ')}); ` : ''}figures from the summary each agent logged at its stop, one value per start, in order (–: the agent has no such figure).`,
    '',
    '| agent | starts that lost records | lost in the kernel ring | lost in the queue to JS | consumer waits (records left in the ring) | exchanges shed as the ring filled | exchanges shed and counted in the kernel | seconds from `lantern run` to the end of start-up |',
    '|---|---:|---|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
  process.stdout.write(`${text}\n`);
  writeResultsSection(HEADING, text);
}

runBenchmark(main);
