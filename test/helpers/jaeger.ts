// A real Jaeger (all-in-one, in-memory storage) as the OTLP receiver for end-to-end tests.
//
// The binary is Jaeger's "v2" all-in-one (an OpenTelemetry Collector distribution), pinned by
// test/e2e-tools/go.mod and built by scripts/build-test-tools.sh into a cache directory that
// survives across runs: ${LANTERN_TOOLS_CACHE:-/var/cache/lantern-test-tools}/jaeger-<version>.
// (LANTERN_JAEGER_BIN points at another binary instead.) It takes a collector-style YAML config;
// startJaeger() writes one into a temporary directory with every listener on a free loopback port.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './cli.js';
import { freePorts, requireBinary, retryOnPortClash, startToolProcess, toolsCache } from './tool-process.js';

const toolsModule = join(repoRoot, 'test', 'e2e-tools', 'go.mod');

/** The Jaeger version test/e2e-tools/go.mod pins, without the leading "v" (e.g. "1.76.0"). */
export function jaegerVersion(): string {
  const m = /^\s*github\.com\/jaegertracing\/jaeger v(\S+)/m.exec(readFileSync(toolsModule, 'utf8'));
  if (!m?.[1]) throw new Error(`no github.com/jaegertracing/jaeger requirement in ${toolsModule}`);
  return m[1];
}

/** Where the Jaeger binary is expected: $LANTERN_JAEGER_BIN, else the tools cache. */
export function jaegerBinaryPath(): string {
  if (process.env.LANTERN_JAEGER_BIN) return process.env.LANTERN_JAEGER_BIN;
  return join(toolsCache(), `jaeger-${jaegerVersion()}`);
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

export async function startJaeger(opts: StartJaegerOptions = {}): Promise<Jaeger> {
  const bin = jaegerBinaryPath();
  requireBinary('Jaeger', bin);
  return retryOnPortClash(() => launch(bin, opts.startTimeoutMs ?? 30_000));
}

async function launch(bin: string, startTimeoutMs: number): Promise<Jaeger> {
  const [otlpGrpc, otlpHttp, queryHttp, queryGrpc, health] = (await freePorts(5)) as [number, number, number, number, number];
  const ports: Ports = { otlpGrpc, otlpHttp, queryHttp, queryGrpc, health };
  const jaeger = startToolProcess('Jaeger', bin, configYaml(ports), (config) => ['--config', `file:${config}`]);

  // Ready when the health check says every component is up and the query API answers.
  const healthUrl = `http://127.0.0.1:${ports.health}/status`;
  const queryUrl = `http://127.0.0.1:${ports.queryHttp}`;
  await jaeger.waitReady(async () => {
    const h = (await getJson(healthUrl)) as { healthy?: boolean; status?: string };
    if (h.healthy !== true) throw new Error(`health: ${JSON.stringify(h)}`);
    await getJson(`${queryUrl}/api/services`);
  }, startTimeoutMs);

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
    logs: () => jaeger.output(),
    stop: () => jaeger.stop(),
  };
}
