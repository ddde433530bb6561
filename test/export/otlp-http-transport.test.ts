// OTLP/HTTP for pre-encoded bodies: what is sent (method, path, content type, configured headers,
// the exact bytes) and how each answer becomes a SendResult, as the OTLP specification lists
// retryable failures (https://opentelemetry.io/docs/specs/otlp/#failures-1).
import { type Socket, createServer } from 'node:net';
import t from 'tap';
import type { OtlpProtocol } from '../../src/config/schema.js';
import type { ResolvedExport } from '../../src/export/otlp-endpoints.js';
import { HttpExportTransport, parseRetryAfter } from '../../src/export/otlp-http-transport.js';
import { TelemetryExporter } from '../../src/export/telemetry-exporter.js';
import { config, logRecord, memoryLogger, resourceOf } from './fixtures.js';
import { type HttpAnswer, attrs, decodeLogsRequest, startHttpReceiver } from './otlp-receivers.js';
import { freePort } from '../helpers/procs.js';

function resolved(url: string, protocol: OtlpProtocol = 'http/protobuf', headers: Record<string, string> = {}, timeoutMs = 2000): ResolvedExport {
  return { url, protocol, headers, timeoutMs, warnings: [] };
}

async function answered(answer: HttpAnswer): Promise<Awaited<ReturnType<HttpExportTransport['send']>>> {
  const rx = await startHttpReceiver(() => answer);
  const transport = new HttpExportTransport(resolved(`${rx.url}/v1/logs`));
  try {
    return await transport.send(Uint8Array.of(1, 2, 3));
  } finally {
    await transport.shutdown();
    await rx.close();
  }
}

t.test('a POST of the exact bytes, with the content type of the protocol and the configured headers', async (t) => {
  const rx = await startHttpReceiver();
  t.teardown(() => rx.close());
  for (const [protocol, type] of [['http/protobuf', 'application/x-protobuf'], ['http/json', 'application/json']] as const) {
    const transport = new HttpExportTransport(resolved(`${rx.url}/prefix/v1/logs`, protocol, { 'X-Tenant': 'team-a', 'Content-Type': 'text/plain' }));
    const body = protocol === 'http/json' ? Buffer.from('{"resourceLogs":[]}\n') : Uint8Array.of(0x0a, 0x00, 0xff);
    t.same(await transport.send(body), { ok: true }, protocol);
    await transport.shutdown();
    const req = rx.requests.at(-1)!;
    t.equal(req.method, 'POST');
    t.equal(req.path, '/prefix/v1/logs');
    t.equal(req.headers['content-type'], type, 'the protocol decides the content type, not a configured header');
    t.equal(req.headers['x-tenant'], 'team-a');
    t.same([...req.body], [...body], 'the body as given');
  }
});

t.test('answers: 2xx ok; 429/502/503/504 retryable with Retry-After; other statuses final', async (t) => {
  t.same(await answered(200), { ok: true });
  t.same(await answered(204), { ok: true });
  for (const status of [429, 502, 503, 504]) t.match(await answered(status), { ok: false, retryable: true }, `HTTP ${status}`);
  for (const status of [400, 401, 403, 404, 413, 500]) t.match(await answered(status), { ok: false, retryable: false }, `HTTP ${status}`);
  t.match(await answered({ status: 503, headers: { 'retry-after': '7' } }), { ok: false, retryable: true, retryAfterMs: 7000 });
  const r = await answered({ status: 400, body: 'field attributes: invalid wire type' });
  t.match(r, { ok: false, retryable: false });
  t.match(!r.ok && r.error.message, /HTTP 400: field attributes: invalid wire type/, 'the receiver\'s reason in the error');
  t.notOk(!r.ok && 'retryAfterMs' in r, 'no delay for a final answer');
});

t.test('Retry-After: seconds or an HTTP date', async (t) => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  t.equal(parseRetryAfter('120', now), 120_000);
  t.equal(parseRetryAfter(' 3 ', now), 3000);
  t.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now), 30_000);
  t.equal(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now), 0, 'a date in the past: now');
  t.equal(parseRetryAfter('soon', now), undefined);
  t.equal(parseRetryAfter(undefined, now), undefined);
});

t.test('nothing listening: retryable, no throw', async (t) => {
  const transport = new HttpExportTransport(resolved(`http://127.0.0.1:${await freePort()}/v1/logs`));
  const r = await transport.send(Uint8Array.of(1));
  t.match(r, { ok: false, retryable: true });
  t.match(!r.ok && r.error, { code: 'ECONNREFUSED' });
  await transport.shutdown();
});

t.test('no answer within the timeout: retryable, on time', async (t) => {
  // Accepts connections and never answers.
  const sockets: Socket[] = [];
  const silent = createServer((s) => sockets.push(s.on('error', () => undefined)));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const port = (silent.address() as { port: number }).port;
  const transport = new HttpExportTransport(resolved(`http://127.0.0.1:${port}/v1/logs`, 'http/protobuf', {}, 300));
  const started = Date.now();
  const r = await transport.send(Uint8Array.of(1));
  const took = Date.now() - started;
  t.match(r, { ok: false, retryable: true });
  t.match(!r.ok && r.error.message, /no answer within 300 ms/);
  t.ok(took >= 290 && took < 2000, `gave up after the timeout (${took} ms)`);
  await transport.shutdown();
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => silent.close(() => r()));
});

t.test('exporter: logs over OTLP/HTTP protobuf with the configured headers, a 503 retried', async (t) => {
  const answers: HttpAnswer[] = [{ status: 503, headers: { 'retry-after': '0' } }];
  const rx = await startHttpReceiver(() => answers.shift() ?? 200);
  t.teardown(() => rx.close());
  const exporter = new TelemetryExporter(config((c) => {
    c.otlp.logs.endpoint = `${rx.url}/v1/logs`;
    c.otlp.logs.protocol = 'http/protobuf';
    c.otlp.logs.headers = { authorization: 'Bearer logs' };
  }), memoryLogger().log, null, { spanQueue: { capacity: 100, maxBatch: 10, delayMs: 10 }, baseResourceAttributes: {} });
  exporter.exportLogs([logRecord(resourceOf('shop', 1), 0), logRecord(resourceOf('cart', 2), 1)]);
  await exporter.forceFlush(5000);
  await exporter.shutdown(1000);
  t.equal(rx.requests.length, 2, 'refused once, then accepted');
  const req = rx.requests[1]!;
  t.equal(req.headers.authorization, 'Bearer logs');
  t.equal(req.headers['content-type'], 'application/x-protobuf');
  const body = decodeLogsRequest(req.body) as { resourceLogs: Array<{ resource: { attributes: unknown }; scopeLogs: Array<{ logRecords: Array<{ eventName: string }> }> }> };
  t.same(body.resourceLogs.map((rl) => attrs(rl.resource.attributes)['service.name']), ['shop', 'cart']);
  t.equal(body.resourceLogs[0]!.scopeLogs[0]!.logRecords[0]!.eventName, 'process.exec');
  t.match(exporter.stats(), { 'logs.exported': 2, 'logs.retries': 1, 'logs.dropped.retries_exhausted': 0 });
});
