// The agent lowers its own CPU priority (`nice`, default 10): every thread, those node started
// before and those started after. What it buys (nginx's p99 beside a busy agent) is measured in
// benchmarks/, not here.
import { spawnSync } from 'node:child_process';
import t from 'tap';

// A child that starts a worker thread, lowers its priority, starts another, and prints each
// thread's nice value (field 19 of /proc/self/task/TID/stat) with what lowerCpuPriority reported.
const script = (nice: number): string => `
  import { readdirSync, readFileSync } from 'node:fs';
  import { Worker } from 'node:worker_threads';
  import { lowerCpuPriority } from ${JSON.stringify(new URL('../../src/agent/cpu-priority.js', import.meta.url).href)};
  const idle = () => new Worker('setInterval(() => {}, 1000)', { eval: true });
  const online = (w) => new Promise((r) => w.once('online', r));
  const before = idle();
  await online(before);
  const change = lowerCpuPriority(${nice});
  const after = idle();
  await online(after);
  const nices = readdirSync('/proc/self/task').map((tid) => {
    const stat = readFileSync('/proc/self/task/' + tid + '/stat', 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  });
  console.log(JSON.stringify({ change, nices }));
  process.exit(0);`;

function runChild(nice: number, startedAt = 0): { change: { lowered: number; kept: number; failed: number }; nices: number[] } {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  delete env.NODE_V8_COVERAGE;
  const r = spawnSync('nice', ['-n', String(startedAt), process.execPath, '--input-type=module', '-e', script(nice)], { encoding: 'utf8', env });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as { change: { lowered: number; kept: number; failed: number }; nices: number[] };
}

t.test('every thread is lowered, those started before and after', async (t) => {
  const { change, nices } = runChild(10);
  t.ok(nices.length >= 6, `node's threads and two workers (${nices.length})`);
  t.same([...new Set(nices)], [10], 'each thread at nice 10');
  t.ok(change.lowered >= 5, `the threads that existed were lowered (${change.lowered})`);
  t.equal(change.failed, 0);
});

t.test('a priority is never raised: started nicer, the agent stays there', async (t) => {
  const { change, nices } = runChild(10, 15);
  t.same([...new Set(nices)], [15], 'each thread still at nice 15');
  t.equal(change.lowered, 0);
  t.ok(change.kept >= 5, `every thread kept (${change.kept})`);
});
