// Off-CPU profiles through the real kernel (tp_btf/sched_switch) and the host symbolizer: a thread
// in nanosleep and one blocked reading a pipe for known times, and a busy thread that never blocks
// (test/fixtures/profiler/blocker.c). Scoped to this test's children: the probe sees every switch
// on the machine, the pid filter keeps only theirs.
import t from 'tap';
import type { ProfileRecord, ProfileSample } from '../../src/model/profile.js';
import { fixtureBinary, startProfiler, startWorkload } from './profiler-helpers.js';

const ROUNDS = 10;
const PERIOD_MS = 100;

const offCpu = (profiles: readonly ProfileRecord[]): ProfileSample[] => profiles.filter((p) => p.kind === 'off_cpu').flatMap((p) => p.samples);
const ofThread = (samples: readonly ProfileSample[], pid: number, name: string): ProfileSample[] =>
  samples.filter((s) => s.labels.pid === String(pid) && s.labels.thread_name === name);
const ms = (samples: readonly ProfileSample[]): number => samples.reduce((n, s) => n + (s.nanos ?? 0), 0) / 1e6;
const blocks = (samples: readonly ProfileSample[]): number => samples.reduce((n, s) => n + s.count, 0);
const fnNames = (s: ProfileSample): string[] => s.frames.map((f) => f.function ?? `[${f.module}]`);
/** The sample holding most of the time. */
const heaviest = (samples: readonly ProfileSample[]): ProfileSample | undefined => [...samples].sort((a, b) => (b.nanos ?? 0) - (a.nanos ?? 0))[0];

t.test('sleep and pipe read: blocked time within 10 %, in the right stacks; a busy thread has none', async (t) => {
  const bin = fixtureBinary('blocker');
  const run = await startProfiler({ settings: { offCpu: { enabled: true, minBlockMs: 1, sampleEvery: 1 } } });
  t.teardown(() => run.stop());
  const w = startWorkload(bin, [String(ROUNDS), String(PERIOD_MS)]);
  t.teardown(() => w.stop());
  await w.ready;
  t.equal(await w.exited, 0);
  const profiles = await run.collector.flush();
  const samples = offCpu(profiles);
  const expected = ROUNDS * PERIOD_MS;
  // The blocked time each thread measured around its calls: PERIOD_MS plus, on a busy machine, the
  // wait for a CPU after each wake-up, which is blocked time too (switch-out to switch-in).
  const measured = /blocked sleeper_ms=([\d.]+) reader_ms=([\d.]+)/.exec(w.stdout());
  t.ok(measured !== null, `the workload's own times: ${w.stdout()}`);
  const [sleptMs, readMs] = [Number(measured?.[1] ?? NaN), Number(measured?.[2] ?? NaN)];
  t.ok(sleptMs >= expected && readMs >= expected * 0.9, `at least the periods asked: ${sleptMs} / ${readMs} ms`);

  const sleeper = ofThread(samples, w.pid, 'sleeper');
  t.ok(Math.abs(ms(sleeper) - sleptMs) <= sleptMs * 0.1, `sleeper blocked ${ms(sleeper).toFixed(1)} ms of ${sleptMs.toFixed(1)} ms in nanosleep`);
  t.equal(blocks(sleeper), ROUNDS, 'one block per nanosleep');
  const sl = heaviest(sleeper);
  t.ok(sl !== undefined);
  if (sl !== undefined) {
    const kernel = sl.frames.filter((f) => f.kernel === true).map((f) => f.function ?? '');
    const user = sl.frames.filter((f) => f.kernel !== true).map((f) => f.function ?? '');
    t.ok(kernel.some((n) => /nanosleep/.test(n)), `kernel frames: ${kernel.join(' ← ')}`);
    t.ok(user.some((n) => /nanosleep/.test(n)), `user frames: ${user.join(' ← ')}`);
    t.ok(user.includes('sleeper'), 'under the thread function');
  }

  // The reader waits for main's writes, one every PERIOD_MS: its blocks add up to the run's length.
  const reader = ofThread(samples, w.pid, 'reader');
  t.ok(Math.abs(ms(reader) - readMs) <= readMs * 0.1, `reader blocked ${ms(reader).toFixed(1)} ms of ${readMs.toFixed(1)} ms in read`);
  const rd = heaviest(reader);
  if (rd !== undefined) {
    const names = fnNames(rd);
    t.ok(names.some((n) => /pipe_read|ksys_read|vfs_read/.test(n)), `kernel read frames: ${names.join(' ← ')}`);
    t.ok(names.includes('read_here') || names.includes('reader'), 'the reading function in the user stack');
  } else {
    t.fail('no reader samples');
  }

  const spinner = ofThread(samples, w.pid, 'spinner');
  t.ok(ms(spinner) < expected * 0.05, `the busy thread: ${ms(spinner).toFixed(1)} ms off-CPU (preemption is not blocking)`);

  t.notOk(samples.some((s) => s.labels.pid === String(process.pid)), 'never the agent');
  t.ok(profiles.some((p) => p.kind !== 'off_cpu' && p.samples.some((s) => s.labels.pid === String(w.pid))), 'the CPU profile beside it');
  const st = run.collector.stats();
  t.equal(st.kernel_offcpu_pending_full, 0);
  t.equal(st.kernel_offcpu_counts_full, 0);
  t.ok((st.kernel_offcpu_blocks ?? 0) >= 2 * ROUNDS, `blocks seen: ${st.kernel_offcpu_blocks}`);
});

t.test('min_block: shorter blocks are not counted', async (t) => {
  const bin = fixtureBinary('blocker');
  const run = await startProfiler({ settings: { offCpu: { enabled: true, minBlockMs: 50, sampleEvery: 1 } } });
  t.teardown(() => run.stop());
  const w = startWorkload(bin, ['20', '10']); // 10 ms blocks, all under the minimum
  t.teardown(() => w.stop());
  await w.ready;
  await w.exited;
  const samples = offCpu(await run.collector.flush());
  t.equal(ms(ofThread(samples, w.pid, 'sleeper')), 0, 'no 10 ms sleep counted');
  t.ok((run.collector.stats().kernel_offcpu_short ?? 0) >= 20, 'counted as short');
});

// A block's stacks are in the stack map of the buffer of its switch-out; it is counted in the buffer
// of its switch-in. One drain during the sleep: counted in the other buffer (its stacks read from the
// live map); two: counted in its own buffer, whose map was drained and cleared meanwhile.
for (const drains of [1, 2]) {
  t.test(`a block across ${drains} drain(s) keeps its stack`, async (t) => {
    const bin = fixtureBinary('blocker');
    const run = await startProfiler({ settings: { offCpu: { enabled: true, minBlockMs: 1, sampleEvery: 1 } } });
    t.teardown(() => run.stop());
    const w = startWorkload(bin, ['1', '1500']); // one 1.5 s sleep
    t.teardown(() => w.stop());
    await w.ready;
    const seen: ProfileSample[] = [];
    for (let i = 0; i < drains; i++) {
      await new Promise((r) => setTimeout(r, 200));
      seen.push(...offCpu(await run.collector.flush()));
    }
    await w.exited;
    seen.push(...offCpu(await run.collector.flush()));
    const sleeper = ofThread(seen, w.pid, 'sleeper');
    t.ok(Math.abs(ms(sleeper) - 1500) <= 150, `${ms(sleeper).toFixed(1)} ms`);
    const s = heaviest(sleeper);
    const names = s === undefined ? [] : fnNames(s);
    t.ok(names[0] === '__schedule' && names.some((n) => /do_nanosleep/.test(n)) && names.includes('sleeper'), `stack: ${names.join(' ← ')}`);
    t.equal(run.collector.stats().stacks_missing, 0, 'no stack id pointed at a cleared stack');
  });
}
