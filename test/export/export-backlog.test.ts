// The span export backlog the span shedder reads (TelemetryExporter.spanExportBacklog), against a real
// OTLP/gRPC receiver: a backend that answers, however slowly, gives the room it has left, and what it
// cannot take is shed before it is built; one that fails is an outage, which its queue answers
// (dead-backend.test.ts), and the backlog it leaves is the outage's until drained; a file beside a slow backend takes every span, so nothing is shed for the
// backend alone.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import t, { type Test } from 'tap';
import { TelemetryExporter } from '../../src/export/telemetry-exporter.js';
import { config, memoryLogger, resourceOf, span } from './fixtures.js';
import { type GrpcReceiver, startGrpcTraceReceiver, waitUntil } from './otlp-receivers.js';

const QUEUE = { capacity: 50, maxBatch: 10, delayMs: 0, maxInFlight: 1 };
const dir = mkdtempSync(join(tmpdir(), 'lantern-backlog-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** 200 spans, ten at a time, at an exporter whose backend holds its answers; `paced`: each ten once the file took the last. */
async function pushSpans(exporter: TelemetryExporter, paced = false): Promise<void> {
  const r = resourceOf('busy', 7);
  for (let i = 0; i < 200; i += 10) {
    exporter.exportSpans(Array.from({ length: 10 }, (_, k) => span(r, i + k)));
    if (paced) await waitUntil(() => exporter.stats()['file.traces.exported'] === i + 10, 10_000);
  }
}

/** An exporter to a receiver that holds its answers (`withFile`: and to a file), and its backend's queue once full. */
async function slowBackend(t: Test, withFile: boolean): Promise<{ rx: GrpcReceiver; exporter: TelemetryExporter }> {
  const rx = await startGrpcTraceReceiver();
  t.teardown(() => rx.close());
  rx.hold();
  const exporter = new TelemetryExporter(config((c) => {
    c.otlp.endpoint = rx.url;
    if (withFile) c.otlp.file = join(dir, 'beside.jsonl');
  }), memoryLogger().log, null, { spanQueue: QUEUE, metricIntervalMs: 3_600_000, baseResourceAttributes: {} });
  t.same(exporter.spanExportBacklog(), { pressure: 0, room: 50 }, 'empty queues: no pressure, all their room');
  await pushSpans(exporter, withFile);
  await rx.waitFor(1);
  const stats = exporter.stats();
  t.equal(stats['traces.queued'], 60, "the backend's queue is full: 50 waiting, and the batch of 10 it holds");
  t.equal(stats['traces.dropped.queue_full'], 140, 'what did not fit was dropped and counted');
  t.equal(stats['traces.failed_attempts'], 0, 'nothing failed: the backend is slow, not down');
  return { rx, exporter };
}

t.test('a backend that answers slowly: its full queue has no room; answered, it has', async (t) => {
  const { rx, exporter } = await slowBackend(t, false);
  t.same(exporter.spanExportBacklog(), { pressure: 0, room: 0 }, 'no room: what comes next is shed before it is built, exactly the excess (not in the share: no pressure)');
  rx.release();
  await waitUntil(() => exporter.stats()['traces.exported'] === 60, 10_000);
  t.equal(exporter.stats()['traces.exported'], 60, 'the batch held and the 50 queued reached the backend');
  t.same(exporter.spanExportBacklog(), { pressure: 0, room: 50 }, 'no pressure once it caught up');
  await exporter.shutdown(2000);
});

t.test('a backend back from an outage: its queue, full of what waited through it, is no room to shed for until drained below half', async (t) => {
  let down = true;
  let answered = 0;
  // Down, then back: its first request answered, the next held, so the outage's backlog stays queued.
  const rx: GrpcReceiver = await startGrpcTraceReceiver(() => {
    if (down) return Object.assign(new Error('down'), { code: grpc.status.UNAVAILABLE, details: 'down', metadata: new grpc.Metadata() });
    if (++answered === 2) rx.hold();
    return null;
  });
  t.teardown(() => rx.close());
  const exporter = new TelemetryExporter(config((c) => (c.otlp.endpoint = rx.url)), memoryLogger().log, null, {
    spanQueue: QUEUE, metricIntervalMs: 3_600_000, baseResourceAttributes: {}, retry: { initialBackoffMs: 10, maxBackoffMs: 20, maxAttempts: 1000, maxElapsedMs: 60_000 },
  });
  await pushSpans(exporter);
  await waitUntil(() => exporter.stats()['traces.failed_attempts']! > 0, 10_000);
  t.equal(exporter.stats()['traces.queued'], 60, 'down: the queue full (50 waiting, 10 retried)');
  t.same(exporter.spanExportBacklog(), { pressure: 0, room: Infinity }, 'down: an outage, no room to shed for');
  down = false;
  await rx.waitFor(2);
  t.equal(exporter.stats()['traces.exported'], 10, 'back: the retried batch answered, the next held');
  t.equal(exporter.stats()['traces.queued'], 50, '40 still waiting, 10 in flight');
  t.same(exporter.spanExportBacklog(), { pressure: 0, room: Infinity }, 'answering again, but the queue is 80 % full of the outage\'s backlog: still no room to shed for');
  rx.release();
  await waitUntil(() => exporter.stats()['traces.exported'] === 60, 10_000);
  t.same(exporter.spanExportBacklog(), { pressure: 0, room: 50 }, 'drained: its room again');
  await exporter.shutdown(2000);
});

t.test('a slow backend beside the file: the file takes every span, so there is no pressure to shed', async (t) => {
  const { rx, exporter } = await slowBackend(t, true);
  t.equal(exporter.stats()['file.traces.exported'], 200, 'the file took every span');
  t.same(exporter.spanExportBacklog(), { pressure: 0, room: 50 }, "the file's empty queue: no pressure, its room");
  rx.release();
  await exporter.shutdown(2000);
});
