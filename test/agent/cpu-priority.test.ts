// The agent yields the CPU to applications (`nice`, default 10) while it keeps up and takes its
// priority back when it falls behind. Every thread is set, those node started before and those
// started after; the rule is tested with a clock and a recorder. What it buys (nginx's p99 beside
// a busy agent) is measured in benchmarks/, not here.
import { spawnSync } from 'node:child_process';
import t from 'tap';
import { CpuPriority, type PriorityChange, canRaisePriority } from '../../src/agent/cpu-priority.js';

// A child that starts a worker thread, sets every thread's nice value, starts another worker, and
// prints each thread's nice value (field 19 of /proc/self/task/TID/stat); then back to 0.
const script = (nice: number): string => `
  import { readdirSync, readFileSync } from 'node:fs';
  import { Worker } from 'node:worker_threads';
  import { setThreadsNice } from ${JSON.stringify(new URL('../../src/agent/cpu-priority.js', import.meta.url).href)};
  const idle = () => new Worker('setInterval(() => {}, 1000)', { eval: true });
  const online = (w) => new Promise((r) => w.once('online', r));
  const nices = () => readdirSync('/proc/self/task').map((tid) => {
    const stat = readFileSync('/proc/self/task/' + tid + '/stat', 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  });
  await online(idle());
  const lowered = setThreadsNice(${nice});
  await online(idle());
  const low = nices();
  const raised = setThreadsNice(0);
  console.log(JSON.stringify({ lowered, low, raised, high: nices() }));
  process.exit(0);`;

t.test('every thread is set, those started before and after, and back', async (t) => {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  delete env.NODE_V8_COVERAGE;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script(10)], { encoding: 'utf8', env });
  t.equal(r.status, 0, r.stderr);
  const { lowered, low, raised, high } = JSON.parse(r.stdout) as { lowered: PriorityChange; low: number[]; raised: PriorityChange; high: number[] };
  t.ok(low.length >= 6, `node's threads and two workers (${low.length})`);
  t.same([...new Set(low)], [10], 'each thread at nice 10, the worker started after too');
  t.ok(lowered.changed >= 5 && lowered.failed === 0, `the threads that existed were set (${JSON.stringify(lowered)})`);
  t.same([...new Set(high)], [0], 'each thread back at nice 0 (root: CAP_SYS_NICE)');
  t.equal(raised.failed, 0);
  t.equal(canRaisePriority(), true, 'root has CAP_SYS_NICE');
});

/** A CpuPriority on a fake clock that records the nice values it sets. */
function governor(o: { started?: number; canRaise?: boolean } = {}) {
  let now = 0;
  const set: number[] = [];
  const p = new CpuPriority({
    nice: 10, started: o.started ?? 0, canRaise: o.canRaise ?? true, now: () => now,
    setNice: (nice) => {
      set.push(nice);
      return { nice, changed: 8, unchanged: 0, failed: 0 };
    },
  });
  /** Pressure `p` reported every 10 ms for `ms`. */
  const run = (ms: number, pressure: number, lost = false): void => {
    for (const end = now + ms; now < end; now += 10) p.reportPressure(pressure, lost);
  };
  return { p, set, run };
}

t.test('yields while keeping up, comes back when behind, yields again after a calm spell that doubles', async (t) => {
  const { p, set, run } = governor();
  t.equal(p.start(), true);
  t.same(set, [10], 'yielding from the start');
  run(60_000, 0.05);
  t.same(set, [10], 'a queue about one batch deep: still yielding');
  run(20, 0.3);
  t.same(set, [10, 0], 'a quarter of the queue taken: back to the priority it started with');
  t.same(p.stats(), { cpu_nice: 0, cpu_priority_raised: 1, cpu_priority_failures: 0 });
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
  t.same(p.stats(), { cpu_nice: 10, cpu_priority_raised: 2, cpu_priority_failures: 0 });
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
