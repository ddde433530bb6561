// IdleGuard: a thread outside SCHED_IDLE that takes the process's threads back when they starve.
import { execFileSync, spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import t, { type Test } from 'tap';
import { BpfObject, IdleGuard, setThreadIdle, threadIsIdle } from '../src/index.js';
import { bpfObject, getppidTimes, waitFor } from './helpers.js';
import { requireBpf } from './require-bpf.js';

requireBpf(t);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The main thread under SCHED_IDLE for the test, and back under SCHED_OTHER after it whatever happens. */
function mainThreadIdle(t: Test): void {
  t.equal(setThreadIdle(process.pid, true), 0, 'the main thread is under SCHED_IDLE');
  t.teardown(() => void setThreadIdle(process.pid, false));
}

t.test('made by an idle thread, the guard\'s own thread is not idle', async (t) => {
  mainThreadIdle(t);
  const guard = new IdleGuard();
  t.teardown(() => guard.close());
  t.ok(guard.tid > 0 && guard.tid !== process.pid, `a thread of its own (${guard.tid})`);
  t.equal(threadIsIdle(guard.tid), false);
});

// The tests of one condition turn the others off: waiting for a CPU cannot pass 100 % of the time,
// and a loaded machine (the tests beside this one) would make this idle thread wait.
const NO_WAIT = { waitPercent: 100 };

t.test('a JS thread that misses its heartbeat is taken back out of SCHED_IDLE', async (t) => {
  const guard = new IdleGuard({ checkMs: 10, heartbeatMs: 200, ...NO_WAIT });
  t.teardown(() => guard.close());
  mainThreadIdle(t);
  // Beating: no restore however long it lasts.
  guard.arm();
  const beat = setInterval(() => guard.beat(), 20);
  await sleep(500);
  clearInterval(beat);
  let s = guard.stats();
  t.ok(s.checks >= 10, `checked while armed (${s.checks})`);
  t.equal(s.restores, 0, 'beating: left alone');
  t.equal(guard.restores(), 0);
  t.equal(threadIsIdle(process.pid), true);
  // The JS thread busy for 600 ms, no beat: the guard moves it (and only what is idle) back.
  const until = Date.now() + 600;
  while (Date.now() < until) {
    // no timer can run
  }
  s = guard.stats();
  t.equal(s.restores, 1, 'restored once');
  t.equal(guard.restores(), 1, 'restores() is stats().restores');
  t.equal(s.lastReason, 'heartbeat');
  t.equal(s.threadsRestored, 1, 'the one idle thread');
  t.equal(s.armed, false, 'disarmed by its restore');
  t.equal(threadIsIdle(process.pid), false, 'the main thread is back under SCHED_OTHER');
  // Disarmed, it waits for the next arm().
  await sleep(300);
  t.equal(guard.stats().restores, 1);
});

t.test('a JS thread that waits for a CPU most of the time is taken back, though it still beats', async (t) => {
  // The main thread and a busy loop share CPU 0: under SCHED_IDLE (weight 3 against 1024) the
  // thread gets a sliver of it, enough to beat now and then.
  const cpus = `0-${availableParallelism() - 1}`;
  execFileSync('taskset', ['-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
  t.teardown(() => void execFileSync('taskset', ['-p', '-c', cpus, String(process.pid)], { stdio: 'ignore' }));
  const guard = new IdleGuard({ checkMs: 10, heartbeatMs: 60_000, waitPercent: 50, waitWindowMs: 200 });
  t.teardown(() => guard.close());
  mainThreadIdle(t);
  const busy = spawn('taskset', ['-c', '0', 'sh', '-c', 'while :; do :; done'], { stdio: 'ignore' });
  t.teardown(() => void busy.kill('SIGKILL'));
  await sleep(100);
  guard.arm();
  // Always runnable: it spins, beating whenever it runs, until the guard moves it.
  const start = Date.now();
  while (guard.stats().restores === 0 && Date.now() - start < 10_000) guard.beat();
  const s = guard.stats();
  t.equal(s.restores, 1, `restored (after ${Date.now() - start} ms)`);
  t.equal(s.lastReason, 'waiting for a CPU');
  t.equal(threadIsIdle(process.pid), false);
});

t.test('disarmed, a missed heartbeat changes nothing', async (t) => {
  const guard = new IdleGuard({ checkMs: 10, heartbeatMs: 100, ...NO_WAIT });
  t.teardown(() => guard.close());
  mainThreadIdle(t);
  guard.arm();
  guard.disarm();
  await sleep(300);
  t.equal(guard.stats().restores, 0);
  t.equal(threadIsIdle(process.pid), true);
});

t.test('a watched ring filling past its share is a restore; unwatched, it is not', async (t) => {
  // ~2 KiB records into a 256 KiB ring that nobody consumes.
  const obj = BpfObject.open(bpfObject('probe_test')).setGlobal('target_tgid', process.pid).setGlobal('filler_len', 2048).load();
  t.teardown(() => obj.close());
  const link = obj.program('on_getppid').attach();
  t.teardown(() => link.close());
  const guard = new IdleGuard({ checkMs: 10, heartbeatMs: 60_000, ringFillPercent: 12, ...NO_WAIT });
  t.teardown(() => guard.close());
  const unwatch = guard.watchRing(obj.map('events'));
  t.equal(guard.stats().rings, 1);
  mainThreadIdle(t);
  guard.arm();
  getppidTimes(5); // ~10 KiB: 4 %
  await sleep(200);
  t.equal(guard.stats().restores, 0, 'a few records: left alone');
  getppidTimes(20); // ~50 KiB: 20 %
  await waitFor(() => guard.stats().restores === 1);
  t.equal(guard.stats().lastReason, 'ring filling');
  t.equal(threadIsIdle(process.pid), false);
  // The ring is as full, but no longer watched.
  unwatch();
  t.equal(guard.stats().rings, 0);
  t.equal(setThreadIdle(process.pid, true), 0);
  guard.arm();
  await sleep(200);
  t.equal(guard.stats().restores, 1, 'unwatched: left alone');
  t.equal(threadIsIdle(process.pid), true);
});

t.test('a map that is not a ring buffer is refused; a closed guard does nothing', async (t) => {
  const obj = BpfObject.open(bpfObject('probe_test')).setGlobal('target_tgid', process.pid).load();
  t.teardown(() => obj.close());
  const guard = new IdleGuard();
  t.throws(() => guard.watchRing(obj.map('counters')), /not a ring buffer/);
  guard.close();
  guard.arm();
  guard.beat();
  t.same(guard.stats(), { armed: false, checks: 0, restores: 0, threadsRestored: 0, lastReason: '', rings: 0 });
  guard.close();
});
