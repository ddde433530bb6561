// pprof encoding, the profile files, the local view and the exporter that ties them together;
// `go tool pprof` is the reader of record for what we write.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Profile } from 'pprof-format';
import t from 'tap';
import { encodePprof, encodePprofGzipSync, frameName } from '../../src/export/pprof.js';
import { ProfileExporter } from '../../src/export/pprof-exporter.js';
import { PprofFiles, fileSafe } from '../../src/export/pprof-files.js';
import { Logger } from '../../src/log.js';
import type { ProfileFrame, ProfileRecord } from '../../src/model/profile.js';
import { ProfileView } from '../../src/server/profile-view.js';

const GO = '/usr/local/go/bin/go';
const dir = mkdtempSync(join(tmpdir(), 'lantern-pprof-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const main: ProfileFrame = { function: 'main', module: '/usr/bin/app', address: 0x1100n, buildId: 'abc123' };
const outer: ProfileFrame = { function: 'outer', module: '/usr/bin/app', address: 0x1200n, buildId: 'abc123' };
const hot: ProfileFrame = { function: 'hot', module: '/usr/bin/app', address: 0x1300n, buildId: 'abc123' };
const libc: ProfileFrame = { module: '/usr/lib/x86_64-linux-gnu/libc.so.6', address: 0x29d90n };
const sys: ProfileFrame = { function: 'do_syscall_64', module: '[kernel]', address: 0xffffffff81a00010n, kernel: true };
const lost: ProfileFrame = { function: '[user stack lost]', module: '[lost]' };

function record(service: string, over: Partial<ProfileRecord> = {}): ProfileRecord {
  const hotStack = [hot, outer, main, libc];
  return {
    service,
    startTimeUnixNano: 1_700_000_000_000_000_000n,
    endTimeUnixNano: 1_700_000_010_000_000_000n,
    frequencyHz: 99,
    periodNanos: 10_101_010,
    samples: [
      { frames: hotStack, count: 90, labels: { pid: '10', thread_id: '10', thread_name: 'app', service_name: service } },
      { frames: hotStack, count: 5, labels: { pid: '10', thread_id: '11', thread_name: 'app-2', service_name: service, span_id: 'b7ad6b7169203331', trace_id: '0af7651916cd43dd8448eb211c80319c' } },
      { frames: [sys, outer, main], count: 4, labels: { pid: '10', thread_id: '10', thread_name: 'app', service_name: service } },
      { frames: [lost], count: 1, labels: { pid: '10', thread_id: '10', thread_name: 'app', service_name: service } },
    ],
    ...over,
  };
}

function str(p: Profile, i: unknown): string {
  return p.stringTable.strings[Number(i)] ?? '';
}

t.test('pprof: sample types, period, labels, stacks leaf first, mappings with addresses', async (t) => {
  const p = Profile.decode(encodePprof(record('checkout')));
  t.same(p.sampleType.map((v) => [str(p, v.type), str(p, v.unit)]), [['samples', 'count'], ['cpu', 'nanoseconds']]);
  t.same([str(p, p.periodType?.type), str(p, p.periodType?.unit), Number(p.period)], ['cpu', 'nanoseconds', 10_101_010]);
  t.equal(BigInt(p.timeNanos), 1_700_000_000_000_000_000n);
  t.equal(BigInt(p.durationNanos), 10_000_000_000n);
  t.equal(p.sample.length, 4);
  const fnName = (locId: unknown): string => {
    const loc = p.location.find((l) => Number(l.id) === Number(locId))!;
    return str(p, p.function.find((f) => Number(f.id) === Number(loc.line[0]!.functionId))!.name);
  };
  const s0 = p.sample[0]!;
  t.same(s0.locationId.map(fnName), ['hot', 'outer', 'main', '[libc.so.6]'], 'leaf first; an unnamed frame is named after its module');
  t.same(s0.value.map(Number), [90, 90 * 10_101_010], 'count and count × period');
  const labels = (i: number): Record<string, string> => Object.fromEntries(p.sample[i]!.label.map((l) => [str(p, l.key), str(p, l.str)]));
  t.same(labels(0), { pid: '10', thread_id: '10', thread_name: 'app', service_name: 'checkout' });
  t.equal(labels(1).span_id, 'b7ad6b7169203331');
  t.equal(labels(1).trace_id, '0af7651916cd43dd8448eb211c80319c');
  const libcLoc = p.location.find((l) => Number(l.id) === Number(s0.locationId[3]))!;
  t.equal(BigInt(libcLoc.address), 0x29d90n, 'unknown frame keeps its address');
  const m = p.mapping.find((x) => Number(x.id) === Number(libcLoc.mappingId))!;
  t.equal(str(p, m.filename), '/usr/lib/x86_64-linux-gnu/libc.so.6');
  t.ok(m.hasFunctions, 'symbolized on the host: pprof must not try again');
  t.ok(BigInt(m.memoryStart) <= 0x29d90n && BigInt(m.memoryLimit) > 0x29d90n, 'address inside its mapping');
  const app = p.mapping.find((x) => str(p, x.filename) === '/usr/bin/app')!;
  t.equal(str(p, app.buildId), 'abc123');
  t.equal(p.mapping.length, 3, 'app, libc, kernel; the lost marker has none');
  const lostLoc = p.location.find((l) => Number(l.id) === Number(p.sample[3]!.locationId[0]))!;
  t.equal(Number(lostLoc.mappingId), 0);
  t.equal(p.location.length, 6, 'locations shared between samples');
});

t.test('pprof: identical samples of several records merge; times span all of them', async (t) => {
  const a = record('a');
  const b = record('a', { startTimeUnixNano: a.endTimeUnixNano, endTimeUnixNano: a.endTimeUnixNano + 10_000_000_000n });
  const p = Profile.decode(encodePprof([a, b]));
  t.equal(p.sample.length, 4);
  t.same(p.sample[0]!.value.map(Number), [180, 180 * 10_101_010]);
  t.equal(BigInt(p.durationNanos), 20_000_000_000n);
  const empty = Profile.decode(encodePprof([]));
  t.equal(empty.sample.length, 0, 'an empty profile still encodes');
});

t.test('pprof: a profile with no record has the sample types of the kind asked for', async (t) => {
  const types = (b: Buffer): string[] => {
    const p = Profile.decode(gunzipSync(b));
    return p.sampleType.map((v) => p.stringTable.strings[Number(v.type)]!);
  };
  t.same(types(encodePprofGzipSync([])), ['samples', 'cpu'], 'CPU by default');
  t.same(types(encodePprofGzipSync([], 'off_cpu')), ['blocks', 'off_cpu'], 'an off-CPU file in which nothing blocked');
});

t.test('frame names: function, else [file name of the module], markers as they are', async (t) => {
  t.equal(frameName(hot), 'hot');
  t.equal(frameName(libc), '[libc.so.6]');
  t.equal(frameName({ module: '[unknown]' }), '[unknown]');
  t.equal(frameName({ module: '/tmp/perf-123.map' }), '[perf-123.map]');
});

t.test('go tool pprof reads what we write', { skip: !existsGo() && 'Go is not installed' }, async (t) => {
  const file = join(dir, 'checkout.pb.gz');
  writeFileSync(file, encodePprofGzipSync(record('checkout')));
  const top = execFileSync(GO, ['tool', 'pprof', '-top', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  t.match(top, /Type: cpu/);
  const first = top.split('\n').find((l) => /^\s+[\d.]+m?s\s/.test(l));
  t.match(first, /\bhot$/, 'hot is the top function');
  const traces = execFileSync(GO, ['tool', 'pprof', '-traces', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  t.match(traces, /span_id:\s+b7ad6b7169203331/, 'labels visible to pprof');
  t.match(traces, /hot\n\s+outer\n\s+main/, 'the stack, leaf first');
  const tags = execFileSync(GO, ['tool', 'pprof', '-tags', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  t.match(tags, /thread_name: Total/);
});

t.test('profile files: one .pb.gz per profile, newest kept per service, failures counted', async (t) => {
  const out = join(dir, 'files');
  const statuses: string[] = [];
  const files = new PprofFiles({ dir: out, maxFilesPerService: 2, onStatus: (ok, d) => statuses.push(`${ok} ${d}`) });
  const gz = encodePprofGzipSync(record('a'));
  for (let i = 0; i < 3; i++) await files.write('a/../b c', 1_700_000_000_000_000_000n + BigInt(i), gz);
  const names = readdirSync(out).sort();
  t.equal(names.length, 2, 'retention per service');
  t.ok(names.every((n) => /^a_.._b_c-20231114T221320Z-\d{4}\.pb\.gz$/.test(n)), names.join(' '));
  t.equal(Profile.decode(gunzipSync(readFileSync(join(out, names[0]!)))).sample.length, 4);
  t.match(files.stats(), { written: 3, deleted_old: 1, failed: 0 });
  const blocked = join(dir, 'a-file');
  writeFileSync(blocked, 'x');
  const bad = new PprofFiles({ dir: join(blocked, 'sub'), onStatus: (ok, d) => statuses.push(`${ok} ${d}`) });
  t.equal(await bad.write('a', 1n, gz), null);
  t.equal(await bad.write('a', 2n, gz), null);
  t.equal(bad.stats().failed, 2);
  t.equal(statuses.filter((s) => s.startsWith('false')).length, 1, 'reported once per outage');
  t.equal(fileSafe('..'), '_', 'never a hidden or parent name');
  t.equal(fileSafe(''), 'unknown');
});

t.test('local view: latest profile per service as JSON and as pprof', async (t) => {
  const view = new ProfileView(2);
  view.put(record('a'));
  view.put(record('b'));
  view.put(record('a'));
  view.put(record('c'));
  t.same(view.services().map((s) => s.service), ['a', 'c'], 'bounded, least recently updated dropped');
  const j = view.json('a')!;
  t.equal(j.samples, 100);
  t.same(j.functions[0], { function: 'hot', module: '/usr/bin/app', self: 95, total: 95 });
  t.same(j.functions.find((f) => f.function === 'main'), { function: 'main', module: '/usr/bin/app', self: 0, total: 99 });
  t.same(j.stacks[0], { frames: ['[libc.so.6]', 'main', 'outer', 'hot'], count: 95 }, 'root first, merged over threads and spans');
  t.equal(view.json('nope'), undefined);
  const gz = await view.pprof('a');
  t.equal(Profile.decode(gunzipSync(gz!)).sample.length, 4);
  const small = new ProfileView(100, 10);
  for (const s of ['a', 'b', 'c']) small.put(record(s));
  t.same(small.services().map((s) => s.service), ['b', 'c'], 'bounded by samples kept in all');
  small.put(record('c'));
  t.same(small.services().map((s) => s.service), ['b', 'c'], 'replacing a service\'s profile frees its old samples');
});

t.test('exporter: view, files; never throws on the record path', async (t) => {
  const out = join(dir, 'exported');
  const view = new ProfileView();
  const lines: string[] = [];
  const ex = new ProfileExporter({ outputDir: out, view, log: new Logger('info', false, { write: (l) => lines.push(l) }) });
  t.same(ex.describe(), { dir: out, view: '/api/profiles' });
  ex.put({ type: 'process', event: { kind: 'exec', pid: 1, ppid: 0, comm: 'x', filename: '/x', timeUnixNano: 0n } });
  ex.put({ type: 'profile', profile: record('checkout') });
  ex.put({ type: 'profile', profile: record('payments') });
  await ex.close();
  t.same(readdirSync(out).map((f) => f.split('-')[0]).sort(), ['checkout', 'payments']);
  t.same(view.services().map((s) => s.service), ['checkout', 'payments']);
  t.match(ex.stats(), { profiles_in: 2, samples_in: 200, files_written: 2, encode_failures: 0 });
});

function existsGo(): boolean {
  try {
    execFileSync(GO, ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** An off-CPU profile of `service`: 3 blocks in nanosleep (350 ms), 1 in read (50 ms). */
function offCpuRecord(service: string): ProfileRecord {
  const sleep: ProfileFrame = { function: 'do_nanosleep', module: '[kernel]', address: 0xffffffff81b00010n, kernel: true };
  const read: ProfileFrame = { function: 'pipe_read', module: '[kernel]', address: 0xffffffff81c00010n, kernel: true };
  const labels = { pid: '10', thread_id: '12', thread_name: 'worker', service_name: service };
  return {
    ...record(service),
    kind: 'off_cpu',
    periodNanos: 0,
    samples: [{ frames: [sleep, outer, main], count: 3, nanos: 350_000_000, labels }, { frames: [read, main], count: 1, nanos: 50_000_000, labels }],
  };
}

t.test('off-CPU pprof: blocks/count and off_cpu/nanoseconds, measured times; never mixed with CPU', async (t) => {
  const p = Profile.decode(encodePprof(offCpuRecord('checkout')));
  t.same(p.sampleType.map((v) => `${str(p, v.type)}/${str(p, v.unit)}`), ['blocks/count', 'off_cpu/nanoseconds']);
  t.equal(`${str(p, p.periodType!.type)}/${str(p, p.periodType!.unit)}`, 'off_cpu/nanoseconds');
  t.equal(str(p, p.defaultSampleType), 'off_cpu');
  t.same(p.sample.map((s) => s.value.map(Number)), [[3, 350_000_000], [1, 50_000_000]]);
  t.throws(() => encodePprof([record('checkout'), offCpuRecord('checkout')]), /one kind of profile/);
});

t.test('off-CPU: its own files and its own place in the local view', async (t) => {
  const out = join(dir, 'off-cpu');
  const view = new ProfileView();
  const ex = new ProfileExporter({ outputDir: out, view, log: new Logger('info', false, { write: () => undefined }) });
  ex.put({ type: 'profile', profile: record('checkout') });
  ex.put({ type: 'profile', profile: offCpuRecord('checkout') });
  await ex.close();
  t.same(readdirSync(out).map((f) => f.replace(/-\d{8}T\d{6}Z-\d{4}\.pb\.gz$/, '')).sort(), ['checkout', 'checkout-off_cpu']);
  t.same(view.services().map((s) => [s.service, s.type, s.samples, s.nanoseconds]), [['checkout', 'cpu', 100, undefined], ['checkout', 'off_cpu', 4, 400_000_000]]);
  t.equal(view.json('checkout')?.samples, 100, 'cpu by default');
  const off = view.json('checkout', {}, 'off_cpu')!;
  t.same(off.functions[0], { function: 'do_nanosleep', module: '[kernel]', self: 350_000_000, total: 350_000_000 }, 'weighed by time blocked');
  t.same(off.functions.find((f) => f.function === 'main'), { function: 'main', module: '/usr/bin/app', self: 0, total: 400_000_000 });
  const gz = await view.pprof('checkout', 'off_cpu');
  const p = Profile.decode(gunzipSync(gz!));
  t.equal(str(p, p.sampleType[1]!.type), 'off_cpu');
});
