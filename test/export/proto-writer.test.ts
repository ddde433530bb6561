// ProtoWriter's record (beginRecord/endRecord: two bytes kept for the length) writes the same bytes
// as a sub-message opened by begin/end, for bodies whose lengths take one to four bytes, the
// boundaries on both sides of each, with sub-messages inside.
import t from 'tap';
import { ProtoWriter } from '../../src/export/proto-writer.js';

const varintSize = (n: number): number => (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : 4);

/** A body of exactly `n` bytes (n ≥ 6): a nested sub-message (4 bytes), then a string field making up the rest. */
function body(w: ProtoWriter, n: number): void {
  w.begin(3);
  w.varint(1, 7);
  w.end();
  let k = 1;
  while (varintSize(n - 5 - k) !== k) k++;
  w.string(2, 'x'.repeat(n - 5 - k));
}

t.test('a record of every length class: the bytes of begin/end', async (t) => {
  const lengths = [6, 7, 100, 126, 127, 128, 129, 200, 16_382, 16_383, 16_384, 16_385, 20_000, 2_097_151, 2_097_152, 2_100_000];
  const a = new ProtoWriter(64);
  const b = new ProtoWriter(64);
  const write = (w: ProtoWriter, n: number, open: () => void, close: () => void): void => {
    w.reset();
    w.varint(1, 1);
    open();
    body(w, n);
    close();
    w.varint(4, 2);
  };
  for (const n of lengths) {
    write(a, n, () => a.beginRecord(2), () => a.endRecord());
    write(b, n, () => b.begin(2), () => b.end());
    const got = Buffer.from(a.finish());
    const want = Buffer.from(b.finish());
    if (!got.equals(want)) t.fail(`a body of ${n} bytes: ${got.subarray(0, 12).toString('hex')}… ≠ ${want.subarray(0, 12).toString('hex')}…`);
    else t.equal(want.length, 2 + 1 + varintSize(n) + n + 2, `a body of ${n} bytes, its length in ${varintSize(n)}`);
  }
});

t.test('a record is opened at the top only, closed once, and finish refuses one left open', async (t) => {
  const w = new ProtoWriter(64);
  w.begin(1);
  t.throws(() => w.beginRecord(2), /inside a message/);
  w.end();
  t.throws(() => w.endRecord(), /without beginRecord/);
  w.beginRecord(2);
  w.varint(1, 1);
  t.throws(() => w.finish(), /still open/);
  w.endRecord();
  t.equal(Buffer.from(w.finish()).toString('hex'), '0a0012020801', 'the begin() message and the record after it');
  w.beginRecord(2);
  w.reset();
  t.equal(w.finish().length, 0, 'reset forgets a record left open (a record that could not be written)');
});
