// HTTP/2 and gRPC through the real kernel path: a Go gRPC server and client (grpc-go, plaintext
// h2c) making unary, server-streaming and failing calls on one connection; nghttp and h2load
// against nginx serving HTTP/2 over cleartext. (The kernel marks a connection HTTP/2 when it sees
// the client preface, so every connection here is captured from its first byte.)
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import t from 'tap';
import type { SpanRecord } from '../../src/model/span.js';
import { attr, startTestAgent } from '../helpers/agent.js';
import { buildGoFixture } from '../helpers/go-build.js';
import { startNginx } from '../helpers/nginx.js';
import { run, startPrintingPort } from '../helpers/spawn.js';

/**
 * Runs a client that never reads its stdin (nghttp, h2load) with no stdin pipe at all: the
 * shared run() writes to one, which fails with EPIPE when the program has already exited.
 */
async function runTool(cmd: string, args: string[], timeoutMs = 60_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = await once(child, 'exit');
  clearTimeout(timer);
  return { code: code as number | null, stdout, stderr };
}

const pidOf = (s: SpanRecord): number => Number(s.resource.attributes['process.pid']);
const isGrpc = (s: SpanRecord): boolean => attr(s, 'rpc.system.name') === 'grpc';

t.test('Go gRPC server and client over h2c', async (t) => {
  const bin = buildGoFixture('grpc-echo');
  const agent = await startTestAgent();
  t.teardown(() => agent.stop());
  const server = await startPrintingPort(bin, ['server'], { OTEL_SERVICE_NAME: 'grpc-echo' });
  t.teardown(() => server.stop());
  const r = await run(bin, ['client', `127.0.0.1:${server.port}`], { env: { OTEL_SERVICE_NAME: 'grpc-echo-client' } });
  t.same(r.stdout.trim().split('\n'), [
    'Say OK', 'Say OK', 'Say OK', 'Repeat(3) OK', 'Say(missing) NotFound', 'Say(crash) Internal', 'Check NotFound', 'Nope Unimplemented',
  ], r.stderr);
  const CALLS = 8;
  const srv = await agent.waitForSpans((s) => isGrpc(s) && s.kind === 'server' && pidOf(s) === server.child.pid, CALLS);
  const cli = await agent.waitForSpans((s) => isGrpc(s) && s.kind === 'client' && attr(s, 'server.port') === server.port, CALLS);
  t.equal(srv.length, CALLS, 'one server span per call');
  t.equal(cli.length, CALLS, 'one client span per call');

  const named = (spans: SpanRecord[], name: string): SpanRecord[] => spans.filter((s) => s.name === name);
  for (const [spans, kind] of [[srv, 'server'], [cli, 'client']] as const) {
    const say = named(spans, 'lantern.test.Echo/Say');
    t.equal(say.length, 5, `${kind}: five Say calls`);
    const ok = say.filter((s) => attr(s, 'rpc.response.status_code') === 'OK');
    t.equal(ok.length, 3, `${kind}: three OK`);
    t.ok(ok.every((s) => s.status.code === 'unset' && attr(s, 'error.type') === undefined), `${kind}: OK is not an error`);
    t.ok(say.every((s) => attr(s, 'rpc.method') === 'lantern.test.Echo/Say' && attr(s, 'network.protocol.version') === '2'
      && attr(s, 'server.address') === '127.0.0.1' && attr(s, 'server.port') === server.port));
    t.ok(ok.every((s) => attr(s, 'lantern.rpc.request.messages') === 1 && attr(s, 'lantern.rpc.response.messages') === 1), `${kind}: one message each way`);
    const repeat = named(spans, 'lantern.test.Echo/Repeat')[0];
    t.equal(attr(repeat, 'rpc.response.status_code'), 'OK', `${kind}: server streaming call`);
    t.equal(attr(repeat, 'lantern.rpc.response.messages'), 3, `${kind}: three streamed messages`);
    const missing = say.find((s) => attr(s, 'rpc.response.status_code') === 'NOT_FOUND');
    t.ok(missing, `${kind}: NOT_FOUND call`);
    const crash = say.find((s) => attr(s, 'rpc.response.status_code') === 'INTERNAL');
    t.equal(crash?.status.code, 'error', `${kind}: INTERNAL is an error on both ends`);
    t.equal(crash?.status.message, 'the handler failed');
    t.equal(attr(crash, 'error.type'), 'INTERNAL');
    const check = named(spans, 'grpc.health.v1.Health/Check')[0];
    t.equal(attr(check, 'rpc.response.status_code'), 'NOT_FOUND', `${kind}: health Check of an unknown service`);
    const nope = spans.find((s) => attr(s, 'rpc.method') === '_OTHER');
    t.equal(nope?.name, 'grpc', `${kind}: an unknown method is _OTHER`);
    t.equal(attr(nope, 'rpc.method_original'), 'lantern.test.Echo/Nope');
    t.equal(attr(nope, 'rpc.response.status_code'), 'UNIMPLEMENTED');
    if (kind === 'client') {
      t.equal(missing?.status.code, 'error', 'client: NOT_FOUND is an error');
      t.equal(attr(missing, 'error.type'), 'NOT_FOUND');
      t.equal(missing?.status.message, 'no such greeting: missing');
    } else {
      t.equal(missing?.status.code, 'unset', 'server: NOT_FOUND is not a server error');
      t.equal(attr(nope, 'error.type'), 'UNIMPLEMENTED', 'server: UNIMPLEMENTED is');
      t.ok(srv.every((s) => s.resource.attributes['service.name'] === 'grpc-echo'));
    }
  }
  for (const s of srv) {
    const parent = cli.find((c) => c.spanId === s.parentSpanId);
    t.ok(parent, `server span ${s.name} (${String(attr(s, 'rpc.response.status_code'))}) is the child of its client span`);
    t.equal(parent?.name, s.name);
  }
  await new Promise((r2) => setTimeout(r2, 100));
  const durations = agent.histograms.filter((p) => p.name === 'rpc.server.call.duration' || p.name === 'rpc.client.call.duration');
  t.ok(durations.filter((p) => p.name === 'rpc.server.call.duration').length >= CALLS, 'rpc.server.call.duration measured');
  t.ok(durations.filter((p) => p.name === 'rpc.client.call.duration').length >= CALLS, 'rpc.client.call.duration measured');
  t.ok(durations.every((p) => p.unit === 's' && p.value >= 0 && p.value < 10));
  const sockets = agent.agent.summary().collectors.sockets ?? {};
  t.equal(sockets.http2_internalErrors ?? 0, 0, 'no internal errors');
  t.equal(sockets.http2_hpackLostFields ?? 0, 0, 'every header field decoded');
});

t.test('nghttp and h2load against nginx over h2c', async (t) => {
  const nginx = await startNginx({ http2: true, locations: 'location = /teapot { return 418 "short and stout\\n"; }' });
  t.teardown(() => nginx.stop());
  const agent = await startTestAgent({ pids: nginx.pids });
  t.teardown(() => agent.stop());
  const nginxPids = new Set(nginx.pids);
  const isNginx = (s: SpanRecord): boolean => s.kind === 'server' && nginxPids.has(pidOf(s));
  const base = `http://127.0.0.1:${nginx.port}`;

  const one = await runTool('nghttp', ['-n', `${base}/status`, `${base}/teapot`]);
  t.equal(one.code, 0, one.stderr);
  const nsrv = await agent.waitForSpans((s) => isNginx(s) && ['/status', '/teapot'].includes(String(attr(s, 'url.path'))), 2);
  const ncli = await agent.waitForSpans((s) => s.kind === 'client' && String(attr(s, 'user_agent.original')).startsWith('nghttp2/'), 2);
  t.equal(nsrv.length, 2);
  t.equal(ncli.length, 2);
  const status = nsrv.find((s) => attr(s, 'url.path') === '/status');
  t.equal(status?.name, 'GET');
  t.equal(attr(status, 'network.protocol.version'), '2');
  t.equal(attr(status, 'http.response.status_code'), 200);
  t.equal(attr(status, 'http.response.body.size'), 3);
  t.equal(attr(status, 'url.scheme'), 'http');
  t.equal(attr(status, 'server.port'), nginx.port);
  t.equal(attr(nsrv.find((s) => attr(s, 'url.path') === '/teapot'), 'http.response.status_code'), 418);
  const teapotClient = ncli.find((s) => attr(s, 'url.path') === '/teapot');
  t.equal(teapotClient?.status.code, 'error', '4xx is a client error');
  t.equal(attr(teapotClient, 'url.full'), `${base}/teapot`);
  for (const s of nsrv) t.ok(ncli.some((c) => c.spanId === s.parentSpanId), `nginx span ${String(attr(s, 'url.path'))} linked to nghttp's`);

  const REQUESTS = 200;
  const load = await runTool('h2load', ['-n', String(REQUESTS), '-c', '2', '-m', '10', `${base}/status`]);
  t.equal(load.code, 0, load.stderr);
  t.match(load.stdout, /200 succeeded/);
  const fromLoad = (s: SpanRecord): boolean => String(attr(s, 'user_agent.original')).startsWith('h2load');
  const lsrv = await agent.waitForSpans((s) => isNginx(s) && fromLoad(s), REQUESTS, 20_000);
  const lcli = await agent.waitForSpans((s) => s.kind === 'client' && fromLoad(s), REQUESTS, 20_000);
  t.equal(lsrv.length, REQUESTS, 'one nginx span per h2load request');
  t.equal(lcli.length, REQUESTS, 'one h2load span per request');
  t.ok(lsrv.every((s) => attr(s, 'network.protocol.version') === '2' && attr(s, 'http.response.status_code') === 200));
  const linked = lsrv.filter((s) => lcli.some((c) => c.spanId === s.parentSpanId)).length;
  t.equal(linked, REQUESTS, 'every server span linked to its client span (stream ids tell multiplexed requests apart)');
  const sockets = agent.agent.summary().collectors.sockets ?? {};
  t.equal(sockets.http2_internalErrors ?? 0, 0);
  t.equal(sockets.http2_syncLosses ?? 0, 0, 'the framers never lost their place');
});
