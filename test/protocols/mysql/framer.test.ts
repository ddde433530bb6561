// Packet framing (page_protocol_basic_packets): packets cut at every offset come out the same;
// payloads of 0xffffff continue in the next packet; the kept head is bounded; gaps inside a payload
// keep the framer in step, other gaps make it search for a packet start at the next chunk.
import t from 'tap';
import { MAX_PACKET_PAYLOAD } from '../../../src/protocols/mysql/constants.js';
import { type MysqlPacket, PacketFramer } from '../../../src/protocols/mysql/framer.js';
import { packet } from './builder.js';

interface Seen {
  seq: number;
  lastSeq: number;
  length: number;
  head: string;
  complete: boolean;
  resynced: boolean;
  startNs: bigint;
  endNs: bigint;
}

function framer(maxHead = 1024, candidate: (seq: number, length: number, first: number) => boolean = (seq) => seq === 0, act?: (p: MysqlPacket, f: PacketFramer) => void): { f: PacketFramer; seen: Seen[] } {
  const seen: Seen[] = [];
  const f: PacketFramer = new PacketFramer({
    maxHead,
    resyncCandidate: candidate,
    onPacket: (p) => {
      // The head is a view valid only now: copy what the test keeps.
      seen.push({ seq: p.seq, lastSeq: p.lastSeq, length: p.length, head: Buffer.from(p.head).toString('hex'), complete: p.complete, resynced: p.resynced, startNs: p.startNs, endNs: p.endNs });
      act?.(p, f);
    },
  });
  return { f, seen };
}

const strip = (s: Seen[]): Array<Omit<Seen, 'startNs' | 'endNs'>> => s.map(({ startNs: _a, endNs: _b, ...rest }) => rest);

const PAYLOADS = [Buffer.alloc(0), Buffer.from([3]), Buffer.from('SELECT 1'), Buffer.alloc(300, 0x61), Buffer.alloc(5000, 0x62)];
const STREAM = Buffer.concat(PAYLOADS.map((p, i) => packet(i, p)));

t.test('whole packets in one chunk', async (t) => {
  const { f, seen } = framer(8192);
  f.feed(STREAM, 1n);
  t.same(seen.map((s) => [s.seq, s.length, s.complete]), PAYLOADS.map((p, i) => [i, p.length, true]));
  t.same(seen.map((s) => s.head), PAYLOADS.map((p) => p.toString('hex')));
  t.same(f.stats().packets, 5);
});

t.test('every split offset into two chunks gives the same packets', async (t) => {
  const whole = framer(8192);
  whole.f.feed(STREAM, 1n);
  for (let cut = 1; cut < STREAM.length; cut++) {
    const { f, seen } = framer(8192);
    f.feed(STREAM.subarray(0, cut), 1n);
    f.feed(STREAM.subarray(cut), 2n);
    if (JSON.stringify(strip(seen)) !== JSON.stringify(strip(whole.seen))) {
      t.fail(`cut at ${cut}`);
      return;
    }
    // The packet spanning the cut starts at the first chunk's time and ends at the second's.
    const spanning = seen.find((s) => s.startNs === 1n && s.endNs === 2n);
    const boundary = seen.some((s) => s.endNs === 1n) && seen.some((s) => s.startNs === 2n);
    if (spanning === undefined && !boundary) t.fail(`times at cut ${cut}`);
  }
  t.pass('all cuts');
});

t.test('one byte at a time', async (t) => {
  const { f, seen } = framer(8192);
  for (let i = 0; i < STREAM.length; i++) f.feed(STREAM.subarray(i, i + 1), BigInt(i));
  t.same(seen.map((s) => s.head), PAYLOADS.map((p) => p.toString('hex')));
});

t.test('the kept head is bounded; the rest is counted', async (t) => {
  for (const cut of [0, 10, 70, 2000]) {
    const { f, seen } = framer(64);
    const bytes = packet(0, Buffer.alloc(5000, 0x62));
    f.feed(bytes.subarray(0, cut), 1n);
    f.feed(bytes.subarray(cut), 2n);
    t.equal(seen.length, 1);
    t.equal(seen[0]!.length, 5000);
    t.equal(seen[0]!.head.length / 2, 64);
    t.notOk(seen[0]!.complete);
    t.ok(f.heldBytes <= 64 + 9, `held ${f.heldBytes}`);
  }
});

t.test('payloads of 0xffffff continue in the next packet ("Sending More Than 16Mb")', async (t) => {
  for (const extra of [0, 1, 10]) {
    const payload = Buffer.alloc(MAX_PACKET_PAYLOAD + extra, 0x63);
    payload[0] = 0x03;
    const bytes = Buffer.concat([packet(0, payload), packet(0, Buffer.from([0x0e]))]);
    t.equal(bytes.length, MAX_PACKET_PAYLOAD + extra + 8 + 5, 'two physical packets, then a ping');
    const offsets = [1, 3, 4, 5, MAX_PACKET_PAYLOAD + 2, MAX_PACKET_PAYLOAD + 4, MAX_PACKET_PAYLOAD + 5, MAX_PACKET_PAYLOAD + 7, MAX_PACKET_PAYLOAD + 8, MAX_PACKET_PAYLOAD + 9, bytes.length - 6, bytes.length - 5, bytes.length - 1];
    for (const cut of offsets) {
      const { f, seen } = framer(16);
      f.feed(bytes.subarray(0, cut), 1n);
      f.feed(bytes.subarray(cut), 2n);
      t.same(seen.map((s) => [s.seq, s.lastSeq, s.length, s.head.slice(0, 2)]), [[0, 1, MAX_PACKET_PAYLOAD + extra, '03'], [0, 0, 1, '0e']], `extra ${extra}, cut ${cut}`);
    }
  }
});

t.test('a gap inside a payload keeps the framer in step', async (t) => {
  const bytes = Buffer.concat([packet(0, Buffer.alloc(100, 0x61)), packet(1, Buffer.from('next'))]);
  const { f, seen } = framer();
  f.feed(bytes.subarray(0, 30), 1n);
  f.gap(50, 2n);
  f.feed(bytes.subarray(80), 3n);
  t.same(seen.map((s) => [s.seq, s.length, s.complete]), [[0, 100, false], [1, 4, true]]);
  t.equal(seen[0]!.head.length / 2, 26, 'the head stops at the gap');
  t.equal(f.stats().syncLosses, 0);
  t.equal(f.stats().gapBytes, 50);
});

t.test('a gap that ends exactly at a packet end keeps the framer in step', async (t) => {
  const bytes = Buffer.concat([packet(0, Buffer.alloc(100, 0x61)), packet(1, Buffer.from('next'))]);
  const { f, seen } = framer();
  f.feed(bytes.subarray(0, 4), 1n);
  f.gap(100, 2n);
  f.feed(bytes.subarray(104), 3n);
  t.same(seen.map((s) => [s.seq, s.length]), [[0, 100], [1, 4]]);
  t.equal(f.stats().syncLosses, 0);
});

t.test('a gap across a boundary: search for a candidate at the next chunk start', async (t) => {
  const { f, seen } = framer(1024, (seq, length, first) => seq === 0 && first === 0x03 && length < 100);
  f.feed(packet(0, Buffer.alloc(10, 0x61)).subarray(0, 8), 1n);
  f.gap(20, 2n); // beyond the 6 bytes left: the next header is lost
  t.ok(f.lost);
  t.equal(f.stats().syncLosses, 1);
  t.equal(f.stats().truncated, 1);
  f.feed(Buffer.from('garbage that is no packet at all'), 3n);
  t.equal(seen.length, 0, 'a chunk that does not start with a candidate is skipped');
  f.feed(packet(0, Buffer.from('\x03SELECT 1', 'latin1')), 4n);
  t.same(seen.map((s) => [s.seq, s.length, s.resynced]), [[0, 9, true]]);
  t.equal(f.stats().resyncs, 1);
  t.notOk(f.lost);
});

t.test('resync: a header read in a syscall of its own, the payload in the next', async (t) => {
  const { f, seen } = framer(1024, (seq, _length, first) => seq === 0 && first === 0x03);
  f.resync();
  const p = packet(0, Buffer.from('\x03SELECT 1', 'latin1'));
  f.feed(p.subarray(0, 4), 1n);
  t.equal(seen.length, 0);
  f.feed(p.subarray(4), 2n);
  t.same(seen.map((s) => [s.length, s.head, s.startNs, s.endNs]), [[9, p.subarray(4).toString('hex'), 1n, 2n]]);
});

t.test('resync: a probe that fails across chunks retries at the second chunk start', async (t) => {
  const { f, seen } = framer(1024, (seq, _length, first) => seq === 0 && first === 0x03);
  f.resync();
  f.feed(Buffer.from([1, 2]), 1n);
  f.feed(packet(0, Buffer.from('\x03SELECT 2', 'latin1')), 2n);
  t.same(seen.map((s) => s.length), [9]);
});

t.test('an empty payload is judged from its header alone', async (t) => {
  const { f, seen } = framer(1024, (seq, length) => seq === 5 && length === 0);
  f.resync();
  f.feed(packet(5, Buffer.alloc(0)), 1n);
  t.same(seen.map((s) => [s.seq, s.length]), [[5, 0]]);
});

t.test('the owner may stop or resync the framer from inside the callback', async (t) => {
  const stream = Buffer.concat([packet(0, Buffer.from('a')), packet(1, Buffer.from('b')), packet(2, Buffer.from('c'))]);
  const stopped = framer(1024, () => false, (p, f) => p.seq === 0 && f.stop());
  stopped.f.feed(stream, 1n);
  t.same(stopped.seen.map((s) => s.seq), [0]);
  t.ok(stopped.f.stopped);
  t.equal(stopped.f.stats().skippedBytes, 10);
  stopped.f.feed(Buffer.from('more'), 2n);
  t.equal(stopped.f.stats().skippedBytes, 14, 'after stop everything is skipped');

  const resynced = framer(1024, () => false, (p, f) => p.seq === 1 && f.resync());
  resynced.f.feed(stream.subarray(0, 7), 1n);
  resynced.f.feed(stream.subarray(7), 2n);
  t.same(resynced.seen.map((s) => s.seq), [0, 1]);
  t.ok(resynced.f.lost);
});

t.test('finish drops a packet begun but not ended', async (t) => {
  const { f, seen } = framer();
  f.feed(packet(0, Buffer.alloc(10)).subarray(0, 6), 1n);
  t.equal(f.partialSince, 1n);
  f.finish();
  t.equal(seen.length, 0);
  t.equal(f.stats().truncated, 1);
  t.equal(f.partialSince, null);
});

t.test('partialSince: the time of the chunk that began the header', async (t) => {
  const { f } = framer();
  const p = packet(0, Buffer.alloc(10));
  f.feed(p.subarray(0, 2), 5n);
  t.equal(f.partialSince, 5n);
  f.feed(p.subarray(2, 6), 6n);
  t.equal(f.partialSince, 5n);
  f.feed(p.subarray(6), 7n);
  t.equal(f.partialSince, null);
});
