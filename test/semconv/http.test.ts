// HTTP exchanges → spans and metrics by the stable OTel HTTP semantic conventions.
import t from 'tap';
import type { ConnectionInfo } from '../../src/model/connection.js';
import type { HeaderList, HttpExchange } from '../../src/model/http.js';
import type { ResourceRecord } from '../../src/model/span.js';
import { capturedHeaderAttributes, isSensitiveHeader } from '../../src/semconv/headers.js';
import { HTTP_CLIENT_DURATION, HTTP_SERVER_DURATION, RESPONSE_MISSING, httpExchangeToMetrics, httpExchangeToSpan } from '../../src/semconv/http.js';
import { type IdSource, RandomIdSource, hexIdSource } from '../../src/semconv/ids.js';
import { hexOfWords } from '../helpers/span-ids.js';
import { redaction } from '../../src/semconv/redaction.js';
import { routeTable, routeTemplateProblem } from '../../src/semconv/routes.js';
import { headerPairs } from '../../src/model/header-pairs.js';

const resource: ResourceRecord = { key: 'pid:42:1', attributes: { 'service.name': 'shop', 'process.pid': 42 } };
const T0 = 1_700_000_000_123_456_789n;

function fixedIds(): IdSource {
  let n = 0;
  return hexIdSource(
    () => `${'a'.repeat(31)}${(++n).toString(16)}`,
    () => `${'b'.repeat(15)}${(++n).toString(16)}`,
  );
}

interface Opts {
  role?: ConnectionInfo['role'];
  method?: string;
  target?: string;
  version?: string;
  headers?: HeaderList;
  status?: number | null;
  responseHeaders?: HeaderList;
  family?: ConnectionInfo['family'];
}

function exchange(o: Opts = {}): HttpExchange {
  const role = o.role ?? 'server';
  const connection: ConnectionInfo = {
    pid: 42, fd: 7, generation: 1, role, family: o.family ?? 'ipv4', transport: 'tcp',
    local: role === 'server' ? { address: '10.0.0.1', port: 8080 } : { address: '10.0.0.1', port: 51000 },
    remote: role === 'server' ? { address: '10.0.0.9', port: 51234 } : { address: '93.184.216.34', port: 80 },
  };
  const status = o.status === undefined ? 200 : o.status;
  return {
    protocol: 'http1',
    connection,
    ordinal: 0,
    request: {
      kind: 'request', method: o.method ?? 'GET', target: o.target ?? '/api/items?id=3', version: o.version ?? '1.1',
      headers: headerPairs(o.headers ?? [['host', 'shop.example:8080'], ['user-agent', 'curl/8.5.0']]),
      bodySize: 12, bodyPrefix: new Uint8Array(), startNs: T0, endNs: T0 + 1_000_000n,
    },
    response: status === null ? null : {
      kind: 'response', statusCode: status, reason: 'X', version: o.version ?? '1.1', headers: headerPairs(o.responseHeaders ?? []),
      bodySize: 345, bodyPrefix: new Uint8Array(), startNs: T0 + 40_000_000n, endNs: T0 + 50_000_000n,
      interim: false, endedByClose: false,
    },
  };
}

t.test('server span: name, kind, times and the full attribute set', async (t) => {
  const s = httpExchangeToSpan(exchange(), resource, fixedIds());
  t.equal(s.name, 'GET', 'method only: no route known, never the raw path');
  t.equal(s.kind, 'server');
  t.equal(s.startTimeUnixNano, T0);
  t.equal(s.endTimeUnixNano, T0 + 50_000_000n, 'ends with the last response byte');
  t.equal(s.traceId, `${'a'.repeat(31)}1`);
  t.equal(s.spanId, `${'b'.repeat(15)}2`);
  t.equal(s.parentSpanId, undefined);
  t.same(s.status, { code: 'unset' });
  t.equal(s.resource, resource);
  t.same(s.attributes, {
    'http.request.method': 'GET',
    'url.path': '/api/items',
    'url.query': 'id=3',
    'url.scheme': 'http',
    'http.response.status_code': 200,
    'server.address': 'shop.example',
    'server.port': 8080,
    'client.address': '10.0.0.9',
    'network.peer.address': '10.0.0.9',
    'network.peer.port': 51234,
    'network.protocol.version': '1.1',
    'network.transport': 'tcp',
    'network.type': 'ipv4',
    'user_agent.original': 'curl/8.5.0',
    'http.request.body.size': 12,
    'http.response.body.size': 345,
  });
});

t.test('client span: url.full, server from Host, no client.address', async (t) => {
  const s = httpExchangeToSpan(exchange({ role: 'client', headers: [['host', 'example.com']], target: '/a/b?x=1&y=2' }), resource, fixedIds());
  t.equal(s.kind, 'client');
  t.equal(s.name, 'GET');
  t.equal(s.attributes['url.full'], 'http://example.com/a/b?x=1&y=2');
  t.equal(s.attributes['server.address'], 'example.com');
  t.equal(s.attributes['server.port'], 80, 'Host without a port means the default port of the scheme');
  t.equal(s.attributes['network.peer.address'], '93.184.216.34');
  t.equal(s.attributes['network.peer.port'], 80);
  t.notOk('client.address' in s.attributes);
});

t.test('url.full and server.* per source', async (t) => {
  const cases: Array<{ name: string; o: Opts; scheme?: 'http' | 'https'; full: string; address: string; port?: number }> = [
    { name: 'Host with port', o: { headers: [['host', 'api.local:9000']], target: '/x' }, full: 'http://api.local:9000/x', address: 'api.local', port: 9000 },
    { name: 'Host with the default port', o: { headers: [['host', 'api.local:80']], target: '/x' }, full: 'http://api.local/x', address: 'api.local', port: 80 },
    { name: 'no Host: remote endpoint', o: { headers: [], target: '/x' }, full: 'http://93.184.216.34/x', address: '93.184.216.34', port: 80 },
    { name: 'https via the scheme option', o: { headers: [['host', 'secure.example']], target: '/' }, scheme: 'https', full: 'https://secure.example/', address: 'secure.example', port: 443 },
    { name: 'IPv6 Host', o: { headers: [['host', '[::1]:8443']], target: '/p' }, full: 'http://[::1]:8443/p', address: '::1', port: 8443 },
    { name: 'absolute-form target (proxy) wins, userinfo dropped', o: { headers: [['host', 'proxy']], target: 'http://u:pw@origin.example:81/r?q=1' }, full: 'http://origin.example:81/r?q=1', address: 'origin.example', port: 81 },
    { name: 'malformed Host falls back to the socket', o: { headers: [['host', 'bad host!']], target: '/' }, full: 'http://93.184.216.34/', address: '93.184.216.34', port: 80 },
    { name: 'credentials in the query are redacted', o: { headers: [['host', 's3']], target: '/o?X-Amz-Signature=abc&part=1&sig=zz' }, full: 'http://s3/o?X-Amz-Signature=REDACTED&part=1&sig=REDACTED', address: 's3', port: 80 },
  ];
  for (const c of cases) {
    const s = httpExchangeToSpan(exchange({ role: 'client', ...c.o }), resource, fixedIds(), c.scheme ? { scheme: c.scheme } : {});
    t.equal(s.attributes['url.full'], c.full, `${c.name}: url.full`);
    t.equal(s.attributes['server.address'], c.address, `${c.name}: server.address`);
    t.equal(s.attributes['server.port'], c.port, `${c.name}: server.port`);
    if (c.scheme) t.equal(s.attributes['url.scheme'], c.scheme);
  }
  t.notOk('url.full' in httpExchangeToSpan(exchange(), resource, fixedIds()).attributes, 'never on server spans');
  const noHost = httpExchangeToSpan(exchange({ headers: [] }), resource, fixedIds());
  t.equal(noHost.attributes['server.address'], '10.0.0.1', 'server span without Host: the local endpoint');
  t.equal(noHost.attributes['server.port'], 8080);
  const noQuery = httpExchangeToSpan(exchange({ target: '/plain?' }), resource, fixedIds());
  t.equal(noQuery.attributes['url.path'], '/plain');
  t.notOk('url.query' in noQuery.attributes, 'url.query only when there is one');
});

t.test('status and error.type per kind', async (t) => {
  const cases: Array<[number | null, 'server' | 'client', 'unset' | 'error', string | undefined]> = [
    [200, 'server', 'unset', undefined],
    [200, 'client', 'unset', undefined],
    [302, 'client', 'unset', undefined],
    [404, 'server', 'unset', undefined],
    [404, 'client', 'error', '404'],
    [429, 'client', 'error', '429'],
    [499, 'server', 'unset', undefined],
    [500, 'server', 'error', '500'],
    [503, 'client', 'error', '503'],
    [null, 'server', 'error', RESPONSE_MISSING],
    [null, 'client', 'error', RESPONSE_MISSING],
  ];
  for (const [status, role, code, errorType] of cases) {
    const s = httpExchangeToSpan(exchange({ role, status }), resource, fixedIds());
    t.equal(s.status.code, code, `${status} on a ${role} span: status ${code}`);
    t.equal(s.attributes['error.type'], errorType, `${status} on a ${role} span: error.type ${errorType}`);
    if (status !== null) t.equal(s.status.message, undefined, 'no description: the status code says it');
  }
  const missing = httpExchangeToSpan(exchange({ status: null }), resource, fixedIds());
  t.equal(missing.endTimeUnixNano, T0 + 1_000_000n, 'no response: ends with the request');
  t.notOk('http.response.status_code' in missing.attributes);
  t.notOk('http.response.body.size' in missing.attributes);
});

t.test('methods: known ones as sent, others as _OTHER with the original', async (t) => {
  for (const m of ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']) {
    const s = httpExchangeToSpan(exchange({ method: m, target: m === 'CONNECT' ? 'db:5432' : '/' }), resource, fixedIds());
    t.equal(s.name, m);
    t.equal(s.attributes['http.request.method'], m);
    t.notOk('http.request.method_original' in s.attributes);
  }
  for (const m of ['PROPFIND', 'get', 'FOO']) {
    const s = httpExchangeToSpan(exchange({ method: m }), resource, fixedIds());
    t.equal(s.name, 'HTTP', `${m}: span name HTTP`);
    t.equal(s.attributes['http.request.method'], '_OTHER');
    t.equal(s.attributes['http.request.method_original'], m);
    t.equal(httpExchangeToMetrics(exchange({ method: m }), resource)[0]?.attributes['http.request.method'], '_OTHER');
  }
});

t.test('route: from the configured templates, appended to a server span name only', async (t) => {
  const routes = routeTable(['/api/items']);
  const s = httpExchangeToSpan(exchange(), resource, fixedIds(), { routes });
  t.equal(s.name, 'GET /api/items');
  t.equal(s.attributes['http.route'], '/api/items');
  const c = httpExchangeToSpan(exchange({ role: 'client' }), resource, fixedIds(), { routes });
  t.equal(c.name, 'GET');
  t.notOk('http.route' in c.attributes, 'a client does not know the server\'s routes');
  const table = routeTable(['/users/{id}/orders/:order', '/users/{id}', '/static/*', '/users/me']);
  const cases: Array<[string, string | undefined]> = [
    ['/users/42', '/users/{id}'], ['/users/me', '/users/{id}'], ['/users/42/orders/7?x=1', '/users/{id}/orders/:order'],
    ['/users/', undefined], ['/users/42/', undefined], ['/static/css/site.css', '/static/*'], ['/static', undefined], ['/other', undefined],
  ];
  for (const [target, route] of cases) {
    const span = httpExchangeToSpan(exchange({ target }), resource, fixedIds(), { routes: table });
    t.equal(span.attributes['http.route'], route, `${target}: ${route ?? 'no route'}`);
    t.equal(span.name, route === undefined ? 'GET' : `GET ${route}`);
    t.equal(httpExchangeToMetrics(exchange({ target }), resource, { routes: table })[0]?.attributes['http.route'], route, `${target}: the metric too`);
  }
  t.equal(routeTemplateProblem('/users/{id}'), null);
  t.equal(routeTemplateProblem('/a/*'), null);
  t.match(routeTemplateProblem('users'), /starts with "\/"/);
  t.match(routeTemplateProblem('/a/*/b'), /last segment/);
  t.match(routeTemplateProblem('/a/x{id}'), /not a parameter/);
  t.match(routeTemplateProblem('/a?b=1'), /no query/);
});

t.test('HTTP/1.0, unix sockets, unknown role', async (t) => {
  const s10 = httpExchangeToSpan(exchange({ version: '1.0' }), resource, fixedIds());
  t.equal(s10.attributes['network.protocol.version'], '1.0');
  const ex = exchange({ family: 'unix', headers: [] });
  ex.connection.local = { address: '/run/app.sock', port: 0 };
  ex.connection.remote = { address: '', port: 0 };
  const u = httpExchangeToSpan(ex, resource, fixedIds());
  t.equal(u.attributes['network.transport'], 'unix');
  t.equal(u.attributes['server.address'], '/run/app.sock');
  t.notOk('server.port' in u.attributes);
  t.notOk('network.peer.address' in u.attributes);
  t.notOk('network.type' in u.attributes);
  const unknown = httpExchangeToSpan(exchange({ role: 'unknown', status: 404 }), resource, fixedIds());
  t.equal(unknown.kind, 'internal');
  t.equal(unknown.status.code, 'unset');
  t.same(httpExchangeToMetrics(exchange({ role: 'unknown' }), resource), []);
});

t.test('client.address: Forwarded / X-Forwarded-For first entry, else the socket peer', async (t) => {
  const cases: Array<[HeaderList, string]> = [
    [[['x-forwarded-for', '203.0.113.7, 10.0.0.2']], '203.0.113.7'],
    [[['forwarded', 'for=192.0.2.60;proto=http;by=203.0.113.43, for=198.51.100.17']], '192.0.2.60'],
    [[['forwarded', 'for="[2001:db8:cafe::17]:4711"']], '2001:db8:cafe::17'],
    [[['forwarded', 'for=unknown'], ['x-forwarded-for', '198.51.100.1']], '198.51.100.1'],
    [[['x-forwarded-for', 'not-an-ip']], '10.0.0.9'],
    [[['x-forwarded-for', '203.0.113.7:5555']], '203.0.113.7'],
    [[], '10.0.0.9'],
  ];
  for (const [headers, want] of cases) {
    const s = httpExchangeToSpan(exchange({ headers }), resource, fixedIds());
    t.equal(s.attributes['client.address'], want, JSON.stringify(headers));
    t.equal(s.attributes['network.peer.address'], '10.0.0.9', 'the socket peer stays in network.peer.address');
  }
  const off = httpExchangeToSpan(exchange({ headers: [['x-forwarded-for', '203.0.113.7']] }), resource, fixedIds(), { trustForwardedFor: false });
  t.equal(off.attributes['client.address'], '10.0.0.9');
});

t.test('traceparent: server spans continue the caller, client spans become children of the app span', async (t) => {
  const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  const headers: HeaderList = [['host', 'h'], ['traceparent', tp], ['tracestate', 'rojo=00f067aa0ba902b7, congo=t61rcWkgMzE']];
  for (const role of ['server', 'client'] as const) {
    const s = httpExchangeToSpan(exchange({ role, headers }), resource, fixedIds());
    t.equal(s.traceId, '4bf92f3577b34da6a3ce929d0e0e4736', `${role}: joins the trace`);
    t.equal(s.parentSpanId, '00f067aa0ba902b7', `${role}: parent is the header's parent-id`);
    t.not(s.spanId, '00f067aa0ba902b7', `${role}: a span id of its own`);
    t.equal(s.traceState, 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE');
  }
  const invalid = [
    '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01',
    '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
    '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01',
    'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    'garbage',
  ];
  for (const v of invalid) {
    const s = httpExchangeToSpan(exchange({ headers: [['traceparent', v], ['tracestate', 'a=b']] }), resource, fixedIds());
    t.equal(s.traceId, `${'a'.repeat(31)}1`, `${v}: a new trace`);
    t.equal(s.parentSpanId, undefined);
    t.equal(s.traceState, undefined, 'no tracestate without a valid traceparent');
  }
});

t.test('redaction: no credential header value appears anywhere', async (t) => {
  const secrets = ['Bearer s3cr3t-t0ken', 'session=abcdef0123', 'id=42; HttpOnly', 'key-9f8e7d', 'Basic dXNlcjpwYXNz'];
  const ex = exchange({
    headers: [['host', 'shop.example'], ['authorization', secrets[0]!], ['cookie', secrets[1]!], ['x-api-key', secrets[3]!],
      ['proxy-authorization', secrets[4]!], ['user-agent', 'ua/1'], ['traceparent', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01']],
    responseHeaders: [['set-cookie', secrets[2]!], ['content-type', 'text/plain']],
  });
  for (const role of ['server', 'client'] as const) {
    ex.connection.role = role;
    const json = JSON.stringify(httpExchangeToSpan(ex, resource, fixedIds()), (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
    for (const s of secrets) t.notOk(json.includes(s), `${role}: ${s} is not exported`);
    t.ok(json.includes('ua/1'), 'user-agent is');
    const metrics = JSON.stringify(httpExchangeToMetrics(ex, resource), (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
    for (const s of secrets) t.notOk(metrics.includes(s));
  }
  ex.connection.role = 'server';
  // Opt-in capture: named headers only, credentials replaced.
  const captured = httpExchangeToSpan(ex, resource, fixedIds(), {
    captureRequestHeaders: ['Authorization', 'cookie', 'user-agent', 'x-absent'], captureResponseHeaders: ['set-cookie', 'content-type'],
  });
  t.same(captured.attributes['http.request.header.authorization'], ['REDACTED']);
  t.same(captured.attributes['http.request.header.cookie'], ['REDACTED']);
  t.same(captured.attributes['http.request.header.user-agent'], ['ua/1']);
  t.same(captured.attributes['http.response.header.set-cookie'], ['REDACTED']);
  t.same(captured.attributes['http.response.header.content-type'], ['text/plain']);
  t.notOk('http.request.header.x-absent' in captured.attributes);
  const json = JSON.stringify(captured, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
  for (const s of secrets) t.notOk(json.includes(s), `captured: ${s} is not exported`);
  for (const h of ['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key', 'x-auth-token', 'x-my-secret', 'x-csrf-token']) {
    t.ok(isSensitiveHeader(h), `${h} is sensitive`);
  }
  for (const h of ['content-type', 'accept', 'user-agent', 'host']) t.notOk(isSensitiveHeader(h), `${h} is not`);
  t.same(capturedHeaderAttributes(headerPairs([['accept', 'a'], ['accept', 'b']]), ['accept'], 'http.request.header.'), { 'http.request.header.accept': ['a', 'b'] });
});

t.test('query redaction: url.query and url.full, by pattern and by the configured names', async (t) => {
  const target = '/cb?code=c0de&state=s&client_secret=cs&email=a%40b.c&page=2&X-Goog-Credential=gc';
  const server = httpExchangeToSpan(exchange({ target }), resource, fixedIds());
  t.equal(server.attributes['url.query'], 'code=REDACTED&state=s&client_secret=REDACTED&email=a%40b.c&page=2&X-Goog-Credential=REDACTED');
  const rules = redaction({ queryParams: ['email'], headers: ['x-tenant'] });
  const configured = httpExchangeToSpan(exchange({ target }), resource, fixedIds(), { redaction: rules });
  t.equal(configured.attributes['url.query'], 'code=REDACTED&state=s&client_secret=REDACTED&email=REDACTED&page=2&X-Goog-Credential=REDACTED');
  const client = httpExchangeToSpan(exchange({ role: 'client', target, headers: [['host', 'id.example']] }), resource, fixedIds(), { redaction: rules });
  t.equal(client.attributes['url.full'], 'http://id.example/cb?code=REDACTED&state=s&client_secret=REDACTED&email=REDACTED&page=2&X-Goog-Credential=REDACTED');
  const json = JSON.stringify([server, configured, client], (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
  for (const secret of ['c0de', '=cs&', '=gc']) t.notOk(json.includes(secret), `${secret} never leaves`);
  // Configured header names are redacted in captured headers too.
  const captured = httpExchangeToSpan(exchange({ headers: [['host', 'h'], ['x-tenant', 'acme'], ['x-trace-note', 'n']] }), resource, fixedIds(), {
    redaction: rules, captureRequestHeaders: ['x-tenant', 'x-trace-note'],
  });
  t.same([captured.attributes['http.request.header.x-tenant'], captured.attributes['http.request.header.x-trace-note']], [['REDACTED'], ['n']]);
});

t.test('metrics: one duration point with bounded attributes', async (t) => {
  const [server] = httpExchangeToMetrics(exchange(), resource);
  t.same(server, {
    name: HTTP_SERVER_DURATION, unit: 's', description: 'Duration of HTTP server requests.', value: 0.05,
    attributes: { 'http.request.method': 'GET', 'url.scheme': 'http', 'http.response.status_code': 200, 'network.protocol.version': '1.1' },
    resource, timeUnixNano: T0 + 50_000_000n,
  });
  const [client] = httpExchangeToMetrics(exchange({ role: 'client', status: 503, headers: [['host', 'api:9000']] }), resource, { scheme: 'https' });
  t.equal(client?.name, HTTP_CLIENT_DURATION);
  t.equal(client?.description, 'Duration of HTTP client requests.');
  t.same(client?.attributes, {
    'http.request.method': 'GET', 'url.scheme': 'https', 'http.response.status_code': 503, 'network.protocol.version': '1.1',
    'server.address': 'api', 'server.port': 9000, 'error.type': '503',
  });
  const [missing] = httpExchangeToMetrics(exchange({ status: null }), resource);
  t.equal(missing?.attributes['error.type'], RESPONSE_MISSING);
  t.notOk(missing !== undefined && 'http.response.status_code' in missing.attributes);
  t.equal(missing?.value, 0.001);
  const [notFound] = httpExchangeToMetrics(exchange({ status: 404 }), resource);
  t.notOk(notFound !== undefined && 'error.type' in notFound.attributes, 'a 404 is not a server error');
});

t.test('keep-alive: alike exchanges of a connection share one frozen attribute set, any difference makes its own', async (t) => {
  const ids = fixedIds();
  const first = exchange();
  /** The next exchange on the same connection, with `o` changed. */
  const next = (o: Opts, edit?: (ex: HttpExchange) => void): HttpExchange => {
    const ex = { ...exchange(o), connection: first.connection };
    edit?.(ex);
    return ex;
  };
  const a = httpExchangeToSpan(first, resource, ids);
  const b = httpExchangeToSpan(next({}), resource, ids);
  t.equal(b.attributes, a.attributes, 'the same set');
  t.ok(Object.isFrozen(a.attributes), 'frozen: shared sets never change');
  t.not(b.spanId, a.spanId, 'each span its own ids');
  const [pa] = httpExchangeToMetrics(first, resource);
  const [pb] = httpExchangeToMetrics(next({}), resource);
  t.equal(pb?.attributes, pa?.attributes, 'the duration attributes too');
  // Each input the attributes hold, changed alone: a set of its own, as a fresh connection would give.
  const changes: Array<[string, Opts, ((ex: HttpExchange) => void)?]> = [
    ['path', { target: '/api/other' }],
    ['method', { method: 'POST' }],
    ['status', { status: 500 }],
    ['no response', { status: null }],
    ['Host', { headers: [['host', 'other.example'], ['user-agent', 'curl/8.5.0']] }],
    ['User-Agent', { headers: [['host', 'shop.example:8080'], ['user-agent', 'wget']] }],
    ['X-Forwarded-For', { headers: [['host', 'shop.example:8080'], ['user-agent', 'curl/8.5.0'], ['x-forwarded-for', '203.0.113.7']] }],
    ['Forwarded', { headers: [['host', 'shop.example:8080'], ['user-agent', 'curl/8.5.0'], ['forwarded', 'for=198.51.100.2']] }],
    ['version', { version: '1.0' }],
    ['request body', {}, (ex) => (ex.request.bodySize = 99)],
    ['response body', {}, (ex) => (ex.response!.bodySize = 1)],
  ];
  for (const [what, o, edit] of changes) {
    httpExchangeToSpan(next({}), resource, ids); // back to the first exchange's inputs
    const changed = next(o, edit);
    const alone = { ...changed, connection: { ...first.connection } };
    const s = httpExchangeToSpan(changed, resource, ids);
    t.not(s.attributes, a.attributes, `${what}: another set`);
    t.same(s.attributes, httpExchangeToSpan(alone, resource, ids).attributes, `${what}: as a connection of its own makes it`);
    t.same(httpExchangeToMetrics(changed, resource), httpExchangeToMetrics(alone, resource), `${what}: duration as a connection of its own makes it`);
  }
  t.same(httpExchangeToSpan(next({}), resource, ids).attributes, a.attributes, 'back to the first inputs: the first values');
  const otherResource = { ...resource, key: 'pid:43:1' };
  t.not(httpExchangeToSpan(next({}), otherResource, ids).attributes, a.attributes, 'another resource: another set');
  // Header capture: values the memo does not compare, so never shared.
  const capture = { captureRequestHeaders: ['accept'] };
  const c1 = httpExchangeToSpan(next({ headers: [['host', 'shop.example:8080'], ['accept', 'a/b']] }), resource, ids, capture);
  const c2 = httpExchangeToSpan(next({ headers: [['host', 'shop.example:8080'], ['accept', 'c/d']] }), resource, ids, capture);
  t.same(c1.attributes['http.request.header.accept'], ['a/b']);
  t.same(c2.attributes['http.request.header.accept'], ['c/d'], 'captured headers read per exchange');
});

t.test('a connection per request: alike first exchanges share the view, and the attributes where the peer is the same', async (t) => {
  const ids = fixedIds();
  /** A new connection's first exchange, `edit` changing its connection. */
  const fresh = (o: Opts, edit: (c: ConnectionInfo) => void = () => undefined): HttpExchange => {
    const ex = exchange(o);
    ex.connection = { ...ex.connection, local: { ...ex.connection.local }, remote: { ...ex.connection.remote } };
    edit(ex.connection);
    return ex;
  };
  // Clients: every connection to the same server, from another local port.
  const c1 = fresh({ role: 'client' }, (c) => (c.local.port = 51001));
  const c2 = fresh({ role: 'client' }, (c) => (c.local.port = 51002));
  const a1 = httpExchangeToSpan(c1, resource, ids);
  const [m1] = httpExchangeToMetrics(c1, resource);
  const a2 = httpExchangeToSpan(c2, resource, ids);
  const [m2] = httpExchangeToMetrics(c2, resource);
  t.equal(a2.attributes, a1.attributes, 'client spans: one set');
  t.ok(Object.isFrozen(a2.attributes), 'frozen: shared');
  t.equal(m2?.attributes, m1?.attributes, 'duration attributes: one set');
  // Servers: every client from another port, which network.peer.port says.
  const s1 = fresh({}, (c) => (c.remote.port = 40001));
  const s2 = fresh({}, (c) => (c.remote.port = 40002));
  const b1 = httpExchangeToSpan(s1, resource, ids).attributes;
  const b2 = httpExchangeToSpan(s2, resource, ids).attributes;
  t.equal(b1['network.peer.port'], 40001);
  t.equal(b2['network.peer.port'], 40002, 'each its own peer port');
  t.same({ ...b2, 'network.peer.port': 40001 }, b1, 'the rest alike');
  const other = fresh({}, (c) => (c.remote.address = '10.0.0.10'));
  t.equal(httpExchangeToSpan(other, resource, ids).attributes['client.address'], '10.0.0.10', 'another peer address: its own client.address');
  t.equal(httpExchangeToSpan(fresh({}, (c) => (c.family = 'ipv6')), resource, ids).attributes['network.type'], 'ipv6', 'another family: its own network.type');
  // Without Host the server is the socket's end: never taken from another connection.
  const noHost = (port: number): HttpExchange => fresh({ headers: [] }, (c) => (c.local.port = port));
  t.equal(httpExchangeToSpan(noHost(8081), resource, ids).attributes['server.port'], 8081);
  t.equal(httpExchangeToSpan(noHost(8082), resource, ids).attributes['server.port'], 8082, 'each its own server.port');
  const [p1] = httpExchangeToMetrics(fresh({ role: 'client', headers: [] }, (c) => (c.remote.port = 81)), resource);
  const [p2] = httpExchangeToMetrics(fresh({ role: 'client', headers: [] }, (c) => (c.remote.port = 82)), resource);
  t.equal(p1?.attributes['server.port'], 81);
  t.equal(p2?.attributes['server.port'], 82, 'duration attributes: each its own server.port');
  // Another role or TLS: never the same view.
  const tls = fresh({ role: 'client' }, (c) => (c.tls = {}));
  t.equal(httpExchangeToSpan(tls, resource, ids).attributes['url.scheme'], 'https', 'TLS: its own scheme');
  t.equal(httpExchangeToSpan(fresh({ role: 'client' }), resource, ids).attributes['url.scheme'], 'http', 'then plaintext again');
});

t.test('random ids: lowercase hex, right length, never all zero, unique', async (t) => {
  const ids = new RandomIdSource();
  const seen = new Set<string>();
  const bad: string[] = [];
  // 5,000 of each: 120 KB of random bytes, the source's 32 KiB blocks drawn four times.
  const words: string[] = [];
  for (let i = 0; i < 5000; i++) {
    const span = httpExchangeToSpan(exchange(), resource, ids);
    const tr = span.traceId;
    const sp = span.spanId;
    if (!/^[0-9a-f]{32}$/.test(tr) || /^0+$/.test(tr)) bad.push(tr);
    if (!/^[0-9a-f]{16}$/.test(sp) || /^0+$/.test(sp)) bad.push(sp);
    if (hexOfWords(span.traceId0, span.traceId1, span.traceId2, span.traceId3) !== tr) words.push(tr);
    if (hexOfWords(span.spanId0, span.spanId1) !== sp) words.push(sp);
    seen.add(tr);
  }
  t.same(bad, [], 'every id well-formed');
  t.same(words, [], 'every id\'s words its bytes, as its text says');
  t.equal(seen.size, 5000, 'no repeats');
  const s = httpExchangeToSpan(exchange(), resource);
  t.match(s.traceId, /^[0-9a-f]{32}$/, 'the default IdSource is random');
});
