// Map round trips through the kernel: element ops, iteration, batch ops, per-CPU and LRU maps.
import t from 'tap';
import { BpfObject, UpdateFlags, codec, possibleCpus } from '../src/index.js';
import { bpfObject } from './helpers.js';
import { requireBpf } from './require-bpf.js';

requireBpf(t);

const obj = BpfObject.load(bpfObject('probe_test'));
t.teardown(() => obj.close());

t.test('hash map: set, get, overwrite, delete', async (t) => {
  const kv = obj.map('kv', codec.u32, codec.u64);
  t.equal(kv.get(1), undefined, 'absent key');
  kv.set(1, 100n);
  kv.set(2, 2n ** 63n);
  t.equal(kv.get(1), 100n);
  t.equal(kv.get(2), 2n ** 63n, 'full 64-bit range');
  kv.set(1, 101n, UpdateFlags.EXIST);
  t.equal(kv.get(1), 101n);
  t.throws(() => kv.set(1, 5n, UpdateFlags.NOEXIST), { code: 'LIBBPF_ERR_MAP_UPDATE', errno: 17 }, 'EEXIST');
  t.throws(() => kv.set(9, 5n, UpdateFlags.EXIST), { code: 'LIBBPF_ERR_MAP_UPDATE', errno: 2 }, 'ENOENT');
  t.equal(kv.delete(1), true);
  t.equal(kv.delete(1), false, 'second delete finds nothing');
  t.equal(kv.take(2), 2n ** 63n, 'lookup-and-delete');
  t.same([...kv.keys()], []);
});

t.test('hash map: iteration and batch ops over many keys', async (t) => {
  const kv = obj.map('kv', codec.u32, codec.u64);
  const entries: Array<[number, bigint]> = [];
  for (let i = 0; i < 1000; i++) entries.push([i, BigInt(i * 3)]);
  t.equal(kv.writeBatch(entries), 1000, 'batch update');
  t.same([...kv.keys()].sort((a, b) => a - b), entries.map(([k]) => k), 'iteration sees every key once');
  const read = kv.readBatch({ chunk: 64 }).sort((a, b) => a[0] - b[0]);
  t.same(read, entries, 'batch lookup in chunks returns every element');
  t.equal(kv.deleteBatch(entries.slice(0, 500).map(([k]) => k)), 500, 'batch delete');
  t.equal([...kv.entries()].length, 500);
  const drained = kv.readBatch({ drain: true });
  t.equal(drained.length, 500, 'lookup-and-delete batch');
  t.same([...kv.keys()], [], 'drained');
});

t.test('array map: fixed keys, zero-initialised', async (t) => {
  const counters = obj.map('counters', codec.u32, codec.u64);
  t.equal(counters.get(3), 0n);
  counters.set(3, 77n);
  t.equal(counters.get(3), 77n);
  t.throws(() => counters.set(4, 1n), { code: 'LIBBPF_ERR_MAP_UPDATE' }, 'out of range');
  t.equal([...counters.keys()].length, 4);
});

t.test('per-CPU array: one value per possible CPU', async (t) => {
  const pc = obj.map('per_cpu', codec.u32, codec.u64);
  const cpus = possibleCpus();
  t.throws(() => pc.get(0), /per-CPU/);
  const values = Array.from({ length: cpus }, (_, i) => BigInt(i + 10));
  pc.setPerCpu(1, values);
  t.same(pc.getPerCpu(1), values);
  t.throws(() => pc.setPerCpu(1, [1n]), /needs \d+ values/);
  // A counter's reader sums the CPUs' values, read again at each call; halves summed apart are exact
  // past 2^32 (a carry from the low words) and up to u64's top.
  const counter = pc.perCpuCounter(1);
  t.equal(counter(), values.reduce((a, b) => a + b, 0n));
  const big = Array.from({ length: cpus }, (_, i) => (i === 0 ? 0xffff_ffff_0000_0000n : 0xffff_ffffn));
  pc.setPerCpu(1, big);
  t.equal(counter(), big.reduce((a, b) => a + b, 0n), 'read again, carries included');
  t.equal(pc.perCpuCounter(0)(), 0n, 'a slot never written: 0');
  t.throws(() => obj.map('counters', codec.u32, codec.u64).perCpuCounter(0), /per-CPU map of u64/, 'not for a plain array');
  pc.setPerCpu(1, values);
  const all = pc.readBatch();
  t.equal(all.length, 2);
  t.same(all.find(([k]) => k === 1)?.[1], values, 'batch lookup splits per-CPU values');
});

t.test('LRU hash evicts instead of failing when full', async (t) => {
  const lru = obj.map('lru', codec.u64, codec.u32);
  for (let i = 0n; i < 100n; i++) lru.set(i, Number(i));
  const keys = [...lru.keys()];
  t.ok(keys.length <= 8 + possibleCpus() * 8, `bounded by the map (${keys.length} entries)`);
  t.equal(lru.get(99n), 99, 'newest survives');
});

t.test('codecs must match the map layout', async (t) => {
  t.throws(() => obj.map('kv', codec.u64, codec.u64), /key codec is 8 bytes, map key is 4/);
  t.throws(() => obj.map('kv', codec.u32, codec.u32), /value codec is 4 bytes, map value is 8/);
  const raw = obj.map('kv');
  raw.set(Buffer.from([5, 0, 0, 0]), Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]));
  t.equal(obj.map('kv', codec.u32, codec.u64).get(5), 1n, 'raw buffers and typed views agree');
  t.throws(() => raw.set(Buffer.alloc(5), Buffer.alloc(8)), /exceeds 4/);
});
