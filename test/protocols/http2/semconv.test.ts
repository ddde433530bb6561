// HTTP/2 exchanges → spans and metrics: gRPC calls by the RPC conventions (names, status codes and
// the server/client error rules, _OTHER for unknown methods), plain streams by the HTTP ones with
// network.protocol.version "2"; both ends agree on the link id.
import t from 'tap';
import type { Http2Exchange } from '../../../src/model/http2.js';
import type { ResourceRecord } from '../../../src/model/span.js';
import { grpcMethodName, grpcStatusName } from '../../../src/semconv/grpc.js';
import { http2ExchangeToMetrics, http2ExchangeToSpan, http2LinkId } from '../../../src/semconv/http2.js';
import { redaction } from '../../../src/semconv/redaction.js';
import { conventionsFor, createConventions } from '../../../src/semconv/registry.js';
import { routeTable } from '../../../src/semconv/routes.js';
import { hexIdSource } from '../../../src/semconv/ids.js';
import { CLIENT_CONN, HpackEncoder, PREFACE, SERVER_CONN, type Step, data, grpcMessage, headers, runSession, settings } from './builder.js';

const resource: ResourceRecord = { key: 'pid:1', attributes: { 'service.name': 'test' } };
let n = 0;
const ids = hexIdSource(() => (++n).toString(16).padStart(32, '0'), () => (++n).toString(16).padStart(16, '0'));

function call(path: string, trailers: Array<[string, string]> | null, opts: { reset?: Buffer; traceparent?: string } = {}): Step[] {
  const c = new HpackEncoder();
  const s = new HpackEncoder();
  const req: Array<[string, string]> = [[':method', 'POST'], [':scheme', 'http'], [':path', path], [':authority', 'echo.internal:50051'], ['content-type', 'application/grpc'], ['te', 'trailers']];
  if (opts.traceparent !== undefined) req.push(['traceparent', opts.traceparent]);
  const steps: Step[] = [
    ['request', Buffer.concat([PREFACE, settings(), headers(1, c.encode(req)), data(1, grpcMessage('x'), { end: true })])],
  ];
  if (opts.reset !== undefined) steps.push(['request', opts.reset]);
  else if (trailers !== null) {
    steps.push(['response', Buffer.concat([settings(), headers(1, s.encode([[':status', '200'], ['content-type', 'application/grpc']])), data(1, grpcMessage('y')), headers(1, s.encode(trailers), { end: true })])]);
  }
  return steps;
}

const both = (steps: Step[]): { client: Http2Exchange; server: Http2Exchange } => ({
  client: runSession(steps, {}, CLIENT_CONN).exchanges[0]!,
  server: runSession(steps, {}, SERVER_CONN).exchanges[0]!,
});

t.test('a successful unary call', async (t) => {
  const { client, server } = both(call('/lantern.test.Echo/Say', [['grpc-status', '0']]));
  const cs = http2ExchangeToSpan(client, resource, ids);
  const ss = http2ExchangeToSpan(server, resource, ids);
  t.equal(cs.name, 'lantern.test.Echo/Say');
  t.equal(cs.kind, 'client');
  t.equal(ss.kind, 'server');
  t.match(cs.attributes, {
    'rpc.system.name': 'grpc', 'rpc.method': 'lantern.test.Echo/Say', 'rpc.response.status_code': 'OK',
    'server.address': 'echo.internal', 'server.port': 50051, 'network.protocol.name': 'http', 'network.protocol.version': '2',
    'network.transport': 'tcp', 'network.type': 'ipv4', 'network.peer.address': '127.0.0.1', 'network.peer.port': 50051,
    'lantern.rpc.request.messages': 1, 'lantern.rpc.response.messages': 1,
  });
  t.equal(cs.attributes['error.type'], undefined);
  t.equal(cs.attributes['rpc.service'], undefined, 'deprecated in favour of the fully-qualified rpc.method');
  t.same(cs.status, { code: 'unset' });
  t.match(ss.attributes, { 'client.address': '127.0.0.1', 'client.port': 40000 });
  t.equal(http2LinkId(client), http2LinkId(server), 'both ends name the call alike');
  t.equal(client.ordinal, server.ordinal);
  const [cm] = http2ExchangeToMetrics(client, resource);
  const [sm] = http2ExchangeToMetrics(server, resource);
  t.equal(cm?.name, 'rpc.client.call.duration');
  t.equal(sm?.name, 'rpc.server.call.duration');
  t.equal(cm?.unit, 's');
  t.same(cm?.attributes, { 'rpc.system.name': 'grpc', 'rpc.method': 'lantern.test.Echo/Say', 'rpc.response.status_code': 'OK', 'server.address': 'echo.internal', 'server.port': 50051 });
  t.equal(conventionsFor(client).toSpan(client, resource, ids).name, 'lantern.test.Echo/Say', 'registered for protocol http2');
});

t.test('NOT_FOUND: an error for the client, not for the server', async (t) => {
  const { client, server } = both(call('/grpc.health.v1.Health/Check', [['grpc-status', '5'], ['grpc-message', 'unknown%20service']]));
  const cs = http2ExchangeToSpan(client, resource, ids);
  const ss = http2ExchangeToSpan(server, resource, ids);
  t.equal(cs.attributes['rpc.response.status_code'], 'NOT_FOUND');
  t.equal(cs.attributes['error.type'], 'NOT_FOUND');
  t.same(cs.status, { code: 'error', message: 'unknown service' });
  t.equal(ss.attributes['rpc.response.status_code'], 'NOT_FOUND');
  t.equal(ss.attributes['error.type'], undefined);
  t.same(ss.status, { code: 'unset' });
});

t.test('INTERNAL: an error on both ends', async (t) => {
  const { client, server } = both(call('/lantern.test.Echo/Say', [['grpc-status', '13'], ['grpc-message', 'the handler failed']]));
  for (const ex of [client, server]) {
    const s = http2ExchangeToSpan(ex, resource, ids);
    t.equal(s.attributes['error.type'], 'INTERNAL');
    t.equal(s.status.code, 'error');
    t.equal(http2ExchangeToMetrics(ex, resource)[0]?.attributes['error.type'], 'INTERNAL');
  }
});

t.test('UNIMPLEMENTED: the method is not one the server knows: _OTHER, span named grpc', async (t) => {
  const { client, server } = both(call('/lantern.test.Echo/Nope', [['grpc-status', '12']]));
  const cs = http2ExchangeToSpan(client, resource, ids);
  t.equal(cs.name, 'grpc');
  t.equal(cs.attributes['rpc.method'], '_OTHER');
  t.equal(cs.attributes['rpc.method_original'], 'lantern.test.Echo/Nope');
  t.equal(http2ExchangeToSpan(server, resource, ids).attributes['error.type'], 'UNIMPLEMENTED', 'a server-side error too');
  t.equal(http2ExchangeToMetrics(client, resource)[0]?.attributes['rpc.method'], '_OTHER', 'bounded cardinality');
});

t.test('no status: reset streams take the status a client library reports; missing ones are response_missing', async (t) => {
  const rstCancel = Buffer.alloc(13);
  rstCancel.writeUIntBE(4, 0, 3);
  rstCancel[3] = 3;
  rstCancel.writeUInt32BE(1, 5);
  rstCancel.writeUInt32BE(8, 9);
  const { client } = both(call('/lantern.test.Echo/Slow', null, { reset: rstCancel }));
  const s = http2ExchangeToSpan(client, resource, ids);
  t.equal(s.attributes['rpc.response.status_code'], 'CANCELLED');
  t.equal(s.attributes['lantern.http2.reset'], 'CANCEL');
  t.equal(s.attributes['error.type'], 'CANCELLED');
  const open = both(call('/lantern.test.Echo/Say', null)).client;
  const o = http2ExchangeToSpan(open, resource, ids);
  t.equal(o.attributes['rpc.response.status_code'], undefined);
  t.equal(o.attributes['error.type'], 'response_missing');
  t.equal(o.status.code, 'error');
});

t.test('traceparent in the request metadata joins the caller\'s trace', async (t) => {
  const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  const { server } = both(call('/lantern.test.Echo/Say', [['grpc-status', '0']], { traceparent: tp }));
  const s = http2ExchangeToSpan(server, resource, ids);
  t.equal(s.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
  t.equal(s.parentSpanId, '00f067aa0ba902b7');
});

t.test('plain HTTP/2 streams are HTTP spans with network.protocol.version 2', async (t) => {
  const c = new HpackEncoder();
  const s = new HpackEncoder();
  const steps: Step[] = [
    ['request', Buffer.concat([PREFACE, settings(), headers(1, c.encode([[':method', 'GET'], [':scheme', 'http'], [':path', '/status?x=1'], [':authority', '127.0.0.1:8080'], ['user-agent', 'h2load nghttp2/1.52.0']]), { end: true })])],
    ['response', Buffer.concat([settings(), headers(1, s.encode([[':status', '200'], ['content-length', '3']])), data(1, 'ok\n', { end: true })])],
  ];
  const { client, server } = both(steps);
  const cs = http2ExchangeToSpan(client, resource, ids);
  t.equal(cs.name, 'GET');
  t.match(cs.attributes, {
    'http.request.method': 'GET', 'url.path': '/status', 'url.query': 'x=1', 'url.scheme': 'http', 'http.response.status_code': 200,
    'server.address': '127.0.0.1', 'server.port': 8080, 'network.protocol.version': '2', 'url.full': 'http://127.0.0.1:8080/status?x=1',
    'user_agent.original': 'h2load nghttp2/1.52.0', 'http.response.body.size': 3,
  });
  const [m] = http2ExchangeToMetrics(server, resource);
  t.equal(m?.name, 'http.server.request.duration');
  t.equal(m?.attributes['network.protocol.version'], '2');
  t.equal(http2LinkId(client), http2LinkId(server));
});

t.test('what leaves of gRPC: grpc-message with its quoted values redacted, a :path query without its secrets', async (t) => {
  const { client, server } = both(call('/lantern.test.Users/Get', [['grpc-status', '5'], ['grpc-message', 'user "bob@example.com" not found, token \'tk-123\' unknown']]));
  t.same(http2ExchangeToSpan(client, resource, ids).status, { code: 'error', message: 'user "?" not found, token \'?\' unknown' });
  t.same(http2ExchangeToSpan(server, resource, ids).status, { code: 'unset' });
  const odd = both(call('/not/grpc?access_token=t0k&x=1', [['grpc-status', '12']])).client;
  const span = http2ExchangeToSpan(odd, resource, ids, { redaction: redaction({ queryParams: ['x'] }) });
  t.equal(span.attributes['rpc.method_original'], '/not/grpc?access_token=REDACTED&x=REDACTED');
  t.equal(http2ExchangeToSpan(odd, resource, ids).attributes['rpc.method_original'], '/not/grpc?access_token=REDACTED&x=1');
});

t.test('plain HTTP/2 streams take the configured conventions: header capture, routes, redaction', async (t) => {
  const c = new HpackEncoder();
  const s = new HpackEncoder();
  const steps: Step[] = [
    ['request', Buffer.concat([PREFACE, settings(), headers(1, c.encode([[':method', 'GET'], [':scheme', 'https'], [':path', '/users/7?api_key=k1&tab=2'],
      [':authority', 'api:443'], ['authorization', 'Bearer b1'], ['x-tenant', 'acme'], ['accept', 'application/json']]), { end: true })])],
    ['response', Buffer.concat([settings(), headers(1, s.encode([[':status', '200'], ['content-type', 'application/json'], ['set-cookie', 'sid=s1']])), data(1, '{}', { end: true })])],
  ];
  const { server } = both(steps);
  const conventions = createConventions({
    captureRequestHeaders: ['authorization', 'x-tenant', 'accept'], captureResponseHeaders: ['content-type', 'set-cookie'],
    routes: routeTable(['/users/{id}']), redaction: redaction({ headers: ['x-tenant'] }),
  });
  const span = conventions(server).toSpan(server, resource, ids);
  t.equal(span.name, 'GET /users/{id}');
  t.match(span.attributes, {
    'http.route': '/users/{id}', 'url.query': 'api_key=REDACTED&tab=2', 'url.scheme': 'https',
    'http.request.header.authorization': ['REDACTED'], 'http.request.header.x-tenant': ['REDACTED'], 'http.request.header.accept': ['application/json'],
    'http.response.header.content-type': ['application/json'], 'http.response.header.set-cookie': ['REDACTED'],
  });
  t.equal(conventions(server).toMetrics(server, resource)[0]?.attributes['http.route'], '/users/{id}');
  const json = JSON.stringify(span, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
  for (const secret of ['k1', 'b1', 'acme', 's1']) t.notOk(json.includes(secret), `${secret} stays on the host`);
});

t.test('a lost :status is left out, not reported as status 0 or an error', async (t) => {
  const c = new HpackEncoder();
  const s = new HpackEncoder();
  s.encode([[':status', '203']]); // history before the capture
  const steps: Step[] = [
    ['request', headers(3, c.encode([[':method', 'GET'], [':scheme', 'http'], [':path', '/x'], [':authority', 'h']]), { end: true })],
    ['response', headers(3, s.encode([[':status', '203']]), { end: true })],
  ];
  const ex = runSession(steps).exchanges[0]!;
  t.equal(ex.headersLost, true);
  const span = http2ExchangeToSpan(ex, resource, ids);
  t.equal(span.attributes['http.response.status_code'], undefined);
  t.equal(span.attributes['error.type'], undefined);
  t.equal(span.attributes['lantern.http2.headers_lost'], true);
  t.same(span.status, { code: 'unset' });
});

t.test('helpers', async (t) => {
  t.equal(grpcMethodName('/a.B/C'), 'a.B/C');
  t.equal(grpcMethodName('/B/C'), 'B/C');
  t.equal(grpcMethodName('a.B/C'), null);
  t.equal(grpcMethodName('/a.B/C/D'), null);
  t.equal(grpcMethodName('//C'), null);
  t.equal(grpcMethodName('/a.B/'), null);
  t.equal(grpcStatusName(16), 'UNAUTHENTICATED');
  t.equal(grpcStatusName(99), '99');
});
