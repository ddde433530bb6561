// The framer: whole messages out of arbitrary chunks (every split offset), both framings of the
// protocol, the encryption switch, capture bounds, and finding its place again after lost bytes.
import t from 'tap';
import { ENCRYPTION_ANSWER, type PgFrame, PgFramer, STARTUP_FRAME } from '../../../src/protocols/postgres/framer.js';
import { be, fe, prng, startupAnswer } from './builder.js';
import { pgbenchExtended, pgxCached, psqlSession, sideBytes } from './conversations.js';

const CAPTURE_ALL = (): number => 1 << 20;

function framer(side: 'request' | 'response', capture: (type: number) => number = CAPTURE_ALL): PgFramer {
  return new PgFramer({ side, capture });
}

/** Type, declared length and captured body of each frame, comparable with t.same. */
function shape(frames: PgFrame[]): Array<[number, number, string]> {
  return frames.map((f) => [f.type, f.length, Buffer.from(f.body).toString('hex')]);
}

function frameAll(side: 'request' | 'response', chunks: Uint8Array[], answer: boolean): PgFrame[] {
  const f = framer(side);
  if (answer) f.expectEncryptionAnswer();
  const out: PgFrame[] = [];
  let time = 1n;
  for (const c of chunks) {
    f.feed(c, time++);
    out.push(...f.take());
  }
  return out;
}

const streams: Array<[string, 'request' | 'response', Buffer, boolean]> = [
  ['psql requests', 'request', sideBytes(psqlSession(), 'request'), false],
  ['psql responses', 'response', sideBytes(psqlSession(), 'response'), true],
  ['pgbench extended requests', 'request', sideBytes(pgbenchExtended(1), 'request'), false],
  ['pgbench extended responses', 'response', sideBytes(pgbenchExtended(1), 'response'), false],
  ['pgx requests', 'request', sideBytes(pgxCached(2), 'request'), false],
  ['pgx responses', 'response', sideBytes(pgxCached(2), 'response'), true],
];

t.test('every split offset gives the same messages as the whole stream', async (t) => {
  for (const [name, side, bytes, answer] of streams) {
    const whole = shape(frameAll(side, [bytes], answer));
    t.ok(whole.length > 5, `${name}: ${whole.length} messages`);
    let same = 0;
    for (let k = 0; k <= bytes.length; k++) {
      if (JSON.stringify(shape(frameAll(side, [bytes.subarray(0, k), bytes.subarray(k)], answer))) === JSON.stringify(whole)) same++;
      else t.fail(`${name}: split at ${k} differs`);
    }
    t.equal(same, bytes.length + 1, `${name}: all ${bytes.length + 1} splits`);
    const oneByOne = Array.from(bytes, (b) => Uint8Array.of(b));
    t.same(shape(frameAll(side, oneByOne, answer)), whole, `${name}: one byte at a time`);
  }
});

t.test('three-way splits at random offsets', async (t) => {
  const rnd = prng(3);
  for (const [name, side, bytes, answer] of streams) {
    const whole = JSON.stringify(shape(frameAll(side, [bytes], answer)));
    let same = 0;
    for (let i = 0; i < 300; i++) {
      const a = Math.floor(rnd() * bytes.length);
      const b = a + Math.floor(rnd() * (bytes.length - a));
      if (JSON.stringify(shape(frameAll(side, [bytes.subarray(0, a), bytes.subarray(a, b), bytes.subarray(b)], answer))) === whole) same++;
    }
    t.equal(same, 300, name);
  }
});

t.test('startup framing: untyped until the StartupMessage, typed after', async (t) => {
  const f = framer('request');
  f.feed(fe().sslRequest().bytes(), 1n);
  t.equal(f.mode, 'startup', 'an SSLRequest is followed by another startup packet');
  f.feed(fe().startup({ user: 'u' }).query('SELECT 1').bytes(), 2n);
  const frames = f.take();
  t.same(frames.map((x) => x.type), [STARTUP_FRAME, STARTUP_FRAME, 0x51]);
  t.equal(f.mode, 'typed');
  t.equal(frames[2]?.startNs, 2n);
});

t.test('the answer to SSLRequest: N continues in plaintext, S makes the rest opaque', async (t) => {
  const n = framer('response');
  n.expectEncryptionAnswer();
  n.feed(Buffer.concat([Buffer.from('N'), startupAnswer().bytes()]), 1n);
  t.same(n.take().map((x) => x.type), [ENCRYPTION_ANSWER, 0x52, 0x53, 0x53, 0x4b, 0x5a], "'N' then AuthenticationOk... ReadyForQuery");

  const s = framer('response');
  s.expectEncryptionAnswer();
  const tls = Buffer.from('160303007a020000760303aabbccdd', 'hex');
  s.feed(Buffer.concat([Buffer.from('S'), tls]), 1n);
  const frames = s.take();
  t.equal(frames.length, 1);
  t.same(Array.from(frames[0]!.body), [0x53]);
  t.equal(s.mode, 'opaque');
  s.feed(Buffer.alloc(5000, 0x17), 2n);
  t.equal(s.skip(100, 3n), true, 'gaps in encrypted bytes are harmless');
  t.same(s.take(), []);
  t.equal(s.stats().encrypted, tls.length + 5000 + 100, 'encrypted bytes are counted');

  const e = framer('response');
  e.expectEncryptionAnswer();
  e.feed(be().error({ S: 'FATAL', C: '08P01', M: 'unsupported frontend protocol' }).bytes(), 1n);
  t.same(e.take().map((x) => x.type), [0x45], 'a server that answers SSLRequest with an ErrorResponse');
});

t.test('capture bounds: bodies are copied only as far as wanted, passwords never', async (t) => {
  const f = new PgFramer({ side: 'request', capture: (type) => (type === 0x51 ? 4 : type === 0x70 ? 0 : 1 << 20) });
  f.feed(fe().startup({ user: 'u' }).password('pg-Secr3t-pw').query('SELECT 123456').bytes(), 1n);
  const frames = f.take();
  const pw = frames.find((x) => x.type === 0x70);
  t.equal(pw?.length, 'pg-Secr3t-pw'.length + 1, 'the password message is counted');
  t.equal(pw?.body.length, 0, 'and not copied');
  const q = frames.find((x) => x.type === 0x51);
  t.equal(Buffer.from(q!.body).toString(), 'SELE');
  t.equal(q?.length, 'SELECT 123456'.length + 1);
  t.equal(f.stats().uncopied, 'pg-Secr3t-pw'.length + 1 + 10);
});

t.test('a 1 GB DataRow costs its length, not its bytes', async (t) => {
  const f = framer('response', () => 0);
  const header = Buffer.from([0x44, 0x40, 0x00, 0x00, 0x00]); // 'D', length 0x40000000 - 4 bytes of body
  f.feed(header, 1n);
  for (let i = 0; i < 4; i++) t.equal(f.skip(0x0fffffff, 2n), true, 'gaps inside the body stay in step');
  f.feed(Buffer.alloc(0x40000000 - 4 - 4 * 0x0fffffff), 3n);
  f.feed(be().commandComplete('SELECT 1').ready().bytes(), 4n);
  t.same(f.take().map((x) => [x.type, x.length, x.body.length]), [[0x44, 0x40000000 - 4, 0], [0x43, 9, 0], [0x5a, 1, 0]]);
  t.ok(f.heldBytes < 1024);
});

t.test('a gap inside a body keeps the framer in step; the body is cut there', async (t) => {
  const f = framer('request');
  f.assumeTyped();
  const q = fe().query(`SELECT '${'x'.repeat(100)}'`).sync().bytes();
  f.feed(q.subarray(0, 20), 1n);
  t.equal(f.skip(50, 2n), true);
  f.feed(q.subarray(70), 3n);
  const frames = f.take();
  t.same(frames.map((x) => x.type), [0x51, 0x53]);
  t.equal(frames[0]!.body.length, 15, 'only the bytes before the hole are kept');
  t.equal(frames[0]!.length, q.length - 10);
  t.equal(f.stats().resyncs, 0);
});

t.test('after a gap across message boundaries the framer finds the next message', async (t) => {
  const rows = be();
  for (let i = 0; i < 200; i++) rows.dataRow([String(i), `name number ${i}`, i % 3 === 0 ? null : 'payload']);
  rows.commandComplete('SELECT 200').ready('I');
  const stream = rows.bytes();
  const all = shape(frameAll('response', [stream], false));
  let suffixes = 0;
  let runs = 0;
  for (let g = 7; g < stream.length - 40; g += 37) {
    for (const len of [1, 5, 33, 700]) {
      if (g + len >= stream.length) continue;
      runs++;
      const f = framer('response');
      f.feed(stream.subarray(0, g), 1n);
      const before = f.take();
      f.skip(len, 2n);
      f.take(); // the message the gap began in, if the gap ended it
      f.feed(stream.subarray(g + len), 3n);
      // No invented message: what comes after the gap is the stream's own last messages (a
      // message the gap fell inside of completes with its body cut: same type and length).
      const after = shape(f.take()).map(([type, length]) => [type, length]);
      const tail = all.slice(all.length - after.length).map(([type, length]) => [type, length]);
      if (after.length > 0 && JSON.stringify(after) === JSON.stringify(tail) && after.at(-1)?.[0] === 0x5a) suffixes++;
      else t.fail(`gap at ${g} of ${len}: ${after.length} messages after it, ${before.length} before`);
    }
  }
  t.equal(suffixes, runs, `${runs} gaps: every time, the messages after it are the stream's own, up to its ReadyForQuery`);
});

t.test('a stream joined after its startup is recognised as typed messages', async (t) => {
  const f = framer('request');
  f.feed(fe().query('SELECT 1').parse('', 'SELECT $1').bind('', '', ['1']).execute().sync().bytes(), 1n);
  t.same(f.take().map((x) => String.fromCharCode(x.type)), ['Q', 'P', 'B', 'E', 'S']);
  t.equal(f.stats().resyncs, 1, 'found by the boundary search');
});

t.test('searching holds a bounded window', async (t) => {
  const f = new PgFramer({ side: 'response', capture: CAPTURE_ALL, maxResyncBytes: 4096 });
  f.assumeTyped();
  f.feed(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff]), 1n);
  t.equal(f.lost, true);
  const rnd = prng(9);
  for (let i = 0; i < 200; i++) {
    const b = Buffer.alloc(3000);
    for (let j = 0; j < b.length; j++) b[j] = 0x80 + Math.floor(rnd() * 0x7f); // never a message code
    f.feed(b, 2n);
    if (f.heldBytes > 4096 + 64) t.fail(`held ${f.heldBytes}`);
  }
  t.ok(f.stats().discarded > 500_000, 'garbage is discarded, not kept');
  f.feed(be().commandComplete('SELECT 1').ready().bytes(), 3n);
  t.same(f.take().map((x) => x.type), [0x43, 0x5a], 'and the next real messages are found');
});
