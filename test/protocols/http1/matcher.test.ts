// Http1Matcher (FIFO pairing, bounds, gaps) and Http1Connection (both directions wired together:
// methods to the response side, protocol switches, early responses, close), plus the detectors.
import t from 'tap';
import type { ConnectionInfo } from '../../../src/model/connection.js';
import type { HttpExchange, HttpRequestMessage, HttpResponseMessage } from '../../../src/model/http.js';
import { Http1Connection, http1Handler } from '../../../src/protocols/http1/connection.js';
import { looksLikeHttp1Request, looksLikeHttp1Response } from '../../../src/protocols/http1/detect.js';
import { Http1Matcher } from '../../../src/protocols/http1/matcher.js';
import { headerPairs } from '../../../src/model/header-pairs.js';

const conn: ConnectionInfo = {
  pid: 4242, fd: 7, generation: 3, role: 'server', family: 'ipv4', transport: 'tcp',
  local: { address: '127.0.0.1', port: 8080 }, remote: { address: '127.0.0.1', port: 51234 },
};

function request(target: string, startNs: bigint, method = 'GET'): HttpRequestMessage {
  return { kind: 'request', method, target, version: '1.1', headers: headerPairs([]), bodySize: 0, bodyPrefix: new Uint8Array(0), startNs, endNs: startNs };
}

function response(statusCode: number, startNs: bigint, interim = false): HttpResponseMessage {
  return {
    kind: 'response', statusCode, reason: '', version: '1.1', headers: headerPairs([]), bodySize: 0, bodyPrefix: new Uint8Array(0),
    startNs, endNs: startNs, interim, endedByClose: false,
  };
}

/** "ordinal target status" per exchange ("-" when unanswered). */
const pairs = (xs: HttpExchange[]): string[] => xs.map((x) => `${x.ordinal} ${x.request.target} ${x.response?.statusCode ?? '-'}`);

t.test('matcher: FIFO pairing of pipelined requests, ordinals from 0', async (t) => {
  const m = new Http1Matcher(conn);
  m.onRequest(request('/a', 1n));
  m.onRequest(request('/b', 2n));
  m.onRequest(request('/c', 3n));
  t.equal(m.outstanding, 3);
  m.onResponse(response(200, 4n));
  m.onResponse(response(404, 5n));
  t.same(pairs(m.drain()), ['0 /a 200', '1 /b 404']);
  m.onResponse(response(500, 6n));
  const [last] = m.drain();
  t.same(pairs([last!]), ['2 /c 500']);
  t.equal(last?.protocol, 'http1');
  t.equal(last?.connection, conn);
  t.same(m.drain(), []);
});

t.test('matcher: interim responses are counted, never paired', async (t) => {
  const m = new Http1Matcher(conn);
  m.onRequest(request('/upload', 1n, 'POST'));
  m.onResponse(response(100, 2n, true));
  t.same(m.drain(), []);
  m.onResponse(response(201, 3n));
  t.same(pairs(m.drain()), ['0 /upload 201']);
  t.match(m.stats(), { interim: 1, responses: 1, exchanges: 1 });
});

t.test('matcher: close returns the undrained and the unanswered', async (t) => {
  const m = new Http1Matcher(conn);
  m.onRequest(request('/a', 1n));
  m.onRequest(request('/b', 2n));
  m.onResponse(response(200, 3n));
  t.same(pairs(m.close()), ['0 /a 200', '1 /b -']);
  t.match(m.stats(), { exchanges: 1, unanswered: 1 });
  t.equal(m.outstanding, 0);
});

t.test('matcher: outstanding requests are bounded, the oldest given up', async (t) => {
  const m = new Http1Matcher(conn, { maxOutstanding: 256 });
  for (let i = 0; i < 300; i++) m.onRequest(request(`/${i}`, BigInt(i)));
  t.equal(m.outstanding, 256);
  const evicted = m.drain();
  t.equal(evicted.length, 44);
  t.same(evicted.map((x) => x.ordinal), Array.from({ length: 44 }, (_, i) => i));
  t.ok(evicted.every((x) => x.response === null));
  m.onResponse(response(200, 1000n));
  t.same(pairs(m.drain()), ['44 /44 200'], 'the next response answers the oldest kept request');
  t.match(m.stats(), { evicted: 44, unanswered: 44 });
});

t.test('matcher: a response without a request it could answer is an orphan', async (t) => {
  const m = new Http1Matcher(conn);
  m.onResponse(response(200, 5n)); // capture started mid-connection
  m.onRequest(request('/late', 10n));
  m.onResponse(response(200, 7n)); // began before /late did: it answers something never seen
  t.same(m.drain(), []);
  m.onResponse(response(204, 11n));
  t.same(pairs(m.drain()), ['0 /late 204']);
  t.match(m.stats(), { orphanResponses: 2, exchanges: 1 });
});

t.test('matcher: after a response gap, the next response answers the newest request before it', async (t) => {
  const m = new Http1Matcher(conn);
  m.onRequest(request('/a', 1n));
  m.onRequest(request('/b', 3n));
  m.onRequest(request('/c', 9n));
  m.onGap('response');
  m.onResponse(response(200, 5n));
  t.same(pairs(m.drain()), ['0 /a -', '1 /b 200']);
  m.onResponse(response(201, 10n));
  t.same(pairs(m.drain()), ['2 /c 201'], 'then FIFO again');
});

// --- Http1Connection: the two directions wired together ------------------------------------------

const enc = (s: string): Buffer => Buffer.from(s, 'latin1');
const small = (body: string, status = '200 OK'): string => `HTTP/1.1 ${status}\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
const get = (path: string, method = 'GET'): string => `${method} ${path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n`;

t.test('connection: keep-alive exchanges with times and the connection', async (t) => {
  const c = new Http1Connection(conn);
  c.onData('request', enc(get('/one')), 100n);
  c.onData('response', enc(small('first')), 200n);
  c.onData('request', enc(get('/two')), 300n);
  c.onData('response', enc(small('second')), 400n);
  const xs = c.drain();
  t.same(pairs(xs), ['0 /one 200', '1 /two 200']);
  t.match(xs[1], { connection: conn, request: { startNs: 300n, endNs: 300n }, response: { startNs: 400n, bodySize: 6 } });
  t.same(c.drain(), []);
});

t.test('connection: pipelined GET, HEAD, GET — the HEAD response is framed without a body', async (t) => {
  const c = new Http1Connection(conn);
  c.onData('request', enc(get('/a') + get('/b', 'HEAD') + get('/c')), 1n);
  c.onData('response', enc(`${small('aaa')}HTTP/1.1 200 OK\r\nContent-Length: 615\r\n\r\n${small('ccc', '404 Not Found')}`), 2n);
  t.same(pairs(c.drain()), ['0 /a 200', '1 /b 200', '2 /c 404']);
  t.match(c.detailedStats(), { response: { parseErrors: 0 }, matcher: { exchanges: 3 } });
});

t.test('connection: 100-continue exchange pairs the final response', async (t) => {
  const c = new Http1Connection(conn);
  c.onData('request', enc('POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n'), 1n);
  c.onData('response', enc('HTTP/1.1 100 Continue\r\n\r\n'), 2n);
  c.onData('request', enc('0123456789'), 3n);
  c.onData('response', enc(small('', '201 Created')), 4n);
  const xs = c.drain();
  t.same(pairs(xs), ['0 /upload 201']);
  t.match(xs[0], { request: { bodySize: 10, startNs: 1n, endNs: 3n }, response: { startNs: 4n, interim: false } });
  t.match(c.stats(), { interim: 1, exchanges: 1, parseErrors: 0 });
});

t.test('connection: an early 413 waits for its upload to finish', async (t) => {
  const c = new Http1Connection(conn);
  c.onData('request', enc('PUT /big HTTP/1.1\r\nHost: a\r\nContent-Length: 20\r\n\r\n0123456789'), 1n);
  c.onData('response', enc(small('too big', '413 Payload Too Large')), 2n);
  t.same(c.drain(), [], 'held while the request body is still arriving');
  c.onData('request', enc('0123456789'), 3n);
  t.same(pairs(c.drain()), ['0 /big 413']);
  t.equal(c.stats().orphanResponses, 0);
});

t.test('connection: a refused upload cut short by the close is still reported', async (t) => {
  const c = new Http1Connection(conn);
  c.onData('request', enc('POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n'), 1n);
  c.onData('response', enc(small('no', '417 Expectation Failed')), 2n);
  c.onClose(3n);
  const xs = c.drain();
  t.same(pairs(xs), ['0 /up 417']);
  t.equal(xs[0]?.request.bodySize, 0);
});

t.test('connection: WebSocket upgrade — one exchange, then both directions opaque', async (t) => {
  const c = new Http1Connection(conn);
  c.onData('request', enc('GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n'), 1n);
  c.onData('response', enc('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05Hello'), 2n);
  c.onData('request', enc(get('/not-http-any-more')), 3n); // masked frames could look like anything
  c.onData('response', enc(small('neither')), 4n);
  t.same(pairs(c.drain()), ['0 /chat 101']);
  const s = c.detailedStats();
  t.match(s, { request: { parseErrors: 0, messages: 1 }, response: { parseErrors: 0, messages: 1 } });
  t.equal(s.request.opaqueBytes, get('/not-http-any-more').length);
  t.equal(s.response.opaqueBytes, 7 + small('neither').length);
});

t.test('connection: CONNECT tunnel', async (t) => {
  const c = new Http1Connection(conn);
  c.onData('request', enc('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n'), 1n);
  c.onData('response', enc('HTTP/1.1 200 Connection established\r\n\r\n'), 2n);
  c.onData('request', enc('\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03'), 3n);
  c.onData('response', enc('\x16\x03\x03\x00\x7a\x02\x00\x00\x76\x03\x03'), 4n);
  c.onClose(5n);
  t.same(pairs(c.drain()), ['0 example.com:443 200']);
  t.match(c.stats(), { parseErrors: 0, opaqueBytes: 22, unanswered: 0 });
});

t.test('connection: close completes a close-delimited response and gives up the rest', async (t) => {
  const c = new Http1Connection(conn);
  c.onData('request', enc('GET /stream HTTP/1.0\r\n\r\n'), 1n);
  c.onData('response', enc('HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\npart one, '), 2n);
  c.onData('response', enc('part two'), 3n);
  t.same(c.drain(), []);
  c.onClose(4n);
  const xs = c.drain();
  t.same(pairs(xs), ['0 /stream 200']);
  t.match(xs[0]?.response, { bodySize: 18, endedByClose: true, endNs: 3n });

  const d = new Http1Connection(conn);
  d.onData('request', enc(get('/never-answered')), 1n);
  d.onClose(2n);
  t.same(pairs(d.drain()), ['0 /never-answered -']);
  d.onData('request', enc(get('/after-close')), 3n);
  t.same(d.drain(), [], 'nothing after close');
});

t.test('connection: a response gap loses the answer in flight, not the rest', async (t) => {
  const c = new Http1Connection(conn);
  c.onData('request', enc(get('/a', 'HEAD')), 1n);
  c.onData('response', enc('HTTP/1.1 200 OK\r\nContent-Le'), 2n);
  c.onGap('response');
  c.onData('request', enc(get('/b', 'HEAD')), 3n);
  c.onData('response', enc('HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n'), 4n); // HEAD: no body follows
  c.onData('request', enc(get('/c')), 5n);
  c.onData('response', enc(small('c')), 6n);
  t.same(pairs(c.drain()), ['0 /a -', '1 /b 200', '2 /c 200']);
  t.match(c.stats(), { parseErrors: 0, orphanResponses: 0 });
});

t.test('connection: nginx sendfile — the file is a gap of known size, nothing is lost', async (t) => {
  const c = new Http1Connection(conn);
  c.onData('request', enc(get('/big.iso')), 1n);
  c.onData('response', enc('HTTP/1.1 200 OK\r\nServer: nginx/1.24.0\r\nContent-Type: application/octet-stream\r\nContent-Length: 1048576\r\n\r\n'), 2n);
  c.onGap('response', 1_000_000, 3n);
  c.onGap('response', 48_576, 4n);
  c.onData('request', enc(get('/next')), 5n);
  c.onData('response', enc(small('next')), 6n);
  const xs = c.drain();
  t.same(pairs(xs), ['0 /big.iso 200', '1 /next 200']);
  t.match(xs[0]?.response, { bodySize: 1048576, endNs: 4n, bodyPrefix: new Uint8Array(0) });
  t.match(c.stats(), { parseErrors: 0, resyncs: 0, orphanResponses: 0, gapBytes: 1048576 });
});

t.test('connection: an upload beyond the capture bound completes through its gap', async (t) => {
  const c = new Http1Connection(conn);
  c.onData('request', enc(`PUT /blob HTTP/1.1\r\nHost: a\r\nContent-Length: 65536\r\n\r\n${'z'.repeat(16000)}`), 1n);
  c.onGap('request', 65536 - 16000, 1n);
  c.onData('response', enc(small('', '201 Created')), 2n);
  t.same(pairs(c.drain()), ['0 /blob 201']);
});

t.test('connection: a gap past the end of a response body', async (t) => {
  const c = new Http1Connection(conn);
  c.onData('request', enc(get('/a') + get('/b') + get('/c')), 1n);
  c.onData('response', enc('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n'), 2n);
  c.onGap('response', 100 + 30, 3n); // the body, then the start of the answer to /b
  c.onData('response', enc(`ength: 0\r\n\r\n${small('c')}`), 4n);
  // /a completed by the gap; /b's answer lost its start; the next one found answers the newest
  // request before it (/c), and /b is given up.
  t.same(pairs(c.drain()), ['0 /a 200', '1 /b -', '2 /c 200']);
});

t.test('connection: a request gap orphans its response, the next exchange pairs', async (t) => {
  const c = new Http1Connection(conn);
  c.onData('request', enc('GET /lost HTTP/1.1\r\nHo'), 1n);
  c.onGap('request');
  c.onData('request', enc('st: a\r\n\r\n'), 2n);
  c.onData('response', enc(small('for /lost')), 3n);
  c.onData('request', enc(get('/next')), 4n);
  c.onData('response', enc(small('for /next')), 5n);
  t.same(pairs(c.drain()), ['0 /next 200']);
  t.match(c.stats(), { orphanResponses: 1, truncated: 1 });
});

t.test('connection: found mid-life, the first response is an orphan', async (t) => {
  const c = new Http1Connection(conn);
  c.onGap('request');
  c.onGap('response');
  c.onData('response', enc('t of a body\r\n' + small('late')), 1n);
  c.onData('request', enc(get('/x')), 2n);
  c.onData('response', enc(small('x')), 3n);
  t.same(pairs(c.drain()), ['0 /x 200']);
  t.match(c.stats(), { orphanResponses: 1, parseErrors: 0 });
});

t.test('connection: ProtocolSession methods and flat stats', async (t) => {
  const c = http1Handler.open(conn);
  c.data('request', enc(get('/s')), 1n);
  c.data('response', enc(small('s')), 2n);
  c.gap('response', 100, 3n);
  c.close(4n);
  t.same(pairs(c.drain() as HttpExchange[]), ['0 /s 200']);
  const s = c.stats();
  for (const key of ['messages', 'parseErrors', 'resyncs', 'bytes', 'exchanges', 'unanswered', 'orphanResponses', 'evicted']) t.type(s[key], 'number', key);
  t.equal(s.messages, 2);
  t.equal(s.bytes, get('/s').length + small('s').length);
  t.equal(http1Handler.kernelId, 1);
});

// --- detection of a connection's protocol from its first bytes -----------------------------------

t.test('detect: requests', async (t) => {
  for (const m of ['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE']) {
    t.ok(looksLikeHttp1Request(enc(`${m} /x HTTP/1.1\r\nHost: a\r\n\r\n`)), m);
  }
  t.ok(looksLikeHttp1Request(enc('GET ')), 'a method and SP is enough to start');
  t.ok(looksLikeHttp1Request(enc('GET /very/long/path?that=continues')), 'a partial request line');
  t.notOk(looksLikeHttp1Request(enc('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')), 'the HTTP/2 preface');
  t.notOk(looksLikeHttp1Request(enc('GET / HTTP/2.0\r\n')), 'another version');
  t.notOk(looksLikeHttp1Request(enc('GET /a b HTTP/1.1\r\n')), 'a space in the target');
  t.notOk(looksLikeHttp1Request(enc('GE')), 'too short to tell');
  t.notOk(looksLikeHttp1Request(enc('get / HTTP/1.1\r\n')), 'methods are case-sensitive');
  t.notOk(looksLikeHttp1Request(enc('PROPFIND / HTTP/1.1\r\n')), 'unknown methods are not trusted for classification');
  t.notOk(looksLikeHttp1Request(enc('\x16\x03\x01\x02\x00\x01\x00\x01\xfc')), 'TLS');
  t.notOk(looksLikeHttp1Request(enc('HTTP/1.1 200 OK\r\n')), 'a response');
});

t.test('detect: responses', async (t) => {
  t.ok(looksLikeHttp1Response(enc('HTTP/1.1 200 OK\r\nServer: nginx\r\n\r\n')));
  t.ok(looksLikeHttp1Response(enc('HTTP/1.0 404 Not Found\r\n')));
  t.ok(looksLikeHttp1Response(enc('HTTP/1.1 2')), 'a partial status line');
  t.ok(looksLikeHttp1Response(enc('HTTP/1.1')), 'the version is enough to start');
  t.notOk(looksLikeHttp1Response(enc('HTTP/1.')), 'too short to tell');
  t.notOk(looksLikeHttp1Response(enc('HTTP/2 200\r\n')));
  t.notOk(looksLikeHttp1Response(enc('HTTP/1.1 99 Odd\r\n')), 'status codes have three digits');
  t.notOk(looksLikeHttp1Response(enc('HTTP/1.1 600 Nope\r\n')), 'and lie in 100..599');
  t.notOk(looksLikeHttp1Response(enc('GET / HTTP/1.1\r\n')));
  t.notOk(looksLikeHttp1Response(enc('\x00\x00\x00\x04\x01\x00\x00\x00\x00')), 'an HTTP/2 frame');
});
