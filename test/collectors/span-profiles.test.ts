// Span-aware profiles through the real kernel path: a Node HTTP server burns CPU while it serves
// /burn; the socket tracer tags the serving thread with the exchange, the profiler counts the
// samples under that tag, and the .pb.gz written for the service labels them with the server span's
// trace_id and span_id (and http_route, from the configured route).
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { Profile } from 'pprof-format';
import t from 'tap';
import type { SpanRecord } from '../../src/model/span.js';
import { type TestAgent, attr, startTestAgent } from '../helpers/agent.js';
import { run, startPrintingPort } from '../helpers/spawn.js';

const backendScript = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../../../test/fixtures/http-backend.mjs' : '../fixtures/http-backend.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'lantern-span-profiles-'));
const out = join(dir, 'profiles');
writeFileSync(join(dir, 'lantern.yaml'), `profiler:\n  frequency: 199\n  interval: 2\n  output_dir: ${out}\nhttp:\n  routes: ["/burn"]\n`);

const backend = await startPrintingPort(process.execPath, [backendScript], { OTEL_SERVICE_NAME: 'burner' });
const agent: TestAgent = await startTestAgent({ pids: [backend.child.pid!], collectors: 'sockets,profiler', configFile: join(dir, 'lantern.yaml') });
t.teardown(async () => {
  await agent.stop();
  await backend.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Every sample of the files written so far, with its labels as a plain record. */
function samples(): Array<{ value: number; labels: Record<string, string> }> {
  const all: Array<{ value: number; labels: Record<string, string> }> = [];
  for (const f of safeList(out)) {
    const p = Profile.decode(gunzipSync(readFileSync(join(out, f))));
    const str = (i: number | bigint): string => String(p.stringTable.strings[Number(i)] ?? '');
    for (const s of p.sample) {
      const labels: Record<string, string> = {};
      for (const l of s.label) labels[str(l.key)] = str(l.str);
      all.push({ value: Number(s.value[0] ?? 0), labels });
    }
  }
  return all;
}

function safeList(d: string): string[] {
  try {
    return readdirSync(d).filter((f) => f.endsWith('.pb.gz'));
  } catch {
    return [];
  }
}

t.test('samples taken while a request is served carry its span', async (t) => {
  for (let i = 0; i < 3; i++) {
    const r = await run('curl', ['-s', `http://127.0.0.1:${backend.port}/burn?ms=400&i=${i}`]);
    t.equal(r.stdout, 'burnt\n', r.stderr);
  }
  const burns = await agent.waitForSpans((s) => s.kind === 'server' && attr(s, 'url.path') === '/burn', 3);
  t.equal(burns.length, 3, 'three server spans');
  // Two intervals: the samples of the last request are drained, and resolved, by then.
  const until = Date.now() + 15_000;
  let tagged: ReturnType<typeof samples> = [];
  while (Date.now() < until) {
    tagged = samples().filter((s) => s.labels.span_id !== undefined);
    const spans = new Set(tagged.map((s) => s.labels.span_id));
    if (burns.every((b) => spans.has(b.spanId))) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const bySpan = new Map<string, number>();
  for (const s of tagged) bySpan.set(s.labels.span_id!, (bySpan.get(s.labels.span_id!) ?? 0) + s.value);
  for (const b of burns) {
    const n = bySpan.get(b.spanId) ?? 0;
    // 400 ms of CPU at 199 Hz is ~80 samples; a busy shared machine may give the server less CPU.
    t.ok(n >= 10, `${String(attr(b, 'url.query'))}: ${n} samples labelled with its span`);
    const one = tagged.find((s) => s.labels.span_id === b.spanId);
    t.equal(one?.labels.trace_id, b.traceId, 'and with its trace');
    t.equal(one?.labels.service_name, 'burner');
    t.equal(one?.labels.http_route, '/burn', 'and its http.route');
  }
  const known = new Set(agent.spans.map((s: SpanRecord) => s.spanId));
  t.ok(tagged.every((s) => known.has(s.labels.span_id!)), 'every span label names a span the agent built');
});
