// The `profiler:` section of the YAML file, and the settings the `profile` command takes as flags.
//
//   profiler:
//     frequency: 99            # samples per second per CPU
//     interval: 10             # seconds between drains (one profile per service per interval)
//     stack_map_entries: 16384 # per stack map and per count map (two of each)
//     max_samples: 20000       # distinct samples kept per interval
//     include_idle: false
//     output_dir: /var/lib/lantern/profiles
//     pyroscope:
//       url: http://pyroscope:4040
//       username: ... / password: ...   (basic auth)  or  bearer_token: ...
//       tenant_id: ...
//       timeout: 10000         # ms
//     otlp:
//       enabled: false         # OTLP profiles (profiles/v1development) too
//       endpoint: http://collector:4317   # default: the OTLP endpoint
//       protocol: grpc         # grpc | http/protobuf
//     off_cpu:
//       enabled: false         # off-CPU profiles (time blocked, with stacks) beside the CPU ones
//       min_block: 1           # ms: shorter blocks are not counted
//       sample_every: 1        # time one blocking switch-out in N, scaled by N
//     unwind: auto             # user stacks: auto (.eh_frame CFI where a table exists, else frame pointers) | frame_pointers | cfi
//     unwind_table_rows: 1048576 # CFI rows kept in the kernel, all binaries (12 bytes each)
import { type ProfilerConfig, UNWIND_MODES, type UnwindMode } from './schema.js';
import { type Problems, asPositiveInt, asPositiveNumber, asUrl, decimalNumber, describe } from './validate.js';

export const PROFILER_LIMITS = {
  maxFrequencyHz: 10_000, minIntervalSeconds: 0.5, minStackMapEntries: 1024, maxStackMapEntries: 1 << 22,
  /** A minute: a bound above which nothing but idle waits would be counted. */
  maxMinBlockMs: 60_000, maxSampleEvery: 1_000_000, minUnwindTableRows: 1024, maxUnwindTableRows: 1 << 24,
} as const;

const KEYS = ['frequency', 'interval', 'stack_map_entries', 'max_samples', 'include_idle', 'output_dir', 'pyroscope', 'otlp', 'off_cpu', 'unwind', 'unwind_table_rows'];
const OTLP_KEYS = ['enabled', 'endpoint', 'protocol'];
const OFF_CPU_KEYS = ['enabled', 'min_block', 'sample_every'];
const PYROSCOPE_KEYS = ['url', 'username', 'password', 'bearer_token', 'tenant_id', 'timeout'];

export function setFrequency(c: ProfilerConfig, v: unknown, source: string, path: string, problems: Problems): void {
  const n = asPositiveInt(v, PROFILER_LIMITS.maxFrequencyHz);
  if (typeof n === 'string') problems.add(source, path, n);
  else c.frequencyHz = n;
}

export function setInterval(c: ProfilerConfig, v: unknown, source: string, path: string, problems: Problems): void {
  const n = asPositiveNumber(v);
  if (typeof n === 'string') problems.add(source, path, n);
  else if (n < PROFILER_LIMITS.minIntervalSeconds) problems.add(source, path, `expected at least ${PROFILER_LIMITS.minIntervalSeconds} seconds, got ${n}`);
  else c.intervalSeconds = n;
}

/** Milliseconds, 0 (every block) up to PROFILER_LIMITS.maxMinBlockMs; fractions allowed (0.1 = 100 µs). */
export function setMinBlock(c: ProfilerConfig, v: unknown, source: string, path: string, problems: Problems): void {
  const n = decimalNumber(v);
  if (!Number.isFinite(n) || n < 0 || n > PROFILER_LIMITS.maxMinBlockMs) {
    problems.add(source, path, `expected milliseconds from 0 to ${PROFILER_LIMITS.maxMinBlockMs}, got ${describe(v)}`);
  } else {
    c.offCpu.minBlockMs = n;
  }
}

function applyOffCpu(c: ProfilerConfig, o: unknown, source: string, problems: Problems): void {
  if (o === null || typeof o !== 'object' || Array.isArray(o)) {
    problems.add(source, 'profiler.off_cpu', `expected a mapping, got ${describe(o)}`);
    return;
  }
  const m = o as Record<string, unknown>;
  for (const k of Object.keys(m)) if (!OFF_CPU_KEYS.includes(k)) problems.add(source, `profiler.off_cpu.${k}`, `unknown setting (known: ${OFF_CPU_KEYS.join(', ')})`);
  if (m.enabled !== undefined) {
    if (typeof m.enabled === 'boolean') c.offCpu.enabled = m.enabled;
    else problems.add(source, 'profiler.off_cpu.enabled', `expected true or false, got ${describe(m.enabled)}`);
  }
  if (m.min_block !== undefined) setMinBlock(c, m.min_block, source, 'profiler.off_cpu.min_block', problems);
  if (m.sample_every !== undefined) {
    const n = asPositiveInt(m.sample_every, PROFILER_LIMITS.maxSampleEvery);
    if (typeof n === 'string') problems.add(source, 'profiler.off_cpu.sample_every', n);
    else c.offCpu.sampleEvery = n;
  }
}

export function setUnwind(c: ProfilerConfig, v: unknown, source: string, path: string, problems: Problems): void {
  if (typeof v === 'string' && (UNWIND_MODES as readonly string[]).includes(v)) c.unwind = v as UnwindMode;
  else problems.add(source, path, `expected one of ${UNWIND_MODES.join(', ')}, got ${describe(v)}`);
}

function nonEmptyString(v: unknown): v is string {
  return typeof v === 'string' && v !== '';
}

function applyOtlp(c: ProfilerConfig, o: unknown, source: string, problems: Problems): void {
  if (o === null || typeof o !== 'object' || Array.isArray(o)) {
    problems.add(source, 'profiler.otlp', `expected a mapping, got ${describe(o)}`);
    return;
  }
  const m = o as Record<string, unknown>;
  for (const k of Object.keys(m)) if (!OTLP_KEYS.includes(k)) problems.add(source, `profiler.otlp.${k}`, `unknown setting (known: ${OTLP_KEYS.join(', ')})`);
  if (m.enabled !== undefined) {
    if (typeof m.enabled === 'boolean') c.otlp.enabled = m.enabled;
    else problems.add(source, 'profiler.otlp.enabled', `expected true or false, got ${describe(m.enabled)}`);
  }
  if (m.endpoint !== undefined) setProfilesEndpoint(c, m.endpoint, source, 'profiler.otlp.endpoint', problems);
  if (m.protocol !== undefined) setProfilesProtocol(c, m.protocol, source, 'profiler.otlp.protocol', problems);
}

export function setProfilesEndpoint(c: ProfilerConfig, v: unknown, source: string, path: string, problems: Problems): void {
  const url = asUrl(v);
  if (typeof url === 'string') c.otlp.endpoint = url;
  else problems.add(source, path, url.error);
}

export function setProfilesProtocol(c: ProfilerConfig, v: unknown, source: string, path: string, problems: Problems): void {
  if (v === 'grpc' || v === 'http/protobuf') c.otlp.protocol = v;
  else problems.add(source, path, `expected grpc or http/protobuf, got ${describe(v)}`);
}

/** Applies the YAML `profiler:` mapping onto `c`, collecting every problem. */
export function applyProfilerFile(c: ProfilerConfig, o: Record<string, unknown> | undefined, source: string, problems: Problems): void {
  if (o === undefined) return;
  for (const k of Object.keys(o)) if (!KEYS.includes(k)) problems.add(source, `profiler.${k}`, `unknown setting (known: ${KEYS.join(', ')})`);
  if (o.frequency !== undefined) setFrequency(c, o.frequency, source, 'profiler.frequency', problems);
  if (o.interval !== undefined) setInterval(c, o.interval, source, 'profiler.interval', problems);
  if (o.stack_map_entries !== undefined) {
    const n = asPositiveInt(o.stack_map_entries, PROFILER_LIMITS.maxStackMapEntries);
    if (typeof n === 'string') problems.add(source, 'profiler.stack_map_entries', n);
    else if (n < PROFILER_LIMITS.minStackMapEntries) problems.add(source, 'profiler.stack_map_entries', `expected at least ${PROFILER_LIMITS.minStackMapEntries}, got ${n}`);
    else c.stackMapEntries = n;
  }
  if (o.max_samples !== undefined) {
    const n = asPositiveInt(o.max_samples, 1_000_000);
    if (typeof n === 'string') problems.add(source, 'profiler.max_samples', n);
    else c.maxSamples = n;
  }
  if (o.include_idle !== undefined) {
    if (typeof o.include_idle === 'boolean') c.includeIdle = o.include_idle;
    else problems.add(source, 'profiler.include_idle', `expected true or false, got ${describe(o.include_idle)}`);
  }
  if (o.output_dir !== undefined) {
    if (nonEmptyString(o.output_dir)) c.outputDir = o.output_dir;
    else problems.add(source, 'profiler.output_dir', `expected a directory path, got ${describe(o.output_dir)}`);
  }
  if (o.otlp !== undefined) applyOtlp(c, o.otlp, source, problems);
  if (o.off_cpu !== undefined) applyOffCpu(c, o.off_cpu, source, problems);
  if (o.unwind !== undefined) setUnwind(c, o.unwind, source, 'profiler.unwind', problems);
  if (o.unwind_table_rows !== undefined) {
    const n = asPositiveInt(o.unwind_table_rows, PROFILER_LIMITS.maxUnwindTableRows);
    if (typeof n === 'string') problems.add(source, 'profiler.unwind_table_rows', n);
    else if (n < PROFILER_LIMITS.minUnwindTableRows) problems.add(source, 'profiler.unwind_table_rows', `expected at least ${PROFILER_LIMITS.minUnwindTableRows}, got ${n}`);
    else c.unwindTableRows = n;
  }
  if (o.pyroscope === undefined) return;
  const p = o.pyroscope;
  if (p === null || typeof p !== 'object' || Array.isArray(p)) {
    problems.add(source, 'profiler.pyroscope', `expected a mapping, got ${describe(p)}`);
    return;
  }
  const py = p as Record<string, unknown>;
  for (const k of Object.keys(py)) if (!PYROSCOPE_KEYS.includes(k)) problems.add(source, `profiler.pyroscope.${k}`, `unknown setting (known: ${PYROSCOPE_KEYS.join(', ')})`);
  const url = asUrl(py.url);
  if (typeof url !== 'string') {
    problems.add(source, 'profiler.pyroscope.url', url.error);
    return;
  }
  const out: NonNullable<ProfilerConfig['pyroscope']> = { url, timeoutMs: 10_000 };
  if (py.username !== undefined || py.password !== undefined) {
    if (nonEmptyString(py.username) && typeof py.password === 'string') out.basicAuth = { username: py.username, password: py.password };
    else problems.add(source, 'profiler.pyroscope.username', 'basic auth needs both username and password');
  }
  if (py.bearer_token !== undefined) {
    if (!nonEmptyString(py.bearer_token)) problems.add(source, 'profiler.pyroscope.bearer_token', 'expected a token');
    else if (out.basicAuth !== undefined) problems.add(source, 'profiler.pyroscope.bearer_token', 'give either a bearer token or username/password, not both');
    else out.bearerToken = py.bearer_token;
  }
  if (py.tenant_id !== undefined) {
    if (nonEmptyString(py.tenant_id)) out.tenantId = py.tenant_id;
    else problems.add(source, 'profiler.pyroscope.tenant_id', `expected a tenant id, got ${describe(py.tenant_id)}`);
  }
  if (py.timeout !== undefined) {
    const n = asPositiveInt(py.timeout);
    if (typeof n === 'string') problems.add(source, 'profiler.pyroscope.timeout', `${n} (milliseconds)`);
    else out.timeoutMs = n;
  }
  c.pyroscope = out;
}
