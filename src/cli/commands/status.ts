// `lantern status`: a running agent's own figures, asked of its control API (GET /api/stats, the
// agent's summary()): per collector events in, losses, errors and BPF programs attached; the span
// pipeline; each export destination's queue; the agent's process. --json prints them as served.
import type { AgentSummary } from '../../agent/agent.js';
import { DEFAULT_TOKEN_FILE } from '../../config/schema.js';
import { LanternError } from '../../errors.js';
import { isLevel } from '../../export/prometheus-self-metrics.js';
import { readTokenFile } from '../../server/token-file.js';
import { type Command, parseOptions } from '../command.js';

const DEFAULT_URL = 'http://127.0.0.1:4590';
const TIMEOUT_MS = 5000;

const HELP = `Usage: lantern status [--url URL] [--token TOKEN | --token-file FILE] [--json]

Asks a running agent (lantern run) for its own figures and prints them: per collector the events
in, losses, errors and BPF programs attached; the span pipeline; each export destination's queue;
the agent's CPU time and memory. The same figures are served to Prometheus at /metrics.

Options:
  --url URL      the agent's control API (default ${DEFAULT_URL})
  --token TOKEN  its bearer token (default: $LANTERN_TOKEN, else the token file)
  --token-file FILE
                 the file the agent wrote its token to, readable by root only (default
                 ${DEFAULT_TOKEN_FILE}, the agent's server.token_file)
  --json         the figures as JSON, as the control API serves them (/api/stats)
  -h, --help     this help

Exit status 0 when the agent answered, 1 when no agent answers or it refuses the token.`;

/** The first of these a collector reports is its "events in". */
const EVENTS_IN = ['records_in', 'samples_in', 'lines'];
/** Counts of what was lost (kernel ring buffer or tables full, queue to JavaScript full, rate limits). */
const LOSS = /(^|_)lost(_|$)|dropped/;
/** Counts of what went wrong (malformed records, parse errors, failed reads or attaches). */
const ERROR = /malformed|fail|error/i;

export const statusCommand: Command = {
  name: 'status',
  summary: "show a running agent's own figures: events, losses, export queues, CPU and memory",
  async run(argv) {
    const { values } = parseOptions('status', argv, {
      url: { type: 'string' },
      token: { type: 'string' },
      'token-file': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help === true) {
      console.log(HELP);
      return 0;
    }
    const base = controlUrl(values.url ?? DEFAULT_URL);
    const tokenFile = values['token-file'] ?? DEFAULT_TOKEN_FILE;
    const given = values.token ?? process.env.LANTERN_TOKEN;
    const stats = await fetchStats(base, given !== undefined && given !== '' ? given : tokenFromFile(tokenFile), tokenFile);
    console.log(values.json === true ? JSON.stringify(stats, null, 2) : renderStatus(stats, base, Date.now()));
    return 0;
  },
};

function controlUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new LanternError('LANTERN_ERR_USAGE', `--url ${text}: not a URL (e.g. ${DEFAULT_URL})`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new LanternError('LANTERN_ERR_USAGE', `--url ${text}: expected an http:// address (e.g. ${DEFAULT_URL})`);
  return url.href.replace(/\/+$/, '');
}

/** The agent's token file: none when it does not exist; a file there that cannot be read is an error. */
function tokenFromFile(path: string): string | undefined {
  try {
    return readTokenFile(path);
  } catch (e) {
    throw new LanternError('LANTERN_ERR_TOKEN', `cannot read the agent's token file ${path}: ${(e as Error).message} (it is root's only: run as root, or give the token with --token or $LANTERN_TOKEN)`, { cause: e });
  }
}

async function fetchStats(base: string, token: string | undefined, tokenFile: string): Promise<AgentSummary> {
  let res: Response;
  try {
    res = await fetch(`${base}/api/stats`, {
      headers: token !== undefined && token !== '' ? { authorization: `Bearer ${token}` } : {},
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    const why = (e as Error).name === 'TimeoutError' ? `no answer within ${TIMEOUT_MS / 1000} s` : cause?.code ?? cause?.message ?? (e as Error).message;
    throw new LanternError('LANTERN_ERR_NO_AGENT', `no agent answers at ${base} (${why}): is \`lantern run\` running there? Point --url at its control API`, { cause: e });
  }
  if (res.status === 401) {
    throw new LanternError('LANTERN_ERR_TOKEN', token === undefined || token === ''
      ? `the agent at ${base} wants its bearer token: no token file at ${tokenFile} (the agent's server.token_file: --token-file); or give it with --token or $LANTERN_TOKEN`
      : `the agent at ${base} refused the token: give the one in its token file (--token-file, default ${DEFAULT_TOKEN_FILE}) or its server.token with --token or $LANTERN_TOKEN`);
  }
  const body = await res.text();
  let stats: unknown;
  try {
    stats = JSON.parse(body);
  } catch {
    stats = null;
  }
  if (res.status !== 200 || !isSummary(stats)) {
    throw new LanternError('LANTERN_ERR_NO_AGENT', `${base}/api/stats answered ${res.status} with ${body.length > 200 ? `${body.slice(0, 200)}…` : body || 'nothing'}: is that a Lantern agent's control API?`);
  }
  return stats;
}

function isSummary(v: unknown): v is AgentSummary {
  const o = v as Partial<Record<keyof AgentSummary, unknown>> | null;
  return typeof o === 'object' && o !== null && ['records', 'collectors', 'pipeline', 'export'].every((k) => typeof o[k as keyof AgentSummary] === 'object');
}

/** The figures for people: a few lines per part, losses and errors named when there are any. */
export function renderStatus(s: AgentSummary, url: string, nowMs: number): string {
  const lines = [headline(s, url, nowMs), ''];
  const collectors = Object.entries(s.collectors);
  const rows = [['collector', 'events in', 'bytes in', 'lost', 'errors', 'BPF attached']];
  const named: string[] = [];
  for (const [name, stats] of collectors) {
    const counts = Object.entries(stats).filter(([k]) => !isLevel(`collectors.${name}.${k}`));
    const lost = counts.filter(([k]) => LOSS.test(k));
    const errors = counts.filter(([k]) => !LOSS.test(k) && ERROR.test(k));
    const eventsIn = EVENTS_IN.map((k) => stats[k]).find((v) => v !== undefined);
    rows.push([name, eventsIn === undefined ? '-' : String(eventsIn), stats.bytes_in === undefined ? '-' : bytes(stats.bytes_in),
      String(sum(lost)), String(sum(errors)), String(stats.bpf_attachments ?? '-')]);
    for (const [kind, list] of [['lost', lost], ['errors', errors]] as const) {
      const nonzero = list.filter(([, v]) => v !== 0);
      if (nonzero.length > 0) named.push(`  ${name} ${kind}: ${nonzero.map(([k, v]) => `${k} ${v}`).join(', ')}`);
    }
  }
  lines.push(...(collectors.length > 0 ? table(rows) : ['no collector running']), ...named, '');

  const records = Object.entries(s.records);
  lines.push(`records: ${records.length > 0 ? records.map(([k, v]) => `${k} ${v}`).join(', ') : 'none yet'}`);
  const p = s.pipeline;
  lines.push(`spans: ${p.spans_out ?? 0} out, ${p.spans_shed ?? 0} shed (${p.span_share_percent ?? 100}% exported), ${p.spans_held ?? 0} held for linking, ${p.span_build_failures ?? 0} build failures`, '');

  const destinations = Object.keys(s.export).filter((k) => k.endsWith('.accepted')).map((k) => k.slice(0, -'.accepted'.length));
  if (destinations.length === 0) lines.push('export: no destination (local mode)');
  else {
    const x = s.export;
    const exportRows = [['export to', 'accepted', 'exported', 'queued', 'dropped', 'retries']];
    for (const d of destinations) {
      const dropped = Object.entries(x).filter(([k]) => k.startsWith(`${d}.dropped.`));
      exportRows.push([d, String(x[`${d}.accepted`]), String(x[`${d}.exported`] ?? 0), String(x[`${d}.queued`] ?? 0), String(sum(dropped)), String(x[`${d}.retries`] ?? '-')]);
    }
    lines.push(...table(exportRows));
  }
  return lines.join('\n');
}

function headline(s: AgentSummary, url: string, nowMs: number): string {
  const p = (s as Partial<AgentSummary>).process ?? {};
  const parts = [`Lantern agent at ${url}`];
  if (p.start_time_seconds !== undefined) {
    const up = Math.max(0, nowMs / 1000 - p.start_time_seconds);
    parts.push(`up ${duration(up)}`);
    if (p.cpu_seconds !== undefined) parts.push(`CPU ${p.cpu_seconds.toFixed(2)} s (${up > 0 ? ((100 * p.cpu_seconds) / up).toFixed(1) : '0.0'}% of a core on average)`);
  }
  if (p.resident_memory_bytes !== undefined) parts.push(`RSS ${bytes(p.resident_memory_bytes)}`);
  if (p.open_fds !== undefined) parts.push(`${p.open_fds} open fds`);
  return parts.join(', ');
}

/** Left-aligned first column, the others right-aligned, two spaces between. */
function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd());
}

function sum(entries: Array<[string, number]>): number {
  return entries.reduce((n, [, v]) => n + v, 0);
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}

function duration(seconds: number): string {
  const s = Math.floor(seconds);
  const [d, h, m] = [Math.floor(s / 86400), Math.floor((s % 86400) / 3600), Math.floor((s % 3600) / 60)];
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s % 60}s`;
  return `${s}s`;
}
