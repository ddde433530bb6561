// Pushing to Pyroscope's ingest API, against a real HTTP receiver in the test (no Pyroscope server
// is available here): the query string, the auth header, a body that parses as pprof; a dead or
// failing Pyroscope is counted and reported once, never thrown.
import { once } from 'node:events';
import { type IncomingMessage, createServer } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { Profile } from 'pprof-format';
import t from 'tap';
import { encodePprofGzipSync } from '../../src/export/pprof.js';
import { ProfileExporter } from '../../src/export/pprof-exporter.js';
import { OFF_CPU_METRIC, PyroscopeClient, ingestUrl, sanitizeName } from '../../src/export/pyroscope.js';
import { Logger } from '../../src/log.js';
import type { ProfileRecord } from '../../src/model/profile.js';
import { freePort } from '../helpers/procs.js';

interface Received {
  url: URL;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

async function receiver(status = 200): Promise<{ url: string; got: Received[]; close(): Promise<void> }> {
  const got: Received[] = [];
  const srv = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ url: new URL(req.url ?? '/', 'http://x'), headers: req.headers, body: Buffer.concat(chunks) });
      res.statusCode = status;
      res.end(status === 200 ? '' : 'ingestion failed: bad profile');
    });
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}/pyro`, got, close: () => new Promise((r) => srv.close(() => r())) };
}

function profile(service: string, container?: string): ProfileRecord {
  const labels: Record<string, string> = { pid: '10', thread_id: '10', thread_name: 'app', service_name: service };
  if (container !== undefined) labels.container_id = container;
  return {
    service,
    startTimeUnixNano: 1_700_000_000_500_000_000n,
    endTimeUnixNano: 1_700_000_010_500_000_000n,
    frequencyHz: 99,
    periodNanos: 10_101_010,
    samples: [{ frames: [{ function: 'hot', module: '/app', address: 0x10n }, { function: 'main', module: '/app', address: 0x20n }], count: 7, labels }],
  };
}

const quiet = (): { log: Logger; lines: string[] } => {
  const lines: string[] = [];
  return { log: new Logger('info', false, { write: (l) => lines.push(l) }), lines };
};

const until = async (cond: () => boolean, ms = 5000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
};

t.test('ingest URL: name with labels, times in seconds, format, rate, spy', async (t) => {
  const u = ingestUrl('http://pyro:4040/base/', {
    service: 'check out{x}', labels: { container_id: 'abc', 'k8s.pod': 'p,1' },
    fromUnixNano: 1_700_000_000_900_000_000n, untilUnixNano: 1_700_000_010_100_000_000n, sampleRateHz: 99,
  });
  t.equal(u.pathname, '/base/ingest');
  t.equal(u.searchParams.get('name'), 'check_out_x_.cpu{service_name=check_out_x_,container_id=abc,k8s_pod=p_1}');
  t.equal(u.searchParams.get('from'), '1700000000');
  t.equal(u.searchParams.get('until'), '1700000010');
  t.equal(u.searchParams.get('format'), 'pprof');
  t.equal(u.searchParams.get('sampleRate'), '99');
  t.equal(u.searchParams.get('spyName'), 'lantern');
  const short = ingestUrl('http://p', { service: 'a', fromUnixNano: 5_000_000_000n, untilUnixNano: 5_400_000_000n, sampleRateHz: 99 });
  t.equal(short.searchParams.get('until'), '6', 'until is after from even for a sub-second profile');
  t.equal(sanitizeName(''), 'unknown');
});

t.test('push: query, basic auth, tenant, gzipped pprof body', async (t) => {
  const r = await receiver();
  t.teardown(() => r.close());
  const { log } = quiet();
  const ex = new ProfileExporter({ log, pyroscope: { url: r.url, basicAuth: { username: 'lantern', password: 's3cret' }, tenantId: 'team-a', timeoutMs: 2000 } });
  ex.put({ type: 'profile', profile: profile('checkout', 'c0ffee') });
  ex.put({ type: 'profile', profile: profile('payments') });
  await ex.close();
  t.equal(r.got.length, 2);
  const byName = Object.fromEntries(r.got.map((g) => [g.url.searchParams.get('name'), g]));
  const a = byName['checkout.cpu{service_name=checkout,container_id=c0ffee}'];
  t.ok(a, `names: ${Object.keys(byName).join(' ')}`);
  t.ok(byName['payments.cpu{service_name=payments}'], 'no container: service only');
  t.equal(a!.url.pathname, '/pyro/ingest');
  t.same(Object.fromEntries(['from', 'until', 'format', 'sampleRate', 'spyName'].map((k) => [k, a!.url.searchParams.get(k)])),
    { from: '1700000000', until: '1700000010', format: 'pprof', sampleRate: '99', spyName: 'lantern' });
  t.equal(a!.headers.authorization, `Basic ${Buffer.from('lantern:s3cret').toString('base64')}`);
  t.equal(a!.headers['x-scope-orgid'], 'team-a');
  t.equal(a!.headers['content-type'], 'application/octet-stream');
  const p = Profile.decode(gunzipSync(a!.body));
  t.equal(p.sample.length, 1);
  t.same(p.sample[0]!.value.map(Number), [7, 7 * 10_101_010]);
  t.same(p.sampleType.map((v) => p.stringTable.strings[Number(v.type)]), ['samples', 'cpu']);
  t.match(ex.stats(), { pyroscope_pushed: 2, pyroscope_failed: 0 });
});

t.test('push: bearer token', async (t) => {
  const r = await receiver();
  t.teardown(() => r.close());
  const c = new PyroscopeClient({ url: r.url, bearerToken: 'tok-123', timeoutMs: 2000 });
  c.push({ service: 's', fromUnixNano: 0n, untilUnixNano: 10_000_000_000n, sampleRateHz: 49, body: encodePprofGzipSync(profile('s')) });
  await c.close();
  t.equal(r.got[0]?.headers.authorization, 'Bearer tok-123');
  t.equal(r.got[0]?.url.searchParams.get('sampleRate'), '49');
  t.notOk('x-scope-orgid' in (r.got[0]?.headers ?? {}));
});

t.test('a dead Pyroscope is counted and reported once, and comes back', async (t) => {
  const port = await freePort();
  const { log, lines } = quiet();
  const ex = new ProfileExporter({ log, pyroscope: { url: `http://127.0.0.1:${port}`, timeoutMs: 1000 } });
  t.doesNotThrow(() => {
    for (let i = 0; i < 3; i++) ex.put({ type: 'profile', profile: profile('checkout') });
  });
  await ex.close();
  t.match(ex.stats(), { profiles_in: 3, pyroscope_failed: 3, pyroscope_pushed: 0 });
  const warned = lines.filter((l) => l.includes('Pyroscope push failed'));
  t.equal(warned.length, 1, 'one warning per outage');
  t.match(warned[0], /ECONNREFUSED/);
  // It comes up on that port: the next push succeeds and the recovery is logged.
  const srv = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end());
  });
  srv.listen(port, '127.0.0.1');
  await once(srv, 'listening');
  t.teardown(() => new Promise<void>((r) => srv.close(() => r())));
  ex.put({ type: 'profile', profile: profile('checkout') });
  await ex.close();
  t.equal(ex.stats().pyroscope_pushed, 1);
  t.ok(lines.some((l) => l.includes('Pyroscope reachable again')));
});

t.test('a Pyroscope that refuses (HTTP 400) or never answers: counted, bounded', async (t) => {
  const bad = await receiver(400);
  t.teardown(() => bad.close());
  const statuses: string[] = [];
  const c = new PyroscopeClient({ url: bad.url, timeoutMs: 2000, onStatus: (ok, d) => statuses.push(`${ok} ${d}`) });
  c.push({ service: 's', fromUnixNano: 0n, untilUnixNano: 1n, sampleRateHz: 99, body: Buffer.from('x') });
  await c.close();
  t.match(c.stats(), { failed: 1, rejected: 1, pushed: 0 });
  t.match(statuses[0], /false HTTP 400: ingestion failed/);

  // Accepts connections, never answers: each push times out; beyond maxInFlight, pushes are dropped.
  const hang = createServer(() => undefined);
  hang.listen(0, '127.0.0.1');
  await once(hang, 'listening');
  t.teardown(() => {
    hang.closeAllConnections();
    return new Promise<void>((r) => hang.close(() => r()));
  });
  const slow = new PyroscopeClient({ url: `http://127.0.0.1:${(hang.address() as { port: number }).port}`, timeoutMs: 300, maxInFlight: 2 });
  for (let i = 0; i < 5; i++) slow.push({ service: 's', fromUnixNano: 0n, untilUnixNano: 1n, sampleRateHz: 99, body: Buffer.from('x') });
  t.equal(slow.stats().dropped_busy, 3);
  await until(() => slow.stats().in_flight === 0);
  t.match(slow.stats(), { failed: 2, in_flight: 0 });
});

t.test('off-CPU push: <app>.off_cpu, multipart with a sample type config keeping it out of process_cpu', async (t) => {
  const r = await receiver();
  t.teardown(() => r.close());
  const { log } = quiet();
  const ex = new ProfileExporter({ log, pyroscope: { url: r.url, timeoutMs: 2000 } });
  const cpu = profile('checkout');
  const labels = cpu.samples[0]!.labels;
  ex.put({ type: 'profile', profile: { ...cpu, kind: 'off_cpu', periodNanos: 0, samples: [{ frames: cpu.samples[0]!.frames, count: 2, nanos: 30_000_000, labels }] } });
  await ex.close();
  t.equal(r.got.length, 1);
  const got = r.got[0]!;
  t.equal(got.url.searchParams.get('name'), 'checkout.off_cpu{service_name=checkout}');
  t.match(got.headers['content-type'], /^multipart\/form-data; boundary=/);
  const form = await new Response(new Uint8Array(got.body), { headers: { 'content-type': got.headers['content-type']! } }).formData();
  const config = JSON.parse(await (form.get('sample_type_config') as Blob).text()) as Record<string, Record<string, string>>;
  t.same(Object.keys(config).sort(), ['blocks', 'off_cpu']);
  t.ok(Object.values(config).every((c) => c['display-name'] === OFF_CPU_METRIC && !OFF_CPU_METRIC.includes('cpu')), 'Pyroscope turns any name with "cpu" into process_cpu');
  const p = Profile.decode(gunzipSync(Buffer.from(await (form.get('profile') as Blob).arrayBuffer())));
  t.same(p.sampleType.map((v) => p.stringTable.strings[Number(v.type)]), ['blocks', 'off_cpu']);
  t.same(p.sample.map((s) => s.value.map(Number)), [[2, 30_000_000]]);
});
