// The profiler collector through the real kernel and the host symbolizer, on real programs: a C
// program with frame pointers (compared with `perf record -g`), Go, Node with --perf-basic-prof, a
// syscall-heavy loop, a process that exits mid-interval, span tags through the thread_tags map,
// and a stack map far too small. Scoped to this test's children; the test process itself (the
// "agent") is never sampled.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { BpfObject, codec } from 'libbpf-ts';
import { bpfObjectPath } from '../../src/collectors/bpf-object.js';
import type { SpanTagResolver } from '../../src/collectors/profiler/span-tags.js';
import type { ProfileRecord, ProfileSample } from '../../src/model/profile.js';
import { buildGoFixture } from '../helpers/go-build.js';
import { fixtureDir, hotBinary, startProfiler, startWorkload } from './profiler-helpers.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function samplesOf(profiles: readonly ProfileRecord[], pid: number): ProfileSample[] {
  return profiles.flatMap((p) => p.samples.filter((s) => s.labels.pid === String(pid)));
}

function fnNames(s: ProfileSample): string[] {
  return s.frames.map((f) => f.function ?? `[${f.module}]`);
}

/** Leaf function → samples, most first. */
function leaves(samples: readonly ProfileSample[]): Array<[string, number]> {
  const m = new Map<string, number>();
  for (const s of samples) {
    const n = fnNames(s)[0] ?? '[none]';
    m.set(n, (m.get(n) ?? 0) + s.count);
  }
  return [...m.entries()].sort((a, b) => b[1] - a[1]);
}

const total = (samples: readonly ProfileSample[]): number => samples.reduce((n, s) => n + s.count, 0);

t.test('C with frame pointers: hot on top, under outer under main; perf agrees', async (t) => {
  const bin = hotBinary();
  const run = await startProfiler();
  t.teardown(() => run.stop());
  const w = startWorkload(bin, ['4']);
  t.teardown(() => w.stop());
  await w.ready;
  const dir = mkdtempSync(join(tmpdir(), 'lantern-perf-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // perf samples the same window at the same rate.
  execFileSync('perf', ['record', '-q', '-F', '99', '-g', '-p', String(w.pid), '-o', join(dir, 'perf.data'), '--', 'sleep', '2'], { stdio: 'ignore' });
  const profiles = await run.collector.flush();
  const mine = samplesOf(profiles, w.pid);
  const n = total(mine);
  t.ok(n >= 100, `~198 samples expected for 2 s of one busy CPU at 99 Hz, got ${n}`);
  const top = leaves(mine);
  t.equal(top[0]?.[0], 'hot', `top function: ${JSON.stringify(top.slice(0, 3))}`);
  const hotStacks = mine.filter((s) => fnNames(s)[0] === 'hot');
  const chain = fnNames(hotStacks[0]!);
  t.same(chain.slice(0, 3), ['hot', 'outer', 'main'], `stack: ${chain.join(' ← ')}`);
  t.ok(hotStacks.every((s) => fnNames(s).join(' ').startsWith('hot outer main')), 'every hot sample has the full chain');
  t.ok(profiles.every((p) => p.samples.every((s) => s.labels.pid !== String(process.pid))), 'the agent itself is never sampled');
  // A sample in hot (not the first of the pid: the child may be caught as node before its exec).
  t.equal(profiles.find((p) => p.samples.includes(hotStacks[0]!))?.service, 'hot', 'service from the executable');
  t.same([hotStacks[0]!.labels.thread_name, hotStacks[0]!.labels.thread_id], ['hot', String(w.pid)]);

  const report = execFileSync('perf', ['report', '-i', join(dir, 'perf.data'), '--stdio', '--no-children', '--sort', 'sym', '-q', '-g', 'none'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const perfHot = Number(/([\d.]+)%\s+\[\.\]\s+hot\b/.exec(report)?.[1] ?? NaN);
  const ourHot = (100 * (top[0]?.[1] ?? 0)) / n;
  t.ok(Math.abs(perfHot - ourHot) < 15, `share of hot: perf ${perfHot.toFixed(1)}%, lantern ${ourHot.toFixed(1)}%`);
});

t.test('Go: main.hotGo under main.outerGo under main.main', async (t) => {
  const bin = buildGoFixture('profiler-go');
  const run = await startProfiler();
  t.teardown(() => run.stop());
  const w = startWorkload(bin, ['3']);
  t.teardown(() => w.stop());
  await w.ready;
  await sleep(2000);
  const mine = samplesOf(await run.collector.flush(), w.pid);
  const top = leaves(mine);
  t.equal(top[0]?.[0], 'main.hotGo', `top function: ${JSON.stringify(top.slice(0, 3))}`);
  const chain = fnNames(mine.find((s) => fnNames(s)[0] === 'main.hotGo')!);
  t.same(chain.slice(0, 3), ['main.hotGo', 'main.outerGo', 'main.main'], chain.join(' ← '));
});

t.test('Node with --perf-basic-prof: the hot JS function is named', async (t) => {
  const run = await startProfiler();
  t.teardown(() => run.stop());
  const w = startWorkload(process.execPath, ['--perf-basic-prof', join(fixtureDir, 'hot.mjs'), '4']);
  t.teardown(() => w.stop());
  await w.ready;
  await sleep(2500); // past the warm-up: optimized code is in the perf map
  const mine = samplesOf(await run.collector.flush(), w.pid);
  const top = leaves(mine);
  t.match(top[0]?.[0], /hotJs/, `top function: ${JSON.stringify(top.slice(0, 3))}`);
  t.ok(total(mine) >= 100, `${total(mine)} samples`);
});

t.test('Java: JIT-compiled methods named from the perf map the JVM writes on request (jcmd Compiler.perfmap)', async (t) => {
  const classes = mkdtempSync(join(tmpdir(), 'lantern-java-'));
  t.teardown(() => rmSync(classes, { recursive: true, force: true }));
  execFileSync('javac', ['-d', classes, join(fixtureDir, 'Hot.java')]);
  const run = await startProfiler();
  t.teardown(() => run.stop());
  // Frame pointers in compiled code, so the walk goes on past the JIT frames (the JVM omits them by default).
  const w = startWorkload('java', ['-XX:+PreserveFramePointer', '-cp', classes, 'Hot', '9']);
  t.teardown(() => w.stop());
  await w.ready;
  await sleep(2000); // past the warm-up: hotJava is compiled
  // The JVM writes /tmp/perf-<pid>.map only when asked (JDK 17+); perf-map-agent did the same before.
  execFileSync('jcmd', [String(w.pid), 'Compiler.perfmap'], { stdio: 'ignore' });
  await run.collector.flush(); // samples from before the map existed
  await sleep(3000);
  const mine = samplesOf(await run.collector.flush(), w.pid);
  const top = leaves(mine);
  t.match(top[0]?.[0], /Hot\.hotJava/, `top function: ${JSON.stringify(top.slice(0, 3))}`);
  t.ok(total(mine) >= 100, `${total(mine)} samples`);
});

t.test('a syscall loop: kernel frames on top of the user stack', async (t) => {
  const bin = hotBinary();
  const run = await startProfiler();
  t.teardown(() => run.stop());
  const w = startWorkload(bin, ['3', 'kernel']);
  t.teardown(() => w.stop());
  await w.ready;
  await sleep(2000);
  const mine = samplesOf(await run.collector.flush(), w.pid);
  const inKernel = mine.filter((s) => s.frames[0]?.kernel === true);
  t.ok(total(inKernel) > total(mine) / 3, `most time in the kernel: ${total(inKernel)} of ${total(mine)}`);
  const kernelNames = new Set(inKernel.flatMap((s) => s.frames.filter((f) => f.kernel === true).map((f) => f.function ?? '')));
  t.ok([...kernelNames].some((n) => /sys_|entry_SYSCALL|do_syscall/.test(n)), `syscall entry frames: ${[...kernelNames].slice(0, 8).join(', ')}`);
  // Under the kernel frames, the user stack: libc's syscall wrapper (write, syscall), then main.
  // (libc is built without frame pointers, so the wrapper's caller, kernel_loop, is skipped.)
  const s = inKernel.find((x) => /^(write|syscall|__GI___libc_write|__write)/.test(fnNames(x)[x.frames.findIndex((f) => f.kernel !== true)] ?? ''));
  t.ok(s, 'a libc syscall wrapper right under the kernel frames');
  if (s !== undefined) {
    const names = fnNames(s);
    const firstUser = s.frames.findIndex((f) => f.kernel !== true);
    t.ok(firstUser > 0 && names.indexOf('main') > firstUser, `kernel above user: ${names.join(' ← ')}`);
    t.ok(s.frames.slice(firstUser).every((f) => f.kernel !== true), 'no kernel frame below a user frame');
  }
});

t.test('a process that exits mid-interval is still symbolized, then forgotten', async (t) => {
  const bin = hotBinary();
  const run = await startProfiler();
  t.teardown(() => run.stop());
  const w = startWorkload(bin, ['1']);
  await w.exited;
  await sleep(300); // the exit notice arrives; the interval (60 s) is far from over
  const first = await run.collector.flush();
  const mine = samplesOf(first, w.pid);
  t.ok(total(mine) >= 30, `${total(mine)} samples of the exited process`);
  t.equal(leaves(mine)[0]?.[0], 'hot', 'symbolized from the mappings read at its first sample');
  t.ok(fnNames(mine.find((s) => fnNames(s)[0] === 'hot')!).includes('main'));
  const forgotten = run.collector.stats().pids_forgotten ?? 0;
  await run.collector.flush();
  t.ok((run.collector.stats().pids_forgotten ?? 0) >= Math.max(1, forgotten), 'released once its samples were drained');
});

t.test('a process that execs is noted again with its new image', async (t) => {
  const bin = hotBinary();
  const run = await startProfiler();
  t.teardown(() => run.stop());
  // The shell burns CPU first (so it is sampled and announced), then becomes the C program.
  const w = startWorkload('/bin/sh', ['-c', `i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; exec ${bin} 2`]);
  t.teardown(() => w.stop());
  await w.ready;
  await run.collector.flush(); // the shell's samples
  await sleep(1500);
  const profiles = await run.collector.flush();
  const mine = samplesOf(profiles, w.pid);
  t.equal(leaves(mine)[0]?.[0], 'hot', `after exec: ${JSON.stringify(leaves(mine).slice(0, 3))}`);
  t.equal(profiles.find((p) => p.samples.includes(mine[0]!))?.service, 'hot', 'the service is read again after exec');
  t.ok((run.collector.stats().pids_noted ?? 0) >= 2, 'announced before and after the exec');
});

t.test('span tags: a tagged thread\'s samples carry the resolved span; another object fills the map by fd reuse', async (t) => {
  const bin = hotBinary();
  const asked: Array<[number, bigint]> = [];
  const resolver: SpanTagResolver = {
    resolve(pid, tag) {
      asked.push([pid, tag]);
      return tag === 0xabcn ? { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7' } : undefined;
    },
  };
  const run = await startProfiler({ spanTags: resolver });
  t.teardown(() => run.stop());
  const tags = run.collector.threadTagsMap();
  t.ok(tags, 'the map is there once started');
  // A second object (as the socket tracer will) shares the profiler's map before its load.
  const other = BpfObject.open(bpfObjectPath('profiler')).reuseMap('thread_tags', tags!);
  t.teardown(() => other.close());
  other.load();
  const w = startWorkload(bin, ['4']);
  t.teardown(() => w.stop());
  await w.ready;
  other.map('thread_tags', codec.u32, codec.u64).set(w.pid, 0xabcn);
  await run.collector.flush(); // what was sampled before the tag
  await sleep(1500);
  const tagged = samplesOf(await run.collector.flush(), w.pid);
  t.ok(total(tagged) > 50, `${total(tagged)} samples`);
  t.ok(tagged.every((s) => s.labels.span_id === '00f067aa0ba902b7' && s.labels.trace_id === '4bf92f3577b34da6a3ce929d0e0e4736'), 'all labeled with the span');
  t.same(asked[0], [w.pid, 0xabcn]);
  // A tag the resolver does not know (yet: the request may still be running): its samples wait for
  // their span one drain (intervalSeconds 60 here: SPAN_WAIT_SECONDS is under one interval), then
  // leave unlabeled, in the profile of the window they were taken in.
  // The drain right after the change may already hold a few samples under the new tag: they are
  // held like the rest, one drain ahead of them, so they are the only ones to leave at the third.
  tags!.set(w.pid, 0xdefn);
  const deferredBefore = run.collector.stats().span_tags_deferred ?? 0;
  await run.collector.flush();
  const deferredAtChange = (run.collector.stats().span_tags_deferred ?? 0) - deferredBefore;
  await sleep(1000);
  t.equal(total(samplesOf(await run.collector.flush(), w.pid)), 0, 'unresolved: held back for its span');
  const heldWindowEndNs = BigInt(Date.now()) * 1_000_000n;
  t.ok((run.collector.stats().span_tags_awaiting ?? 0) > deferredAtChange, 'counted as awaiting');
  t.equal(samplesOf(await run.collector.flush(), w.pid).length, deferredAtChange,
    `still within its wait at the next drain (only the ${deferredAtChange} held at the change leave)`);
  const late = await run.collector.flush();
  const unknown = samplesOf(late, w.pid);
  t.ok(total(unknown) > 0 && unknown.every((s) => !('span_id' in s.labels)), `past the wait: ${total(unknown)} samples, unlabeled`);
  const windows = late.filter((p) => p.samples.some((x) => x.labels.pid === String(w.pid)));
  t.ok(windows.length > 0 && windows.every((p) => p.endTimeUnixNano <= heldWindowEndNs), 'in a profile of the window they were taken in, not this one');
  t.ok((run.collector.stats().span_tags_unresolved ?? 0) > 0);
  await w.stop();
  await sleep(100);
  t.equal(tags!.get(w.pid), undefined, 'the tag of an exited thread is removed');
});

t.test('a stack map far too small: collisions and a full map are counted, samples still all there', async (t) => {
  const bin = hotBinary();
  const run = await startProfiler({ settings: { stackMapEntries: 64, frequencyHz: 499 } });
  t.teardown(() => run.stop());
  const w = startWorkload(bin, ['3', 'deep']);
  t.teardown(() => w.stop());
  await w.ready;
  await sleep(2000);
  const profiles = await run.collector.flush();
  await run.stop(); // detached and drained to the end: every kernel count can be accounted for
  const st = run.collector.stats();
  const lostInKernel = (st.kernel_stack_collisions ?? 0) + (st.kernel_stack_map_full ?? 0);
  t.ok(lostInKernel > 0, `stacks lost in the kernel are counted: ${lostInKernel} (collisions ${st.kernel_stack_collisions}, full ${st.kernel_stack_map_full})`);
  const mine = samplesOf(profiles, w.pid);
  t.ok(mine.some((s) => fnNames(s)[0] === '[user stack lost]'), 'lost stacks stay visible as such');
  t.equal((st.samples_in ?? 0) + (st.kernel_counts_map_full ?? 0), st.kernel_samples,
    `every sample the kernel counted is in a profile or counted as lost (${st.samples_in} + ${st.kernel_counts_map_full})`);
  t.equal(st.drain_failures, 0);
});

t.test('whole host (no --pid): many processes, never the agent', async (t) => {
  const run = await startProfiler({}, []);
  t.teardown(() => run.stop());
  const until = Date.now() + 500;
  while (Date.now() < until); // the "agent" busy: must not be sampled
  const bin = hotBinary();
  const w = startWorkload(bin, ['1']);
  await w.exited;
  const profiles = await run.collector.flush();
  t.notOk(profiles.some((p) => p.samples.some((s) => s.labels.pid === String(process.pid))), 'the agent is excluded');
  t.ok(samplesOf(profiles, w.pid).length > 0, 'other processes are sampled');
  t.notOk(profiles.some((p) => p.samples.some((s) => s.labels.pid === '0')), 'the idle task is excluded by default');
});
