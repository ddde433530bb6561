// End to end: bpftrace scripts from a probes directory (the shape of the lantern-probes ConfigMap
// mount) run inside the agent, follow their files (added, changed, removed while it runs), and what
// they print reaches a real OpenTelemetry Collector over the network: printf lines as log records
// with typed attributes (OTLP/gRPC), maps as metrics (OTLP/HTTP), read back from its file exporter.
// The example scripts of deploy/probes-configmap.yaml run too, so they cannot rot. The probes see
// the whole machine: the test's own script filters on this test's pid.
import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parse as parseYaml } from 'yaml';
import { startTestAgent } from '../helpers/agent.js';
import { type KeyValueJson, byKey, startOtelcol } from '../helpers/otelcol.js';

interface MetricJson {
  name: string;
  sum?: { isMonotonic?: boolean; dataPoints: Array<{ asDouble?: number; asInt?: string; attributes?: KeyValueJson[] }> };
  histogram?: { dataPoints: Array<{ count: string; bucketCounts: string[]; explicitBounds: number[]; attributes?: KeyValueJson[] }> };
}

t.test('bpftrace scripts from a probes directory: logs and metrics at the Collector', async (t) => {
  const collector = await startOtelcol();
  t.teardown(() => collector.stop());
  const dir = mkdtempSync(join(tmpdir(), 'lantern-probes-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const configMap = parseYaml(readFileSync('deploy/probes-configmap.yaml', 'utf8')) as { data: Record<string, string> };
  for (const [file, text] of Object.entries(configMap.data)) writeFileSync(join(dir, file), text);
  const script = (field: string): string => `tracepoint:syscalls:sys_enter_getppid /pid == ${process.pid}/ {
  printf("pid=%d comm=%s ${field}=%d\\n", pid, comm, 7);
  @calls[pid] = count();
  @lat = lhist(5, 0, 10, 2);
}`;
  writeFileSync(join(dir, 'getppid.bt'), script('first'));
  const configFile = join(dir, '..', `lantern-probes-config-${process.pid}.yaml`);
  writeFileSync(configFile, `probes_dir: ${dir}\n`);
  t.teardown(() => rmSync(configFile, { force: true }));

  const agent = await startTestAgent({
    collectors: 'bpftrace', configFile,
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: collector.grpcEndpoint, OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `${collector.httpEndpoint}/v1/metrics` },
  });
  let stopped = false;
  t.teardown(async () => {
    if (!stopped) await agent.stop();
  });
  const scripts = agent.agent.bpftraceScripts;
  if (scripts === null) throw new Error('no bpftrace scripts in the agent');
  const state = (name: string): string | undefined => scripts.get(name)?.status.state;
  const until = async (cond: () => boolean, ms = 20_000): Promise<boolean> => {
    const end = Date.now() + ms;
    while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    return cond();
  };
  t.ok(await until(() => state('getppid') === 'running'), `the directory's script runs: ${JSON.stringify(scripts.list())}`);
  for (const name of Object.keys(configMap.data).filter((f) => f.endsWith('.bt')).map((f) => f.replace(/\.bt$/, ''))) {
    t.ok(await until(() => state(name) === 'running'), `deploy/probes-configmap.yaml's ${name} runs: ${scripts.get(name)?.status.reason ?? ''}`);
  }

  for (let i = 0; i < 25; i++) void process.ppid;
  const first = await collector.waitForLogs((l) => l.attributes.first !== undefined, 25, 20_000);
  const rec = first[0]!;
  t.same(rec.attributes.pid, { intValue: String(process.pid) }, 'pid=%d arrives as an int');
  t.same(rec.attributes.first, { intValue: '7' });
  t.same(rec.attributes.comm, { stringValue: 'node' });
  t.same(rec.attributes['bpftrace.script'], { stringValue: 'getppid' });
  t.same(rec.record.body, { stringValue: `pid=${process.pid} comm=node first=7` });
  t.same(rec.resource['process.pid'], { intValue: String(process.pid) }, 'the line\'s pid gives this process\'s resource');
  t.ok(rec.resource['host.name'], 'and the host');

  // Changed: restarted with the new text.
  writeFileSync(join(dir, 'getppid.bt'), script('second'));
  t.ok(await until(() => scripts.get('getppid')?.source.includes('second') === true && state('getppid') === 'running'), 'restarted with the changed file');
  for (let i = 0; i < 5; i++) void process.ppid;
  const second = await collector.waitForLogs((l) => l.attributes.second !== undefined, 5, 20_000);
  t.same(second[0]?.attributes.second, { intValue: '7' });

  // Removed: stopped.
  unlinkSync(join(dir, 'tcp-retransmits.bt'));
  t.ok(await until(() => scripts.get('tcp-retransmits') === undefined), 'a removed file\'s script is stopped and forgotten');

  stopped = true;
  const summary = await agent.stop();
  t.equal(summary.collectors.bpftrace?.scripts_failed ?? 0, 0);

  // Metrics: exported at the final collection, after bpftrace printed its maps on the way out.
  const metrics = (): MetricJson[] => collector.requests().flatMap((r) => (r.resourceMetrics ?? []) as Array<{ scopeMetrics?: Array<{ metrics?: MetricJson[] }> }>)
    .flatMap((rm) => (rm.scopeMetrics ?? []).flatMap((sm) => sm.metrics ?? []));
  t.ok(await until(() => metrics().some((m) => m.name === 'bpftrace.getppid.calls'), 10_000), `metrics arrived: ${metrics().map((m) => m.name).join(', ')}`);
  const calls = metrics().filter((m) => m.name === 'bpftrace.getppid.calls').at(-1);
  t.equal(calls?.sum?.isMonotonic, true, 'count() is a monotonic sum');
  const point = calls?.sum?.dataPoints[0];
  t.same(byKey(point?.attributes), { pid: { intValue: String(process.pid) } }, 'the map key is an attribute');
  t.equal(point?.asDouble, 5, 'the second run counted its 5 calls (a restart starts the map again)');
  const lat = metrics().filter((m) => m.name === 'bpftrace.getppid.lat').at(-1)?.histogram?.dataPoints[0];
  t.same(lat?.explicitBounds, [-1, 1, 3, 5, 7, 9], 'lhist(5, 0, 10, 2): the script\'s own buckets');
  t.same(lat?.bucketCounts, ['0', '0', '0', '5', '0', '0', '0'], 'every value 5 in [4, 5]');
});
