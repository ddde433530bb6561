// The control API: loopback, bearer token, local view content.
import t from 'tap';
import { LocalView } from '../../src/server/local-view.js';
import { startControlServer } from '../../src/server/server.js';
import type { HistogramPoint, SpanRecord } from '../../src/model/span.js';
import { withIds } from '../helpers/span-ids.js';

function span(service: string, kind: 'server' | 'client', ms: number, error = false): SpanRecord {
  return withIds({ traceId: '1'.repeat(32), spanId: '2'.repeat(16), name: 'GET', kind, startTimeUnixNano: 1_000_000_000n, endTimeUnixNano: 1_000_000_000n + BigInt(ms * 1e6),
    attributes: { 'http.request.method': 'GET' }, status: { code: error ? 'error' : 'unset' }, resource: { key: service, attributes: { 'service.name': service, 'process.pid': 7 } } });
}

t.test('serves recent spans and RED per service behind a token', async (t) => {
  const view = new LocalView(3);
  view.addSpans([span('api', 'server', 10), span('api', 'server', 30, true), span('web', 'client', 5), span('api', 'server', 20)]);
  const server = await startControlServer({ host: '127.0.0.1', port: 0, token: 't'.repeat(20) }, view, () => ({ records: 4 }));
  t.teardown(() => server.close());
  t.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  const auth = { authorization: `Bearer ${'t'.repeat(20)}` };
  t.equal((await fetch(`${server.url}/api/spans`)).status, 401, 'no token');
  t.equal((await fetch(`${server.url}/api/spans`, { headers: { authorization: 'Bearer wrong' } })).status, 401, 'wrong token');
  t.equal((await fetch(`${server.url}/healthz`)).status, 200, 'health needs no token');
  const spans = (await (await fetch(`${server.url}/api/spans?service=api`, { headers: auth })).json()) as { spans: Array<{ service: string; durationMs: number }> };
  t.same(spans.spans.map((s) => s.durationMs), [20, 30], 'newest first, bounded to the last 3 spans overall');
  const services = (await (await fetch(`${server.url}/api/services`, { headers: auth })).json()) as { services: Array<{ service: string; server: { count: number; errors: number } }> };
  t.equal(services.services[0]?.service, 'api');
  t.equal(services.services[0]?.server.count, 3);
  t.equal(services.services[0]?.server.errors, 1);
  t.same(await (await fetch(`${server.url}/api/stats`, { headers: auth })).json(), { records: 4 });
  t.match(view.summaryLines()[0], /^api: server 3 req, 1 err/);
});

t.test('a generated token when none is configured', async (t) => {
  const server = await startControlServer({ host: '127.0.0.1', port: 0 }, new LocalView(), () => ({}));
  t.teardown(() => server.close());
  t.ok(server.token.length >= 32);
});

t.test('spans shed from export still count in RED, from their duration points', async (t) => {
  const view = new LocalView();
  const resource = { key: 'api', attributes: { 'service.name': 'api' } };
  const point = (name: string, seconds: number, error: boolean): HistogramPoint => ({
    name, unit: 's', description: '', value: seconds, resource, timeUnixNano: 0n,
    attributes: error ? { 'http.request.method': 'GET', 'error.type': '500' } : { 'http.request.method': 'GET' },
  });
  view.countPoints([point('http.server.request.duration', 0.01, false), point('http.server.request.duration', 0.03, true), point('http.client.request.duration', 0.002, false)]);
  view.countSpan(span('api', 'server', 20));
  const [api] = view.services();
  t.match(api, { service: 'api', server: { count: 3, errors: 1 }, client: { count: 1, errors: 0 } });
  t.equal(api?.server.durationSumMs, 60);
  t.same(view.spans(), [], 'counted, not listed among the recent (exported) spans');
});

t.test('under load the recent list is a sample of each second, errors kept besides; RED counts every span', async (t) => {
  let now = 5_000_000;
  const view = new LocalView(1000, 1000, 10, () => now);
  for (let i = 0; i < 50; i++) view.addSpan(span('api', 'server', 1 + i, i % 10 === 9));
  t.equal(view.spans({ limit: 1000 }).length, 10 + 4, 'the second\'s budget of 10, then the errors among the rest');
  t.ok(view.spans({ limit: 1000 }).slice(0, 4).every((s) => s.status === 'error'), 'the errors past the budget');
  t.equal(view.sampledOut, 36);
  t.equal(view.services()[0]?.server.count, 50, 'every span counted');
  now += 1000;
  view.addSpan(span('api', 'server', 99));
  t.equal(view.spans()[0]?.durationMs, 99, 'a new second, a new budget');
});
