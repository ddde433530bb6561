// Loading, attaching and detaching through the real kernel.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import t, { type Test } from 'tap';
import { BpfObject, RingBufferConsumer, closeLinks, codec, isLibbpfError, kprobesAvailable, PerfType, PerfSoftware, type LibbpfError } from '../src/index.js';
import { COUNTER, KIND, bpfObject, cProgram, decodeProbeTestEvent, getppidTimes, type ProbeTestEvent, waitFor } from './helpers.js';
import { requireBpf } from './require-bpf.js';

requireBpf(t);

function loadProbeTest(): BpfObject {
  const obj = BpfObject.open(bpfObject('probe_test'));
  obj.setGlobal('target_tgid', process.pid);
  return obj.load();
}

function collect(t: Test, obj: BpfObject): { events: ProbeTestEvent[]; consumer: RingBufferConsumer } {
  const events: ProbeTestEvent[] = [];
  const consumer = new RingBufferConsumer([obj.map('events')], {
    onBatch: (b) => b.forEach((v, off) => events.push(decodeProbeTestEvent(v, off))),
  });
  t.teardown(() => consumer.close());
  return { events, consumer };
}

t.test('lists programs and maps of a loaded object', async (t) => {
  const obj = loadProbeTest();
  t.teardown(() => obj.close());
  const progs = obj.programs().map((p) => p.name).sort();
  t.same(progs, ['on_add', 'on_add_ret', 'on_getppid', 'on_kprobe', 'on_raw_sys_enter', 'on_sample']);
  t.ok(obj.programs().every((p) => p.info.fd > 0), 'every program has a kernel fd');
  const events = obj.map('events');
  t.equal(events.type, 'ringbuf');
  t.equal(events.maxEntries, 256 * 1024);
  t.throws(() => obj.map('nope'), /no map named 'nope'/);
});

t.test('a syscall tracepoint reports this process only, with its cookie', async (t) => {
  const obj = loadProbeTest();
  t.teardown(() => obj.close());
  const { events, consumer } = collect(t, obj);
  const link = obj.program('on_getppid').attachTracepoint('syscalls', 'sys_enter_getppid', { cookie: 42n });
  // Another process hammering the same syscall must not show up.
  const other = spawn('python3', ['-c', 'import os\nfor _ in range(20000): os.getppid()']);
  getppidTimes(500);
  await once(other, 'exit');
  await waitFor(() => events.length >= 500);
  await consumer.closeAndFlush();
  link.close();
  t.equal(events.length, 500, 'one event per getppid call of ours');
  t.ok(events.every((e) => e.tgid === process.pid), 'all from this process');
  t.ok(events.every((e) => e.kind === KIND.TRACEPOINT && e.cookie === 42n), 'kind and cookie carried');
  t.ok(events.every((e) => e.arg0 === 110n), 'syscall number of getppid on x86-64');
  t.equal(consumer.stats().droppedRecords, 0);
});

t.test('closing a link really stops events', async (t) => {
  const obj = loadProbeTest();
  t.teardown(() => obj.close());
  const { events, consumer } = collect(t, obj);
  const link = obj.program('on_getppid').attachTracepoint('syscalls', 'sys_enter_getppid');
  getppidTimes(10);
  await waitFor(() => events.length >= 10);
  t.equal(events.length, 10);
  link.close();
  t.ok(link.closed);
  getppidTimes(100);
  await new Promise((r) => setTimeout(r, 100));
  await consumer.closeAndFlush();
  t.equal(events.length, 10, 'nothing after detach');
});

t.test('uprobe and uretprobe on a C function, by symbol, with pid and cookie', async (t) => {
  const bin = cProgram('uprobe_target');
  const obj = BpfObject.load(bpfObject('probe_test'));
  t.teardown(() => obj.close());
  const { events, consumer } = collect(t, obj);
  const child = spawn(bin, ['5'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const pid = child.pid!;
  const entry = obj.program('on_add').attachUprobe({ binaryPath: bin, funcName: 'lbts_add', pid, cookie: 7 });
  const ret = obj.program('on_add_ret').attachUprobe({ binaryPath: bin, funcName: 'lbts_add', pid, retprobe: true, cookie: 8 });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stdin.end('go\n');
  await once(child, 'exit');
  await waitFor(() => events.length >= 10);
  await consumer.closeAndFlush();
  entry.close();
  ret.close();
  t.equal(out.trim(), '30', 'target ran normally under the probes');
  const calls = events.filter((e) => e.kind === KIND.UPROBE);
  const rets = events.filter((e) => e.kind === KIND.URETPROBE);
  t.equal(calls.length, 5);
  t.equal(rets.length, 5);
  t.ok(events.every((e) => e.tgid === pid), 'only the target pid');
  t.same(calls.map((e) => [e.arg0, e.arg1]), [0, 1, 2, 3, 4].map((i) => [BigInt(i), BigInt(2 * i)]), 'arguments');
  t.same(rets.map((e) => e.ret), [0n, 3n, 6n, 9n, 12n], 'return values');
  t.ok(calls.every((e) => e.cookie === 7n) && rets.every((e) => e.cookie === 8n), 'cookies');
});

t.test('closeLinks detaches uprobes off the JS thread: none fires afterwards', async (t) => {
  const bin = cProgram('uprobe_target');
  const obj = loadProbeTest();
  t.teardown(() => obj.close());
  const { events, consumer } = collect(t, obj);
  // Several probes on one function of every process that runs the binary (no pid).
  const links = [1, 2, 3, 4, 5, 6].map((cookie) => obj.program('on_add').attachUprobe({ binaryPath: bin, funcName: 'lbts_add', cookie }));
  const control = obj.program('on_add').attachUprobe({ binaryPath: bin, funcName: 'lbts_add', cookie: 9 });
  const closing = closeLinks(links);
  t.ok(links.every((l) => l.closed), 'every link is closed from this side at once');
  await closing;
  const child = spawn(bin, ['3'], { stdio: ['pipe', 'ignore', 'inherit'] });
  child.stdin.end('go\n');
  await once(child, 'exit');
  await new Promise((r) => setTimeout(r, 100));
  await consumer.closeAndFlush();
  control.close();
  const fired = events.filter((e) => e.kind === KIND.UPROBE);
  t.equal(fired.filter((e) => e.cookie === 9n).length, 3, 'the probe left attached fired at each call');
  t.equal(fired.filter((e) => e.cookie !== 9n).length, 0, 'none of the closed ones fired');
  await closeLinks(links); // closing closed links again is nothing
});

t.test('a uprobe on a missing symbol fails with libbpf\'s reason', async (t) => {
  const bin = cProgram('uprobe_target');
  const obj = BpfObject.load(bpfObject('probe_test'));
  t.teardown(() => obj.close());
  const err = t.throws(() => obj.program('on_add').attachUprobe({ binaryPath: bin, funcName: 'no_such_function' })) as LibbpfError;
  t.equal(err.code, 'LIBBPF_ERR_ATTACH');
  t.match(err.message, /uprobe .*no_such_function/);
});

t.test('a perf_event program samples on every CPU', async (t) => {
  const obj = loadProbeTest();
  t.teardown(() => obj.close());
  const group = obj.program('on_sample').attachPerfEvent({
    event: { type: PerfType.SOFTWARE, config: PerfSoftware.CPU_CLOCK, sampleFreq: 1000 },
  });
  t.ok(group.links.length >= 1, 'one link per online CPU');
  const counters = obj.map('counters', codec.u32, codec.u64);
  const until = Date.now() + 300;
  while (Date.now() < until); // burn CPU so this process gets sampled
  const samples = counters.get(COUNTER.PERF_SAMPLES) ?? 0n;
  group.close();
  t.ok(samples >= 50n, `~300 expected at 1 kHz over 300 ms of CPU, got ${samples}`);
  const after = counters.get(COUNTER.PERF_SAMPLES);
  const until2 = Date.now() + 100;
  while (Date.now() < until2);
  t.equal(counters.get(COUNTER.PERF_SAMPLES), after, 'no samples after detach');
});

t.test('a raw tracepoint counts this process\'s syscalls', async (t) => {
  const obj = loadProbeTest();
  t.teardown(() => obj.close());
  const link = obj.program('on_raw_sys_enter').attachRawTracepoint('sys_enter');
  getppidTimes(200);
  link.close();
  const n = obj.map('counters', codec.u32, codec.u64).get(COUNTER.RAW_TP) ?? 0n;
  t.ok(n >= 200n, `at least the 200 getppid calls, got ${n}`);
});

t.test('kprobe attach works where the kernel has kprobes and says why where not', async (t) => {
  const obj = loadProbeTest();
  t.teardown(() => obj.close());
  if (kprobesAvailable()) {
    const link = obj.program('on_kprobe').attachKprobe({ funcName: 'do_nanosleep' });
    t.notOk(link.closed);
    link.close();
  } else {
    const err = t.throws(() => obj.program('on_kprobe').attachKprobe({ funcName: 'do_nanosleep' })) as LibbpfError;
    t.ok(isLibbpfError(err));
    t.equal(err.code, 'LIBBPF_ERR_ATTACH');
    t.match(err.message, /kprobe do_nanosleep/);
  }
});

t.test('the verifier\'s rejection is a readable error carrying its log', async (t) => {
  const err = t.throws(() => BpfObject.load(bpfObject('rejected'))) as LibbpfError;
  t.ok(isLibbpfError(err));
  t.equal(err.code, 'LIBBPF_ERR_LOAD');
  t.equal(err.errno, 13, 'EACCES from the verifier');
  t.match(err.verifierLog ?? '', /invalid mem access 'map_value_or_null'/);
  t.match(err.message, /cannot load BPF object/);
  t.match(err.message, /invalid mem access/, 'the reason is in the message itself');
  t.match(err.libbpfLog, /unchecked_lookup/, 'libbpf names the program');
});

t.test('a missing object file is an open error', async (t) => {
  const err = t.throws(() => BpfObject.open('/nonexistent.bpf.o')) as LibbpfError;
  t.equal(err.code, 'LIBBPF_ERR_OPEN');
  t.equal(err.errno, 2);
});

t.test('globals: unknown names and wrong sizes are refused', async (t) => {
  const obj = BpfObject.open(bpfObject('probe_test'));
  t.teardown(() => obj.close());
  t.throws(() => obj.setGlobal('no_such_global', 1), { code: 'LIBBPF_ERR_NO_GLOBAL' });
  t.throws(() => obj.setGlobal('target_tgid', 1n, 8), { code: 'LIBBPF_ERR_GLOBAL_SIZE' });
  obj.setGlobal('target_tgid', 1);
  obj.load();
  t.throws(() => obj.setGlobal('target_tgid', 2), { code: 'LIBBPF_ERR_GLOBAL' }, 'read-only after load');
});
