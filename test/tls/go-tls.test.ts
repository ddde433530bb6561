// Go crypto/tls through uprobes at the entry and every RET of (*Conn).Read/Write: a Go HTTPS server
// and client (HTTP/1.1), the same client built stripped (-s -w: functions from .gopclntab, struct
// offsets from the per-release table), and gRPC over TLS (HTTP/2 inside TLS). Programs started after
// the agent; the same span attributes as over cleartext.
import t from 'tap';
import type { SpanRecord } from '../../src/model/span.js';
import { type TestAgent, attr, startTestAgent } from '../helpers/agent.js';
import { STRIPPED, buildGoFixture } from '../helpers/go-build.js';
import { run, startPrintingPort } from '../helpers/spawn.js';
import { makeSelfSignedCertificate } from '../helpers/tls-cert.js';

const cert = makeSelfSignedCertificate();
t.teardown(() => cert.remove());
const goHttp = buildGoFixture('go-http');
const goHttpStripped = buildGoFixture('go-http', STRIPPED);
const grpcEcho = buildGoFixture('grpc-echo');
const serverEnv = { TLS_CERT: cert.certFile, TLS_KEY: cert.keyFile };
// Programs started after the agent are attached within a second of their exec (the ELF, DWARF and
// instruction walk take a few hundred ms): clients wait that second, the test waits for the server.
const clientEnv = { TLS_CA: cert.certFile, START_DELAY_MS: '1000' };

const agent: TestAgent = await startTestAgent({ collectors: 'sockets,tls' });
t.teardown(() => agent.stop());

const pidOf = (s: SpanRecord): number => Number(s.resource.attributes['process.pid']);

async function startTracedServer(bin: string): Promise<Awaited<ReturnType<typeof startPrintingPort>>> {
  const server = await startPrintingPort(bin, ['server'], serverEnv);
  const until = Date.now() + 5_000;
  const attached = (): boolean => agent.log.some((l) => l.includes('probes attached') && l.includes(bin));
  while (!attached() && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
  return server;
}

for (const [label, client] of [['with symbols and DWARF', goHttp], ['stripped (-s -w)', goHttpStripped]] as const) {
  t.test(`Go HTTPS server and client, client ${label}`, async (t) => {
    const server = await startTracedServer(goHttp);
    t.teardown(() => server.stop());
    // Spans of this subtest's client only: the agent is the file's, and the last subtest's server may have had this port.
    const earlier = new Set(agent.spans);
    const r = await run(client, ['client', `https://localhost:${server.port}/hello`, '3'], { env: clientEnv });
    t.equal(r.stdout.trim().split('\n').join(','), '200,200,200', r.stderr);
    const serverSpans = await agent.waitForSpans((s) => s.kind === 'server' && pidOf(s) === server.child.pid, 3);
    const clientSpans = await agent.waitForSpans((s) => s.kind === 'client' && !earlier.has(s) && attr(s, 'server.port') === server.port, 3);
    t.equal(serverSpans.length, 3, 'three server spans');
    t.equal(clientSpans.length, 3, 'three client spans');
    for (const s of [...serverSpans, ...clientSpans]) {
      t.equal(attr(s, 'url.scheme'), 'https');
      t.equal(attr(s, 'url.path'), '/hello');
      t.equal(attr(s, 'http.response.status_code'), 200);
      t.equal(attr(s, 'network.protocol.version'), '1.1');
      t.equal(attr(s, 'tls.protocol.version'), '1.3');
    }
    t.same(clientSpans.map((s) => attr(s, 'url.query')).sort(), ['i=0', 'i=1', 'i=2']);
    for (const c of clientSpans) t.ok(serverSpans.some((s) => s.parentSpanId === c.spanId), `${String(attr(c, 'url.query'))}: linked`);
  });
}

t.test('TLS over a conn that is not a *net.TCPConn is left alone, never misattributed', async (t) => {
  const server = await startTracedServer(goHttp);
  t.teardown(() => server.stop());
  const before = agent.agent.summary().collectors.sockets?.kernel_tls_go_foreign_conn ?? 0;
  const r = await run(goHttp, ['client', `https://localhost:${server.port}/hello`, '2'], { env: { ...clientEnv, WRAP_CONN: '1' } });
  t.equal(r.stdout.trim().split('\n').join(','), '200,200', r.stderr);
  const serverSpans = await agent.waitForSpans((s) => s.kind === 'server' && pidOf(s) === server.child.pid, 2);
  t.equal(serverSpans.length, 2, 'the server side (a *net.TCPConn) is traced');
  const after = agent.agent.summary().collectors.sockets?.kernel_tls_go_foreign_conn ?? 0;
  t.ok(after > before, 'the client\'s calls were recognised as over a foreign conn and counted');
  const clientSpans = agent.spans.filter((s) => s.kind === 'client' && attr(s, 'server.port') === server.port);
  t.equal(clientSpans.length, 0, 'no client span guessed from a wild read');
});

t.test('gRPC over TLS: unary, streaming and failing calls', async (t) => {
  const server = await startTracedServer(grpcEcho);
  t.teardown(() => server.stop());
  const r = await run(grpcEcho, ['client', `localhost:${server.port}`], { env: clientEnv });
  t.same(r.stdout.trim().split('\n'), [
    'Say OK', 'Say OK', 'Say OK', 'Repeat(3) OK', 'Say(missing) NotFound', 'Say(crash) Internal', 'Check NotFound', 'Nope Unimplemented',
  ], r.stderr);
  const isRpc = (s: SpanRecord): boolean => attr(s, 'rpc.system.name') === 'grpc';
  const serverSpans = await agent.waitForSpans((s) => isRpc(s) && s.kind === 'server' && pidOf(s) === server.child.pid, 8);
  // The client names its server "localhost" (the certificate's name): the peer port tells the server.
  const clientSpans = await agent.waitForSpans((s) => isRpc(s) && s.kind === 'client' && attr(s, 'network.peer.port') === server.port, 8);
  t.equal(serverSpans.length, 8, 'one server span per call');
  t.equal(clientSpans.length, 8, 'one client span per call');
  const status = (spans: SpanRecord[]): string[] => spans.map((s) => `${String(attr(s, 'rpc.method'))} ${String(attr(s, 'rpc.response.status_code'))}`);
  for (const call of ['lantern.test.Echo/Say OK', 'lantern.test.Echo/Say NOT_FOUND', 'lantern.test.Echo/Say INTERNAL', 'lantern.test.Echo/Repeat OK']) {
    t.ok(status(serverSpans).includes(call), `server: ${call}`);
    t.ok(status(clientSpans).includes(call), `client: ${call}`);
  }
  for (const s of [...serverSpans, ...clientSpans]) t.equal(attr(s, 'tls.protocol.version'), '1.3');
});

t.test('Go TLS counters: probes attached, every call tied to its socket', async (t) => {
  const stats = agent.agent.summary().collectors.sockets ?? {};
  t.ok((stats.tls_go_binaries ?? 0) >= 3, 'three Go binaries analysed');
  t.equal(stats.tls_go_unusable ?? 0, 0, 'none refused');
  t.equal(stats.kernel_tls_no_fd ?? 0, 0, 'every Go TLS call found its fd');
  const parseErrors = Object.entries(stats).filter(([k, v]) => /parseErrors|malformed|syncLosses|Desync/i.test(k) && v > 0);
  t.same(parseErrors, [], 'no parser complained');
});
