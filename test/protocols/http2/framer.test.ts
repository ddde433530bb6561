// Http2Framer: a realistic frame sequence fed whole, split at every offset and byte by byte must
// give the same frames; gaps inside DATA keep the framer in step, gaps elsewhere make it search;
// rule-breaking headers and oversized frames are counted, never thrown.
import t from 'tap';
import type { FrameHeader } from '../../../src/protocols/http2/frames.js';
import { Http2Framer, type FramerSink } from '../../../src/protocols/http2/framer.js';
import { F, HpackEncoder, PREFACE, T, data, frame, goaway, headers, ping, rst, settings, windowUpdate } from './builder.js';

interface Recorded {
  events: string[];
  sink: FramerSink;
}

function recorder(): Recorded {
  const events: string[] = [];
  let dataBuf: string[] = [];
  const sink: FramerSink = {
    onFrame: (h: FrameHeader, payload) => events.push(`frame ${h.type} f${h.flags} s${h.streamId} ${payload === null ? 'LOST' : payload.toString('hex')}`),
    onData: (_h, b, from, to) => { dataBuf.push(b.toString('latin1', from, to)); },
    onDataGap: (_h, n) => { dataBuf.push(`<gap ${n}>`); },
    onDataEnd: (h) => {
      events.push(`data s${h.streamId} f${h.flags} ${JSON.stringify(dataBuf.join(''))}`);
      dataBuf = [];
    },
    onSyncLost: (reason) => {
      dataBuf = [];
      events.push(`lost ${reason}`);
    },
    onStart: (preface) => events.push(`start ${preface}`),
  };
  return { events, sink };
}

const enc = new HpackEncoder();
const block = enc.encode([[':method', 'POST'], [':scheme', 'http'], [':path', '/upload'], [':authority', 'example.test'], ['content-type', 'text/plain'], ['x-long', 'l'.repeat(80)]], { huffman: true });
const REQUEST_SIDE = Buffer.concat([
  PREFACE,
  settings([[1, 4096], [4, 65535]]),
  windowUpdate(0, 1 << 20),
  headers(1, block, { priority: true, pad: 3, continuations: 2 }),
  data(1, 'hello ', { pad: 4 }),
  ping(),
  frame(0x42, 0xff, 0, Buffer.from('extension')), // unknown type: ignored (§5.5)
  data(1, 'world', { end: true }),
  goaway(1, 0, 'debug data that is skipped'),
  rst(3, 8),
]);

function run(parts: Buffer[], expectPreface = true): { events: string[]; framer: Http2Framer } {
  const r = recorder();
  const framer = new Http2Framer(r.sink, { expectPreface });
  let time = 1n;
  for (const p of parts) framer.feed(p, time++);
  return { events: r.events, framer };
}

t.test('a whole request side', async (t) => {
  const { events, framer } = run([REQUEST_SIDE]);
  t.same(events, [
    'start true',
    `frame ${T.SETTINGS} f0 s0 ${settings([[1, 4096], [4, 65535]]).subarray(9).toString('hex')}`,
    `frame ${T.WINDOW_UPDATE} f0 s0 00100000`,
    `frame ${T.HEADERS} f${F.PRIORITY | F.PADDED} s1 ${headers(1, block, { priority: true, pad: 3, continuations: 2 }).subarray(9, 9 + 3 + 1 + 5 + Math.ceil(block.length / 3)).toString('hex')}`,
    `frame ${T.CONTINUATION} f0 s1 ${block.subarray(Math.ceil(block.length / 3), 2 * Math.ceil(block.length / 3)).toString('hex')}`,
    `frame ${T.CONTINUATION} f${F.END_HEADERS} s1 ${block.subarray(2 * Math.ceil(block.length / 3)).toString('hex')}`,
    'data s1 f8 "hello "',
    `frame ${T.PING} f0 s0 ${Buffer.from('12345678').toString('hex')}`,
    'data s1 f1 "world"',
    `frame ${T.GOAWAY} f0 s0 0000000100000000`,
    `frame ${T.RST_STREAM} f0 s3 00000008`,
  ]);
  const st = framer.stats();
  t.equal(st.frames, 11);
  t.equal(st.unknownFrames, 1);
  t.equal(st.parseErrors + st.syncLosses + st.internalErrors, 0);
});

t.test('split at every offset, and byte by byte: the same frames', async (t) => {
  const whole = run([REQUEST_SIDE]).events;
  let same = 0;
  for (let cut = 1; cut < REQUEST_SIDE.length; cut++) {
    const { events } = run([REQUEST_SIDE.subarray(0, cut), REQUEST_SIDE.subarray(cut)]);
    if (JSON.stringify(events) === JSON.stringify(whole)) same++;
    else t.same(events, whole, `split at ${cut}`);
  }
  t.equal(same, REQUEST_SIDE.length - 1, 'every two-way split');
  const bytes = [...REQUEST_SIDE].map((b) => Buffer.from([b]));
  t.same(run(bytes).events, whole, 'one byte at a time');
  // Three-way splits around the header block and the padded DATA frame.
  for (let a = 60; a < 140; a += 3) {
    for (let b = a + 1; b < a + 40; b += 7) {
      const { events } = run([REQUEST_SIDE.subarray(0, a), REQUEST_SIDE.subarray(a, b), REQUEST_SIDE.subarray(b)]);
      if (JSON.stringify(events) !== JSON.stringify(whole)) t.fail(`split at ${a}, ${b}`);
    }
  }
});

t.test('a gap inside a DATA payload keeps the framer in step (16 KiB capture bound)', async (t) => {
  const big = Buffer.alloc(40_000, 0x61);
  const stream = Buffer.concat([settings(), data(1, big, { end: true }), ping()]);
  const r = recorder();
  const f = new Http2Framer(r.sink, { expectPreface: false });
  // A 16 KiB capture of a larger write, then the kernel's skip marker for the rest of it.
  f.feed(stream.subarray(0, 9 + 9 + 16_384), 1n);
  t.ok(f.skip(40_000 - 16_384, 2n), 'stays in step');
  f.feed(stream.subarray(9 + 9 + 40_000), 3n);
  t.same(r.events, [
    `frame ${T.SETTINGS} f0 s0 `,
    `data s1 f1 ${JSON.stringify(`${'a'.repeat(16_384)}<gap ${40_000 - 16_384}>`)}`,
    `frame ${T.PING} f0 s0 ${Buffer.from('12345678').toString('hex')}`,
  ]);
  t.equal(f.stats().syncLosses, 0);
  t.equal(f.stats().gapBytes, 40_000 - 16_384);
});

t.test('a gap ending exactly at a frame end keeps the framer in step', async (t) => {
  const r = recorder();
  const f = new Http2Framer(r.sink, { expectPreface: false });
  f.feed(Buffer.concat([settings(), data(1, 'abc').subarray(0, 10)]), 1n);
  t.ok(f.skip(2, 2n));
  f.feed(ping(), 3n);
  t.same(r.events.slice(1), ['data s1 f0 "a<gap 2>"', `frame ${T.PING} f0 s0 ${Buffer.from('12345678').toString('hex')}`]);
});

t.test('a gap inside a HEADERS frame: that frame is lost, the next one is found', async (t) => {
  const r = recorder();
  const f = new Http2Framer(r.sink, { expectPreface: false });
  const h = headers(1, block);
  f.feed(Buffer.concat([settings(), h.subarray(0, 20)]), 1n);
  t.ok(f.skip(h.length - 30, 2n));
  f.feed(Buffer.concat([h.subarray(h.length - 10), ping()]), 3n);
  t.same(r.events.slice(1), [`frame ${T.HEADERS} f${F.END_HEADERS} s1 LOST`, `frame ${T.PING} f0 s0 ${Buffer.from('12345678').toString('hex')}`]);
  t.equal(f.stats().lostFrames, 1);
});

t.test('a gap past the end of a frame loses the place; the next syscall-aligned frame is found', async (t) => {
  const r = recorder();
  const f = new Http2Framer(r.sink, { expectPreface: false });
  f.feed(Buffer.concat([settings(), data(1, 'abcdef').subarray(0, 12)]), 1n);
  t.notOk(f.skip(500, 2n), 'longer than the DATA frame: the frames after it are unknown');
  f.feed(Buffer.concat([data(3, 'next', { end: true }), ping()]), 3n);
  t.same(r.events.slice(1), ['lost gap', 'data s3 f1 "next"', `frame ${T.PING} f0 s0 ${Buffer.from('12345678').toString('hex')}`]);
  t.equal(f.stats().resyncs, 1);
});

t.test('after a gap, a chunk beginning mid-frame is searched for two consecutive frame headers', async (t) => {
  const r = recorder();
  const f = new Http2Framer(r.sink, { expectPreface: false });
  f.feed(settings(), 1n);
  f.skip(100, 2n); // between frames: lost
  const tail = Buffer.concat([Buffer.from('stuff from the middle of a frame'), data(5, 'x'), data(5, 'y', { end: true })]);
  f.feed(tail, 3n);
  t.same(r.events.slice(1), ['lost gap', 'data s5 f0 "x"', 'data s5 f1 "y"']);
  t.equal(f.stats().skippedBytes, 32);
});

t.test('rule-breaking headers: counted, searched past, no exception', async (t) => {
  const r = recorder();
  const f = new Http2Framer(r.sink, { expectPreface: false });
  // A PING of 7 bytes cannot exist (§6.7): the bytes are not frames.
  f.feed(Buffer.concat([settings(), frame(T.PING, 0, 0, Buffer.alloc(7)), settings([[5, 16384]])]), 1n);
  t.same(r.events, [`frame ${T.SETTINGS} f0 s0 `, 'lost bad-header', `frame ${T.SETTINGS} f0 s0 000500004000`]);
  t.equal(f.stats().parseErrors, 1);
  t.equal(f.lastError()?.reason, 'bad-header');
});

t.test('SETTINGS_MAX_FRAME_SIZE is honoured once announced', async (t) => {
  const r = recorder();
  const f = new Http2Framer(r.sink, { expectPreface: false });
  f.feed(settings(), 1n);
  f.setMaxFrameSize(16_384);
  f.feed(frame(T.DATA, 0, 1, Buffer.alloc(0), 20_000), 2n);
  t.equal(f.stats().parseErrors, 1, 'a 20000-byte frame exceeds the receiver\'s 16384');
  const g = new Http2Framer(recorder().sink, { expectPreface: false });
  g.feed(Buffer.concat([settings(), data(1, Buffer.alloc(20_000), { end: true })]), 1n);
  t.equal(g.stats().parseErrors, 0, 'without an announcement any size up to 2^24-1 is accepted');
});

t.test('oversized header frames are skipped and reported lost', async (t) => {
  const r = recorder();
  const f = new Http2Framer(r.sink, { expectPreface: false, maxHeaderBlock: 1024 });
  f.feed(Buffer.concat([settings(), frame(T.HEADERS, F.END_HEADERS, 1, Buffer.alloc(5000)), ping()]), 1n);
  t.same(r.events.slice(1), [`frame ${T.HEADERS} f4 s1 LOST`, `frame ${T.PING} f0 s0 ${Buffer.from('12345678').toString('hex')}`]);
  t.equal(f.stats().oversizedFrames, 1);
});

t.test('no preface: the capture began mid-stream; frames are still found', async (t) => {
  const r = recorder();
  const f = new Http2Framer(r.sink, { expectPreface: true });
  f.feed(Buffer.concat([data(7, 'tail', { end: true }), headers(9, block, { end: true })]), 1n);
  t.equal(r.events[0], 'start false');
  t.equal(r.events[1], 'data s7 f1 "tail"');
  t.match(r.events[2], /^frame 1 f5 s9 /);
  // A preface that breaks off after its first bytes.
  const r2 = recorder();
  const g = new Http2Framer(r2.sink, { expectPreface: true });
  g.feed(Buffer.concat([PREFACE.subarray(0, 5), Buffer.from('garbage')]), 1n);
  t.same(r2.events, ['start false']);
});

t.test('padding longer than the DATA payload: counted, END_STREAM still seen', async (t) => {
  const r = recorder();
  const f = new Http2Framer(r.sink, { expectPreface: false });
  f.feed(Buffer.concat([settings(), frame(T.DATA, F.PADDED | F.END_STREAM, 1, Buffer.from([200, 1, 2, 3])), ping()]), 1n);
  t.same(r.events.slice(1, 2), ['data s1 f9 ""']);
  t.equal(f.stats().parseErrors, 1);
  t.equal(r.events.length, 3);
});

t.test('after a gap, a frame header split over two small reads is still taken at once', async (t) => {
  const r = recorder();
  const f = new Http2Framer(r.sink, { expectPreface: false });
  f.feed(settings(), 1n);
  f.skip(10, 2n);
  const next = data(3, 'z', { end: true });
  f.feed(next.subarray(0, 4), 3n);
  f.feed(next.subarray(4), 4n);
  t.same(r.events.slice(1), ['lost gap', 'data s3 f1 "z"']);
  t.equal(f.stats().skippedBytes, 0);
});
