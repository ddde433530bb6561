// A real Jaeger (all-in-one, in-memory storage) as the OTLP receiver for end-to-end tests.
//
// The binary is Jaeger's "v2" all-in-one (an OpenTelemetry Collector distribution), pinned by
// test/e2e-tools/go.mod and built by scripts/build-test-tools.sh into a cache directory that
// survives across runs: ${LANTERN_TOOLS_CACHE:-/var/cache/lantern-test-tools}/jaeger-<version>.
// (LANTERN_JAEGER_BIN points at another binary instead.) It takes a collector-style YAML config;
// startJaeger() writes one into a temporary directory with every listener on a free loopback port.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../../../' : '../../', import.meta.url));
const toolsModule = join(repoRoot, 'test', 'e2e-tools', 'go.mod');
export const buildCommand = 'bash scripts/build-test-tools.sh';

/** The Jaeger version test/e2e-tools/go.mod pins, without the leading "v" (e.g. "1.76.0"). */
export function jaegerVersion(): string {
  const m = /^\s*github\.com\/jaegertracing\/jaeger v(\S+)/m.exec(readFileSync(toolsModule, 'utf8'));
  if (!m?.[1]) throw new Error(`no github.com/jaegertracing/jaeger requirement in ${toolsModule}`);
  return m[1];
}

/** Where the Jaeger binary is expected: $LANTERN_JAEGER_BIN, else the tools cache. */
export function jaegerBinaryPath(): string {
  if (process.env.LANTERN_JAEGER_BIN) return process.env.LANTERN_JAEGER_BIN;
  const cache = process.env.LANTERN_TOOLS_CACHE || '/var/cache/lantern-test-tools';
  return join(cache, `jaeger-${jaegerVersion()}`);
}

export type JaegerTagValue = string | number | boolean;

export interface JaegerReference {
  refType: 'CHILD_OF' | 'FOLLOWS_FROM';
  traceID: string;
  spanID: string;
}

export interface JaegerLog {
  /** Unix microseconds. */
  timestamp: number;
  fields: Record<string, JaegerTagValue>;
}

export interface JaegerProcess {
  serviceName: string;
  /** The OTLP resource attributes other than service.name. */
  tags: Record<string, JaegerTagValue>;
}

export interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references: JaegerReference[];
  /** Unix microseconds. */
  startTime: number;
  /** Microseconds. */
  duration: number;
  /** Span attributes, plus what Jaeger derives from OTLP (span.kind, otel.scope.name, otel.status_code, ...). */
  tags: Record<string, JaegerTagValue>;
  logs: JaegerLog[];
  process: JaegerProcess;
  warnings: string[];
}

export interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
}

export interface TraceQuery {
  operation?: string;
  /** Most traces returned (Jaeger's default: 100). */
  limit?: number;
  /** How far back to look (default one hour). */
  lookbackMs?: number;
}

export interface Jaeger {
  /** OTLP/gRPC receiver, e.g. for OTLPTraceExporter({ url }). */
  otlpGrpcEndpoint: string;
  /** OTLP/HTTP receiver base URL (POST /v1/traces under it). */
  otlpHttpEndpoint: string;
  /** Query service HTTP API (and UI) base URL. */
  queryUrl: string;
  services(): Promise<string[]>;
  traces(service: string, opts?: TraceQuery): Promise<JaegerTrace[]>;
  /** One trace by id (hex); undefined when Jaeger does not have it. */
  trace(traceId: string): Promise<JaegerTrace | undefined>;
  /** Polls traces(service) until predicate holds for the result; rejects after timeoutMs with what was last seen. */
  waitForTraces(service: string, predicate: (traces: JaegerTrace[]) => boolean, timeoutMs?: number, opts?: TraceQuery): Promise<JaegerTrace[]>;
  /** What Jaeger has written to stderr (its log) so far. */
  logs(): string;
  stop(): Promise<void>;
}

export interface StartJaegerOptions {
  /** How long to wait for Jaeger to report healthy (default 30 s). */
  startTimeoutMs?: number;
}

interface Ports {
  otlpGrpc: number;
  otlpHttp: number;
  queryHttp: number;
  queryGrpc: number;
  health: number;
}

/** Free loopback ports, all held open at once so they are distinct, then released for Jaeger. */
async function freePorts(n: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < n; i++) {
      const s = createServer();
      servers.push(s);
      s.listen(0, '127.0.0.1');
      await once(s, 'listening');
      const addr = s.address();
      if (addr === null || typeof addr === 'string') throw new Error('listening on port 0 gave no port');
      ports.push(addr.port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}

function configYaml(p: Ports): string {
  const at = (port: number): string => `127.0.0.1:${port}`;
  return `# Written by test/helpers/jaeger.ts: Jaeger all-in-one, in-memory storage, loopback ports only.
service:
  extensions: [jaeger_storage, jaeger_query, healthcheckv2]
  pipelines:
    traces:
      receivers: [otlp]
      processors: []
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: info
extensions:
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 100000
  jaeger_query:
    storage:
      traces: memstore
    # On by default in v2: Jaeger would trace itself to localhost:4317 (and stall its shutdown).
    enable_tracing: false
    http:
      endpoint: ${at(p.queryHttp)}
    grpc:
      endpoint: ${at(p.queryGrpc)}
  healthcheckv2:
    use_v2: true
    http:
      endpoint: ${at(p.health)}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: ${at(p.otlpGrpc)}
      http:
        endpoint: ${at(p.otlpHttp)}
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function getJson(url: string): Promise<unknown> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  const body = await res.text();
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}: ${body.slice(0, 500)}`);
  return JSON.parse(body) as unknown;
}

// The query API's JSON (Jaeger's UI model).
interface RawKV {
  key: string;
  type: string;
  value: JaegerTagValue;
}
interface RawSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references?: JaegerReference[] | null;
  startTime: number;
  duration: number;
  tags?: RawKV[] | null;
  logs?: Array<{ timestamp: number; fields?: RawKV[] | null }> | null;
  processID: string;
  warnings?: string[] | null;
}
interface RawTrace {
  traceID: string;
  spans: RawSpan[];
  processes: Record<string, { serviceName: string; tags?: RawKV[] | null }>;
}
interface RawResponse<T> {
  data: T | null;
  errors?: Array<{ code: number; msg: string }> | null;
}

const kvs = (list: RawKV[] | null | undefined): Record<string, JaegerTagValue> => Object.fromEntries((list ?? []).map((kv) => [kv.key, kv.value]));

function toTrace(raw: RawTrace): JaegerTrace {
  return {
    traceID: raw.traceID,
    spans: raw.spans.map((s) => {
      const proc = raw.processes[s.processID];
      return {
        traceID: s.traceID,
        spanID: s.spanID,
        operationName: s.operationName,
        references: s.references ?? [],
        startTime: s.startTime,
        duration: s.duration,
        tags: kvs(s.tags),
        logs: (s.logs ?? []).map((l) => ({ timestamp: l.timestamp, fields: kvs(l.fields) })),
        process: { serviceName: proc?.serviceName ?? '', tags: kvs(proc?.tags) },
        warnings: s.warnings ?? [],
      };
    }),
  };
}

function dataOf<T>(url: string, body: unknown): T {
  const r = body as RawResponse<T>;
  if (r.errors && r.errors.length > 0) throw new Error(`GET ${url}: ${r.errors.map((e) => `${e.code} ${e.msg}`).join('; ')}`);
  return r.data as T;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function killOnExit(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // A test that dies before its teardown must not leave Jaeger behind.
    process.once('exit', () => {
      for (const c of running) c.kill('SIGKILL');
    });
  }
}

export async function startJaeger(opts: StartJaegerOptions = {}): Promise<Jaeger> {
  const bin = jaegerBinaryPath();
  try {
    accessSync(bin, constants.X_OK);
  } catch {
    throw new Error(`the Jaeger binary ${bin} is missing (or not executable): build it with \`${buildCommand}\` (run by \`bash scripts/setup.sh --test\`)`);
  }
  // Ports are free when picked but released before Jaeger binds them; on the rare collision, retry.
  let lastError: Error | undefined;
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      return await launch(bin, opts.startTimeoutMs ?? 30_000);
    } catch (e) {
      lastError = e as Error;
      if (!/address already in use/i.test(lastError.message)) throw lastError;
    }
  }
  throw lastError;
}

async function launch(bin: string, startTimeoutMs: number): Promise<Jaeger> {
  const [otlpGrpc, otlpHttp, queryHttp, queryGrpc, health] = (await freePorts(5)) as [number, number, number, number, number];
  const ports: Ports = { otlpGrpc, otlpHttp, queryHttp, queryGrpc, health };
  const dir = mkdtempSync(join(tmpdir(), 'lantern-jaeger-'));
  const configPath = join(dir, 'config.yaml');
  writeFileSync(configPath, configYaml(ports));

  // Nothing of the test's own OTLP set-up (OTEL_EXPORTER_OTLP_ENDPOINT, ...) may steer Jaeger.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_')));
  const child = spawn(bin, ['--config', `file:${configPath}`], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  killOnExit(child);
  let output = '';
  const keep = (d: Buffer): void => {
    output += d.toString();
    if (output.length > 1_000_000) output = output.slice(-500_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  void exited.then((e) => (exit = e));
  let spawnError: Error | undefined;
  child.once('error', (e) => (spawnError = e));

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (exit === undefined && spawnError === undefined) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(killer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  // Ready when the health check says every component is up and the query API answers.
  const healthUrl = `http://127.0.0.1:${ports.health}/status`;
  const queryUrl = `http://127.0.0.1:${ports.queryHttp}`;
  const until = Date.now() + startTimeoutMs;
  let lastProblem = 'no answer yet';
  for (;;) {
    if (spawnError !== undefined || exit !== undefined) {
      await stop();
      const how = spawnError ? `could not be started (${spawnError.message})` : `exited (code ${exit?.code}, signal ${exit?.signal})`;
      throw new Error(`Jaeger ${bin} ${how} before it was ready; its log:\n${output}`);
    }
    try {
      const h = (await getJson(healthUrl)) as { healthy?: boolean; status?: string };
      if (h.healthy !== true) throw new Error(`health: ${JSON.stringify(h)}`);
      await getJson(`${queryUrl}/api/services`);
      break;
    } catch (e) {
      lastProblem = (e as Error).message;
    }
    if (Date.now() > until) {
      await stop();
      throw new Error(`Jaeger ${bin} was not ready after ${startTimeoutMs} ms (last: ${lastProblem}); its log:\n${output}`);
    }
    await sleep(50);
  }

  const services = async (): Promise<string[]> => {
    const url = `${queryUrl}/api/services`;
    return (dataOf<string[] | null>(url, await getJson(url)) ?? []).sort();
  };
  const traces = async (service: string, q: TraceQuery = {}): Promise<JaegerTrace[]> => {
    const nowUs = Date.now() * 1000;
    const params = new URLSearchParams({
      service,
      start: String(nowUs - (q.lookbackMs ?? 3_600_000) * 1000),
      // A little into the future, for spans stamped by a clock slightly ahead.
      end: String(nowUs + 60_000_000),
    });
    if (q.operation !== undefined) params.set('operation', q.operation);
    if (q.limit !== undefined) params.set('limit', String(q.limit));
    const url = `${queryUrl}/api/traces?${params}`;
    return (dataOf<RawTrace[] | null>(url, await getJson(url)) ?? []).map(toTrace);
  };
  const trace = async (traceId: string): Promise<JaegerTrace | undefined> => {
    const url = `${queryUrl}/api/traces/${encodeURIComponent(traceId)}`;
    const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    if (res.status === 404) return undefined;
    const body = await res.text();
    if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}: ${body.slice(0, 500)}`);
    const first = dataOf<RawTrace[] | null>(url, JSON.parse(body))?.[0];
    return first ? toTrace(first) : undefined;
  };
  const waitForTraces = async (service: string, predicate: (t: JaegerTrace[]) => boolean, timeoutMs = 10_000, q: TraceQuery = {}): Promise<JaegerTrace[]> => {
    const deadline = Date.now() + timeoutMs;
    let last: JaegerTrace[] = [];
    let lastError = '';
    for (;;) {
      try {
        last = await traces(service, q);
        lastError = '';
        if (predicate(last)) return last;
      } catch (e) {
        lastError = (e as Error).message;
      }
      if (Date.now() > deadline) {
        const seen = last.flatMap((t) => t.spans.map((s) => `${s.process.serviceName}/${s.operationName}`));
        throw new Error(
          `Jaeger: no matching traces for service "${service}" within ${timeoutMs} ms; ` +
            `last saw ${last.length} trace(s): [${seen.join(', ')}]${lastError ? `; last error: ${lastError}` : ''}; services: [${(await services().catch(() => [])).join(', ')}]`,
        );
      }
      await sleep(100);
    }
  };

  return {
    otlpGrpcEndpoint: `http://127.0.0.1:${ports.otlpGrpc}`,
    otlpHttpEndpoint: `http://127.0.0.1:${ports.otlpHttp}`,
    queryUrl,
    services,
    traces,
    trace,
    waitForTraces,
    logs: () => output,
    stop,
  };
}
