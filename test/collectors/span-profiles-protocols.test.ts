// Span-aware profiles for every protocol with server spans, through the real kernel path: real
// servers burn CPU while they serve one request — Redis (EVAL of a Lua loop, over cleartext and over
// TLS), PostgreSQL (a count over generate_series), MariaDB (BENCHMARK) and a Go gRPC server (a Say
// that spins) — and the .pb.gz the profiler writes labels the serving thread's samples with that
// request's server span (trace_id, span_id; rpc_method for gRPC). Each request burns ~400 ms or
// more: ~80 samples at 199 Hz; ≥ 10 are asked for, the machine is shared, and no more than the span's
// duration can hold (samples of another request under this one's label). The PostgreSQL and
// MariaDB requests outlast a drain (interval 2 s): their samples wait for the span.
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Profile } from 'pprof-format';
import t, { type Test } from 'tap';
import type { SpanRecord } from '../../src/model/span.js';
import { type TestAgent, attr, startTestAgent } from '../helpers/agent.js';
import { buildGoFixture } from '../helpers/go-build.js';
import { type MariaDb, startMariaDb } from '../helpers/mariadb.js';
import { type Postgres, startPostgres } from '../helpers/postgres.js';
import { descendants } from '../helpers/procs.js';
import { type RedisServer, startRedisServer } from '../helpers/redis.js';
import { run, startPrintingPort } from '../helpers/spawn.js';
import { makeSelfSignedCertificate } from '../helpers/tls-cert.js';

const PASSWORD = 'span-Pr0files';
const dir = mkdtempSync(join(tmpdir(), 'lantern-span-profiles-protocols-'));
const out = join(dir, 'profiles');
const FREQUENCY_HZ = 199;
writeFileSync(join(dir, 'lantern.yaml'), `profiler:\n  frequency: ${FREQUENCY_HZ}\n  interval: 2\n  output_dir: ${out}\n`);
const cert = makeSelfSignedCertificate();
const grpcBin = buildGoFixture('grpc-echo');

const redis: RedisServer = await startRedisServer(PASSWORD);
const redisTls: RedisServer = await startRedisServer(PASSWORD, { tls: cert });
const pg: Postgres = await startPostgres([{ name: 'app', password: PASSWORD }], [{ name: 'appdb', owner: 'app' }]);
const maria: MariaDb = await startMariaDb();
const grants = await maria.rootSql(`CREATE USER 'lantern'@'127.0.0.1' IDENTIFIED BY '${PASSWORD}';`);
if (grants.code !== 0) throw new Error(grants.stderr);
const grpc = await startPrintingPort(grpcBin, ['server'], { OTEL_SERVICE_NAME: 'grpc-burner' });
const agent: TestAgent = await startTestAgent({
  pids: [redis.pid, redisTls.pid, ...descendants(pg.pid), maria.pid, grpc.child.pid!],
  collectors: 'sockets,tls,profiler', configFile: join(dir, 'lantern.yaml'),
});
t.teardown(async () => {
  await agent.stop();
  await Promise.all([redis.stop(), redisTls.stop(), pg.stop(), maria.stop(), grpc.stop()]);
  cert.remove();
  rmSync(dir, { recursive: true, force: true });
});

interface LabelledSample {
  value: number;
  labels: Record<string, string>;
  /** Function names, leaf first. */
  functions: string[];
}

/** Every sample of the files written so far, with its labels as a plain record. */
function samples(): LabelledSample[] {
  const all: LabelledSample[] = [];
  let files: string[] = [];
  try {
    files = readdirSync(out).filter((f) => f.endsWith('.pb.gz') && !f.includes('-off_cpu-'));
  } catch {
    return all;
  }
  for (const f of files) {
    const p = Profile.decode(gunzipSync(readFileSync(join(out, f))));
    const str = (i: number | bigint): string => String(p.stringTable.strings[Number(i)] ?? '');
    const fns = new Map(p.function.map((f) => [Number(f.id), str(f.name)]));
    const locs = new Map(p.location.map((l) => [Number(l.id), fns.get(Number(l.line[0]?.functionId ?? 0)) ?? '']));
    for (const s of p.sample) {
      const labels: Record<string, string> = {};
      for (const l of s.label) labels[str(l.key)] = str(l.str);
      all.push({ value: Number(s.value[0] ?? 0), labels, functions: s.locationId.map((id) => locs.get(Number(id)) ?? '') });
    }
  }
  return all;
}

/** Waits until each span has `min` samples labelled with it; returns the samples per span. */
async function labelled(spans: readonly SpanRecord[], min = 10): Promise<Map<string, LabelledSample[]>> {
  const until = Date.now() + 20_000;
  const bySpan = new Map<string, LabelledSample[]>();
  while (Date.now() < until) {
    bySpan.clear();
    for (const s of samples()) {
      const id = s.labels.span_id;
      if (id === undefined) continue;
      const list = bySpan.get(id) ?? [];
      list.push(s);
      bySpan.set(id, list);
    }
    const n = (id: string): number => (bySpan.get(id) ?? []).reduce((a, s) => a + s.value, 0);
    if (spans.every((s) => n(s.spanId) >= min)) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  return bySpan;
}

function check(t: Test, spans: readonly SpanRecord[], bySpan: Map<string, LabelledSample[]>, extra?: (s: SpanRecord, l: LabelledSample) => void): void {
  for (const s of spans) {
    const mine = bySpan.get(s.spanId) ?? [];
    const n = mine.reduce((a, x) => a + x.value, 0);
    t.ok(n >= 10, `${s.name}: ${n} samples labelled with its span`);
    // One thread (goroutine) serves a request: it cannot be on a CPU for longer than the span lasts.
    // More samples than that are another request's, labelled with this one (a Go handler run on a
    // thread that an earlier request's read had tagged).
    const most = Math.ceil((Number(s.endTimeUnixNano - s.startTimeUnixNano) / 1e9) * FREQUENCY_HZ * 1.1) + 5;
    t.ok(n <= most, `${s.name}: no more samples than its ${Number(s.endTimeUnixNano - s.startTimeUnixNano) / 1e6} ms hold (${most})`);
    const one = mine[0];
    if (one === undefined) continue;
    t.equal(one.labels.trace_id, s.traceId, 'and its trace');
    extra?.(s, one);
  }
  const known = new Set(agent.spans.map((s) => s.spanId));
  const stray = [...bySpan.keys()].filter((id) => !known.has(id));
  t.same(stray, [], 'every span label names a span the agent built');
}

const LUA_BURN = 'local x = 0 for i = 1, 40000000 do x = x + i % 7 end return x';

for (const [name, server, tls] of [['Redis', () => redis, false], ['Redis over TLS', () => redisTls, true]] as const) {
  t.test(`${name}: EVAL of a busy Lua loop`, async (t) => {
    const r = await server().cli(['EVAL', LUA_BURN, '0']);
    t.equal(r.code, 0, r.stderr);
    const r2 = await server().cli(['EVAL', LUA_BURN, '0']);
    t.equal(r2.code, 0, r2.stderr);
    const evals = await agent.waitForSpans((s) => s.kind === 'server' && attr(s, 'db.operation.name') === 'EVAL' &&
      Number(s.resource.attributes['process.pid']) === server().pid, 2);
    if (tls) t.ok(evals.every((s) => attr(s, 'tls.protocol.version') !== undefined), 'spans from the TLS plaintext');
    t.comment(evals.map((s) => `${s.name} ${Number(s.endTimeUnixNano - s.startTimeUnixNano) / 1e6} ms`).join(', '));
    check(t, evals, await labelled(evals));
  });
}

t.test('Redis under load: EVAL spans get the Lua interpreter\'s samples while 20 clients send SET/GET', async (t) => {
  const bench = run('redis-benchmark', ['-u', redis.uri, '-c', '20', '-n', '150000', '-t', 'set,get', '-q'], { timeoutMs: 60_000 });
  await new Promise((r) => setTimeout(r, 500));
  for (let i = 0; i < 2; i++) {
    const r = await redis.cli(['EVAL', LUA_BURN, '0']);
    t.equal(r.code, 0, r.stderr);
  }
  const b = await bench;
  t.equal(b.code, 0, b.stderr);
  const evals = await agent.waitForSpans((s) => s.kind === 'server' && attr(s, 'db.operation.name') === 'EVAL' &&
    Number(s.resource.attributes['process.pid']) === redis.pid, 4);
  const mine = evals.slice(-2);
  const bySpan = await labelled(mine);
  check(t, mine, bySpan);
  const names = new Map(agent.spans.map((s) => [s.spanId, s.name]));
  // Samples in the Lua interpreter: under an EVAL span, not under the SET/GET served between them.
  let inLua = 0;
  let inLuaElsewhere = 0;
  for (const [id, list] of bySpan) {
    for (const x of list) {
      if (!x.functions.some((f) => f.startsWith('luaV_') || f.startsWith('lua_'))) continue;
      if (names.get(id) === 'EVAL') inLua += x.value;
      else inLuaElsewhere += x.value;
    }
  }
  t.ok(inLua >= 20, `${inLua} samples in the Lua interpreter under EVAL spans`);
  t.ok(inLuaElsewhere <= inLua / 20, `${inLuaElsewhere} under other spans (SET, GET)`);
});

t.test('PostgreSQL: a count over generate_series in a backend', async (t) => {
  for (let i = 0; i < 2; i++) {
    const r = await run('psql', ['-X', '-h', '127.0.0.1', '-p', String(pg.port), '-U', 'app', '-d', 'appdb', '-c',
      `SELECT count(*) FROM generate_series(1, 8000000) AS g WHERE g % 7 = ${i}`], { env: { PGPASSWORD: PASSWORD, PGSSLMODE: 'disable' } });
    t.equal(r.code, 0, r.stderr);
  }
  const counts = await agent.waitForSpans((s) => s.kind === 'server' && attr(s, 'db.system.name') === 'postgresql' &&
    String(attr(s, 'db.query.text') ?? '').includes('generate_series'), 2);
  t.comment(counts.map((s) => `${s.name} ${Number(s.endTimeUnixNano - s.startTimeUnixNano) / 1e6} ms`).join(', '));
  check(t, counts, await labelled(counts));
});

t.test('MariaDB: BENCHMARK in the connection\'s thread', async (t) => {
  for (let i = 0; i < 2; i++) {
    const r = await run('mariadb', ['--no-defaults', '-h127.0.0.1', `-P${maria.port}`, '-ulantern', '--skip-ssl', '--batch', '-e',
      `SELECT BENCHMARK(4000000, MD5('lantern ${i}'))`], { env: { MYSQL_PWD: PASSWORD } });
    t.equal(r.code, 0, r.stderr);
  }
  const benches = await agent.waitForSpans((s) => s.kind === 'server' && String(attr(s, 'db.query.text') ?? '').includes('BENCHMARK'), 2);
  t.comment(benches.map((s) => `${s.name} ${Number(s.endTimeUnixNano - s.startTimeUnixNano) / 1e6} ms`).join(', '));
  check(t, benches, await labelled(benches));
});

t.test('gRPC (Go, HTTP/2): a unary call that spins; samples carry rpc_method', async (t) => {
  const r = await run(grpcBin, ['client', `127.0.0.1:${grpc.port}`], { env: { BURN_MS: '500' } });
  t.match(r.stdout, /Say\(burn\) OK/, r.stderr);
  const says = await agent.waitForSpans((s) => s.kind === 'server' && attr(s, 'rpc.method') !== undefined &&
    Number(s.resource.attributes['process.pid']) === grpc.child.pid && Number(s.endTimeUnixNano - s.startTimeUnixNano) > 400e6, 3);
  t.comment(says.map((s) => `${s.name} ${String(attr(s, 'rpc.method'))} ${Number(s.endTimeUnixNano - s.startTimeUnixNano) / 1e6} ms`).join(', '));
  check(t, says, await labelled(says), (s, l) => t.equal(l.labels.rpc_method, attr(s, 'rpc.method'), 'rpc_method label'));
});
