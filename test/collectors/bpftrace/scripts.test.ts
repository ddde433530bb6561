// bpftrace scripts through the real bpftrace (Debian's 0.17) and the real kernel: what they print
// becomes typed log records and metric series, failures are reported with bpftrace's own words,
// and every bpftrace is supervised (restarted, stopped at its TTL, stopped as a runaway, never left
// behind). Probes see the whole machine: every script filters on this test's own pid or children.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { alive, runningScript, stateOf, testScripts } from './helpers.js';

const PID = String(process.pid);

t.test('a count of this process\'s own syscalls matches what it did', async (t) => {
  const { s, status: status } = await runningScript(t, { name: 'getppid', params: { 1: PID },
    source: 'tracepoint:syscalls:sys_enter_getppid /pid == $1/ { @calls[pid, comm] = count(); }' });
  t.ok((status.probes ?? 0) >= 1);
  t.equal(s.scripts.stats().bpf_attachments, status.probes, 'its probes count as BPF attachments while it runs');
  // libuv's uv_os_getppid makes the syscall on every read of process.ppid.
  for (let i = 0; i < 137; i++) void process.ppid;
  await s.scripts.stop('getppid');
  t.equal(s.scripts.stats().bpf_attachments, 0, 'none once it stopped');
  const series = s.scripts.metricSeries(BigInt(Date.now()) * 1_000_000n).filter((x) => x.name === 'bpftrace.getppid.calls');
  t.equal(series.length, 1);
  t.same(series[0]?.attributes, { pid: process.pid, comm: 'node' });
  t.same(series[0]?.value, { kind: 'sum', monotonic: true, value: 137 });
  t.equal(stateOf(s, 'getppid')?.state, 'stopped');
});

t.test('a histogram of a known latency lands in the right power-of-two bucket', async (t) => {
  const { s, status: status } = await runningScript(t, { name: 'sleeps', params: { 1: PID }, source: `
tracepoint:syscalls:sys_enter_clock_nanosleep /curtask->real_parent->tgid == $1/ { @start[tid] = nsecs; }
tracepoint:syscalls:sys_exit_clock_nanosleep /@start[tid]/ { @us = hist((nsecs - @start[tid]) / 1000); delete(@start[tid]); }` });
  for (let i = 0; i < 3; i++) execFileSync('sleep', ['0.05']);
  await s.scripts.stop('sleeps');
  const h = s.scripts.metricSeries(0n).find((x) => x.name === 'bpftrace.sleeps.us')?.value;
  if (h?.kind !== 'histogram') throw new Error(`no histogram: ${JSON.stringify(h)}`);
  t.equal(h.count, 3);
  // 50 ms = 50,000 µs: the bucket [32768, 65535] of hist(), whose upper bound is 65535.
  const i = h.bounds.indexOf(65535);
  t.ok(i > 0, `bounds reach 65535: ${h.bounds.join(',')}`);
  t.equal(h.counts[i], 3, `counts ${h.counts.join(',')}`);
  t.equal(h.bounds[i - 1], 32767);
});

t.test('printf lines of a real program become records with typed attributes and its resource', async (t) => {
  const { s, status: status } = await runningScript(t, { name: 'opens', params: { 1: PID }, source: `
tracepoint:syscalls:sys_enter_openat /curtask->real_parent->tgid == $1 && comm == "cat"/ {
  printf("pid=%d comm=%s file=%s\\n", pid, comm, str(args->filename));
}` });
  const child = String(spawnSync('cat', ['/etc/hostname']).pid);
  const rec = await s.until(() => s.records.find((r) => r.attributes.file === '/etc/hostname'));
  t.ok(rec, 'the open of /etc/hostname was logged');
  t.equal(rec?.attributes.pid, Number(child), 'pid is a number, the child\'s');
  t.equal(rec?.attributes.comm, 'cat');
  t.equal(rec?.attributes['bpftrace.script'], 'opens');
  t.equal(rec?.body, `pid=${child} comm=cat file=/etc/hostname`);
  t.equal(rec?.resource.attributes['process.pid'], Number(child), 'the line\'s pid gives the record its process resource');
  t.equal(rec?.severity.text, 'INFO');
});

t.test('a Pixie-style name:%d script: fields typed, time_ becomes the record time', async (t) => {
  const { s, status: status } = await runningScript(t, { name: 'pixie', params: { 1: PID },
    source: 'tracepoint:syscalls:sys_enter_getppid /pid == $1/ { printf("time_:%llu pid:%u comm:%s n:%d\\n", nsecs, pid, comm, 7); }' });
  const before = BigInt(Date.now()) * 1_000_000n;
  void process.ppid;
  const rec = await s.until(() => s.records.find((r) => r.attributes['bpftrace.script'] === 'pixie'));
  const after = BigInt(Date.now()) * 1_000_000n;
  t.same({ pid: rec?.attributes.pid, comm: rec?.attributes.comm, n: rec?.attributes.n }, { pid: process.pid, comm: 'node', n: 7 });
  t.equal(typeof rec?.attributes.time_, 'number');
  t.ok(rec !== undefined && rec.timeUnixNano >= before - 50_000_000n && rec.timeUnixNano <= after + 50_000_000n,
    `record time from time_ (${rec?.timeUnixNano}) within the call (${before}..${after})`);
  t.not(rec?.timeUnixNano, rec?.observedTimeUnixNano);
});

t.test('a script that does not compile fails with bpftrace\'s message; the others keep running', async (t) => {
  const { s, status: good } = await runningScript(t, { name: 'good', params: { 1: PID },
    source: 'tracepoint:syscalls:sys_enter_getppid /pid == $1/ { printf("n=%d\\n", 1); }' });
  const bad = await s.scripts.add({ name: 'broken', origin: 'api', source: 'BEGIN { @x = count( }' });
  t.equal(bad.state, 'failed');
  t.match(bad.reason, /broken:1:\d+(-\d+)?: ERROR: syntax error/, 'bpftrace\'s error, with the script\'s name');
  t.notMatch(bad.reason, /RLIMIT_MEMLOCK/, 'known noise left out');
  const missing = await s.scripts.add({ name: 'no-such-probe', origin: 'api', source: 'tracepoint:nope:nope { exit(); }' });
  t.match(missing.reason, /tracepoint not found: nope:nope/);
  await new Promise((r) => setTimeout(r, 1500));
  t.equal(stateOf(s, 'broken')?.state, 'failed', 'not restarted: it would fail the same way');
  t.equal(stateOf(s, 'broken')?.stats.restarts, 0);
  void process.ppid;
  t.ok(await s.until(() => s.records.some((r) => r.attributes['bpftrace.script'] === 'good')), 'the healthy script still produces');
  t.equal(stateOf(s, 'good')?.state, 'running');
});

t.test('bpftrace killed from outside is restarted and the failure reported', async (t) => {
  const { s, status: st } = await runningScript(t, { name: 'victim', params: { 1: PID },
    source: 'tracepoint:syscalls:sys_enter_getppid /pid == $1/ { printf("n=%d\\n", 1); }' });
  const first = st.pid;
  t.ok(alive(first));
  process.kill(first as number, 'SIGKILL');
  const failed = await s.until(() => s.transitions.find((x) => x.name === 'victim' && x.to === 'failed'));
  t.match(failed?.reason, /killed by SIGKILL/);
  const again = await s.until(() => {
    const now = stateOf(s, 'victim');
    return now?.state === 'running' && now.pid !== first ? now : undefined;
  });
  t.ok(again, 'running again under a new bpftrace');
  t.equal(again?.stats.restarts, 1);
  void process.ppid;
  t.ok(await s.until(() => s.records.some((r) => r.attributes['bpftrace.script'] === 'victim')), 'and producing');
});

t.test('a script with a time to live stops by itself, and bpftrace with it', async (t) => {
  const { s, status: st } = await runningScript(t, { name: 'short', ttlSeconds: 1.5, source: 'interval:ms:100 { @ticks = count(); }' });
  t.ok(st.expiresAt);
  const stopped = await s.until(() => (stateOf(s, 'short')?.state === 'stopped' ? stateOf(s, 'short') : undefined), 10_000);
  t.match(stopped?.reason, /time to live of 1.5s expired/);
  t.notOk(alive(st.pid), 'bpftrace is gone');
  const ticks = s.scripts.metricSeries(0n).find((x) => x.name === 'bpftrace.short.ticks')?.value;
  t.ok(ticks?.kind === 'sum' && ticks.value >= 5, `its map was printed on the way out: ${JSON.stringify(ticks)}`);
});

t.test('a runaway script is stopped and what it dropped is counted', async (t) => {
  const s = testScripts({ maxLinesPerSecond: 20, runawaySeconds: 2 });
  t.teardown(() => s.scripts.close());
  const st = await s.scripts.add({ name: 'noisy', origin: 'api', source: 'profile:hz:499 { printf("tick=%d\\n", 1); }' });
  t.equal(st.state, 'running', st.reason ?? '');
  const end = await s.until(() => (stateOf(s, 'noisy')?.state === 'failed' ? stateOf(s, 'noisy') : undefined), 15_000);
  t.match(end?.reason, /runaway: over 20 lines\/s for 2 s/);
  t.ok((end?.stats.lines_dropped_rate ?? 0) > 0);
  t.ok((end?.stats.lines ?? 0) <= 20 * 6, `lines kept stay within the rate: ${end?.stats.lines}`);
  t.notOk(alive(st.pid));
});

t.test('limits: the number of scripts, names, duplicates', async (t) => {
  const s = testScripts({}, 1);
  t.teardown(() => s.scripts.close());
  await t.rejects(s.scripts.add({ name: '../etc', origin: 'api', source: 'BEGIN {}' }), /script name/);
  const one = await s.scripts.add({ name: 'one', origin: 'api', source: 'interval:s:1 { @n = count(); }' });
  t.equal(one.state, 'running', one.reason ?? '');
  await t.rejects(s.scripts.add({ name: 'one', origin: 'api', source: 'BEGIN {}' }), /is running/);
  await t.rejects(s.scripts.add({ name: 'two', origin: 'api', source: 'BEGIN {}' }), /1 scripts are running already/);
  await s.scripts.close();
  t.notOk(alive(one.pid), 'close stops every bpftrace');
});

t.test('a SIGINT bpftrace leaves unanswered is sent again: the maps still come out before SIGKILL', async (t) => {
  // A stand-in for bpftrace that, as the real one sometimes does right after it started on a busy
  // host, lets the first SIGINT go by; at the next it prints its map and exits.
  const dir = mkdtempSync(join(tmpdir(), 'lantern-bpftrace-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const fake = join(dir, 'bpftrace');
  writeFileSync(fake, `#!/bin/sh
cat > /dev/null
n=0
trap 'n=$((n + 1)); if [ $n -ge 2 ]; then echo "{\\"type\\": \\"map\\", \\"data\\": {\\"@calls\\": 7}}"; exit 0; fi' INT
printf '%s\\n' '{"type": "attached_probes", "data": {"probes": 2}}'
printf '%s\\n' '{"type": "printf", "data": "lantern:probes-attached\\n"}'
while :; do sleep 0.05; done
`, { mode: 0o755 });
  const { s } = await runningScript(t, { name: 'stubborn', source: 'tracepoint:syscalls:sys_enter_getppid { @calls = count(); }' }, { binary: fake, stopTimeoutMs: 5000 });
  await s.scripts.stop('stubborn');
  const series = s.scripts.metricSeries(BigInt(Date.now()) * 1_000_000n).filter((x) => x.name === 'bpftrace.stubborn.calls');
  t.same(series.map((x) => x.value), [{ kind: 'sum', monotonic: true, value: 7 }], 'the map printed at the second SIGINT');
  t.equal(stateOf(s, 'stubborn')?.state, 'stopped');
});
