// The end-to-end harness itself: a real Jaeger receives spans from the real OTLP/gRPC trace
// exporter, and the query API shows them with their services, attributes and parent links.
// Needs the Jaeger binary from `bash scripts/build-test-tools.sh`; without it this fails (never skips).
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import t from 'tap';
import { type Jaeger, type JaegerSpan, startJaeger } from '../helpers/jaeger.js';

const run = Math.random().toString(36).slice(2, 8);
const frontend = `lantern-e2e-frontend-${run}`;
const backend = `lantern-e2e-backend-${run}`;

/** Spans from two services (two resources), the backend's a child of the frontend's, in one trace. */
async function makeSpans(): Promise<ReadableSpan[]> {
  const memory = new InMemorySpanExporter();
  const provider = (service: string): BasicTracerProvider =>
    new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': service, 'service.version': '1.2.3', 'lantern.test.run': run }),
      spanProcessors: [new SimpleSpanProcessor(memory)],
    });
  const fe = provider(frontend);
  const be = provider(backend);

  const server = fe.getTracer('lantern-e2e').startSpan('GET /checkout', {
    kind: SpanKind.SERVER,
    attributes: { 'http.request.method': 'GET', 'url.path': '/checkout', 'http.response.status_code': 200, 'lantern.retry': false },
  });
  const client = be.getTracer('lantern-e2e').startSpan(
    'SELECT orders',
    { kind: SpanKind.CLIENT, attributes: { 'db.system.name': 'postgresql', 'db.query.text': 'SELECT * FROM orders', 'lantern.rows': 42, 'lantern.ratio': 0.25 } },
    trace.setSpan(context.active(), server),
  );
  client.addEvent('rows fetched', { 'lantern.batch': 3 });
  client.setStatus({ code: SpanStatusCode.ERROR, message: 'deadline exceeded' });
  client.end();
  server.end();
  await Promise.all([fe.forceFlush(), be.forceFlush()]);
  const spans = memory.getFinishedSpans();
  await Promise.all([fe.shutdown(), be.shutdown()]);
  return spans;
}

async function exportOverGrpc(url: string, spans: ReadableSpan[]): Promise<ExportResult> {
  const exporter = new OTLPTraceExporter({ url });
  try {
    return await new Promise<ExportResult>((resolve) => exporter.export(spans, resolve));
  } finally {
    await exporter.shutdown();
  }
}

const only = (spans: JaegerSpan[], name: string): JaegerSpan => {
  const s = spans.find((x) => x.operationName === name);
  if (!s) throw new Error(`no span "${name}" among [${spans.map((x) => x.operationName).join(', ')}]`);
  return s;
};

t.test('startJaeger fails with the build command when the binary is missing', async (t) => {
  const saved = process.env.LANTERN_JAEGER_BIN;
  process.env.LANTERN_JAEGER_BIN = '/nonexistent/jaeger';
  try {
    await t.rejects(startJaeger(), /\/nonexistent\/jaeger is missing.*bash scripts\/build-test-tools\.sh/);
  } finally {
    if (saved === undefined) delete process.env.LANTERN_JAEGER_BIN;
    else process.env.LANTERN_JAEGER_BIN = saved;
  }
});

t.test('spans exported over OTLP/gRPC arrive in Jaeger with services, attributes and parent links', async (t) => {
  const jaeger: Jaeger = await startJaeger();
  t.teardown(() => jaeger.stop());
  t.match(jaeger.otlpGrpcEndpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.match(jaeger.otlpHttpEndpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.same(await jaeger.services(), [], 'a fresh Jaeger has no services');

  const spans = await makeSpans();
  t.equal(spans.length, 2);
  const result = await exportOverGrpc(jaeger.otlpGrpcEndpoint, spans);
  t.equal(result.code, ExportResultCode.SUCCESS, `OTLP/gRPC export succeeded${result.error ? `: ${result.error.message}` : ''}`);
  const sent = { server: spans.find((s) => s.name === 'GET /checkout')!, client: spans.find((s) => s.name === 'SELECT orders')! };

  const [feTrace] = await jaeger.waitForTraces(frontend, (ts) => ts.length === 1 && ts[0]!.spans.length === 2, 10_000);
  t.ok(feTrace, 'the trace is found by the frontend service');
  t.same((await jaeger.services()).filter((s) => s.startsWith('lantern-e2e-')), [backend, frontend].sort(), 'both services are known');

  const server = only(feTrace!.spans, 'GET /checkout');
  const client = only(feTrace!.spans, 'SELECT orders');
  t.equal(feTrace!.traceID.padStart(32, '0'), sent.server.spanContext().traceId, 'trace id');
  t.equal(server.spanID.padStart(16, '0'), sent.server.spanContext().spanId, 'server span id');
  t.equal(client.spanID.padStart(16, '0'), sent.client.spanContext().spanId, 'client span id');

  t.equal(server.process.serviceName, frontend);
  t.equal(client.process.serviceName, backend);
  t.match(server.process.tags, { 'service.version': '1.2.3', 'lantern.test.run': run }, 'resource attributes are process tags');

  t.match(server.tags, { 'http.request.method': 'GET', 'url.path': '/checkout', 'http.response.status_code': 200, 'lantern.retry': false, 'span.kind': 'server' });
  t.match(client.tags, { 'db.system.name': 'postgresql', 'db.query.text': 'SELECT * FROM orders', 'lantern.rows': 42, 'lantern.ratio': 0.25, 'span.kind': 'client' });
  t.equal(client.tags['otel.status_code'], 'ERROR');
  t.equal(client.tags['error'], true);
  t.equal(client.tags['otel.scope.name'], 'lantern-e2e');
  t.same(server.references, [], 'the server span is the root');
  t.same(
    client.references.map((r) => ({ refType: r.refType, spanID: r.spanID.padStart(16, '0') })),
    [{ refType: 'CHILD_OF', spanID: sent.server.spanContext().spanId }],
    'the client span is a child of the server span',
  );
  t.same(client.logs.map((l) => l.fields), [{ event: 'rows fetched', 'lantern.batch': 3 }], 'span events are logs');
  t.ok(server.duration >= client.duration, 'durations in microseconds');
  t.ok(Math.abs(server.startTime / 1000 - Date.now()) < 60_000, 'start time in unix microseconds');

  // The backend service finds the same trace; operation and limit filter.
  const beTraces = await jaeger.traces(backend, { operation: 'SELECT orders', limit: 5 });
  t.equal(beTraces.length, 1);
  t.equal(beTraces[0]?.traceID, feTrace!.traceID);
  t.same(await jaeger.traces(backend, { operation: 'no such operation' }), []);
  t.equal((await jaeger.trace(feTrace!.traceID))?.spans.length, 2, 'lookup by trace id');
  t.equal(await jaeger.trace('00000000000000000000000000abcdef'), undefined, 'an unknown trace id');
});
