// The drained-buffer → ProfileRecord step on its own, with a fake symbolizer: stack order, call
// sites, lost stacks, labels, services, span tags, caps, and failures counted instead of thrown.
import t from 'tap';
import { MAX_AWAITING_SPAN, ProfileBuilder, type ProfileBuilderOptions } from '../../src/collectors/profiler/builder.js';
import type { SpanTagResolver } from '../../src/collectors/profiler/span-tags.js';
import { PROFILE_LABELS } from '../../src/model/profile.js';
import { FakeSymbolizer, drained, key, names } from './profiler-helpers.js';

function builder(over: Partial<ProfileBuilderOptions> = {}): { b: ProfileBuilder; sym: FakeSymbolizer; problems: string[] } {
  const sym = (over.symbolizer as FakeSymbolizer | undefined) ?? new FakeSymbolizer(new Map([
    [0x1000n, { function: 'hot', module: '/usr/bin/app', moduleOffset: 0x1000 }],
    [0x1fffn, { function: 'outer', module: '/usr/bin/app', moduleOffset: 0x1fff }],
    [0x2fffn, { function: 'main', module: '/usr/bin/app', moduleOffset: 0x2fff }],
    [0xffffffff81000010n, { function: 'do_syscall_64', module: '[kernel]' }],
    [0xffffffff8100001fn, { function: 'entry_SYSCALL_64_after_hwframe', module: '[kernel]' }],
  ]));
  const problems: string[] = [];
  const b = new ProfileBuilder({
    symbolizer: sym,
    identify: (pid, comm) => (pid === 7 ? { service: 'checkout', containerId: 'c0ffee' } : { service: `svc-${comm}` }),
    frequencyHz: 99,
    maxSamples: 1000,
    problem: (kind) => problems.push(kind),
    ...over,
  });
  return { b, sym, problems };
}

t.test('user and kernel stacks: kernel frames above user frames, callers at their call site', async (t) => {
  const { b, sym } = builder();
  // Return addresses as the kernel records them: callers point after their call instruction.
  const out = await b.build(drained([[key({ pid: 7, tid: 8, comm: 'worker', userStackId: 1, kernelStackId: 2 }), 5]], {
    1: [0x1000n, 0x2000n, 0x3000n],
    2: [0xffffffff81000010n, 0xffffffff81000020n],
  }));
  t.equal(out.length, 1);
  const p = out[0]!;
  t.equal(p.service, 'checkout');
  t.equal(p.periodNanos, 10101010);
  t.equal(p.frequencyHz, 99);
  t.equal(p.startTimeUnixNano, 1_700_000_000_000_000_000n);
  const s = p.samples[0]!;
  t.equal(s.count, 5);
  t.same(names(s.frames), ['do_syscall_64', 'entry_SYSCALL_64_after_hwframe', 'hot', 'outer', 'main'], 'leaf first, kernel on top');
  t.same(sym.userCalls, [{ pid: 7, addresses: [0x1000n, 0x1fffn, 0x2fffn] }], 'leaf as sampled, callers at ip − 1');
  t.same(sym.kernelCalls, [[0xffffffff81000010n, 0xffffffff8100001fn]]);
  t.ok(s.frames.slice(0, 2).every((f) => f.kernel === true), 'kernel frames marked');
  t.equal(s.frames[2]!.address, 0x1000n, 'user address is the module offset');
  t.same(s.labels, { pid: '7', thread_id: '8', thread_name: 'worker', service_name: 'checkout', container_id: 'c0ffee' });
  t.same(sym.noted, [7], 'notePid before symbolizing (cheap for a known pid)');
});

t.test('one symbolizer call per process and one for the kernel, whatever the number of stacks', async (t) => {
  const { b, sym } = builder();
  const out = await b.build(drained([
    [key({ pid: 1, userStackId: 1, kernelStackId: 3 }), 1],
    [key({ pid: 1, tid: 2, userStackId: 2, kernelStackId: 3 }), 1],
    [key({ pid: 1, tid: 3, userStackId: 1 }), 1],
    [key({ pid: 2, userStackId: 1, kernelStackId: 4 }), 1],
  ], { 1: [0x10n], 2: [0x20n, 0x30n], 3: [0xffffffff81000010n], 4: [0xffffffff81000010n] }));
  t.equal(sym.userCalls.length, 2);
  const all = out.flatMap((p) => p.samples);
  const [a, b2] = [all.find((x) => x.labels.pid === '1')!, all.find((x) => x.labels.pid === '2')!];
  t.equal(a.frames[0], b2.frames[0], 'a call site\'s frame object is shared between stacks');
  t.same(sym.userCalls.find((c) => c.pid === 1)?.addresses, [0x10n, 0x20n, 0x2fn]);
  t.equal(sym.kernelCalls.length, 1);
  t.same(sym.kernelCalls[0], [0xffffffff81000010n], 'each distinct call site once');
  t.match(b.stats(), { frames: 6, addresses_symbolized: 5 });
});

t.test('stacks lost to collisions or a full map are marked and counted; absent stacks are not', async (t) => {
  const { b } = builder();
  const out = await b.build(drained([
    [key({ pid: 1, userStackId: -17, kernelStackId: -14 }), 3], // user: collision; kernel: none (user mode)
    [key({ pid: 1, tid: 2, userStackId: 1, kernelStackId: -12 }), 2], // kernel: map full
    [key({ pid: 1, tid: 3, userStackId: 99, kernelStackId: -14 }), 1], // id absent from the map
  ], { 1: [0x1000n] }));
  const samples = out.flatMap((p) => p.samples);
  t.same(names(samples[0]!.frames), ['[user stack lost]']);
  t.same(names(samples[1]!.frames), ['[kernel stack lost]', 'hot']);
  t.same(samples[2]!.frames, [], 'no stack: an empty sample, still counted');
  t.equal(b.stats().stacks_lost, 2);
  t.equal(b.stats().samples_in, 6, 'every sample accounted for');
});

t.test('one profile per service; a service spans its pids', async (t) => {
  const { b } = builder();
  const out = await b.build(drained([
    [key({ pid: 1, comm: 'a' }), 1],
    [key({ pid: 2, comm: 'a' }), 2],
    [key({ pid: 3, comm: 'b' }), 4],
    [key({ pid: 7, comm: 'x' }), 8],
  ]));
  t.same(out.map((p) => [p.service, p.samples.length]).sort(), [['checkout', 1], ['svc-a', 2], ['svc-b', 1]]);
});

t.test('span tags: resolved tags label the sample, unresolved ones leave it unlabeled', async (t) => {
  const asked: Array<[number, bigint]> = [];
  const resolver: SpanTagResolver = {
    resolve(pid, tag) {
      asked.push([pid, tag]);
      return tag === 42n ? { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', spanName: 'GET /checkout' } : undefined;
    },
  };
  const { b } = builder({ spanTags: () => resolver });
  const out = await b.build(drained([
    [key({ pid: 7, tag: 42n }), 3],
    [key({ pid: 7, tid: 9, tag: 42n }), 1],
    [key({ pid: 7, tid: 10, tag: 43n }), 2],
    [key({ pid: 7, tid: 11 }), 1],
  ]));
  const s = out[0]!.samples;
  t.same([s[0]!.labels[PROFILE_LABELS.traceId], s[0]!.labels[PROFILE_LABELS.spanId], s[0]!.labels[PROFILE_LABELS.spanName]],
    ['0af7651916cd43dd8448eb211c80319c', 'b7ad6b7169203331', 'GET /checkout']);
  t.equal(s[1]!.labels.span_id, 'b7ad6b7169203331');
  t.notOk('span_id' in s[2]!.labels, 'unresolved: unlabeled');
  t.notOk('span_id' in s[3]!.labels, 'no tag: unlabeled');
  t.same(asked, [[7, 42n], [7, 43n]], 'each (pid, tag) asked once per interval; tag 0 never');
  t.match(b.stats(), { span_tags_seen: 3, span_tags_resolved: 2, span_tags_unresolved: 1 });
});

t.test('span tags: a sample of a request still being served waits for its span, in its own window', async (t) => {
  const built = new Set<bigint>();
  const resolver: SpanTagResolver = {
    resolve: (_pid, tag) => (built.has(tag) ? { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: `00000000000000${tag}` } : undefined),
  };
  const { b } = builder({ spanTags: () => resolver, spanWaitDrains: 2 });
  const first = drained([[key({ pid: 7, tid: 1, tag: 42n }), 3], [key({ pid: 7, tid: 2, tag: 43n }), 2], [key({ pid: 7, tid: 3 }), 1]]);
  const out1 = await b.build(first);
  t.same(out1.flatMap((p) => p.samples.map((s) => s.count)), [1], 'the untagged sample leaves now; the tagged ones wait');
  t.match(b.stats(), { span_tags_deferred: 2, span_tags_awaiting: 2, span_tags_resolved: 0, span_tags_unresolved: 0 });

  built.add(42n); // the slow request's response is done: its span is built
  const second = { ...drained([[key({ pid: 7, tid: 1, tag: 42n }), 4]]), startUnixNano: first.endUnixNano, endUnixNano: first.endUnixNano + 10_000_000_000n };
  const out2 = await b.build(second);
  const late = out2.find((p) => p.startTimeUnixNano === first.startUnixNano);
  const now = out2.find((p) => p.startTimeUnixNano === second.startUnixNano);
  t.same(late?.samples.map((s) => [s.count, s.labels.span_id]), [[3, '0000000000000042']], 'the earlier samples, labeled, in a profile of their own window');
  t.equal(late?.endTimeUnixNano, first.endUnixNano);
  t.same(now?.samples.map((s) => [s.count, s.labels.span_id]), [[4, '0000000000000042']]);
  t.match(b.stats(), { span_tags_awaiting: 1, span_tags_resolved: 2 });

  await b.build({ ...second, counts: [] });
  t.equal(b.stats().span_tags_awaiting, 1, 'still within its wait');
  const out4 = await b.build({ ...second, counts: [] });
  t.same(out4.flatMap((p) => p.samples.map((s) => [s.count, 'span_id' in s.labels])), [[2, false]], 'past the wait: unlabeled');
  t.match(b.stats(), { span_tags_awaiting: 0, span_tags_unresolved: 1, span_tags_seen: 3 });
});

t.test('span tags: the last drain lets every waiting sample go; a full waiting list lets new ones go unlabeled', async (t) => {
  const { b } = builder({ spanTags: () => ({ resolve: () => undefined }), spanWaitDrains: 5, maxSamples: MAX_AWAITING_SPAN + 1 });
  await b.build(drained([[key({ pid: 7, tag: 1n }), 1]]));
  const out = await b.build(drained([]), { final: true });
  t.same(out.flatMap((p) => p.samples.map((s) => s.count)), [1]);
  t.match(b.stats(), { span_tags_awaiting: 0, span_tags_unresolved: 1 });

  const counts: Array<[ReturnType<typeof key>, number]> = [];
  for (let i = 0; i <= MAX_AWAITING_SPAN; i++) counts.push([key({ pid: 7, tid: i + 1, tag: BigInt(i + 1) }), 1]);
  const out2 = await b.build(drained(counts));
  t.equal(out2.flatMap((p) => p.samples).length, 1, 'one over the bound leaves at once');
  t.match(b.stats(), { span_tags_awaiting: MAX_AWAITING_SPAN, span_tags_wait_overflow: 1 });
});

t.test('a resolver that throws or is absent costs the labels only', async (t) => {
  const { b, problems } = builder({ spanTags: () => ({ resolve: () => { throw new Error('boom'); } }) });
  const out = await b.build(drained([[key({ pid: 7, tag: 1n }), 1], [key({ pid: 7, tid: 2, tag: 2n }), 1]]));
  t.equal(out[0]!.samples.length, 2);
  t.equal(b.stats().span_tag_failures, 2);
  t.same(problems, ['span-tags', 'span-tags']);
  const { b: b2 } = builder();
  const out2 = await b2.build(drained([[key({ pid: 7, tag: 1n }), 1]]));
  t.notOk('span_id' in out2[0]!.samples[0]!.labels);
  t.equal(b2.stats().span_tags_unresolved, 1);
});

t.test('symbolizer failures: frames kept as [unknown] with their addresses, counted', async (t) => {
  const sym = new FakeSymbolizer();
  sym.failUser = true;
  sym.failKernel = true;
  const { b, problems } = builder({ symbolizer: sym });
  const out = await b.build(drained([[key({ pid: 1, userStackId: 1, kernelStackId: 2 }), 1]], { 1: [0x400000n, 0x400100n], 2: [0xffffffff81000000n] }));
  const f = out[0]!.samples[0]!.frames;
  t.same(f.map((x) => [x.module, x.address]), [['[unknown]', 0xffffffff81000000n], ['[unknown]', 0x400000n], ['[unknown]', 0x4000ffn]]);
  t.equal(b.stats().symbolize_failures, 2);
  t.equal(b.stats().frames_unknown, 3);
  t.same(problems.sort(), ['symbolize-kernel', 'symbolize-user']);
});

t.test('a symbolizer that answers too few frames pads with unknowns', async (t) => {
  const sym = new FakeSymbolizer();
  sym.symbolizeUser = (_pid, addrs) => addrs.slice(1).map(() => ({ function: 'f', module: '/x' }));
  const { b } = builder({ symbolizer: sym });
  const out = await b.build(drained([[key({ pid: 1, userStackId: 1 }), 1]], { 1: [0x1n, 0x2n, 0x3n] }));
  t.same(names(out[0]!.samples[0]!.frames), ['f', 'f', '[[unknown]]']);
});

t.test('identify failures fall back to the kernel\'s name for the process', async (t) => {
  const { b, problems } = builder({ identify: () => { throw new Error('proc gone'); } });
  const out = await b.build(drained([[key({ pid: 5, comm: 'short-lived' }), 1]]));
  t.equal(out[0]!.service, 'short-lived');
  t.same(problems, ['identify']);
});

t.test('the distinct-sample cap keeps the most frequent and counts the rest', async (t) => {
  const { b } = builder({ maxSamples: 2 });
  const out = await b.build(drained([
    [key({ pid: 1, tid: 1 }), 1],
    [key({ pid: 1, tid: 2 }), 50],
    [key({ pid: 1, tid: 3 }), 7],
    [key({ pid: 1, tid: 4 }), 30],
  ]));
  t.same(out[0]!.samples.map((s) => s.count).sort((a, c) => a - c), [30, 50]);
  t.equal(b.stats().samples_dropped_cap, 8);
  t.equal(b.stats().samples_in, 88);
});

t.test('many entries: the event loop gets turns while an interval is built', async (t) => {
  const { b } = builder({ maxSamples: 10_000 });
  const counts: Array<[ReturnType<typeof key>, number]> = [];
  for (let i = 0; i < 3000; i++) counts.push([key({ pid: 1 + (i % 50), tid: i, userStackId: i % 20 }), 1]);
  const stacks: Record<number, bigint[]> = {};
  for (let i = 0; i < 20; i++) stacks[i] = [BigInt(0x1000 + i)];
  let ticks = 0;
  const timer = setInterval(() => ticks++, 0);
  const out = await b.build(drained(counts, stacks));
  clearInterval(timer);
  t.equal(out.reduce((n, p) => n + p.samples.length, 0), 3000);
  t.ok(ticks > 0, `timers ran during the build (${ticks})`);
});
