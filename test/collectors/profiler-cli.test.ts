// The profiler from the command line, end to end: `lantern profile` to a .pb.gz that `go tool
// pprof` reads, and `lantern run --collectors profiler` writing files, pushing to a Pyroscope
// receiver and serving the local view.
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Profile } from 'pprof-format';
import t from 'tap';
import { runCli, startCli } from '../helpers/cli.js';
import { freePort } from '../helpers/procs.js';
import { fixtureBinary, hotBinary, startWorkload } from './profiler-helpers.js';

const GO = '/usr/local/go/bin/go';
const dir = mkdtempSync(join(tmpdir(), 'lantern-profile-cli-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const pprof = (...args: string[]): string => execFileSync(GO, ['tool', 'pprof', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

t.test('lantern profile --pid … --duration 3 --output x.pb.gz', async (t) => {
  const w = startWorkload(hotBinary(), ['6']);
  t.teardown(() => w.stop());
  await w.ready;
  const out = join(dir, 'x.pb.gz');
  const r = await runCli(['profile', '--pid', String(w.pid), '--duration', '3', '--output', out]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, `sampling pids ${w.pid} and their descendants at 99 Hz for 3 s`);
  t.match(r.stdout, new RegExp(`wrote ${out}: \\d+ samples from 1 process`));
  t.match(r.stdout, /\d+\s+[\d.]+%\s+hot\n/, 'top functions printed');
  const p = Profile.decode(gunzipSync(readFileSync(out)));
  const n = p.sample.reduce((a, s) => a + Number(s.value[0]), 0);
  t.ok(n >= 150, `~297 samples for 3 s at 99 Hz, got ${n}`);
  const top = pprof('-top', out);
  const first = top.split('\n').find((l) => /^\s+[\d.]+m?s\s/.test(l));
  t.match(first, /\bhot$/, `go tool pprof's top function:\n${top}`);
  t.match(pprof('-traces', out), /hot\n\s+outer\n\s+main/, 'the call chain');
  t.match(pprof('-tags', out), new RegExp(`pid: Total[^\\n]*\\n[^\\n]*${w.pid}`), 'labeled with the pid');
});

t.test('lantern profile --off-cpu: blocked time to FILE-off-cpu.pb.gz, which go tool pprof reads', async (t) => {
  // Up to 15 s of 100 ms sleeps and pipe reads, stopped at teardown: the 2 s window opens only once the
  // CLI has loaded its programs, which on a loaded machine took long enough for 4 s of work to be over.
  const w = startWorkload(fixtureBinary('blocker'), ['150', '100']);
  t.teardown(() => w.stop());
  await w.ready;
  const out = join(dir, 'y.pb.gz');
  const r = await runCli(['profile', '--pid', String(w.pid), '--duration', '2', '--off-cpu', '--min-block', '5', '--output', out]);
  t.equal(r.code, 0, r.stderr);
  t.equal(w.child.exitCode, null, 'the workload blocked through the whole window');
  const off = join(dir, 'y-off-cpu.pb.gz');
  t.match(r.stdout, new RegExp(`wrote ${off}: [\\d.]+ ms blocked in \\d+ blocks`));
  const p = Profile.decode(gunzipSync(readFileSync(off)));
  t.same(p.sampleType.map((v) => p.stringTable.strings[Number(v.type)]), ['blocks', 'off_cpu']);
  const top = pprof('-top', off);
  t.match(top, /Type: off_cpu/);
  t.match(top, /do_nanosleep|clock_nanosleep/, `blocked in nanosleep:\n${top}`);
  t.match(pprof('-traces', off), /sleep_here\n\s+sleeper/, 'under the thread function');
  const usage = await runCli(['profile', '--min-block', '5']);
  t.equal(usage.code, 2);
  t.match(usage.stderr, /--min-block: needs --off-cpu/);
});

t.test('lantern profile: bad options are usage errors', async (t) => {
  const r = await runCli(['profile', '--frequency', '0', '--duration', 'x', '--top', 'many']);
  t.equal(r.code, 2);
  t.match(r.stderr, /--duration: expected a positive number, got "x"/);
  t.match(r.stderr, /--frequency: expected a whole number from 1 to 10000/);
  t.match(r.stderr, /--top/);
  const pid = await runCli(['profile', '--pid', 'abc']);
  t.equal(pid.code, 2);
  t.match(pid.stderr, /--pid: expected a whole number/);
  const gone = await runCli(['profile', '--pid', '4194000']);
  t.equal(gone.code, 2);
  t.match(gone.stderr, /--pid: no process 4194000 is running/);
});

t.test('lantern run --collectors profiler: files, Pyroscope, local view', async (t) => {
  const got: Array<{ url: string; auth?: string; body: Buffer }> = [];
  const pyro = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ url: req.url ?? '', auth: req.headers.authorization, body: Buffer.concat(chunks) });
      res.end();
    });
  });
  pyro.listen(0, '127.0.0.1');
  await once(pyro, 'listening');
  t.teardown(() => new Promise<void>((r) => pyro.close(() => r())));
  const profDir = join(dir, 'run-profiles');
  const port = await freePort();
  const token = 'profiler-test-token-0123456789';
  const cfg = join(dir, 'lantern.yaml');
  writeFileSync(cfg, [
    'profiler:',
    '  interval: 1',
    `  output_dir: ${profDir}`,
    '  pyroscope:',
    `    url: http://127.0.0.1:${(pyro.address() as { port: number }).port}`,
    '    bearer_token: pyro-token',
    'server:',
    `  port: ${port}`,
    `  token: ${token}`,
  ].join('\n'));
  const w = startWorkload(hotBinary(), ['20'], { OTEL_SERVICE_NAME: 'hot-service' });
  t.teardown(() => w.stop());
  await w.ready;
  const agent = startCli(['run', '--collectors', 'profiler', '--pid', String(w.pid), '--config', cfg, '--duration', '6']);
  await agent.waitForStderr('tracing pids');
  // The control API starts after the collectors, and listens once it says so.
  await agent.waitForStderr('local view and control API');
  // The local view, once a profile is in.
  const api = async (path: string): Promise<Response> => fetch(`http://127.0.0.1:${port}${path}`, { headers: { authorization: `Bearer ${token}` } });
  let listed: { profiles: Array<{ service: string; samples: number }> } = { profiles: [] };
  for (let i = 0; i < 50 && listed.profiles.length === 0; i++) {
    await new Promise((r) => setTimeout(r, 200));
    listed = (await (await api('/api/profiles')).json()) as typeof listed;
  }
  t.same(listed.profiles.map((p) => p.service), ['hot-service'], 'service.name from the process\'s OTEL_SERVICE_NAME');
  const j = (await (await api('/api/profiles/hot-service')).json()) as { functions: Array<{ function: string; self: number }>; stacks: Array<{ frames: string[] }> };
  t.equal(j.functions[0]?.function, 'hot');
  t.same(j.stacks[0]?.frames.slice(-3), ['main', 'outer', 'hot'], 'folded stack, root first');
  const dl = await api('/api/profiles/hot-service/pprof');
  t.equal(dl.headers.get('content-disposition'), 'attachment; filename="hot-service.pb.gz"');
  t.ok(Profile.decode(gunzipSync(Buffer.from(await dl.arrayBuffer()))).sample.length > 0);
  t.equal((await api('/api/profiles/nope')).status, 404);
  t.equal((await fetch(`http://127.0.0.1:${port}/api/profiles`)).status, 401, 'the token is required');

  const r = await agent.done;
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /CPU profiles\s+dir=/);
  const files = readdirSync(profDir);
  t.ok(files.length >= 3, `one file per interval: ${files.join(' ')}`);
  t.ok(files.every((f) => /^hot-service-\d{8}T\d{6}Z-\d{4}\.pb\.gz$/.test(f)));
  for (const f of files) t.match(pprof('-top', join(profDir, f)), /Type: cpu/, `go tool pprof reads ${f}`);
  t.ok(got.length >= 3, `pushed every interval (${got.length})`);
  t.ok(got.every((g) => g.auth === 'Bearer pyro-token'));
  t.ok(got.every((g) => new URL(g.url, 'http://x').searchParams.get('name') === 'hot-service.cpu{service_name=hot-service}'));
  t.ok(got.every((g) => Profile.decode(gunzipSync(g.body)).sample.length >= 0));
  const summary = /stopped\s+summary=(.*)$/m.exec(r.stderr)?.[1];
  const s = JSON.parse(summary ?? '{}') as { collectors: { profiler: Record<string, number> }; export: Record<string, number> };
  t.ok(s.collectors.profiler.kernel_samples! > 0, 'profiler self-metrics in the summary');
  t.equal(s.export.profiles_files_failed, 0);
  t.ok(s.export.profiles_pyroscope_pushed! >= 3);
});
