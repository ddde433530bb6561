// Builds the AgentConfig: defaults, then the YAML file, then the standard OTEL_* variables, then
// command-line flags (each later source overrides the earlier). Every problem is reported with the
// source and setting that caused it.
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { isAbsolute } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { LanternError } from '../errors.js';
import {
  type AgentConfig, COLLECTOR_NAMES, type CollectorName, OTLP_PROTOCOLS, type OtlpSignalConfig, defaultConfig,
} from './schema.js';
import { applyBpftraceFile } from './bpftrace.js';
import { applyExportFile, setShutdownTimeout } from './export.js';
import { applyHttpFile, applyRedactionFile } from './http.js';
import { applyKubernetesFile } from './kubernetes.js';
import { applyProfilerFile, setProfilesEndpoint, setProfilesProtocol } from './profiler.js';
import { applySelectionFile, parseSelectionRule } from './selection.js';
import { Problems, asOneOf, asPositiveInt, asPositiveNumber, asUrl, decimalNumber, describe, parseKeyValueList, wholeNumber } from './validate.js';

/** What the command line may set (undefined = not given). */
export interface ConfigFlags {
  config?: string;
  pids?: string[];
  duration?: string;
  otlpEndpoint?: string;
  otlpFile?: string;
  collectors?: string;
  logLevel?: string;
  logFormat?: string;
  port?: string;
  maxSpansPerSecond?: string;
  maxCpuPercent?: string;
  contendedCpuPercent?: string;
  probesDir?: string;
  shutdownTimeout?: string;
  nice?: string;
  /** Selection rules of one field each, added to the file's (--include-exe, --exclude-port, …). */
  includeExe?: string[];
  excludeExe?: string[];
  includePort?: string[];
  excludePort?: string[];
}

const SIGNALS = ['traces', 'metrics', 'logs'] as const;
const PID_MAX = 4_194_304; // the kernel's PID_MAX_LIMIT on 64-bit

export function loadConfig(flags: ConfigFlags, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const c = defaultConfig();
  const problems = new Problems();
  const file = flags.config ?? env.LANTERN_CONFIG;
  if (file !== undefined) applyFile(c, file, problems);
  applyEnv(c, env, problems);
  applyFlags(c, flags, problems);
  problems.throwIfAny();
  return c;
}

function setPids(c: AgentConfig, values: unknown[], source: string, path: string, problems: Problems): void {
  const pids: number[] = [];
  for (const v of values) {
    const n = asPositiveInt(v, PID_MAX);
    if (typeof n === 'string') problems.add(source, path, n);
    else pids.push(n);
  }
  c.pids = [...new Set(pids)];
}

function isCollectorName(v: unknown): v is CollectorName {
  return typeof v === 'string' && (COLLECTOR_NAMES as readonly string[]).includes(v);
}

function setCollectors(c: AgentConfig, values: unknown[], source: string, path: string, problems: Problems): void {
  const out: CollectorName[] = [];
  for (const v of values) {
    const name = typeof v === 'string' ? v.trim() : v;
    if (isCollectorName(name)) out.push(name);
    else problems.add(source, path, `unknown collector ${describe(v)} (known: ${COLLECTOR_NAMES.join(', ')})`);
  }
  if (values.length === 0) problems.add(source, path, 'needs at least one collector');
  // TLS plaintext flows through the socket tracer's connection table and parsers.
  if (out.includes('tls') && !out.includes('sockets')) problems.add(source, path, 'collector tls needs collector sockets');
  c.collectors = [...new Set(out)];
}

function setEndpoint(target: { endpoint?: string }, v: unknown, source: string, path: string, problems: Problems): void {
  const url = asUrl(v);
  if (typeof url === 'string') target.endpoint = url;
  else problems.add(source, path, url.error);
}

function setDuration(c: AgentConfig, v: unknown, source: string, path: string, problems: Problems): void {
  const n = asPositiveNumber(v);
  if (typeof n === 'string') problems.add(source, path, n);
  else c.durationSeconds = n;
}

// --- YAML file -------------------------------------------------------------------------------

const SPANS_SETTINGS = ['max_per_second', 'max_cpu_percent', 'contended_cpu_percent'];
const FILE_KEYS = ['pids', 'duration', 'collectors', 'otlp', 'resource', 'service_name', 'server', 'log', 'profiler', 'spans', 'bpftrace', 'probes_dir', 'http', 'redaction', 'kubernetes', 'export', 'selection', 'nice'];

function applyFile(c: AgentConfig, path: string, problems: Problems): void {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new LanternError('LANTERN_ERR_CONFIG_FILE', `cannot read configuration file ${path}: ${(e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new LanternError('LANTERN_ERR_CONFIG_FILE', `${path}: not valid YAML: ${(e as Error).message}`);
  }
  if (doc === null || doc === undefined) return;
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    problems.add(path, '(top)', `expected a mapping of settings, got ${describe(doc)}`);
    return;
  }
  const d = doc as Record<string, unknown>;
  for (const k of Object.keys(d)) if (!FILE_KEYS.includes(k)) problems.add(path, k, `unknown setting (known: ${FILE_KEYS.join(', ')})`);
  const list = (k: string): unknown[] | undefined => {
    const v = d[k];
    if (v === undefined) return undefined;
    if (Array.isArray(v)) return v;
    problems.add(path, k, `expected a list, got ${describe(v)}`);
    return undefined;
  };
  const pids = list('pids');
  if (pids) setPids(c, pids, path, 'pids', problems);
  const collectors = list('collectors');
  if (collectors) setCollectors(c, collectors, path, 'collectors', problems);
  if (d.duration !== undefined) setDuration(c, d.duration, path, 'duration', problems);
  if (d.service_name !== undefined) {
    if (typeof d.service_name === 'string' && d.service_name !== '') c.serviceName = d.service_name;
    else problems.add(path, 'service_name', `expected a name, got ${describe(d.service_name)}`);
  }
  const resource = mapping(d, 'resource', path, problems);
  if (resource) for (const [k, v] of Object.entries(resource)) c.resourceAttributes[k] = String(v);
  applyFileOtlp(c, mapping(d, 'otlp', path, problems), path, problems);
  applyFileServer(c, mapping(d, 'server', path, problems), path, problems);
  applyProfilerFile(c.profiler, mapping(d, 'profiler', path, problems), path, problems);
  applyBpftraceFile(c.bpftrace, mapping(d, 'bpftrace', path, problems), path, problems);
  applyHttpFile(c.http, mapping(d, 'http', path, problems), path, problems);
  applyRedactionFile(c.redaction, mapping(d, 'redaction', path, problems), path, problems);
  applyKubernetesFile(c.kubernetes, mapping(d, 'kubernetes', path, problems), path, problems);
  applyExportFile(c.export, mapping(d, 'export', path, problems), path, problems);
  applySelectionFile(c.selection, mapping(d, 'selection', path, problems), path, problems);
  if (d.probes_dir !== undefined) setProbesDir(c, d.probes_dir, path, 'probes_dir', problems);
  if (d.nice !== undefined) setNice(c, d.nice, path, 'nice', problems);
  const spans = mapping(d, 'spans', path, problems);
  if (spans) {
    for (const k of Object.keys(spans)) if (!SPANS_SETTINGS.includes(k)) problems.add(path, `spans.${k}`, `unknown setting (known: ${SPANS_SETTINGS.join(', ')})`);
    if (spans.max_per_second !== undefined) setMaxSpans(c, spans.max_per_second, path, 'spans.max_per_second', problems);
    if (spans.max_cpu_percent !== undefined) setMaxCpu(c, spans.max_cpu_percent, path, 'spans.max_cpu_percent', problems);
    if (spans.contended_cpu_percent !== undefined) setContendedCpu(c, spans.contended_cpu_percent, path, 'spans.contended_cpu_percent', problems);
  }
  const log = mapping(d, 'log', path, problems);
  if (log) {
    if (log.level !== undefined) setLogLevel(c, log.level, path, 'log.level', problems);
    if (log.format !== undefined) setLogFormat(c, log.format, path, 'log.format', problems);
  }
}

function mapping(d: Record<string, unknown>, key: string, source: string, problems: Problems): Record<string, unknown> | undefined {
  const v = d[key];
  if (v === undefined) return undefined;
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  problems.add(source, key, `expected a mapping, got ${describe(v)}`);
  return undefined;
}

function applyFileOtlp(c: AgentConfig, o: Record<string, unknown> | undefined, path: string, problems: Problems): void {
  if (!o) return;
  const known = ['endpoint', 'protocol', 'headers', 'timeout', 'file', ...SIGNALS];
  for (const k of Object.keys(o)) if (!known.includes(k)) problems.add(path, `otlp.${k}`, `unknown setting (known: ${known.join(', ')})`);
  if (o.endpoint !== undefined) setEndpoint(c.otlp, o.endpoint, path, 'otlp.endpoint', problems);
  if (o.file !== undefined) {
    if (typeof o.file === 'string' && o.file !== '') c.otlp.file = o.file;
    else problems.add(path, 'otlp.file', `expected a file path, got ${describe(o.file)}`);
  }
  if (o.timeout !== undefined) {
    const n = asPositiveInt(o.timeout);
    if (typeof n === 'string') problems.add(path, 'otlp.timeout', n);
    else c.otlp.timeoutMs = n;
  }
  const applySignal = (target: OtlpSignalConfig[], s: Record<string, unknown>, prefix: string): void => {
    if (s.protocol !== undefined) {
      const p = asOneOf(s.protocol, OTLP_PROTOCOLS);
      if ((OTLP_PROTOCOLS as readonly string[]).includes(p)) for (const t of target) t.protocol = p as OtlpSignalConfig['protocol'];
      else problems.add(path, `${prefix}protocol`, p);
    }
    const h = mapping(s, 'headers', path, problems);
    if (h) for (const t of target) for (const [k, v] of Object.entries(h)) t.headers[k] = String(v);
  };
  applySignal(SIGNALS.map((s) => c.otlp[s]), o, 'otlp.');
  for (const s of SIGNALS) {
    const sig = mapping(o, s, path, problems);
    if (!sig) continue;
    if (sig.endpoint !== undefined) setEndpoint(c.otlp[s], sig.endpoint, path, `otlp.${s}.endpoint`, problems);
    applySignal([c.otlp[s]], sig, `otlp.${s}.`);
  }
}

function applyFileServer(c: AgentConfig, s: Record<string, unknown> | undefined, path: string, problems: Problems): void {
  if (!s) return;
  if (s.tls !== undefined) setServerTls(c, mapping(s, 'tls', path, problems), path, problems);
  if (s.host !== undefined) setHost(c, s.host, path, 'server.host', problems);
  if (s.port !== undefined) setPort(c, s.port, path, 'server.port', problems);
  if (s.token !== undefined) {
    if (typeof s.token === 'string' && s.token.length >= 16) c.server.token = s.token;
    else problems.add(path, 'server.token', 'expected a string of at least 16 characters');
  }
  if (s.token_file !== undefined) {
    if (typeof s.token_file === 'string' && isAbsolute(s.token_file) && !s.token_file.endsWith('/')) c.server.tokenFile = s.token_file;
    else problems.add(path, 'server.token_file', `expected an absolute file path such as /run/lantern/token, got ${describe(s.token_file)}`);
  }
}

function setMaxSpans(c: AgentConfig, v: unknown, source: string, path: string, problems: Problems): void {
  const n = wholeNumber(v);
  if (!Number.isSafeInteger(n) || n < 0) problems.add(source, path, `expected a whole number of spans per second (0: no limit), got ${describe(v)}`);
  else c.spans.maxPerSecond = n;
}

function setMaxCpu(c: AgentConfig, v: unknown, source: string, path: string, problems: Problems): void {
  const n = cpuPercent(v, source, path, problems);
  if (n !== null) c.spans.maxCpuPercent = n;
}

function setContendedCpu(c: AgentConfig, v: unknown, source: string, path: string, problems: Problems): void {
  const n = cpuPercent(v, source, path, problems);
  if (n !== null) c.spans.contendedCpuPercent = n;
}

/** A CPU budget: % of one core, 0 for none (null: a problem, told). */
function cpuPercent(v: unknown, source: string, path: string, problems: Problems): number | null {
  const n = decimalNumber(v);
  if (Number.isFinite(n) && n >= 0 && n <= 100 * 1024) return n;
  problems.add(source, path, `expected a percentage of one core (0: no limit; 50: half a core), got ${describe(v)}`);
  return null;
}

function setNice(c: AgentConfig, v: unknown, source: string, path: string, problems: Problems): void {
  if (v === 'idle') {
    c.nice = 'idle';
    return;
  }
  const n = wholeNumber(v);
  if (!Number.isInteger(n) || n < 0 || n > 19) problems.add(source, path, `expected a nice value from 0 (as started) to 19, or idle (SCHED_IDLE), got ${describe(v)}`);
  else c.nice = n;
}

function setProbesDir(c: AgentConfig, v: unknown, source: string, path: string, problems: Problems): void {
  if (typeof v === 'string' && v !== '') c.probesDir = v;
  else problems.add(source, path, `expected a directory path, got ${describe(v)}`);
}

function setHost(c: AgentConfig, v: unknown, source: string, path: string, problems: Problems): void {
  // The control API serves what the agent saw and accepts commands (scripts, probes): in the clear
  // only on loopback; any other address only over HTTPS (server.tls), the token still required.
  if (v === '127.0.0.1' || v === '::1' || v === 'localhost') c.server.host = v;
  else if (typeof v === 'string' && isIP(v) !== 0 && c.server.tls !== undefined) c.server.host = v;
  else if (typeof v === 'string' && isIP(v) !== 0) problems.add(source, path, `listening on ${v} needs server.tls (cert_file, key_file): the control API is served in the clear on loopback only`);
  else problems.add(source, path, `expected an IP address to listen on (127.0.0.1, ::1, localhost; others with server.tls), got ${describe(v)}`);
}

/** server.tls: PEM certificate and key files, read at start (a missing file is a configuration error now, not a failed start later). */
function setServerTls(c: AgentConfig, t: Record<string, unknown> | undefined, path: string, problems: Problems): void {
  if (!t) return;
  const file = (key: 'cert_file' | 'key_file'): string | null => {
    const v = t[key];
    if (typeof v === 'string' && isAbsolute(v) && existsSync(v)) return v;
    problems.add(path, `server.tls.${key}`, `expected the absolute path of an existing PEM file, got ${describe(v)}`);
    return null;
  };
  const certFile = file('cert_file');
  const keyFile = file('key_file');
  if (certFile !== null && keyFile !== null) c.server.tls = { certFile, keyFile };
}

function setPort(c: AgentConfig, v: unknown, source: string, path: string, problems: Problems): void {
  const n = v === 0 || v === '0' ? 0 : asPositiveInt(v, 65535);
  if (typeof n === 'string') problems.add(source, path, `${n} (0 picks a free port)`);
  else c.server.port = n;
}

function setLogLevel(c: AgentConfig, v: unknown, source: string, path: string, problems: Problems): void {
  const l = asOneOf(v, ['debug', 'info', 'warn', 'error'] as const);
  if (l === 'debug' || l === 'info' || l === 'warn' || l === 'error') c.log.level = l;
  else problems.add(source, path, l);
}

function setLogFormat(c: AgentConfig, v: unknown, source: string, path: string, problems: Problems): void {
  const f = asOneOf(v, ['text', 'json'] as const);
  if (f === 'text' || f === 'json') c.log.format = f;
  else problems.add(source, path, f);
}

// --- OTEL_* environment ----------------------------------------------------------------------

function applyEnv(c: AgentConfig, env: NodeJS.ProcessEnv, problems: Problems): void {
  const get = (k: string): string | undefined => (env[k] === undefined || env[k] === '' ? undefined : env[k]);
  const base = get('OTEL_EXPORTER_OTLP_ENDPOINT');
  if (base !== undefined) setEndpoint(c.otlp, base, 'environment', 'OTEL_EXPORTER_OTLP_ENDPOINT', problems);
  const headers = get('OTEL_EXPORTER_OTLP_HEADERS');
  const protocol = get('OTEL_EXPORTER_OTLP_PROTOCOL');
  for (const s of SIGNALS) {
    const S = s.toUpperCase();
    const ep = get(`OTEL_EXPORTER_OTLP_${S}_ENDPOINT`);
    if (ep !== undefined) setEndpoint(c.otlp[s], ep, 'environment', `OTEL_EXPORTER_OTLP_${S}_ENDPOINT`, problems);
    for (const [name, text] of [['OTEL_EXPORTER_OTLP_HEADERS', headers], [`OTEL_EXPORTER_OTLP_${S}_HEADERS`, get(`OTEL_EXPORTER_OTLP_${S}_HEADERS`)]] as const) {
      if (text === undefined) continue;
      const kv = parseKeyValueList(text);
      if (typeof kv === 'string') problems.add('environment', name, kv);
      else Object.assign(c.otlp[s].headers, kv);
    }
    for (const [name, text] of [['OTEL_EXPORTER_OTLP_PROTOCOL', protocol], [`OTEL_EXPORTER_OTLP_${S}_PROTOCOL`, get(`OTEL_EXPORTER_OTLP_${S}_PROTOCOL`)]] as const) {
      if (text === undefined) continue;
      const p = asOneOf(text, OTLP_PROTOCOLS);
      if ((OTLP_PROTOCOLS as readonly string[]).includes(p)) c.otlp[s].protocol = p as OtlpSignalConfig['protocol'];
      else problems.add('environment', name, p);
    }
  }
  // Profiles are not one of SIGNALS (traces/metrics/logs): they have their own section.
  const profiles = get('OTEL_EXPORTER_OTLP_PROFILES_ENDPOINT');
  if (profiles !== undefined) {
    setProfilesEndpoint(c.profiler, profiles, 'environment', 'OTEL_EXPORTER_OTLP_PROFILES_ENDPOINT', problems);
    c.profiler.otlp.enabled = true;
  }
  const profilesProtocol = get('OTEL_EXPORTER_OTLP_PROFILES_PROTOCOL');
  if (profilesProtocol !== undefined) setProfilesProtocol(c.profiler, profilesProtocol, 'environment', 'OTEL_EXPORTER_OTLP_PROFILES_PROTOCOL', problems);
  const timeout = get('OTEL_EXPORTER_OTLP_TIMEOUT');
  if (timeout !== undefined) {
    const n = asPositiveInt(timeout);
    if (typeof n === 'string') problems.add('environment', 'OTEL_EXPORTER_OTLP_TIMEOUT', n);
    else c.otlp.timeoutMs = n;
  }
  const attrs = get('OTEL_RESOURCE_ATTRIBUTES');
  if (attrs !== undefined) {
    const kv = parseKeyValueList(attrs);
    if (typeof kv === 'string') problems.add('environment', 'OTEL_RESOURCE_ATTRIBUTES', kv);
    else Object.assign(c.resourceAttributes, kv);
  }
  const service = get('OTEL_SERVICE_NAME');
  if (service !== undefined) c.serviceName = service;
}

// --- flags -----------------------------------------------------------------------------------

function applyFlags(c: AgentConfig, f: ConfigFlags, problems: Problems): void {
  if (f.pids !== undefined && f.pids.length > 0) setPids(c, f.pids, 'command line', '--pid', problems);
  if (f.duration !== undefined) setDuration(c, f.duration, 'command line', '--duration', problems);
  if (f.otlpEndpoint !== undefined) setEndpoint(c.otlp, f.otlpEndpoint, 'command line', '--otlp-endpoint', problems);
  if (f.otlpFile !== undefined) {
    if (f.otlpFile === '') problems.add('command line', '--otlp-file', 'expected a file path');
    else c.otlp.file = f.otlpFile;
  }
  if (f.collectors !== undefined) setCollectors(c, f.collectors.split(',').filter((s) => s.trim() !== ''), 'command line', '--collectors', problems);
  if (f.logLevel !== undefined) setLogLevel(c, f.logLevel, 'command line', '--log-level', problems);
  if (f.logFormat !== undefined) setLogFormat(c, f.logFormat, 'command line', '--log-format', problems);
  if (f.port !== undefined) setPort(c, f.port, 'command line', '--port', problems);
  if (f.maxSpansPerSecond !== undefined) setMaxSpans(c, f.maxSpansPerSecond, 'command line', '--max-spans-per-second', problems);
  if (f.maxCpuPercent !== undefined) setMaxCpu(c, f.maxCpuPercent, 'command line', '--max-cpu-percent', problems);
  if (f.contendedCpuPercent !== undefined) setContendedCpu(c, f.contendedCpuPercent, 'command line', '--contended-cpu-percent', problems);
  if (f.probesDir !== undefined) setProbesDir(c, f.probesDir, 'command line', '--probes-dir', problems);
  if (f.shutdownTimeout !== undefined) setShutdownTimeout(c.export, f.shutdownTimeout, 'command line', '--shutdown-timeout', problems);
  if (f.nice !== undefined) setNice(c, f.nice, 'command line', '--nice', problems);
  const flagRules = [['includeExe', 'include', 'exe', '--include-exe'], ['excludeExe', 'exclude', 'exe', '--exclude-exe'],
    ['includePort', 'include', 'port', '--include-port'], ['excludePort', 'exclude', 'port', '--exclude-port']] as const;
  for (const [flag, list, field, name] of flagRules) {
    for (const v of f[flag] ?? []) {
      // Problems named by the flag, not by the rule field it fills.
      const local = new Problems();
      const rule = parseSelectionRule({ [field]: v }, 'command line', name, local);
      for (const p of local.list) problems.add('command line', name, p.message);
      if (rule !== null) c.selection[list].push(rule);
    }
  }
}
