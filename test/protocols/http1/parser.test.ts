// Http1Parser: table-driven cases over realistic streams (what curl and nginx put on the wire), each
// also fed split at every byte offset and one byte at a time, which must change nothing but times.
import t from 'tap';
import type { HttpMessage } from '../../../src/model/http.js';
import { Http1Parser, type Http1ErrorReason, type Http1ParserOptions, type Http1ParserStats, type Http1Side } from '../../../src/protocols/http1/parser.js';

const NGINX_DATE = 'Date: Mon, 24 Nov 2025 20:21:00 GMT\r\n';
const CURL = 'User-Agent: curl/8.5.0\r\nAccept: */*\r\n';

/** One chunk of a chunked body (RFC 9112 §7.1), size in lower-case hex as nginx writes it. */
const chunk = (data: string, ext = ''): string => `${data.length.toString(16)}${ext}\r\n${data}\r\n`;

const page = '<!DOCTYPE html>\n<html><body><h1>Welcome to nginx!</h1></body></html>\n';
const nginx200 = `HTTP/1.1 200 OK\r\nServer: nginx/1.24.0\r\n${NGINX_DATE}Content-Type: text/html\r\nContent-Length: ${page.length}\r\n`
  + `Last-Modified: Mon, 24 Nov 2025 19:00:00 GMT\r\nConnection: keep-alive\r\nETag: "6923a8f0-47"\r\nAccept-Ranges: bytes\r\n\r\n${page}`;
const curlGet = (path: string, host = 'localhost:8080'): string => `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${CURL}\r\n`;
const json1 = '{"items":[{"id":1,"name":"lamp"},{"id":2,"name":"wick"}],';
const json2 = '"next":null}';
const nginxChunked = `HTTP/1.1 200 OK\r\nServer: nginx/1.24.0\r\n${NGINX_DATE}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n`
  + `Connection: keep-alive\r\n\r\n${chunk(json1)}${chunk(json2)}0\r\n\r\n`;
const upload = 'x'.repeat(2048);
const curlExpect = `POST /upload HTTP/1.1\r\nHost: localhost:8080\r\n${CURL}Content-Length: 2048\r\nContent-Type: application/octet-stream\r\n`
  + `Expect: 100-continue\r\n\r\n${upload}`;
const created = `HTTP/1.1 201 Created\r\nServer: nginx/1.24.0\r\n${NGINX_DATE}Content-Length: 0\r\nConnection: keep-alive\r\n\r\n`;
const headResponse = `HTTP/1.1 200 OK\r\nServer: nginx/1.24.0\r\n${NGINX_DATE}Content-Type: text/html\r\nContent-Length: 615\r\nConnection: keep-alive\r\n\r\n`;
const notModified = `HTTP/1.1 304 Not Modified\r\nServer: nginx/1.24.0\r\n${NGINX_DATE}Last-Modified: Mon, 24 Nov 2025 19:00:00 GMT\r\n`
  + 'Connection: keep-alive\r\nETag: "6923a8f0-267"\r\n\r\n';
const small = (body: string, status = '200 OK'): string => `HTTP/1.1 ${status}\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
// RFC 6455 §5.7: a masked text frame "Hello", as a client sends it after the upgrade.
const WS_CLIENT_FRAME = '\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58';
const WS_SERVER_FRAME = '\x81\x05\x48\x65\x6c\x6c\x6f';
// The first bytes of a TLS ClientHello / ServerHello record (RFC 8446 §5.1).
const TLS_CLIENT_HELLO = '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x8a\x11\x00\x00\x20\x42';
const TLS_SERVER_HELLO = '\x16\x03\x03\x00\x7a\x02\x00\x00\x76\x03\x03\x5d\x2c\x00';

interface Case {
  name: string;
  side: Http1Side;
  /** Parts of the stream, with a capture gap between each two. */
  parts: string[];
  /** The gap after each part but the last: skip(n) when n bytes are known missing, else reset(). */
  between?: Array<number | 'reset'>;
  /** Response side: expectResponseTo() for each, before feeding. */
  methods?: string[];
  opts?: Http1ParserOptions;
  /** Call finish() at the end (the connection closed). */
  close?: boolean;
  /** One line per message, see summary(). */
  expect: string[];
  stats?: Partial<Http1ParserStats>;
  error?: Http1ErrorReason;
}

const cases: Case[] = [
  // --- requests ---
  { name: 'curl GET', side: 'request', parts: [curlGet('/index.html')], expect: ['GET /index.html HTTP/1.1 body=0'], stats: { parseErrors: 0 } },
  {
    name: 'keep-alive: three requests one after another', side: 'request',
    parts: [curlGet('/a') + curlGet('/b') + curlGet('/c?x=1&y=%20')],
    expect: ['GET /a HTTP/1.1 body=0', 'GET /b HTTP/1.1 body=0', 'GET /c?x=1&y=%20 HTTP/1.1 body=0'],
  },
  {
    name: 'POST with Content-Length', side: 'request',
    parts: [`POST /api/items HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\nContent-Length: 14\r\n\r\n{"name":"oil"}${curlGet('/next')}`],
    expect: ['POST /api/items HTTP/1.1 body=14 {"name":"oil"}', 'GET /next HTTP/1.1 body=0'],
  },
  {
    name: 'chunked request with extensions and trailers', side: 'request',
    parts: [`PUT /files/log HTTP/1.1\r\nHost: store\r\nTransfer-Encoding: chunked\r\nTrailer: Checksum\r\n\r\n`
      + `${chunk('hello ', ';name="a;b"')}${chunk('world', ' ; last')}0;done\r\nChecksum: 5eb63bbbe01eeed093cb22bb8f5acdc3\r\nX-Other: 1\r\n\r\n`
      + curlGet('/after')],
    expect: ['PUT /files/log HTTP/1.1 body=11 hello world', 'GET /after HTTP/1.1 body=0'],
  },
  {
    name: 'request body without length is empty (RFC 9112 §6.3 ¶6)', side: 'request',
    parts: [`POST /ping HTTP/1.1\r\nHost: a\r\n\r\n${curlGet('/b')}`],
    expect: ['POST /ping HTTP/1.1 body=0', 'GET /b HTTP/1.1 body=0'],
  },
  {
    name: 'Transfer-Encoding overrides Content-Length (§6.3 ¶3)', side: 'request',
    parts: [`POST /x HTTP/1.1\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n${chunk('abc')}0\r\n\r\n${curlGet('/y')}`],
    expect: ['POST /x HTTP/1.1 body=3 abc', 'GET /y HTTP/1.1 body=0'],
  },
  {
    name: 'empty lines before a request are skipped (§2.2)', side: 'request',
    parts: [`POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nok\r\n\r\n${curlGet('/b')}`],
    expect: ['POST /a HTTP/1.1 body=2 ok', 'GET /b HTTP/1.1 body=0'],
  },
  {
    name: 'HTTP/1.0 requests, with and without keep-alive', side: 'request',
    parts: ['GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /older HTTP/1.0\r\n\r\n'],
    expect: ['GET /old HTTP/1.0 body=0', 'GET /older HTTP/1.0 body=0'],
  },
  {
    name: 'absolute-form, asterisk-form and an extension method', side: 'request',
    parts: ['GET http://example.com/x HTTP/1.1\r\nHost: example.com\r\n\r\nOPTIONS * HTTP/1.1\r\n\r\nPROPFIND /dav HTTP/1.1\r\nDepth: 1\r\n\r\n'],
    expect: ['GET http://example.com/x HTTP/1.1 body=0', 'OPTIONS * HTTP/1.1 body=0', 'PROPFIND /dav HTTP/1.1 body=0'],
  },
  {
    name: 'body capture is bounded, bodySize is not', side: 'request', opts: { maxBodyCapture: 8 },
    parts: [`POST /big HTTP/1.1\r\nContent-Length: 300\r\n\r\n${'0123456789'.repeat(30)}PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n${chunk('abcdef')}${chunk('ghijkl')}0\r\n\r\n`],
    expect: ['POST /big HTTP/1.1 body=300 01234567', 'PUT /c HTTP/1.1 body=12 abcdefgh'],
  },
  {
    name: 'WebSocket upgrade: the frames after it are opaque', side: 'request',
    parts: [`GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n`
      + `Sec-WebSocket-Version: 13\r\n\r\n${WS_CLIENT_FRAME}${WS_CLIENT_FRAME}`],
    expect: ['GET /chat HTTP/1.1 body=0'], stats: { parseErrors: 0, opaqueBytes: 22, protocolSwitches: 1 },
  },
  {
    name: 'CONNECT then TLS: opaque, not an error', side: 'request',
    parts: [`CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n${CURL}Proxy-Connection: Keep-Alive\r\n\r\n${TLS_CLIENT_HELLO}`],
    expect: ['CONNECT example.com:443 HTTP/1.1 body=0'], stats: { parseErrors: 0, opaqueBytes: TLS_CLIENT_HELLO.length, protocolSwitches: 1 },
  },
  {
    name: 'CONNECT refused, retried with credentials: still HTTP', side: 'request',
    parts: ['CONNECT db:5432 HTTP/1.1\r\nHost: db:5432\r\n\r\nCONNECT db:5432 HTTP/1.1\r\nHost: db:5432\r\nProxy-Authorization: Basic YTpi\r\n\r\n'],
    expect: ['CONNECT db:5432 HTTP/1.1 body=0', 'CONNECT db:5432 HTTP/1.1 body=0'], stats: { parseErrors: 0, opaqueBytes: 0, protocolSwitches: 0 },
  },
  {
    name: 'h2c upgrade then the HTTP/2 preface: opaque', side: 'request',
    parts: ['GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'],
    expect: ['GET / HTTP/1.1 body=0'], stats: { parseErrors: 0, opaqueBytes: 24 },
  },
  {
    name: 'obs-fold is joined with one space (§5.2)', side: 'request',
    parts: ['GET / HTTP/1.1\r\nX-Long: first\r\n  second\r\n\tthird\r\nHost: a\r\n\r\n'],
    expect: ['GET / HTTP/1.1 body=0'],
  },
  // --- responses ---
  { name: 'nginx 200 with Content-Length', side: 'response', methods: ['GET'], parts: [nginx200], expect: [`200 OK HTTP/1.1 body=${page.length} ${page}`] },
  {
    name: 'nginx chunked response', side: 'response', methods: ['GET', 'GET'], parts: [nginxChunked + nginx200],
    expect: [`200 OK HTTP/1.1 body=${json1.length + json2.length} ${json1}${json2}`, `200 OK HTTP/1.1 body=${page.length} ${page}`],
  },
  {
    name: '100-continue: interim then final', side: 'response', methods: ['POST', 'GET'], parts: [`HTTP/1.1 100 Continue\r\n\r\n${created}${small('next')}`],
    expect: ['100 Continue HTTP/1.1 body=0 interim', '201 Created HTTP/1.1 body=0', '200 OK HTTP/1.1 body=4 next'],
  },
  {
    name: '103 Early Hints before the final response', side: 'response', methods: ['GET'],
    parts: ['HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n' + small('page')],
    expect: ['103 Early Hints HTTP/1.1 body=0 interim', '200 OK HTTP/1.1 body=4 page'],
  },
  {
    name: 'HEAD: Content-Length but no body (§6.3 ¶1)', side: 'response', methods: ['HEAD', 'GET'], parts: [headResponse + nginx200],
    expect: ['200 OK HTTP/1.1 body=0', `200 OK HTTP/1.1 body=${page.length} ${page}`],
  },
  {
    name: 'HEAD answered with chunked headers: still no body', side: 'response', methods: ['HEAD', 'GET'],
    parts: ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' + small('x')],
    expect: ['200 OK HTTP/1.1 body=0', '200 OK HTTP/1.1 body=1 x'],
  },
  { name: '304 Not Modified has no body', side: 'response', methods: ['GET', 'GET'], parts: [notModified + small('ok')], expect: ['304 Not Modified HTTP/1.1 body=0', '200 OK HTTP/1.1 body=2 ok'] },
  {
    name: '204 No Content has no body', side: 'response', methods: ['DELETE', 'GET'],
    parts: [`HTTP/1.1 204 No Content\r\nServer: nginx/1.24.0\r\n${NGINX_DATE}Connection: keep-alive\r\n\r\n${small('ok')}`],
    expect: ['204 No Content HTTP/1.1 body=0', '200 OK HTTP/1.1 body=2 ok'],
  },
  {
    name: 'pipelined triple in one chunk', side: 'response', methods: ['GET', 'HEAD', 'GET'],
    parts: [small('one') + headResponse + nginxChunked],
    expect: ['200 OK HTTP/1.1 body=3 one', '200 OK HTTP/1.1 body=0', `200 OK HTTP/1.1 body=${json1.length + json2.length} ${json1}${json2}`],
  },
  {
    name: 'HTTP/1.0 response without length ends at close', side: 'response', methods: ['GET'], close: true,
    parts: ['HTTP/1.0 200 OK\r\nServer: BaseHTTP/0.6 Python/3.12.3\r\nContent-Type: text/plain\r\n\r\nline one\nline two\n'],
    expect: ['200 OK HTTP/1.0 body=18 line one\nline two\n close'],
  },
  {
    name: 'HTTP/1.0 response with Content-Length: complete before the close', side: 'response', methods: ['GET'], close: true,
    parts: ['HTTP/1.0 200 OK\r\nContent-Length: 4\r\n\r\ndone'], expect: ['200 OK HTTP/1.0 body=4 done'], stats: { truncated: 0 },
  },
  {
    name: 'close-delimited with an empty body', side: 'response', methods: ['GET'], close: true,
    parts: ['HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n'], expect: ['200 OK HTTP/1.1 body=0 close'],
  },
  {
    name: 'a final coding other than chunked is delimited by the close (§6.3 ¶4)', side: 'response', methods: ['GET'], close: true,
    parts: ['HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n\x1f\x8b\x08\x00'], expect: ['200 OK HTTP/1.1 body=4 \x1f\x8b\x08\x00 close'],
  },
  {
    name: 'no close, no end: a close-delimited response is not emitted', side: 'response', methods: ['GET'],
    parts: ['HTTP/1.0 200 OK\r\n\r\nstill coming'], expect: [],
  },
  {
    name: '101 Switching Protocols: the rest is opaque', side: 'response', methods: ['GET'],
    parts: ['HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n'
      + WS_SERVER_FRAME + small('not http any more')],
    expect: ['101 Switching Protocols HTTP/1.1 body=0'], stats: { opaqueBytes: WS_SERVER_FRAME.length + small('not http any more').length, parseErrors: 0, protocolSwitches: 1 },
  },
  {
    name: 'CONNECT 200: tunnel', side: 'response', methods: ['CONNECT'],
    parts: [`HTTP/1.1 200 Connection established\r\n\r\n${TLS_SERVER_HELLO}`],
    expect: ['200 Connection established HTTP/1.1 body=0'], stats: { opaqueBytes: TLS_SERVER_HELLO.length, protocolSwitches: 1 },
  },
  {
    name: 'CONNECT refused with 407: still HTTP', side: 'response', methods: ['CONNECT', 'CONNECT'],
    parts: [small('auth please', '407 Proxy Authentication Required') + 'HTTP/1.1 200 OK\r\n\r\n'],
    expect: ['407 Proxy Authentication Required HTTP/1.1 body=11 auth please', '200 OK HTTP/1.1 body=0'],
  },
  {
    name: 'status line without reason phrase, upper-case hex', side: 'response', methods: ['GET', 'GET'],
    parts: [`HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 404 \r\nTransfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n`],
    expect: ['200  HTTP/1.1 body=2 ok', '404  HTTP/1.1 body=10 0123456789'],
  },
  {
    name: 'a response with no awaited method is framed as a GET', side: 'response',
    parts: [small('a') + small('b')], expect: ['200 OK HTTP/1.1 body=1 a', '200 OK HTTP/1.1 body=1 b'],
  },
  {
    name: 'a Content-Length list of equal values is that value', side: 'response', methods: ['GET'],
    parts: ['HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\nContent-Length: 3\r\n\r\nabc'], expect: ['200 OK HTTP/1.1 body=3 abc'],
  },
  // --- malformed input: counted, then the next message is found ---
  {
    name: 'bad request line (space in target)', side: 'request', parts: [`GET /a b HTTP/1.1\r\n\r\n${curlGet('/ok')}`],
    expect: ['GET /ok HTTP/1.1 body=0'], stats: { parseErrors: 1, resyncs: 1 }, error: 'bad-request-line',
  },
  {
    name: 'non-token method', side: 'request', parts: [`G(T / HTTP/1.1\r\nHost: a\r\n\r\n${curlGet('/ok')}`],
    expect: ['GET /ok HTTP/1.1 body=0'], stats: { parseErrors: 1, resyncs: 1 }, error: 'bad-request-line',
  },
  {
    name: 'HTTP/2 preface on an HTTP/1 connection', side: 'request', parts: [`PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n${curlGet('/ok')}`],
    expect: ['GET /ok HTTP/1.1 body=0'], stats: { parseErrors: 1, resyncs: 1 }, error: 'bad-request-line',
  },
  {
    name: 'header without colon', side: 'request', parts: [`GET / HTTP/1.1\r\nHost localhost\r\n\r\n${curlGet('/ok')}`],
    expect: ['GET /ok HTTP/1.1 body=0'], stats: { parseErrors: 1, resyncs: 1 }, error: 'bad-header',
  },
  {
    name: 'whitespace before the colon (§5.1)', side: 'request', parts: [`GET / HTTP/1.1\r\nHost : a\r\n\r\n${curlGet('/ok')}`],
    expect: ['GET /ok HTTP/1.1 body=0'], stats: { parseErrors: 1 }, error: 'bad-header',
  },
  {
    name: 'absurd Content-Length', side: 'request', parts: [`POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n${curlGet('/ok')}`],
    expect: ['GET /ok HTTP/1.1 body=0'], stats: { parseErrors: 1 }, error: 'bad-content-length',
  },
  {
    name: 'negative Content-Length', side: 'request', parts: [`POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n${curlGet('/ok')}`],
    expect: ['GET /ok HTTP/1.1 body=0'], stats: { parseErrors: 1 }, error: 'bad-content-length',
  },
  {
    name: 'conflicting Content-Length values (§6.3 ¶5)', side: 'request',
    parts: [`POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!${curlGet('/ok')}`],
    expect: ['GET /ok HTTP/1.1 body=0'], stats: { parseErrors: 1 }, error: 'conflicting-content-length',
  },
  {
    name: 'Transfer-Encoding in an HTTP/1.0 request (§6.1)', side: 'request',
    parts: [`POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n${curlGet('/ok')}`],
    expect: ['GET /ok HTTP/1.1 body=0'], stats: { parseErrors: 1 }, error: 'bad-transfer-encoding',
  },
  {
    name: 'request whose final coding is not chunked (§6.3 ¶4)', side: 'request',
    parts: [`POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\nxx${curlGet('/ok')}`],
    expect: ['GET /ok HTTP/1.1 body=0'], stats: { parseErrors: 1 }, error: 'bad-transfer-encoding',
  },
  {
    name: 'head larger than maxHeaderBytes', side: 'request', opts: { maxHeaderBytes: 1024 },
    parts: [`GET / HTTP/1.1\r\n${'X-Filler: 0123456789abcdef0123456789abcdef\r\n'.repeat(40)}\r\n${curlGet('/ok')}`],
    expect: ['GET /ok HTTP/1.1 body=0'], stats: { parseErrors: 1, resyncs: 1 }, error: 'head-too-large',
  },
  {
    name: 'head of exactly maxHeaderBytes is accepted', side: 'request', opts: { maxHeaderBytes: 256 },
    parts: [`GET / HTTP/1.1\r\nX: ${'a'.repeat(256 - 16 - 3 - 4)}\r\n\r\n`], expect: ['GET / HTTP/1.1 body=0'], stats: { parseErrors: 0 },
  },
  {
    name: 'bad status line', side: 'response', methods: ['GET', 'GET'], parts: [`HTTP/1.1 2x0 OK\r\n\r\n${small('fine')}`],
    expect: ['200 OK HTTP/1.1 body=4 fine'], stats: { parseErrors: 1, resyncs: 1 }, error: 'bad-status-line',
  },
  {
    name: 'bad chunk size', side: 'response', methods: ['GET', 'GET'],
    parts: [`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n${small('fine')}`],
    expect: ['200 OK HTTP/1.1 body=4 fine'], stats: { parseErrors: 1, resyncs: 1 }, error: 'bad-chunk-size',
  },
  {
    name: 'chunk data longer than its size', side: 'response', methods: ['GET', 'GET'],
    parts: [`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n${small('fine')}`],
    expect: ['200 OK HTTP/1.1 body=4 fine'], stats: { parseErrors: 1, resyncs: 1 }, error: 'bad-chunk-end',
  },
  {
    name: 'chunked body cut short by the next response', side: 'response', methods: ['GET', 'GET'],
    parts: [`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n${small('fine')}`],
    expect: ['200 OK HTTP/1.1 body=4 fine'], stats: { parseErrors: 1, resyncs: 1, skippedBytes: 0 }, error: 'bad-chunk-size',
  },
  {
    name: 'binary garbage, then a response', side: 'response', methods: ['GET'],
    parts: [`\x00\x01\x02\xff\xfeHTTP/1.0 garbage\r\n${small('fine')}`],
    expect: ['200 OK HTTP/1.1 body=4 fine'], stats: { parseErrors: 1, resyncs: 1 },
  },
  {
    name: 'a method name inside a body is not a message start', side: 'request',
    parts: ['garbage {"verb":"GET ","note":"POST it"} and more\r\n' + curlGet('/ok')],
    expect: ['GET /ok HTTP/1.1 body=0'], stats: { parseErrors: 1, resyncs: 1 },
  },
  {
    name: 'request line longer than maxHeaderBytes', side: 'request', opts: { maxHeaderBytes: 1024 },
    parts: [`GET /${'a'.repeat(2000)} HTTP/1.1\r\n\r\n${curlGet('/ok')}`],
    expect: ['GET /ok HTTP/1.1 body=0'], stats: { parseErrors: 1, resyncs: 1 }, error: 'head-too-large',
  },
  {
    name: 'a candidate whose line never ends is not believed', side: 'request',
    parts: [`\x00GET /${'a'.repeat(9000)}${curlGet('/ok')}`],
    expect: ['GET /ok HTTP/1.1 body=0'], stats: { parseErrors: 1, resyncs: 1 },
  },
  {
    name: 'Transfer-Encoding in an HTTP/1.0 response (§6.1)', side: 'response', methods: ['GET', 'GET'],
    parts: [`HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n${small('fine')}`],
    expect: ['200 OK HTTP/1.1 body=4 fine'], stats: { parseErrors: 1 }, error: 'bad-transfer-encoding',
  },
  {
    name: 'Transfer-Encoding makes a bad Content-Length irrelevant (§6.3 ¶3)', side: 'response', methods: ['GET'],
    parts: ['HTTP/1.1 200 OK\r\nContent-Length: nope\r\nContent-Length: 1, 2\r\nTransfer-Encoding: gzip, chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n'],
    expect: ['200 OK HTTP/1.1 body=1 z'], stats: { parseErrors: 0 },
  },
  {
    name: 'a Content-Length list of different values', side: 'response', methods: ['GET', 'GET'],
    parts: [`HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello${small('fine')}`],
    expect: ['200 OK HTTP/1.1 body=4 fine'], stats: { parseErrors: 1 }, error: 'bad-content-length',
  },
  {
    name: 'absurd chunk size', side: 'response', methods: ['GET', 'GET'],
    parts: [`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n100000000000000\r\nabc${small('fine')}`],
    expect: ['200 OK HTTP/1.1 body=4 fine'], stats: { parseErrors: 1 }, error: 'bad-chunk-size',
  },
  {
    name: 'control byte in a chunk extension', side: 'response', methods: ['GET', 'GET'],
    parts: [`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;a=\x01\r\nabc\r\n0\r\n\r\n${small('fine')}`],
    expect: ['200 OK HTTP/1.1 body=4 fine'], stats: { parseErrors: 1 }, error: 'bad-chunk-size',
  },
  {
    name: 'chunk-size line without an end', side: 'response', methods: ['GET', 'GET'],
    parts: [`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;${'e'.repeat(5000)}${small('fine')}`],
    expect: ['200 OK HTTP/1.1 body=4 fine'], stats: { parseErrors: 1 }, error: 'bad-chunk-size',
  },
  {
    name: 'chunk-size line ended by a bare LF', side: 'response', methods: ['GET', 'GET'],
    parts: [`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n${small('fine')}`],
    expect: ['200 OK HTTP/1.1 body=4 fine'], stats: { parseErrors: 1 }, error: 'bad-chunk-size',
  },
  {
    name: 'malformed trailer field', side: 'request',
    parts: [`POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nBad Trailer\r\n\r\n${curlGet('/ok')}`],
    expect: ['GET /ok HTTP/1.1 body=0'], stats: { parseErrors: 1 }, error: 'bad-trailer',
  },
  {
    name: 'trailer section that does not start like a field', side: 'request',
    parts: [`POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\x7fx\r\n\r\n${curlGet('/ok')}`],
    expect: ['GET /ok HTTP/1.1 body=0'], stats: { parseErrors: 1 }, error: 'bad-trailer',
  },
  {
    name: 'CR without LF ending a chunked message', side: 'request',
    parts: [`POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\rX${curlGet('/ok')}`],
    expect: ['GET /ok HTTP/1.1 body=0'], stats: { parseErrors: 1 }, error: 'bad-trailer',
  },
  {
    name: 'trailer section larger than maxHeaderBytes', side: 'request', opts: { maxHeaderBytes: 512 },
    parts: [`POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n${'X-T: 0123456789\r\n'.repeat(50)}\r\n${curlGet('/ok')}`],
    expect: ['GET /ok HTTP/1.1 body=0'], stats: { parseErrors: 1 }, error: 'head-too-large',
  },
  {
    name: 'whitespace line before the first field (§2.2)', side: 'request', parts: [`GET / HTTP/1.1\r\n x\r\nHost: a\r\n\r\n${curlGet('/ok')}`],
    expect: ['GET /ok HTTP/1.1 body=0'], stats: { parseErrors: 1 }, error: 'bad-header',
  },
  {
    name: 'bare LF inside the header block', side: 'request', parts: [`GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n${curlGet('/ok')}`],
    expect: ['GET /ok HTTP/1.1 body=0'], stats: { parseErrors: 1 }, error: 'bad-header',
  },
  {
    name: 'NUL in a field value (RFC 9110 §5.5)', side: 'request', parts: [`GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n${curlGet('/ok')}`],
    expect: ['GET /ok HTTP/1.1 body=0'], stats: { parseErrors: 1 }, error: 'bad-header',
  },
  {
    name: 'obs-fold onto an empty value', side: 'request', parts: ['GET / HTTP/1.1\r\nX-Empty:\r\n folded\r\n\t\r\n\r\n'],
    expect: ['GET / HTTP/1.1 body=0'], stats: { parseErrors: 0 },
  },
  // --- gaps (reset between parts) and the end of the stream ---
  {
    name: 'gap inside a head', side: 'request', parts: ['GET /lost HTTP/1.1\r\nHo', `st: a\r\nAccept: */*\r\n\r\n${curlGet('/ok')}`],
    expect: ['GET /ok HTTP/1.1 body=0'], stats: { parseErrors: 0, resyncs: 1, truncated: 1 },
  },
  {
    name: 'gap inside a body: the next message is found after the rest of it', side: 'request',
    parts: [`POST /up HTTP/1.1\r\nContent-Length: 1000\r\n\r\n${'a'.repeat(100)}`, `${'b'.repeat(300)}${curlGet('/ok')}`],
    expect: ['GET /ok HTTP/1.1 body=0'], stats: { parseErrors: 0, resyncs: 1, truncated: 1, skippedBytes: 300 },
  },
  {
    name: 'gap between messages', side: 'response', methods: ['GET', 'GET'], parts: [small('one'), small('two')],
    expect: ['200 OK HTTP/1.1 body=3 one', '200 OK HTTP/1.1 body=3 two'], stats: { resyncs: 1, truncated: 0 },
  },
  {
    name: 'a gap after a protocol switch changes nothing', side: 'response', methods: ['GET'],
    parts: [`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n${WS_SERVER_FRAME}`, small('still opaque')],
    expect: ['101 Switching Protocols HTTP/1.1 body=0'], stats: { resyncs: 0, opaqueBytes: WS_SERVER_FRAME.length + small('still opaque').length },
  },
  {
    name: 'sendfile: the head captured, the file a gap of known size', side: 'response', methods: ['GET', 'GET'],
    parts: [headResponse, small('next')], between: [615],
    expect: ['200 OK HTTP/1.1 body=615', '200 OK HTTP/1.1 body=4 next'], stats: { parseErrors: 0, resyncs: 0, gapBytes: 615 },
  },
  {
    name: 'a syscall beyond the capture bound: the rest of the body is a gap', side: 'request', opts: { maxBodyCapture: 200 },
    parts: [`POST /up HTTP/1.1\r\nContent-Length: 20000\r\n\r\n${'a'.repeat(100)}`, curlGet('/ok')], between: [19900],
    expect: [`POST /up HTTP/1.1 body=20000 ${'a'.repeat(100)}`, 'GET /ok HTTP/1.1 body=0'], stats: { resyncs: 0, truncated: 0 },
  },
  {
    name: 'a gap inside chunk data', side: 'response', methods: ['GET'],
    parts: [`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n${'x'.repeat(96)}`, '\r\n5\r\nhello\r\n0\r\n\r\n'], between: [4000],
    expect: [`200 OK HTTP/1.1 body=4101 ${'x'.repeat(96)}`], stats: { resyncs: 0, parseErrors: 0 },
  },
  {
    name: 'a gap past the end of a body completes it, then the next start is searched for', side: 'response', methods: ['GET', 'GET', 'GET'],
    parts: ['HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc', `K\r\nContent-Length: 3\r\n\r\nxyz${small('fine')}`], between: [7 + 15],
    expect: ['200 OK HTTP/1.1 body=10 abc', '200 OK HTTP/1.1 body=4 fine'], stats: { resyncs: 1, parseErrors: 0, truncated: 0 },
  },
  {
    name: 'a gap of known size in a head is still a lost place', side: 'request',
    parts: ['GET /x HTTP/1.1\r\nHo', `st: a\r\n\r\n${curlGet('/ok')}`], between: [5],
    expect: ['GET /ok HTTP/1.1 body=0'], stats: { truncated: 1, resyncs: 1 },
  },
  {
    name: 'a gap in a close-delimited body', side: 'response', methods: ['GET'], close: true,
    parts: ['HTTP/1.0 200 OK\r\n\r\nabc', 'def'], between: [1000],
    expect: ['200 OK HTTP/1.0 body=1006 abc close'], stats: { gapBytes: 1000 },
  },
  {
    name: 'a gap after a protocol switch is opaque too', side: 'response', methods: ['CONNECT'],
    parts: [`HTTP/1.1 200 Connection established\r\n\r\n${TLS_SERVER_HELLO}`, 'more tls'], between: [50000],
    expect: ['200 Connection established HTTP/1.1 body=0'], stats: { opaqueBytes: TLS_SERVER_HELLO.length + 8, gapBytes: 50000 },
  },
  {
    name: 'close inside a Content-Length body: truncated, not emitted', side: 'response', methods: ['GET'], close: true,
    parts: ['HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'], expect: [], stats: { truncated: 1 },
  },
];

function summary(m: HttpMessage): string {
  const prefix = Buffer.from(m.bodyPrefix).toString('latin1');
  const body = `body=${m.bodySize}${prefix === '' ? '' : ` ${prefix}`}`;
  if (m.kind === 'request') return `${m.method} ${m.target} HTTP/${m.version} ${body}`;
  return `${m.statusCode} ${m.reason} HTTP/${m.version} ${body}${m.interim ? ' interim' : ''}${m.endedByClose ? ' close' : ''}`;
}

interface Run {
  messages: HttpMessage[];
  stats: Http1ParserStats;
  /** Stream offset of the first byte of every chunk fed (each chunk's time is that offset). */
  chunkStarts: number[];
  parser: Http1Parser;
}

/** Feeds a case, each part cut where `cuts` says; every chunk's time is the offset of its first byte. */
function run(c: Case, cuts: (part: Buffer, index: number) => number[]): Run {
  const parser = new Http1Parser(c.side, c.opts);
  for (const m of c.methods ?? []) parser.expectResponseTo(m);
  const messages: HttpMessage[] = [];
  const chunkStarts: number[] = [];
  let offset = 0;
  c.parts.forEach((text, index) => {
    const gap = index > 0 ? (c.between?.[index - 1] ?? 'reset') : null;
    if (gap === 'reset') parser.reset();
    else if (gap !== null) {
      chunkStarts.push(offset);
      parser.skip(gap, BigInt(offset));
      offset += gap;
    }
    const part = Buffer.from(text, 'latin1');
    const points = [0, ...cuts(part, index).filter((k) => k > 0 && k < part.length), part.length];
    for (let k = 0; k + 1 < points.length; k++) {
      chunkStarts.push(offset + points[k]!);
      parser.feed(part.subarray(points[k]!, points[k + 1]!), BigInt(offset + points[k]!));
      messages.push(...parser.take());
    }
    offset += part.length;
  });
  if (c.close) parser.finish(BigInt(offset));
  messages.push(...parser.take());
  return { messages, stats: parser.stats(), chunkStarts, parser };
}

/** Everything but the times, comparable with t.same. */
const shape = (r: Run): unknown => ({
  messages: r.messages.map((m) => ({ ...m, startNs: undefined, endNs: undefined, bodyPrefix: Buffer.from(m.bodyPrefix).toString('latin1') })),
  stats: r.stats,
});

const whole = (): number[] => [];
const bytes = (part: Buffer): number[] => Array.from({ length: part.length }, (_, i) => i);

/** The chunk holding stream offset `at` starts at the last chunk start ≤ at. */
function chunkOf(starts: number[], at: number): number {
  let best = 0;
  for (const s of starts) if (s <= at) best = s;
  return best;
}

for (const c of cases) {
  t.test(`${c.side}: ${c.name}`, async (t) => {
    const one = run(c, whole);
    t.same(one.messages.map(summary), c.expect, 'messages');
    t.match(one.stats, { ...c.stats, internalErrors: 0, messages: c.expect.length, bytes: c.parts.join('').length }, 'stats');
    if (c.error !== undefined) t.equal(one.parser.lastError()?.reason, c.error, 'error reason');
    t.ok(one.parser.bufferedBytes() < (c.opts?.maxHeaderBytes ?? 65536), 'buffer bounded');

    // One byte per feed: also gives the exact offsets of each message's first and last byte.
    const tiny = run(c, bytes);
    t.same(shape(tiny), shape(one), 'fed one byte at a time');

    // Every split offset, in each part.
    const differ: string[] = [];
    const badTimes: string[] = [];
    c.parts.forEach((text, index) => {
      for (let k = 1; k < text.length; k++) {
        const split = run(c, (_, i) => (i === index ? [k] : []));
        if (JSON.stringify(shape(split)) !== JSON.stringify(shape(one))) differ.push(`part ${index} at ${k}`);
        split.messages.forEach((m, i) => {
          const exact = tiny.messages[i];
          if (exact === undefined) badTimes.push(`part ${index} at ${k}: message ${i} not in the one-byte run`);
          else if (m.startNs !== BigInt(chunkOf(split.chunkStarts, Number(exact.startNs))) || m.endNs !== BigInt(chunkOf(split.chunkStarts, Number(exact.endNs)))) {
            badTimes.push(`part ${index} at ${k}: message ${i}`);
          }
        });
      }
    });
    t.same(differ, [], 'split at every offset: same messages and stats');
    t.same(badTimes, [], 'start/end times are those of the chunks carrying the first/last byte');
  });
}

t.test('headers: lower-cased names, values as sent, repeats kept in order', async (t) => {
  const p = new Http1Parser('request');
  p.feed(Buffer.from('GET / HTTP/1.1\r\nHost: a\r\nX-Long: first\r\n  second\r\nSet-Thing:  one \r\nset-thing: two\r\nEmpty:\r\n\r\n', 'latin1'), 1n);
  const [m] = p.take();
  t.same([...m!.headers], [['host', 'a'], ['x-long', 'first second'], ['set-thing', 'one'], ['set-thing', 'two'], ['empty', '']]);
  t.equal(m!.headers.length, 5);
  t.equal(m!.headers.get('x-long'), 'first second', 'looked up by the lower-case name, folded');
  t.same(m!.headers.getAll('set-thing'), ['one', 'two']);
  t.equal(m!.headers.get('empty'), '');
  t.equal(m!.headers.get('absent'), undefined);
});

t.test('header bytes are decoded as latin1', async (t) => {
  const p = new Http1Parser('response');
  p.feed(Buffer.concat([Buffer.from('HTTP/1.1 200 Ok\xe9\r\nX-Name: caf', 'latin1'), Buffer.from([0xc3, 0xa9]), Buffer.from('\r\nContent-Length: 0\r\n\r\n')]), 1n);
  const [m] = p.take();
  t.equal(m?.kind === 'response' && m.reason, 'Ok\xe9');
  t.same([...m!.headers], [['x-name', 'caf\xc3\xa9'], ['content-length', '0']]);
});

t.test('timestamps: first and last byte of each message', async (t) => {
  const p = new Http1Parser('response');
  p.expectResponseTo('GET');
  p.expectResponseTo('GET');
  p.feed(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nab'), 10n);
  p.feed(Buffer.from('cd'), 20n);
  p.feed(Buffer.from('efHTTP/1.1 200 OK\r\nContent-'), 30n);
  p.feed(Buffer.from('Length: 0\r\n\r\n'), 40n);
  const [a, b] = p.take();
  t.equal(a?.startNs, 10n);
  t.equal(a?.endNs, 30n);
  t.equal(b?.startNs, 30n);
  t.equal(b?.endNs, 40n);
});

t.test('close-delimited response: endNs is its last byte, not the close', async (t) => {
  const p = new Http1Parser('response');
  p.feed(Buffer.from('HTTP/1.0 200 OK\r\n\r\nabc'), 5n);
  p.feed(Buffer.from('def'), 6n);
  t.same(p.take(), []);
  p.finish(99n);
  const [m] = p.take();
  t.match(m, { statusCode: 200, bodySize: 6, startNs: 5n, endNs: 6n, endedByClose: true });
  p.feed(Buffer.from('HTTP/1.1 200 OK\r\n\r\n'), 100n);
  t.same(p.take(), [], 'bytes after finish() are ignored');
});

t.test('obs-fold onto an empty value keeps just the continuation', async (t) => {
  const p = new Http1Parser('request');
  p.feed(Buffer.from('GET / HTTP/1.1\r\nX-Empty:\r\n folded\r\n\t\r\n\r\n'), 1n);
  t.same([...p.take()[0]!.headers], [['x-empty', 'folded']]);
});

t.test('a plain Uint8Array view is parsed like a Buffer', async (t) => {
  const backing = new Uint8Array(100);
  const text = new TextEncoder().encode('POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nok');
  backing.set(text, 10);
  const p = new Http1Parser('request');
  p.feed(backing.subarray(10, 10 + text.length), 1n);
  t.match(p.take(), [{ method: 'POST', bodySize: 2 }]);
});

t.test('bodyPrefix is a copy: reusing the fed buffer does not change it', async (t) => {
  const p = new Http1Parser('request');
  const buf = Buffer.from('POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello');
  p.feed(buf, 1n);
  buf.fill(0x41);
  const [m] = p.take();
  t.equal(Buffer.from(m!.bodyPrefix).toString(), 'hello');
});

t.test('maxBodyCapture 0 captures nothing', async (t) => {
  const p = new Http1Parser('request', { maxBodyCapture: 0 });
  p.feed(Buffer.from('POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello'), 1n);
  t.match(p.take()[0], { bodySize: 5, bodyPrefix: new Uint8Array(0) });
});

t.test('onRequestHead is called when the head is parsed, before the body ends', async (t) => {
  const seen: string[] = [];
  const p = new Http1Parser('request', { onRequestHead: (m) => seen.push(m) });
  p.feed(Buffer.from('POST /up HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc'), 1n);
  t.same(seen, ['POST']);
  t.same(p.take(), []);
  t.match(p.inProgress(), { method: 'POST', bodySize: 3 });
  t.equal(p.messageStartNs, 1n);
});

t.test('awaited methods: bounded, consumed only by final responses', async (t) => {
  const p = new Http1Parser('response');
  for (let i = 0; i < 2000; i++) p.expectResponseTo('GET');
  t.equal(p.awaitedResponses, 1024);
  const q = new Http1Parser('response');
  q.expectResponseTo('GET');
  q.feed(Buffer.from('HTTP/1.1 100 Continue\r\n\r\n'), 1n);
  t.equal(q.awaitedResponses, 1);
  q.feed(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'), 2n);
  t.equal(q.awaitedResponses, 0);
});

t.test('awaited methods: a response older than the oldest request answers none of them', async (t) => {
  const p = new Http1Parser('response');
  p.expectResponseTo('HEAD', 10n);
  p.feed(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'), 5n);
  t.match(p.take(), [{ bodySize: 2 }], 'framed as an unknown (GET-like) request');
  t.equal(p.awaitedResponses, 1);
});

t.test('awaited methods: after a gap, the newest request before the response', async (t) => {
  const p = new Http1Parser('response');
  p.expectResponseTo('GET', 1n);
  p.expectResponseTo('HEAD', 3n);
  p.expectResponseTo('GET', 9n);
  p.feed(Buffer.from('HTTP/1.1 200 OK\r\nContent-Le'), 2n);
  p.reset();
  p.feed(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n'), 5n);
  p.feed(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx'), 10n);
  t.match(p.take(), [{ bodySize: 0 }, { bodySize: 1 }], 'HEAD at 3 answered at 5, then GET at 9');
  t.equal(p.awaitedResponses, 0);
});

t.test('enterTunnel: the rest of the direction is opaque', async (t) => {
  const p = new Http1Parser('request');
  p.feed(Buffer.from('GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n'), 1n);
  p.enterTunnel();
  p.feed(Buffer.from(curlGet('/looks-like-http')), 2n);
  t.equal(p.take().length, 1);
  t.ok(p.tunneled);
  t.equal(p.stats().opaqueBytes, curlGet('/looks-like-http').length);
});

t.test('the evidence of a parse error is the bytes that failed', async (t) => {
  const p = new Http1Parser('request');
  p.feed(Buffer.from(`GET / HTTP/1.1\r\n\r\nBAD\x01LINE\r\n\r\n`), 1n);
  const e = p.lastError();
  t.equal(e?.reason, 'bad-request-line');
  t.equal(e?.offset, 21);
  t.equal(Buffer.from(e!.evidence).toString('latin1'), '\x01LINE\r\n\r\n');
});

t.test('a long header block split in many chunks is searched once, not rescanned', async (t) => {
  const head = `GET / HTTP/1.1\r\n${'X-A: b\r\n'.repeat(7000)}\r\n`;
  const p = new Http1Parser('request', { maxHeaderBytes: 1 << 20 });
  const started = process.hrtime.bigint();
  for (let i = 0; i < head.length; i += 3) p.feed(Buffer.from(head.slice(i, i + 3)), 1n);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  t.equal(p.take()[0]?.headers.length, 7000);
  t.ok(ms < 2000, `took ${ms.toFixed(0)} ms`);
});
