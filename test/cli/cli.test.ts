// The command-line contract: help everywhere, usage errors, doctor.
import { existsSync } from 'node:fs';
import { release } from 'node:os';
import t from 'tap';
import { runCli } from '../helpers/cli.js';

t.test('help: top level and every command', async (t) => {
  const top = await runCli(['--help']);
  t.equal(top.code, 0);
  for (const cmd of ['doctor', 'run', 'status', 'profile', 'bpftrace', 'trace-func']) t.match(top.stdout, new RegExp(`\\n  ${cmd} `), `lists ${cmd}`);
  for (const cmd of ['doctor', 'run', 'status', 'profile', 'bpftrace', 'trace-func']) {
    const r = await runCli([cmd, '--help']);
    t.equal(r.code, 0, `${cmd} --help exits 0`);
    t.match(r.stdout, `Usage: lantern ${cmd}`);
  }
  const none = await runCli([]);
  t.equal(none.code, 2, 'no command is a usage error');
  const unknown = await runCli(['frobnicate']);
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, "unknown command 'frobnicate'");
});

t.test('run: bad flags are usage errors naming the problem', async (t) => {
  const r = await runCli(['run', '--bogus']);
  t.equal(r.code, 2);
  t.match(r.stderr, /Unknown option '--bogus'/);
  const v = await runCli(['run', '--pid', '0', '--otlp-endpoint', 'localhost:4317']);
  t.equal(v.code, 2);
  t.match(v.stderr, /--pid: expected a whole number from 1/);
  t.match(v.stderr, /--otlp-endpoint: expected an http:\/\/ or https:\/\/ URL such as http:\/\/localhost:4317, got "localhost:4317"/);
  const tls = await runCli(['run', '--collectors', 'tls', '--duration', '1']);
  t.equal(tls.code, 2, 'TLS plaintext needs the socket tracer');
  t.match(tls.stderr, /--collectors: collector tls needs collector sockets/);
  const c = await runCli(['run', '--collectors', 'dynlog,bpftrace', '--duration', '1']);
  t.equal(c.code, 0, `every collector of the config is in this build: ${c.stderr}`);
});

t.test('doctor tells the truth about this host', async (t) => {
  const r = await runCli(['doctor', '--json']);
  const report = JSON.parse(r.stdout) as { canRun: boolean; checks: Array<{ id: string; ok: boolean; required: boolean }>; features: Array<{ name: string; available: boolean }> };
  const check = (id: string): boolean | undefined => report.checks.find((c) => c.id === id)?.ok;
  const feature = (name: string): boolean | undefined => report.features.find((f) => f.name.startsWith(name))?.available;
  t.equal(r.code, report.canRun ? 0 : 1, 'exit status follows canRun');
  t.equal(check('privileges'), process.getuid?.() === 0, 'privileges: root or not');
  t.equal(check('btf'), existsSync('/sys/kernel/btf/vmlinux'));
  t.equal(check('kprobes'), existsSync('/sys/bus/event_source/devices/kprobe/type') || existsSync('/sys/kernel/tracing/kprobe_events'));
  t.equal(check('uprobes'), existsSync('/sys/bus/event_source/devices/uprobe/type'));
  t.equal(check('bpftrace'), existsSync('/usr/bin/bpftrace'));
  // Task storage from tracepoints came with Linux 5.12: the kernel's release says what to expect.
  const [major = 0, minor = 0] = release().split('.').map(Number);
  t.equal(check('task_storage'), major > 5 || (major === 5 && minor >= 12), 'task storage: from 5.12');
  t.equal(feature('Protocol tracing'), check('task_storage') === true && check('privileges') === true && check('btf') === true && check('ring_buffer') === true && check('syscall_tracepoints') === true, 'protocol tracing: where task storage is');
  t.equal(report.checks.length, 14, 'every check reported');
  t.equal(report.features.length, 6);
  t.equal(feature('bpftrace scripts'), check('bpftrace') === true && check('privileges') === true, 'bpftrace scripts: built, and there when bpftrace is');
  t.equal(feature('Dynamic logging'), check('uprobes') === true && check('privileges') === true && check('btf') === true, 'dynamic logging: where uprobes are');
  const text = await runCli(['doctor']);
  t.match(text.stdout, /Kprobes/);
  t.match(text.stdout, /fentry\/fexit/);
  t.match(text.stdout, report.canRun ? /The agent can run on this host/ : /cannot run/);
});
