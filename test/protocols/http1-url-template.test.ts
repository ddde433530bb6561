// url.template through the real kernel path: curl asks nginx for /users/1 … /users/500, and the
// server's duration metric is one series (/users/{id}), its spans carry the template, the raw path
// stays in url.path only.
import t from 'tap';
import type { HistogramPoint } from '../../src/model/span.js';
import { attr, startTestAgent } from '../helpers/agent.js';
import { startNginx } from '../helpers/nginx.js';
import { run } from '../helpers/spawn.js';

const nginx = await startNginx({ locations: 'location /users/ { return 200 "user\\n"; }' });
const agent = await startTestAgent({ pids: nginx.pids });
t.teardown(async () => {
  await agent.stop();
  await nginx.stop();
});
const nginxPids = new Set(nginx.pids);
const fromNginx = (pid: unknown): boolean => nginxPids.has(Number(pid));

t.test('/users/1 … /users/500: one url.template, one server duration series', async (t) => {
  // curl's URL globbing: 500 requests on one keep-alive connection.
  const r = await run('curl', ['-s', '-o', '/dev/null', `http://127.0.0.1:${nginx.port}/users/[1-500]`]);
  t.equal(r.code, 0, r.stderr);
  const spans = await agent.waitForSpans((s) => s.kind === 'server' && fromNginx(s.resource.attributes['process.pid']) && String(attr(s, 'url.path')).startsWith('/users/'), 500, 20_000);
  t.equal(spans.length, 500, 'a server span per request');
  t.same([...new Set(spans.map((s) => attr(s, 'url.template')))], ['/users/{id}']);
  t.ok(spans.every((s) => !('http.route' in s.attributes)), 'no http.route: a guess is not the application\'s route (route_heuristic is off)');
  t.ok(spans.every((s) => s.name === 'GET'), 'server span names stay the method without a route');
  t.equal(new Set(spans.map((s) => attr(s, 'url.path'))).size, 500, 'the raw paths stay in url.path');
  const points = agent.histograms.filter((p: HistogramPoint) => p.name === 'http.server.request.duration' && fromNginx(p.resource.attributes['process.pid']));
  t.ok(points.length >= 500, `${points.length} measurements`);
  const series = new Set(points.map((p) => JSON.stringify(Object.entries(p.attributes).sort())));
  t.equal(series.size, 1, `one series: ${[...series].join(' | ')}`);
  t.equal(points[0]?.attributes['url.template'], '/users/{id}');
  const clients = await agent.waitForSpans((s) => s.kind === 'client' && s.resource.attributes['process.executable.name'] === 'curl' && String(attr(s, 'url.path')).startsWith('/users/'), 500);
  t.same([...new Set(clients.map((s) => attr(s, 'url.template')))], ['/users/{id}'], 'the client side too');
  const summary = agent.agent.summary();
  t.equal(summary.pipeline.url_templates_overflow, 0, 'nothing past the limit');
});
