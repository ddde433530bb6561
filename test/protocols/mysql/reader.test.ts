// The payload cursor: every basic type, and every read cut short: a neutral value, `failed` set,
// never a byte past `end` (the bytes after it are sentinels), never an exception.
import t from 'tap';
import { PacketReader } from '../../../src/protocols/mysql/reader.js';
import { Payload } from './builder.js';

t.test('basic types (page_protocol_basic_data_types)', async (t) => {
  const b = new Payload().u8(0xab).u16(0x1234).u24(0xabcdef).u32(0xfedcba98).u64(2 ** 40 + 5)
    .lenenc(250).lenenc(251).lenenc(0xffff).lenenc(0x10000).lenenc(0x1000000)
    .cstr('héllo').lstr('abc').str('rest').build();
  const r = new PacketReader(b);
  t.equal(r.u8(), 0xab);
  t.equal(r.u16(), 0x1234);
  t.equal(r.u24(), 0xabcdef);
  t.equal(r.u32(), 0xfedcba98, 'int<4> above 2^31 stays positive');
  t.equal(r.u64(), 2 ** 40 + 5);
  t.equal(r.lenenc(), 250, '1-byte lenenc');
  t.equal(r.lenenc(), 251, '0xfc + 2 bytes');
  t.equal(r.lenenc(), 0xffff);
  t.equal(r.lenenc(), 0x10000, '0xfd + 3 bytes');
  t.equal(r.lenenc(), 0x1000000, '0xfe + 8 bytes');
  t.equal(r.cstring(), 'héllo');
  t.equal(r.lenencString(), 'abc');
  t.equal(r.rest(), 'rest');
  t.notOk(r.failed);
  t.ok(r.atEnd);
});

t.test('0xfb (NULL) and 0xff are no integers', async (t) => {
  for (const first of [0xfb, 0xff]) {
    const r = new PacketReader(Buffer.from([first, 1, 2, 3]));
    t.equal(r.lenenc(), 0);
    t.ok(r.failed, `0x${first.toString(16)}`);
  }
});

t.test('a string<NUL> without its NUL fails', async (t) => {
  const r = new PacketReader(Buffer.from('abc'));
  t.equal(r.cstring(), '');
  t.ok(r.failed);
});

t.test('every truncation: neutral values, failed, nothing read past end', async (t) => {
  const full = new Payload().u8(1).u16(2).u24(3).u32(4).u64(5).lenenc(0x10000).lenenc(0x1000000).cstr('name').lstr('value').build();
  const sentinel = Buffer.from([0x00, 0xff, 0xfe, 0x41, 0x00]);
  for (let cut = 0; cut < full.length; cut++) {
    // The bytes after `end` would make the reads succeed if they were read.
    const bytes = Buffer.concat([full.subarray(0, cut), sentinel, full.subarray(cut)]);
    const r = new PacketReader(bytes, 0, cut);
    let threw = false;
    try {
      r.u8(); r.u16(); r.u24(); r.u32(); r.u64(); r.lenenc(); r.lenenc(); r.cstring(); r.lenencString(); r.rest(); r.bytesView(3); r.skip(2); r.skipCstring(); r.skipLenencString();
    } catch {
      threw = true;
    }
    if (threw || !r.failed || r.pos > cut) t.fail(`cut at ${cut}: threw ${threw}, failed ${r.failed}, pos ${r.pos}`);
  }
  t.pass('no read past the end at any cut');
});

t.test('once failed, every read is neutral', async (t) => {
  const r = new PacketReader(Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]));
  r.skip(100);
  t.ok(r.failed);
  t.equal(r.u8(), 0);
  t.equal(r.u32(), 0);
  t.equal(r.rest(), '');
  t.equal(r.bytesView(1).length, 0);
  t.equal(r.peek(), -1);
});
