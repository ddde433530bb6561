// `lantern run` through the real kernel: pid filter, flushing on --duration and on SIGTERM,
// refusal without privileges, mounting tracefs/bpffs where missing.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { lanternBin, lanternNodeOptions, logRecords, runCli, startCli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'lantern-run-'));

t.test('--pid: exec and exit of that process only, exported as OTLP JSON lines', async (t) => {
  // The target waits for a line, then execs a shell that exits 3: same pid, new image.
  const target = spawn('/bin/sh', ['-c', 'read x; exec /bin/sh -c "exit 3"'], { stdio: ['pipe', 'ignore', 'ignore'] });
  const pid = target.pid!;
  const file = join(dir, 'pid.jsonl');
  const agent = startCli(['run', '--pid', String(pid), '--otlp-file', file, '--duration', '30']);
  await agent.waitForStderr('tracing pids');
  const noise = spawn('/bin/true'); // not ours: must not appear
  await once(noise, 'exit');
  target.stdin!.end('go\n');
  const [code] = await once(target, 'exit');
  t.equal(code, 3);
  await new Promise((r) => setTimeout(r, 300));
  agent.child.kill('SIGTERM');
  const r = await agent.done;
  t.equal(r.code, 0, 'SIGTERM is a clean stop');
  t.match(r.stderr, /stopping\s+reason=SIGTERM/);
  const records = logRecords(readFileSync(file, 'utf8'));
  t.ok(records.every((x) => x.attrs['process.pid'] === String(pid)), 'only the chosen pid');
  const exec = records.find((x) => x.record.eventName === 'process.exec');
  const exit = records.find((x) => x.record.eventName === 'process.exit');
  t.match(exec?.attrs['process.executable.path'], /\/bin\/sh$/);
  t.equal(exit?.attrs['process.exit.code'], '3');
  t.equal(exit?.resource['service.name'], 'sh');
  t.ok(exit?.resource['host.name'], 'host.name on the resource');
  t.ok(BigInt(String(exec?.record.timeUnixNano)) > BigInt(Date.now() - 60_000) * 1_000_000n, 'kernel time converted to wall clock');
});

t.test('the launcher starts node with the V8 options the agent needs; started without them, the agent says so', async (t) => {
  const args = ['run', '--collectors', 'process', '--port', '0', '--duration', '1'];
  const warning = /node was started without the options bin\/lantern\.js gives it/;
  const run = async (command: string, commandArgs: string[]): Promise<{ code: unknown; stderr: string }> => {
    const child = spawn(command, commandArgs, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const [code] = await once(child, 'exit');
    return { code, stderr };
  };
  // As users run it: the file itself (`lantern`, `./bin/lantern.js`), its #! line giving node the options.
  const launched = await run(lanternBin, args);
  t.equal(launched.code, 0, launched.stderr);
  t.notMatch(launched.stderr, warning, 'no warning when started by the launcher');
  t.same(lanternNodeOptions, ['--max-semi-space-size=8'], 'the options the launcher gives node');
  // `node bin/lantern.js`: node's defaults, said in the log with what is missing.
  const plain = await run(process.execPath, [lanternBin, ...args]);
  t.equal(plain.code, 0, plain.stderr);
  t.match(plain.stderr, warning);
  t.match(plain.stderr, /--max-semi-space-size=8/, 'names the option');
});

t.test('--duration stops by itself with everything flushed; own pid never reported', async (t) => {
  const file = join(dir, 'duration.jsonl');
  const agent = startCli(['run', '--duration', '2', '--otlp-file', file]);
  await agent.waitForStderr('tracing every process');
  const kids = await Promise.all(Array.from({ length: 5 }, async () => {
    const c = spawn('/bin/true');
    await once(c, 'exit');
    return String(c.pid);
  }));
  const r = await agent.done;
  t.equal(r.code, 0);
  t.match(r.stderr, /local mode/);
  t.match(r.stderr, /duration 2s elapsed/);
  // Tracing starts before the TLS probes are attached, and the log says when.
  const at = (re: RegExp): number => r.stderr.search(re);
  t.ok(at(/sockets: syscall tracepoints attached/) >= 0, 'the tracepoints\' line');
  t.ok(at(/sockets: syscall tracepoints attached/) < at(/tls: probes attached/), 'before the TLS probes');
  t.ok(at(/sockets: syscall tracepoints attached/) < at(/collector started\s+collector=sockets/), 'before the collector counts as started');
  const records = logRecords(readFileSync(file, 'utf8'));
  const pids = new Set(records.map((x) => x.attrs['process.pid']));
  t.ok(kids.every((p) => pids.has(p)), 'every child spawned during the run is there');
  t.notOk(pids.has(String(agent.child.pid)), 'the agent itself is never traced');
});

t.test('without privileges the agent refuses clearly', async (t) => {
  const r = await runCli(['run', '--duration', '1'], { prefix: ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all'] });
  t.equal(r.code, 1);
  t.match(r.stderr, /cannot load BPF programs: uid 65534 without CAP_BPF\+CAP_PERFMON or CAP_SYS_ADMIN/);
  t.match(r.stderr, /LANTERN_ERR_PRIVILEGES/);
});

t.test('tracefs and bpffs are mounted when missing', async (t) => {
  // In a private mount namespace, so the rest of the machine keeps its mounts.
  const script = [
    'umount /sys/kernel/tracing 2>/dev/null; umount /sys/fs/bpf 2>/dev/null',
    'grep -cE " (tracefs|bpf) " /proc/mounts || true',
    `"${process.execPath}" "${lanternBin}" run --duration 1`,
    'grep -E " (tracefs|bpf) " /proc/mounts',
  ].join('\n');
  const child = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script]);
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const [code] = await once(child, 'exit');
  t.equal(code, 0, err);
  t.match(out, /^0$/m, 'neither was mounted at start');
  t.match(err, /mounted tracefs\s+at=\/sys\/kernel\/tracing/);
  t.match(err, /mounted bpffs\s+at=\/sys\/fs\/bpf/);
  t.match(out, / \/sys\/kernel\/tracing tracefs /);
  t.match(out, / \/sys\/fs\/bpf bpf /);
});

t.test('profiled by node --cpu-prof (SIGPROF every 100 µs): every BPF object still loads', async (t) => {
  // The verifier gives up a load at any signal to the loading thread (EAGAIN): a sampled agent
  // never got its collectors started before the addon held signals during loads.
  const profDir = mkdtempSync(join(dir, 'prof-'));
  const child = spawn(process.execPath, [`--cpu-prof`, `--cpu-prof-dir=${profDir}`, '--cpu-prof-interval=100', ...lanternNodeOptions, lanternBin,
    'run', '--collectors', 'sockets,process', '--port', '0', '--duration', '2'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const r = { stderr: '' };
  child.stderr.on('data', (d: Buffer) => (r.stderr += d.toString()));
  const [code] = await once(child, 'exit');
  t.equal(code, 0, r.stderr);
  t.notMatch(r.stderr, /failed to start/, 'no collector failed to start');
  for (const c of ['sockets', 'process']) t.match(r.stderr, new RegExp(`collector started\\s+collector=${c}`), `${c} started`);
  // CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile: thread 0 is the main thread.
  t.ok(readdirSync(profDir).some((f) => /^CPU\.\d+\.\d+\.\d+\.0\.\d+\.cpuprofile$/.test(f)), 'the main thread\'s profile was written');
});
