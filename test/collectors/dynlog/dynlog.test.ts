// Dynamic logging through the real kernel: uprobes on a Go program built with the default
// optimisation, the generic BPF program executing each capture plan, calls paired by goroutine.
// Exact values are asserted for every shape the plans handle. The agent traces this test's
// descendants only (the probes see the whole machine); the program is started after its
// functions were probed (uprobes follow the binary).
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { codec } from 'libbpf-ts';
import t, { type Test } from 'tap';
import { spanTagging } from '../../../src/collectors/span-tag-maps.js';
import type { LogRecordData } from '../../../src/model/log.js';
import { startTestAgent } from '../../helpers/agent.js';
import { startTarget, targetBinary } from './target.js';

const binary = targetBinary();

async function withAgent(t: Test): Promise<{ agent: Awaited<ReturnType<typeof startTestAgent>>; calls: LogRecordData[]; until(n: number, fn: string): Promise<LogRecordData[]> }> {
  const agent = await startTestAgent({ collectors: 'dynlog' });
  t.teardown(() => agent.stop());
  const calls: LogRecordData[] = [];
  agent.agent.onLog((r) => {
    if (r.eventName === 'lantern.function.call') calls.push(r);
  });
  const until = async (n: number, fn: string): Promise<LogRecordData[]> => {
    const end = Date.now() + 15_000;
    const of = (): LogRecordData[] => calls.filter((c) => c.attributes['code.function.name'] === fn);
    while (of().length < n && Date.now() < end) await new Promise((r) => setTimeout(r, 25));
    return of();
  };
  return { agent, calls, until };
}

t.test('arguments and results of every shape, exact', async (t) => {
  const { agent, until } = await withAgent(t);
  const dl = agent.agent.dynlog!;
  dl.add({ binary, function: 'main.Add', returns: true });
  dl.add({ binary, function: 'main.Greet', returns: true });
  dl.add({ binary, function: 'main.Sum', returns: true });
  dl.add({ binary, function: 'main.(*Server).Login', args: ['req.User.Name', 'req.User.Age', 'req.ID', 'limit', 'req.Tags', 'req'], returns: true });
  dl.add({ binary, function: 'main.Parse', returns: true });
  dl.add({ binary, function: 'main.Counts', returns: true });
  const target = await startTarget(binary);
  t.teardown(() => target.stop());
  for (const s of ['ints', 'string', 'slice', 'struct', 'errors', 'maps']) await target.run(s);

  const [add] = await until(1, 'main.Add');
  t.same(pick(add, ['lantern.arg.a', 'lantern.arg.b', 'lantern.return.0']), { 'lantern.arg.a': 2, 'lantern.arg.b': 40, 'lantern.return.0': 42 });
  t.equal(add?.resource.attributes['process.pid'], target.pid, 'the process\'s resource');
  t.ok((add?.attributes['lantern.call.duration_ns'] as number) > 0, 'a duration');
  t.ok((add?.attributes['lantern.goroutine.id'] as number) > 0, 'the goroutine id, from g');
  t.equal(typeof add?.attributes['thread.id'], 'number');
  t.match(add?.body, /^main\.Add\(a=2, b=40\) → 42 \(/);

  const greets = await until(2, 'main.Greet');
  t.same(greets.map((g) => pick(g, ['lantern.arg.name', 'lantern.arg.name.length', 'lantern.arg.loud', 'lantern.return.0'])), [
    { 'lantern.arg.name': 'gopher', 'lantern.arg.name.length': 6, 'lantern.arg.loud': false, 'lantern.return.0': 'hello gopher' },
    { 'lantern.arg.name': 'gopher', 'lantern.arg.name.length': 6, 'lantern.arg.loud': true, 'lantern.return.0': 'HELLO GOPHER' },
  ]);

  const [sum] = await until(1, 'main.Sum');
  t.same(pick(sum, ['lantern.arg.xs', 'lantern.arg.xs.length', 'lantern.return.0']), { 'lantern.arg.xs': [1, 2, 3, 4], 'lantern.arg.xs.length': 4, 'lantern.return.0': 10 });

  const logins = await until(2, 'main.(*Server).Login');
  t.same(pick(logins[0], ['lantern.arg.req.User.Name', 'lantern.arg.req.User.Age', 'lantern.arg.req.ID', 'lantern.arg.limit', 'lantern.arg.req.Tags.length', 'lantern.return.0', 'lantern.return.1']), {
    'lantern.arg.req.User.Name': 'ada', 'lantern.arg.req.User.Age': 36, 'lantern.arg.req.ID': 7, 'lantern.arg.limit': 18, 'lantern.arg.req.Tags.length': 2,
    'lantern.return.0': true, 'lantern.return.1': 'nil',
  }, 'nested pointers followed, a nil error');
  t.match(JSON.parse(String(logins[0]?.attributes['lantern.arg.req'])), { ID: 7, 'Tags.length': 2 }, 'a pointer to a struct shows the struct');
  t.same(pick(logins[1], ['lantern.arg.req.User.Name', 'lantern.return.0', 'lantern.return.1', 'lantern.return.1.type']), {
    'lantern.arg.req.User.Name': 'bob', 'lantern.return.0': false, 'lantern.return.1': 'too young', 'lantern.return.1.type': '*errors.errorString',
  }, 'an error: its dynamic type and message');

  const parses = await until(3, 'main.Parse');
  t.same(parses.map((p) => pick(p, ['lantern.arg.text', 'lantern.return.0', 'lantern.return.1', 'lantern.return.1.type'])), [
    { 'lantern.arg.text': '42', 'lantern.return.0': 42, 'lantern.return.1': 'nil' },
    { 'lantern.arg.text': 'x', 'lantern.return.0': 0, 'lantern.return.1': 'parse "x": not a number', 'lantern.return.1.type': '*fmt.wrapError' },
    { 'lantern.arg.text': '-1', 'lantern.return.0': -1, 'lantern.return.1': 'negative', 'lantern.return.1.type': '*errors.errorString' },
  ], '(int, error) with nil, wrapped and plain errors');

  const [counts] = await until(1, 'main.Counts');
  t.same(pick(counts, ['lantern.arg.m.length', 'lantern.arg.flags', 'lantern.return.0']), { 'lantern.arg.m.length': 3, 'lantern.arg.flags': [true, false, true], 'lantern.return.0': 3 },
    'a map by its header, an array passed on the stack');
});

t.test('50 goroutines calling at once: every entry paired with its own return', async (t) => {
  const { agent, until } = await withAgent(t);
  agent.agent.dynlog!.add({ binary, function: 'main.Work', returns: true });
  const target = await startTarget(binary);
  t.teardown(() => target.stop());
  await target.run('goroutines');
  const work = await until(50, 'main.Work');
  t.equal(work.length, 50);
  t.same(work.map((w) => w.attributes['lantern.arg.id']).sort((a, b) => Number(a) - Number(b)), Array.from({ length: 50 }, (_, i) => i), 'every goroutine\'s call once');
  t.ok(work.every((w) => w.attributes['lantern.return.0'] === 2 * Number(w.attributes['lantern.arg.id'])), 'each result is its own call\'s (id × 2)');
  t.ok(work.every((w) => Number(w.attributes['lantern.call.duration_ns']) >= Number(w.attributes['lantern.arg.d'])), 'each call lasted at least its sleep');
  t.equal(new Set(work.map((w) => w.attributes['lantern.goroutine.id'])).size, 50, '50 goroutines');
  t.equal(agent.agent.dynlog!.stats().returns_unmatched, 0);
});

t.test('a long string: the bound kept, the real length reported; --pid targets one process', async (t) => {
  const { agent, until } = await withAgent(t);
  const target = await startTarget(binary);
  t.teardown(() => target.stop());
  agent.agent.dynlog!.add({ pid: target.pid, function: 'main.Greet', args: ['name'], bound: 64 });
  await target.run('long');
  const [g] = await until(1, 'main.Greet');
  t.equal(g?.attributes['lantern.arg.name'], 'x'.repeat(64));
  t.equal(g?.attributes['lantern.arg.name.length'], 1000);
  t.equal(g?.attributes['lantern.arg.name.truncated'], true);
});

t.test('the rate limit per probe counts the excess', async (t) => {
  const { agent, until } = await withAgent(t);
  agent.agent.dynlog!.add({ binary, function: 'main.Work', maxPerSecond: 10 });
  const target = await startTarget(binary);
  t.teardown(() => target.stop());
  await target.run('goroutines');
  await until(10, 'main.Work');
  await new Promise((r) => setTimeout(r, 300));
  const s = agent.agent.dynlog!.stats();
  t.ok(s.calls! <= 20, `at most the limit per second logged (${s.calls})`);
  t.equal(s.calls! + s.calls_dropped_rate!, 50, 'every call counted, logged or dropped');
});

function pick(r: LogRecordData | undefined, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => r?.attributes[k] !== undefined).map((k) => [k, r?.attributes[k]]));
}

t.test('a call made while serving a traced HTTP request carries that request\'s span', async (t) => {
  const agent = await startTestAgent({ collectors: 'sockets,dynlog' });
  t.teardown(() => agent.stop());
  const calls: LogRecordData[] = [];
  agent.agent.onLog((r) => {
    if (r.eventName === 'lantern.function.call') calls.push(r);
  });
  agent.agent.dynlog!.add({ binary, function: 'main.Handle', returns: true });
  const port = 20000 + (process.pid % 20000);
  const target = await startTarget(binary, { DYNLOG_HTTP_PORT: String(port) });
  t.teardown(() => target.stop());
  await target.run('http');
  // curl, not this process: the agent never traces its own connections (it runs in this process).
  for (let i = 0; i < 3; i++) t.equal(execFileSync('curl', ['-s', `http://127.0.0.1:${port}/item/${i}`], { encoding: 'utf8' }), '7');
  const servers = await agent.waitForSpans((s) => s.kind === 'server' && s.resource.attributes['process.pid'] === target.pid, 3);
  t.equal(servers.length, 3, `the Go server's spans (all: ${JSON.stringify(agent.spans.map((s) => [s.kind, s.name, s.resource.attributes['process.pid']]))}, target ${target.pid}, ${JSON.stringify(agent.agent.summary().collectors.sockets)})`);
  const end = Date.now() + 10_000;
  while (calls.length < 3 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  t.equal(calls.length, 3);
  const byId = new Map(servers.map((s) => [s.spanId, s]));
  const inSpan = calls.filter((c) => c.spanId !== undefined && byId.get(c.spanId)?.traceId === c.traceId);
  t.equal(inSpan.length, 3, `each call carries its request's server span (${calls.map((c) => `${c.traceId}/${c.spanId}`).join(', ')})`);
  t.same(inSpan.map((c) => byId.get(c.spanId!)?.attributes['url.path']).sort(), calls.map((c) => c.attributes['lantern.arg.path'] === undefined ? '' : `${c.attributes['lantern.arg.path']}`).sort(),
    'and the span is the request the call handled');
});

t.test('without a profiler, span tags are written only while a function is probed', async (t) => {
  const agent = await startTestAgent({ collectors: 'sockets,dynlog' });
  t.teardown(() => agent.stop());
  const dl = agent.agent.dynlog!;
  const maps = dl.spanTagMaps()!;
  const threadTags = maps.thread_tags.typed(codec.u32, codec.u64);
  t.equal(spanTagging(maps), false, 'off at start: nothing is probed');
  const port = 20000 + ((process.pid + 7) % 20000);
  const target = await startTarget(binary, { DYNLOG_HTTP_PORT: String(port) });
  t.teardown(() => target.stop());
  await target.run('http');
  const targetTags = (): Array<[number, bigint]> => {
    const own = new Set(readdirSync(`/proc/${target.pid}/task`).map(Number));
    return [...threadTags.entries()].filter(([tid]) => own.has(tid));
  };
  const serve = async (n: number): Promise<void> => {
    const before = agent.spans.filter((s) => s.kind === 'server' && s.resource.attributes['process.pid'] === target.pid).length;
    for (let i = 0; i < 3; i++) t.equal(execFileSync('curl', ['-s', `http://127.0.0.1:${port}/item/${i}`], { encoding: 'utf8' }), '7');
    // Its spans say the traced server read the requests (where tags would be written).
    await agent.waitForSpans((s) => s.kind === 'server' && s.resource.attributes['process.pid'] === target.pid, before + n);
  };
  await serve(3);
  t.same(targetTags(), [], 'three requests served, no tag on the server\'s threads');
  const calls: LogRecordData[] = [];
  agent.agent.onLog((r) => {
    if (r.eventName === 'lantern.function.call') calls.push(r);
  });
  dl.add({ binary, function: 'main.Handle' });
  t.equal(spanTagging(maps), true, 'on while a function is probed');
  await serve(3);
  // A tag lives from the request's read to its connection's close (curl closes at once): the calls made
  // while serving, which read the tags, say they were written.
  const end = Date.now() + 10_000;
  while (calls.length < 3 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  t.equal(calls.filter((c) => c.spanId !== undefined).length, 3, 'tagged once probed: each call carries its request\'s span');
  t.ok(dl.remove('main.Handle'));
  t.equal(spanTagging(maps), false, 'off again once the last probe is gone');
});
