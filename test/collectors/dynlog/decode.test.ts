// dl_event records (bpf/include/dynlog.h) built byte by byte, decoded; short and garbage records
// are null and random bytes never throw. Then captured bytes to attributes for every Shape a plan
// can have, including values past 2^53, truncated strings, error messages and failed reads.
import t from 'tap';
import {
  type DynlogSlot, EVENT_HEADER_BYTES, FLAG_READ_FAILED, FLAG_TRUNCATED, SLOT_BYTES, decodeDynlogEvent, decodeValue,
} from '../../../src/collectors/dynlog/decode.js';
import type { Shape, ValuePlan } from '../../../src/collectors/dynlog/plan.js';
import { XorShift32 } from '../../helpers/prng.js';
import { INT, dynlogHeaderLayout } from './helpers.js';

interface Header { ts: bigint; g: bigint; goid: bigint; pid: number; tid: number; probeId: number; isReturn: boolean }
const HEADER: Header = { ts: 123_456_789_012n, g: 0xc000002380n, goid: 42n, pid: 4242, tid: 4243, probeId: 7, isReturn: true };

// Where struct dl_event and struct dl_slot have their fields: records are built by the C layout,
// so decoding them checks decode.ts against the header the BPF program is compiled with.
const C = dynlogHeaderLayout({
  ts: 'offsetof(struct dl_event, ts_ns)', g: 'offsetof(struct dl_event, g)', goid: 'offsetof(struct dl_event, goid)',
  pid: 'offsetof(struct dl_event, pid)', tid: 'offsetof(struct dl_event, tid)', probeId: 'offsetof(struct dl_event, probe_id)',
  isReturn: 'offsetof(struct dl_event, is_return)', ncaptures: 'offsetof(struct dl_event, ncaptures)', slots: 'offsetof(struct dl_event, slots)',
  event: 'sizeof(struct dl_event)', slot: 'sizeof(struct dl_slot)', word: 'offsetof(struct dl_slot, word)', stored: 'offsetof(struct dl_slot, stored)',
  flags: 'offsetof(struct dl_slot, flags)', data: 'offsetof(struct dl_slot, data)', readFailed: 'DL_FLAG_READ_FAILED', truncated: 'DL_FLAG_TRUNCATED',
});
const at = (field: string): number => C[field]!;

/** One dl_event: the header, then a dl_slot per capture. */
function record(h: Header, slots: Array<{ word: bigint; data: Uint8Array; flags?: number; stored?: number }>): Buffer {
  const b = Buffer.alloc(at('slots') + slots.length * at('slot'));
  b.writeBigUInt64LE(h.ts, at('ts'));
  b.writeBigUInt64LE(h.g, at('g'));
  b.writeBigUInt64LE(h.goid, at('goid'));
  b.writeUInt32LE(h.pid, at('pid'));
  b.writeUInt32LE(h.tid, at('tid'));
  b.writeUInt32LE(h.probeId, at('probeId'));
  b[at('isReturn')] = h.isReturn ? 1 : 0;
  b[at('ncaptures')] = slots.length;
  slots.forEach((s, i) => {
    const slot = at('slots') + i * at('slot');
    b.writeBigUInt64LE(s.word, slot + at('word'));
    b.writeUInt32LE(s.stored ?? s.data.length, slot + at('stored'));
    b.writeUInt32LE(s.flags ?? 0, slot + at('flags'));
    b.set(s.data, slot + at('data'));
  });
  return b;
}

const view = (b: Buffer): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

t.test('dl_event and dl_slot: the sizes decode.ts uses are the C compiler\'s', async (t) => {
  t.equal(EVENT_HEADER_BYTES, at('slots'), 'the slots follow the header');
  t.equal(SLOT_BYTES, at('slot'));
  t.equal(at('event'), EVENT_HEADER_BYTES + 8 * SLOT_BYTES, 'eight slots, no tail');
  t.same([at('word'), at('stored'), at('flags'), at('data'), at('readFailed'), at('truncated')], [0, 8, 12, 16, FLAG_READ_FAILED, FLAG_TRUNCATED]);
});

t.test('a record with two slots, at an offset inside a batch', async (t) => {
  const rec = record(HEADER, [
    { word: 6n, data: Buffer.from('gopher'), flags: FLAG_TRUNCATED },
    { word: 0xffff_ffff_ffff_fffen, data: new Uint8Array(0), flags: FLAG_READ_FAILED },
  ]);
  const batch = Buffer.concat([Buffer.alloc(24, 0xee), rec, Buffer.alloc(8, 0xee)]);
  const e = decodeDynlogEvent(view(batch), 24, rec.length);
  const { slots, ...header } = e!;
  t.match(header, { tsNs: HEADER.ts, g: HEADER.g, goid: HEADER.goid, pid: HEADER.pid, tid: HEADER.tid, probeId: HEADER.probeId, isReturn: true });
  t.same(slots, [
    { word: 6n, flags: FLAG_TRUNCATED, stored: new Uint8Array(Buffer.from('gopher')) },
    { word: 0xffff_ffff_ffff_fffen, flags: FLAG_READ_FAILED, stored: new Uint8Array(0) },
  ]);
  batch.fill(0); // the decoded slots are copies, not views of the ring buffer's memory
  t.equal(Buffer.from(e!.slots[0]!.stored).toString(), 'gopher');
});

t.test('short and malformed records are null; a stored count past the data is clamped', async (t) => {
  const one = record({ ...HEADER, isReturn: false }, [{ word: 1n, data: Buffer.from([1]) }]);
  t.equal(decodeDynlogEvent(view(one), 0, EVENT_HEADER_BYTES - 1), null, 'shorter than a header');
  t.equal(decodeDynlogEvent(view(one), 0, one.length - 1), null, 'shorter than its slots');
  const nine = Buffer.alloc(EVENT_HEADER_BYTES + 9 * SLOT_BYTES);
  nine[at('ncaptures')] = 9;
  t.equal(decodeDynlogEvent(view(nine), 0, nine.length), null, 'more captures than a plan can have');
  const none = decodeDynlogEvent(view(one), 0, EVENT_HEADER_BYTES);
  t.equal(none, null, 'a header whose slot is missing');
  const huge = record(HEADER, [{ word: 1n, data: new Uint8Array(512).fill(7), stored: 0xffff_ffff }]);
  t.same(decodeDynlogEvent(view(huge), 0, huge.length)?.slots[0]?.stored.length, 512);
  const entry = decodeDynlogEvent(view(one), 0, one.length);
  t.equal(entry?.isReturn, false);
});

t.test('random bytes never throw (seeded)', async (t) => {
  const rng = new XorShift32(0xd1e5eed);
  let decoded = 0;
  for (let i = 0; i < 2000; i++) {
    const size = rng.int(EVENT_HEADER_BYTES + 3 * SLOT_BYTES);
    const buf = rng.bytes(size);
    const off = rng.int(size + 1);
    // Small capture counts a third of the time, so whole records come out too.
    if (size - off > at('ncaptures') && i % 3 === 0) buf[off + at('ncaptures')] = rng.int(4);
    let e: ReturnType<typeof decodeDynlogEvent> = null;
    try {
      e = decodeDynlogEvent(view(buf), off, size - off);
    } catch (err) {
      t.fail(`case ${i} (size ${size}, offset ${off}): ${(err as Error).message}`);
      continue;
    }
    if (e === null) continue;
    decoded++;
    if (e.slots.length > 8 || e.slots.some((s) => s.stored.length > 512)) t.fail(`case ${i}: ${e.slots.length} slots`);
    for (const s of e.slots) decodeValue(plan({ kind: 'string' }), [s], () => undefined);
  }
  t.ok(decoded > 100, `${decoded} whole records among the cases`);
});

// decodeValue: a plan only needs its attribute and shape here.
const plan = (shape: Shape, attribute = 'lantern.arg.x'): ValuePlan => ({ attribute, type: INT, captures: [], shape });
const slot = (data: Uint8Array | number[], word = 0n, flags = 0): DynlogSlot => ({ word, stored: Uint8Array.from(data), flags });
const le = (n: bigint, size: number): Uint8Array => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt.asUintN(64, n));
  return b.subarray(0, size);
};
const value = (shape: Shape, ...slots: DynlogSlot[]): Record<string, unknown> => decodeValue(plan(shape), slots, (a) => TYPES.get(a));
const TYPES = new Map([[0x4d7798n, '*errors.errorString'], [0x4d77d8n, '*fmt.wrapError'], [0x4d7818n, '*strconv.NumError']]);

t.test('integers of every size, signed and unsigned; past 2^53 as exact text', async (t) => {
  for (const size of [1, 2, 4, 8]) {
    t.same(value({ kind: 'int', size, signed: true }, slot(le(-2n, size))), { 'lantern.arg.x': -2 }, `int${size * 8} -2`);
    const max = (1n << BigInt(8 * size)) - 1n;
    const want = size === 8 ? '18446744073709551615' : Number(max);
    t.same(value({ kind: 'int', size, signed: false }, slot(le(max, size))), { 'lantern.arg.x': want }, `uint${size * 8} max`);
  }
  t.same(value({ kind: 'int', size: 8, signed: false }, slot(le(2n ** 53n + 1n, 8))), { 'lantern.arg.x': '9007199254740993' });
  t.same(value({ kind: 'int', size: 8, signed: true }, slot(le(-(2n ** 63n), 8))), { 'lantern.arg.x': '-9223372036854775808' });
  t.same(value({ kind: 'int', size: 8, signed: true }, slot(le(2n ** 53n - 1n, 8))), { 'lantern.arg.x': Number.MAX_SAFE_INTEGER });
  t.same(value({ kind: 'int', size: 8, signed: true }, slot([1, 2, 3])), {}, 'fewer bytes than the type: nothing said');
});

t.test('bool, floats and pointers', async (t) => {
  t.same(value({ kind: 'bool' }, slot([1])), { 'lantern.arg.x': true });
  t.same(value({ kind: 'bool' }, slot([0])), { 'lantern.arg.x': false });
  const f32 = Buffer.alloc(4);
  f32.writeFloatLE(1.5);
  t.same(value({ kind: 'float', size: 4 }, slot(f32)), { 'lantern.arg.x': 1.5 });
  const f64 = Buffer.alloc(8);
  f64.writeDoubleLE(-0.1);
  t.same(value({ kind: 'float', size: 8 }, slot(f64)), { 'lantern.arg.x': -0.1 });
  t.same(value({ kind: 'pointer' }, slot(le(0n, 8))), { 'lantern.arg.x': 'nil' });
  t.same(value({ kind: 'pointer' }, slot(le(0xc000012340n, 8))), { 'lantern.arg.x': '0xc000012340' });
});

t.test('strings: the bytes kept, the real length, truncation', async (t) => {
  t.same(value({ kind: 'string' }, slot(Buffer.from('héllo'), 6n)), { 'lantern.arg.x': 'héllo', 'lantern.arg.x.length': 6 });
  t.same(value({ kind: 'string' }, slot(Buffer.from('xxxx'), 1000n, FLAG_TRUNCATED)),
    { 'lantern.arg.x': 'xxxx', 'lantern.arg.x.length': 1000, 'lantern.arg.x.truncated': true });
  t.same(value({ kind: 'string' }, slot([], 0n)), { 'lantern.arg.x': '', 'lantern.arg.x.length': 0 });
});

t.test('slices: scalar elements as an array, other elements by count; maps by count', async (t) => {
  const ints = Buffer.alloc(32);
  [1n, 2n, -3n, 4n].forEach((n, i) => ints.writeBigInt64LE(n, 8 * i));
  const intSlice: Shape = { kind: 'slice', elem: { kind: 'int', size: 8, signed: true }, elemSize: 8, elemName: 'int' };
  t.same(value(intSlice, slot(ints, 4n)), { 'lantern.arg.x': [1, 2, -3, 4], 'lantern.arg.x.length': 4 });
  t.same(value(intSlice, slot(ints.subarray(0, 20), 100n, FLAG_TRUNCATED)),
    { 'lantern.arg.x': [1, 2], 'lantern.arg.x.length': 100, 'lantern.arg.x.truncated': true }, 'a partial element is left out');
  const big = Buffer.concat([le(1n, 8), le(2n ** 64n - 1n, 8)]);
  t.same(value({ ...intSlice, elem: { kind: 'int', size: 8, signed: false } } as Shape, slot(big, 2n)),
    { 'lantern.arg.x': ['1', '18446744073709551615'], 'lantern.arg.x.length': 2 }, 'one type per array: text when one is text');
  t.same(value({ kind: 'slice', elem: { kind: 'bool' }, elemSize: 1, elemName: 'bool' }, slot([1, 0, 1], 3n)),
    { 'lantern.arg.x': [true, false, true], 'lantern.arg.x.length': 3 });
  t.same(value({ kind: 'slice', elem: null, elemSize: 16, elemName: 'string' }, slot([], 2n)),
    { 'lantern.arg.x': '[]string (2 elements)', 'lantern.arg.x.length': 2 });
  t.same(value({ kind: 'map' }, slot(le(3n, 8), 3n)), { 'lantern.arg.x': 'map (3 entries)', 'lantern.arg.x.length': 3 });
});

t.test('interfaces: nil, an error\'s message by its itab, other types by name or address', async (t) => {
  const iface: Shape = { kind: 'interface', empty: false };
  const msg = (s: string, flags = 0): DynlogSlot => slot(Buffer.from(s), BigInt(s.length), flags);
  t.same(value(iface, slot(le(0n, 8), 0n), msg('')), { 'lantern.arg.x': 'nil' });
  t.same(value(iface, slot(le(0x4d7798n, 8), 0x4d7798n), msg('too young')), { 'lantern.arg.x': 'too young', 'lantern.arg.x.type': '*errors.errorString' });
  t.same(value(iface, slot(le(0x4d77d8n, 8), 0x4d77d8n), msg('parse "x": not a number')),
    { 'lantern.arg.x': 'parse "x": not a number', 'lantern.arg.x.type': '*fmt.wrapError' });
  t.same(value(iface, slot(le(0x4d7818n, 8), 0x4d7818n), msg('\u0000garbage')),
    { 'lantern.arg.x': '*strconv.NumError', 'lantern.arg.x.type': '*strconv.NumError' }, 'no message read from a type that has none first');
  t.same(value(iface, slot(le(0x4d7000n, 8), 0x4d7000n), msg('')), { 'lantern.arg.x': 'non-nil', 'lantern.arg.x.type': '0x4d7000' });
  t.same(value(iface, slot(le(0x4d7798n, 8), 0x4d7798n), msg('', FLAG_READ_FAILED)),
    { 'lantern.arg.x': '*errors.errorString', 'lantern.arg.x.type': '*errors.errorString' }, 'the message unreadable');
});

t.test('structs as JSON of their scalar fields; arrays by element', async (t) => {
  const request: Shape = { kind: 'struct', fields: [
    { name: 'ID', offset: 0, shape: { kind: 'int', size: 4, signed: false }, size: 4 },
    { name: 'User', offset: 8, shape: { kind: 'pointer' }, size: 8 },
    { name: 'Tags', offset: 24, shape: { kind: 'length', of: '[]string' }, size: 8 },
    { name: 'Fn', offset: 32, shape: null, size: 8 },
  ] };
  const bytes = Buffer.alloc(40);
  bytes.writeUInt32LE(7, 0);
  bytes.writeBigUInt64LE(0xc0000100a0n, 8);
  bytes.writeBigInt64LE(2n, 24);
  t.same(value(request, slot(bytes, 7n)), { 'lantern.arg.x': '{"ID":7,"User":"0xc0000100a0","Tags.length":2}' });
  t.same(value(request, slot(bytes.subarray(0, 16), 7n)), { 'lantern.arg.x': '{"ID":7,"User":"0xc0000100a0"}' }, 'fields past the bytes kept are left out');
  t.same(value({ kind: 'array', elem: { kind: 'bool' }, elemSize: 1, count: 3 }, slot([1, 0, 1], 1n)), { 'lantern.arg.x': [true, false, true] });
  t.same(value({ kind: 'array', elem: { kind: 'int', size: 2, signed: true }, elemSize: 2, count: 2 }, slot([0xff, 0xff, 5, 0])), { 'lantern.arg.x': [-1, 5] });
  t.same(value({ kind: 'array', elem: null, elemSize: 16, count: 3 }, slot([])), { 'lantern.arg.x': '[3] (not shown)' });
});

t.test('a read that failed on the way (a nil pointer)', async (t) => {
  const failed = slot([], 0n, FLAG_READ_FAILED);
  t.same(value({ kind: 'int', size: 8, signed: true }, failed), { 'lantern.arg.x': '<unreadable>' });
  t.same(value({ kind: 'string' }, failed), { 'lantern.arg.x': '<unreadable>' });
  t.same(value({ kind: 'struct', fields: [] }, failed), { 'lantern.arg.x': 'nil' }, 'a *T that was nil');
  t.same(value({ kind: 'map' }, failed), { 'lantern.arg.x': 'nil' });
  t.same(decodeValue(plan({ kind: 'bool' }), [], () => undefined), {}, 'no slot: nothing');
});
