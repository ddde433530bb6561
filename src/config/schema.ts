// The agent's configuration: one typed record, built from defaults ← YAML file ← OTEL_* env ← flags.
import type { LogLevel } from '../log.js';
import { type BpftraceConfig, defaultBpftraceConfig } from './bpftrace.js';
import { type ExportConfig, defaultExportConfig } from './export.js';
import { type KubernetesConfig, defaultKubernetesConfig } from './kubernetes.js';
import { type SelectionConfig, defaultSelectionConfig } from './selection.js';

export type { KubernetesConfig } from './kubernetes.js';
export type { SelectionConfig, SelectionRule } from './selection.js';
export type { DiskBufferConfig, ExportConfig } from './export.js';

/** Every collector Lantern knows. Which of them exist in this build is in collectors/registry.ts. */
export const COLLECTOR_NAMES = ['process', 'sockets', 'tls', 'profiler', 'bpftrace', 'dynlog'] as const;
export type CollectorName = (typeof COLLECTOR_NAMES)[number];

export const OTLP_PROTOCOLS = ['grpc', 'http/protobuf', 'http/json'] as const;
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number];

export interface OtlpSignalConfig {
  endpoint?: string;
  protocol: OtlpProtocol;
  headers: Record<string, string>;
}

export interface OtlpConfig {
  /** Base endpoint (OTEL_EXPORTER_OTLP_ENDPOINT); unset means local mode. */
  endpoint?: string;
  traces: OtlpSignalConfig;
  metrics: OtlpSignalConfig;
  logs: OtlpSignalConfig;
  timeoutMs: number;
  /** Also write every exported batch as OTLP JSON lines (the Collector file exporter's format). */
  file?: string;
}

/** Where `lantern run` writes the control API's token for clients (server.token_file). */
export const DEFAULT_TOKEN_FILE = '/run/lantern/token';

export interface ServerConfig {
  /** Loopback (127.0.0.1, ::1, localhost), or any address when `tls` is set: the API is not served in the clear off the host. */
  host: string;
  port: number;
  /** Bearer token for the control API; generated at start when not given. Never logged. */
  token?: string;
  /**
   * Where the token is written for clients (root only, mode 0600), its path logged instead of it;
   * unset: not written (one-shot commands, whose API is their own).
   */
  tokenFile?: string;
  /** HTTPS with this certificate and key (PEM files); required to listen beyond loopback. */
  tls?: ServerTlsConfig;
}

export interface ServerTlsConfig {
  certFile: string;
  keyFile: string;
}

/** What HTTP spans carry beyond the defaults (semconv/http.ts). */
export interface HttpConfig {
  /** Request headers exported as http.request.header.<name> (credentials still REDACTED). */
  captureRequestHeaders: string[];
  /** Response headers exported as http.response.header.<name> (credentials still REDACTED). */
  captureResponseHeaders: string[];
  /** client.address from Forwarded / X-Forwarded-For on server spans, else the socket's peer. */
  trustForwardedFor: boolean;
  /** Route templates ("/users/{id}", "/static/*") giving server spans their http.route. */
  routes: string[];
  /** url.template guessed from a path's shape when no route matches (semconv/url-template.ts). */
  urlTemplates: boolean;
  /** Distinct url.template values per resource; more become "/{other}". */
  urlTemplateLimit: number;
  /** Placeholder name → regular expression (source) matching a whole segment, before the built-in shapes. */
  urlTemplatePatterns: Record<string, string>;
  /** The guessed template is a server span's http.route too (and names it). */
  routeHeuristic: boolean;
}

/** Names whose values stay on the host, beside the built-in patterns (semconv/redaction.ts). */
export interface RedactionConfig {
  /** Query parameters (url.query, url.full, URLs in command lines). */
  queryParams: string[];
  /** Headers: REDACTED when captured, in command-line header arguments too. */
  headers: string[];
}

export interface PyroscopeConfig {
  /** Base URL of Pyroscope (profiles are POSTed to <url>/ingest). */
  url: string;
  basicAuth?: { username: string; password: string };
  bearerToken?: string;
  /** X-Scope-OrgID (multi-tenant Pyroscope). */
  tenantId?: string;
  timeoutMs: number;
}

/**
 * OTLP profiles. `endpoint` unset: the base OTLP endpoint (as it is for gRPC; + v1development/profiles
 * for HTTP). OTEL_EXPORTER_OTLP_PROFILES_ENDPOINT sets the endpoint and enables them.
 */
export interface ProfilesOtlpConfig {
  enabled: boolean;
  endpoint?: string;
  protocol: 'grpc' | 'http/protobuf';
}

export interface ProfilerConfig {
  /** Samples per second on each CPU (cpu-clock). */
  frequencyHz: number;
  /** Seconds between drains: one profile per service per interval. */
  intervalSeconds: number;
  /** Entries of each stack map and each count map (there are two of each: double buffering). */
  stackMapEntries: number;
  /** Distinct samples (stack × thread × span) kept per interval; the rest are dropped and counted. */
  maxSamples: number;
  /** Also sample the idle task (pid 0). */
  includeIdle: boolean;
  /** Write every profile as a .pb.gz file here. */
  outputDir?: string;
  pyroscope?: PyroscopeConfig;
  /** OTLP profiles (profiles/v1development) beside pprof and Pyroscope; off by default. */
  otlp: ProfilesOtlpConfig;
  offCpu: OffCpuConfig;
  /**
   * How user stacks are walked: frame pointers (bpf_get_stackid); auto: .eh_frame CFI tables where a
   * binary has one, frame pointers elsewhere (Go, JIT code); cfi: CFI tables only.
   */
  unwind: UnwindMode;
  /** Rows of CFI tables kept in the kernel (12 bytes each), all binaries together. */
  unwindTableRows: number;
}

export const UNWIND_MODES = ['frame_pointers', 'auto', 'cfi'] as const;
export type UnwindMode = (typeof UNWIND_MODES)[number];

/** Off-CPU profiles: where threads wait (blocked from switch-out to switch-in), with their stacks. */
export interface OffCpuConfig {
  enabled: boolean;
  /** Blocks shorter than this (milliseconds) are not counted. */
  minBlockMs: number;
  /** Time one blocking switch-out in N (at random), scaled by N; 1: every one. */
  sampleEvery: number;
}

export function defaultProfilerConfig(): ProfilerConfig {
  return {
    frequencyHz: 99, intervalSeconds: 10, stackMapEntries: 16384, maxSamples: 20000, includeIdle: false,
    otlp: { enabled: false, protocol: 'grpc' }, offCpu: { enabled: false, minBlockMs: 1, sampleEvery: 1 }, unwind: 'auto', unwindTableRows: 1 << 20,
  };
}

export interface AgentConfig {
  /** Trace only these processes; empty means every process. */
  pids: number[];
  durationSeconds?: number;
  collectors: CollectorName[];
  otlp: OtlpConfig;
  /** Extra resource attributes for everything exported (OTEL_RESOURCE_ATTRIBUTES). */
  resourceAttributes: Record<string, string>;
  /** The agent's own service name, for its self-telemetry (OTEL_SERVICE_NAME). */
  serviceName: string;
  server: ServerConfig;
  log: { level: LogLevel; format: 'text' | 'json' };
  profiler: ProfilerConfig;
  spans: SpanExportConfig;
  bpftrace: BpftraceConfig;
  http: HttpConfig;
  redaction: RedactionConfig;
  /** Pod metadata from the Kubernetes API (src/metadata/k8s/). */
  kubernetes: KubernetesConfig;
  /** Which processes every collector traces, within --pid (src/selection/). */
  selection: SelectionConfig;
  /** Queues, the on-disk buffer and the shutdown deadline (config/export.ts). */
  export: ExportConfig;
  /**
   * Probes from files, followed while the agent runs (a ConfigMap mount): NAME.bt are bpftrace
   * scripts, NAME.yaml function probes (dynamic logging).
   */
  probesDir?: string;
  /**
   * While the agent keeps up, how its threads yield to applications': `idle` (the default): they run
   * under SCHED_IDLE, and a waking application thread preempts them at once (a guard takes them back
   * when they are starved); or a nice value (1-19; 0: they do not yield).
   * Either way they take their priority back while the agent is behind (agent/cpu-priority.ts).
   */
  nice: number | 'idle';
}

export interface SpanExportConfig {
  /**
   * Spans exported per second at most (0: no limit). Past it, whole requests' spans are shed (client
   * and server together); the duration metrics still count every exchange.
   */
  maxPerSecond: number;
  /**
   * The agent's CPU (every thread), % of one core, above which spans are shed (0: no limit); the
   * duration metrics still count every exchange.
   */
  maxCpuPercent: number;
  /**
   * The same, only while the host has no CPU to spare: the agent, yielding under `nice: idle`, was
   * starved and took its share back, or at its full share found tasks waiting for a CPU (PSI) while
   * other processes kept the CPUs busy (0: no limit). The tighter of the two applies.
   */
  contendedCpuPercent: number;
}

export function defaultConfig(): AgentConfig {
  const signal = (): OtlpSignalConfig => ({ protocol: 'grpc', headers: {} });
  return {
    pids: [],
    collectors: ['sockets', 'tls', 'process', 'bpftrace', 'dynlog'],
    otlp: { traces: signal(), metrics: { protocol: 'http/protobuf', headers: {} }, logs: signal(), timeoutMs: 10_000 },
    resourceAttributes: {},
    serviceName: 'lantern',
    server: { host: '127.0.0.1', port: 4590, tokenFile: DEFAULT_TOKEN_FILE },
    log: { level: 'info', format: 'text' },
    profiler: defaultProfilerConfig(),
    spans: { maxPerSecond: 0, maxCpuPercent: 0, contendedCpuPercent: 10 },
    nice: 'idle',
    bpftrace: defaultBpftraceConfig(),
    http: { captureRequestHeaders: [], captureResponseHeaders: [], trustForwardedFor: true, routes: [], urlTemplates: true, urlTemplateLimit: 200, urlTemplatePatterns: {}, routeHeuristic: false },
    redaction: { queryParams: [], headers: [] },
    kubernetes: defaultKubernetesConfig(),
    export: defaultExportConfig(),
    selection: defaultSelectionConfig(),
  };
}

/** Local mode: no OTLP endpoint for any signal. */
export function isLocalMode(c: AgentConfig): boolean {
  return c.otlp.endpoint === undefined && c.otlp.traces.endpoint === undefined &&
    c.otlp.metrics.endpoint === undefined && c.otlp.logs.endpoint === undefined;
}
