// Nothing listening: export calls return at once and never throw, failures and drops are counted,
// shutdown returns by its deadline.
import { createServer } from 'node:net';
import t, { type Test } from 'tap';
import { TelemetryExporter } from '../../src/export/telemetry-exporter.js';
import type { OtlpProtocol } from '../../src/config/schema.js';
import { config, durationPoint, logRecord, memoryLogger, resourceOf, span } from './fixtures.js';
import { waitUntil } from './otlp-receivers.js';

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/**
 * 200 records pushed one by one at a destination nobody listens to (`afterPush` runs right after):
 * pushing returns at once and never throws, the queue stays bounded, every record is dropped and
 * counted once, failures and a full queue are logged once per interval, shutdown keeps its deadline.
 */
async function deadDestination(t: Test, name: 'traces' | 'logs', exporter: TelemetryExporter, lines: string[],
  push: (i: number) => void, afterPush: () => Promise<void> = async () => {}): Promise<Record<string, number>> {
  const started = Date.now();
  t.doesNotThrow(() => {
    for (let i = 0; i < 200; i++) push(i);
  });
  t.ok(Date.now() - started < 500, 'export returns at once');
  await afterPush();
  await new Promise((res) => setTimeout(res, 1500));
  const mid = exporter.stats();
  t.ok(mid[`${name}.dropped.queue_full`]! > 0, `queue full drops counted (${mid[`${name}.dropped.queue_full`]})`);
  t.ok(mid[`${name}.dropped.retries_exhausted`]! > 0, `retries exhausted counted (${mid[`${name}.dropped.retries_exhausted`]})`);
  t.ok(mid[`${name}.failed_attempts`]! >= 3, 'failed attempts counted');
  t.equal(mid[`${name}.exported`], 0);
  t.equal(mid[`${name}.accepted`]! + mid[`${name}.dropped.queue_full`]!, 200, 'every record accounted for');
  t.ok(lines.some((l) => l.includes('export failed')), 'logged');
  const full = lines.filter((l) => l.includes('export queue full'));
  t.equal(full.length, 1, 'queue-full drops logged once per interval, not once per drop');
  t.match(full[0], name);

  const before = Date.now();
  await exporter.shutdown(1000);
  const took = Date.now() - before;
  t.ok(took <= 1500, `shutdown within its deadline (${took} ms)`);
  const end = exporter.stats();
  const dropped = end[`${name}.dropped.queue_full`]! + end[`${name}.dropped.retries_exhausted`]! + end[`${name}.dropped.rejected`]! + end[`${name}.dropped.shutdown`]!;
  t.equal(dropped, 200, 'all 200 records dropped, each counted once');
  return end;
}

const QUICK_RETRY = { initialBackoffMs: 20, maxBackoffMs: 50, maxAttempts: 3 };
const SMALL_QUEUE = { capacity: 50, maxBatch: 10, delayMs: 0 };

t.test('dead backend: no throw, drops counted, shutdown on time', async (t) => {
  const port = await freePort();
  const { log, lines } = memoryLogger();
  const exporter = new TelemetryExporter(config((c) => {
    c.otlp.endpoint = `http://127.0.0.1:${port}`;
    c.otlp.metrics.endpoint = `http://127.0.0.1:${port}/v1/metrics`;
    c.otlp.timeoutMs = 500;
  }), log, null, { spanQueue: SMALL_QUEUE, retry: QUICK_RETRY, metricIntervalMs: 3_600_000 });
  const r = resourceOf('svc', 1);
  const end = await deadDestination(t, 'traces', exporter, lines, (i) => exporter.exportSpans([span(r, i)]), async () => {
    exporter.recordHistograms([durationPoint(r, 0.1)]);
    await exporter.forceFlush(1); // collect the histograms now; do not wait
    // Until an attempt fails, a full queue is a backend too slow for the spans, which sheds (below):
    // refused connections fail at once.
    await waitUntil(() => exporter.stats()['traces.failed_attempts']! > 0, 5000);
    t.same(exporter.spanExportBacklog(), { pressure: 0, room: Infinity }, "a dead backend's full queue is no pressure to shed spans: it drops, counts and retries");
  });
  t.ok(end['metrics.dropped.retries_exhausted']! + end['metrics.dropped.shutdown']! >= 1, 'metric exports dropped and counted');
  t.doesNotThrow(() => exporter.exportSpans([span(r, 999)]), 'after shutdown: still no throw');
  t.equal(exporter.stats()['spans.after_shutdown'], 1);
});

for (const protocol of ['grpc', 'http/protobuf'] as OtlpProtocol[]) {
  t.test(`dead logs endpoint (${protocol}): no throw, drops counted, shutdown on time`, async (t) => {
    const port = await freePort();
    const { log, lines } = memoryLogger();
    const exporter = new TelemetryExporter(config((c) => {
      c.otlp.logs.endpoint = `http://127.0.0.1:${port}${protocol === 'grpc' ? '' : '/v1/logs'}`;
      c.otlp.logs.protocol = protocol;
      c.otlp.timeoutMs = 500;
    }), log, null, { logQueue: SMALL_QUEUE, retry: QUICK_RETRY });
    const r = resourceOf('svc', 1);
    await deadDestination(t, 'logs', exporter, lines, (i) => exporter.exportLogs([logRecord(r, i)]));
    t.same(exporter.logTotals(), { exported: 0, dropped: 200 });
    t.doesNotThrow(() => exporter.exportLogs([logRecord(r, 999)]), 'after shutdown: still no throw');
    t.equal(exporter.stats()['logs.after_shutdown'], 1);
  });
}

t.test('no endpoint, no file: a no-op', async (t) => {
  const exporter = new TelemetryExporter(config(() => {}), memoryLogger().log);
  exporter.exportSpans([span(resourceOf('a', 1), 0)]);
  exporter.exportLogs([logRecord(resourceOf('a', 1), 0)]);
  exporter.recordHistograms([durationPoint(resourceOf('a', 1), 1)]);
  await exporter.shutdown(100);
  t.same(Object.keys(exporter.stats()).filter((k) => /^(traces|logs|metrics)\.(accepted|exported|dropped)/.test(k)), []);
  t.same(exporter.logTotals(), { exported: 0, dropped: 0 });
});

t.test('invalid spans are counted, not sent', async (t) => {
  const exporter = new TelemetryExporter(config((c) => (c.otlp.endpoint = 'http://127.0.0.1:9')), memoryLogger().log, null, { retry: { maxAttempts: 1 } });
  const r = resourceOf('a', 1);
  exporter.exportSpans([span(r, 0, { traceId: 'XYZ' }), span(r, 1, { spanId: '0000000000000000' }), span(r, 2, { endTimeUnixNano: 0n })]);
  await exporter.shutdown(1000);
  t.equal(exporter.stats()['spans.invalid'], 3);
  t.equal(exporter.stats()['traces.accepted'], 0);
});
