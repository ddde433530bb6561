// GET /metrics of a real agent (every collector of this build), read by Prometheus' own client
// parser (Python prometheus_client): names and types, labels, one sample per series, counters that
// grow with traffic, the bearer token, and the same figures in the OTLP export and in summary().
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { flattenSummary } from '../../src/agent/agent.js';
import { availableCollectors } from '../../src/collectors/registry.js';
import { LEVELS } from '../../src/export/prometheus-self-metrics.js';
import { startTestAgent } from '../helpers/agent.js';
import { repoRoot } from '../helpers/cli.js';
import { type ParsedFamily, parsePrometheusText } from '../helpers/prometheus-parser.js';
import { run, startPrintingPort } from '../helpers/spawn.js';

const TOKEN = 'metrics-test-token-0123456789';

const EXPECTED_TYPES: Record<string, string> = {
  lantern_records: 'counter',
  lantern_collector_events: 'counter',
  lantern_collector_level: 'gauge',
  lantern_bpf_attachments: 'gauge',
  lantern_pipeline_events: 'counter',
  lantern_pipeline_level: 'gauge',
  lantern_export_events: 'counter',
  lantern_export_level: 'gauge',
  lantern_process_events: 'counter', // free memory given back (memory-release.ts)
  process_cpu_seconds: 'counter',
  process_resident_memory_bytes: 'gauge',
  process_start_time_seconds: 'gauge',
  process_open_fds: 'gauge',
  nodejs_heap_size_used_bytes: 'gauge',
  nodejs_heap_size_total_bytes: 'gauge',
  nodejs_external_memory_bytes: 'gauge',
};

/** Level figures that exist only with something this test does not set up. */
const LEVELS_NOT_HERE = new Set(['map_series' /* a bpftrace script's maps */, 'profiles_pyroscope_in_flight' /* a Pyroscope server */,
  'k8s_pods', 'k8s_services', 'k8s_owners' /* a Kubernetes API */]);

async function scrape(url: string): Promise<ParsedFamily[]> {
  const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}: ${await res.text()}`);
  if (res.headers.get('content-type') !== 'text/plain; version=0.0.4; charset=utf-8') throw new Error(`content-type ${res.headers.get('content-type')}`);
  return parsePrometheusText(await res.text());
}

function value(families: ParsedFamily[], family: string, labels: Record<string, string> = {}): number | undefined {
  const want = JSON.stringify(Object.entries(labels).sort());
  return families.find((f) => f.name === family)?.samples.find((s) => JSON.stringify(Object.entries(s.labels).sort()) === want)?.value;
}

/** Last value of each lantern.agent.stat data point in an --otlp-file. */
function otlpStats(file: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of readFileSync(file, 'utf8').split('\n').filter((l) => l !== '')) {
    const req = JSON.parse(line) as { resourceMetrics?: Array<{ scopeMetrics: Array<{ metrics: Array<{ name: string; gauge?: { dataPoints: Array<{ attributes: Array<{ key: string; value: { stringValue: string } }>; asDouble?: number; asInt?: string }> } }> }> }> };
    for (const rm of req.resourceMetrics ?? []) {
      for (const m of rm.scopeMetrics.flatMap((s) => s.metrics)) {
        if (m.name !== 'lantern.agent.stat') continue;
        for (const p of m.gauge?.dataPoints ?? []) {
          const name = p.attributes.find((a) => a.key === 'lantern.stat')?.value.stringValue;
          if (name !== undefined) out.set(name, p.asDouble ?? Number(p.asInt));
        }
      }
    }
  }
  return out;
}

t.test('/metrics: Prometheus families of the agent\'s own figures, parsed by prometheus_client', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-metrics-'));
  const otlpFile = join(dir, 'otlp.jsonl');
  const configFile = join(dir, 'lantern.yaml');
  // A CPU budget no agent reaches here (8 cores): its two figures are reported, and nothing is shed.
  writeFileSync(configFile, `server:\n  token: ${TOKEN}\nspans:\n  max_cpu_percent: 800\n`);
  const backend = await startPrintingPort(process.execPath, [join(repoRoot, 'test/fixtures/http-backend.mjs')]);
  t.teardown(() => backend.stop());
  const collectors = availableCollectors();
  const agent = await startTestAgent({ pids: [backend.child.pid!], collectors: collectors.join(','), otlpFile, configFile });
  t.teardown(() => agent.stop());
  const url = agent.agent.controlUrl;
  if (url === null) throw new Error(`the control API did not start: ${agent.log.join('')}`);

  t.equal((await fetch(`${url}/metrics`)).status, 401, 'no token: 401');
  t.equal((await fetch(`${url}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status, 401, 'wrong token: 401');

  const before = await scrape(url);
  const n = 5;
  for (let i = 0; i < n; i++) await run('curl', ['-s', `http://127.0.0.1:${backend.port}/hello`]);
  await agent.waitForSpans((s) => s.kind === 'server', n);
  await agent.waitForSpans((s) => s.kind === 'client', n);
  const after = await scrape(url);

  t.test('names, types, HELP, one sample per series', async (t) => {
    t.same(Object.fromEntries(after.map((f) => [f.name, f.type])), EXPECTED_TYPES, 'exactly these families, typed');
    for (const f of after) {
      t.not(f.help, '', `${f.name} has HELP`);
      const series = f.samples.map((s) => JSON.stringify(Object.entries(s.labels).sort()));
      t.equal(new Set(series).size, series.length, `${f.name}: one sample per series`);
      t.ok(f.samples.every((s) => s.name === (f.type === 'counter' ? `${f.name}_total` : f.name)), `${f.name}: samples named for the type`);
    }
  });

  t.test('labels: every collector that runs, its figures by stat', async (t) => {
    const running = collectors.filter((c) => c !== 'tls'); // TLS plaintext runs inside the sockets collector
    for (const family of ['lantern_collector_events', 'lantern_collector_level']) {
      const samples = after.find((f) => f.name === family)?.samples ?? [];
      t.ok(samples.every((s) => Object.keys(s.labels).sort().join() === 'collector,stat' && s.labels.stat !== ''), `${family}: collector and stat labels`);
    }
    const attaching = new Set(after.find((f) => f.name === 'lantern_bpf_attachments')?.samples.map((s) => s.labels.collector));
    t.same([...attaching].sort(), [...running].sort(), 'lantern_bpf_attachments: every collector');
    // Every collector counts its supervision (restarts, failures), bpftrace too though it runs no script here.
    const counted = new Set(after.find((f) => f.name === 'lantern_collector_events')?.samples.map((s) => s.labels.collector));
    t.same([...counted].sort(), [...running].sort(), 'lantern_collector_events: every collector with counts');
    for (const c of running) t.equal(value(after, 'lantern_collector_events', { collector: c, stat: 'restarts' }), 0, `${c}: supervised, never restarted`);
    for (const c of ['sockets', 'process', 'profiler']) t.ok((value(after, 'lantern_bpf_attachments', { collector: c }) ?? 0) > 0, `${c}: BPF programs attached`);
    t.equal(value(after, 'lantern_bpf_attachments', { collector: 'dynlog' }), 0, 'dynlog without a probe: none');
    // The table of levels names figures that exist: a renamed figure would turn into a counter.
    const levelStats = new Set(after.filter((f) => f.type === 'gauge').flatMap((f) => f.samples.map((s) => s.labels.stat ?? (f.name === 'lantern_bpf_attachments' ? 'bpf_attachments' : f.name))));
    for (const [section, names] of Object.entries(LEVELS)) {
      if (section === 'process') continue;
      for (const name of names.filter((l) => !LEVELS_NOT_HERE.has(l))) {
        t.ok(name.startsWith('*') ? [...levelStats].some((s) => s.endsWith(name.slice(1))) : levelStats.has(name), `level ${section}.${name} is reported`);
      }
    }
  });

  t.test('counters grow with traffic; process figures', async (t) => {
    const records = (f: ParsedFamily[]): number => value(f, 'lantern_collector_events', { collector: 'sockets', stat: 'records_in' }) ?? 0;
    t.ok(records(after) > records(before), `sockets records_in grew (${records(before)} → ${records(after)})`);
    const batches = (f: ParsedFamily[]): number => value(f, 'lantern_collector_events', { collector: 'sockets', stat: 'record_batches' }) ?? 0;
    t.ok(batches(after) > batches(before), `sockets record_batches grew (${batches(before)} → ${batches(after)})`);
    t.ok(batches(after) <= records(after), 'no more record batches than records');
    const http1 = (f: ParsedFamily[]): number => value(f, 'lantern_records', { type: 'exchange.http1' }) ?? 0;
    t.ok(http1(after) >= http1(before) + n, `HTTP/1 exchanges: ${http1(before)} → ${http1(after)}`);
    const spans = (f: ParsedFamily[]): number => value(f, 'lantern_pipeline_events', { stat: 'spans_out' }) ?? 0;
    t.ok(spans(after) >= spans(before) + 2 * n, 'spans out');
    t.ok((value(after, 'lantern_export_events', { stat: 'file.traces.accepted' }) ?? 0) >= 2 * n, 'spans accepted by the file exporter');
    t.ok(value(after, 'process_cpu_seconds') !== undefined && value(after, 'process_cpu_seconds')! >= value(before, 'process_cpu_seconds')! && value(after, 'process_cpu_seconds')! > 0, 'CPU seconds');
    t.ok((value(after, 'process_resident_memory_bytes') ?? 0) > 10 << 20, 'resident memory');
    t.ok((value(after, 'process_open_fds') ?? 0) > 3, 'open descriptors');
    const heapUsed = value(after, 'nodejs_heap_size_used_bytes') ?? 0;
    t.ok(heapUsed > 1 << 20 && heapUsed <= (value(after, 'nodejs_heap_size_total_bytes') ?? 0), 'V8 heap: used within the reserved');
    t.ok((value(after, 'nodejs_external_memory_bytes') ?? 0) > 0, 'memory outside the heap (Buffers)');
    t.type(value(after, 'lantern_process_events', { stat: 'free_memory_releases' }), 'number', 'releases of free memory counted');
    const started = Date.now() / 1000 - process.uptime();
    t.ok(Math.abs((value(after, 'process_start_time_seconds') ?? 0) - started) < 2, 'start time of this process');
    t.equal(value(after, 'process_start_time_seconds'), value(before, 'process_start_time_seconds'), 'start time constant');
  });

  t.test('the same figures over OTLP (lantern.agent.stat) and in summary()', async (t) => {
    const summary = flattenSummary(await agent.stop());
    const otlp = otlpStats(otlpFile);
    for (const k of ['records.exchange.http1', 'collectors.sockets.records_in', 'collectors.sockets.tracker_exchanges', 'collectors.process.bpf_attachments', 'process.start_time_seconds']) {
      t.equal(otlp.get(k), summary[k], `${k}: OTLP ${otlp.get(k)}, summary ${summary[k]}`);
    }
    t.equal(value(after, 'process_start_time_seconds'), summary['process.start_time_seconds'], 'process_start_time_seconds as in summary()');
    t.ok(http1Between(value(after, 'lantern_records', { type: 'exchange.http1' }), summary['records.exchange.http1']), '/metrics saw no more exchanges than the final summary');
  });
});

function http1Between(scraped: number | undefined, final: number | undefined): boolean {
  return scraped !== undefined && final !== undefined && scraped > 0 && scraped <= final;
}
