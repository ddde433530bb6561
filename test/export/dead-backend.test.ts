// Nothing listening: export calls return at once and never throw, failures and drops are counted,
// shutdown returns by its deadline.
import { createServer } from 'node:net';
import t from 'tap';
import { TelemetryExporter } from '../../src/export/telemetry-exporter.js';
import { config, durationPoint, memoryLogger, resourceOf, span } from './fixtures.js';

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

t.test('dead backend: no throw, drops counted, shutdown on time', async (t) => {
  const port = await freePort();
  const { log, lines } = memoryLogger();
  const exporter = new TelemetryExporter(config((c) => {
    c.otlp.endpoint = `http://127.0.0.1:${port}`;
    c.otlp.metrics.endpoint = `http://127.0.0.1:${port}/v1/metrics`;
    c.otlp.timeoutMs = 500;
  }), log, null, {
    spanQueue: { capacity: 50, maxBatch: 10, delayMs: 0 },
    retry: { initialBackoffMs: 20, maxBackoffMs: 50, maxAttempts: 3 },
    metricIntervalMs: 3_600_000,
  });
  const r = resourceOf('svc', 1);
  const started = Date.now();
  t.doesNotThrow(() => {
    for (let i = 0; i < 200; i++) exporter.exportSpans([span(r, i)]);
    exporter.recordHistograms([durationPoint(r, 0.1)]);
  });
  t.ok(Date.now() - started < 500, 'export returns at once');
  await exporter.forceFlush(1); // collect the histograms now; do not wait
  await new Promise((res) => setTimeout(res, 1500));
  const mid = exporter.stats();
  t.ok(mid['traces.dropped.queue_full']! > 0, `queue full drops counted (${mid['traces.dropped.queue_full']})`);
  t.ok(mid['traces.dropped.retries_exhausted']! > 0, `retries exhausted counted (${mid['traces.dropped.retries_exhausted']})`);
  t.ok(mid['traces.failed_attempts']! >= 3, 'failed attempts counted');
  t.equal(mid['traces.exported'], 0);
  t.equal(mid['traces.accepted']! + mid['traces.dropped.queue_full']!, 200, 'every span accounted for');
  t.ok(lines.some((l) => l.includes('export failed')), 'logged');
  const full = lines.filter((l) => l.includes('export queue full'));
  t.equal(full.length, 1, 'queue-full drops logged once per interval, not once per drop');
  t.match(full[0], /traces/);

  const before = Date.now();
  await exporter.shutdown(1000);
  const took = Date.now() - before;
  t.ok(took <= 1500, `shutdown within its deadline (${took} ms)`);
  const end = exporter.stats();
  const dropped = end['traces.dropped.queue_full']! + end['traces.dropped.retries_exhausted']! + end['traces.dropped.rejected']! + end['traces.dropped.shutdown']!;
  t.equal(dropped, 200, 'all 200 spans dropped, each counted once');
  t.ok(end['metrics.dropped.retries_exhausted']! + end['metrics.dropped.shutdown']! >= 1, 'metric exports dropped and counted');
  t.doesNotThrow(() => exporter.exportSpans([span(r, 999)]), 'after shutdown: still no throw');
  t.equal(exporter.stats()['spans.after_shutdown'], 1);
});

t.test('no endpoint, no file: a no-op', async (t) => {
  const exporter = new TelemetryExporter(config(() => {}), memoryLogger().log);
  exporter.exportSpans([span(resourceOf('a', 1), 0)]);
  exporter.recordHistograms([durationPoint(resourceOf('a', 1), 1)]);
  await exporter.shutdown(100);
  t.same(Object.keys(exporter.stats()).filter((k) => k.startsWith('traces') || k.startsWith('metrics')), []);
});

t.test('invalid spans are counted, not sent', async (t) => {
  const exporter = new TelemetryExporter(config((c) => (c.otlp.endpoint = 'http://127.0.0.1:9')), memoryLogger().log, null, { retry: { maxAttempts: 1 } });
  const r = resourceOf('a', 1);
  exporter.exportSpans([span(r, 0, { traceId: 'XYZ' }), span(r, 1, { spanId: '0000000000000000' }), span(r, 2, { endTimeUnixNano: 0n })]);
  await exporter.shutdown(1000);
  t.equal(exporter.stats()['spans.invalid'], 3);
  t.equal(exporter.stats()['traces.accepted'], 0);
});
