// The export building blocks on their own: endpoints, resource cache, hrtime, aggregation.
import t from 'tap';
import { defaultConfig } from '../../src/config/schema.js';
import { DEFAULT_BUCKETS, DURATION_BUCKETS_S, HistogramAggregator, OVERFLOW_ATTRIBUTE, attributesKey } from '../../src/export/histogram-aggregator.js';
import { nsToHrTime, toResourceMetrics } from '../../src/export/metric-data.js';
import { resolveLogExport, resolveMetricExport, resolveTraceExport } from '../../src/export/otlp-endpoints.js';
import { canonicalInt64 } from '../../src/export/otlp-json-lines.js';
import { ResourceCache } from '../../src/export/resource-cache.js';
import { T0, durationPoint, resourceOf } from './fixtures.js';

t.test('endpoints: per-signal wins, /v1/metrics appended to the base for HTTP only', async (t) => {
  const o = defaultConfig().otlp;
  t.equal(resolveTraceExport(o), null, 'nothing configured');
  t.equal(resolveMetricExport(o), null);
  o.endpoint = 'http://collector:4318';
  o.timeoutMs = 1234;
  o.traces.headers = { a: '1' };
  t.match(resolveTraceExport(o), { url: 'http://collector:4318', protocol: 'grpc', headers: { a: '1' }, timeoutMs: 1234, warnings: [] });
  t.match(resolveMetricExport(o), { url: 'http://collector:4318/v1/metrics', protocol: 'http/protobuf', warnings: [] });
  o.endpoint = 'http://collector:4318/prefix/';
  t.equal(resolveMetricExport(o)?.url, 'http://collector:4318/prefix/v1/metrics');
  o.traces.endpoint = 'http://traces:4317';
  o.metrics.endpoint = 'http://metrics:9999/exact';
  t.equal(resolveTraceExport(o)?.url, 'http://traces:4317');
  t.equal(resolveMetricExport(o)?.url, 'http://metrics:9999/exact');
  o.metrics.protocol = 'http/json';
  t.equal(resolveMetricExport(o)?.protocol, 'http/json');
});

t.test('endpoints: unsupported protocols fall back with a warning', async (t) => {
  const o = defaultConfig().otlp;
  o.endpoint = 'http://collector:4317';
  o.traces.protocol = 'http/protobuf';
  o.metrics.protocol = 'grpc';
  const tr = resolveTraceExport(o)!;
  t.equal(tr.protocol, 'grpc');
  t.match(tr.warnings[0], /traces over http\/protobuf are not supported/);
  const m = resolveMetricExport(o)!;
  t.equal(m.protocol, 'http/protobuf');
  t.match(m.warnings.join('\n'), /metrics over grpc are not supported/);
  t.match(m.warnings.join('\n'), /4317 is the OTLP\/gRPC port/);
});

t.test('endpoints: logs over any protocol; /v1/logs appended to the base for HTTP only', async (t) => {
  const o = defaultConfig().otlp;
  t.equal(resolveLogExport(o), null, 'nothing configured');
  o.endpoint = 'http://collector:4317';
  o.timeoutMs = 1234;
  o.logs.headers = { 'x-tenant': 't1' };
  t.same(resolveLogExport(o), { url: 'http://collector:4317', protocol: 'grpc', headers: { 'x-tenant': 't1' }, timeoutMs: 1234, warnings: [] }, 'gRPC: the base as it is');
  o.endpoint = 'http://collector:4318';
  o.logs.protocol = 'http/protobuf';
  t.match(resolveLogExport(o), { url: 'http://collector:4318/v1/logs', protocol: 'http/protobuf', warnings: [] });
  o.endpoint = 'http://collector:4318/prefix/';
  o.logs.protocol = 'http/json';
  t.match(resolveLogExport(o), { url: 'http://collector:4318/prefix/v1/logs', protocol: 'http/json' });
  o.logs.endpoint = 'http://logs:9999/exact';
  t.equal(resolveLogExport(o)?.url, 'http://logs:9999/exact', 'the per-signal endpoint as it is');
  o.logs.endpoint = 'http://logs:4317';
  t.match(resolveLogExport(o)?.warnings.join('\n'), /4317 is the OTLP\/gRPC port/, 'HTTP to the gRPC port: a warning');
  o.logs.protocol = 'grpc';
  o.logs.endpoint = 'http://logs:4318';
  t.match(resolveLogExport(o)?.warnings.join('\n'), /4318 is the OTLP\/HTTP port/, 'gRPC to the HTTP port: a warning');
});

t.test('resource cache: one object per key, LRU-bounded, rebuilt when attributes change', async (t) => {
  const c = new ResourceCache(2, { 'host.name': 'h' });
  const a = resourceOf('a', 1);
  const ra = c.get(a);
  t.equal(c.get({ key: a.key, attributes: { ...a.attributes } }), ra, 'equal attributes: the same object');
  t.same(ra.attributes, { 'host.name': 'h', 'service.name': 'a', 'process.pid': 1 });
  const changed = c.get({ key: a.key, attributes: { ...a.attributes, 'k8s.pod.name': 'p' } });
  t.not(changed, ra, 'changed attributes: a new resource');
  c.get(resourceOf('b', 2));
  c.get(a); // a is now the most recent
  c.get(resourceOf('c', 3)); // evicts b
  t.match(c.stats(), { size: 2, evicted: 1 });
  t.equal(c.get({ key: 'anon', attributes: {} }).attributes['service.name'], 'unknown_service');
  t.equal(c.entry(a).sdk, c.get(a), 'the entry holds the SDK resource it made');
});

t.test('exact hrtime of epoch nanoseconds', async (t) => {
  t.same(nsToHrTime(1_700_000_000_123_456_789n), [1_700_000_000, 123_456_789]);
  t.same(nsToHrTime(0n), [0, 0]);
  t.ok(T0 > 0n);
});

t.test('aggregator: inclusive upper bounds, sums, min/max, unit picks the buckets', async (t) => {
  const agg = new HistogramAggregator({ now: () => T0 + 10n });
  const r = resourceOf('a', 1);
  agg.record(DURATION_BUCKETS_S.map((v) => durationPoint(r, v)));
  agg.record([durationPoint(r, 10.0001), durationPoint(r, Number.NaN)]);
  agg.record([{ ...durationPoint(r, 7), name: 'x.size', unit: 'By' }]);
  const [g] = agg.collect();
  const d = g!.series.find((s) => s.name === 'http.server.request.duration')!;
  t.same(d.counts, [...DURATION_BUCKETS_S.map(() => 1), 1], 'each boundary value in its own bucket, one overflow');
  t.equal(d.count, DURATION_BUCKETS_S.length + 1);
  t.equal(d.min, 0.005);
  t.equal(d.max, 10.0001);
  t.equal(agg.stats().pointsDropped, 1, 'NaN dropped');
  const size = g!.series.find((s) => s.name === 'x.size')!;
  t.same(size.boundaries, DEFAULT_BUCKETS);
  t.equal(size.counts[2], 1, '7 in (5, 10]');
  const rm = toResourceMetrics(g!, new ResourceCache(4));
  t.equal(rm.scopeMetrics[0]!.metrics.length, 2, 'one metric per instrument');
});

t.test('aggregator: series bounded, overflow series, then drops', async (t) => {
  const agg = new HistogramAggregator({ maxSeries: 3, overflowReserve: 1 });
  const a = resourceOf('a', 1);
  const b = resourceOf('b', 2);
  for (let i = 0; i < 5; i++) agg.record([durationPoint(a, 0.1, { 'url.path': `/p${i}` })]);
  t.match(agg.stats(), { series: 4, pointsOverflowed: 2, pointsDropped: 0 });
  const [g] = agg.collect();
  const overflow = g!.series.find((s) => s.attributes[OVERFLOW_ATTRIBUTE] === true)!;
  t.same(overflow.attributes, { [OVERFLOW_ATTRIBUTE]: true });
  t.equal(overflow.count, 2);
  agg.record([durationPoint(b, 0.1)]);
  t.match(agg.stats(), { series: 4, pointsDropped: 1 }, 'no room even for an overflow series of another resource');
});

t.test('aggregator: stale series are forgotten', async (t) => {
  let now = T0;
  const agg = new HistogramAggregator({ staleAfterMs: 1000, now: () => now });
  agg.record([durationPoint(resourceOf('a', 1), 0.1)]);
  t.equal(agg.collect().length, 1);
  now += 2_000_000_000n;
  t.equal(agg.collect().length, 0);
  t.match(agg.stats(), { series: 0, seriesExpired: 1 });
});

t.test('aggregator: a series updated between collections stays, as old as it was made', async (t) => {
  let now = T0;
  const agg = new HistogramAggregator({ staleAfterMs: 1000, now: () => now });
  const a = resourceOf('a', 1);
  agg.record([durationPoint(a, 0.1)]);
  t.equal(agg.collect().length, 1);
  now += 900_000_000n;
  agg.record([durationPoint(a, 0.2)]);
  now += 900_000_000n;
  t.equal(agg.collect()[0]?.series[0]?.count, 2, 'a point 0.9 s ago: not stale, though its first was 1.8 s ago');
  now += 900_000_000n;
  t.equal(agg.collect().length, 1, 'seen updated at the last collection, 0.9 s ago');
  now += 200_000_000n;
  t.equal(agg.collect().length, 0, 'no point since: stale once that collection is 1 s old');
  t.match(agg.stats(), { series: 0, seriesExpired: 1 });
});

t.test('aggregator: a frozen attribute set shared by points goes to its own series under each resource and instrument, expired or not', async (t) => {
  let now = T0;
  const agg = new HistogramAggregator({ staleAfterMs: 1000, now: () => now });
  const a = resourceOf('a', 1);
  const b = resourceOf('b', 2);
  const shared = Object.freeze({ 'http.request.method': 'GET', 'http.response.status_code': 200 });
  const record = (r: typeof a, v: number, name = 'http.server.request.duration'): void => agg.record([{ ...durationPoint(r, v), attributes: shared, name }]);
  record(a, 0.1);
  record(a, 0.2); // its leaf found by object
  record(b, 0.3); // the same object, another resource
  record(a, 0.4, 'http.client.request.duration'); // and another instrument
  agg.record([durationPoint(a, 0.5, { 'http.request.method': 'GET', 'http.response.status_code': 200 })]); // equal, not the same object
  const counts = (): string[] => agg.collect().flatMap((g) => g.series.map((x) => `${g.resource.key} ${x.name} ${x.count}`)).sort();
  t.same(counts(), [`${a.key} http.client.request.duration 1`, `${a.key} http.server.request.duration 3`, `${b.key} http.server.request.duration 1`]);
  now += 2_000_000_000n;
  t.same(counts(), [], 'all expired: the tree is rebuilt');
  record(a, 0.6);
  t.same(counts(), [`${a.key} http.server.request.duration 1`], 'a new series after expiry, not the forgotten one');
});

t.test('attribute keys ignore order; int64 fields become strings', async (t) => {
  t.equal(attributesKey({ a: 1, b: 'x' }), attributesKey({ b: 'x', a: 1 }));
  t.not(attributesKey({ a: 1 }), attributesKey({ a: '1' }));
  t.not(attributesKey({ a: true }), attributesKey({ a: 'true' }));
  t.not(attributesKey({ a: ['x', 'y'] }), attributesKey({ a: 'x,y' }));
  // Separator characters inside keys or values cannot forge another set.
  t.not(attributesKey({ a: 'sx\u0002b\u0001sy' }), attributesKey({ a: 'x', b: 'y' }));
  t.not(attributesKey({ 'a\u0001sx\u0002b': 'y' }), attributesKey({ a: 'x', b: 'y' }));
  t.not(attributesKey({ a: ['x\u0003y'] }), attributesKey({ a: ['x', 'y'] }));
  t.equal(attributesKey({ z: 1, a: 2, m: 3 }), attributesKey({ a: 2, m: 3, z: 1 }));
  t.same(canonicalInt64({ v: { intValue: 5 }, p: [{ count: 2, bucketCounts: [1, 1], sum: 0.5, flags: 1 }] }),
    { v: { intValue: '5' }, p: [{ count: '2', bucketCounts: ['1', '1'], sum: 0.5, flags: 1 }] });
});
