// --otlp-file: spans, log records and metrics as OTLP JSON lines, one ExportTraceServiceRequest,
// ExportLogsServiceRequest or ExportMetricsServiceRequest per line, in the protobuf JSON encoding of
// the Collector's file exporter.
import { execFileSync } from 'node:child_process';
import { createReadStream, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import t from 'tap';
import { OtlpFileWriter } from '../../src/export/otlp-file.js';
import { TelemetryExporter } from '../../src/export/telemetry-exporter.js';
import { selfMetrics } from '../../src/export/metric-data.js';
import { logRecords } from '../helpers/cli.js';
import { config, durationPoint, logRecord, memoryLogger, resourceOf, span } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'lantern-export-'));

t.test('one line per batch, exact resource and span attributes', async (t) => {
  const file = join(dir, 'out.jsonl');
  const exporter = new TelemetryExporter(config((c) => (c.otlp.file = file)), memoryLogger().log, null, {
    spanQueue: { capacity: 100, maxBatch: 3, delayMs: 10_000 }, metricIntervalMs: 3_600_000, baseResourceAttributes: { 'host.name': 'node-1' },
  });
  const a = resourceOf('shop', 1);
  const b = resourceOf('cart', 2);
  exporter.exportSpans([
    span(a, 0, { parentSpanId: '1111111111111111', traceState: 'rojo=1', attributes: { 'http.request.method': 'GET', 'server.port': 8080, 'http.request.body.size': 0, ratio: 0.5, ok: true, tags: ['x', 'y'] } }),
    span(b, 1, { kind: 'client', status: { code: 'error' } }),
    span(a, 2),
    span(b, 3),
  ]);
  exporter.recordHistograms([durationPoint(a, 0.02), durationPoint(b, 0.3)]);
  await exporter.shutdown(5000);
  t.equal(exporter.stats()['traces.exported'], undefined, 'no network destination without an endpoint');

  const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
  t.equal(lines.length, 3, 'two span batches (max 3 per batch) and one metrics line');
  const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  const traceLines = parsed.filter((p) => 'resourceSpans' in p) as Array<{ resourceSpans: Array<Record<string, any>> }>;
  const metricLines = parsed.filter((p) => 'resourceMetrics' in p) as Array<{ resourceMetrics: Array<Record<string, any>> }>;
  t.equal(traceLines.length, 2);
  t.equal(metricLines.length, 1);

  const first = traceLines[0]!;
  t.equal(first.resourceSpans.length, 2, 'the first batch holds spans of both processes');
  const shop = first.resourceSpans.find((rs) => rs.resource.attributes.some((kv: any) => kv.value.stringValue === 'shop'))!;
  t.same(shop.resource.attributes, [
    { key: 'host.name', value: { stringValue: 'node-1' } },
    { key: 'service.name', value: { stringValue: 'shop' } },
    { key: 'process.pid', value: { intValue: '1' } },
  ], 'resource attributes exactly, int64 as a decimal string');
  const s0 = shop.scopeSpans[0].spans[0];
  t.equal(shop.scopeSpans[0].scope.name, 'lantern');
  t.match(s0, {
    traceId: span(a, 0).traceId, spanId: span(a, 0).spanId, parentSpanId: '1111111111111111', traceState: 'rojo=1',
    name: 'GET 0', kind: 2, startTimeUnixNano: span(a, 0).startTimeUnixNano.toString(), endTimeUnixNano: span(a, 0).endTimeUnixNano.toString(),
  });
  t.same(s0.attributes, [
    { key: 'http.request.method', value: { stringValue: 'GET' } },
    { key: 'server.port', value: { intValue: '8080' } },
    { key: 'http.request.body.size', value: { intValue: '0' } },
    { key: 'ratio', value: { doubleValue: 0.5 } },
    { key: 'ok', value: { boolValue: true } },
    { key: 'tags', value: { arrayValue: { values: [{ stringValue: 'x' }, { stringValue: 'y' }] } } },
  ]);
  const cartSpan = first.resourceSpans.find((rs) => rs !== shop)!.scopeSpans[0].spans[0];
  t.equal(cartSpan.kind, 3);
  t.equal(cartSpan.status.code, 2);
  t.equal(traceLines[1]!.resourceSpans.length, 1, 'the second batch: the one remaining span');

  const rms = metricLines[0]!.resourceMetrics;
  t.equal(rms.length, 2, 'every process in one metrics line');
  const dp = rms[0]!.scopeMetrics[0].metrics[0].histogram.dataPoints[0];
  t.equal(dp.count, '1', 'fixed64 as a decimal string');
  t.ok(dp.bucketCounts.every((c: unknown) => typeof c === 'string'));
  t.equal(rms[0]!.scopeMetrics[0].metrics[0].histogram.aggregationTemporality, 2);
  t.match(exporter.stats(), { 'file.lines': 3, 'file.write_errors': 0, 'file.traces.exported': 4, 'file.metrics.exported': 2 });
});

t.test('file and network together: each gets the data', async (t) => {
  const file = join(dir, 'both.jsonl');
  // Nothing listens on port 9: the network part fails, the file part is unaffected.
  const exporter = new TelemetryExporter(config((c) => {
    c.otlp.endpoint = 'http://127.0.0.1:9';
    c.otlp.file = file;
  }), memoryLogger().log, null, { spanQueue: { capacity: 10, maxBatch: 10, delayMs: 0 }, retry: { maxAttempts: 1 }, shutdownTimeoutMs: 2000 });
  exporter.exportSpans([span(resourceOf('a', 1), 0)]);
  await exporter.shutdown();
  const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
  t.equal(lines.length, 1);
  const st = exporter.stats();
  t.equal(st['file.traces.exported'], 1);
  t.equal(st['traces.exported'], 0);
  t.equal(st['traces.dropped.retries_exhausted'], 1);
});

t.test('log records: one ResourceLogs per process, typed attributes, counted like spans', async (t) => {
  const file = join(dir, 'logs.jsonl');
  const exporter = new TelemetryExporter(config((c) => (c.otlp.file = file)), memoryLogger().log, null, {
    spanQueue: { capacity: 100, maxBatch: 100, delayMs: 10_000 }, logQueue: { capacity: 3, maxBatch: 2, delayMs: 10_000 }, baseResourceAttributes: { 'host.name': 'node-1' },
  });
  t.same(exporter.describe(), { file });
  const a = resourceOf('shop', 1);
  exporter.exportLogs([logRecord(a, 0), logRecord(resourceOf('cart', 2), 1, { body: 3 }), logRecord(a, 2, { traceId: 'zz' }), logRecord(a, 3), logRecord(a, 4)]);
  await exporter.shutdown(5000);
  const records = logRecords(readFileSync(file, 'utf8'));
  t.same(records.map((r) => r.record.body), [{ stringValue: 'record 0' }, { intValue: '3' }, { stringValue: 'record 3' }], 'the valid records that fitted, in order');
  t.same(records[0]!.resource, { 'host.name': 'node-1', 'service.name': 'shop', 'process.pid': '1' });
  t.same(records[0]!.attrs, { 'process.pid': '4242', i: '0', ratio: 0.5, ok: true, args: { values: [{ stringValue: 'a' }, { stringValue: 'b' }] } });
  t.match(exporter.stats(), {
    'logs.invalid': 1, 'file.logs.accepted': 3, 'file.logs.exported': 3, 'file.logs.dropped.queue_full': 1, 'file.logs.batches': 2,
  }, 'the malformed trace id refused, the record past the capacity dropped');
  t.same(exporter.logTotals(), { exported: 3, dropped: 1 });
  exporter.exportLogs([logRecord(a, 5)]);
  t.equal(exporter.stats()['logs.after_shutdown'], 1);
});

t.test('metric sources: read at every collection, exported with the histograms under shared resources', async (t) => {
  const file = join(dir, 'sources.jsonl');
  const exporter = new TelemetryExporter(config((c) => (c.otlp.file = file)), memoryLogger().log, null, { metricIntervalMs: 3_600_000, baseResourceAttributes: {} });
  const a = resourceOf('shop', 1);
  let reads = 0;
  exporter.addMetricSource(() => {
    reads++;
    return [selfMetrics(exporter.resource(a), { 'bpftrace.map.count': reads }, 2_000_000_000n, 1_000_000_000n)];
  });
  exporter.addMetricSource(() => {
    throw new Error('a broken source');
  });
  t.equal(exporter.resource({ key: a.key, attributes: { ...a.attributes } }), exporter.resource(a), 'one Resource object per process');
  exporter.recordHistograms([durationPoint(a, 0.1)]);
  await exporter.forceFlush(2000);
  await exporter.shutdown(2000);
  t.equal(reads, 2, 'at forceFlush and at the final collection');
  t.equal(exporter.stats().internal_errors, 2, 'the broken source counted, the others exported');
  const lines = readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as { resourceMetrics: Array<{ scopeMetrics: Array<{ metrics: Array<{ name: string }> }> }> });
  t.equal(lines.length, 2);
  const names = lines[0]!.resourceMetrics.flatMap((rm) => rm.scopeMetrics.flatMap((sm) => sm.metrics.map((m) => m.name)));
  t.same(names.sort(), ['http.server.request.duration', 'lantern.agent.stat']);
});

t.test('a shared writer (the agent\'s) is written to and left open', async (t) => {
  const file = join(dir, 'shared.jsonl');
  const writer = new OtlpFileWriter(file);
  const exporter = new TelemetryExporter(config(() => {}), memoryLogger().log, writer, { spanQueue: { capacity: 10, maxBatch: 10, delayMs: 0 } });
  t.same(exporter.describe(), { file });
  exporter.exportSpans([span(resourceOf('a', 1), 0)]);
  await exporter.shutdown(2000);
  writer.writeBatch({ resourceLogs: [] }); // the owner still writes after the exporter stopped
  await writer.close();
  const lines = readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as object);
  t.equal(lines.length, 2);
  t.ok('resourceSpans' in lines[0]!);
  t.same(lines[1], { resourceLogs: [] });
});

t.test('queued spans are held as their bytes: a span handed over is not kept alive by the queue', async (t) => {
  const file = join(dir, 'held.jsonl');
  const exporter = new TelemetryExporter(config((c) => (c.otlp.file = file)), memoryLogger().log, null, {
    spanQueue: { capacity: 100, maxBatch: 100, delayMs: 60_000 }, metricIntervalMs: 3_600_000,
  });
  const a = resourceOf('shop', 1);
  const refs = ((): Array<WeakRef<object>> => {
    const spans = [span(a, 0), span(a, 1)];
    exporter.exportSpans(spans);
    // Changed after the handover: the line has them as they were handed over.
    spans[0]!.name = 'changed';
    return spans.map((s) => new WeakRef(s));
  })();
  t.match(exporter.stats(), { 'file.traces.queued': 2 }, 'both wait in the queue');
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  // A WeakRef keeps its target alive until the end of the job that made or dereferenced it: collect
  // in later jobs, and look only after that.
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setImmediate(r));
    gc();
  }
  t.ok(refs.every((r) => r.deref() === undefined), 'no span object is alive while its batch waits');
  await exporter.shutdown(5000);
  const line = JSON.parse(readFileSync(file, 'utf8').trimEnd()) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<{ name: string }> }> }> };
  t.same(line.resourceSpans[0]!.scopeSpans[0]!.spans.map((s) => s.name), [span(a, 0).name, span(a, 1).name], 'written as handed over');
});

t.test('a file that does not take writes: four lines wait for it, the queue bounds the rest and exporting resumes', async (t) => {
  // A FIFO with no reader yet: opening it for writing waits for one, so nothing reaches "disk".
  const fifo = join(dir, 'slow.fifo');
  execFileSync('mkfifo', [fifo]);
  const exporter = new TelemetryExporter(config((c) => (c.otlp.file = fifo)), memoryLogger().log, null, {
    spanQueue: { capacity: 50, maxBatch: 10, delayMs: 0 }, metricIntervalMs: 3_600_000, baseResourceAttributes: {},
  });
  const resource = resourceOf('slow', 4242);
  for (let i = 0; i < 200; i += 10) exporter.exportSpans(Array.from({ length: 10 }, (_, k) => span(resource, i + k)));
  await new Promise((res) => setTimeout(res, 200));
  const stuck = exporter.stats();
  t.equal(stuck['file.lines'], 4, 'four lines handed to the file (its lines in flight), the next ones wait in the queue');
  t.equal(stuck['file.traces.queued'], 90, 'the queue is full: 50 waiting, and the four lines of 10 on their way');
  t.equal(stuck['file.traces.dropped.queue_full'], 110, 'what did not fit was dropped and counted');
  t.same(exporter.spanExportBacklog(), { pressure: 1, room: 0 }, 'export backlog: the file, the only span destination, is behind, and has no room');
  // A reader: the file takes the lines, the queue drains.
  const chunks: Buffer[] = [];
  const reader = createReadStream(fifo);
  reader.on('data', (d) => chunks.push(d as Buffer));
  const until = Date.now() + 10_000;
  while (exporter.stats()['file.traces.exported']! < 90 && Date.now() < until) await new Promise((res) => setTimeout(res, 20));
  t.equal(exporter.stats()['file.traces.exported'], 90, 'the lines in flight and the 50 queued spans reached the file');
  t.same(exporter.spanExportBacklog(), { pressure: 0, room: 50 }, 'no pressure once drained');
  await exporter.shutdown();
  await new Promise<void>((res) => reader.on('close', () => res()));
  const spans = Buffer.concat(chunks).toString().trim().split('\n').flatMap((l) => JSON.parse(l).resourceSpans?.[0]?.scopeSpans?.[0]?.spans ?? []);
  t.equal(spans.length, 90, 'every span the file took is in it');
});

t.test('a line as chunks of memory of its own and of the writer\'s: written whole, in order, once the file has it', async (t) => {
  const file = join(dir, 'chunks.jsonl');
  const writer = new OtlpFileWriter(file);
  const elsewhere = Buffer.from('xx"a":1,"b":[1,2,3]yy');
  let returned = false;
  const written = writer.writeEncodedChunks((w) => {
    w.reset();
    w.raw('{');
    const open = w.length;
    w.raw('}\n');
    const text = w.written();
    return [text.subarray(0, open), elsewhere.subarray(2, elsewhere.length - 2), text.subarray(open)];
  }).then(() => {
    returned = true;
  });
  await writer.writeEncodedChunks(() => []);
  await written;
  t.ok(returned);
  await writer.writeEncodedChunks((w) => {
    w.reset();
    w.raw('{"c":2}\n');
    return [w.written()];
  });
  await writer.close();
  t.same(readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l)), [{ a: 1, b: [1, 2, 3] }, { c: 2 }], 'two lines, whole; no chunks, no line');
  t.equal(writer.stats().lines, 2, 'no chunks: no line');
});

t.test('lines in flight are each their own writer\'s bytes, and the writers are used again', async (t) => {
  const file = join(dir, 'lines.jsonl');
  const writer = new OtlpFileWriter(file);
  const used: unknown[] = [];
  // Six lines before the file has any: none may overwrite another's bytes.
  const writes = Array.from({ length: 6 }, (_, i) => writer.writeEncodedChunks((w) => {
    used.push(w);
    w.reset();
    w.raw(`{"line":${i},"pad":"${'x'.repeat(1000 * (i + 1))}"}\n`);
    return [w.finish()];
  }));
  await Promise.all(writes);
  t.equal(new Set(used).size, 6, 'a writer per line in flight');
  await writer.writeEncodedChunks((w) => {
    used.push(w);
    w.reset();
    w.raw('{"line":6}\n');
    return [w.finish()];
  });
  t.ok(used.slice(0, 6).includes(used[6]), 'once written, a writer takes a later line');
  t.throws(() => writer.writeEncodedChunks(() => {
    throw new Error('no line');
  }), /no line/, 'an encoder that throws writes nothing');
  await writer.close();
  const lines = readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as { line: number; pad?: string });
  t.same(lines.map((l) => l.line), [0, 1, 2, 3, 4, 5, 6], 'every line whole, in order');
  t.same(lines.slice(0, 6).map((l) => l.pad?.length), [1000, 2000, 3000, 4000, 5000, 6000]);
});
