// One object's map shared with another before load (bpf_map__reuse_fd): the second object's
// programs write into the first object's map, both see the same elements, shapes are checked.
import t from 'tap';
import { BpfObject, codec, type LibbpfError } from '../src/index.js';
import { COUNTER, bpfObject, getppidTimes } from './helpers.js';
import { requireBpf } from './require-bpf.js';

requireBpf(t);

const path = bpfObject('probe_test');

t.test('a reused map is one kernel map seen from both objects', async (t) => {
  const owner = BpfObject.load(path);
  t.teardown(() => owner.close());
  const user = BpfObject.open(path).reuseMap('kv', owner.map('kv'));
  t.teardown(() => user.close());
  user.load();
  const a = owner.map('kv', codec.u32, codec.u64);
  const b = user.map('kv', codec.u32, codec.u64);
  t.not(a.fd, b.fd, 'each object holds its own fd');
  a.set(7, 49n);
  t.equal(b.get(7), 49n, 'written by the owner, read by the user');
  b.set(8, 64n);
  t.equal(a.get(8), 64n, 'and the other way');
  t.same([...a.keys()].sort(), [...b.keys()].sort());
});

t.test('the reusing object\'s programs write into the owner\'s map', async (t) => {
  const owner = BpfObject.load(path);
  t.teardown(() => owner.close());
  const user = BpfObject.open(path);
  t.teardown(() => user.close());
  user.setGlobal('target_tgid', process.pid).reuseMap('counters', owner.map('counters').fd).load();
  const link = user.program('on_raw_sys_enter').attachRawTracepoint('sys_enter');
  getppidTimes(100);
  link.close();
  const n = owner.map('counters', codec.u32, codec.u64).get(COUNTER.RAW_TP) ?? 0n;
  t.ok(n >= 100n, `the owner's counter counts the user's program hits (${n})`);
});

t.test('the map outlives the object that created it', async (t) => {
  const owner = BpfObject.load(path);
  const user = BpfObject.open(path).reuseMap('kv', owner.map('kv'));
  t.teardown(() => user.close());
  user.load();
  owner.map('kv', codec.u32, codec.u64).set(1, 2n);
  owner.close();
  t.equal(user.map('kv', codec.u32, codec.u64).get(1), 2n);
});

t.test('maps of another shape, non-maps and a loaded object are refused with the reason', async (t) => {
  const owner = BpfObject.load(path);
  t.teardown(() => owner.close());
  const user = BpfObject.open(path);
  t.teardown(() => user.close());
  const shape = t.throws(() => user.reuseMap('kv', owner.map('lru'))) as LibbpfError;
  t.equal(shape.code, 'LIBBPF_ERR_MAP_REUSE');
  t.match(shape.message, /map type/, 'hash vs LRU hash');
  const size = t.throws(() => user.reuseMap('kv', owner.map('counters'))) as LibbpfError;
  t.match(size.message, /map type|key size|value size/);
  const notMap = t.throws(() => user.reuseMap('kv', 0)) as LibbpfError;
  t.equal(notMap.code, 'LIBBPF_ERR_MAP_REUSE');
  t.match(notMap.message, /not a BPF map/);
  t.throws(() => user.reuseMap('nope', owner.map('kv')), /no map named 'nope'/);
  // The refused attempts left the object intact: it still loads, with its own map.
  user.load();
  t.equal(user.map('kv', codec.u32, codec.u64).get(7), undefined);
  t.throws(() => user.reuseMap('kv', owner.map('kv')), { code: 'LIBBPF_ERR_MAP_REUSE' }, 'after load');
});
