// HpackDecoder against RFC 7541 Appendix C (C.2 single fields, C.3/C.4 requests and C.5/C.6
// responses, without and with Huffman, the dynamic table checked after each block), then size
// updates, eviction, the unknown-tail mode of a capture that joined late, and malformed blocks.
import t from 'tap';
import { HpackDecoder } from '../../../src/protocols/http2/hpack.js';
import { HpackEncoder, hpackInt, hpackString } from './builder.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

t.test('C.2: single representations', async (t) => {
  let d = new HpackDecoder();
  t.same(d.decode(hex('400a637573746f6d2d6b65790d637573746f6d2d686561646572')).headers, [['custom-key', 'custom-header']], 'C.2.1 literal with indexing');
  t.same(d.entries(), [['custom-key', 'custom-header']]);
  t.equal(d.tableBytes, 55);
  d = new HpackDecoder();
  t.same(d.decode(hex('040c2f73616d706c652f70617468')).headers, [[':path', '/sample/path']], 'C.2.2 without indexing');
  t.same(d.entries(), []);
  d = new HpackDecoder();
  t.same(d.decode(hex('100870617373776f726406736563726574')).headers, [['password', 'secret']], 'C.2.3 never indexed');
  t.same(d.entries(), []);
  d = new HpackDecoder();
  t.same(d.decode(hex('82')).headers, [[':method', 'GET']], 'C.2.4 indexed');
});

const REQ1 = [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']];
const REQ2 = [...REQ1, ['cache-control', 'no-cache']];
const REQ3 = [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']];

for (const [name, blocks] of [
  ['C.3 requests without Huffman', ['828684410f7777772e6578616d706c652e636f6d', '828684be58086e6f2d6361636865', '828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565']],
  ['C.4 requests with Huffman', ['828684418cf1e3c2e5f23a6ba0ab90f4ff', '828684be5886a8eb10649cbf', '828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf']],
] as const) {
  t.test(name, async (t) => {
    const d = new HpackDecoder();
    t.same(d.decode(hex(blocks[0])), { headers: REQ1, lost: 0, error: null });
    t.same(d.entries(), [[':authority', 'www.example.com']]);
    t.equal(d.tableBytes, 57);
    t.same(d.decode(hex(blocks[1])).headers, REQ2);
    t.same(d.entries(), [['cache-control', 'no-cache'], [':authority', 'www.example.com']]);
    t.equal(d.tableBytes, 110);
    t.same(d.decode(hex(blocks[2])).headers, REQ3);
    t.same(d.entries(), [['custom-key', 'custom-value'], ['cache-control', 'no-cache'], [':authority', 'www.example.com']]);
    t.equal(d.tableBytes, 164);
    t.ok(d.synced);
  });
}

const DATE1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
const DATE2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
const COOKIE = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
const LOC = 'https://www.example.com';

for (const [name, blocks] of [
  ['C.5 responses without Huffman (table size 256, evictions)', [
    '4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d546e1768747470733a2f2f7777772e6578616d706c652e636f6d',
    '4803333037c1c0bf',
    '88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a69707738666f6f3d4153444a4b48514b425a584f5157454f50495541585157454f49553b206d61782d6167653d333630303b2076657273696f6e3d31',
  ]],
  ['C.6 responses with Huffman (table size 256, evictions)', [
    '488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3',
    '4883640effc1c0bf',
    '88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007',
  ]],
] as const) {
  t.test(name, async (t) => {
    const d = new HpackDecoder({ tableSize: 256 });
    t.same(d.decode(hex(blocks[0])).headers, [[':status', '302'], ['cache-control', 'private'], ['date', DATE1], ['location', LOC]]);
    t.same(d.entries(), [['location', LOC], ['date', DATE1], ['cache-control', 'private'], [':status', '302']]);
    t.equal(d.tableBytes, 222);
    t.same(d.decode(hex(blocks[1])).headers, [[':status', '307'], ['cache-control', 'private'], ['date', DATE1], ['location', LOC]]);
    t.same(d.entries(), [[':status', '307'], ['location', LOC], ['date', DATE1], ['cache-control', 'private']], ':status 302 evicted');
    t.equal(d.tableBytes, 222);
    t.same(d.decode(hex(blocks[2])).headers, [
      [':status', '200'], ['cache-control', 'private'], ['date', DATE2], ['location', LOC], ['content-encoding', 'gzip'], ['set-cookie', COOKIE],
    ]);
    t.same(d.entries(), [['set-cookie', COOKIE], ['content-encoding', 'gzip'], ['date', DATE2]]);
    t.equal(d.tableBytes, 215);
  });
}

t.test('C.1 integers: 10 and 1337 in a 5-bit prefix, 42 on an octet boundary', async (t) => {
  t.same(hpackInt(10, 5), Buffer.from([0x0a]));
  t.same(hpackInt(1337, 5), Buffer.from([0x1f, 0x9a, 0x0a]));
  t.same(hpackInt(42, 8), Buffer.from([0x2a]));
  // 1337 as a size update (001 + 5-bit prefix) decodes: the table takes it.
  const d = new HpackDecoder();
  d.allowTableSize(2000);
  t.same(d.decode(Buffer.from([0x3f, 0x9a, 0x0a, 0x82])).headers, [[':method', 'GET']]);
  t.equal(d.stats().sizeUpdates, 1);
});

t.test('dynamic table size update evicts and may resize to zero', async (t) => {
  const enc = new HpackEncoder();
  const d = new HpackDecoder();
  d.decode(enc.encode([['x-a', 'a'.repeat(100)], ['x-b', 'b'.repeat(100)]]));
  t.equal(d.entries().length, 2);
  enc.setTableSize(200);
  t.same(d.decode(enc.encode([['x-b', 'b'.repeat(100)]])).headers, [['x-b', 'b'.repeat(100)]], 'newest entry still indexed');
  t.same(d.entries().map(([n]) => n), ['x-b'], 'oldest evicted by the update');
  enc.setTableSize(0);
  d.decode(enc.encode([[':method', 'GET']]));
  t.same(d.entries(), []);
  t.equal(d.stats().sizeUpdates, 2);
});

t.test('a size update above the SETTINGS seen is followed (the SETTINGS may not have been captured)', async (t) => {
  const block = Buffer.concat([hpackInt(8192, 5, 0x20), Buffer.from([0x82])]);
  const d = new HpackDecoder();
  t.same(d.decode(block), { headers: [[':method', 'GET']], lost: 0, error: null });
  t.equal(d.stats().unannouncedSizeUpdates, 1);
  const d2 = new HpackDecoder();
  d2.allowTableSize(8192);
  d2.decode(block);
  t.equal(d2.stats().unannouncedSizeUpdates, 0, 'announced');
  const d3 = new HpackDecoder();
  t.equal(d3.decode(Buffer.concat([hpackInt(2 ** 25, 5, 0x20), Buffer.from([0x82])])).error, 'size-update-too-large', 'an absurd size is garbage');
  t.notOk(d3.synced, 'table unknown after an error');
});

t.test('an entry larger than the table empties it (§4.4)', async (t) => {
  const d = new HpackDecoder({ tableSize: 100 });
  const enc = new HpackEncoder(100);
  d.decode(enc.encode([['x-a', 'small']]));
  t.equal(d.entries().length, 1);
  d.decode(Buffer.concat([Buffer.from([0x40]), hpackString('x-big', false), hpackString('v'.repeat(100), false)]));
  t.same(d.entries(), []);
  t.ok(d.synced);
});

t.test('mid-stream: references to entries from before the capture are lost, never guessed', async (t) => {
  // The real encoder has history the observer never saw.
  const enc = new HpackEncoder();
  enc.encode([[':authority', 'api.internal:50051'], ['user-agent', 'grpc-go/1.85.0'], ['content-type', 'application/grpc']]);
  const d = new HpackDecoder({ unknownStart: true });
  t.notOk(d.synced);
  const block = enc.encode([[':method', 'POST'], [':path', '/pkg.Svc/Get'], [':authority', 'api.internal:50051'], ['content-type', 'application/grpc'], ['user-agent', 'grpc-go/1.85.0'], ['x-new', '1']]);
  const r = d.decode(block);
  t.equal(r.error, null);
  t.equal(r.lost, 3, ':authority, content-type and user-agent referenced old entries');
  t.same(r.headers, [[':method', 'POST'], [':path', '/pkg.Svc/Get'], ['x-new', '1']]);
  t.equal(d.stats().lostFields, 3);
  // Entries inserted since the observer joined are known and keep working.
  const r2 = d.decode(enc.encode([[':path', '/pkg.Svc/Get'], ['x-new', '1']]));
  t.same(r2, { headers: [[':path', '/pkg.Svc/Get'], ['x-new', '1']], lost: 0, error: null });
});

t.test('mid-stream: once known entries fill the table, it is fully known again', async (t) => {
  const enc = new HpackEncoder(256);
  enc.encode([['x-old', 'o'.repeat(40)]]);
  const d = new HpackDecoder({ unknownStart: true, tableSize: 256 });
  d.decode(enc.encode([['x-1', 'a'.repeat(90)]]));
  t.notOk(d.synced, '125 known bytes: older entries may still be there');
  d.decode(enc.encode([['x-2', 'b'.repeat(70)]]));
  t.ok(d.synced, '230 + 32 > 256: nothing older can be left');
  t.equal(d.stats().resyncs, 1);
});

t.test('a literal naming an unknown entry: its value is known, the table below it is not', async (t) => {
  const d = new HpackDecoder({ unknownStart: true });
  const enc = new HpackEncoder();
  d.decode(enc.encode([['x-known', 'k']]));
  // Literal with incremental indexing, name index 70 (unknown), value "v".
  const r = d.decode(Buffer.concat([hpackInt(70, 6, 0x40), hpackString('v', false), Buffer.from([0xbe])]));
  t.equal(r.lost, 2, 'the literal and then index 62 (the unknown new entry)');
  t.same(d.entries(), [], 'entries older than an entry of unknown size cannot keep their place');
});

t.test('a synced table referenced past its end: field lost, older entries become unknown', async (t) => {
  const d = new HpackDecoder();
  const r = d.decode(Buffer.from([0x82, 0xc0, 0x84]));
  t.same(r, { headers: [[':method', 'GET'], [':path', '/']], lost: 1, error: null });
  t.notOk(d.synced);
});

t.test('malformed blocks: an error value, the table unknown, no exception', async (t) => {
  const cases: Array<[string, Buffer, string]> = [
    ['index 0', Buffer.from([0x80]), 'index-zero'],
    ['truncated integer', Buffer.from([0xff]), 'truncated'],
    ['integer too long', Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), 'bad-integer'],
    ['string longer than the block', Buffer.from([0x00, 0x05, 0x61]), 'truncated'],
    ['missing value', Buffer.concat([Buffer.from([0x00]), hpackString('x', false)]), 'truncated'],
    ['bad Huffman padding', Buffer.from([0x00, 0x81, 0x00, 0x01, 0x61]), 'bad-huffman'],
    ['EOS in Huffman', Buffer.from([0x00, 0x84, 0xff, 0xff, 0xff, 0xff, 0x01, 0x61]), 'bad-huffman'],
  ];
  for (const [name, block, reason] of cases) {
    const d = new HpackDecoder();
    const r = d.decode(block);
    t.equal(r.error, reason, name);
    t.notOk(d.synced, `${name}: table unknown`);
  }
  const d = new HpackDecoder();
  const r = d.decode(Buffer.from([0x82, 0x86, 0x80]));
  t.same(r.headers, [[':method', 'GET'], [':scheme', 'http']], 'fields before the error are kept');
});

t.test('the header list bound drops fields but keeps the table in step', async (t) => {
  const d = new HpackDecoder({ maxHeaderListBytes: 200 });
  const enc = new HpackEncoder();
  const r = d.decode(enc.encode([['x-a', 'a'.repeat(100)], ['x-b', 'b'.repeat(100)], ['x-c', 'c']]));
  t.equal(r.lost, 2);
  t.same(r.headers.map(([n]) => n), ['x-a']);
  t.equal(d.entries().length, 3, 'all three inserted');
  t.same(d.decode(enc.encode([['x-c', 'c']])).headers, [['x-c', 'c']]);
});

t.test('a table larger than the memory bound is tracked as partly unknown', async (t) => {
  const d = new HpackDecoder({ tableMemoryLimit: 128 });
  const enc = new HpackEncoder();
  d.decode(enc.encode([['x-a', 'a'.repeat(60)], ['x-b', 'b'.repeat(60)]]));
  t.equal(d.entries().length, 1, 'only what fits the bound is kept');
  const r = d.decode(enc.encode([['x-a', 'a'.repeat(60)], ['x-b', 'b'.repeat(60)]]));
  t.same(r.headers, [['x-b', 'b'.repeat(60)]], 'the kept entry decodes');
  t.equal(r.lost, 1, 'the evicted one is lost, not an error');
  t.equal(r.error, null);
});
