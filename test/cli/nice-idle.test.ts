// `lantern run --nice idle` beside CPU-bound work: the agent's threads, under SCHED_IDLE, get no CPU
// at all while a busy loop holds theirs, not even to see that they are behind. Its guard (a thread
// outside SCHED_IDLE, libbpf-ts IdleGuard) takes them back, and every request is traced. The agent
// and the busy loop share one CPU (taskset), so the test starves the agent without taking the
// machine's other CPU from the tests beside it. Starved, the host has no CPU to spare: by default the
// agent then holds its spans to a CPU budget (spans.contended_cpu_percent), metrics exact.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { startCli } from '../helpers/cli.js';
import { startNginx } from '../helpers/nginx.js';
import { lastHistogramCount } from '../helpers/otlp-lines.js';
import { run } from '../helpers/spawn.js';

interface SpanLine {
  resourceSpans?: Array<{ scopeSpans?: Array<{ spans?: Array<{ kind: number; attributes?: Array<{ key: string; value: { stringValue?: string } }> }> }> }>;
}

/** Server spans of url.path `path` in an OTLP JSON lines file. */
function serverSpans(file: string, path: string): number {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return 0;
  }
  let n = 0;
  for (const line of text.split('\n')) {
    if (!line.includes('resourceSpans')) continue;
    for (const rs of (JSON.parse(line) as SpanLine).resourceSpans ?? []) {
      for (const ss of rs.scopeSpans ?? []) {
        for (const s of ss.spans ?? []) {
          // SPAN_KIND_SERVER
          if (s.kind === 2 && s.attributes?.some((a) => a.key === 'url.path' && a.value.stringValue === path)) n++;
        }
      }
    }
  }
  return n;
}

/** A section of the summary in the agent's `stopped` line (JSON log). */
function summaryFigures(stderr: string, section: 'process' | 'pipeline'): Record<string, number> {
  const line = stderr.split('\n').find((l) => l.includes('"msg":"stopped"'));
  if (line === undefined) return {};
  return (JSON.parse(line) as { summary?: Record<string, Record<string, number>> }).summary?.[section] ?? {};
}
const processFigures = (stderr: string): Record<string, number> => summaryFigures(stderr, 'process');
const pipelineFigures = (stderr: string): Record<string, number> => summaryFigures(stderr, 'pipeline');

/**
 * nginx, and the agent tracing it under SCHED_IDLE on one CPU with a busy loop (both `taskset -c 0`),
 * with `args` more; resolves once the guard has taken the agent back, starved, and curl has made
 * `requests` requests.
 */
async function besideBusyLoop(t: Test, args: string[], requests: number) {
  const nginx = await startNginx();
  t.teardown(() => nginx.stop());
  const dir = mkdtempSync(join(tmpdir(), 'lantern-idle-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'spans.jsonl');
  const agent = startCli(['run', ...nginx.pids.flatMap((p) => ['--pid', String(p)]), '--collectors', 'sockets', '--nice', 'idle', '--otlp-file', file,
    '--port', '0', '--log-format', 'json', '--duration', '120', ...args], { prefix: ['taskset', '-c', '0'] });
  let hog: ChildProcess | null = null;
  t.teardown(() => {
    hog?.kill('SIGKILL');
    agent.child.kill('SIGKILL');
  });
  await agent.waitForStderr('cpu priority: yielding to applications', 30_000);
  hog = spawn('taskset', ['-c', '0', 'sh', '-c', 'while :; do :; done'], { stdio: 'ignore' });
  // The agent's JS thread waits for the CPU, or misses its heartbeat: the guard takes every thread back.
  await agent.waitForStderr(/back to full share[^\n]*starved \((waiting for a CPU|heartbeat)\)/, 10_000);
  const r = await run('curl', ['-s', '-o', '/dev/null', `http://127.0.0.1:${nginx.port}/status?i=[1-${requests}]`], { timeoutMs: 60_000 });
  t.equal(r.code, 0, r.stderr);
  /** Stops the busy loop and the agent (SIGINT: its metrics flushed), and resolves with its end. */
  const stop = async () => {
    hog?.kill('SIGKILL');
    agent.child.kill('SIGINT');
    const done = await agent.done;
    if (done.code !== 0) t.comment(done.stderr.slice(-2000));
    t.equal(done.code, 0, 'the agent stops cleanly');
    return done;
  };
  return { nginx, file, stop };
}

t.test('under SCHED_IDLE beside a busy loop on its CPU, the guard takes the agent back and, without a contended budget, every request is traced', async (t) => {
  const requests = 2000;
  const { file, stop } = await besideBusyLoop(t, ['--contended-cpu-percent', '0'], requests);
  const until = Date.now() + 30_000;
  while (serverSpans(file, '/status') < requests && Date.now() < until) await new Promise((res) => setTimeout(res, 100));
  t.equal(serverSpans(file, '/status'), requests, 'every request traced while the busy loop runs');
  const figures = processFigures((await stop()).stderr);
  t.ok((figures.cpu_priority_starved ?? 0) >= 1, `the guard's restores are counted (${figures.cpu_priority_starved})`);
  t.equal(figures.cpu_priority_failures, 0, 'every thread could be set');
});

t.test('starved beside a busy loop, the agent holds its spans to the contended CPU budget (the default): RED exact, the rest shed and counted', async (t) => {
  const requests = 20_000; // a few seconds of curl: the share falls by half a quarter second at most
  const { nginx, file, stop } = await besideBusyLoop(t, [], requests);
  await new Promise((res) => setTimeout(res, 1500)); // the linker and the export queue let go of what they hold
  const done = await stop();
  t.match(done.stderr, /the host has no CPU to spare, spans held to the contended CPU budget[^\n]*"contended_cpu_percent":10/, 'the log says the budget applies');
  const figures = processFigures(done.stderr);
  t.ok((figures.cpu_contended_episodes ?? 0) >= 1, `contended (${figures.cpu_contended_episodes} times)`);
  t.equal(lastHistogramCount(file, 'http.server.request.duration', (pid) => nginx.pids.includes(pid)), requests, 'every request in nginx\'s duration histogram');
  const exported = serverSpans(file, '/status');
  const shed = pipelineFigures(done.stderr).spans_shed ?? 0;
  t.ok(exported < requests, `spans shed under the budget: ${exported} of ${requests} exported`);
  t.ok(exported + shed >= requests, `the others shed and counted (${shed})`);
});
