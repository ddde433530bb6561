// Spans of several processes through the real OTLPTraceExporter to a real gRPC receiver: one
// ResourceSpans per process, ids and times exactly as built, headers as gRPC metadata.
import * as grpc from '@grpc/grpc-js';
import t from 'tap';
import { TelemetryExporter } from '../../src/export/telemetry-exporter.js';
import { T0, config, memoryLogger, resourceOf, span } from './fixtures.js';
import { attrs, decodeTraceRequest, startGrpcTraceReceiver } from './otlp-receivers.js';

interface DecodedSpan {
  traceId: string; spanId: string; parentSpanId?: string; traceState?: string; name: string; kind: number;
  startTimeUnixNano: string; endTimeUnixNano: string; attributes: unknown; status?: { code?: number; message?: string }; flags: number;
}
interface DecodedRequest {
  resourceSpans: Array<{ resource: { attributes: unknown }; scopeSpans: Array<{ scope: { name: string }; spans: DecodedSpan[] }> }>;
}

t.test('three processes → three ResourceSpans, exact ids and times', async (t) => {
  const rx = await startGrpcTraceReceiver();
  t.teardown(() => rx.close());
  const { log } = memoryLogger();
  const exporter = new TelemetryExporter(config((c) => {
    c.otlp.endpoint = rx.url;
    c.otlp.traces.headers = { 'x-tenant': 'team-a', Authorization: 'Bearer abc' };
    c.resourceAttributes = { 'deployment.environment': 'test' };
  }), log, null, { spanQueue: { capacity: 1000, maxBatch: 100, delayMs: 20 }, baseResourceAttributes: { 'host.name': 'node-1', 'deployment.environment': 'test' } });

  const shop = resourceOf('shop', 101);
  const cart = resourceOf('cart', 202);
  const db = resourceOf('db', 303);
  const spans = [
    span(shop, 0, { parentSpanId: '1111111111111111', traceState: 'rojo=1,congo=2' }),
    span(cart, 1, { kind: 'client', parentSpanId: '2222222222222222', status: { code: 'error' }, attributes: { 'error.type': '503', 'http.response.status_code': 503 } }),
    span(db, 2, { status: { code: 'error', message: 'no response before the connection closed or the exchange was evicted' } }),
    span(shop, 3),
    span(cart, 4),
    // Same key, equal attributes in a new object: still the same resource.
    span({ key: shop.key, attributes: { ...shop.attributes } }, 5),
  ];
  exporter.exportSpans(spans);
  await exporter.forceFlush(5000);
  await rx.waitFor(1);
  await exporter.shutdown(2000);

  t.equal(rx.requests.length, 1, 'one batch');
  const req = rx.requests[0]!;
  t.same(req.metadata['x-tenant'], 'team-a', 'configured headers travel as gRPC metadata');
  t.same(req.metadata.authorization, 'Bearer abc');
  const body = decodeTraceRequest(req.body) as unknown as DecodedRequest;
  t.equal(body.resourceSpans.length, 3, 'one ResourceSpans per process');
  const byService = new Map(body.resourceSpans.map((rs) => [attrs(rs.resource.attributes)['service.name'] as string, rs]));
  t.same([...byService.keys()].sort(), ['cart', 'db', 'shop']);
  t.same(attrs(byService.get('shop')!.resource.attributes), {
    'host.name': 'node-1', 'deployment.environment': 'test', 'service.name': 'shop', 'process.pid': '101',
  }, 'base attributes under the process\'s own');
  const shopSpans = byService.get('shop')!.scopeSpans;
  t.equal(shopSpans.length, 1, 'one scope');
  t.equal(shopSpans[0]!.scope.name, 'lantern');
  t.same(shopSpans[0]!.spans.map((s) => s.name), ['GET 0', 'GET 3', 'GET 5']);

  const all = body.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans));
  t.equal(all.length, spans.length);
  for (const want of spans) {
    const got = all.find((s) => s.spanId === want.spanId);
    t.ok(got, `span ${want.spanId} arrived`);
    if (!got) continue;
    t.equal(got.traceId, want.traceId);
    t.equal(got.startTimeUnixNano, want.startTimeUnixNano.toString(), 'start time to the nanosecond');
    t.equal(got.endTimeUnixNano, want.endTimeUnixNano.toString(), 'end time to the nanosecond');
    t.equal(got.parentSpanId ?? undefined, want.parentSpanId);
  }
  const s0 = all.find((s) => s.name === 'GET 0')!;
  t.equal(s0.kind, 2, 'SPAN_KIND_SERVER');
  t.equal(s0.traceState, 'rojo=1,congo=2');
  t.equal(s0.flags, 0x301, 'sampled, parent known to be remote');
  t.same(attrs(s0.attributes), { 'http.request.method': 'GET', 'http.response.status_code': '200', 'url.path': '/p/0' });
  const s1 = all.find((s) => s.name === 'GET 1')!;
  t.equal(s1.kind, 3, 'SPAN_KIND_CLIENT');
  t.equal(s1.flags, 0x101, 'a client span\'s parent is local');
  t.equal(s1.status?.code, 2, 'STATUS_CODE_ERROR');
  t.equal(all.find((s) => s.name === 'GET 2')!.status?.message, 'no response before the connection closed or the exchange was evicted');
  t.equal(all.find((s) => s.name === 'GET 3')!.flags, 0x101, 'a root span: sampled, not remote');

  const st = exporter.stats();
  t.equal(st['traces.exported'], spans.length);
  t.equal(st['traces.dropped.queue_full'], 0);
  t.equal(st['resources.cached'], 3);
});

t.test('a non-retryable gRPC answer drops the batch at once; a retryable one is retried', async (t) => {
  let calls = 0;
  const answers = [grpc.status.UNAVAILABLE, null, grpc.status.INVALID_ARGUMENT];
  const rx = await startGrpcTraceReceiver(() => {
    const code = answers[calls++] ?? null;
    return code === null ? null : Object.assign(new Error('refused'), { code, details: 'refused', metadata: new grpc.Metadata() });
  });
  t.teardown(() => rx.close());
  const { log, lines } = memoryLogger();
  const exporter = new TelemetryExporter(config((c) => (c.otlp.traces.endpoint = rx.url)), log, null, {
    spanQueue: { capacity: 100, maxBatch: 1, delayMs: 0 },
    retry: { initialBackoffMs: 10, maxBackoffMs: 20, maxAttempts: 3 },
  });
  const r = resourceOf('svc', 1);
  exporter.exportSpans([span(r, 0)]);
  await exporter.forceFlush(5000);
  exporter.exportSpans([span(r, 1)]);
  await exporter.forceFlush(5000);
  await exporter.shutdown(2000);
  const st = exporter.stats();
  t.equal(rx.requests.length, 1, 'the first span arrived on its second attempt');
  t.equal(st['traces.exported'], 1);
  t.equal(st['traces.retries'], 1);
  t.equal(st['traces.dropped.rejected'], 1, 'INVALID_ARGUMENT is not retried');
  t.equal(st['traces.attempts'], 3);
  t.ok(lines.some((l) => l.includes('export failed')), 'the failure is logged');
});

t.test('timestamps survive the trip exactly at nanosecond precision', async (t) => {
  const rx = await startGrpcTraceReceiver();
  t.teardown(() => rx.close());
  const exporter = new TelemetryExporter(config((c) => (c.otlp.endpoint = rx.url)), memoryLogger().log, null, { spanQueue: { capacity: 10, maxBatch: 10, delayMs: 0 } });
  const odd = span(resourceOf('x', 9), 0, { startTimeUnixNano: T0 + 1n, endTimeUnixNano: 1_999_999_999_999_999_999n });
  exporter.exportSpans([odd]);
  await exporter.shutdown(5000);
  const got = (decodeTraceRequest(rx.requests[0]!.body) as unknown as DecodedRequest).resourceSpans[0]!.scopeSpans[0]!.spans[0]!;
  t.equal(got.startTimeUnixNano, (T0 + 1n).toString());
  t.equal(got.endTimeUnixNano, '1999999999999999999');
});

t.test('a batch of many processes in turn, past the few it is regrouped for: each process\'s spans in their order', async (t) => {
  const rx = await startGrpcTraceReceiver();
  t.teardown(() => rx.close());
  const { log } = memoryLogger();
  const exporter = new TelemetryExporter(config((c) => {
    c.otlp.endpoint = rx.url;
  }), log, null, { spanQueue: { capacity: 1000, maxBatch: 1000, delayMs: 20 }, baseResourceAttributes: { 'host.name': 'node-1' } });
  for (const processes of [3, 20]) {
    const resources = Array.from({ length: processes }, (_, p) => resourceOf(`svc${p}`, 1000 + p));
    const spans = Array.from({ length: processes * 10 }, (_, i) => span(resources[i % processes]!, i));
    exporter.exportSpans(spans);
    await exporter.forceFlush(5000);
    await rx.waitFor(processes === 3 ? 1 : 2);
    const body = decodeTraceRequest(rx.requests.at(-1)!.body) as unknown as DecodedRequest;
    t.equal(body.resourceSpans.length, processes, `${processes} processes: one ResourceSpans each`);
    const names = body.resourceSpans.map((rs) => `${attrs(rs.resource.attributes)['service.name']}: ${rs.scopeSpans[0]!.spans.map((s) => s.name).join(' ')}`);
    t.same(names, resources.map((_, p) => `svc${p}: ${Array.from({ length: 10 }, (_, k) => `GET ${k * processes + p}`).join(' ')}`), 'in first-seen order, each in its own');
  }
  await exporter.shutdown(2000);
});
