// `lantern bpftrace SCRIPT.bt` as a user runs it: the real CLI, the real bpftrace. Lines are printed
// as they come, maps at the end, and both are in the --otlp-file as OTLP log records and metrics; a
// script that does not compile exits 1 with bpftrace's error. The script filters on this test's pid.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { logRecords, runCli, startCli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'lantern-bpftrace-cli-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.test('runs a script: printf lines and maps on stdout and in the OTLP file', async (t) => {
  const script = join(dir, 'ppid-calls.bt');
  writeFileSync(script, `tracepoint:syscalls:sys_enter_getppid /pid == $1/ {
  printf("pid=%d comm=%s tag=\${tag}\\n", pid, comm);
  @calls[comm] = count();
  @size = hist(3000);
}\n`);
  const out = join(dir, 'out.jsonl');
  const cli = startCli(['bpftrace', script, '--duration', '4', '--param', `1=${process.pid}`, '--param', 'tag=blue', '--otlp-file', out]);
  // Calls while the script runs (it attaches within a second or two).
  const timer = setInterval(() => void process.ppid, 100);
  const r = await cli.done;
  clearInterval(timer);
  t.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  t.ok(lines.some((l) => l === `pid=${process.pid} comm=node tag=blue`), `printf lines printed, the named parameter substituted: ${r.stdout.slice(0, 400)}`);
  t.ok(lines.some((l) => /^bpftrace\.ppid_calls\.calls\{comm="node"\} \d+$/.test(l)), 'the count map at the end');
  t.ok(lines.some((l) => /^bpftrace\.ppid_calls\.size count=\d+ le4095:\d+$/.test(l)), 'the histogram at the end');

  const text = readFileSync(out, 'utf8');
  const logs = logRecords(text).filter((l) => l.attrs['bpftrace.script'] === 'ppid-calls');
  t.ok(logs.length >= 5, `log records in the file: ${logs.length}`);
  t.same([logs[0]?.attrs.pid, logs[0]?.attrs.comm, logs[0]?.attrs.tag], [String(process.pid), 'node', 'blue'], 'typed attributes (int64 as a JSON string)');
  const metricNames = text.split('\n').filter((l) => l.includes('resourceMetrics')).flatMap((l) => [...l.matchAll(/"name":"(bpftrace\.[^"]+)"/g)].map((m) => m[1]));
  t.ok(metricNames.includes('bpftrace.ppid_calls.calls') && metricNames.includes('bpftrace.ppid_calls.size'), `metrics in the file: ${[...new Set(metricNames)].join(', ')}`);
});

t.test('a script that exits by itself ends the command', async (t) => {
  const script = join(dir, 'once.bt');
  writeFileSync(script, 'BEGIN { printf("hello=%d\\n", 42); exit(); }\n');
  const r = await runCli(['bpftrace', script]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^hello=42$/m);
});

t.test('a script that does not compile: exit 1, bpftrace\'s error on stderr', async (t) => {
  const script = join(dir, 'broken.bt');
  writeFileSync(script, 'BEGIN { @x = count( }\n');
  const r = await runCli(['bpftrace', script]);
  t.equal(r.code, 1);
  t.match(r.stderr, /broken:1:\d+.*ERROR: syntax error/);
});

t.test('usage errors', async (t) => {
  const none = await runCli(['bpftrace']);
  t.equal(none.code, 2);
  t.match(none.stderr, /give one script file/);
  const missing = await runCli(['bpftrace', join(dir, 'nope.bt')]);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /cannot read/);
  const badParam = await runCli(['bpftrace', join(dir, 'once.bt'), '--param', 'novalue']);
  t.equal(badParam.code, 2);
  t.match(badParam.stderr, /expected NAME=VALUE/);
});

t.test('a SIGKILLed lantern leaves no bpftrace behind (the kernel kills it with its parent)', async (t) => {
  const script = join(dir, 'forever.bt');
  writeFileSync(script, 'interval:s:1 { @n = count(); }\n');
  const cli = startCli(['bpftrace', script, '--log-level', 'info']);
  await cli.waitForStderr(/bpftrace script running/, 20_000);
  const lantern = cli.child.pid as number;
  const children = readdirSync(`/proc/${lantern}/task`).flatMap((tid) => readFileSync(`/proc/${lantern}/task/${tid}/children`, 'utf8').trim().split(/\s+/)).filter((p) => p !== '').map(Number);
  const bpftrace = children.find((p) => readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'bpftrace');
  t.ok(bpftrace, `bpftrace runs under lantern (children: ${children.join(', ')})`);
  cli.child.kill('SIGKILL');
  await cli.done;
  const end = Date.now() + 5000;
  while (existsSync(`/proc/${bpftrace}`) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  t.notOk(existsSync(`/proc/${bpftrace}`), 'bpftrace is gone, and its probes with it');
});
