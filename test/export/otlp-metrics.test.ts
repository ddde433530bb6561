// Histograms through the real OTLPMetricExporter to a real HTTP receiver at /v1/metrics: buckets,
// counts and sums for known values, one export per process, http/json and http/protobuf.
import t from 'tap';
import { DURATION_BUCKETS_S } from '../../src/export/histogram-aggregator.js';
import { TelemetryExporter } from '../../src/export/telemetry-exporter.js';
import { config, durationPoint, memoryLogger, resourceOf } from './fixtures.js';
import { attrs, decodeMetricsRequest, startHttpReceiver } from './otlp-receivers.js';

interface DataPoint {
  attributes: unknown; startTimeUnixNano: string; timeUnixNano: string; count: string | number; sum: number;
  bucketCounts: Array<string | number>; explicitBounds: number[]; min?: number; max?: number;
}
interface MetricsRequest {
  resourceMetrics: Array<{
    resource: { attributes: unknown };
    scopeMetrics: Array<{ scope: { name: string }; metrics: Array<{ name: string; unit: string; description: string; histogram: { aggregationTemporality: number; dataPoints: DataPoint[] } }> }>;
  }>;
}

// Values on, between and beyond the boundaries: upper bounds are inclusive.
const VALUES = [0.001, 0.005, 0.007, 0.1, 0.3, 2.5, 12];
const EXPECTED_COUNTS = (() => {
  const c = new Array<number>(DURATION_BUCKETS_S.length + 1).fill(0);
  c[0] = 2; // 0.001, 0.005 (≤ 0.005)
  c[1] = 1; // 0.007 in (0.005, 0.01]
  c[5] = 1; // 0.1 in (0.075, 0.1]
  c[7] = 1; // 0.3 in (0.25, 0.5]
  c[10] = 1; // 2.5 in (1, 2.5]
  c[14] = 1; // 12 > 10
  return c;
})();

t.test('http/json: cumulative explicit-bucket histograms per resource and attribute set', async (t) => {
  const rx = await startHttpReceiver();
  t.teardown(() => rx.close());
  const exporter = new TelemetryExporter(config((c) => {
    c.otlp.endpoint = rx.url; // base endpoint: /v1/metrics is appended
    c.otlp.metrics.protocol = 'http/json';
    c.otlp.metrics.headers = { 'x-tenant': 'team-a' };
  }), memoryLogger().log, null, { metricIntervalMs: 3_600_000, baseResourceAttributes: {} });
  const shop = resourceOf('shop', 1);
  const cart = resourceOf('cart', 2);
  exporter.recordHistograms(VALUES.map((v) => durationPoint(shop, v)));
  exporter.recordHistograms([durationPoint(shop, 0.2, { 'http.response.status_code': 500, 'error.type': '500' })]);
  // Same attributes in another key order: the same series.
  exporter.recordHistograms([{ ...durationPoint(cart, 0.02), attributes: { 'http.response.status_code': 200, 'http.request.method': 'GET' } }]);
  exporter.recordHistograms([durationPoint(cart, 0.04)]);
  await exporter.forceFlush(5000);
  await rx.waitFor(2);

  t.equal(rx.requests.length, 2, 'one export per resource');
  for (const r of rx.requests) {
    t.equal(r.method, 'POST');
    t.equal(r.path, '/v1/metrics');
    t.equal(r.headers['content-type'], 'application/json');
    t.equal(r.headers['x-tenant'], 'team-a');
  }
  const bodies = rx.requests.map((r) => JSON.parse(r.body.toString('utf8')) as MetricsRequest);
  const byService = new Map(bodies.map((b) => {
    t.equal(b.resourceMetrics.length, 1);
    const rm = b.resourceMetrics[0]!;
    return [attrs(rm.resource.attributes)['service.name'], rm] as const;
  }));
  const shopMetrics = byService.get('shop')!.scopeMetrics[0]!;
  t.equal(shopMetrics.scope.name, 'lantern');
  t.equal(shopMetrics.metrics.length, 1);
  const m = shopMetrics.metrics[0]!;
  t.equal(m.name, 'http.server.request.duration');
  t.equal(m.unit, 's');
  t.equal(m.histogram.aggregationTemporality, 2, 'AGGREGATION_TEMPORALITY_CUMULATIVE');
  t.equal(m.histogram.dataPoints.length, 2, 'one point per attribute set');
  const ok = m.histogram.dataPoints.find((p) => attrs(p.attributes)['http.response.status_code'] === 200)!;
  t.same(ok.explicitBounds, DURATION_BUCKETS_S);
  t.same(ok.bucketCounts.map(Number), EXPECTED_COUNTS);
  t.equal(Number(ok.count), VALUES.length);
  t.ok(Math.abs(ok.sum - VALUES.reduce((a, b) => a + b, 0)) < 1e-9, `sum ${ok.sum}`);
  t.equal(ok.min, 0.001);
  t.equal(ok.max, 12);
  const err = m.histogram.dataPoints.find((p) => attrs(p.attributes)['error.type'] === '500')!;
  t.equal(Number(err.count), 1);
  const cartPoints = byService.get('cart')!.scopeMetrics[0]!.metrics[0]!.histogram.dataPoints;
  t.equal(cartPoints.length, 1, 'attribute order does not split a series');
  t.equal(Number(cartPoints[0]!.count), 2);

  // Cumulative: the next export carries everything since the start, with the same start time.
  exporter.recordHistograms([durationPoint(shop, 0.003)]);
  await exporter.forceFlush(5000);
  await rx.waitFor(4);
  const next = rx.requests.slice(2).map((r) => JSON.parse(r.body.toString('utf8')) as MetricsRequest)
    .find((b) => attrs(b.resourceMetrics[0]!.resource.attributes)['service.name'] === 'shop')!;
  const ok2 = next.resourceMetrics[0]!.scopeMetrics[0]!.metrics[0]!.histogram.dataPoints.find((p) => attrs(p.attributes)['http.response.status_code'] === 200)!;
  t.equal(Number(ok2.count), VALUES.length + 1);
  t.equal(Number(ok2.bucketCounts[0]), 3);
  t.equal(ok2.startTimeUnixNano, ok.startTimeUnixNano, 'start time unchanged');
  t.ok(BigInt(ok2.timeUnixNano) >= BigInt(ok.timeUnixNano));

  await exporter.shutdown(2000);
  const st = exporter.stats();
  t.equal(st['metrics.dropped.rejected'], 0);
  t.ok(st['metrics.exported']! >= 4);
  t.equal(st['histograms.series'], 3);
});

t.test('http/protobuf (the default): decoded body carries the same histogram', async (t) => {
  const rx = await startHttpReceiver();
  t.teardown(() => rx.close());
  const exporter = new TelemetryExporter(config((c) => (c.otlp.metrics.endpoint = `${rx.url}/custom/path`)), memoryLogger().log, null, { metricIntervalMs: 3_600_000 });
  exporter.recordHistograms(VALUES.map((v) => durationPoint(resourceOf('shop', 1), v)));
  await exporter.shutdown(5000); // shutdown collects and exports once more
  t.equal(rx.requests.length, 1);
  const r = rx.requests[0]!;
  t.equal(r.path, '/custom/path', 'a per-signal endpoint is used as it is');
  t.equal(r.headers['content-type'], 'application/x-protobuf');
  const body = decodeMetricsRequest(r.body) as unknown as MetricsRequest;
  const p = body.resourceMetrics[0]!.scopeMetrics[0]!.metrics[0]!.histogram.dataPoints[0]!;
  t.same(p.bucketCounts.map(Number), EXPECTED_COUNTS);
  t.same(p.explicitBounds, DURATION_BUCKETS_S);
  t.equal(Number(p.count), VALUES.length);
  t.equal(exporter.stats()['metrics.exported'], 1);
});

t.test('exported every intervalMs without being asked', async (t) => {
  const rx = await startHttpReceiver();
  t.teardown(() => rx.close());
  const exporter = new TelemetryExporter(config((c) => (c.otlp.endpoint = rx.url)), memoryLogger().log, null, { metricIntervalMs: 50 });
  exporter.recordHistograms([durationPoint(resourceOf('shop', 1), 0.1)]);
  await rx.waitFor(2, 5000);
  await exporter.shutdown(2000);
  t.ok(rx.requests.length >= 2, `${rx.requests.length} periodic exports`);
});

t.test('HTTP 400 is not retried, 503 is', async (t) => {
  const statuses = [400, 503, 200];
  const rx = await startHttpReceiver(() => statuses.shift() ?? 200);
  t.teardown(() => rx.close());
  const exporter = new TelemetryExporter(config((c) => (c.otlp.endpoint = rx.url)), memoryLogger().log, null, {
    metricIntervalMs: 3_600_000, retry: { initialBackoffMs: 10, maxBackoffMs: 20 },
  });
  exporter.recordHistograms([durationPoint(resourceOf('shop', 1), 0.1)]);
  await exporter.forceFlush(5000); // 400: dropped
  await exporter.forceFlush(15_000); // 503 (the SDK retries it itself first), then 200
  await exporter.shutdown(5000);
  const st = exporter.stats();
  t.equal(st['metrics.dropped.rejected'], 1);
  t.ok(st['metrics.exported']! >= 1);
});
