// The `selection` section: which processes every collector traces (src/selection/). A process is
// traced when it matches some include rule (or there are none) and no exclude rule (the user's or,
// unless default_excludes is false, DEFAULT_EXCLUDES). README, "Choosing what is traced".
import { compileGlob } from '../selection/glob.js';
import type { Problems } from './validate.js';
import { describe } from './validate.js';

/** One rule: every field given must match (AND). */
export interface SelectionRule {
  /** Glob over the executable's path when it contains '/', else over its name. */
  exe?: string;
  /** Listening TCP ports, as inclusive ranges: one of them open matches. */
  port?: Array<[number, number]>;
  /** true: in some container; false: in none; a string: that container id (or a prefix of it). */
  container?: boolean | string;
  /** Glob over the pod's namespace. */
  k8sNamespace?: string;
  /** Every label present with a value the glob matches ("*": the key exists). */
  k8sPodLabels?: Record<string, string>;
}

export interface SelectionConfig {
  include: SelectionRule[];
  exclude: SelectionRule[];
  /** Also exclude DEFAULT_EXCLUDES (telemetry back ends, kube-system). */
  defaultExcludes: boolean;
  /** How often processes are looked at again (listening ports, processes the agent missed). */
  rescanSeconds: number;
}

/**
 * Excluded unless default_excludes is false: OpenTelemetry Collector builds (otelcol,
 * otelcol-contrib, otelcol-k8s, a custom otelcol-*; the contrib build's own name otelcontribcol),
 * Jaeger (jaeger, jaeger-all-in-one, jaeger-collector, jaeger-query, …), Grafana Pyroscope, and the
 * kube-system namespace. Where Lantern's telemetry goes would otherwise be traced exporting it.
 */
export const DEFAULT_EXCLUDES: readonly SelectionRule[] = [
  { exe: 'otelcol*' }, { exe: 'otelcontribcol*' }, { exe: 'jaeger*' }, { exe: 'pyroscope*' }, { k8sNamespace: 'kube-system' },
];

export function defaultSelectionConfig(): SelectionConfig {
  return { include: [], exclude: [], defaultExcludes: true, rescanSeconds: 10 };
}

/** The exclude rules in force: the user's, then the defaults. */
export function effectiveExcludes(c: SelectionConfig): SelectionRule[] {
  return c.defaultExcludes ? [...c.exclude, ...DEFAULT_EXCLUDES] : c.exclude;
}

const KEYS = ['include', 'exclude', 'default_excludes', 'rescan_seconds'];
const RULE_KEYS = ['exe', 'port', 'container', 'k8s_namespace', 'k8s_pod_labels'];

export function applySelectionFile(c: SelectionConfig, o: Record<string, unknown> | undefined, source: string, problems: Problems): void {
  if (!o) return;
  for (const k of Object.keys(o)) if (!KEYS.includes(k)) problems.add(source, `selection.${k}`, `unknown setting (known: ${KEYS.join(', ')})`);
  for (const which of ['include', 'exclude'] as const) {
    const v = o[which];
    if (v === undefined || v === null) continue;
    if (!Array.isArray(v)) {
      problems.add(source, `selection.${which}`, `expected a list of rules, got ${describe(v)}`);
      continue;
    }
    c[which] = [];
    v.forEach((r, i) => {
      const rule = parseSelectionRule(r, source, `selection.${which}[${i}]`, problems);
      if (rule !== null) c[which].push(rule);
    });
  }
  if (o.default_excludes !== undefined) {
    if (typeof o.default_excludes === 'boolean') c.defaultExcludes = o.default_excludes;
    else problems.add(source, 'selection.default_excludes', `expected true or false, got ${describe(o.default_excludes)}`);
  }
  if (o.rescan_seconds !== undefined) {
    const n = o.rescan_seconds;
    if (typeof n === 'number' && Number.isFinite(n) && n >= 0.1 && n <= 3600) c.rescanSeconds = n;
    else problems.add(source, 'selection.rescan_seconds', `expected a number of seconds from 0.1 to 3600, got ${describe(n)}`);
  }
}

/** One rule from YAML (or a flag); null (and problems named by `path`) when it is not valid. */
export function parseSelectionRule(v: unknown, source: string, path: string, problems: Problems): SelectionRule | null {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    problems.add(source, path, `expected a rule (a mapping of ${RULE_KEYS.join(', ')}), got ${describe(v)}`);
    return null;
  }
  const o = v as Record<string, unknown>;
  const before = problems.list.length;
  const rule: SelectionRule = {};
  for (const k of Object.keys(o)) if (!RULE_KEYS.includes(k)) problems.add(source, `${path}.${k}`, `unknown rule field (known: ${RULE_KEYS.join(', ')})`);
  const glob = (key: string, x: unknown): string | undefined => {
    if (typeof x !== 'string' || x === '') {
      problems.add(source, `${path}.${key}`, `expected a glob pattern, got ${describe(x)}`);
      return undefined;
    }
    const g = compileGlob(x);
    if (typeof g === 'string') problems.add(source, `${path}.${key}`, `not a glob pattern: ${g} in ${JSON.stringify(x)}`);
    return typeof g === 'string' ? undefined : x;
  };
  if (o.exe !== undefined) rule.exe = glob('exe', o.exe);
  if (o.port !== undefined) {
    const ports = parsePorts(o.port);
    if (typeof ports === 'string') problems.add(source, `${path}.port`, ports);
    else rule.port = ports;
  }
  if (o.container !== undefined) {
    const x = o.container;
    if (typeof x === 'boolean') rule.container = x;
    else if (typeof x === 'string' && /^[0-9a-f]{12,64}$/.test(x)) rule.container = x;
    else problems.add(source, `${path}.container`, `expected true (any container), false (none) or a container id (12 to 64 lower-case hex digits), got ${describe(x)}`);
  }
  if (o.k8s_namespace !== undefined) rule.k8sNamespace = glob('k8s_namespace', o.k8s_namespace);
  if (o.k8s_pod_labels !== undefined) {
    const x = o.k8s_pod_labels;
    if (x === null || typeof x !== 'object' || Array.isArray(x) || Object.keys(x).length === 0) {
      problems.add(source, `${path}.k8s_pod_labels`, `expected a mapping of label → value glob ("*": the label exists), got ${describe(x)}`);
    } else {
      rule.k8sPodLabels = {};
      for (const [k, val] of Object.entries(x as Record<string, unknown>)) {
        const text = typeof val === 'number' || typeof val === 'boolean' ? String(val) : val;
        const g = glob(`k8s_pod_labels.${k}`, text);
        if (g !== undefined) rule.k8sPodLabels[k] = g;
      }
    }
  }
  if (Object.keys(o).length === 0) problems.add(source, path, `a rule needs at least one of ${RULE_KEYS.join(', ')}`);
  return problems.list.length === before ? rule : null;
}

/** 8080, "80,443,8000-8999", or a list of those → inclusive ranges; a string says what is wrong. */
export function parsePorts(v: unknown): Array<[number, number]> | string {
  const parts = Array.isArray(v) ? v : typeof v === 'number' ? [v] : typeof v === 'string' ? v.split(',') : null;
  const bad = `expected a port (1-65535), a range such as 8000-8999, or a list of them, got ${describe(v)}`;
  if (parts === null || parts.length === 0) return bad;
  const out: Array<[number, number]> = [];
  for (const p of parts) {
    const m = typeof p === 'number' ? [String(p), String(p), String(p)] : typeof p === 'string' ? /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(p) : null;
    if (m === null) return bad;
    const lo = Number(m[1]);
    const hi = Number(m[2] ?? m[1]);
    if (!Number.isInteger(lo) || lo < 1 || hi > 65535 || hi < lo) return bad;
    out.push([lo, hi]);
  }
  return out;
}
