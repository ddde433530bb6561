// Http2Connection: conversations as real peers write them (one HPACK encoder per direction, frames
// per syscall), checked exchange by exchange; then each fed split at every offset; streams
// multiplexed, trailers, gRPC, resets, GOAWAY, push, gaps, a capture that starts mid-stream, and
// the bounds.
import t from 'tap';
import type { Http2Exchange } from '../../../src/model/http2.js';
import {
  HpackEncoder, PREFACE, type Step, data, frame, goaway, grpcMessage, headers, ping, pushPromise, rst, runSession, settings, T, timeless,
  windowUpdate, SERVER_CONN,
} from './builder.js';

const GRPC_REQ = (path: string): Array<[string, string]> => [
  [':method', 'POST'], [':scheme', 'http'], [':path', path], [':authority', '127.0.0.1:50051'],
  ['content-type', 'application/grpc'], ['user-agent', 'grpc-go/1.85.0'], ['te', 'trailers'], ['grpc-timeout', '9998m'],
];
const GRPC_RES: Array<[string, string]> = [[':status', '200'], ['content-type', 'application/grpc']];

/** Two peers with their own HPACK encoders. */
function peers(): { c: HpackEncoder; s: HpackEncoder } {
  return { c: new HpackEncoder(), s: new HpackEncoder() };
}

function open(): Step[] {
  return [
    ['request', Buffer.concat([PREFACE, settings([[2, 0], [4, 4194304]]), windowUpdate(0, 4128769)])],
    ['response', Buffer.concat([settings([[5, 16384]]), windowUpdate(0, 983041)])],
    ['request', settings([], true)],
    ['response', settings([], true)],
  ];
}

function unaryGrpc(p: { c: HpackEncoder; s: HpackEncoder }, id: number, path: string, status = '0', message?: string): Step[] {
  const trailers: Array<[string, string]> = [['grpc-status', status]];
  if (message !== undefined) trailers.push(['grpc-message', message]);
  return [
    ['request', Buffer.concat([headers(id, p.c.encode(GRPC_REQ(path), { huffman: true })), data(id, grpcMessage('req'), { end: true })])],
    ['response', Buffer.concat([
      headers(id, p.s.encode(GRPC_RES, { huffman: true })), data(id, grpcMessage('response body')),
      headers(id, p.s.encode(trailers, { huffman: true }), { end: true }),
    ])],
  ];
}

t.test('a plain HTTP/2 GET (nghttp-like)', async (t) => {
  const p = peers();
  const { exchanges, session } = runSession([
    ...open(),
    ['request', headers(1, p.c.encode([[':method', 'GET'], [':path', '/status'], [':scheme', 'http'], [':authority', '127.0.0.1:8080'],
      ['accept', '*/*'], ['user-agent', 'nghttp2/1.52.0']], { huffman: true }), { end: true, priority: true })],
    ['response', Buffer.concat([headers(1, p.s.encode([[':status', '200'], ['server', 'nginx/1.22.1'], ['content-type', 'text/plain'], ['content-length', '3']])), data(1, 'ok\n', { end: true })])],
  ]);
  t.equal(exchanges.length, 1);
  const ex = exchanges[0]!;
  t.match(ex, {
    protocol: 'http2', streamId: 1, ordinal: 0, scheme: 'http', trailers: [],
    request: { method: 'GET', target: '/status', version: '2', bodySize: 0 },
    response: { statusCode: 200, version: '2', bodySize: 3 },
  });
  t.same([...ex.response!.headers], [['server', 'nginx/1.22.1'], ['content-type', 'text/plain'], ['content-length', '3']]);
  t.same([...ex.request.headers], [['host', '127.0.0.1:8080'], ['accept', '*/*'], ['user-agent', 'nghttp2/1.52.0']], ':authority becomes Host');
  t.equal(ex.grpc, undefined);
  t.equal(ex.headersLost, undefined);
  t.equal(ex.reset, undefined);
  t.ok(ex.request.startNs <= ex.response!.startNs && ex.response!.startNs <= ex.response!.endNs);
  const st = session.stats();
  t.equal(st.exchanges, 1);
  t.equal(st.parseErrors! + st.syncLosses! + st.internalErrors! + st.protocolErrors! + st.hpackErrors!, 0);
});

t.test('multiplexed streams complete in their own order; ordinals come from stream ids', async (t) => {
  const p = peers();
  const get = (path: string): Buffer => p.c.encode([[':method', 'GET'], [':path', path], [':scheme', 'http'], [':authority', 'h']]);
  const ok = (): Buffer => p.s.encode([[':status', '200']]);
  const { exchanges } = runSession([
    ...open(),
    ['request', Buffer.concat([headers(1, get('/a'), { end: true }), headers(3, get('/b'), { end: true }), headers(5, get('/c'), { end: true })])],
    ['response', Buffer.concat([headers(5, ok()), headers(1, ok()), data(5, 'ccc', { end: true }), headers(3, ok()), data(1, 'a')])],
    ['response', Buffer.concat([data(3, 'bb', { end: true }), data(1, 'aaaa', { end: true })])],
  ]);
  t.same(exchanges.map((e) => [e.streamId, e.ordinal, e.request.target, e.response?.bodySize]), [[5, 2, '/c', 3], [3, 1, '/b', 2], [1, 0, '/a', 5]]);
});

t.test('gRPC unary calls: status from trailers, messages counted', async (t) => {
  const p = peers();
  const { exchanges } = runSession([
    ...open(),
    ...unaryGrpc(p, 1, '/lantern.test.Echo/Say'),
    ...unaryGrpc(p, 3, '/lantern.test.Echo/Say'),
    ...unaryGrpc(p, 5, '/lantern.test.Echo/Say', '5', 'no such greeting: missing%21 %E2%9C%93'),
  ]);
  t.equal(exchanges.length, 3);
  t.same(exchanges[0]!.grpc, { method: '/lantern.test.Echo/Say', requestMessages: 1, responseMessages: 1, status: 0 });
  t.same(exchanges[0]!.trailers, [['grpc-status', '0']]);
  t.equal(exchanges[0]!.request.bodySize, 8);
  t.equal(exchanges[0]!.response?.bodySize, 18);
  t.same(exchanges[2]!.grpc, { method: '/lantern.test.Echo/Say', requestMessages: 1, responseMessages: 1, status: 5, message: 'no such greeting: missing! ✓' });
  t.ok(exchanges.every((e) => e.headersLost === undefined));
});

t.test('gRPC server streaming: messages split across and packed into DATA frames', async (t) => {
  const p = peers();
  const msgs = Buffer.concat([grpcMessage('one'), grpcMessage('two'), grpcMessage('three'.repeat(100))]);
  const { exchanges } = runSession([
    ...open(),
    ['request', Buffer.concat([headers(1, p.c.encode(GRPC_REQ('/lantern.test.Echo/Repeat'))), data(1, grpcMessage('r'), { end: true })])],
    ['response', Buffer.concat([headers(1, p.s.encode(GRPC_RES)), data(1, msgs.subarray(0, 11))])],
    ['response', data(1, msgs.subarray(11, 200), { pad: 7 })],
    ['response', Buffer.concat([data(1, msgs.subarray(200)), headers(1, p.s.encode([['grpc-status', '0'], ['grpc-message', '']]), { end: true })])],
  ]);
  t.same(exchanges[0]!.grpc, { method: '/lantern.test.Echo/Repeat', requestMessages: 1, responseMessages: 3, status: 0, message: '' });
  t.equal(exchanges[0]!.response?.bodySize, msgs.length, 'padding not counted');
});

t.test('gRPC Trailers-Only error response', async (t) => {
  const p = peers();
  const { exchanges } = runSession([
    ...open(),
    ['request', Buffer.concat([headers(1, p.c.encode(GRPC_REQ('/grpc.health.v1.Health/Check'))), data(1, grpcMessage('\n\x0fno.such.Service'), { end: true })])],
    ['response', headers(1, p.s.encode([[':status', '200'], ['content-type', 'application/grpc'], ['grpc-status', '5'], ['grpc-message', 'unknown service']]), { end: true })],
  ]);
  t.same(exchanges[0]!.grpc, { method: '/grpc.health.v1.Health/Check', requestMessages: 1, responseMessages: 0, status: 5, message: 'unknown service' });
  t.same(exchanges[0]!.trailers, []);
  t.equal(exchanges[0]!.response?.statusCode, 200);
});

t.test('HTTP/2 trailers on a plain stream, and request trailers are kept apart', async (t) => {
  const p = peers();
  const { exchanges } = runSession([
    ...open(),
    ['request', Buffer.concat([headers(1, p.c.encode([[':method', 'POST'], [':path', '/up'], [':scheme', 'http'], [':authority', 'h']])), data(1, 'abc'),
      headers(1, p.c.encode([['x-checksum', '99']]), { end: true })])],
    ['response', Buffer.concat([headers(1, p.s.encode([[':status', '201']])), data(1, 'done'), headers(1, p.s.encode([['x-took', '5ms']]), { end: true })])],
  ]);
  t.equal(exchanges[0]!.response?.statusCode, 201);
  t.same(exchanges[0]!.trailers, [['x-took', '5ms']]);
  t.equal(exchanges[0]!.request.bodySize, 3);
});

t.test('RST_STREAM completes a stream; NO_ERROR after a complete response is not a failure', async (t) => {
  const p = peers();
  const get = (path: string): Buffer => p.c.encode([[':method', 'GET'], [':path', path], [':scheme', 'http'], [':authority', 'h']]);
  const { exchanges, session } = runSession([
    ...open(),
    ['request', Buffer.concat([headers(1, get('/slow'), { end: true }), headers(3, get('/upload'))])],
    ['request', rst(1, 8)], // the client gives up on /slow: CANCEL
    ['response', Buffer.concat([headers(3, p.s.encode([[':status', '413']])), data(3, 'too big', { end: true })])],
    ['response', rst(3, 0)], // and stops the upload it no longer needs (§8.1)
    ['response', data(1, 'late frame in flight')],
  ]);
  t.equal(exchanges.length, 2);
  t.match(exchanges[0], { streamId: 1, reset: 'CANCEL', response: null });
  t.match(exchanges[1], { streamId: 3, response: { statusCode: 413 } });
  t.equal(exchanges[1]!.reset, undefined);
  t.equal(session.stats().resets, 2);
  t.equal(session.stats().closedStreamFrames, 1, 'the DATA in flight for the reset stream is ignored');
});

t.test('GOAWAY: streams above last-stream-id were refused', async (t) => {
  const p = peers();
  const get = (path: string): Buffer => p.c.encode([[':method', 'GET'], [':path', path], [':scheme', 'http'], [':authority', 'h']]);
  const { exchanges, session } = runSession([
    ...open(),
    ['request', Buffer.concat([headers(1, get('/a'), { end: true }), headers(3, get('/b'), { end: true }), headers(5, get('/c'), { end: true })])],
    ['response', goaway(1, 0, 'graceful shutdown')],
    ['response', Buffer.concat([headers(1, p.s.encode([[':status', '200']]), { end: true })])],
  ], {}, undefined, false);
  t.same(exchanges.map((e) => [e.streamId, e.reset ?? 'done']), [[3, 'REFUSED_STREAM'], [5, 'REFUSED_STREAM'], [1, 'done']]);
  t.equal(session.stats().goaways, 1);
  t.equal(session.stats().refusedStreams, 2);
});

t.test('server push: the promised request and its response', async (t) => {
  const p = peers();
  const { exchanges } = runSession([
    ...open(),
    ['request', headers(1, p.c.encode([[':method', 'GET'], [':path', '/index.html'], [':scheme', 'http'], [':authority', 'h']]), { end: true })],
    ['response', Buffer.concat([
      pushPromise(1, 2, p.s.encode([[':method', 'GET'], [':path', '/style.css'], [':scheme', 'http'], [':authority', 'h']])),
      headers(1, p.s.encode([[':status', '200']])), data(1, '<html>', { end: true }),
      headers(2, p.s.encode([[':status', '200'], ['content-type', 'text/css']])), data(2, 'body{}', { end: true }),
    ])],
  ]);
  t.same(exchanges.map((e) => [e.streamId, e.request.target, e.response?.bodySize, e.pushed ?? false]), [[1, '/index.html', 6, false], [2, '/style.css', 6, true]]);
});

t.test('informational responses are counted, not reported', async (t) => {
  const p = peers();
  const { exchanges, session } = runSession([
    ...open(),
    ['request', headers(1, p.c.encode([[':method', 'PUT'], [':path', '/x'], [':scheme', 'http'], [':authority', 'h'], ['expect', '100-continue']]))],
    ['response', headers(1, p.s.encode([[':status', '100']]))],
    ['request', data(1, 'payload', { end: true })],
    ['response', headers(1, p.s.encode([[':status', '204']]), { end: true })],
  ]);
  t.equal(exchanges[0]!.response?.statusCode, 204);
  t.equal(session.stats().interimResponses, 1);
});

t.test('the connection closes: open streams complete as they stand', async (t) => {
  const p = peers();
  const { exchanges } = runSession([
    ...open(),
    ['request', headers(1, p.c.encode(GRPC_REQ('/lantern.test.Echo/Repeat')))],
    ['request', data(1, grpcMessage('r'), { end: true })],
    ['response', Buffer.concat([headers(1, p.s.encode(GRPC_RES)), data(1, grpcMessage('first'))])],
    ['request', headers(3, p.c.encode([[':method', 'GET'], [':path', '/never'], [':scheme', 'http'], [':authority', 'h']]), { end: true })],
  ]);
  t.same(exchanges.map((e) => [e.streamId, e.response?.statusCode ?? null, e.grpc?.responseMessages ?? null, e.grpc?.status ?? null]), [[1, 200, 1, null], [3, null, null, null]]);
});

t.test('a gap inside a DATA frame (the 16 KiB capture bound) costs only the bytes', async (t) => {
  const p = peers();
  // A 16 KiB DATA frame written with its HEADERS in one syscall: the kernel captures 16 KiB of it
  // and announces the rest as a gap.
  const upload = grpcMessage(Buffer.alloc(16_000, 7));
  const req = Buffer.concat([headers(1, p.c.encode(GRPC_REQ('/lantern.test.Blob/Put'))), data(1, upload, { end: true })]);
  const captured = 16_384;
  const { exchanges, session } = runSession([
    ...open(),
    ['request', req.subarray(0, captured)],
    ['gap', 'request', req.length - captured],
    ...unaryGrpc(p, 3, '/lantern.test.Echo/Say'),
  ]);
  // Stream 1 has no response in this script: it completes at close.
  const put = exchanges.find((e) => e.streamId === 1)!;
  t.equal(put.request.bodySize, upload.length, 'every byte counted, captured or not');
  t.equal(put.grpc?.requestMessages, 1);
  t.equal(put.grpc?.messagesLost, undefined, 'the gap fell inside one message');
  const say = exchanges.find((e) => e.streamId === 3)!;
  t.equal(say.grpc?.status, 0, 'the framer stayed in step');
  t.equal(say.headersLost, undefined, 'and so did HPACK');
  t.equal(session.stats().syncLosses, 0);
});

t.test('a gap spanning frames loses the place; frames are found again at the next syscall', async (t) => {
  const p = peers();
  const big = Buffer.concat([data(1, grpcMessage(Buffer.alloc(30_000, 1)).subarray(0, 16_384)), data(1, Buffer.alloc(30_005 - 16_384, 1), { end: true })]);
  const { exchanges, session } = runSession([
    ...open(),
    ['request', headers(1, p.c.encode(GRPC_REQ('/lantern.test.Blob/Put')))],
    ['request', big.subarray(0, 16_384)],
    ['gap', 'request', big.length - 16_384],
    ...unaryGrpc(p, 3, '/lantern.test.Echo/Say'),
  ]);
  t.equal(session.stats().syncLosses, 1);
  t.equal(session.stats().resyncs, 1);
  const say = exchanges.find((e) => e.streamId === 3)!;
  t.equal(say.response?.statusCode, 200, 'the next call is parsed');
  t.equal(say.headersLost, true, 'its request headers referenced entries HPACK can no longer vouch for');
  t.equal(say.grpc?.status, 0, 'the response direction lost nothing');
});

t.test('a gap that swallows a header block: later fields needing it are lost, not guessed', async (t) => {
  const p = peers();
  const req = (path: string): Buffer => p.c.encode([[':method', 'GET'], [':path', path], [':scheme', 'http'], [':authority', 'api.example'], ['x-tenant', 'blue']]);
  const steps: Step[] = [...open()];
  steps.push(['request', headers(1, req('/one'), { end: true })]);
  steps.push(['response', headers(1, p.s.encode([[':status', '200']]), { end: true })]);
  // Stream 3's HEADERS went by uncaptured, and with them what they inserted in the table.
  const lost = headers(3, p.c.encode([[':method', 'GET'], [':path', '/two'], [':authority', 'api.example'], ['x-new', 'inserted']]), { end: true });
  steps.push(['gap', 'request', lost.length]);
  steps.push(['request', headers(5, req('/three'), { end: true })]);
  steps.push(['response', Buffer.concat([headers(3, p.s.encode([[':status', '200']]), { end: true }), headers(5, p.s.encode([[':status', '200']]), { end: true })])]);
  const { exchanges, session } = runSession(steps);
  const five = exchanges.find((e) => e.streamId === 5)!;
  t.equal(five.headersLost, true);
  t.equal(five.request.method, 'GET', 'static-table fields survive');
  t.equal(five.request.target, '/three', 'literals survive');
  t.same([...five.request.headers], [], 'dynamic references after the gap are not guessed');
  t.equal(five.response?.statusCode, 200);
  t.ok(session.stats().hpackLostFields! >= 2);
  t.equal(exchanges.find((e) => e.streamId === 1)?.headersLost, undefined);
  t.equal(session.stats().syncLosses, 1);
  t.equal(session.stats().resyncs, 1);
});

t.test('mid-stream start: no preface, unknown dynamic entries → headersLost, partial attributes, no throw', async (t) => {
  const p = peers();
  // The connection's history before the capture: the encoders' tables hold entries we never see.
  p.c.encode(GRPC_REQ('/lantern.test.Echo/Say'), { huffman: true });
  p.s.encode([...GRPC_RES, ['grpc-status', '0']], { huffman: true });
  const steps: Step[] = [
    // Stream 7 was already open: only its last DATA and trailers are seen.
    ['response', data(7, grpcMessage('tail of an earlier call'))],
    ['request', headers(9, p.c.encode(GRPC_REQ('/lantern.test.Echo/Say'), { huffman: true }))],
    ['request', data(9, grpcMessage('hi'), { end: true })],
    ['response', headers(7, p.s.encode([['grpc-status', '0']]), { end: true })],
    ['response', Buffer.concat([headers(9, p.s.encode(GRPC_RES)), data(9, grpcMessage('hello')), headers(9, p.s.encode([['grpc-status', '0'], ['grpc-message', 'fine']]), { end: true })])],
  ];
  const { exchanges, session } = runSession(steps);
  t.equal(session.stats().midstream, 1);
  t.equal(session.stats().internalErrors, 0);
  const nine = exchanges.find((e) => e.streamId === 9)!;
  t.equal(nine.headersLost, true);
  t.equal(nine.request.method, 'POST', ':method POST is in the static table');
  t.equal(nine.request.target, '', ':path referenced an entry from before the capture');
  t.ok(session.stats().hpackLostFields! >= 6, 'lost fields counted');
  t.equal(nine.grpc, undefined, 'content-type was lost too: not known to be gRPC');
  t.equal(nine.response?.statusCode, 200, ':status 200 is static');
  t.equal(nine.request.bodySize, 7);
  t.equal(nine.response?.bodySize, 10);
  // Stream 7: nothing but DATA and trailers whose fields are all lost; reported as partial.
  const seven = exchanges.find((e) => e.streamId === 7);
  t.ok(seven === undefined || seven.headersLost === true);
  for (const ex of exchanges) t.doesNotThrow(() => JSON.stringify(timeless(ex)));
});

t.test('mid-stream start with fresh literals: fields the peers send anew are decoded', async (t) => {
  const p = peers();
  p.c.encode([['x-old', 'history']]);
  const steps: Step[] = [
    ['request', headers(11, p.c.encode([[':method', 'GET'], [':path', '/fresh'], [':scheme', 'http'], [':authority', 'h2.example'], ['x-old', 'history']]), { end: true })],
    ['response', Buffer.concat([headers(11, p.s.encode([[':status', '404']])), data(11, 'nope', { end: true })])],
  ];
  const { exchanges, session } = runSession(steps);
  t.equal(exchanges.length, 1);
  t.match(exchanges[0], { streamId: 11, headersLost: true, request: { method: 'GET', target: '/fresh', headers: [['host', 'h2.example']] }, response: { statusCode: 404 } });
  t.equal(session.stats().hpackLostFields, 1, 'only x-old, which referenced the old entry');
});

t.test('bounds: open streams, CONTINUATION floods', async (t) => {
  const p = peers();
  const steps: Step[] = [...open()];
  for (let id = 1; id <= 19; id += 2) steps.push(['request', headers(id, p.c.encode([[':method', 'GET'], [':path', `/${id}`], [':scheme', 'http'], [':authority', 'h']]), { end: true })]);
  const { exchanges, session } = runSession(steps, { maxStreams: 4 }, undefined, false);
  t.equal(session.stats().evictedStreams, 6);
  t.equal(exchanges.length, 6, 'evicted streams are reported (no response)');
  t.ok(session.stats().openStreams! <= 4);

  const flood: Buffer[] = [frame(T.HEADERS, 0, 1, p.c.encode([[':method', 'GET'], [':path', '/flood'], [':scheme', 'http'], [':authority', 'h']]))];
  for (let i = 0; i < 1000; i++) flood.push(frame(T.CONTINUATION, 0, 1, Buffer.alloc(0)));
  flood.push(frame(T.CONTINUATION, 0x4, 1, Buffer.alloc(0)));
  const r = runSession([...open(), ['request', Buffer.concat(flood)], ['request', ping()]], { maxContinuations: 128 });
  t.equal(r.session.stats().lostHeaderBlocks, 1, 'the block is given up past 128 CONTINUATIONs');
  t.equal(r.session.stats().internalErrors, 0);
});

// --- every split offset ----------------------------------------------------------------------

function conversation(): Step[] {
  const p = peers();
  const get = p.c.encode([[':method', 'GET'], [':path', '/status'], [':scheme', 'http'], [':authority', '127.0.0.1:8080']], { huffman: true });
  return [
    ...open(),
    ...unaryGrpc(p, 1, '/lantern.test.Echo/Say'),
    ['request', Buffer.concat([headers(3, p.c.encode(GRPC_REQ('/lantern.test.Echo/Repeat'), { huffman: true })), data(3, grpcMessage('r'), { end: true }), headers(5, get, { end: true, pad: 2 })])],
    ['response', Buffer.concat([headers(3, p.s.encode(GRPC_RES)), data(3, Buffer.concat([grpcMessage('a'), grpcMessage('b')]), { pad: 3 }), headers(5, p.s.encode([[':status', '200'], ['content-length', '3']]), { continuations: 1 }), ping(true), data(5, 'ok\n', { end: true })])],
    ['response', Buffer.concat([data(3, grpcMessage('c')), headers(3, p.s.encode([['grpc-status', '0']]), { end: true })])],
    ...unaryGrpc(p, 7, '/lantern.test.Echo/Say', '13', 'the handler failed'),
  ];
}

t.test('a whole conversation split at every offset of every syscall gives the same exchanges', async (t) => {
  const steps = conversation();
  const whole = runSession(steps).exchanges.map(timeless);
  t.equal(whole.length, 4);
  let checked = 0;
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i]!;
    if (step[0] === 'gap') continue;
    const bytes = step[1];
    for (let cut = 1; cut < bytes.length; cut++) {
      const split: Step[] = [...steps.slice(0, i), [step[0], bytes.subarray(0, cut)], [step[0], bytes.subarray(cut)], ...steps.slice(i + 1)];
      const got = runSession(split).exchanges.map(timeless);
      if (JSON.stringify(got) !== JSON.stringify(whole)) t.same(got, whole, `step ${i} split at ${cut}`);
      checked++;
    }
  }
  t.ok(checked > 500, `${checked} splits checked`);
});

t.test('server-side view: the same bytes with roles swapped produce the same exchanges', async (t) => {
  const a = runSession(conversation()).exchanges.map(timeless) as Array<Record<string, unknown>>;
  const b = runSession(conversation(), {}, SERVER_CONN).exchanges.map(timeless) as Array<Record<string, unknown>>;
  const strip = (x: Array<Record<string, unknown>>): unknown => x.map(({ connection: _c, ...rest }) => rest);
  t.same(strip(b), strip(a));
});

t.test('exchanges are plain data', async (t) => {
  const { exchanges } = runSession(conversation());
  const ex: Http2Exchange = exchanges[0]!;
  t.equal(ex.protocol, 'http2');
  t.equal(typeof ex.request.startNs, 'bigint');
});

t.test('a response reported before its request (two syscalls on two threads) still pairs', async (t) => {
  const p = peers();
  const get = (path: string): Buffer => p.c.encode([[':method', 'GET'], [':path', path], [':scheme', 'http'], [':authority', 'h']]);
  const ok = (): Buffer => p.s.encode([[':status', '200']]);
  const reqA = headers(1, get('/a'), { end: true });
  const reqB = headers(3, get('/b'), { end: true });
  const lostC = headers(5, get('/c'), { end: true }); // never captured: its bytes are a gap
  const reqD = headers(7, get('/d'), { end: true });
  const { exchanges, session } = runSession([
    ...open(),
    ['request', reqA],
    ['response', Buffer.concat([headers(1, ok()), data(1, 'a', { end: true })])],
    ['response', Buffer.concat([headers(3, ok()), data(3, 'b', { end: true })])], // before its request
    ['request', reqB],
    ['gap', 'request', lostC.length],
    ['response', Buffer.concat([headers(5, ok()), data(5, 'c', { end: true })])],
    ['request', reqD],
    ['response', Buffer.concat([headers(7, ok()), data(7, 'd', { end: true })])],
  ], {}, undefined, false);
  t.same(exchanges.map((e) => [e.streamId, e.request.target, e.headersLost ?? false]), [[1, '/a', false], [3, '/b', false], [5, '', true], [7, '/d', true]]);
  // (/d referenced :authority from the table, which the lost block for /c changed: lost, not guessed.)
  t.equal(session.stats().openStreams, 0);
});
