// The on-disk buffer (export.disk_buffer): bounded in bytes with the oldest requests dropped and
// counted first, replayed oldest first, kept across restarts; and end to end with a real
// OpenTelemetry Collector: backend down, the exporter (the agent's export side) restarted while it
// is down, backend back on the same port → every span arrives, none twice.
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { DiskBuffer } from '../../src/export/disk-buffer.js';
import { TelemetryExporter } from '../../src/export/telemetry-exporter.js';
import type { SendResult, Transport } from '../../src/export/transport.js';
import { loadConfig } from '../../src/config/load.js';
import { startOtelcol } from '../helpers/otelcol.js';
import { freePorts } from '../helpers/tool-process.js';
import { config, memoryLogger, resourceOf, span } from './fixtures.js';

const MiB = 1 << 20;

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-disk-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A transport that is down until `up` is set, recording what it got. */
function switchable(): Transport<Uint8Array> & { up: boolean; got: number[] } {
  const t = {
    up: false,
    got: [] as number[],
    async send(body: Uint8Array): Promise<SendResult> {
      if (!t.up) return { ok: false, retryable: true, error: new Error('down') };
      t.got.push(body[0] as number);
      return { ok: true };
    },
    async shutdown() {},
  };
  return t;
}

const body = (tag: number, bytes: number): Uint8Array => new Uint8Array(bytes).fill(tag);

t.test('bounded in bytes: the oldest requests go first, their records counted', async (t) => {
  const dir = tempDir(t);
  const transport = switchable();
  const disk = new DiskBuffer({ dir, maxBytes: 1 * MiB, transport });
  for (let i = 0; i < 10; i++) t.ok(disk.write(body(i, 200_000), 100), `request ${i} written`);
  const s = disk.stats();
  t.ok(s.bytes <= 1 * MiB, `bytes on disk within the bound (${s.bytes})`);
  t.equal(s.files, 5, '5 requests of 200 kB fit in 1 MiB');
  t.equal(s.spilled, 1000);
  t.equal(s.droppedFull, 500, 'the 5 oldest dropped, 100 records each');
  t.equal(s.pendingRecords, 500);
  t.equal(s.spilled, s.droppedFull + s.pendingRecords + s.replayed, 'every record accounted for');
  const used = readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
  t.equal(used, s.bytes, 'the files hold exactly the bytes counted');
  t.notOk(disk.write(body(99, 2 * MiB), 7), 'a request larger than the bound is refused');
  t.equal(disk.stats().droppedFull, 507, 'and counted');
  // Back up: replayed oldest first. Request 0 was being sent (a first replay attempt, which failed)
  // while the others were written: the file being sent is never evicted, so 1…5 went instead.
  transport.up = true;
  await disk.stop(); // the first replay attempt failed: backing off; files stay for the next run
  const again = new DiskBuffer({ dir, maxBytes: 1 * MiB, transport });
  t.equal(again.stats().recovered, 500, 'a new buffer on the same directory finds them');
  const until = Date.now() + 5000;
  while (again.stats().files > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  t.same(transport.got, [0, 6, 7, 8, 9], 'replayed oldest first');
  t.equal(again.stats().replayed, 500);
  t.same(readdirSync(dir), [], 'nothing left on disk');
  await again.stop();
});

t.test('a smaller bound at restart drops the oldest at once; half-written files are removed', async (t) => {
  const dir = tempDir(t);
  const transport = switchable();
  const disk = new DiskBuffer({ dir, maxBytes: 4 * MiB, transport });
  for (let i = 0; i < 8; i++) disk.write(body(i, 400_000), 10);
  await disk.stop();
  const { writeFileSync } = await import('node:fs');
  writeFileSync(join(dir, '0000000000000099-5.otlp.tmp'), 'partial');
  const smaller = new DiskBuffer({ dir, maxBytes: 1 * MiB, transport });
  t.equal(smaller.stats().files, 2);
  t.equal(smaller.stats().droppedFull, 60, 'the 6 oldest dropped at start, counted');
  t.notOk(existsSync(join(dir, '0000000000000099-5.otlp.tmp')), 'leftover .tmp removed');
  transport.up = true;
  await smaller.stop();
});

t.test('backend down, exporter restarted while down, backend back: nothing lost, nothing twice', async (t) => {
  const dir = tempDir(t);
  const [grpc, http] = (await freePorts(2)) as [number, number];
  const cfg = config((c) => {
    c.otlp.traces.endpoint = `http://127.0.0.1:${grpc}`;
    c.otlp.timeoutMs = 1000;
  });
  const opts = {
    spanQueue: { capacity: 4096, maxBatch: 256, delayMs: 50, maxInFlight: 2 },
    retry: { initialBackoffMs: 50, maxBackoffMs: 100, maxAttempts: 2 },
    diskBuffer: { path: dir, maxBytes: 64 * MiB },
    shutdownTimeoutMs: 3000,
  };
  const r = resourceOf('disk-test', 4242);
  // First run: 1000 spans, the backend is down; they go to disk (retries exhausted, or at shutdown).
  const first = new TelemetryExporter(cfg, memoryLogger().log, null, opts);
  for (let i = 0; i < 1000; i++) first.exportSpans([span(r, i)]);
  await new Promise((res) => setTimeout(res, 1500));
  const mid = first.stats();
  t.ok(mid['traces.disk.spilled']! > 0, `spilled while the backend is down (${mid['traces.disk.spilled']})`);
  t.ok(mid['traces.disk.replay_failures']! >= 1, 'replay tried and failed (backend still down)');
  await first.shutdown();
  const s1 = first.stats();
  t.equal(s1['traces.exported'], 0);
  t.equal(s1['traces.spilled'], 1000, 'every span spilled by the end of the first run');
  t.equal(s1['traces.dropped.queue_full']! + s1['traces.dropped.retries_exhausted']! + s1['traces.dropped.shutdown']!, 0, 'none dropped');
  t.equal(s1['traces.disk.pending_records'], 1000, 'all 1000 on disk');

  // Second run, backend still down: finds them, adds 500 more.
  const second = new TelemetryExporter(cfg, memoryLogger().log, null, opts);
  t.equal(second.stats()['traces.disk.recovered'], 1000, 'the second run finds the first run\'s spans');
  for (let i = 1000; i < 1500; i++) second.exportSpans([span(r, i)]);
  await new Promise((res) => setTimeout(res, 300));
  await second.shutdown();
  t.equal(second.stats()['traces.disk.pending_records'], 1500, 'all 1500 on disk');

  // Third run, backend back on the same port: replayed at start.
  const collector = await startOtelcol({ ports: { grpc, http } });
  t.teardown(() => collector.stop());
  const third = new TelemetryExporter(cfg, memoryLogger().log, null, opts);
  const until = Date.now() + 30_000;
  while (third.stats()['traces.disk.pending_records']! > 0 && Date.now() < until) await new Promise((res) => setTimeout(res, 100));
  const s3 = third.stats();
  t.equal(s3['traces.disk.replayed'], 1500, 'the backend took all 1500 from disk');
  await third.shutdown();
  let got = collector.spans().filter((s) => s.span.name.startsWith('GET '));
  const deadline = Date.now() + 5000;
  while (got.length < 1500 && Date.now() < deadline) {
    await new Promise((res) => setTimeout(res, 100));
    got = collector.spans().filter((s) => s.span.name.startsWith('GET '));
  }
  const ids = new Set(got.map((s) => s.span.spanId));
  t.equal(got.length, 1500, 'the Collector received 1500 spans');
  t.equal(ids.size, 1500, 'each once');
  // Oldest first: the first run's spans were sent before the second run's.
  const order = got.map((s) => Number(s.span.name.slice(4)));
  t.ok(order.indexOf(1000) > order.indexOf(0), 'the first run\'s spans went first');
  t.same(readdirSync(join(dir, 'traces')), [], 'nothing left on disk');
});

t.test('export.disk_buffer and export.queue_size in the configuration file', async (t) => {
  const dir = tempDir(t);
  const { writeFileSync } = await import('node:fs');
  const file = join(dir, 'lantern.yaml');
  writeFileSync(file, 'export:\n  queue_size: 2048\n  shutdown_timeout: 4.5\n  disk_buffer: { path: /var/lib/lantern/buffer, max_bytes: 134217728 }\n');
  const c = loadConfig({ config: file }, {});
  t.same(c.export, { queueSize: 2048, shutdownTimeoutMs: 4500, diskBuffer: { path: '/var/lib/lantern/buffer', maxBytes: 134217728 } });
  writeFileSync(file, 'export:\n  disk_buffer: { path: relative, max_bytes: 10 }\n  queue: 1\n');
  t.throws(() => loadConfig({ config: file }, {}), /export\.queue: unknown setting[\s\S]*export\.disk_buffer\.path: expected an absolute directory path[\s\S]*max_bytes: expected at least 8388608/);
  t.equal(loadConfig({ shutdownTimeout: '2' }, {}).export.shutdownTimeoutMs, 2000, '--shutdown-timeout');
  t.throws(() => loadConfig({ shutdownTimeout: '0' }, {}), /--shutdown-timeout/);
});
