// A span's ids as text and words (src/model/span-ids.ts): the words are the text's bytes, set
// together, and what the encoders may write.
import t from 'tap';
import {
  joinAsChild, parentSpanIdFromHex, spanIdFromHex, traceIdFromHex, writableIds, writableParent,
} from '../../src/model/span-ids.js';
import type { SpanRecord } from '../../src/model/span.js';
import { RandomIdSource } from '../../src/semconv/ids.js';
import { hexOfWords, withIds } from '../helpers/span-ids.js';
import { XorShift32 } from '../helpers/prng.js';

function blank(): SpanRecord {
  return withIds({
    traceId: '1'.repeat(32), spanId: '2'.repeat(16), name: 'GET', kind: 'client', startTimeUnixNano: 1n, endTimeUnixNano: 2n,
    attributes: {}, status: { code: 'unset' }, resource: { key: 'r', attributes: {} },
  });
}

const traceHex = (s: SpanRecord): string => hexOfWords(s.traceId0, s.traceId1, s.traceId2, s.traceId3);
const spanHex = (s: SpanRecord): string => hexOfWords(s.spanId0, s.spanId1);
const parentHex = (s: SpanRecord): string => hexOfWords(s.parentSpanId0, s.parentSpanId1);

t.test('ids read from text: the words are its bytes, in order', async (t) => {
  const rng = new XorShift32(7);
  const hex = (digits: number): string => Array.from({ length: digits }, () => '0123456789abcdef'[rng.next() % 16]).join('');
  const wrong: string[] = [];
  for (let i = 0; i < 2000; i++) {
    const s = blank();
    const [tr, sp, pa] = [hex(32), hex(16), hex(16)];
    traceIdFromHex(s, tr);
    spanIdFromHex(s, sp);
    parentSpanIdFromHex(s, pa);
    if (s.traceId !== tr || traceHex(s) !== tr) wrong.push(tr);
    if (s.spanId !== sp || spanHex(s) !== sp) wrong.push(sp);
    if (s.parentSpanId !== pa || parentHex(s) !== pa) wrong.push(pa);
  }
  t.same(wrong, [], 'text and words alike for 2,000 random ids of each kind');
  const s = blank();
  traceIdFromHex(s, '0102030405060708090a0b0c0d0e0f10');
  t.same([s.traceId0, s.traceId1, s.traceId2, s.traceId3], [0x04030201, 0x08070605, 0x0c0b0a09, 0x100f0e0d], 'byte 4k in word k\'s low eight bits');
  spanIdFromHex(s, 'ffffffff80000000');
  t.same([s.spanId0, s.spanId1], [-1, 0x80], 'int32 words: a byte of 0xff at the top is negative');
});

t.test('text that is not an id has words of zeros: the encoders refuse it', async (t) => {
  for (const bad of ['a'.repeat(31), 'A'.repeat(32), `${'a'.repeat(31)}g`, '0'.repeat(32), `${'a'.repeat(31)}\u00e1`]) {
    const s = blank();
    traceIdFromHex(s, bad);
    t.equal(s.traceId, bad, 'the text is kept as given');
    t.same([s.traceId0, s.traceId1, s.traceId2, s.traceId3], [0, 0, 0, 0], JSON.stringify(bad));
    t.notOk(writableIds(s), `${JSON.stringify(bad)}: not writable`);
  }
  const s = blank();
  spanIdFromHex(s, 'x');
  t.notOk(writableIds(s), 'a span id that is not one');
  t.ok(writableIds(blank()), 'ids that are ids');
  parentSpanIdFromHex(s, 'nothex');
  t.notOk(writableParent(s), 'a parent that is not an id');
  parentSpanIdFromHex(s, '0'.repeat(16));
  t.ok(writableParent(s), 'a parent of zeros may be written (only a span\'s own ids may not)');
});

t.test('a server joins its client\'s trace as its child: text and words', async (t) => {
  const ids = new RandomIdSource();
  const client = blank();
  const server = blank();
  ids.newTraceId(client);
  ids.newSpanId(client);
  joinAsChild(server, client);
  t.equal(server.traceId, client.traceId);
  t.equal(server.parentSpanId, client.spanId);
  t.equal(traceHex(server), client.traceId, 'the trace id\'s words');
  t.equal(parentHex(server), client.spanId, 'the parent\'s words');
  t.equal(spanHex(server), '2'.repeat(16), 'its own span id untouched');
});
