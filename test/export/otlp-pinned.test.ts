// The hot path's output pinned byte for byte. Exchanges parsed from raw HTTP/1 bytes by the agent's
// own session (http1Handler), turned into spans and duration points by the semantic conventions,
// encoded as the --otlp-file JSON line and as the gRPC protobuf body: each digest must equal the one
// the code before the hot-path work produced (commit 3a6f8d9). The SDK oracle of otlp-spans.test.ts
// checks meaning; this checks that speed-ups (token constants, cached encodings, shared statuses,
// memoised Host parsing, copy strategies) changed no byte: attribute order, escaping, numbers.
import { createHash } from 'node:crypto';
import t from 'tap';
import { encodeTraceRequest, traceRequestJsonLine } from '../../src/export/otlp-spans.js';
import { ResourceCache } from '../../src/export/resource-cache.js';
import type { ConnectionInfo } from '../../src/model/connection.js';
import type { HttpExchange } from '../../src/model/http.js';
import type { SpanRecord } from '../../src/model/span.js';
import { http1Handler } from '../../src/protocols/http1/connection.js';
import { httpExchangeToMetrics, httpExchangeToSpan } from '../../src/semconv/http.js';
import { type IdSource, hexIdSource } from '../../src/semconv/ids.js';
import { LONG_TEXT, PLAIN_PROCESS, UNICODE_PROCESS, resourceOf, span } from './fixtures.js';

const T0 = 1_764_000_000_000_000_000n;
const CRLF = '\r\n';

/** Each head's lines, as different clients and servers write them (case, order, odd spacing). */
const REQUESTS = [
  ['GET /lantern-bench HTTP/1.1', 'Host: 127.0.0.1:18080', 'User-Agent: lantern-loadgen', 'Accept-Encoding: gzip'],
  ['GET /users/42?token=s3cr3t&tab=1#frag HTTP/1.1', 'host: shop.example', 'user-agent: curl/8.5.0', 'accept: */*', 'X-Forwarded-For: 203.0.113.7, 10.0.0.1'],
  ['POST /api/items HTTP/1.1', 'HOST: [2001:db8::1]:8443', 'Content-Type: application/json', 'Content-Length: 11', 'traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', 'tracestate: congo=t61rcWkgMzE', 'Authorization: Bearer abc.def.ghi', 'Cookie: session=1'],
  ['HEAD / HTTP/1.0', 'Forwarded: for="198.51.100.17:4711";proto=http', 'X-Custom-Header: Ünïcode value', 'Accept-Language: de'],
  ['PROPFIND /dav/ HTTP/1.1', 'Host: dav.example:80', 'Depth: 1', 'User-Agent:   spaced   out   '],
  ['GET http://proxy.example:3128/abs?q=1 HTTP/1.1', 'Host: ignored.example', 'Connection: keep-alive', 'Via: 1.1 proxy'],
  ['DELETE /things/7 HTTP/1.1', 'Host: api.example:8080', 'User-Agent: Go-http-client/1.1', 'Accept-Encoding: gzip', 'If-None-Match: "x"'],
  ['OPTIONS * HTTP/1.1', 'Host: star.example'],
];
const BODIES = ['', '', '{"a":"b"}\r\n', '', '', '', '', ''];
const RESPONSES = [
  ['HTTP/1.1 200 OK', 'Server: nginx/1.22.1', 'Date: Thu, 03 Dec 2026 17:48:00 GMT', 'Content-Type: text/plain', 'Content-Length: 3', 'Connection: keep-alive'],
  ['HTTP/1.1 404 Not Found', 'content-length: 0', 'set-cookie: a=b'],
  ['HTTP/1.1 500 Internal Server Error', 'Transfer-Encoding: chunked', 'ETag: "v1"'],
  ['HTTP/1.0 204 No Content', 'X-Request-Id: 42'],
  ['HTTP/1.1 207 Multi-Status', 'Content-Length: 2'],
  ['HTTP/1.1 302 Found', 'Location: /elsewhere', 'Content-Length: 0'],
  ['HTTP/1.1 401 Unauthorized', 'WWW-Authenticate: Basic', 'Content-Length: 0'],
  null, // no response: the connection closes first
];
const RESPONSE_BODIES = ['ok\n', '', '5\r\nhello\r\n0\r\n\r\n', '', 'ok', '', '', ''];

function connection(role: 'client' | 'server', family: 'ipv4' | 'ipv6', i: number): ConnectionInfo {
  const [lo, peer] = family === 'ipv4' ? ['127.0.0.1', '10.1.2.3'] : ['::1', '2001:db8::9'];
  return role === 'server'
    ? { pid: 100, fd: 10 + i, generation: i, role, family, transport: 'tcp', local: { address: lo, port: 18080 }, remote: { address: peer, port: 40000 + i } }
    : { pid: 200, fd: 20 + i, generation: i, role, family, transport: 'tcp', local: { address: lo, port: 50000 + i }, remote: { address: peer, port: 18080 } };
}

/** Every request above on its own connection, for one role and family; two requests on the first. */
function exchanges(role: 'client' | 'server', family: 'ipv4' | 'ipv6'): HttpExchange[] {
  const out: HttpExchange[] = [];
  for (let i = 0; i < REQUESTS.length; i++) {
    const session = http1Handler.open(connection(role, family, i));
    const at = T0 + BigInt(i) * 1_000_000_000n;
    const times = i === 0 ? 2 : 1;
    for (let k = 0; k < times; k++) {
      const t0 = at + BigInt(k) * 10_000_000n;
      session.data('request', Buffer.from(REQUESTS[i]!.join(CRLF) + CRLF + CRLF + BODIES[i]!, 'latin1'), t0);
      const response = RESPONSES[i];
      if (response !== null && response !== undefined) {
        session.data('response', Buffer.from(response.join(CRLF) + CRLF + CRLF + RESPONSE_BODIES[i]!, 'latin1'), t0 + 1_234_567n);
      }
    }
    session.close(at + 900_000_000n);
    out.push(...(session.drain() as HttpExchange[]));
  }
  return out;
}

function fixedIds(): IdSource {
  let n = 0;
  return hexIdSource(
    () => (++n).toString(16).padStart(32, 'c'),
    () => (++n).toString(16).padStart(16, 'd'),
  );
}

const sha256 = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');
const bigints = (_: string, v: unknown): unknown => (typeof v === 'bigint' ? `${v}n` : v);

function httpOutput(): { spans: SpanRecord[]; points: string } {
  const ids = fixedIds();
  const spans: SpanRecord[] = [];
  const points: unknown[] = [];
  let pid = 0;
  for (const role of ['client', 'server'] as const) {
    for (const family of ['ipv4', 'ipv6'] as const) {
      const resource = resourceOf(`${role}-${family}`, ++pid);
      for (const ex of exchanges(role, family)) {
        // The pipeline's order: points first, then the span.
        points.push(httpExchangeToMetrics(ex, resource));
        spans.push(httpExchangeToSpan(ex, resource, ids));
      }
    }
  }
  return { spans, points: JSON.stringify(points, bigints) };
}

/** sha256 of each output as commit 3a6f8d9 wrote it (this test run against that build). */
const PINNED = {
  spans: 36,
  json: '254c76458a0834a5acea3a20122f0f43f06e13bb0955d4ad3ce97304faf08821',
  proto: '54904f634cc24ee25240f5fd74587b9fc5bfcbd7d90c0ca5bcb8e69c92d1cca7',
  points: '579ce938c72f63dbea145cc00266ea60b11e7d0867803be932f2944142440058',
  fixtureJson: '73b51061c1535363659bc083a86ab9c1a11679f74e6b0bdde506dea00abad18c',
  fixtureProto: '89b899463441bfbab1222fe02fc9e6daa3c20f425644cb0b81c19dfa357ce721',
};

t.test('HTTP/1 bytes → spans and points → OTLP JSON line and protobuf: the same bytes as before', async (t) => {
  const { spans, points } = httpOutput();
  const cache = new ResourceCache(16, { 'host.name': 'node-1' });
  t.equal(spans.length, PINNED.spans, 'spans');
  t.equal(sha256(traceRequestJsonLine(spans, cache)), PINNED.json, 'JSON line');
  t.equal(sha256(encodeTraceRequest(spans, cache)), PINNED.proto, 'protobuf');
  t.equal(sha256(points), PINNED.points, 'duration points');
});

t.test('varied span records → the same bytes as before', async (t) => {
  const spans = [
    span(PLAIN_PROCESS, 0),
    span(UNICODE_PROCESS, 1, { kind: 'client', parentSpanId: '00f067aa0ba902b7', traceState: 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7' }),
    span(PLAIN_PROCESS, 2, { kind: 'server', parentSpanId: '1111111111111111', status: { code: 'error', message: 'Internal Server Error — 500 "quoted"\n' } }),
    span(UNICODE_PROCESS, 3, { kind: 'internal', status: { code: 'ok' }, attributes: { big: 2 ** 40, neg: -7, ratio: 0.25, nan: NaN, inf: -Infinity, yes: true, no: false, list: ['a', 'é', ''], nums: [1, 2.5], empty: '', 'db.query.text': LONG_TEXT, 'a.key.longer.than.sixteen.bytes': 'v', k: 'x'.repeat(63), k2: 'y'.repeat(65) } }),
    span(PLAIN_PROCESS, 4, { kind: 'producer', name: '' }),
    span(PLAIN_PROCESS, 5, { kind: 'consumer', parentSpanId: 'abcdefabcdefabcd', attributes: {} }),
  ];
  const cache = new ResourceCache(16, { 'host.name': 'node-1' });
  t.equal(sha256(traceRequestJsonLine(spans, cache)), PINNED.fixtureJson, 'JSON line');
  t.equal(sha256(encodeTraceRequest(spans, cache)), PINNED.fixtureProto, 'protobuf');
});
