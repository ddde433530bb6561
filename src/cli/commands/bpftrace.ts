// `lantern bpftrace SCRIPT.bt`: one bpftrace script through the agent's pipeline. Its printf lines
// become OTel log records and its maps OTel metrics, exported like everything else (OTLP, the
// --otlp-file) and shown here as they come.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { Agent } from '../../agent/agent.js';
import type { ScriptStatus } from '../../collectors/bpftrace/script.js';
import { loadConfig } from '../../config/load.js';
import { LanternError } from '../../errors.js';
import { Logger } from '../../log.js';
import type { MetricSeries } from '../../model/metric.js';
import { type Command, parseOptionsAndOperands } from '../command.js';
import { printLogRecord } from '../print-log.js';
import { waitForStop } from '../wait-for-stop.js';

const HELP = `Usage: lantern bpftrace SCRIPT.bt [--duration S] [--param NAME=VALUE ...] [options]

Runs a bpftrace script (the real bpftrace, JSON output) and turns its output into OpenTelemetry:
printf lines become log records, with \`key=value\` and \`key:value\` fields as typed attributes
(pid=%d → the process's own resource); maps become metrics (count/sum → sums, avg/min/max and
plain values → gauges, hist/lhist → histograms). Lines are printed here as they arrive, the maps
at the end. Stops when the script exits, after --duration, or on SIGINT/SIGTERM.

Options:
  --duration SECONDS      stop after this long
  --param NAME=VALUE      a script parameter (repeatable): 1=… for bpftrace's $1, NAME=… for \${NAME}
  --name NAME             the script's name in records and metrics (default: the file's name)
  --json                  print each log record as a JSON line
  --otlp-endpoint URL     also export over OTLP (default: $OTEL_EXPORTER_OTLP_ENDPOINT)
  --otlp-file PATH        also append what is exported as OTLP JSON lines
  --config FILE           YAML configuration (its bpftrace section: binary, limits)
  --log-level LEVEL       debug, info, warn or error (default: warn)
  -h, --help              this help`;

export const bpftraceCommand: Command = {
  name: 'bpftrace',
  summary: 'run a bpftrace script and export its output as OTel logs and metrics',
  async run(argv) {
    const { values, positionals } = parseOptionsAndOperands('bpftrace', argv, {
      duration: { type: 'string' },
      param: { type: 'string', multiple: true },
      name: { type: 'string' },
      json: { type: 'boolean' },
      'otlp-endpoint': { type: 'string' },
      'otlp-file': { type: 'string' },
      config: { type: 'string' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help === true) {
      console.log(HELP);
      return 0;
    }
    if (positionals.length !== 1) throw new LanternError('LANTERN_ERR_USAGE', 'give one script file\nRun `lantern bpftrace --help` for the options.');
    const file = positionals[0] as string;
    let source: string;
    try {
      source = readFileSync(file, 'utf8');
    } catch (e) {
      throw new LanternError('LANTERN_ERR_USAGE', `cannot read ${file}: ${(e as Error).message}`);
    }
    const params = parseParams(values.param ?? []);
    const config = loadConfig({
      config: values.config, duration: values.duration, otlpEndpoint: values['otlp-endpoint'], otlpFile: values['otlp-file'],
      collectors: 'bpftrace', logLevel: values['log-level'] ?? 'warn', port: '0',
    });
    // This command's control API is its own: it must not replace a running agent's token file.
    delete config.server.tokenFile;
    const log = new Logger(config.log.level, config.log.format === 'json');
    const agent = new Agent(config, log);
    agent.onLog(printLogRecord(values.json === true));
    await agent.start();
    const scripts = agent.bpftraceScripts;
    if (scripts === null) throw new LanternError('LANTERN_ERR_COLLECTOR', 'the bpftrace collector did not start');
    const name = values.name ?? scriptName(file);
    const started = await scripts.add({ name, source, params, origin: 'command' });
    let final: ScriptStatus = started;
    if (started.state !== 'failed') {
      const reason = await waitForStop(config.durationSeconds, { everyMs: 200, check: () => scriptEnded(scripts.get(name)?.status) });
      log.info('stopping', { reason });
    }
    await agent.stop();
    final = scripts.get(name)?.status ?? final;
    for (const line of describeSeries(agent.metricSeries())) console.log(line);
    if (final.state === 'failed') {
      console.error(`lantern bpftrace: ${final.reason ?? 'the script failed'}`);
      return 1;
    }
    return 0;
  },
};

function parseParams(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of list) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new LanternError('LANTERN_ERR_USAGE', `--param ${p}: expected NAME=VALUE`);
    out[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return out;
}

/** "/x/tcp-retrans.bt" → "tcp-retrans", made a valid script name. */
function scriptName(file: string): string {
  const n = basename(file).replace(/\.bt$/, '').replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[^A-Za-z0-9]+/, '').slice(0, 63);
  return n === '' ? 'script' : n;
}

/** Why the command's script has ended on its own, or null while it runs (or will be restarted). */
function scriptEnded(s: ScriptStatus | undefined): string | null {
  if (s === undefined) return 'the script is gone';
  if (s.state === 'stopped' || (s.state === 'failed' && s.stats.restarts === 0)) return `the script ${s.state}`;
  return null;
}

/** One line per series: `name{attrs} value`, histograms as their non-empty buckets. */
export function describeSeries(series: readonly MetricSeries[]): string[] {
  return series.map((s) => {
    const attrs = Object.entries(s.attributes).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',');
    const id = attrs === '' ? s.name : `${s.name}{${attrs}}`;
    const v = s.value;
    if (v.kind !== 'histogram') return `${id} ${v.value}`;
    const buckets = v.counts.map((c, i) => ({ c, le: i < v.bounds.length ? String(v.bounds[i]) : '+Inf' })).filter((b) => b.c > 0);
    return `${id} count=${v.count} ${buckets.map((b) => `le${b.le}:${b.c}`).join(' ')}`;
  });
}
