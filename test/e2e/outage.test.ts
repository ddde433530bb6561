// A backend outage under load, end to end: `lantern run` (--pid of nginx) exports nginx's server
// spans over OTLP/gRPC to a real OpenTelemetry Collector while a steady load (~300 req/s) runs; the
// Collector is stopped for 60 s, then started again on the same ports. Checked: the agent's RSS
// stays bounded (sampled every second), export resumes by itself, every span is accounted for in
// the agent's own counters, retries are counted consistently, the agent exits cleanly.
//
// At 300 req/s the agent's queues (export.queue_size 2048 + four batches in flight, retried; a batch
// is at most the queue, and leaves with the second's ~300 spans) are full within ~15 s: the last 45 s
// of the outage show that nothing grows once they are.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent as HttpAgent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startCli } from '../helpers/cli.js';
import { startNginx } from '../helpers/nginx.js';
import { type Otelcol, startOtelcol } from '../helpers/otelcol.js';
import { freePorts } from '../helpers/tool-process.js';

const OUTAGE_MS = 60_000;
const RATE = 300; // requests a second
const QUEUE = 2048;
const TOKEN = 'outage-test-token-0123456789';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? 0 : Number(m[1]);
}

t.test('backend outage under load: bounded memory, export resumes, every span accounted for', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-outage-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const [grpc, http, apiPort] = (await freePorts(3)) as [number, number, number];
  let collector: Otelcol = await startOtelcol({ ports: { grpc, http } });
  t.teardown(() => collector.stop());
  const nginx = await startNginx();
  t.teardown(() => nginx.stop());
  writeFileSync(join(dir, 'lantern.yaml'), `export: { queue_size: ${QUEUE} }\nserver: { token: ${TOKEN}, token_file: ${join(dir, 'token')} }\n`);
  const agent = startCli(['run', '--config', join(dir, 'lantern.yaml'), '--port', String(apiPort), '--collectors', 'sockets',
    ...nginx.pids.flatMap((p) => ['--pid', String(p)]), '--otlp-endpoint', collector.grpcEndpoint, '--log-format', 'json'], {
    env: { OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `${collector.httpEndpoint}/v1/metrics`, OTEL_EXPORTER_OTLP_TIMEOUT: '2000' },
  });
  t.teardown(() => agent.child.kill('SIGKILL'));
  await agent.waitForStderr('exporting over OTLP', 60_000);
  await sleep(1500); // socket tracing is live about a second after start
  const pid = agent.child.pid as number;
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const stats = async (): Promise<Record<string, number>> => {
    const res = await fetch(`${apiUrl}/api/stats`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const s = await res.json() as { pipeline: Record<string, number>; export: Record<string, number>; collectors: Record<string, Record<string, number>> };
    return { ...Object.fromEntries(Object.entries(s.export).map(([k, v]) => [`export.${k}`, v])), ...Object.fromEntries(Object.entries(s.pipeline).map(([k, v]) => [`pipeline.${k}`, v])),
      ...Object.fromEntries(Object.entries(s.collectors.sockets ?? {}).map(([k, v]) => [`sockets.${k}`, v])) };
  };

  // The load: RATE requests a second on 4 keep-alive connections, each answered one counted.
  const keepAlive = new HttpAgent({ keepAlive: true, maxSockets: 4 });
  let answered = 0;
  let failed = 0;
  let loading = true;
  const get = (): Promise<void> => new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port: nginx.port, path: '/status', agent: keepAlive }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode === 200) answered++;
        else failed++;
        resolve();
      });
    });
    req.on('error', () => {
      failed++;
      resolve();
    });
    req.end();
  });
  const inFlight = new Set<Promise<void>>();
  const load = (async () => {
    const start = Date.now();
    let sent = 0;
    while (loading) {
      const due = Math.floor(((Date.now() - start) / 1000) * RATE);
      while (sent < due) {
        const p = get();
        inFlight.add(p);
        void p.then(() => inFlight.delete(p));
        sent++;
      }
      await sleep(10);
    }
    await Promise.all(inFlight);
  })();

  await sleep(5000);
  const before = await stats();
  t.ok(before['export.traces.exported']! > 0, `spans exported before the outage (${before['export.traces.exported']})`);
  const rss: Array<{ at: number; kib: number }> = [];
  const rssBefore = rssKiB(pid);
  // The outage. What the Collector received is read once it has exited: a batch it acknowledged
  // while a read before the stop was under way would be missing from that read.
  const receivedBefore = await collector.stopAndTakeSpans();
  const outageStart = Date.now();
  while (Date.now() - outageStart < OUTAGE_MS) {
    rss.push({ at: Date.now() - outageStart, kib: rssKiB(pid) });
    await sleep(1000);
  }
  const during = await stats();
  collector = await startOtelcol({ ports: { grpc, http } });
  const restartedAtNs = BigInt(Date.now()) * 1_000_000n;
  for (let i = 0; i < 15; i++) {
    rss.push({ at: Date.now() - outageStart, kib: rssKiB(pid) });
    await sleep(1000);
  }
  loading = false;
  await load;
  // Let the agent send what it holds (a batch waits at most a second; retries back off up to 16 s).
  const until = Date.now() + 30_000;
  let s = await stats();
  while ((s['export.traces.queued']! > 0 || s['pipeline.spans_held']! > 0) && Date.now() < until) {
    await sleep(500);
    s = await stats();
  }

  // No crash.
  t.equal(agent.child.exitCode, null, 'the agent ran through the outage');
  agent.child.kill('SIGTERM');
  const end = await agent.done;
  t.equal(end.code, 0, 'and exited cleanly');
  // After the agent's last export (at its stop), as its final summary counts it.
  const receivedAfter = await collector.stopAndTakeSpans();
  const summary = (end.stderr.split('\n').filter((l) => l.includes('"msg":"stopped"')).map((l) => JSON.parse(l) as { summary: { export: Record<string, number>; pipeline: Record<string, number>; collectors: Record<string, Record<string, number>> } })[0])?.summary;
  t.ok(summary, 'the final summary');
  const ex = summary?.export ?? {};
  const pl = summary?.pipeline ?? {};

  // Memory: what the agent holds for the backend is bounded by the queue (QUEUE spans) plus four
  // batches of at most QUEUE in flight (≤ 10,240 spans), each span its encoded bytes (~0.5 KiB) and
  // its share of an encoded request kept for retries: ~10 MiB; 64 MiB leaves room for the GC's slack.
  const peak = Math.max(...rss.map((r) => r.kib));
  t.comment(`RSS before the outage ${rssBefore} KiB, peak ${peak} KiB; samples: ${rss.map((r) => r.kib).join(' ')}`);
  t.ok(peak <= rssBefore + 64 * 1024, `RSS stayed within ${rssBefore} + 64 MiB KiB (peak ${peak} KiB)`);
  const lateOutage = rss.filter((r) => r.at >= 15_000 && r.at < OUTAGE_MS).map((r) => r.kib);
  const early = rss.filter((r) => r.at < 15_000).map((r) => r.kib);
  t.ok(Math.max(...lateOutage) <= Math.max(...early) + 16 * 1024, `no growth once the queue is full (first 15 s peak ${Math.max(...early)} KiB, last 45 s ${Math.max(...lateOutage)} KiB)`);

  // Export resumes by itself: spans that started after the restart reached the new Collector.
  const resumed = receivedAfter.filter((r) => BigInt(r.span.startTimeUnixNano) > restartedAtNs);
  t.ok(resumed.length > 0, `${resumed.length} spans that started after the restart arrived`);

  // Drops during the outage, per signal, counted.
  t.ok(during['export.traces.dropped.queue_full']! + during['export.traces.dropped.retries_exhausted']! > 0,
    `drops counted during the outage (queue full ${during['export.traces.dropped.queue_full']}, retries exhausted ${during['export.traces.dropped.retries_exhausted']})`);

  // The accounting, exact. (1) every request nginx answered became a span: nothing was lost before
  // the exporter (no ring-buffer loss, nothing shed at this rate).
  t.equal(failed, 0, 'every request answered');
  const sockets = summary?.collectors.sockets ?? {};
  t.equal(pl.spans_shed ?? 0, 0, 'no span shed');
  t.equal(sockets.lost_js_queue_full ?? 0, 0, 'no batch lost on the way to JavaScript');
  t.equal(pl.spans_out, answered, `spans built = requests answered (${answered})`);
  // (2) every span handed to the exporter was accepted or dropped at the door; (3) every accepted
  // one was acknowledged, dropped for a counted reason, or is still queued.
  t.equal(pl.spans_out, ex['traces.accepted']! + ex['traces.dropped.queue_full']! + ex['spans.invalid']! + ex['spans.after_shutdown']!, 'spans out = accepted + dropped at the door');
  const dropped = ex['traces.dropped.queue_full']! + ex['traces.dropped.retries_exhausted']! + ex['traces.dropped.rejected']! + ex['traces.dropped.shutdown']!;
  t.equal(answered, ex['traces.exported']! + dropped + ex['traces.queued']!,
    `requests ${answered} = acknowledged ${ex['traces.exported']} + dropped ${dropped} + still queued ${ex['traces.queued']}`);
  // (4) what the Collectors received: every acknowledged span, plus possibly batches it received
  // but whose answer was lost when it was killed (then given up or sent again: ids counted once).
  const ids = new Set([...receivedBefore, ...receivedAfter].map((r) => r.span.spanId));
  t.ok(ids.size >= ex['traces.exported']!, `received ${ids.size} distinct spans ≥ acknowledged ${ex['traces.exported']}`);
  t.ok(ids.size <= ex['traces.exported']! + ex['traces.dropped.retries_exhausted']! + ex['traces.dropped.shutdown']!, 'and no more than acknowledged + given up');

  // Retries: each failed attempt was retried or ended its batch; batches ended after the attempts allowed.
  t.ok(ex['traces.retries']! > 0, `retries made (${ex['traces.retries']})`);
  t.ok(ex['traces.failed_attempts']! >= ex['traces.retries']!, 'failed attempts ≥ retries');
  t.comment(`answered ${answered}; exported ${ex['traces.exported']}; queue full ${ex['traces.dropped.queue_full']}; retries exhausted ${ex['traces.dropped.retries_exhausted']}; attempts ${ex['traces.attempts']}, retries ${ex['traces.retries']}, failed ${ex['traces.failed_attempts']}`);
  keepAlive.destroy();
});

