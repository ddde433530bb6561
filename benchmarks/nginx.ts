// nginx under load: what protocol tracing costs a real server. One nginx (worker_processes 1, a
// 3-byte body), loaded on loopback; by default the agent traces nginx's pids only (never the load
// tool's, so the load tool's own cost is not inflated by client spans). In one run:
//
//  1. fixed rate (default 10,000 req/s over 10 keep-alive connections, 10 s), alternating without
//     and with the agent: the agent's CPU (utime+stime of its process tree), nginx's CPU;
//  2. completeness: requests made vs nginx server spans in the agent's --otlp-file, and a step
//     search for the highest rate with none lost (doubling from 5,000 req/s; at the first loss two
//     more steps, each halving the interval left; stops when the load tool cannot reach the rate);
//  3. latency from the load tool at the fixed rate, with and without;
//  4. saturation: wrk -t1 -c16 -d5s, without and with, alternating (A B A B …);
//  5. the agent's RSS at rest and under load.
//
// The fixed-rate load comes from benchmarks/loadgen (Go, open-loop per connection), built once per
// source version into the machine's tool cache. The agent is started fresh for every "with" phase
// (`bin/lantern.js run --pid … --port 0 --otlp-file …`) and stopped with SIGTERM; its span file
// is read after it has exited. Machines here are shared: before each phase the benchmark waits (60 s
// at most per run) for idle CPUs and for other sessions' socket tracers to go, and flags phases
// where that did not hold. Results go to stdout and to benchmarks/RESULTS.md.
//
// --tls measures the same over HTTPS (what TLS plaintext tracing costs): nginx serves a self-signed
// certificate, loadgen runs with -tls (one handshake per keep-alive connection), wrk gets the https://
// URL, the agent runs with --collectors sockets,tls, and the spans must also say url.scheme=https.
// It has its own section in RESULTS.md (see MODES).
//
// --all-processes measures what a user runs: the agent's defaults (no --pid: every process is traced,
// default collectors), so loadgen is traced too and each request is two exchanges, loadgen's CLIENT
// span and nginx's SERVER span ("agent µs per exchange" divides by 2 × requests; completeness counts
// both kinds for /lantern-bench). Only the fixed-rate part runs (no step search, no wrk), with three
// sinks in the same run, each in pairs against a without-agent phase: (a) OTLP/gRPC to a real Jaeger
// (test/helpers/jaeger.ts, the binary the tests use; traces only, see jaegerSink) plus the file,
// (b) OTLP/gRPC to Jaeger alone, the production path (spans counted at the receiver), and (c) the
// file only. --jaeger off runs (c) alone, without Jaeger. It also
// reports the start-up time (spawn → tracing sockets, and → ready), the spans the
// receiver accepted (the agent's export.traces.exported) and Jaeger's CPU. Its own RESULTS.md section.
//
//   npm run build && node dist/benchmarks/nginx.js [--tls | --all-processes [--jaeger on|off]] [--rate N]
//       [--connections N] [--duration S] [--pairs N] [--step-duration S] [--max-rate N] [--wrk-pairs N]
//       [--wrk-duration S] [--agent-args="OPTIONS"]
//
// --agent-args: extra `lantern run` options for every "with" phase (e.g. "--max-cpu-percent 20"); the
// section's heading says them, so the defaults' section is not replaced.
//
// Needs root (the agent loads BPF programs), nginx, wrk, Go (/usr/local/go/bin), for --tls openssl,
// and for --all-processes the Jaeger binary (bash scripts/build-test-tools.sh).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createReadStream, existsSync, mkdtempSync, readlinkSync, rmSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type Jaeger, jaegerBinaryPath, jaegerVersion, startJaeger } from '../test/helpers/jaeger.js';
import { type Nginx, nginxWithWorkerPids, startNginx } from '../test/helpers/nginx.js';
import { descendants } from '../test/helpers/procs.js';
import { type TlsCertificate, makeSelfSignedCertificate } from '../test/helpers/tls-cert.js';
import { machineBusyS, mainThreadCpuSeconds, preemptions, rssMiB, runQueueWaitS, treeCpuSeconds } from './proc.js';
import { writeResultsSection } from './results-file.js';
import { int, median } from './stats.js';
import { type LoadResult, type WrkResult, benchCommand, buildLoadgen, fixedRateArgs, runLoadgen, sectionPreamble, wrk } from './loadgen-tool.js';
import { agentNodeArgs } from './agent-process.js';


/** dist/benchmarks/nginx.js → repo root. */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LANTERN = join(ROOT, 'bin/lantern.js');
/** The only path the load is sent to: spans are counted by it. */
const PATH = '/lantern-bench';
const BODY = 'ok\n';
/** After the load ends, how long the agent gets to export what is queued (the span queue waits ≤ 1 s). */
const SETTLE_MS = 2000;
/** The agent at rest between start-up and load. */
const REST_MS = 1500;
const STOP_TIMEOUT_MS = 60_000;
/** Steps between the last lossless rate and the first lost one, each halving the interval. */
const REFINING_STEPS = 2;
/** A step counts as reached when the load tool achieved this share of the target rate. */
const REACHED = 0.97;

/** What differs between the cleartext and the HTTPS benchmark; everything else is one mechanism. */
interface Mode {
  /** The RESULTS.md heading. */
  section: string;
  /** url.scheme of the requests, and so of the server spans counted. */
  scheme: 'http' | 'https';
  /** The agent's --collectors; null: its default. */
  collectors: string | null;
  /** Extra arguments to loadgen. */
  loadgenArgs: readonly string[];
  /**
   * No --pid: every process is traced, loadgen included, so each request is two exchanges (its CLIENT
   * span and nginx's SERVER span). Only the fixed-rate part runs, once per sink.
   */
  allProcesses: boolean;
  /** Extra `lantern run` options (--agent-args). */
  extraAgentArgs?: readonly string[];
}

const MODES = {
  http: { section: '## nginx under load (protocol tracing overhead)', scheme: 'http', collectors: null, loadgenArgs: [], allProcesses: false },
  https: { section: '## nginx over HTTPS (TLS tracing overhead)', scheme: 'https', collectors: 'sockets,tls', loadgenArgs: ['-tls'], allProcesses: false },
  all: {
    section: '## Every process traced: nginx + a traced Go client, OTLP/gRPC to Jaeger and file',
    scheme: 'http', collectors: null, loadgenArgs: [], allProcesses: true,
  },
} as const satisfies Record<string, Mode>;

const agentArgs = (mode: Mode): string[] => [...(mode.collectors === null ? [] : ['--collectors', mode.collectors]), ...(mode.extraAgentArgs ?? [])];
/** Exchanges the agent sees per request: nginx's, and with every process traced loadgen's too. */
const exchangesPerRequest = (mode: Mode): number => (mode.allProcesses ? 2 : 1);

/** Where a "with" phase's agent sends its spans: its --otlp-file, a receiver, or both. */
interface Sink {
  /** The table column and log label. */
  name: string;
  /** OTLP/gRPC traces endpoint (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT); null: the file only. */
  tracesEndpoint: string | null;
  /** Spans also go to an --otlp-file (which the benchmark reads to count them); false: the receiver only. */
  file: boolean;
}

const FILE_SINK: Sink = { name: 'with agent', tracesEndpoint: null, file: true };

/**
 * The production path: traces over OTLP/gRPC to Jaeger. Traces only: with a base endpoint
 * (--otlp-endpoint) metrics would go over OTLP/HTTP to <base>/v1/metrics, and the helper's Jaeger has
 * no metrics pipeline (its /v1/metrics answers 404), so every metrics export would fail.
 */
const jaegerSink = (jaeger: Jaeger): Sink => ({ name: 'with agent: OTLP/gRPC to Jaeger + file', tracesEndpoint: jaeger.otlpGrpcEndpoint, file: true });
/** The production path alone, as a user runs it with a backend and no file: spans counted by what the receiver acknowledged. */
const jaegerOnlySink = (jaeger: Jaeger): Sink => ({ name: 'with agent: OTLP/gRPC to Jaeger only', tracesEndpoint: jaeger.otlpGrpcEndpoint, file: false });

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** A timer that does not keep the process alive (for timeouts raced against the real outcome). */
const deadline = (ms: number): Promise<'timeout'> => new Promise((r) => setTimeout(() => r('timeout'), ms).unref());

// --- tools -----------------------------------------------------------------------------------

/** One fixed-rate loadgen run against this phase's nginx. */
async function loadgen(bin: string, env: Env, rate: number, connections: number, seconds: number): Promise<LoadResult> {
  const args = [...fixedRateArgs(`127.0.0.1:${env.nginx.port}`, PATH, rate, seconds, connections), ...env.mode.loadgenArgs];
  return runLoadgen(bin, args);
}



/**
 * Loaded BPF programs named like the sockets collector's: another agent (another session's test run,
 * a `lantern run` without --pid) would trace nginx too and skew the figures. null when bpftool fails.
 */
function socketTracers(): number | null {
  try {
    const progs = JSON.parse(execFileSync('bpftool', ['prog', 'show', '-j'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20 })) as Array<{ name?: string }>;
    return progs.filter((p) => p.name === 'exit_recvfrom').length;
  } catch {
    return null;
  }
}

/** Phases during which more sockets programs were loaded than this benchmark's own agent. */
const foreignTracers: string[] = [];

/** The pid of this process's child running `exe` (the helper does not say Jaeger's pid). */
function ownChild(exe: string): number {
  const pid = descendants(process.pid).find((p) => {
    try {
      return readlinkSync(`/proc/${p}/exe`) === exe;
    } catch {
      return false;
    }
  });
  if (pid === undefined) throw new Error(`no child process runs ${exe}`);
  return pid;
}

// --- the agent -------------------------------------------------------------------------------

type Summary = Record<string, Record<string, unknown>>;

class AgentProcess {
  readonly #child: ChildProcess;
  readonly #exited: Promise<number | null>;
  #summary: Summary | null = null;
  readonly problems: string[] = [];
  /** ms from spawn to tracing sockets (the line `sockets: syscall tracepoints attached`, else an older agent's
   * `collector started` for sockets), and to the ready line. */
  readonly startup = { socketsMs: NaN, readyMs: NaN };

  private constructor(child: ChildProcess) {
    this.#child = child;
    this.#exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  /**
   * Starts the agent (every process when `pids` is empty) and resolves once it says it is writing the
   * span file (its last start-up step).
   */
  /** `file`: its --otlp-file, or null for none (then ready at `exporting over OTLP`, its last start-up line without a file). */
  static async start(pids: number[], file: string | null, extraArgs: readonly string[], env: Record<string, string> = {}): Promise<AgentProcess> {
    const args = agentNodeArgs(LANTERN, [...pids.flatMap((p) => ['--pid', String(p)]), '--port', '0', ...(file === null ? [] : ['--otlp-file', file]),
      '--log-format', 'json', ...extraArgs]);
    const readyLine = file === null ? 'exporting over OTLP' : 'writing OTLP JSON lines';
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
    const agent = new AgentProcess(child);
    const ready = new Promise<void>((resolve, reject) => {
      if (child.stderr === null) throw new Error('agent has no stderr');
      createInterface({ input: child.stderr }).on('line', (line) => {
        let rec: { level?: string; msg?: string; collector?: string; summary?: Summary };
        try {
          rec = JSON.parse(line) as typeof rec;
        } catch {
          agent.problems.push(line);
          return;
        }
        // Socket syscalls are traced from the tracepoints' line (an older agent, a baseline tree, has only the collector's).
        const tracing = rec.msg === 'sockets: syscall tracepoints attached' || (rec.msg === 'collector started' && rec.collector === 'sockets');
        if (tracing && Number.isNaN(agent.startup.socketsMs)) agent.startup.socketsMs = performance.now() - t0;
        if (rec.msg === readyLine) {
          agent.startup.readyMs = performance.now() - t0;
          resolve();
        }
        if (rec.msg === 'stopped' && rec.summary !== undefined) agent.#summary = rec.summary;
        if (rec.level === 'warn' || rec.level === 'error') agent.problems.push(line);
      });
      void agent.#exited.then((code) => reject(new Error(`agent exited (${code}) before it was ready:\n${agent.problems.join('\n')}`)));
    });
    if ((await Promise.race([ready, deadline(30_000)])) === 'timeout') {
      child.kill('SIGKILL');
      throw new Error(`agent not ready after 30 s:\n${agent.problems.join('\n')}`);
    }
    return agent;
  }

  get pid(): number {
    if (this.#child.pid === undefined) throw new Error('agent did not start');
    return this.#child.pid;
  }

  /** SIGTERM, then waits for it to flush and exit; resolves with its final self-stats. */
  async stop(): Promise<{ summary: Summary | null; exitCode: number | null; stopMs: number }> {
    const t0 = performance.now();
    this.#child.kill('SIGTERM');
    const code = await Promise.race([this.#exited, deadline(STOP_TIMEOUT_MS)]);
    if (code === 'timeout') {
      this.#child.kill('SIGKILL');
      await this.#exited;
      throw new Error(`agent did not exit within ${STOP_TIMEOUT_MS / 1000} s of SIGTERM`);
    }
    return { summary: this.#summary, exitCode: code, stopMs: performance.now() - t0 };
  }
}

interface SpanCount {
  /** nginx server spans for PATH. */
  server: number;
  /** Of those, the ones whose url.scheme is the mode's (https: the plaintext came through the TLS probes). */
  withScheme: number;
  /** loadgen client spans for PATH (only when every process is traced). */
  client: number;
  total: number;
  duplicates: number;
}

/**
 * Without a file, spans are what the receiver acknowledged (every process's: with every process
 * traced the file runs find no other spans than the benchmark's), not told apart by kind.
 */
function receiverOnlyCount(acknowledged: number): SpanCount {
  return { server: NaN, withScheme: NaN, client: NaN, total: acknowledged, duplicates: 0 };
}

async function countSpans(file: string, scheme: Mode['scheme']): Promise<SpanCount> {
  const out: SpanCount = { server: 0, withScheme: 0, client: 0, total: 0, duplicates: 0 };
  if (!existsSync(file)) return out;
  const seen = new Set<string>();
  interface Kv { key: string; value: { stringValue?: string } }
  interface Line { resourceSpans?: Array<{ scopeSpans?: Array<{ spans?: Array<{ spanId: string; kind: number; attributes?: Kv[] }> }> }> }
  for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
    if (line === '') continue;
    const req = JSON.parse(line) as Line;
    for (const rs of req.resourceSpans ?? []) {
      for (const ss of rs.scopeSpans ?? []) {
        for (const s of ss.spans ?? []) {
          out.total++;
          if (seen.has(s.spanId)) out.duplicates++;
          seen.add(s.spanId);
          const attr = (key: string): string | undefined => s.attributes?.find((a) => a.key === key)?.value.stringValue;
          // OTLP span kinds: 2 SERVER, 3 CLIENT (whose url.full is the whole URL).
          if (s.kind === 3 && (attr('url.path') === PATH || attr('url.full')?.includes(PATH) === true)) out.client++;
          if (s.kind !== 2 || attr('url.path') !== PATH) continue;
          out.server++;
          if (attr('url.scheme') === scheme) out.withScheme++;
        }
      }
    }
  }
  return out;
}

/** Non-zero self-stats counters that mean something was lost or went wrong. */
function lossCounters(summary: Summary | null): Record<string, number> {
  const out: Record<string, number> = {};
  if (summary === null) return { no_summary: 1 };
  const walk = (prefix: string, o: Record<string, unknown>): void => {
    for (const [k, v] of Object.entries(o)) {
      if (typeof v === 'object' && v !== null) walk(`${prefix}${k}.`, v as Record<string, unknown>);
      else if (typeof v === 'number' && v > 0 && /lost|dropped|gap|error|failure|malformed|unanswered|orphan|evicted|giveup|truncated|resync|invalid|shed/i.test(k)
        && !/histograms/.test(k)) {
        out[`${prefix}${k}`] = v;
      }
    }
  };
  walk('', summary);
  return out;
}

// --- one phase -------------------------------------------------------------------------------

interface AgentMeasure {
  /** Agent CPU over the load window, and over the settle period after it. */
  cpuLoadS: number;
  /** Of cpuLoadS, the main (JS) thread's. */
  mainThreadLoadS: number;
  /** Time the main (JS) thread waited for a CPU over the load window. */
  mainThreadWaitS: number;
  cpuSettleS: number;
  rssRestMiB: number;
  rssPeakMiB: number;
  spans: SpanCount;
  /** OpenSSL reads/writes of the traced pids that returned plaintext (self-stats; 0 without the tls collector). */
  tlsCalls: number;
  /** Spans the OTLP receiver acknowledged (self-stats export.traces.exported; NaN without one). */
  receiverSpans: number;
  startup: AgentProcess['startup'];
  losses: Record<string, number>;
  stopMs: number;
  problems: string[];
}

interface Phase<T> {
  withAgent: boolean;
  /** The agent's sink; null without the agent. */
  sink: Sink | null;
  /** Exchanges per request the agent could see (2 when loadgen is traced too). */
  exchangesPerRequest: number;
  load: T;
  /** Seconds the load lasted (the CPU window). */
  windowS: number;
  nginxCpuS: number;
  /** Preemptions of the nginx worker(s) over the window. */
  nginxPreemptions: number;
  /** Time the nginx worker(s) waited for a CPU over the window. */
  nginxWaitS: number;
  /** Every CPU's busy time over the window (all processes). */
  machineBusyS: number;
  /** Jaeger's CPU over the window (NaN when the run has no Jaeger). */
  receiverCpuS: number;
  agent: AgentMeasure | null;
}

interface Env {
  mode: Mode;
  nginx: Nginx;
  pids: number[];
  dir: string;
  /** The "with" variants, each paired with a "without" phase. */
  sinks: readonly Sink[];
  /** The run's Jaeger process (for its CPU); null without one. */
  receiverPid: number | null;
}

let phaseNo = 0;

/** Seconds still allowed, over the whole run, for waiting until the machine is quiet. */
let quietBudgetS = 60;
/** Phases that started on a busy machine. */
const busyStarts: string[] = [];

/**
 * Shared machines: before a phase, wait (within the run's budget) until the CPUs are mostly idle
 * (here nginx idles and nothing of ours runs), so that another session's burst is not measured.
 */
async function waitForQuiet(label: string): Promise<void> {
  const QUIET = 25; // % of one core busy, machine-wide, over half a second
  const sample = async (): Promise<number> => {
    const b0 = machineBusyS();
    await sleep(500);
    return ((machineBusyS() - b0) / 0.5) * 100;
  };
  let busy = await sample();
  if (busy <= QUIET) return;
  log(`machine busy (${fix(busy, 0)} % of one core) before ${label}: waiting for it to calm down`);
  while (busy > QUIET && quietBudgetS > 0) {
    quietBudgetS -= 0.5;
    busy = await sample();
  }
  if (busy > QUIET) busyStarts.push(`${label} (${fix(busy, 0)} % of one core busy at its start)`);
}

/** Runs `load` with a fresh agent exporting to `sink`, or without one (null), measuring CPU over its window. */
async function phase<T>(env: Env, sink: Sink | null, label: string, load: () => Promise<T>): Promise<Phase<T>> {
  const withAgent = sink !== null;
  const file = sink?.file === false ? null : join(env.dir, `spans-${++phaseNo}.jsonl`);
  const checkTracers = (own: number, when: string): void => {
    const n = socketTracers();
    if (n === null || n <= own) return;
    foreignTracers.push(`${label} (${when}: ${n} sockets programs loaded, ${own} of them ours)`);
    log(`warning: another socket tracer is loaded ${when} (${n} exit_recvfrom programs, ${own} ours): ${label} is skewed`);
  };
  await waitForQuiet(label);
  // Another session's agent may be running; wait (a while) for it to go rather than measure it.
  for (let i = 0; i < 60 && (socketTracers() ?? 0) > 0; i++) {
    if (i === 0) log('another socket tracer is loaded: waiting up to 30 s for it to go');
    await sleep(500);
  }
  const agent = sink === null ? null
    : await AgentProcess.start(env.mode.allProcesses ? [] : env.pids, file, agentArgs(env.mode),
      sink.tracesEndpoint === null ? {} : { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: sink.tracesEndpoint });
  try {
    await sleep(REST_MS);
    checkTracers(agent === null ? 0 : 1, 'before the load');
    const rssRest = agent === null ? NaN : rssMiB(agent.pid);
    let rssPeak = rssRest;
    const sampler = agent === null ? null : setInterval(() => (rssPeak = Math.max(rssPeak, rssMiB(agent.pid))), 200);
    const master = env.pids[0] ?? 0;
    const workers = env.pids.slice(1);
    const a0 = agent === null ? 0 : treeCpuSeconds(agent.pid);
    const m0 = agent === null ? 0 : mainThreadCpuSeconds(agent.pid);
    const n0 = treeCpuSeconds(master);
    const j0 = env.receiverPid === null ? NaN : treeCpuSeconds(env.receiverPid);
    const p0 = workers.reduce((s, w) => s + preemptions(w), 0);
    const w0 = workers.reduce((s, w) => s + runQueueWaitS(w), 0);
    const mw0 = agent === null ? 0 : runQueueWaitS(agent.pid);
    const b0 = machineBusyS();
    const t0 = performance.now();
    const result = await load();
    const b1 = machineBusyS();
    const windowS = (performance.now() - t0) / 1000;
    const n1 = treeCpuSeconds(master);
    const j1 = env.receiverPid === null ? NaN : treeCpuSeconds(env.receiverPid);
    const p1 = workers.reduce((s, w) => s + preemptions(w), 0);
    const w1 = workers.reduce((s, w) => s + runQueueWaitS(w), 0);
    const mw1 = agent === null ? 0 : runQueueWaitS(agent.pid);
    const a1 = agent === null ? 0 : treeCpuSeconds(agent.pid);
    const m1 = agent === null ? 0 : mainThreadCpuSeconds(agent.pid);
    checkTracers(agent === null ? 0 : 1, 'after the load');
    const common = {
      withAgent, sink, exchangesPerRequest: exchangesPerRequest(env.mode), load: result, windowS,
      nginxCpuS: n1 - n0, nginxPreemptions: p1 - p0, nginxWaitS: w1 - w0, machineBusyS: b1 - b0, receiverCpuS: j1 - j0,
    };
    if (agent === null) return { ...common, agent: null };
    await sleep(SETTLE_MS);
    const a2 = treeCpuSeconds(agent.pid);
    if (sampler !== null) clearInterval(sampler);
    rssPeak = Math.max(rssPeak, rssMiB(agent.pid));
    const stopped = await agent.stop();
    const receiverSpans = Number(stopped.summary?.export?.['traces.exported'] ?? NaN);
    const spans = file === null ? receiverOnlyCount(receiverSpans) : await countSpans(file, env.mode.scheme);
    if (file !== null) rmSync(file, { force: true });
    return {
      ...common,
      agent: {
        cpuLoadS: a1 - a0, mainThreadLoadS: m1 - m0, mainThreadWaitS: mw1 - mw0, cpuSettleS: a2 - a1, rssRestMiB: rssRest, rssPeakMiB: rssPeak, spans,
        tlsCalls: Number((stopped.summary?.collectors?.sockets as Record<string, unknown> | undefined)?.kernel_tls_calls ?? NaN),
        receiverSpans, startup: agent.startup,
        losses: lossCounters(stopped.summary), stopMs: stopped.stopMs, problems: agent.problems,
      },
    };
  } catch (e) {
    await agent?.stop().catch(() => undefined);
    throw e;
  }
}

// --- statistics and formatting ---------------------------------------------------------------

const fix = (n: number, d = 1): string => (Number.isNaN(n) ? '—' : n.toFixed(d));
const pct = (n: number): string => `${fix(n)} %`;
const signed = (n: number, d = 1): string => (Number.isNaN(n) ? '—' : `${n >= 0 ? '+' : ''}${n.toFixed(d)}`);
const lossText = (l: Record<string, number>): string =>
  Object.keys(l).length === 0 ? 'none' : Object.entries(l).map(([k, v]) => `${k}=${v}`).join(', ');

/** Exchanges the agent should have exported: every request's, once per traced side. */
const expectedSpans = (p: Phase<LoadResult>): number => p.load.count * p.exchangesPerRequest;
/** Spans for PATH in the agent's file: nginx's server spans, plus loadgen's client spans when it is traced. */
const exportedSpans = (p: Phase<LoadResult | WrkResult>): number =>
  (p.agent === null ? NaN : p.sink?.file === false ? p.agent.spans.total : p.agent.spans.server + p.agent.spans.client);
/** Agent CPU per exchange, tail (export after the window) included. */
const agentUsPerExchange = (p: Phase<LoadResult>): number =>
  p.agent === null ? NaN : ((p.agent.cpuLoadS + p.agent.cpuSettleS) / expectedSpans(p)) * 1e6;
const agentCorePct = (p: Phase<LoadResult | WrkResult>): number => (p.agent === null ? NaN : (p.agent.cpuLoadS / p.windowS) * 100);
const nginxCorePct = (p: Phase<LoadResult | WrkResult>): number => (p.nginxCpuS / p.windowS) * 100;
const nginxUsPerRequest = (p: Phase<LoadResult>): number => (p.nginxCpuS / p.load.count) * 1e6;
/** Every CPU's busy time over the window, % of one core (out of 100 × CPUs): shows other sessions' load too. */
const machinePct = (p: Phase<LoadResult | WrkResult>): number => (p.machineBusyS / p.windowS) * 100;
const lost = (p: Phase<LoadResult>): number => expectedSpans(p) - exportedSpans(p);
function modeOf(o: Options): Mode {
  const base: Mode = o.allProcesses ? MODES.all : o.tls ? MODES.https : MODES.http;
  if (o.agentArgs.length === 0) return base;
  return { ...base, section: `${base.section} — with \`lantern run ${o.agentArgs.join(' ')}\``, extraAgentArgs: o.agentArgs };
}
const loadToolCpuS = (p: Phase<LoadResult>): number => p.load.cpu_user_s + p.load.cpu_sys_s;

interface Options {
  /** HTTPS instead of cleartext HTTP. */
  tls: boolean;
  /** Every process traced, two sinks (MODES.all). */
  allProcesses: boolean;
  /** With allProcesses: also the OTLP/gRPC-to-Jaeger sink. */
  jaeger: boolean;
  rate: number;
  connections: number;
  duration: number;
  pairs: number;
  stepDuration: number;
  maxRate: number;
  wrkPairs: number;
  wrkDuration: number;
  /** Extra `lantern run` options for the "with" phases. */
  agentArgs: string[];
}

interface Results {
  opts: Options;
  fixed: Array<Phase<LoadResult>>;
  steps: Array<Phase<LoadResult>>;
  stepVerdict: string;
  wrk: Array<Phase<WrkResult>>;
  totalS: number;
}

/** Sum of f over the phases. */
const total = <T>(ps: ReadonlyArray<Phase<T>>, f: (p: Phase<T>) => number): number => ps.reduce((s, p) => s + f(p), 0);

/** The "with" phases of each sink, in the order they ran, with the sink's name. */
function bySink(ps: ReadonlyArray<Phase<LoadResult>>): Array<{ name: string; phases: Array<Phase<LoadResult>> }> {
  const names = [...new Set(ps.flatMap((p) => (p.sink === null ? [] : [p.sink.name])))];
  return names.map((name) => ({ name, phases: ps.filter((p) => p.sink?.name === name) }));
}

/** The phases export to a receiver alone: their spans are the acknowledged ones, no file to count. */
const withoutFile = (ps: ReadonlyArray<Phase<LoadResult>>): boolean => ps.some((p) => p.sink?.file === false);

/** Self-stats losses summed over phases. */
function lossesOf(ps: ReadonlyArray<Phase<LoadResult>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of ps) for (const [k, v] of Object.entries(p.agent?.losses ?? {})) out[k] = (out[k] ?? 0) + v;
  return out;
}

/** Spans the receiver acknowledged and spans in the file (every process's), over the phases; null without a receiver. */
function receiverCounts(ps: ReadonlyArray<Phase<LoadResult>>): { acknowledged: number; inFile: number } | null {
  if (!ps.some((p) => p.sink?.tracesEndpoint !== null)) return null;
  const inFile = withoutFile(ps) ? NaN : total(ps, (p) => p.agent?.spans.total ?? 0);
  return { acknowledged: total(ps, (p) => p.agent?.receiverSpans ?? NaN), inFile };
}

/** Rows only the every-process mode has: its client spans, its receiver, start-up. */
function allProcessesRows(
  row: (name: string, f: (p: Phase<LoadResult>) => number, fmt: (n: number) => string, delta?: 'abs' | 'rel') => string,
  agentRow: (name: string, cell: (ps: Array<Phase<LoadResult>>) => string) => string,
  withJaeger: boolean,
): string[] {
  const m = (ps: Array<Phase<LoadResult>>, f: (p: Phase<LoadResult>) => number): number => median(ps.map(f));
  return [
    row('load tool (loadgen, traced too) CPU per request, µs', (p) => (loadToolCpuS(p) / p.load.count) * 1e6, (n) => fix(n, 2), 'abs'),
    ...(withJaeger ? [row('Jaeger CPU (the receiver), % of one core', (p) => (p.receiverCpuS / p.windowS) * 100, pct, 'abs')] : []),
    agentRow(`exchanges expected (2 × requests) → spans for \`${PATH}\` exported: nginx SERVER + loadgen CLIENT (all runs)`, (ps) => {
      if (withoutFile(ps)) {
        return `${int(total(ps, expectedSpans))} → ${int(total(ps, exportedSpans))} acknowledged by the receiver, all processes (${int(total(ps, lost))} lost)`;
      }
      const server = total(ps, (p) => p.agent?.spans.server ?? 0);
      const client = total(ps, (p) => p.agent?.spans.client ?? 0);
      return `${int(total(ps, expectedSpans))} → ${int(server)} + ${int(client)} (${int(total(ps, lost))} lost)`;
    }),
    agentRow('spans the receiver acknowledged (agent self-stats `export.traces.exported`) / every span in the file, all processes (all runs)', (ps) => {
      const c = receiverCounts(ps);
      return c === null ? '— (no receiver)' : Number.isNaN(c.inFile) ? `${int(c.acknowledged)} / — (no file)` : `${int(c.acknowledged)} / ${int(c.inFile)}`;
    }),
    agentRow('start-up, ms: spawn → tracing sockets (`sockets: syscall tracepoints attached`) / → ready (`writing OTLP JSON lines`, without a file `exporting over OTLP`)', (ps) =>
      `${fix(m(ps, (p) => p.agent?.startup.socketsMs ?? NaN), 0)} / ${fix(m(ps, (p) => p.agent?.startup.readyMs ?? NaN), 0)}`),
    agentRow('agent self-stats: losses (summed over the runs)', (ps) => lossText(lossesOf(ps))),
  ];
}

function fixedTable(r: Results): string[] {
  const mode = modeOf(r.opts);
  const without = r.fixed.filter((p) => !p.withAgent);
  const groups = bySink(r.fixed);
  const m = (ps: Array<Phase<LoadResult>>, f: (p: Phase<LoadResult>) => number): number => median(ps.map(f));
  /** Measured with and without the agent: the without column, then per sink its value and how it differs. */
  const row = (name: string, f: (p: Phase<LoadResult>) => number, fmt: (n: number) => string, delta: 'abs' | 'rel' | 'none' = 'none'): string => {
    const a = m(without, f);
    const cells = groups.flatMap(({ phases }) => {
      const b = m(phases, f);
      return [fmt(b), delta === 'abs' ? signed(b - a) : delta === 'rel' ? `${signed(((b - a) / a) * 100)} %` : ''];
    });
    return `| ${name} | ${fmt(a)} | ${cells.join(' | ')} |`;
  };
  /** The agent's alone: one cell per sink. */
  const agentRow = (name: string, cell: (ps: Array<Phase<LoadResult>>) => string): string => `| ${name} | — | ${groups.map(({ phases }) => `${cell(phases)} | `).join('')}|`;
  const agentMedian = (name: string, f: (p: Phase<LoadResult>) => number, fmt: (n: number) => string): string => agentRow(name, (ps) => fmt(m(ps, f)));
  return [
    `| at the fixed rate (medians) | without agent | ${groups.map(({ name }) => `${name} | difference`).join(' | ')} |`,
    `|---|---:|${groups.map(() => '---:|---:|').join('')}`,
    row('achieved req/s', (p) => p.load.rate, int, 'rel'),
    row('latency p50, µs (request written → response read)', (p) => p.load.p50_us, (n) => fix(n, 0), 'abs'),
    row('latency p99, µs', (p) => p.load.p99_us, (n) => fix(n, 0), 'abs'),
    row('latency p99 from the scheduled send time, µs', (p) => p.load.sched_p99_us, (n) => fix(n, 0), 'abs'),
    row('nginx CPU (master+worker), % of one core', nginxCorePct, pct, 'abs'),
    row('nginx CPU per request, µs', nginxUsPerRequest, (n) => fix(n, 2), 'abs'),
    agentMedian('agent CPU (process tree) over the load window, % of one core', agentCorePct, pct),
    agentMedian('of which the agent\'s main (JS) thread, % of one core', (p) => ((p.agent?.mainThreadLoadS ?? NaN) / p.windowS) * 100, pct),
    agentMedian(`agent CPU per exchange (incl. export after the window${mode.allProcesses ? '; exchanges = 2 × requests' : ''}), µs`, agentUsPerExchange, (n) => fix(n, 1)),
    agentMedian('agent\'s main (JS) thread: time runnable but waiting for a CPU, % of the window', (p) => ((p.agent?.mainThreadWaitS ?? NaN) / p.windowS) * 100, pct),
    row('nginx worker preemptions (involuntary context switches) per 1,000 requests', (p) => (p.nginxPreemptions / p.load.count) * 1000, (n) => fix(n, 0), 'abs'),
    row('nginx worker: time runnable but waiting for a CPU, % of the window', (p) => (p.nginxWaitS / p.windowS) * 100, pct, 'abs'),
    row('load tool CPU, % of one core', (p) => (loadToolCpuS(p) / p.windowS) * 100, pct),
    ...(mode.scheme === 'https'
      ? [agentMedian('nginx\'s TLS reads/writes that returned plaintext, per request (agent self-stats: `kernel_tls_calls`)', (p) => (p.agent?.tlsCalls ?? NaN) / p.load.count, (n) => fix(n, 2))]
      : []),
    ...(mode.allProcesses
      ? allProcessesRows(row, agentRow, !Number.isNaN(m(without, (p) => p.receiverCpuS)))
      : [agentRow('requests made → nginx server spans exported (all runs)', (ps) =>
        `${int(total(ps, (p) => p.load.count))} → ${int(total(ps, exportedSpans))} (${int(total(ps, lost))} lost), `
          + `${int(total(ps, (p) => p.agent?.spans.withScheme ?? 0))} of them with url.scheme=${mode.scheme}`)]),
    agentRow('agent RSS at rest → peak under load, MiB', (ps) => `${fix(m(ps, (p) => p.agent?.rssRestMiB ?? NaN))} → ${fix(m(ps, (p) => p.agent?.rssPeakMiB ?? NaN))}`),
  ];
}

/** How a run is labelled: "with" when there is one sink, else the sink's name. */
const runLabel = (p: Phase<unknown>): string => (p.sink === null ? 'without' : p.sink === FILE_SINK ? 'with' : p.sink.name);

function fixedRuns(r: Results): string[] {
  return r.fixed.map((p, i) => {
    const base = `- run ${i + 1} ${runLabel(p)}: ${int(p.load.rate)} req/s (${int(p.load.count)} requests, ${p.load.errors} errors, ${p.load.reconnects} reconnects), `
      + `p50 ${fix(p.load.p50_us, 0)} µs, p99 ${fix(p.load.p99_us, 0)} µs, nginx ${pct(nginxCorePct(p))} (waiting for a CPU ${pct((p.nginxWaitS / p.windowS) * 100)}), `
      + `machine busy ${pct(machinePct(p))} of ${os.availableParallelism() * 100} % (tick-sampled, a noise indicator)`;
    if (p.agent === null) return base;
    const a = p.agent;
    const every = p.exchangesPerRequest === 1 ? ''
      : ` = ${int(a.spans.server)} server + ${int(a.spans.client)} client of ${int(expectedSpans(p))} expected; ${int(a.spans.total)} spans in the file (all processes), `
        + `${Number.isNaN(a.receiverSpans) ? 'no receiver' : `${int(a.receiverSpans)} acknowledged by the receiver`}; `
        + `start-up ${fix(a.startup.socketsMs, 0)} ms to sockets, ${fix(a.startup.readyMs, 0)} ms to ready`;
    return `${base}, agent ${pct(agentCorePct(p))} = ${fix(agentUsPerExchange(p))} µs/exchange (JS thread waiting for a CPU ${pct((a.mainThreadWaitS / p.windowS) * 100)}), spans ${int(exportedSpans(p))} `
      + `(${int(lost(p))} lost)${every}, RSS ${fix(a.rssRestMiB)} → ${fix(a.rssPeakMiB)} MiB, self-stats losses: ${lossText(a.losses)}`;
  });
}

function stepTable(r: Results): string[] {
  const rows = [
    '| target req/s | connections | achieved req/s | requests | spans exported | lost | agent CPU, % of one core | agent µs per request made | nginx CPU, % of one core | p99 µs | agent peak RSS MiB | agent self-stats: losses |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const p of r.steps) {
    rows.push(`| ${int(p.load.target_rate)} | ${p.load.connections} | ${int(p.load.rate)} | ${int(p.load.count)} | ${int(exportedSpans(p))} | ${int(lost(p))} | `
      + `${pct(agentCorePct(p))} | ${fix(agentUsPerExchange(p))} | ${pct(nginxCorePct(p))} | ${fix(p.load.p99_us, 0)} | ${fix(p.agent?.rssPeakMiB ?? NaN)} | ${lossText(p.agent?.losses ?? {})} |`);
  }
  return rows;
}

function wrkTable(r: Results): string[] {
  const rows = ['| pair | without agent, req/s | with agent, req/s | with / without | spans exported / wrk requests (with) | agent CPU, % of one core | agent self-stats: losses |', '|---:|---:|---:|---:|---:|---:|---|'];
  const ratios: number[] = [];
  for (let i = 0; i + 1 < r.wrk.length; i += 2) {
    const a = r.wrk[i];
    const b = r.wrk[i + 1];
    if (a === undefined || b === undefined) continue;
    ratios.push(b.load.rate / a.load.rate);
    const spans = exportedSpans(b);
    rows.push(`| ${i / 2 + 1} | ${int(a.load.rate)} | ${int(b.load.rate)} | ${fix(b.load.rate / a.load.rate, 3)} | `
      + `${int(spans)} / ${int(b.load.requests)} (${pct((spans / b.load.requests) * 100)}) | ${pct(agentCorePct(b))} | ${lossText(b.agent?.losses ?? {})} |`);
  }
  const without = median(r.wrk.filter((p) => !p.withAgent).map((p) => p.load.rate));
  const withA = median(r.wrk.filter((p) => p.withAgent).map((p) => p.load.rate));
  rows.push(`| **median** | **${int(without)}** | **${int(withA)}** | **${fix(withA / without, 3)}** (pairwise median ${fix(median(ratios), 3)}) | | | |`);
  return rows;
}

/** The commit measured, and whether the agent's sources differ from it. */
/** First line of a command's combined output, or `fallback`. */
function firstLine(cmd: string, fallback: string): string {
  try {
    return execFileSync('sh', ['-c', `${cmd} 2>&1`], { encoding: 'utf8' }).split('\n')[0]?.trim() || fallback;
  } catch (e) {
    return String((e as { stdout?: string }).stdout ?? '').split('\n')[0]?.trim() || fallback;
  }
}

function toolVersions(o: Options): string {
  const mode = modeOf(o);
  const nginx = firstLine('nginx -v', 'nginx').replace('nginx version: ', '');
  const wrkV = mode.allProcesses ? '' : `, ${firstLine('wrk -v', 'wrk').split(' ').slice(0, 2).join(' ')}`; // `wrk -v` exits 1 after its banner
  const go = firstLine('/usr/local/go/bin/go version', 'go').split(' ')[2] ?? 'go';
  const openssl = mode.scheme === 'https' ? `, ${firstLine('openssl version', 'OpenSSL').split(' ').slice(0, 2).join(' ')} (nginx's and wrk's libssl)` : '';
  const jaeger = mode.allProcesses && o.jaeger ? `, Jaeger ${jaegerVersion()} all-in-one (\`${jaegerBinaryPath()}\`)` : '';
  return `${nginx}${wrkV}, loadgen built with ${go}${openssl}${jaeger}`;
}

/** What the HTTPS runs do differently, for the section's method paragraph. */
function tlsMethod(r: Results): string[] {
  const negotiated = [...new Set([...r.fixed, ...r.steps].map((p) => p.load.tls).filter((t) => t !== undefined))].join(', ') || 'unknown';
  const all = [...r.fixed, ...r.steps, ...r.wrk].filter((p) => p.agent !== null);
  const spans = all.reduce((s, p) => s + (p.agent?.spans.server ?? 0), 0);
  const https = all.reduce((s, p) => s + (p.agent?.spans.withScheme ?? 0), 0);
  return [
    'Over HTTPS: nginx listens with `ssl` (a self-signed P-256 certificate from `test/helpers/tls-cert.ts`, `ssl_protocols TLSv1.2 TLSv1.3`);',
    `loadgen runs with \`-tls\` (Go crypto/tls, certificate not verified, negotiated ${negotiated}): each keep-alive connection makes its one`,
    'handshake when dialled, before the schedule starts, so no measured exchange includes a handshake; wrk gets the `https://` URL',
    '(its own OpenSSL, one handshake per connection). The agent sees the plaintext through uprobes on libssl\'s SSL_read/SSL_write',
    '(and their `_ex` forms, SSL_do_handshake, SSL_free); they are attached to the system libssl, for every process that maps it,',
    'and other processes\' calls stop in the BPF pid filter: so wrk, which uses the same libssl, pays the uprobe traps (not the',
    'tracing) on its own calls with the agent running, while the Go loadgen does not. A span counts only if the exchange came',
    `through the TLS probes: **${int(https)} of the ${int(spans)} nginx server spans for \`${PATH}\` over every "with" phase carry url.scheme=https.**`,
    '',
  ];
}

/** What every section opens with: the heading, what ran, when, where, with what. */
function preamble(command: string, r: Results): string[] {
  return [
    ...sectionPreamble(modeOf(r.opts).section, command, [
      `Tools: ${toolVersions(r.opts)}`,
      `Total run time: ${Math.round(r.totalS)} s; nothing pinned (nginx, the agent and the load tool share the CPUs, as on a node)`,
    ]),
    `nginx 1 worker (\`test/helpers/nginx.ts\`, access log off) answers \`GET ${PATH}\` with \`return 200 "ok\\n"\` (3-byte body) on loopback${modeOf(r.opts).scheme === 'https' ? ' over HTTPS' : ''}.`,
  ];
}

/** The load tool and the shared machine, for the method paragraph. */
const LOAD_AND_MACHINE = [
  'The fixed-rate load is `benchmarks/loadgen` (Go): each keep-alive connection sends on its own fixed schedule, one request',
  'in flight, open-loop (late requests are sent at once, the schedule does not slip); latency is request written → response',
  'read, and "from the scheduled send time" includes waiting behind a slow exchange (Go timers wake at ~1 ms granularity,',
  'so that figure carries up to ~1 ms of timer slack by construction). The machine is shared: before each phase the benchmark',
  'waits (60 s at most over the whole run) for the CPUs to be idle and for other sessions\' socket tracers to be unloaded,',
  'and flags the phases where that did not hold; "machine busy" per run is /proc/stat, a tick-sampled noise indicator.',
  '',
];

/** Phases measured on a machine that was not as it should be. */
function machineWarnings(): string[] {
  return [
    ...(foreignTracers.length === 0 ? [] : [`**Warning: another socket tracer was loaded during ${foreignTracers.join('; ')}.**`, '']),
    ...(busyStarts.length === 0 ? [] : [`**Warning: the machine was busy with other work when these phases started: ${busyStarts.join('; ')}.**`, '']),
  ];
}

function section(command: string, r: Results): string {
  const o = r.opts;
  const mode = modeOf(o);
  if (mode.allProcesses) return allProcessesSection(command, r);
  const withF = r.fixed.filter((p) => p.withAgent);
  const us = median(withF.map(agentUsPerExchange));
  const nginxDelta = median(withF.map(nginxUsPerRequest)) - median(r.fixed.filter((p) => !p.withAgent).map(nginxUsPerRequest));
  const wrkRatio = median(r.wrk.filter((p) => p.withAgent).map((p) => p.load.rate)) / median(r.wrk.filter((p) => !p.withAgent).map((p) => p.load.rate));
  const allRss = [...r.fixed, ...r.steps, ...r.wrk].map((p) => p.agent?.rssPeakMiB ?? NaN).filter((x) => !Number.isNaN(x));
  return [
    ...preamble(command, r),
    `The agent (\`bin/lantern.js run --pid <master> --pid <worker> --port 0 --otlp-file F --log-format json${agentArgs(mode).map((a) => ` ${a}`).join('')}\`, local mode,`,
    `${mode.collectors === null ? 'default collectors' : `collectors ${mode.collectors}`}) traces **nginx's two pids only**: the load tool is not traced, so it makes no client spans and its own`,
    'syscalls do not run the BPF programs\' work. It is started fresh for every "with" phase, left at rest for',
    `${REST_MS / 1000} s, then loaded; after the load it gets ${SETTLE_MS / 1000} s to export, is stopped with SIGTERM and its span file is read after`,
    `it exited: spans counted are nginx SERVER spans whose \`url.path\` is \`${PATH}\` (the file's OTLP JSON encoding is part of the`,
    'agent\'s CPU: it is the span sink here). CPU is utime+stime from /proc/<pid>/stat',
    '(agent: its process tree; nginx: master+worker, where the BPF programs\' cost is billed) over the load window;',
    `"agent µs/exchange" adds the agent's CPU in the ${SETTLE_MS / 1000} s after the window (the span queue exports up to 1 s late).`,
    ...LOAD_AND_MACHINE,
    ...(mode.scheme === 'https' ? tlsMethod(r) : []),
    `### Fixed rate: ${int(o.rate)} req/s, ${o.connections} connections, ${o.duration} s — ${o.pairs} pairs, without/with alternating`,
    '',
    ...fixedTable(r),
    '',
    ...fixedRuns(r),
    '',
    `**At ${int(o.rate)} req/s the agent used ${fix(us)} µs of CPU per exchange (≈ ${int(1e6 / us)} exchanges/s per core if nothing else limited it); `
      + `nginx's own CPU per request changed by ${signed(nginxDelta, 2)} µs; ${int(total(withF, lost))} of ${int(total(withF, expectedSpans))} exchanges were not exported.**`,
    '',
    `### Highest rate with no exchange lost (step search: doubling from 5,000 req/s, then after the first loss two steps, each halfway across the interval left; ${o.stepDuration} s per step, with the agent; connections = max(10, rate/1000))`,
    '',
    ...stepTable(r),
    '',
    `**${r.stepVerdict}**`,
    '',
    `### Saturation: \`wrk -t1 -c16 -d${o.wrkDuration}s ${mode.scheme}://…\`, without/with alternating (A B A B …), ${r.wrk.length / 2} pairs`,
    '',
    ...wrkTable(r),
    '',
    `**With the agent, nginx served ${fix(wrkRatio * 100)} % of its throughput without it (${signed((wrkRatio - 1) * 100)} %).**`,
    '',
    ...machineWarnings(),
    '### Memory',
    '',
    `Agent VmRSS at rest (${REST_MS / 1000} s after start-up): median ${fix(median([...r.fixed, ...r.steps, ...r.wrk].map((p) => p.agent?.rssRestMiB ?? NaN)))} MiB; `
      + `peak under load at ${int(o.rate)} req/s: median ${fix(median(withF.map((p) => p.agent?.rssPeakMiB ?? NaN)))} MiB; `
      + `highest peak over every phase (steps and wrk included): ${fix(Math.max(...allRss))} MiB.`,
    '',
  ].join('\n');
}

/** --all-processes: the agent as a user runs it, three sinks (one without Jaeger), fixed rate only. */
function allProcessesSection(command: string, r: Results): string {
  const o = r.opts;
  const groups = bySink(r.fixed);
  const ms = (ps: Array<Phase<LoadResult>>, f: (s: AgentProcess['startup']) => number): string => fix(median(ps.map((p) => (p.agent === null ? NaN : f(p.agent.startup)))), 0);
  const verdicts = groups.map(({ name, phases }) => {
    const c = receiverCounts(phases);
    const noFile = withoutFile(phases);
    return `**${name.replace(/^with agent: /, '')}: ${fix(median(phases.map(agentUsPerExchange)))} µs of agent CPU per exchange**, `
      + `${int(total(phases, lost))} of ${int(total(phases, expectedSpans))} exchanges ${noFile ? 'not acknowledged by the receiver' : 'not in the file'}, `
      + (c === null || noFile ? '' : `${int(c.inFile - c.acknowledged)} of the file's ${int(c.inFile)} spans not acknowledged by the receiver, `)
      + `start-up ${ms(phases, (s) => s.socketsMs)} ms to tracing sockets (${ms(phases, (s) => s.readyMs)} ms to ready)`;
  });
  const viaJaeger = o.jaeger ? [
    `(a) **OTLP/gRPC to Jaeger + file** (the production path): the agent also gets \`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://127.0.0.1:<port>\`,`,
    `the OTLP/gRPC receiver of one Jaeger ${jaegerVersion()} all-in-one for the whole run (\`test/helpers/jaeger.ts\`, the binary the e2e tests use,`,
    'in-memory storage of up to 100,000 traces; idle in the other phases, and traced too). Every span goes to both destinations.',
    'Traces only: with `--otlp-endpoint` metrics would go over OTLP/HTTP to `<endpoint>/v1/metrics`, and this Jaeger has no',
    'metrics pipeline (its `/v1/metrics` answers 404), so the metrics export would fail; the histograms still go to the file.',
    '**Spans at the receiver are counted by the agent\'s self-stats `export.traces.exported`** (spans of the Export calls Jaeger',
    'acknowledged, read from the agent\'s final `stopped` summary), against every span in the file: Jaeger\'s own',
    '`otelcol_receiver_accepted_spans` is not available, as the helper\'s config turns Jaeger\'s telemetry off.',
    '(b) **OTLP/gRPC to Jaeger only**: the same receiver and no `--otlp-file`, as a user with a backend runs the agent; its spans are',
    'the acknowledged ones (every process\'s, not told apart by kind: in the file runs no other process adds any), and it is ready at',
    'its log line `exporting over OTLP`.',
  ] : [];
  return [
    ...preamble(command, r),
    'The agent runs as a user runs it, with its defaults: `bin/lantern.js run --port 0 --otlp-file F --log-format json`,',
    '**no `--pid`: every process is traced** (nginx, loadgen, Jaeger, this benchmark, anything else running), default collectors.',
    'So loadgen is traced too and **each request is two exchanges**: loadgen\'s CLIENT span and nginx\'s SERVER span;',
    `"agent µs/exchange" divides the agent's CPU (process tree, over the load window plus the ${SETTLE_MS / 1000} s after it, as the span`,
    'queue exports up to 1 s late) by **2 × requests**, and spans counted are SERVER spans (kind 2) whose `url.path` is',
    `\`${PATH}\` plus CLIENT spans (kind 3) whose \`url.path\` is \`${PATH}\` (or whose \`url.full\` contains it). The BPF programs' cost`,
    `is billed to the traced processes: nginx and loadgen. ${o.jaeger ? 'Three sinks' : 'One sink'}, each in its own "with" phases:`,
    ...viaJaeger,
    `(${o.jaeger ? 'c' : 'a'}) **file only**: \`--otlp-file\` alone (local mode).`,
    `Each pair is a phase without the agent then one with it, for each sink in turn; the "without agent" column is the median of every`,
    'phase without it, and each difference is against it. The agent is started fresh for every "with" phase, left at rest',
    `for ${REST_MS / 1000} s, then loaded; after the load it gets ${SETTLE_MS / 1000} s to export, is stopped with SIGTERM and its span file is read after it`,
    'exited. Start-up is measured from spawning the agent to its JSON log line `sockets: syscall tracepoints attached` (tracing',
    'sockets; the TLS probes are attached after it, each file logged), and to `writing OTLP JSON lines` (its last start-up line, what the benchmark waits for); medians over the',
    '"with" phases. No step search and no wrk phase in this mode.',
    ...LOAD_AND_MACHINE,
    `### Fixed rate: ${int(o.rate)} req/s, ${o.connections} connections, ${o.duration} s — ${o.pairs} pairs per sink, without/with alternating`,
    '',
    ...fixedTable(r),
    '',
    ...fixedRuns(r),
    '',
    `At ${int(o.rate)} req/s with every process traced: ${verdicts.join('; ')}.`,
    '',
    ...machineWarnings(),
  ].join('\n');
}

// --- main ------------------------------------------------------------------------------------

function options(): Options {
  const { values } = parseArgs({
    options: {
      tls: { type: 'boolean' }, 'all-processes': { type: 'boolean' }, jaeger: { type: 'string' }, rate: { type: 'string' }, connections: { type: 'string' }, duration: { type: 'string' }, pairs: { type: 'string' },
      'step-duration': { type: 'string' }, 'max-rate': { type: 'string' }, 'wrk-pairs': { type: 'string' }, 'wrk-duration': { type: 'string' },
      'agent-args': { type: 'string' },
    },
  });
  const numbers = {
    rate: Number(values.rate ?? 10_000),
    connections: Number(values.connections ?? 10),
    duration: Number(values.duration ?? 10),
    pairs: Number(values.pairs ?? 3),
    stepDuration: Number(values['step-duration'] ?? 5),
    maxRate: Number(values['max-rate'] ?? 80_000),
    wrkPairs: Number(values['wrk-pairs'] ?? 3),
    wrkDuration: Number(values['wrk-duration'] ?? 5),
  };
  for (const [k, v] of Object.entries(numbers)) if (!(Number.isInteger(v) && v > 0)) throw new RangeError(`--${k} must be a positive whole number`);
  const allProcesses = values['all-processes'] === true;
  if (allProcesses && values.tls === true) throw new RangeError('--all-processes measures cleartext HTTP: leave out --tls');
  if (values.jaeger !== undefined && (!allProcesses || !['on', 'off'].includes(values.jaeger))) throw new RangeError('--jaeger on|off goes with --all-processes');
  const agentArgs = (values['agent-args'] ?? '').split(/\s+/).filter(Boolean);
  return { tls: values.tls === true, allProcesses, jaeger: values.jaeger !== 'off', agentArgs, ...numbers };
}

const log = (msg: string): void => void process.stderr.write(`[nginx bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

async function measure(env: Env, bin: string, o: Options): Promise<Omit<Results, 'totalS'>> {
  log(`warm-up: ${o.rate} req/s for 2 s, no agent`);
  await loadgen(bin, env, o.rate, o.connections, 2);

  const fixed: Array<Phase<LoadResult>> = [];
  for (let i = 0; i < o.pairs; i++) {
    for (const sink of env.sinks) {
      for (const s of [null, sink]) {
        const p = await phase(env, s, `fixed-rate run ${fixed.length + 1} (${s === null ? 'without' : s.name})`,
          () => loadgen(bin, env, o.rate, o.connections, o.duration));
        fixed.push(p);
        log(fixedRuns({ opts: o, fixed: [p], steps: [], stepVerdict: '', wrk: [], totalS: 0 })[0]?.replace(/^- run 1/, `fixed pair ${i + 1}`) ?? '');
        for (const line of p.agent?.problems ?? []) log(`  agent said: ${line}`);
      }
    }
  }
  if (env.mode.allProcesses) return { opts: o, fixed, steps: [], stepVerdict: '', wrk: [] };

  const steps: Array<Phase<LoadResult>> = [];
  const step = async (rate: number): Promise<{ p: Phase<LoadResult>; lossless: boolean; reached: boolean }> => {
    const conns = Math.max(10, Math.ceil(rate / 1000));
    const p = await phase(env, FILE_SINK, `step ${int(rate)} req/s`, () => loadgen(bin, env, rate, conns, o.stepDuration));
    steps.push(p);
    log(`step ${rate} req/s: achieved ${int(p.load.rate)}, requests ${p.load.count}, spans ${exportedSpans(p)} `
      + `(url.scheme=${env.mode.scheme}: ${p.agent?.spans.withScheme}), lost ${lost(p)}, `
      + `agent ${pct(agentCorePct(p))}, losses: ${lossText(p.agent?.losses ?? {})}`);
    for (const line of p.agent?.problems ?? []) log(`  agent said: ${line}`);
    return { p, lossless: lost(p) === 0, reached: p.load.rate >= REACHED * rate && p.load.errors === 0 };
  };
  // Doubling from 5,000 req/s; after the first loss, halving the interval between the last lossless
  // step and the lowest lost one, twice (to the nearest 1,000): 40k lossless and 80k lost try 60k,
  // then 50k or 70k (one halving never tried the issue's 50k).
  let stepVerdict = '';
  let best = 0;
  for (let rate = 5000; rate <= o.maxRate; rate *= 2) {
    const r = await step(rate);
    if (!r.lossless) {
      let refined = '';
      for (let i = 0, lostAt = rate; i < REFINING_STEPS && best > 0; i++) {
        const mid = Math.round((best + lostAt) / 2 / 1000) * 1000;
        if (mid <= best || mid >= lostAt) break;
        const m = await step(mid);
        if (m.lossless && m.reached) best = mid;
        else lostAt = mid;
        refined += m.lossless ? (m.reached ? ` none lost at ${int(mid)} req/s;` : ` ${int(mid)} req/s not reached;`) : ` ${int(lost(m.p))} lost at ${int(mid)} req/s;`;
        if (m.lossless && !m.reached) break;
      }
      stepVerdict = `First loss at ${int(rate)} req/s (${int(lost(r.p))} of ${int(r.p.load.count)} exchanges not exported);${refined} `
        + (best > 0 ? `highest rate with none lost: ${int(best)} req/s (one run per step).` : 'no step was lossless.');
      break;
    }
    if (!r.reached) {
      stepVerdict = `The load tool reached only ${int(r.p.load.rate)} of ${int(rate)} req/s with the agent (${r.p.load.errors} errors), with none lost; `
        + `highest rate reached with none lost: ${int(best)} req/s.`;
      break;
    }
    best = rate;
    stepVerdict = `No exchange lost up to ${int(best)} req/s, the highest step tried (--max-rate).`;
  }

  const wrkRuns: Array<Phase<WrkResult>> = [];
  for (let i = 0; i < o.wrkPairs; i++) {
    for (const withAgent of [false, true]) {
      const p = await phase(env, withAgent ? FILE_SINK : null, `wrk pair ${i + 1} (${withAgent ? 'with' : 'without'})`, () => wrk(`${env.mode.scheme}://127.0.0.1:${env.nginx.port}${PATH}`, o.wrkDuration));
      wrkRuns.push(p);
      log(`wrk pair ${i + 1} ${withAgent ? 'with' : 'without'}: ${int(p.load.rate)} req/s, ${p.load.requests} requests`
        + (p.agent === null ? '' : `, spans ${p.agent.spans.server} (url.scheme=${env.mode.scheme}: ${p.agent.spans.withScheme}), agent ${pct(agentCorePct(p))}, losses: ${lossText(p.agent.losses)}`)
        + (p.load.errors === null ? '' : `, ${p.load.errors}`));
    }
  }
  return { opts: o, fixed, steps, stepVerdict, wrk: wrkRuns };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root: the agent loads BPF programs');
  const o = options();
  const t0 = performance.now();
  const mode = modeOf(o);
  const bin = buildLoadgen();
  const cert: TlsCertificate | undefined = o.tls ? makeSelfSignedCertificate() : undefined;
  const dir = mkdtempSync(join(os.tmpdir(), 'lantern-nginx-bench-'));
  let results: Omit<Results, 'totalS'>;
  let jaeger: Jaeger | null = null;
  try {
    const nginx = await startNginx({ locations: `location = ${PATH} { return 200 "${BODY.replace('\n', '\\n')}"; }`, ...(cert === undefined ? {} : { tls: cert }) });
    try {
      const pids = await nginxWithWorkerPids(nginx);
      log(`nginx on ${mode.scheme}://127.0.0.1:${nginx.port}, pids ${pids.join(', ')}`);
      jaeger = mode.allProcesses && o.jaeger ? await startJaeger() : null;
      const fileSink = mode.allProcesses ? { name: 'with agent: file only', tracesEndpoint: null, file: true } : FILE_SINK;
      const sinks = jaeger === null ? [fileSink] : [jaegerSink(jaeger), jaegerOnlySink(jaeger), fileSink];
      if (jaeger !== null) log(`Jaeger: OTLP/gRPC on ${jaeger.otlpGrpcEndpoint}`);
      results = await measure({ mode, nginx, pids, dir, sinks, receiverPid: jaeger === null ? null : ownChild(jaegerBinaryPath()) }, bin, o);
    } finally {
      await jaeger?.stop();
      await nginx.stop();
      rmSync(dirname(nginx.root), { recursive: true, force: true }); // the helper leaves its prefix behind
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    cert?.remove();
  }
  const command = benchCommand('dist/benchmarks/nginx.js');
  const text = section(command, { ...results, totalS: (performance.now() - t0) / 1000 });
  console.log(text);
  writeResultsSection(mode.section, text);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
