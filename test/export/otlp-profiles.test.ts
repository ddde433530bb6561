// OTLP profiles (profiles/v1development) decoded by the real Collector (test/e2e-tools/otelcol, its
// profiles pipeline on with --feature-gates=service.profilesSupport; the file exporter writes what
// pdata decoded back as JSON): first synthetic records over gRPC and HTTP, then the agent's own CPU
// profiles of a known busy program (hot.c: main → outer → hot) and off-CPU profiles of one that
// sleeps (blocker.c: sleep_here).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { GRPC_EXPORT_METHOD, GrpcExportTransport } from '../../src/export/otlp-exporters.js';
import { appendSignalPath } from '../../src/export/otlp-endpoints.js';
import { HttpExportTransport } from '../../src/export/otlp-http-transport.js';
import { encodeProfilesRequest } from '../../src/export/otlp-profiles.js';
import { Logger } from '../../src/log.js';
import type { ProfileFrame, ProfileRecord } from '../../src/model/profile.js';
import { startTestAgent } from '../helpers/agent.js';
import { type Otelcol, type ReceivedProfileSample, startOtelcol } from '../helpers/otelcol.js';
import { fixtureBinary, hotBinary, startWorkload } from '../collectors/profiler-helpers.js';

const log = new Logger('warn', false, { write: () => undefined });
const col: Otelcol = await startOtelcol({ profiles: true });
t.teardown(() => col.stop());

const main: ProfileFrame = { function: 'main', module: '/usr/bin/app', address: 0x1100n, buildId: 'abcdef01' };
const work: ProfileFrame = { function: 'work', module: '/usr/bin/app', address: 0x1200n, buildId: 'abcdef01' };
const read: ProfileFrame = { function: 'ksys_read', module: '[kernel]', address: 0xffffffff81a2b3c5n, kernel: true };
const TRACE = '0af7651916cd43dd8448eb211c80319c';
const SPAN = 'b7ad6b7169203331';

function records(tag: string): ProfileRecord[] {
  const stack = [work, main];
  return [{
    service: `svc-${tag}`, startTimeUnixNano: 1_700_000_000_000_000_000n, endTimeUnixNano: 1_700_000_010_000_000_000n,
    frequencyHz: 99, periodNanos: 10_101_010,
    samples: [
      { frames: stack, count: 7, labels: { pid: '101', thread_id: '102', thread_name: 'worker', service_name: `svc-${tag}` } },
      { frames: stack, count: 3, labels: { pid: '101', thread_id: '103', thread_name: 'worker', service_name: `svc-${tag}`,
        trace_id: TRACE, span_id: SPAN, http_route: '/users/{id}' } },
      { frames: [main], count: 2, labels: { pid: '202', thread_id: '202', thread_name: 'other', service_name: `svc-${tag}` } },
    ],
  }, {
    kind: 'off_cpu', service: `svc-${tag}`, startTimeUnixNano: 1_700_000_000_000_000_000n, endTimeUnixNano: 1_700_000_010_000_000_000n,
    frequencyHz: 99, periodNanos: 0,
    samples: [{ frames: [read, work, main], count: 4, nanos: 123_456_789, labels: { pid: '101', thread_id: '102', thread_name: 'worker', service_name: `svc-${tag}` } }],
  }];
}

const resourceOf = (pid: number, service: string): Record<string, string | number> => ({ 'service.name': service, 'process.pid': pid });

async function waitFor(match: (s: ReceivedProfileSample) => boolean, count: number, timeoutMs = 15_000): Promise<ReceivedProfileSample[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const found = col.profileSamples().filter(match);
    if (found.length >= count || Date.now() > until) return found;
    await new Promise((r) => setTimeout(r, 100));
  }
}

for (const via of ['grpc', 'http/protobuf'] as const) {
  t.test(`synthetic CPU and off-CPU profiles over ${via}: decoded by the Collector`, async (t) => {
    const tag = via === 'grpc' ? 'grpc' : 'http';
    const r = { url: via === 'grpc' ? col.grpcEndpoint : appendSignalPath(col.httpEndpoint, 'v1development/profiles'), protocol: via, headers: {}, timeoutMs: 5000, warnings: [] };
    const transport = via === 'grpc' ? new GrpcExportTransport(r, GRPC_EXPORT_METHOD.profiles, log) : new HttpExportTransport(r);
    t.teardown(() => transport.shutdown());
    const res = await transport.send(encodeProfilesRequest(records(tag), resourceOf));
    t.ok(res.ok, `accepted: ${res.ok ? '' : res.error.message}`);
    const got = await waitFor((s) => JSON.stringify(s.resource['service.name']) === JSON.stringify({ stringValue: `svc-${tag}` }), 4);
    t.equal(got.length, 4, 'four samples back');
    if (got.length !== 4) t.comment(col.output().slice(-2000));
    const cpu = got.filter((s) => s.sampleType === 'samples/count');
    t.same(cpu.map((s) => s.value).sort(), [2, 3, 7], 'sample counts');
    t.ok(cpu.every((s) => s.periodType === 'cpu/nanoseconds' && s.period === 10_101_010), 'period type and period');
    const seven = cpu.find((s) => s.value === 7);
    t.same(seven?.functions, ['work', 'main'], 'the stack, leaf first');
    t.same(seven?.resource['process.pid'], { intValue: '101' }, 'one resource per process');
    t.same(seven?.attributes['thread.id'], { intValue: '102' });
    t.same(seven?.attributes['thread.name'], { stringValue: 'worker' });
    const spanned = cpu.find((s) => s.value === 3);
    t.same(spanned?.link, { traceId: TRACE, spanId: SPAN }, 'the span as the sample link');
    t.same(spanned?.attributes['http.route'], { stringValue: '/users/{id}' });
    t.same(cpu.find((s) => s.value === 2)?.resource['process.pid'], { intValue: '202' });
    const off = got.find((s) => s.sampleType === 'off_cpu/nanoseconds');
    t.equal(off?.value, 123_456_789, 'off-CPU time');
    t.same(off?.functions, ['ksys_read', 'work', 'main']);
    const kernelLoc = col.requests().flatMap((q) => q.dictionary?.locationTable ?? []).find((l) => l.address === String(0xffffffff81a2b3c5n));
    t.ok(kernelLoc, 'a kernel address past 2^53 arrives exact');
  });
}

t.test('the agent profiles a busy program and sends it over OTLP: the Collector decodes its functions', async (t) => {
  const bin = hotBinary();
  const w = startWorkload(bin, ['30'], { OTEL_SERVICE_NAME: 'hot-otlp' });
  t.teardown(() => w.stop());
  await w.ready;
  const dir = mkdtempSync(join(tmpdir(), 'lantern-otlp-profiles-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'lantern.yaml'), 'profiler:\n  frequency: 99\n  interval: 2\n');
  const agent = await startTestAgent({ pids: [w.pid], collectors: 'profiler', configFile: join(dir, 'lantern.yaml'),
    env: { OTEL_EXPORTER_OTLP_PROFILES_ENDPOINT: col.grpcEndpoint } });
  let stopped = false;
  t.teardown(async () => {
    if (!stopped) await agent.stop();
  });
  const mine = (s: ReceivedProfileSample): boolean => JSON.stringify(s.resource['process.pid']) === JSON.stringify({ intValue: String(w.pid) });
  let got: ReceivedProfileSample[] = [];
  const until = Date.now() + 20_000;
  while (Date.now() < until) {
    got = col.profileSamples().filter(mine);
    if (got.reduce((n, s) => n + s.value, 0) >= 150) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const total = got.reduce((n, s) => n + s.value, 0);
  t.ok(total >= 150, `${total} samples of the busy program received (99 Hz, a few seconds)`);
  const inHot = got.filter((s) => s.functions[0] === 'hot').reduce((n, s) => n + s.value, 0);
  t.ok(inHot > total / 2, `most in hot: ${inHot} of ${total}`);
  const chain = got.find((s) => s.functions[0] === 'hot')?.functions ?? [];
  t.ok(chain.join(' ').includes('hot outer main'), `hot ← outer ← main: ${chain.join(' ← ')}`);
  t.same(got[0]?.resource['service.name'], { stringValue: 'hot-otlp' }, 'the process\'s own service.name');
  t.ok(got.every((s) => s.sampleType === 'samples/count' && s.periodType === 'cpu/nanoseconds'), 'CPU sample and period types');
  t.ok(got.every((s) => s.attributes['thread.id'] !== undefined), 'thread ids');
  stopped = true;
  const summary = await agent.stop();
  t.ok((summary.export.profiles_otlp_sent ?? 0) > 0, `profiles sent: ${JSON.stringify(summary.export.profiles_otlp_sent)}`);
});

t.test('off-CPU profiles too: the time blocker.c\'s sleeper thread waited, under sleep_here', async (t) => {
  const w = startWorkload(fixtureBinary('blocker'), ['300', '50'], { OTEL_SERVICE_NAME: 'blocker-otlp' });
  t.teardown(() => w.stop());
  await w.ready;
  const dir = mkdtempSync(join(tmpdir(), 'lantern-otlp-offcpu-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'lantern.yaml'), 'profiler:\n  interval: 1\n  off_cpu:\n    enabled: true\n  otlp:\n    enabled: true\n');
  const agent = await startTestAgent({ pids: [w.pid], collectors: 'profiler', configFile: join(dir, 'lantern.yaml'),
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: col.grpcEndpoint } });
  t.teardown(() => agent.stop());
  const sleeper = (s: ReceivedProfileSample): boolean => s.sampleType === 'off_cpu/nanoseconds' &&
    JSON.stringify(s.resource['process.pid']) === JSON.stringify({ intValue: String(w.pid) }) && JSON.stringify(s.attributes['thread.name']) === '{"stringValue":"sleeper"}';
  let got: ReceivedProfileSample[] = [];
  const until = Date.now() + 15_000;
  while (Date.now() < until) {
    got = col.profileSamples().filter(sleeper);
    if (got.reduce((n, s) => n + s.value, 0) >= 500e6) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const ns = got.reduce((n, s) => n + s.value, 0);
  t.ok(ns >= 500e6, `${(ns / 1e6).toFixed(0)} ms blocked received (10 sleeps of 50 ms at least)`);
  t.ok(got.some((s) => s.functions.includes('sleep_here')), `under sleep_here: ${got[0]?.functions.join(' ← ')}`);
  t.ok(got.every((s) => s.periodType === 'off_cpu/nanoseconds' && s.period === 1), 'period type off_cpu/nanoseconds, period 1');
});
