// Process identity stays true: /proc/<pid>/stat identities, the pid cache's checks (exec, exit, pid
// reuse, with and without the process collector's events), and ProcessMetadata over a fake /proc.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { PidCache } from '../../src/metadata/pid-cache.js';
import { IdentityReader, ProcessAge, type ProcessIdentity, identityFromStat, sameProgram } from '../../src/metadata/process-identity.js';
import { ProcessMetadata } from '../../src/metadata/process-metadata.js';
import type { ProcessEvent } from '../../src/model/process.js';

/** A /proc/<pid>/stat line (proc(5) fields 1–52) with the fields identities use. */
function statLine(pid: number, comm: string, start: number, image: [number, number, number] = [94_000_000_000_000 + start, 94_000_000_100_000 + start, 140_700_000_000_000 + start]): string {
  const f = Array.from({ length: 52 }, () => '0');
  f[0] = String(pid);
  f[1] = `(${comm})`;
  f[2] = 'S';
  f[21] = String(start);
  [f[25], f[26], f[27]] = image.map(String) as [string, string, string];
  return `${f.join(' ')}\n`;
}

t.test('identities from /proc/<pid>/stat', async (t) => {
  const self = identityFromStat(readFileSync('/proc/self/stat', 'utf8'));
  t.ok(self !== null && /^\d+$/.test(self.start) && self.image !== null, 'this process: start time and image');
  t.equal(new IdentityReader().read(process.pid)?.start, self?.start);
  t.equal(new IdentityReader().read(4_194_000), null, 'no such process');
  const odd = identityFromStat(statLine(7, 'we ird) (name', 123));
  t.equal(odd?.comm, 'we ird) (name', 'comm with spaces and parentheses');
  t.equal(odd?.start, '123');
  t.equal(identityFromStat(statLine(7, 'zombie', 5, [0, 0, 0]))?.image, null, 'a zombie has no image');
  t.equal(identityFromStat(statLine(7, 'other', 5, [1, 1, 0]))?.image, null, 'not ours to see (no ptrace access)');
  t.equal(identityFromStat('garbage'), null);
  t.equal(identityFromStat('1 (x) S 1 2'), null, 'cut short');
  const a: ProcessIdentity = { start: '5', image: '1:2:3', comm: 'a' };
  t.ok(sameProgram(a, { ...a, comm: 'renamed' }), 'a rename is not a new program');
  t.notOk(sameProgram(a, { ...a, image: '4:5:6' }), 'exec: a new image');
  t.notOk(sameProgram(a, { ...a, start: '6' }), 'pid reuse: a new start time');
  t.ok(sameProgram(a, { ...a, image: null }), 'an unknown image says nothing');
});

/** A fake process table and clock for PidCache, counting what the cache asks. */
function fakeHost(opts: { ageMs?: (id: ProcessIdentity) => number | null } = {}) {
  const procs = new Map<number, ProcessIdentity>();
  const counts = { identity: 0, exists: 0, load: 0 };
  let now = 1_000;
  let loads = 0;
  const cache = new PidCache<string>({
    identity: (pid) => {
      counts.identity++;
      return procs.get(pid) ?? null;
    },
    exists: (pid) => {
      counts.exists++;
      return procs.has(pid);
    },
    load: (pid, id, comm) => {
      counts.load++;
      loads++;
      return id === null ? `gone:${comm ?? '?'}#${loads}` : `${id.comm}@${id.start}#${loads}`;
    },
  }, { revalidateMs: 1000, now: () => now, maxEntries: 3, ...opts });
  return { procs, counts, cache, advance: (ms: number) => (now += ms) };
}

const run = (comm: string, start: number, image = `${start}:1:1`): ProcessIdentity => ({ comm, start: String(start), image });

t.test('pid cache: the hot path reads nothing', async (t) => {
  const h = fakeHost();
  h.procs.set(10, run('nginx', 100));
  const v = h.cache.get(10);
  t.same(h.counts, { identity: 2, exists: 0, load: 1 }, 'a miss: identity, load, identity again (an exec while reading)');
  let same = 0;
  for (let i = 0; i < 1000; i++) if (h.cache.get(10, i % 2 === 0 ? 'nginx' : undefined) === v) same++;
  t.equal(same, 1000);
  t.same(h.counts, { identity: 2, exists: 0, load: 1 }, '1000 lookups within the interval: no /proc read');
  h.advance(1000);
  t.equal(h.cache.get(10), v);
  t.same(h.counts, { identity: 3, exists: 0, load: 1 }, 'after the interval: one stat read, same program, kept');
  t.match(h.cache.stats(), { cached: 1, validations: 1, reloads: 0 });
});

t.test('pid cache: a reused pid never inherits, with or without exit events', async (t) => {
  await t.test('exit event: the next lookup checks', async (t) => {
    const h = fakeHost();
    h.procs.set(10, run('worker', 100));
    const a = h.cache.get(10);
    h.cache.noteExit(10);
    h.procs.delete(10);
    t.equal(h.cache.get(10), a, 'late records of the dead process keep its identity');
    t.equal(h.counts.identity, 2, 'while its pid is free, a directory check only');
    t.ok(h.counts.exists >= 1);
    h.procs.set(10, run('worker', 250)); // the same program started again, same pid, within the interval
    const b = h.cache.get(10);
    t.not(b, a, 'the new process gets its own');
    t.match(b, /^worker@250#/);
  });
  await t.test('no events: the comm of the next event, else the interval', async (t) => {
    const h = fakeHost();
    h.procs.set(10, run('old', 100));
    const a = h.cache.get(10, 'old');
    h.procs.set(10, run('new', 300));
    t.match(h.cache.get(10, 'new'), /^new@300#/, 'an event with another comm checks at once');
    h.procs.set(10, run('new', 400)); // same name, new process
    t.match(h.cache.get(10), /^new@300#/, 'within the interval the cached run is used (no event says otherwise)');
    h.advance(1000);
    t.match(h.cache.get(10), /^new@400#/, 'after the interval the check finds the new process');
    t.not(a, h.cache.get(10));
  });
  await t.test('no events, a young process: checked again after a tenth of its age', async (t) => {
    let clock = 0; // ms since boot; start times are ticks of 10 ms
    const h = fakeHost({ ageMs: (id) => clock - Number(id.start) * 10 });
    clock = 1300;
    h.procs.set(10, run('perl', 100)); // 300 ms old: trusted for 30 ms
    const a = h.cache.get(10);
    h.procs.set(10, run('perl', 125)); // gone, and the pid taken by a fork of the same program
    h.advance(20);
    t.equal(h.cache.get(10), a, 'within a tenth of its age: no check');
    h.advance(15);
    clock += 35;
    t.match(h.cache.get(10), /^perl@125#/, 'after it: the check finds the new process');
    clock = 3_600_000;
    h.advance(900);
    h.cache.get(10);
    const checks = h.counts.identity;
    h.advance(999);
    h.cache.get(10);
    t.equal(h.counts.identity, checks, 'an hour-old process: the interval, no more');
    const unknown = fakeHost({ ageMs: () => null });
    unknown.procs.set(10, run('perl', 100));
    const b = unknown.cache.get(10);
    unknown.procs.set(10, run('perl', 125));
    unknown.advance(999);
    t.equal(unknown.cache.get(10), b, 'age unknown: the interval');
  });
  await t.test('a process gone without an event becomes "exited" on its first failed check', async (t) => {
    const h = fakeHost();
    h.procs.set(10, run('a', 100));
    const a = h.cache.get(10);
    h.procs.delete(10);
    h.advance(1000);
    t.equal(h.cache.get(10), a);
    h.procs.set(10, run('a', 200));
    t.match(h.cache.get(10), /^a@200#/, 'from then on every lookup checks: no interval to wait out');
  });
});

t.test('pid cache: exec', async (t) => {
  const h = fakeHost();
  h.procs.set(10, run('sh', 100, 'sh-image'));
  t.match(h.cache.get(10), /^sh@100/);
  h.procs.set(10, run('curl', 100, 'curl-image')); // exec: same process, new image and comm
  h.cache.noteExec(10);
  const c = h.cache.get(10);
  t.match(c, /^curl@100/, 'after the exec event, the new program');
  h.cache.noteExec(10); // the process collector's event arrives after the socket tracer's
  t.equal(h.cache.get(10), c, 'an entry read after the exec is not read again');
  t.equal(h.cache.stats().reloads, 1);
  h.procs.set(10, run('python3', 100, 'py-image'));
  h.advance(1000);
  t.match(h.cache.get(10), /^python3@100/, 'without an event: the image changed at the next check');
  h.procs.set(10, { comm: 'python3', start: '100', image: null });
  h.cache.noteExec(10);
  t.match(h.cache.get(10), /^python3@100#/, 'image unknown after an exec event: read again to be sure');
  t.equal(h.cache.stats().reloads, 3);
  // exec'd and already gone: an event naming another program is that program's
  h.cache.noteExec(10);
  h.procs.delete(10);
  t.match(h.cache.get(10, 'curl'), /^gone:curl#/);
});

t.test('pid cache: thread names prompt a bounded number of checks', async (t) => {
  const h = fakeHost();
  h.procs.set(10, run('java', 100));
  h.cache.get(10);
  for (let i = 0; i < 500; i++) h.cache.get(10, `worker-${i % 100}`);
  t.ok(h.counts.identity <= 2 + 32, `${h.counts.identity} stat reads for 100 thread names`);
  t.equal(h.cache.stats().reloads, 0);
});

t.test('pid cache: bounded', async (t) => {
  const h = fakeHost();
  for (const pid of [1, 2, 3, 4]) h.procs.set(pid, run(`p${pid}`, pid));
  for (const pid of [1, 2, 3, 4]) h.cache.get(pid);
  t.equal(h.cache.stats().cached, 3);
  t.notOk(h.cache.has(1), 'the oldest went');
});

t.test('pid cache: evicts in the order pids were first loaded, a pid read again in its place, through churn', async (t) => {
  const h = fakeHost();
  for (const pid of [1, 2, 3]) h.procs.set(pid, run(`p${pid}`, pid));
  for (const pid of [1, 2, 3]) h.cache.get(pid);
  h.procs.set(1, run('p1-again', 11)); // pid 1 now another process
  h.advance(2000);
  t.match(h.cache.get(1), /^p1-again@11/, 'read again');
  t.equal(h.cache.stats().reloads, 1);
  h.procs.set(4, run('p4', 4));
  h.cache.get(4);
  t.notOk(h.cache.has(1), 'pid 1 went first: read again, it kept its place');
  t.ok(h.cache.has(2) && h.cache.has(3) && h.cache.has(4));
  for (let pid = 100; pid < 10_100; pid++) {
    h.procs.set(pid, run(`p${pid}`, pid));
    h.cache.get(pid);
    h.procs.delete(pid);
  }
  t.equal(h.cache.stats().cached, 3, 'still three after 10,000 more');
  t.ok(h.cache.has(10_097) && h.cache.has(10_098) && h.cache.has(10_099), 'the last three');
});

/** A fake /proc: one directory per pid with the files ProcessMetadata reads. */
function fakeProc(t: Test) {
  const root = mkdtempSync(join(tmpdir(), 'lantern-proc-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  return {
    root,
    write(pid: number, p: { comm: string; start: number; exe: string; argv: string[]; env?: string[]; cgroup?: string; image?: [number, number, number] }): void {
      const dir = join(root, String(pid));
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir);
      writeFileSync(join(dir, 'stat'), statLine(pid, p.comm, p.start, p.image));
      writeFileSync(join(dir, 'comm'), `${p.comm}\n`);
      writeFileSync(join(dir, 'cmdline'), p.argv.map((a) => `${a}\0`).join(''));
      writeFileSync(join(dir, 'environ'), (p.env ?? []).map((a) => `${a}\0`).join(''));
      writeFileSync(join(dir, 'cgroup'), p.cgroup ?? '0::/user.slice/user-0.slice/session-1.scope\n');
      symlinkSync(p.exe, join(dir, 'exe'));
    },
    remove(pid: number): void {
      rmSync(join(root, String(pid)), { recursive: true, force: true });
    },
  };
}

const exec = (pid: number, comm: string): ProcessEvent => ({ kind: 'exec', pid, ppid: 1, comm, filename: `/usr/bin/${comm}`, timeUnixNano: 0n });
const exit = (pid: number, comm: string): ProcessEvent => ({ kind: 'exit', pid, ppid: 1, comm, status: 0, timeUnixNano: 0n });

t.test('ProcessMetadata: names, container, and identity over a fake /proc', async (t) => {
  const proc = fakeProc(t);
  let now = 0;
  const md = new ProcessMetadata({ base: { 'host.name': 'h' }, procRoot: proc.root, now: () => now });
  const ID = 'e'.repeat(64);
  proc.write(100, {
    comm: 'redis-server', start: 5000, exe: '/usr/bin/redis-check-rdb', argv: ['/usr/bin/redis-server 127.0.0.1:6379', '', ''],
    cgroup: `0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0a1b2c3d_0000_4000_8000_00000000abcd.slice/cri-containerd-${ID}.scope\n`,
  });
  const redis = md.resource(100);
  t.match(redis.attributes, {
    'service.name': 'redis-server', 'process.executable.name': 'redis-check-rdb', 'process.executable.path': '/usr/bin/redis-check-rdb',
    'process.command': '/usr/bin/redis-server 127.0.0.1:6379', 'container.id': ID, 'container.runtime.name': 'containerd',
    'k8s.pod.uid': '0a1b2c3d-0000-4000-8000-00000000abcd', 'host.name': 'h', 'process.pid': 100,
  }, 'Debian\'s redis-server: named as started, the executable as mapped');
  t.match(redis.key, /^100:5000:[0-9a-f]{12}$/);

  await t.test('pid reuse after an exit event', async (t) => {
    md.eventResource(exit(100, 'redis-server'));
    t.equal(md.resource(100), redis, 'late exchanges of the dead process: its own resource');
    proc.remove(100);
    t.equal(md.resource(100), redis, 'still, while nothing holds the pid');
    proc.write(100, { comm: 'python3', start: 9000, exe: '/usr/bin/python3.11', argv: ['python3', '-m', 'http.server'] });
    const py = md.resource(100);
    t.match(py.attributes, { 'service.name': 'python3', 'process.executable.name': 'python3.11', 'process.command_args': ['python3', '-m', 'http.server'] });
    t.notMatch(py.attributes, { 'container.id': String }, 'nothing of the dead process: not its container');
    t.not(py.key, redis.key);
  });

  await t.test('pid reuse without any event', async (t) => {
    const before = md.resource(100);
    proc.remove(100);
    proc.write(100, { comm: 'python3', start: 9500, exe: '/usr/bin/python3.11', argv: ['python3', 'other.py'], env: ['OTEL_SERVICE_NAME=billing'] });
    now += 1000;
    const after = md.resource(100);
    t.equal(after.attributes['service.name'], 'billing', 'found at the next check');
    t.not(after.key, before.key);
  });

  await t.test('exec: the new program, a new key', async (t) => {
    proc.write(200, { comm: 'sh', start: 7000, exe: '/usr/bin/dash', argv: ['sh', '-c', 'exec curl http://x/'], image: [1000, 2000, 3000] });
    const sh = md.resource(200, 'sh');
    t.equal(sh.attributes['service.name'], 'sh');
    proc.write(200, { comm: 'curl', start: 7000, exe: '/usr/bin/curl', argv: ['curl', 'http://x/'], image: [5000, 6000, 7000] });
    const ev = md.eventResource(exec(200, 'curl'));
    t.equal(ev.attributes['service.name'], 'curl', 'the exec event itself carries the new program');
    const curl = md.resource(200);
    t.equal(curl, ev);
    t.not(curl.key, sh.key, 'histograms and exporters keep the two programs apart');
    t.match(curl.key, /^200:7000:/, 'the same process');
  });

  await t.test('exec seen by the socket tracer only (forget), or by a new comm', async (t) => {
    proc.write(300, { comm: 'bash', start: 8000, exe: '/usr/bin/bash', argv: ['bash'], image: [1, 2, 3].map((x) => x * 1000) as [number, number, number] });
    t.equal(md.resource(300, 'bash').attributes['service.name'], 'bash');
    proc.write(300, { comm: 'curl', start: 8000, exe: '/usr/bin/curl', argv: ['curl'], image: [4, 5, 6].map((x) => x * 1000) as [number, number, number] });
    t.equal(md.resource(300, 'curl').attributes['service.name'], 'curl', 'a socket event with the new comm');
    proc.write(300, { comm: 'wget', start: 8000, exe: '/usr/bin/wget', argv: ['wget'], image: [7, 8, 9].map((x) => x * 1000) as [number, number, number] });
    md.forget(300);
    t.equal(md.resource(300).attributes['service.name'], 'wget', 'forget(): the profiler\'s and socket tracer\'s exec notice');
  });

  await t.test('process events for processes never seen read nothing', async (t) => {
    const r = md.eventResource(exec(999, 'ls'));
    t.same(r, { key: 'event:999:ls', attributes: { 'host.name': 'h', 'service.name': 'ls', 'process.pid': 999 } });
    t.equal(md.stats().cached, 3);
  });
});

t.test('ProcessAge: this process\'s age from /proc/uptime and its start time; unknown where uptime is not the host\'s', async (t) => {
  const own = new IdentityReader().read(process.pid)!;
  const age = new ProcessAge().of(own);
  const lived = performance.now(); // ms since this process started (node's time origin)
  t.ok(age !== null && Math.abs(age - lived) < 1000, `${age} ms, node says ${Math.round(lived)} ms`);
  const dir = mkdtempSync(join(tmpdir(), 'lantern-age-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, String(process.pid)));
  writeFileSync(join(dir, String(process.pid), 'stat'), readFileSync(`/proc/${process.pid}/stat`));
  writeFileSync(join(dir, 'uptime'), '5.00 1.00\n'); // a container's own uptime (lxcfs)
  t.equal(new ProcessAge(dir).of(own), null);
});
