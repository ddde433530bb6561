// The agent yields the CPU to applications (`nice`, default idle) while it keeps up and takes its
// priority back when it falls behind. Every thread is set, those node started before and those
// started after; the rule is tested with a clock and a recorder. What it buys (nginx's p99 beside
// a busy agent) is measured in benchmarks/, not here.
import { spawnSync } from 'node:child_process';
import t, { type Test } from 'tap';
import { existsSync, mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeptFile } from '../../src/agent/kept-file.js';
import { CpuPriority, cpuPressureReader, cpuPressureSeconds, type PriorityChange, allowedCpusIdleReader, canRaisePriority, idleSecondsOfAllowedCpus } from '../../src/agent/cpu-priority.js';

// A child that starts a worker thread, sets every thread with `fn(yieldArg)`, starts another worker,
// and prints each thread's field `field` of /proc/self/task/TID/stat (counted after the command's
// closing parenthesis: 16 the nice value, 38 the policy); then `fn(backArg)`.
const script = (fn: string, yieldArg: string, backArg: string, field: number): string => `
  import { readdirSync, readFileSync } from 'node:fs';
  import { Worker } from 'node:worker_threads';
  import { ${fn} } from ${JSON.stringify(new URL('../../src/agent/cpu-priority.js', import.meta.url).href)};
  const idle = () => new Worker('setInterval(() => {}, 1000)', { eval: true });
  const online = (w) => new Promise((r) => w.once('online', r));
  const values = () => readdirSync('/proc/self/task').map((tid) => {
    const stat = readFileSync('/proc/self/task/' + tid + '/stat', 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[${field}]);
  });
  await online(idle());
  const lowered = ${fn}(${yieldArg});
  await online(idle());
  const low = values();
  const raised = ${fn}(${backArg});
  console.log(JSON.stringify({ lowered, low, raised, high: values() }));
  process.exit(0);`;

/** Runs `script(...)` in a child and checks every thread was set (`low`) and set back (`high`). */
function everyThread(t: Test, child: string, low: number, high: number, what: string): void {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  delete env.NODE_V8_COVERAGE;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', child], { encoding: 'utf8', env });
  t.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { lowered: PriorityChange; low: number[]; raised: PriorityChange; high: number[] };
  t.ok(out.low.length >= 6, `node's threads and two workers (${out.low.length})`);
  t.same([...new Set(out.low)], [low], `each thread ${what}, the worker started after too`);
  t.ok(out.lowered.changed >= 5 && out.lowered.failed === 0, `the threads that existed were set (${JSON.stringify(out.lowered)})`);
  t.same([...new Set(out.high)], [high], 'each thread back (root: CAP_SYS_NICE)');
  t.equal(out.raised.failed, 0);
}

t.test('every thread is set, those started before and after, and back', async (t) => {
  everyThread(t, script('setThreadsNice', '10', '0', 16), 10, 0, 'at nice 10');
  t.equal(canRaisePriority(), true, 'root has CAP_SYS_NICE');
});

t.test('SCHED_IDLE: every thread is set, those started before and after, and back', async (t) => {
  everyThread(t, script('setThreadsIdle', 'true', 'false', 38), 5, 0, 'under SCHED_IDLE (policy 5)');
});

t.test('nice: idle yields by SCHED_IDLE and comes back the same way', async (t) => {
  let now = 0;
  const set: boolean[] = [];
  const p = new CpuPriority({
    nice: 'idle', started: 0, canRaise: true, now: () => now,
    setNice: (nice) => {
      t.fail('no nice value is set');
      return { nice, changed: 0, unchanged: 0, failed: 0 };
    },
    setIdle: (idle) => {
      set.push(idle);
      return { idle, changed: 8, unchanged: 0, failed: 0 };
    },
  });
  t.equal(p.start(), true);
  t.same(p.stats(), { cpu_nice: 0, cpu_sched_idle: 1, cpu_priority_raised: 0, cpu_priority_starved: 0, cpu_priority_failures: 0, cpu_contended: 0, cpu_contended_episodes: 0 });
  for (const end = now + 20; now < end; now += 10) p.reportPressure(0.3);
  t.same(set, [true, false], 'under SCHED_IDLE from the start, back when behind');
  t.same(p.stats(), { cpu_nice: 0, cpu_sched_idle: 0, cpu_priority_raised: 1, cpu_priority_starved: 0, cpu_priority_failures: 0, cpu_contended: 0, cpu_contended_episodes: 0 });
  const untouched = new CpuPriority({ nice: 'idle', canRaise: false, setIdle: (idle) => {
    set.push(idle);
    return { idle, changed: 0, unchanged: 0, failed: 0 };
  } });
  t.equal(untouched.start(), false, 'no yielding without the right to come back');
  t.same(set, [true, false], 'and the policy never touched');
});

/** A CpuPriority on a fake clock that records the nice values it sets. */
function governor(o: { started?: number; canRaise?: boolean } = {}) {
  let now = 0;
  const set: number[] = [];
  /** What onContended was told, in order. */
  const contended: boolean[] = [];
  const p = new CpuPriority({
    nice: 10, started: o.started ?? 0, canRaise: o.canRaise ?? true, now: () => now, cpuPressureSeconds: () => 0,
    setNice: (nice) => {
      set.push(nice);
      return { nice, changed: 8, unchanged: 0, failed: 0 };
    },
    onContended: (c) => contended.push(c),
  });
  /** Pressure `p` (and records `lagMs` late) reported every 10 ms for `ms`. */
  const run = (ms: number, pressure: number, lost = false, lagMs = 10): void => {
    for (const end = now + ms; now < end; now += 10) p.reportPressure(pressure, lost, lagMs);
  };
  return { p, set, run, contended };
}

t.test('yields while keeping up, comes back when behind, yields again after a calm spell that doubles', async (t) => {
  const { p, set, run, contended } = governor();
  t.equal(p.start(), true);
  t.same(set, [10], 'yielding from the start');
  run(60_000, 0.05);
  t.same(set, [10], 'a queue about one batch deep: still yielding');
  run(20, 0.3);
  t.same(set, [10, 0], 'a quarter of the queue taken: back to the priority it started with');
  t.same(p.stats(), { cpu_nice: 0, cpu_sched_idle: 0, cpu_priority_raised: 1, cpu_priority_starved: 0, cpu_priority_failures: 0, cpu_contended: 0, cpu_contended_episodes: 0 });
  run(4_990, 0.01);
  t.same(set, [10, 0], 'not yet calm for 5 s');
  run(20, 0.01);
  t.same(set, [10, 0, 10], 'calm for 5 s: yielding again');
  run(10, 0.01, true);
  t.same(set, [10, 0, 10, 0], 'records lost: back at once, whatever the pressure');
  run(5_000, 0.01);
  run(3_000, 0.2);
  run(9_990, 0.01);
  t.same(set, [10, 0, 10, 0], 'the calm spell broken by pressure starts over, and it is 10 s now');
  run(20, 0.01);
  t.same(set, [10, 0, 10, 0, 10], 'calm for 10 s: yielding');
  t.same(contended, [], 'behind by its own backlog, or records lost: past its capacity, not contended');
  t.same(p.stats(), { cpu_nice: 10, cpu_sched_idle: 0, cpu_priority_raised: 2, cpu_priority_starved: 0, cpu_priority_failures: 0, cpu_contended: 0, cpu_contended_episodes: 0 });
});

t.test('records handled late count as behind whatever the pressure; calm needs them timely', async (t) => {
  const { p, set, run, contended } = governor();
  p.start();
  run(10_000, 0.01, false, 200);
  t.same(set, [10], 'records 200 ms late with little waiting: still yielding');
  for (let i = 0; i < 5; i++) {
    run(490, 0.01, false, 201);
    run(10, 0.01, false, 20);
  }
  t.same(set, [10], 'later than 200 ms for 490 ms at a time (a backlog drained): still yielding');
  run(500, 0.01, false, 201);
  t.same(set, [10], 'later than 200 ms, not yet for 500 ms');
  run(10, 0.01, false, 201);
  t.same(set, [10, 0], 'later than 200 ms for 500 ms: back to the full share');
  t.same(contended, [true], 'for want of CPU: the host is contended');
  run(10_000, 0.01, false, 90);
  t.same(set, [10, 0], 'records 90 ms late do not make a calm spell');
  run(5_000, 0.01, false, 80);
  t.same(set, [10, 0], 'within 80 ms: calm, but not yet for 5 s');
  run(20, 0.01, false, 80);
  t.same(set, [10, 0, 10], 'calm for 5 s: yielding again');
  t.same(contended, [true], 'still contended once it yields: only CPU to spare lifts it');
  t.same(p.stats(), { cpu_nice: 10, cpu_sched_idle: 0, cpu_priority_raised: 1, cpu_priority_starved: 0, cpu_priority_failures: 0, cpu_contended: 1, cpu_contended_episodes: 1 });
});

t.test('a long calm forgets past episodes: the next calm spell is 5 s again', async (t) => {
  const { p, set, run } = governor();
  p.start();
  for (let i = 0; i < 4; i++) {
    run(10, 1);
    run(200_000, 0);
  }
  t.same(set, [10, 0, 10, 0, 10, 0, 10, 0, 10], 'four episodes, each followed by yielding again');
  run(600_000, 0);
  run(10, 1);
  run(5_010, 0);
  t.same(set.slice(-2), [0, 10], 'after ten calm minutes one episode costs 5 s again');
});

t.test('no yielding without the right to come back, nor when started nicer', async (t) => {
  for (const [o, why] of [[{ canRaise: false }, 'no CAP_SYS_NICE'], [{ started: 10 }, 'started at nice 10'], [{ started: 15 }, 'started at nice 15']] as const) {
    const { p, set, run } = governor(o);
    t.equal(p.start(), false, why);
    run(1000, 1, true);
    t.same(set, [], `${why}: the priority is never touched`);
  }
});

/** A guard that records what it is told, and restores when the test says. */
function fakeGuard() {
  const calls: string[] = [];
  const stats = { restores: 0, threadsRestored: 0, lastReason: '' };
  return {
    calls, stats,
    guard: { tid: 4242, arm: () => calls.push('arm'), disarm: () => calls.push('disarm'), beat: () => calls.push('beat'), restores: () => stats.restores, stats: () => ({ ...stats }) },
    /** The guard's thread took `threads` back, for `reason`. */
    restore(threads: number, reason: string): void {
      stats.restores++;
      stats.threadsRestored += threads;
      stats.lastReason = reason;
    },
  };
}

t.test('nice: idle, starved: the guard is armed while yielding, and its restore counts as coming back', async (t) => {
  let now = 0;
  const set: boolean[] = [];
  const changes: Array<[boolean, PriorityChange, string]> = [];
  const contended: boolean[] = [];
  const g = fakeGuard();
  const p = new CpuPriority({
    nice: 'idle', started: 0, canRaise: true, now: () => now, guard: g.guard, idleCpuSeconds: () => 1000, cpuPressureSeconds: () => 0,
    setIdle: (idle) => {
      set.push(idle);
      return { idle, changed: 8, unchanged: 0, failed: 0 };
    },
    onChange: (y, c, r) => changes.push([y, c, r]),
    onContended: (c) => contended.push(c),
  });
  t.teardown(() => p.stop());
  t.equal(p.start(), true);
  t.same(g.calls, ['arm'], 'armed once the threads are idle');
  p.tick();
  t.same(g.calls, ['arm', 'beat'], 'each tick beats');
  // CPU-bound work starved the agent: the guard took its 9 threads back.
  g.restore(9, 'heartbeat');
  now += 700;
  p.tick();
  t.same(set, [true], 'the agent sets nothing itself: the guard did');
  t.same(changes.at(-1), [false, { idle: false, changed: 9, unchanged: 0, failed: 0 }, 'starved (heartbeat)']);
  t.same(contended, [true], 'starved: the host is contended');
  t.same(p.stats(), { cpu_nice: 0, cpu_sched_idle: 0, cpu_priority_raised: 1, cpu_priority_starved: 1, cpu_priority_failures: 0, cpu_contended: 1, cpu_contended_episodes: 1 });
  // Calm again: it yields after the calm spell, judged by ticks alone when no batch comes.
  for (const end = now + 5_000; now < end; now += 100) p.tick();
  t.same(set, [true], 'not before 5 s of calm');
  now += 100;
  p.tick();
  t.same(set, [true, true], 'then under SCHED_IDLE again');
  t.equal(g.calls.filter((c) => c === 'arm').length, 2, 'and armed again');
  t.same(contended, [true], 'yielding: still contended (no CPU to spare)');
  // Behind by its own pressure: it comes back itself and disarms the guard.
  p.reportPressure(0.5);
  t.same(set, [true, true, false]);
  t.equal(g.calls.at(-1), 'disarm');
  t.same(p.stats(), { cpu_nice: 0, cpu_sched_idle: 0, cpu_priority_raised: 2, cpu_priority_starved: 1, cpu_priority_failures: 0, cpu_contended: 1, cpu_contended_episodes: 1 });
  // A restore of the guard's while not yielding (it raced with the agent's own) is no episode.
  g.restore(0, 'ring filling');
  p.tick();
  t.equal(p.stats().cpu_priority_starved, 1);
});

t.test('starved or lagging with CPU idle meanwhile: not contended (the scheduler left the idle thread no moment); with none idle, or the ring filling: contended', async (t) => {
  let now = 0;
  let idleSeconds = 1000;
  const told: Array<[boolean, string]> = [];
  const g = fakeGuard();
  const p = new CpuPriority({
    nice: 'idle', started: 0, canRaise: true, now: () => now, guard: g.guard, cores: 2,
    idleCpuSeconds: () => idleSeconds, cpuPressureSeconds: () => Number.NaN, ownCpuSeconds: () => 0,
    setIdle: (idle) => ({ idle, changed: 8, unchanged: 0, failed: 0 }),
    onContended: (c, r) => told.push([c, r]),
  });
  t.teardown(() => p.stop());
  /** `ms` with `idleCores` idle, ticking every 100 ms (or not: starved), calling `report` at each. */
  const pass = (ms: number, idleCores: number, tick = true, report?: () => void): void => {
    for (const end = now + ms; now < end;) {
      now += 100;
      idleSeconds += idleCores / 10;
      report?.();
      if (tick) p.tick();
    }
  };
  const calmUntilYielding = (): void => {
    while (p.stats().cpu_sched_idle === 0) pass(100, 0.87, true, () => p.reportPressure(0));
  };
  p.start();
  // nginx at 50,000 req/s from a Go load tool: the guard finds the idle-policy JS thread starved.
  pass(500, 0.87);
  pass(300, 0.87, false);
  g.restore(9, 'waiting for a CPU');
  p.tick();
  t.same(told, [], 'starved with 0.87 of a core idle (threads waking all the time): CPU to spare, not contended');
  t.equal(p.stats().cpu_priority_starved, 1, 'the return is counted all the same');
  t.equal(p.stats().cpu_sched_idle, 0, 'at its full share');
  calmUntilYielding();
  pass(800, 0.8, true, () => p.reportPressure(0.1, false, 300));
  t.equal(p.stats().cpu_sched_idle, 0, 'lagging: back at its full share');
  t.same(told, [], 'lagging with 0.8 of a core idle: not contended');
  calmUntilYielding();
  pass(500, 0.05);
  pass(300, 0.05, false);
  g.restore(9, 'waiting for a CPU');
  p.tick();
  t.same(told, [[true, 'starved (waiting for a CPU)']], 'starved with a twentieth of a core idle: contended');
  // Lifted; then yielding again, and the ring fills unread before the idle CPU says anything.
  pass(1_000, 0.87, true, () => p.reportPressure(0.3));
  t.equal(told.length, 2, 'CPU to spare lifts it');
  calmUntilYielding();
  pass(300, 0.87);
  g.restore(9, 'ring filling');
  p.tick();
  t.same(told.at(-1), [true, 'starved (ring filling)'], 'the ring filling unread: contended at once, whatever was idle');
});

t.test('back at its full share (starved with CPU to spare, or behind): the host is judged once the backlog is handled (1 s at most)', async (t) => {
  let now = 0;
  let [idleSeconds, pressureSeconds, ownSeconds] = [1000, 50, 10];
  const told: Array<[boolean, string]> = [];
  const g = fakeGuard();
  const p = new CpuPriority({
    nice: 'idle', started: 0, canRaise: true, now: () => now, guard: g.guard, cores: 2,
    idleCpuSeconds: () => idleSeconds, cpuPressureSeconds: () => pressureSeconds, ownCpuSeconds: () => ownSeconds,
    setIdle: (idle) => ({ idle, changed: 8, unchanged: 0, failed: 0 }),
    onContended: (c, r) => told.push([c, r]),
  });
  t.teardown(() => p.stop());
  /** `ms` in 100 ms ticks: `idle` and the agent's `own` cores, tasks waiting `waiting` of the time, records `lagMs` late (reported unless starved). */
  const run = (ms: number, idle: number, waiting: number, own: number, lagMs: number | null): void => {
    for (const end = now + ms; now < end;) {
      now += 100;
      [idleSeconds, pressureSeconds, ownSeconds] = [idleSeconds + idle / 10, pressureSeconds + waiting / 10, ownSeconds + own / 10];
      if (lagMs === null) continue;
      p.reportPressure(lagMs > 50 ? 0.1 : 0, false, lagMs);
      p.tick();
    }
  };
  p.start();
  run(500, 0.87, 0.3, 0.02, 10);
  run(300, 0.87, 0.3, 0.02, null);
  g.restore(9, 'waiting for a CPU');
  p.tick();
  t.same(told, [], 'starved with CPU idle: not contended');
  run(600, 0.2, 0.5, 1.0, 300);
  t.same(told, [], 'catching up (records 300 ms late), a core taken and 0.2 idle: not judged yet');
  run(1_000, 0.7, 0.43, 0.26, 20);
  t.same(told, [], 'caught up: 0.7 idle beside the agent\'s 0.26, not contended');
  // Yielding again; starved again, and the backlog never drains: judged after 2 s all the same.
  for (let i = 0; i < 120 && p.stats().cpu_sched_idle === 0; i++) run(100, 0.87, 0.1, 0.02, 10);
  t.equal(p.stats().cpu_sched_idle, 1, 'yielding again');
  run(300, 0.87, 0.3, 0.02, null);
  g.restore(9, 'waiting for a CPU');
  p.tick();
  run(900, 0.1, 0.5, 0.9, 300);
  t.same(told, [], 'behind for 0.9 s: not judged yet');
  run(700, 0.1, 0.5, 0.9, 300);
  t.same(told, [[true, 'tasks waiting for a CPU']], 'after 1 s, tasks waiting with 0.1 idle beside the agent\'s 0.9: contended');
  // Lifted; yielding again, then back for its own backlog (behind), which it catches up on first.
  for (let i = 0; i < 300 && p.stats().cpu_sched_idle === 0; i++) run(100, 0.87, 0.1, 0.02, 10);
  t.same(told.at(-1), [false, 'CPU to spare']);
  t.equal(p.stats().cpu_sched_idle, 1, 'yielding again');
  p.reportPressure(0.5, false, 300);
  t.equal(p.stats().cpu_sched_idle, 0, 'behind: back at its full share');
  run(600, 0.2, 0.5, 1.0, 300);
  t.equal(told.length, 2, 'catching up on its backlog, a core taken and 0.2 idle: not judged yet');
  run(1_000, 0.7, 0.43, 0.26, 20);
  t.equal(told.length, 2, 'caught up: 0.7 idle beside the agent\'s 0.26, not contended');
});

t.test('contended: until the host has a quarter of a core idle over a second (PSI unread), yielding or not', async (t) => {
  let now = 0;
  let idleSeconds = 1000;
  const contended: boolean[] = [];
  const g = fakeGuard();
  const p = new CpuPriority({
    nice: 'idle', started: 0, canRaise: true, now: () => now, guard: g.guard, idleCpuSeconds: () => idleSeconds, cpuPressureSeconds: () => Number.NaN,
    setIdle: (idle) => ({ idle, changed: 8, unchanged: 0, failed: 0 }),
    onContended: (c) => contended.push(c),
  });
  t.teardown(() => p.stop());
  p.start();
  g.restore(9, 'waiting for a CPU');
  p.tick();
  t.same(contended, [true], 'starved: contended');
  // Busy neighbours: a tenth of a core idle.
  for (let i = 0; i < 50; i++) {
    now += 100;
    idleSeconds += 0.01;
    p.reportPressure(0.3); // behind all along: no calm spell, it stays at its full share
    p.tick();
  }
  t.same(contended, [true], 'no CPU to spare for 5 s: still contended');
  for (let i = 0; i < 10; i++) {
    now += 100;
    idleSeconds += 0.03;
    p.tick();
  }
  t.same(contended, [true, false], 'a third of a core idle over a second: CPU to spare, contended no more');
  t.same(p.stats().cpu_sched_idle, 0, 'still at its full share: yielding waits for a calm spell');
  t.equal(p.stats().cpu_contended_episodes, 1);
  // Calm (no pressure), and starved again; then yielding again after its calm spell (10 s now).
  p.reportPressure(0);
  for (let i = 0; i < 60; i++) {
    now += 100;
    p.tick();
  }
  t.equal(p.stats().cpu_sched_idle, 1, 'yielding after 5 s of calm');
  g.restore(9, 'waiting for a CPU');
  p.tick();
  t.same(contended, [true, false, true], 'starved again: contended again');
  for (let i = 0; i < 110; i++) {
    now += 100;
    idleSeconds += 0.01;
    p.tick();
  }
  t.equal(p.stats().cpu_sched_idle, 1, 'yielding again after 10 s of calm');
  t.same(contended, [true, false, true], 'yielding does not lift it: no CPU to spare yet');
  for (let i = 0; i < 10; i++) {
    now += 100;
    idleSeconds += 0.03;
    p.tick();
  }
  t.same(contended, [true, false, true, false], 'CPU to spare lifts it while yielding too');
});

/**
 * A CpuPriority under `nice: idle` on 2 CPUs whose host counters (idle CPU, CPU pressure, the agent's
 * own CPU) and clock the test moves: `run(ms, idle, waiting, own, calm)` ticks every 100 ms for `ms`
 * with `idle` of the 2 cores idle on average, tasks waiting for a CPU `waiting` of the time and the
 * agent using `own` cores, reporting pressure (behind, no calm spell) unless `calm`.
 */
function fullShareHost(t: Test) {
  let now = 0;
  let [idleSeconds, pressureSeconds, ownSeconds] = [1000, 50, 10];
  /** What onContended was told: contended or not, why, and the agent's own CPU when given. */
  const told: Array<{ contended: boolean; reason: string; own: number | undefined }> = [];
  const p = new CpuPriority({
    nice: 'idle', started: 0, canRaise: true, now: () => now, guard: fakeGuard().guard, cores: 2,
    idleCpuSeconds: () => idleSeconds, cpuPressureSeconds: () => pressureSeconds, ownCpuSeconds: () => ownSeconds,
    setIdle: (idle) => ({ idle, changed: 8, unchanged: 0, failed: 0 }),
    onContended: (contended, reason, own) => told.push({ contended, reason, own }),
  });
  t.teardown(() => p.stop());
  const run = (ms: number, idle: number, waiting: number, own = 0.3, calm = false): void => {
    for (const end = now + ms; now < end;) {
      now += 100;
      [idleSeconds, pressureSeconds, ownSeconds] = [idleSeconds + idle / 10, pressureSeconds + waiting / 10, ownSeconds + own / 10];
      if (!calm) p.reportPressure(0.3);
      p.tick();
    }
  };
  return {
    p, run, told,
    /** [contended, why] of each change told. */
    changes: (): Array<[boolean, string]> => told.map((c) => [c.contended, c.reason]),
    /** The kernel has no PSI from now on. */
    noPressure: (): void => void (pressureSeconds = Number.NaN),
  };
}

t.test('at its full share, tasks waiting for a CPU a fifth of the time is contended as a starved yield is; yielding, only the guard says so', async (t) => {
  const { p, run, told, changes, noPressure } = fullShareHost(t);
  p.start();
  run(3_000, 0, 0.8, 0.3, true);
  t.same(changes(), [], 'yielding, with tasks waiting and no idle CPU, never starved: not contended (the guard would say)');
  p.reportPressure(0.5);
  t.equal(p.stats().cpu_sched_idle, 0, 'back to its full share for its own backlog');
  run(2_000, 0, 0.1);
  t.same(changes(), [], 'tasks waiting a tenth of the time, no idle CPU: past its capacity, not contended');
  run(2_000, 0.7, 0.6, 1.1);
  t.same(changes(), [], 'tasks waiting 60 % of the time, but the agent busy and the others at 0.2 of a core: its own threads waiting, not contended');
  run(2_000, 0.7, 0.4, 0.26);
  t.same(changes(), [], 'tasks waiting 40 % of the time, but 0.7 of a core idle beside the agent\'s 0.26: CPU to spare (many threads waking at once), not contended');
  run(400, 0.4, 0.4);
  t.same(changes(), [], 'not yet half a second of tasks waiting');
  run(600, 0.1, 0.4);
  t.same(changes(), [[true, 'tasks waiting for a CPU']], 'waiting 40 % of the time over half a second: contended (0.1-0.4 of a core idle)');
  t.equal(p.stats().cpu_contended, 1);
  t.ok(Math.abs(told[0]!.own! - 0.3) < 1e-9, `with the agent's own CPU over that half second: ${told[0]!.own} cores`);
  run(3_000, 0.2, 0.4);
  t.same(told.length, 1, 'a fifth of a core idle: still contended (CPU to spare is a quarter)');
  run(2_000, 0.3, 0.4);
  t.same(told.length, 1, 'a third of a core idle while tasks wait 40 % of the time (the agent\'s own stalls): still contended');
  run(2_000, 0.6, 0.4);
  t.same(told.length, 1, 'more idle, but others still waiting a fifth of the time: still contended');
  run(2_000, 0.3, 0.1);
  t.same(changes(), [[true, 'tasks waiting for a CPU'], [false, 'CPU to spare']], 'a quarter of a core idle over a second, tasks waiting a tenth of it: lifted');
  run(3_000, 0, 0.15);
  t.same(told.length, 2, 'tasks waiting under a fifth of the time: not contended');
  run(1_000, 0, 0.5);
  t.same(changes().at(-1), [true, 'tasks waiting for a CPU'], 'waiting again: contended again');
  t.equal(p.stats().cpu_contended_episodes, 2);
  noPressure();
  run(2_000, 1, 0);
  p.reportPressure(0.5);
  t.same(changes().at(-1), [false, 'CPU to spare']);
  run(3_000, 0, 0);
  t.equal(told.length, 4, 'no pressure to read (a kernel without PSI): never contended at its full share');
});

t.test('contended by tasks waiting, CPU to spare is half of what the agent took at its full share (a quarter of a core at least)', async (t) => {
  const { p, run, told } = fullShareHost(t);
  const contended = (): boolean[] => told.map((c) => c.contended);
  p.start();
  p.reportPressure(0.5);
  run(1_000, 0.1, 0.5, 0.9);
  t.same(contended(), [true], 'tasks waiting while the agent took 0.9 of a core: contended');
  run(3_000, 0.35, 0.05, 0.1);
  t.same(contended(), [true], 'held to its budget beside a load that goes on: 0.35 of a core idle now and then is not the 0.45 it would take back');
  run(2_000, 0.5, 0.05, 0.1);
  t.same(contended(), [true, false], 'half a core idle: CPU to spare');
  run(1_000, 0.1, 0.5, 0.3);
  t.same(contended(), [true, false, true], 'contended again, the agent at 0.3 of a core');
  run(2_000, 0.3, 0.05, 0.1);
  t.same(contended(), [true, false, true, false], 'a quarter of a core at least: 0.3 idle is CPU to spare');
});

t.test('CPU pressure: PSI\'s `some total` in seconds, NaN when unreadable', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-psi-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'cpu');
  writeFileSync(file, 'some avg10=3.07 avg60=12.19 avg300=8.73 total=8361387968\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n');
  t.equal(cpuPressureSeconds(file), 8361.387968);
  writeFileSync(file, 'full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n');
  t.ok(Number.isNaN(cpuPressureSeconds(file)), 'no `some` line: NaN');
  t.ok(Number.isNaN(cpuPressureSeconds(join(dir, 'missing'))), 'no file: NaN');
  // The agent's reader keeps the file open and reads it again each time.
  writeFileSync(file, 'some avg10=0.00 avg60=0.00 avg300=0.00 total=1000000\n');
  const psi = new KeptFile(file);
  t.teardown(() => psi.close());
  const read = cpuPressureReader(psi);
  t.equal(read(), 1);
  writeFileSync(file, 'some avg10=0.00 avg60=0.00 avg300=0.00 total=2500000\n');
  t.equal(read(), 2.5, 'read again: the file as it is now');
  // A kernel without PSI (CONFIG_PSI off, or psi=0) has no file: the agent then reads NaN.
  if (existsSync('/proc/pressure/cpu')) t.ok(cpuPressureSeconds() > 0, 'this host\'s');
  else t.ok(Number.isNaN(cpuPressureSeconds()), 'this host has no PSI: NaN');
});

/** Paths of a /proc/stat and a /proc/self/status of the test's own, in a directory removed after it. */
function procFiles(t: Test): { dir: string; stat: string; status: string } {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-stat-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return { dir, stat: join(dir, 'stat'), status: join(dir, 'status') };
}

t.test('idle CPU: idle and iowait of the CPUs the agent may run on, NaN when unreadable', async (t) => {
  const { dir, stat, status } = procFiles(t);
  writeFileSync(stat, 'cpu  4705 150 1120 16250 520 0 30 0 0 0\ncpu0 2000 75 560 8125 260 0 15 0 0 0\ncpu1 2705 75 560 8000 200 0 15 0 0 0\ncpu2 1 1 1 125 60 0 0 0 0 0\nintr 1 2 3\n');
  writeFileSync(status, 'Name:\tnode\nCpus_allowed:\t5\nCpus_allowed_list:\t0,2\n');
  t.equal(idleSecondsOfAllowedCpus(stat, status), 85.7, 'cpu0 and cpu2: (8125 + 260 + 125 + 60) / 100; cpu1 left out');
  writeFileSync(status, 'Cpus_allowed_list:\t0-2\n');
  t.equal(idleSecondsOfAllowedCpus(stat, status), 167.7);
  t.ok(Number.isNaN(idleSecondsOfAllowedCpus(join(dir, 'missing'), status)));
  writeFileSync(status, 'Name:\tnode\n');
  t.ok(Number.isNaN(idleSecondsOfAllowedCpus(stat, status)), 'no CPU list: NaN');
  t.ok(idleSecondsOfAllowedCpus() > 0, 'this host\'s');
  writeFileSync(status, 'Cpus_allowed_list:\t0,2-1\n');
  t.ok(Number.isNaN(idleSecondsOfAllowedCpus(stat, status)), 'a list that is not one: NaN');
  writeFileSync(status, 'Cpus_allowed_list:\ta\n');
  t.ok(Number.isNaN(idleSecondsOfAllowedCpus(stat, status)), 'not numbers: NaN');
});

t.test('idle CPU reader: the CPU list kept for a second, /proc/stat read each time', async (t) => {
  const { stat, status } = procFiles(t);
  writeFileSync(stat, 'cpu0 2000 75 560 8125 260 0 15 0 0 0\ncpu1 2705 75 560 8000 200 0 15 0 0 0\n');
  writeFileSync(status, 'Cpus_allowed_list:\t0\n');
  let now = 0;
  const statFile = new KeptFile(stat);
  t.teardown(() => statFile.close());
  const read = allowedCpusIdleReader(statFile, status, () => now);
  t.equal(read(), 83.85, 'cpu0');
  writeFileSync(status, 'Cpus_allowed_list:\t0-1\n');
  writeFileSync(stat, 'cpu0 2000 75 560 8200 260 0 15 0 0 0\ncpu1 2705 75 560 8000 200 0 15 0 0 0\n');
  now = 999;
  t.equal(read(), 84.6, 'the new idle time, of the list read before');
  now = 1_000;
  t.equal(read(), 166.6, 'a second on: the list read again, cpu1 counted');
  writeFileSync(status, 'Name:\tnode\n');
  now = 2_000;
  t.ok(Number.isNaN(read()), 'the list gone: NaN');
  writeFileSync(status, 'Cpus_allowed_list:\t1\n');
  now = 2_001;
  t.equal(read(), 82, 'a list again: read at once (nothing kept from the failed read)');
});

t.test('stop: back to the full share, and the ticks end', async (t) => {
  const set: boolean[] = [];
  const g = fakeGuard();
  const p = new CpuPriority({ nice: 'idle', started: 0, canRaise: true, guard: g.guard, setIdle: (idle) => {
    set.push(idle);
    return { idle, changed: 8, unchanged: 0, failed: 0 };
  } });
  p.start();
  p.stop();
  t.same(set, [true, false], 'restored at stop');
  t.equal(p.stats().cpu_priority_raised, 0, 'not counted as falling behind');
  t.equal(g.calls.at(-1), 'disarm');
  const beats = g.calls.length;
  await new Promise((r) => setTimeout(r, 250));
  t.equal(g.calls.length, beats, 'no tick after stop');
  t.equal(p.stats().cpu_sched_idle, 0);
});

t.test('a nice value (not idle) takes no guard', async (t) => {
  const g = fakeGuard();
  const p = new CpuPriority({ nice: 10, started: 0, canRaise: true, guard: g.guard, setNice: (nice) => ({ nice, changed: 1, unchanged: 0, failed: 0 }) });
  t.teardown(() => p.stop());
  p.start();
  p.tick();
  t.same(g.calls, [], 'never armed nor beaten');
});

t.test('the files its default readers keep open are closed at stop', async (t) => {
  const openTo = (paths: readonly string[]): number => readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return paths.includes(readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      return false; // the directory's own fd, gone by now
    }
  }).length;
  const kept = ['/proc/stat', '/proc/pressure/cpu'];
  const before = openTo(kept);
  let now = 0;
  const p = new CpuPriority({ nice: 10, started: 0, canRaise: true, now: () => now, setNice: (nice) => ({ nice, changed: 1, unchanged: 0, failed: 0 }) });
  t.ok(p.start(), 'yielding');
  for (; now < 3_000; now += 10) {
    p.reportPressure(0.3);
    if (now % 100 === 0) p.tick();
  }
  t.equal(openTo(kept), before + 2, 'both read through files kept open');
  p.stop();
  t.equal(openTo(kept), before, 'none left open');
});
