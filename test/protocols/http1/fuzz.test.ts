// Property tests with a seeded PRNG (xorshift32; a failure names its seed). Whatever arrives —
// random bytes, HTTP-looking soup, valid conversations truncated, mutated, reordered or with huge
// heads — no exception escapes (the last-resort guard never fires), the bytes held between feeds
// stay under maxHeaderBytes, the counters agree with what came out, the parser finds the next
// message after a gap, and the output never depends on where the chunks were cut. A session the
// handler pools serves its next connection exactly as a new one would.
import t from 'tap';
import type { HttpExchange, HttpMessage } from '../../../src/model/http.js';
import { Http1Connection, http1Handler } from '../../../src/protocols/http1/connection.js';
import type { MessageSide } from '../../../src/protocols/session.js';
import { Http1Parser, type Http1ParserStats, type Http1Side } from '../../../src/protocols/http1/parser.js';
import { XorShift32 } from '../../helpers/prng.js';

const MAX_HEADER = 4096;
const OPTS = { maxHeaderBytes: MAX_HEADER, maxBodyCapture: 64 };
const SEEDS = Array.from({ length: 40 }, (_, i) => 0x5eed0000 + i * 7919);

// --- valid conversations -------------------------------------------------------------------------

interface Conversation {
  requests: Buffer;
  responses: Buffer;
  /** Each exchange's request and response bytes. */
  perExchange: Array<{ request: Buffer; response: Buffer }>;
  methods: string[];
  /** "METHOD target status" per exchange, what the connection must report. */
  exchanges: string[];
  requestCount: number;
  responseCount: number;
}

const TOKEN = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_';

function token(r: XorShift32, min: number, max: number): string {
  let s = '';
  for (let i = min + r.int(max - min + 1); i > 0; i--) s += TOKEN[r.int(TOKEN.length)];
  return s;
}

function extraHeaders(r: XorShift32): string {
  let s = '';
  for (let i = r.int(8); i > 0; i--) s += `X-${token(r, 1, 12)}: ${token(r, 0, 40)}${r.chance(0.2) ? ' ; q=0.5, "quoted"' : ''}\r\n`;
  return s;
}

function chunked(r: XorShift32, body: Buffer): string {
  let s = '';
  let i = 0;
  while (i < body.length) {
    const n = 1 + r.int(Math.min(body.length - i, 700));
    s += `${n.toString(16)}${r.chance(0.2) ? ';ext=1' : ''}\r\n${body.subarray(i, i + n).toString('latin1')}\r\n`;
    i += n;
  }
  return `${s}0\r\n${r.chance(0.3) ? `X-Checksum: ${token(r, 4, 16)}\r\n` : ''}\r\n`;
}

function conversation(r: XorShift32): Conversation {
  const perExchange: Array<{ request: Buffer; response: Buffer }> = [];
  const methods: string[] = [];
  const exchanges: string[] = [];
  let responseCount = 0;
  const n = 1 + r.int(6);
  for (let i = 0; i < n; i++) {
    let requests = '';
    let responses = '';
    const target = `/${token(r, 0, 20)}${r.chance(0.3) ? `?q=${token(r, 1, 10)}` : ''}`;
    const body = r.bytes(r.int(r.chance(0.2) ? 5000 : 300)).toString('latin1');
    const head = (method: string, extra = ''): string => `${method} ${target} HTTP/1.1\r\nHost: svc.local\r\n${extraHeaders(r)}${extra}\r\n`;
    const ok = (status: string, extra = ''): string => `HTTP/1.1 ${status}\r\nServer: nginx/1.24.0\r\n${extraHeaders(r)}${extra}\r\n`;
    const kind = r.int(8);
    let method = 'GET';
    let status = '200';
    if (kind === 0) {
      requests += head('GET');
      responses += ok('200 OK', `Content-Length: ${body.length}\r\n`) + body;
    } else if (kind === 1) {
      method = 'POST';
      status = '201';
      requests += head('POST', `Content-Length: ${body.length}\r\n`) + body;
      responses += ok('201 Created', 'Content-Length: 0\r\n');
    } else if (kind === 2) {
      method = 'PUT';
      requests += head('PUT', 'Transfer-Encoding: chunked\r\n') + chunked(r, Buffer.from(body, 'latin1'));
      responses += ok('200 OK', 'Transfer-Encoding: chunked\r\n') + chunked(r, r.bytes(r.int(2000)));
    } else if (kind === 3) {
      method = 'HEAD';
      requests += head('HEAD');
      responses += ok('200 OK', `Content-Length: ${r.int(100000)}\r\n`);
    } else if (kind === 4) {
      status = '304';
      requests += head('GET', 'If-None-Match: "abc"\r\n');
      responses += ok('304 Not Modified');
    } else if (kind === 5) {
      method = 'DELETE';
      status = '204';
      requests += head('DELETE');
      responses += ok('204 No Content');
    } else if (kind === 6) {
      method = 'POST';
      requests += head('POST', `Content-Length: ${body.length}\r\nExpect: 100-continue\r\n`) + body;
      responses += `HTTP/1.1 100 Continue\r\n\r\n${ok('200 OK', 'Content-Length: 2\r\n')}ok`;
      responseCount++;
    } else {
      method = 'OPTIONS';
      requests += `\r\n${head('OPTIONS')}`; // a stray empty line first (RFC 9112 §2.2)
      responses += ok('200 OK', `Content-Length: ${body.length}\r\n`) + body;
    }
    methods.push(method);
    exchanges.push(`${method} ${target} ${status}`);
    responseCount++;
    perExchange.push({ request: Buffer.from(requests, 'latin1'), response: Buffer.from(responses, 'latin1') });
  }
  return {
    requests: Buffer.concat(perExchange.map((e) => e.request)),
    responses: Buffer.concat(perExchange.map((e) => e.response)),
    perExchange, methods, exchanges, requestCount: n, responseCount,
  };
}

// --- feeding and checking ----------------------------------------------------------------------

/** Random cut points, in one of a few styles (tiny, small, syscall-sized, mixed). */
function cuts(r: XorShift32, length: number): number[] {
  const style = r.int(4);
  const out: number[] = [];
  let at = 0;
  for (;;) {
    const step = style === 0 ? 1 + r.int(3) : style === 1 ? 1 + r.int(64) : style === 2 ? 1 + r.int(4096) : r.pick([1, 2, 7, 100, 1500, 4096, 65536]);
    at += step;
    if (at >= length) return out;
    out.push(at);
  }
}

function chunksOf(buf: Buffer, points: number[]): Buffer[] {
  const edges = [0, ...points, buf.length];
  const out: Buffer[] = [];
  for (let i = 0; i + 1 < edges.length; i++) out.push(buf.subarray(edges[i]!, edges[i + 1]!));
  return out;
}

interface Fed {
  messages: HttpMessage[];
  stats: Http1ParserStats;
  /** Problems with the invariants seen along the way. */
  problems: string[];
  /** Gaps that lost the parser its place (reset(), or skip() returning false). */
  resets: number;
}

function newParser(side: Http1Side, methods: string[] = []): Http1Parser {
  const p = new Http1Parser(side, OPTS);
  for (const m of methods) p.expectResponseTo(m);
  return p;
}

/** Feeds chunks (null: a gap of unknown size, a number: that many bytes missing), checking the memory bound after every feed. */
function feed(p: Http1Parser, chunks: Array<Buffer | number | null>, opts: { finish?: boolean } = {}): Fed {
  const messages: HttpMessage[] = [];
  const problems: string[] = [];
  let resets = 0;
  let time = 0n;
  for (const c of chunks) {
    if (c === null) {
      p.reset();
      resets++;
      continue;
    }
    if (typeof c === 'number') {
      if (!p.skip(c, (time += 1n))) resets++;
      messages.push(...p.take());
      continue;
    }
    p.feed(c, (time += 1n));
    if (p.bufferedBytes() >= MAX_HEADER) problems.push(`buffered ${p.bufferedBytes()} bytes`);
    messages.push(...p.take());
  }
  if (opts.finish) p.finish(time + 1n);
  messages.push(...p.take());
  const s = p.stats();
  if (s.internalErrors !== 0) problems.push(`internal error: ${JSON.stringify(p.lastError())}`);
  if (s.messages !== messages.length) problems.push(`stats.messages ${s.messages} but ${messages.length} emitted`);
  if (s.resyncs > s.parseErrors + resets) problems.push(`resyncs ${s.resyncs} > parseErrors ${s.parseErrors} + resets ${resets}`);
  if (s.skippedBytes + s.opaqueBytes > s.bytes) problems.push(`skipped ${s.skippedBytes} + opaque ${s.opaqueBytes} > bytes ${s.bytes}`);
  // The smallest message is 16 bytes ("A * HTTP/1.1\r\n\r\n", "HTTP/1.1 200\r\n\r\n").
  if (s.messages * 16 > s.bytes) problems.push(`${s.messages} messages from ${s.bytes} bytes`);
  for (const m of messages) {
    if (m.bodyPrefix.length > OPTS.maxBodyCapture || m.bodyPrefix.length > m.bodySize) problems.push(`bodyPrefix ${m.bodyPrefix.length} of ${m.bodySize}`);
    if (m.startNs > m.endNs) problems.push('startNs > endNs');
  }
  return { messages, stats: s, problems, resets };
}

const shape = (f: Fed): string =>
  JSON.stringify({ m: f.messages.map((m) => ({ ...m, startNs: undefined, endNs: undefined, bodyPrefix: Buffer.from(m.bodyPrefix).toString('hex') })), s: f.stats });

const SENTINEL: Record<Http1Side, Buffer> = {
  request: Buffer.from('GET /sentinel HTTP/1.1\r\nHost: s\r\n\r\n'),
  response: Buffer.from('HTTP/1.1 299 Sentinel\r\nContent-Length: 0\r\n\r\n'),
};

/** After a gap, the parser must find a whole message that follows (unless the stream switched protocols). */
function findsSentinel(p: Http1Parser, side: Http1Side): boolean {
  p.reset();
  p.feed(SENTINEL[side], 1_000_000n);
  const last = p.take().at(-1);
  if (p.tunneled) return true;
  return last !== undefined && (last.kind === 'request' ? last.target === '/sentinel' : last.statusCode === 299);
}

// --- the properties ------------------------------------------------------------------------------

/** Runs `body` `rounds` times for every seed, with that seed's generator and an id naming the case. */
function eachCase(rounds: number, body: (r: XorShift32, id: string, k: number) => void): void {
  for (const seed of SEEDS) {
    const r = new XorShift32(seed);
    for (let k = 0; k < rounds; k++) body(r, `seed ${seed}/${k}`, k);
  }
}

t.test('valid conversations: same output however they are cut, no errors', async (t) => {
  const problems: string[] = [];
  eachCase(5, (r, id) => {
    const c = conversation(r);
    for (const side of ['request', 'response'] as const) {
      const bytes = side === 'request' ? c.requests : c.responses;
      const whole = feed(newParser(side, c.methods), [bytes]);
      const expected = side === 'request' ? c.requestCount : c.responseCount;
      if (whole.messages.length !== expected || whole.stats.parseErrors !== 0) {
        problems.push(`${id} ${side}: ${whole.messages.length} of ${expected} messages, ${whole.stats.parseErrors} errors ${JSON.stringify(newParser(side).lastError())}`);
      }
      for (let j = 0; j < 4; j++) {
        const cut = feed(newParser(side, c.methods), chunksOf(bytes, cuts(r, bytes.length)));
        problems.push(...cut.problems.map((x) => `${id} ${side}: ${x}`));
        if (shape(cut) !== shape(whole)) problems.push(`${id} ${side}: cut differently, different output`);
      }
    }
  });
  t.same(problems, []);
});

t.test('keep-alive repeats: a head like the last one parses as a fresh parser parses it, however cut', async (t) => {
  // The parser reuses the parse of its last head for bytes equal to it (HeadMemo in parser.ts).
  const messagesOf = (f: Fed): string => JSON.stringify(f.messages.map((m) => ({ ...m, startNs: undefined, endNs: undefined, bodyPrefix: Buffer.from(m.bodyPrefix).toString('hex') })));
  const problems: string[] = [];
  let repeats = 0;
  eachCase(5, (r, id) => {
    const c = conversation(r);
    // Each exchange 1-4 times in a row, then a few again out of order: the same heads back to back and apart.
    const order: number[] = [];
    for (let i = 0; i < c.perExchange.length; i++) for (let k = 1 + r.int(4); k > 0; k--) order.push(i);
    for (let k = r.int(4); k > 0; k--) order.push(r.int(c.perExchange.length));
    repeats += order.length - c.perExchange.length;
    for (const side of ['request', 'response'] as const) {
      const parts = order.map((i) => (side === 'request' ? c.perExchange[i]!.request : c.perExchange[i]!.response));
      const alone: Fed = { messages: order.flatMap((i, j) => feed(newParser(side, [c.methods[i]!]), [parts[j]!]).messages), stats: newParser(side).stats(), problems: [], resets: 0 };
      const bytes = Buffer.concat(parts);
      const together = feed(newParser(side, order.map((i) => c.methods[i]!)), chunksOf(bytes, cuts(r, bytes.length)));
      problems.push(...together.problems.map((x) => `${id} ${side}: ${x}`));
      if (together.stats.parseErrors !== 0) problems.push(`${id} ${side}: ${together.stats.parseErrors} parse errors`);
      if (messagesOf(together) !== messagesOf(alone)) problems.push(`${id} ${side}: not what each message alone parses to`);
    }
  });
  t.ok(repeats > 500, `${repeats} repeated exchanges`);
  t.same(problems, []);
});

t.test('truncated conversations: a prefix of the messages, never an error', async (t) => {
  const problems: string[] = [];
  eachCase(5, (r, id) => {
    const c = conversation(r);
    for (const side of ['request', 'response'] as const) {
      const bytes = side === 'request' ? c.requests : c.responses;
      // One byte per feed, each at its offset: every message's endNs is the offset of its last byte.
      const exact = feed(newParser(side, c.methods), chunksOf(bytes, Array.from({ length: bytes.length - 1 }, (_, i) => i + 1)));
      const length = r.int(bytes.length);
      const part = bytes.subarray(0, length);
      const cut = feed(newParser(side, c.methods), chunksOf(part, cuts(r, part.length)), { finish: true });
      const complete = exact.messages.filter((m) => Number(m.endNs) <= length).length; // times start at 1
      const tag = `${id} ${side} cut at ${length}`;
      problems.push(...cut.problems.map((x) => `${tag}: ${x}`));
      if (cut.stats.parseErrors !== 0) problems.push(`${tag}: ${cut.stats.parseErrors} parse errors`);
      if (cut.messages.length !== complete) problems.push(`${tag}: ${cut.messages.length} messages, ${complete} complete`);
    }
  });
  t.same(problems, []);
});

/** Fragments that steer random input into the parser's deeper states. */
const SOUP = [
  'GET ', 'POST ', 'HEAD ', 'CONNECT ', '/', ' ', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/1.', '\r\n', '\r\n\r\n', '\r', '\n', ':', ': ',
  'Content-Length: ', 'Transfer-Encoding: chunked', 'Upgrade: websocket', '0', '1', '5', 'ff', 'ffffffffffffffffff', ';x=y', ' 200 OK',
  ' 100 Continue', ' 101 Switching', ' 204 ', '\t', '\x00', '\xff', 'a', 'zz',
];

function soup(r: XorShift32, length: number): Buffer {
  const parts: Buffer[] = [];
  let n = 0;
  while (n < length) {
    const b = r.chance(0.3) ? r.bytes(1 + r.int(8)) : Buffer.from(r.pick(SOUP), 'latin1');
    parts.push(b);
    n += b.length;
  }
  return Buffer.concat(parts);
}

t.test('random bytes and HTTP soup: bounded, consistent, and the next message is found', async (t) => {
  const problems: string[] = [];
  eachCase(6, (r, id, k) => {
    const side = r.pick(['request', 'response'] as const);
    const bytes = k % 2 === 0 ? r.bytes(r.int(20000)) : soup(r, r.int(20000));
    const chunks: Array<Buffer | number | null> = chunksOf(bytes, cuts(r, bytes.length));
    for (let g = r.int(4); g > 0; g--) chunks.splice(r.int(chunks.length + 1), 0, r.chance(0.5) ? null : 1 + r.int(5000));
    const p = newParser(side, ['GET', 'HEAD', 'CONNECT', 'POST']);
    const fed = feed(p, chunks);
    const tag = `${id} ${side}`;
    problems.push(...fed.problems.map((x) => `${tag}: ${x}`));
    if (!findsSentinel(p, side)) problems.push(`${tag}: the message after a gap was not found`);
    // Malformed input too must not depend on where it was cut.
    const again = feed(newParser(side, ['GET', 'HEAD', 'CONNECT', 'POST']), [bytes]);
    const cutAgain = feed(newParser(side, ['GET', 'HEAD', 'CONNECT', 'POST']), chunksOf(bytes, cuts(r, bytes.length)));
    if (shape(again) !== shape(cutAgain)) problems.push(`${tag}: cut differently, different output`);
  });
  t.same(problems, []);
});

/** Flips, inserts, deletes and duplicates a few byte ranges. */
function mutate(r: XorShift32, src: Buffer): Buffer {
  let b = Buffer.from(src);
  for (let m = 1 + r.int(4); m > 0 && b.length > 0; m--) {
    const at = r.int(b.length);
    const op = r.int(4);
    if (op === 0) b[at] = r.next() & 0xff;
    else if (op === 1) b = Buffer.concat([b.subarray(0, at), r.chance(0.5) ? r.bytes(1 + r.int(4)) : Buffer.from(r.pick(SOUP), 'latin1'), b.subarray(at)]);
    else if (op === 2) b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + r.int(40)))]);
    else b = Buffer.concat([b.subarray(0, at), b.subarray(at, at + r.int(200)), b.subarray(at)]);
  }
  return b;
}

t.test('mutated conversations: bounded, consistent, cut-independent, recovering', async (t) => {
  const problems: string[] = [];
  let recovered = 0;
  let total = 0;
  eachCase(8, (r, id) => {
    const c = conversation(r);
    // Several conversations in a row, so there is something after the damage to recover.
    const more = conversation(r);
    for (const side of ['request', 'response'] as const) {
      const methods = [...c.methods, ...more.methods];
      const clean = side === 'request' ? Buffer.concat([c.requests, more.requests]) : Buffer.concat([c.responses, more.responses]);
      const bytes = mutate(r, clean);
      const tag = `${id} ${side}`;
      const whole = feed(newParser(side, methods), [bytes]);
      const p = newParser(side, methods);
      const cut = feed(p, chunksOf(bytes, cuts(r, bytes.length)));
      problems.push(...whole.problems.map((x) => `${tag}: ${x}`), ...cut.problems.map((x) => `${tag}: ${x}`));
      if (shape(whole) !== shape(cut)) problems.push(`${tag}: cut differently, different output`);
      if (!findsSentinel(p, side)) problems.push(`${tag}: the message after a gap was not found`);
      total++;
      const expected = side === 'request' ? c.requestCount + more.requestCount : c.responseCount + more.responseCount;
      if (whole.messages.length >= expected - 2) recovered++;
    }
  });
  t.same(problems, []);
  // A few damaged bytes should cost a message or two, not the rest of the connection.
  t.ok(recovered / total > 0.8, `kept all but at most two messages in ${recovered} of ${total} damaged streams`);
});

t.test('valid conversations with gaps of known size: in step whenever the gap is inside a body', async (t) => {
  const problems: string[] = [];
  let inStep = 0;
  let total = 0;
  eachCase(5, (r, id) => {
    const c = conversation(r);
    for (const side of ['request', 'response'] as const) {
      const bytes = side === 'request' ? c.requests : c.responses;
      const whole = feed(newParser(side, c.methods), [bytes]);
      // Lose one chunk of the stream, its size known.
      const chunks: Array<Buffer | number> = chunksOf(bytes, cuts(r, bytes.length));
      const lost = r.int(chunks.length);
      chunks[lost] = (chunks[lost] as Buffer).length;
      const p = newParser(side, c.methods);
      const fed = feed(p, chunks);
      const tag = `${id} ${side}`;
      problems.push(...fed.problems.map((x) => `${tag}: ${x}`));
      total++;
      if (fed.resets === 0) {
        inStep++;
        // Stayed in step: the same messages, sizes included; only the captured prefixes may be shorter.
        const sizes = (f: Fed): string => JSON.stringify(f.messages.map((m) => [m.kind, m.bodySize, m.headers]));
        if (sizes(fed) !== sizes(whole) || fed.stats.parseErrors !== 0) problems.push(`${tag}: in step but different messages`);
        fed.messages.forEach((m, i) => {
          const full = Buffer.from(whole.messages[i]!.bodyPrefix);
          if (!full.subarray(0, m.bodyPrefix.length).equals(Buffer.from(m.bodyPrefix))) problems.push(`${tag}: prefix ${i} not a prefix`);
        });
      }
      if (!findsSentinel(p, side)) problems.push(`${tag}: the message after a gap was not found`);
    }
  });
  t.same(problems, []);
  t.ok(inStep > total / 10, `${inStep} of ${total} gaps fell inside a body and kept the parser in step`);
});

t.test('reordered chunks: bounded, consistent, recovering', async (t) => {
  const problems: string[] = [];
  eachCase(5, (r, id) => {
    const c = conversation(r);
    for (const side of ['request', 'response'] as const) {
      const bytes = side === 'request' ? c.requests : c.responses;
      const chunks = chunksOf(bytes, cuts(r, bytes.length));
      for (let s = 1 + r.int(3); s > 0 && chunks.length > 1; s--) {
        const i = r.int(chunks.length - 1);
        [chunks[i], chunks[i + 1]] = [chunks[i + 1]!, chunks[i]!];
      }
      const p = newParser(side, c.methods);
      const fed = feed(p, chunks);
      const tag = `${id} ${side}`;
      problems.push(...fed.problems.map((x) => `${tag}: ${x}`));
      if (!findsSentinel(p, side)) problems.push(`${tag}: the message after a gap was not found`);
    }
  });
  t.same(problems, []);
});

t.test('huge header blocks: held bytes stay bounded, the next message is parsed', async (t) => {
  const problems: string[] = [];
  for (const seed of SEEDS.slice(0, 12)) {
    const r = new XorShift32(seed);
    const side = r.pick(['request', 'response'] as const);
    const start = side === 'request' ? 'POST /huge HTTP/1.1\r\n' : 'HTTP/1.1 200 OK\r\n';
    const size = 1024 + r.int(1 << 20);
    const line = `X-Pad-${token(r, 1, 8)}: ${token(r, 10, 60)}\r\n`;
    const huge = Buffer.from(`${start}${line.repeat(Math.ceil(size / line.length))}\r\n`, 'latin1');
    const bytes = Buffer.concat([huge, SENTINEL[side]]);
    const p = newParser(side);
    const fed = feed(p, chunksOf(bytes, cuts(r, bytes.length)));
    const tag = `seed ${seed} ${side} ${huge.length} bytes`;
    problems.push(...fed.problems.map((x) => `${tag}: ${x}`));
    if (fed.stats.parseErrors !== 1 || p.lastError()?.reason !== 'head-too-large') problems.push(`${tag}: ${fed.stats.parseErrors} errors, last ${p.lastError()?.reason}`);
    const last = fed.messages.at(-1);
    if (fed.messages.length !== 1 || (last?.kind === 'request' ? last.target !== '/sentinel' : last?.statusCode !== 299)) problems.push(`${tag}: sentinel not parsed`);
  }
  t.same(problems, []);
});

const CONN = { pid: 1, fd: 3, generation: 1, role: 'server' as const, family: 'ipv4' as const, transport: 'tcp' as const, local: { address: '127.0.0.1', port: 80 }, remote: { address: '127.0.0.1', port: 40000 } };

/** What a connection is told, in order: bytes of a side, a gap of unknown or known size. */
type Step = { side: MessageSide; chunk: Buffer; gap: 'none' | 'unknown' | 'known' };

/**
 * Conversation `c` as one connection's steps: requests may run ahead of responses (pipelining), a
 * response starts after its request was sent; `damaged`: some gaps and mutated chunks.
 */
function connectionSteps(r: XorShift32, c: Conversation, damaged: boolean): Step[] {
  const reqChunks = c.perExchange.map((e) => chunksOf(e.request, cuts(r, e.request.length)));
  const resChunks = c.perExchange.map((e) => chunksOf(e.response, cuts(r, e.response.length)));
  const steps: Step[] = [];
  let qi = 0;
  let si = 0;
  while (si < c.perExchange.length) {
    const sendRequest = qi < c.perExchange.length && (si === qi || r.chance(0.5));
    const side = sendRequest ? 'request' : 'response';
    const queue = sendRequest ? reqChunks[qi]! : resChunks[si]!;
    let chunk = queue.shift() ?? Buffer.alloc(0);
    if (queue.length === 0) {
      if (sendRequest) qi++;
      else si++;
    }
    if (damaged && r.chance(0.05)) steps.push({ side, chunk: Buffer.alloc(0), gap: 'unknown' });
    if (damaged && r.chance(0.05)) {
      steps.push({ side, chunk, gap: 'known' });
      continue;
    }
    if (damaged && r.chance(0.05)) chunk = mutate(r, chunk);
    steps.push({ side, chunk, gap: 'none' });
  }
  return steps;
}

/** Plays `steps` on `x` (then closes it unless `close` is false); the exchanges it drained. */
function play(x: Http1Connection, steps: readonly Step[], close = true): HttpExchange[] {
  const out: HttpExchange[] = [];
  let time = 0n;
  for (const { side, chunk, gap } of steps) {
    if (gap === 'unknown') x.onGap(side);
    else if (gap === 'known') x.onGap(side, chunk.length, (time += 1n));
    else x.onData(side, chunk, (time += 1n));
    out.push(...x.drain());
  }
  if (close) {
    x.onClose(time + 1n);
    out.push(...x.drain());
  }
  return out;
}

t.test('connections: interleaved directions pair every exchange in order; damage never breaks the invariants', async (t) => {
  const problems: string[] = [];
  eachCase(4, (r, id, k) => {
    const c = conversation(r);
    const damaged = k >= 2;
    const x = new Http1Connection(CONN, OPTS);
    const out = play(x, connectionSteps(r, c, damaged));
    const tag = `${id}${damaged ? ' damaged' : ''}`;
    const stats = x.detailedStats();
    if (stats.request.internalErrors + stats.response.internalErrors !== 0) problems.push(`${tag}: internal error`);
    out.forEach((e, i) => {
      if (i > 0 && e.ordinal <= out[i - 1]!.ordinal) problems.push(`${tag}: ordinals not increasing`);
      if (e.response !== null && e.response.startNs < e.request.startNs) problems.push(`${tag}: response before its request`);
    });
    if (stats.matcher.requests !== out.length) problems.push(`${tag}: ${stats.matcher.requests} requests, ${out.length} exchanges`);
    if (!damaged) {
      // Without damage, and with responses after their requests, every exchange pairs right.
      const got = out.map((e) => `${e.request.method} ${e.request.target} ${e.response?.statusCode ?? '-'}`);
      if (JSON.stringify(got) !== JSON.stringify(c.exchanges)) problems.push(`${tag}: ${JSON.stringify(got)} != ${JSON.stringify(c.exchanges)}`);
    }
  });
  t.same(problems, []);
});

/**
 * An object's state for comparison: its own fields, deep; bytes and functions by kind only, the
 * parsers' head memo left out (a pooled parser keeps its last one on purpose).
 */
function stateOf(x: unknown, seen = new Set<object>()): unknown {
  if (typeof x === 'bigint') return `${x}n`;
  if (typeof x === 'function') return '<function>';
  if (x === null || typeof x !== 'object') return x;
  if (x instanceof Uint8Array) return '<bytes>';
  if (seen.has(x)) return '<seen>';
  seen.add(x);
  if (Array.isArray(x)) return x.map((v) => stateOf(v, seen));
  return Object.fromEntries(Object.entries(x).filter(([k]) => k !== 'memo').map(([k, v]) => [k, stateOf(v, seen)]));
}

t.test('a pooled session, given back in any state, serves its next connection as a new session would', async (t) => {
  const problems: string[] = [];
  const next = { ...CONN, generation: 2, remote: { address: '127.0.0.1', port: 40001 } };
  eachCase(3, (r, id, k) => {
    // The connection before: damaged or not, closed or cut off anywhere (startOver must not care).
    const before = http1Handler.open(CONN) as Http1Connection;
    const steps = connectionSteps(r, conversation(r), k > 0);
    play(before, steps.slice(0, r.chance(0.5) ? steps.length : r.int(steps.length + 1)), r.chance(0.5));
    http1Handler.release!(before);
    const reused = http1Handler.open(next) as Http1Connection;
    if (reused !== before) problems.push(`${id}: the session given back last is not the one opened next`);
    const fresh = new Http1Connection(next, { maxBodyCapture: 0 });
    if (JSON.stringify(stateOf(reused)) !== JSON.stringify(stateOf(fresh))) problems.push(`${id}: state after startOver differs from a new session's`);
    const after = connectionSteps(r, conversation(r), k === 2);
    const got = JSON.stringify(stateOf(play(reused, after)));
    const want = JSON.stringify(stateOf(play(fresh, after)));
    if (got !== want) problems.push(`${id}: exchanges differ`);
    if (JSON.stringify(reused.stats()) !== JSON.stringify(fresh.stats())) problems.push(`${id}: counters differ`);
    http1Handler.release!(reused);
  });
  t.same(problems, []);
  // Given back twice, a session is pooled once: two connections never share it.
  const s = http1Handler.open(CONN);
  http1Handler.release!(s);
  http1Handler.release!(s);
  const a = http1Handler.open(CONN);
  const b = http1Handler.open(next);
  t.not(a, b, 'two connections, two sessions');
  // One made elsewhere (other options) is never handed out by the handler.
  const foreign = new Http1Connection(CONN, OPTS);
  http1Handler.release!(foreign);
  t.not(http1Handler.open(CONN), foreign, 'a session the handler did not make is not pooled');
});
