// Property tests with a seeded PRNG: random and mutated frames, random chunking and gaps, huge
// lengths, bad HPACK indices, plain garbage. Whatever comes in: no exception escapes, the
// last-resort guard never fires (it would mean a bug), open streams and buffered bytes stay within
// their bounds, and a valid conversation after the garbage on a fresh connection still parses.
import t, { type Test } from 'tap';
import { Http2Connection } from '../../../src/protocols/http2/connection.js';
import { HpackDecoder } from '../../../src/protocols/http2/hpack.js';
import {
  CLIENT_CONN, F, HpackEncoder, PREFACE, T, data, frame, goaway, grpcMessage, headers, hpackInt, ping, prng, rst, runSession, settings,
} from './builder.js';

const MAX_STREAMS = 64;
/** Both framers' search windows and header payloads, plus a header block being collected. */
const BUFFER_BOUND = 2 * (64 * 1024 + 64 * 1024 + 9) + 64 * 1024;

function randomBytes(rnd: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rnd() * 256);
  return b;
}

const pick = <T>(rnd: () => number, xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;

/** A random but mostly well-formed frame, sometimes mutated. */
function randomFrame(rnd: () => number, enc: HpackEncoder): Buffer {
  const id = 1 + 2 * Math.floor(rnd() * 40);
  const r = rnd();
  let f: Buffer;
  if (r < 0.25) {
    const fields: Array<[string, string]> = [[':method', pick(rnd, ['GET', 'POST'])], [':path', `/p/${Math.floor(rnd() * 10)}`], [':scheme', 'http'], [':authority', 'h']];
    if (rnd() < 0.5) fields.push(['content-type', 'application/grpc']);
    if (rnd() < 0.3) fields.push([':status', pick(rnd, ['200', '100', '404', 'abc'])]);
    if (rnd() < 0.3) fields.push(['grpc-status', pick(rnd, ['0', '5', '99999999999', 'x'])]);
    f = headers(id, enc.encode(fields, { huffman: rnd() < 0.5 }), { end: rnd() < 0.5, pad: rnd() < 0.2 ? Math.floor(rnd() * 20) : undefined, priority: rnd() < 0.2, continuations: rnd() < 0.2 ? 2 : 0 });
  } else if (r < 0.5) {
    f = data(id, rnd() < 0.5 ? grpcMessage(randomBytes(rnd, Math.floor(rnd() * 50))) : randomBytes(rnd, Math.floor(rnd() * 300)), { end: rnd() < 0.4, pad: rnd() < 0.2 ? Math.floor(rnd() * 10) : undefined });
  } else if (r < 0.55) f = rst(id, Math.floor(rnd() * 16));
  else if (r < 0.6) f = settings([[1, Math.floor(rnd() * 70000)], [5, Math.floor(rnd() * 2 ** 24)]], rnd() < 0.2);
  else if (r < 0.65) f = goaway(Math.floor(rnd() * 100), Math.floor(rnd() * 14), 'bye');
  else if (r < 0.7) f = ping(rnd() < 0.5);
  else if (r < 0.75) f = frame(T.HEADERS, F.END_HEADERS, id, randomBytes(rnd, Math.floor(rnd() * 40))); // bad HPACK
  else if (r < 0.8) f = frame(T.HEADERS, F.END_HEADERS, id, Buffer.concat([hpackInt(Math.floor(rnd() * 5000), 7, 0x80), hpackInt(0, 7, 0x80)])); // bad indices
  else if (r < 0.85) f = frame(T.CONTINUATION, rnd() < 0.5 ? F.END_HEADERS : 0, id, randomBytes(rnd, Math.floor(rnd() * 20)));
  else if (r < 0.9) f = frame(Math.floor(rnd() * 256), Math.floor(rnd() * 256), Math.floor(rnd() * 2 ** 31), randomBytes(rnd, Math.floor(rnd() * 30)));
  else if (r < 0.95) f = frame(pick(rnd, [T.DATA, T.HEADERS, T.SETTINGS, T.GOAWAY]), 0, id, Buffer.alloc(0), pick(rnd, [2 ** 24 - 1, 2 ** 20, 70000])); // huge lengths, truncated
  else f = frame(T.PUSH_PROMISE, F.END_HEADERS, id, Buffer.concat([Buffer.from([0, 0, 0, 2 * Math.floor(rnd() * 10)]), enc.encode([[':method', 'GET'], [':path', '/push']])]));
  // Mutations: flip a byte, truncate.
  if (rnd() < 0.1) f[Math.floor(rnd() * f.length)] = Math.floor(rnd() * 256);
  if (rnd() < 0.05) f = f.subarray(0, Math.floor(rnd() * f.length));
  return f;
}

function check(t: Test, session: Http2Connection, label: string): boolean {
  const st = session.stats();
  const ok = st.internalErrors === 0 && (st.openStreams ?? 0) <= MAX_STREAMS && session.bufferedBytes() <= BUFFER_BOUND;
  if (!ok) t.fail(`${label}: internalErrors ${st.internalErrors}, open ${st.openStreams}, buffered ${session.bufferedBytes()}`);
  return ok;
}

t.test('random frame sequences, random chunking and gaps', async (t) => {
  let passed = 0;
  for (let seed = 1; seed <= 300; seed++) {
    const rnd = prng(seed);
    const session = new Http2Connection(CLIENT_CONN, { maxStreams: MAX_STREAMS });
    const encs = { request: new HpackEncoder(), response: new HpackEncoder() };
    let time = 1n;
    let ok = true;
    try {
      if (rnd() < 0.8) session.data('request', PREFACE, time++);
      for (let i = 0; i < 60 && ok; i++) {
        const side = rnd() < 0.5 ? 'request' : 'response';
        const bytes = randomFrame(rnd, encs[side]);
        // Random syscall boundaries, sometimes a gap.
        let p = 0;
        while (p < bytes.length) {
          const n = 1 + Math.floor(rnd() * (bytes.length - p));
          session.data(side, bytes.subarray(p, p + n), time++);
          p += n;
        }
        if (rnd() < 0.05) session.gap(side, 1 + Math.floor(rnd() * 20_000), time++);
        session.drain();
        ok = check(t, session, `seed ${seed} frame ${i}`);
      }
      session.close(time);
      for (const ex of session.drain()) JSON.stringify(ex, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v));
      if (ok && check(t, session, `seed ${seed} closed`)) passed++;
    } catch (err) {
      t.fail(`seed ${seed}: ${(err as Error).stack}`);
    }
  }
  t.equal(passed, 300, 'no exception, no internal error, bounds kept');
});

t.test('pure garbage on both sides', async (t) => {
  for (let seed = 1000; seed < 1100; seed++) {
    const rnd = prng(seed);
    const session = new Http2Connection(CLIENT_CONN, { maxStreams: MAX_STREAMS });
    for (let i = 0; i < 20; i++) session.data(rnd() < 0.5 ? 'request' : 'response', randomBytes(rnd, Math.floor(rnd() * 30_000)), BigInt(i + 1));
    session.close(100n);
    session.drain();
    if (!check(t, session, `seed ${seed}`)) break;
  }
  t.pass('survived');
});

t.test('a valid conversation truncated at random points, then closed', async (t) => {
  const c = new HpackEncoder();
  const s = new HpackEncoder();
  const req = Buffer.concat([PREFACE, settings(), headers(1, c.encode([[':method', 'POST'], [':path', '/a.B/C'], [':scheme', 'http'], [':authority', 'h'], ['content-type', 'application/grpc']])), data(1, grpcMessage('x'.repeat(100)), { end: true })]);
  const res = Buffer.concat([settings(), headers(1, s.encode([[':status', '200'], ['content-type', 'application/grpc']])), data(1, grpcMessage('y')), headers(1, s.encode([['grpc-status', '0']]), { end: true })]);
  const rnd = prng(42);
  for (let i = 0; i < 300; i++) {
    const a = Math.floor(rnd() * (req.length + 1));
    const b = Math.floor(rnd() * (res.length + 1));
    const { exchanges, session } = runSession([['request', req.subarray(0, a)], ['response', res.subarray(0, b)]].filter(([, x]) => (x as Buffer).length > 0) as Array<['request' | 'response', Buffer]>);
    if (!check(t, session, `cut ${a}/${b}`)) break;
    if (a === req.length && b === res.length) t.equal(exchanges[0]?.grpc?.status, 0);
    for (const ex of exchanges) if (ex.grpc !== undefined && ex.grpc.method !== '/a.B/C' && ex.grpc.method !== '') t.fail(`garbage method ${ex.grpc.method}`);
  }
  t.pass('truncations handled');
});

t.test('HPACK decoder: random blocks never throw, never yield names from nowhere', async (t) => {
  const rnd = prng(9);
  let blocks = 0;
  for (let i = 0; i < 3000; i++) {
    const d = new HpackDecoder({ unknownStart: rnd() < 0.5, tableSize: Math.floor(rnd() * 8192) });
    for (let k = 0; k < 5; k++) {
      const r = d.decode(randomBytes(rnd, Math.floor(rnd() * 64)));
      blocks++;
      if (r.headers.some(([n, v]) => typeof n !== 'string' || typeof v !== 'string')) t.fail('non-string field');
    }
    if (d.tableBytes > 64 * 1024) t.fail('table beyond its bound');
  }
  t.equal(blocks, 15_000);
});

t.test('a mutated real conversation: exchanges that come out name real paths or none', async (t) => {
  const rnd = prng(77);
  const c = new HpackEncoder();
  const s = new HpackEncoder();
  const reqParts: Buffer[] = [PREFACE, settings()];
  const resParts: Buffer[] = [settings()];
  for (let id = 1; id < 40; id += 2) {
    reqParts.push(headers(id, c.encode([[':method', 'POST'], [':path', `/svc.S/M${id % 3}`], [':scheme', 'http'], [':authority', 'h'], ['content-type', 'application/grpc']], { huffman: true })));
    reqParts.push(data(id, grpcMessage('q'), { end: true }));
    resParts.push(headers(id, s.encode([[':status', '200'], ['content-type', 'application/grpc']])), data(id, grpcMessage('r')), headers(id, s.encode([['grpc-status', String(id % 4)]]), { end: true }));
  }
  const req = Buffer.concat(reqParts);
  const res = Buffer.concat(resParts);
  const paths = new Set(['', '/svc.S/M0', '/svc.S/M1', '/svc.S/M2']);
  let exact = 0;
  let mutated = 0;
  for (let trial = 0; trial < 200; trial++) {
    const mq = Buffer.from(req);
    const mr = Buffer.from(res);
    for (let k = 0; k < 3; k++) mq[24 + Math.floor(rnd() * (mq.length - 24))] = Math.floor(rnd() * 256);
    for (let k = 0; k < 3; k++) mr[Math.floor(rnd() * mr.length)] = Math.floor(rnd() * 256);
    const { exchanges, session } = runSession([['request', mq], ['response', mr]], { maxStreams: MAX_STREAMS });
    if (!check(t, session, `trial ${trial}`)) break;
    for (const ex of exchanges) {
      // A flipped byte inside a literal (or its Huffman code) changes that literal, and the table
      // entry later references copy; no more can be asked of bytes that were changed.
      if (paths.has(ex.grpc?.method ?? ex.request.target)) exact++;
      else mutated++;
    }
  }
  t.ok(exact > mutated * 10, `${exact} exchanges with a real path, ${mutated} with a mutated literal`);
});
