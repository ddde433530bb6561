// Which processes are traced, as a pure decision over what is known of a process. A process is
// traced when it matches some include rule (or there are none) and no exclude rule; within a rule
// every field given must match (fields are ANDed, rules ORed), as in Beyla's discovery selectors.
// A fact not known (no pod yet, executable unreadable) matches no field that asks about it.
import { basename } from 'node:path';
import { DEFAULT_EXCLUDES, type SelectionConfig, type SelectionRule } from '../config/selection.js';
import { type Glob, compileGlob } from './glob.js';

/** What is known of one process when it is judged. */
export interface ProcessFacts {
  pid: number;
  /** The executable's path (/proc/<pid>/exe), null when unreadable (a kernel thread, gone). */
  exePath: string | null;
  /** The kernel's comm: the executable's name (15 bytes at most) when the path is unreadable. */
  comm: string | null;
  /** TCP ports the process listens on (its own sockets), null when not looked up. */
  ports: ReadonlySet<number> | null;
  /** The container of its cgroup (64 hex digits), null when in none. */
  containerId: string | null;
  /** Its pod, when the Kubernetes metadata knows it. */
  pod: { namespace: string; labels: Readonly<Record<string, string>> } | null;
}

export interface Decision {
  traced: boolean;
  /** Why, for logs and the API: "exclude[0]", "include[2]", "no include rule matched", "default". */
  reason: string;
}

interface CompiledRule {
  source: string;
  exe: { glob: Glob; path: boolean } | null;
  port: SelectionRule['port'];
  container: SelectionRule['container'];
  namespace: Glob | null;
  labels: Array<[string, Glob]>;
}

export class SelectionRules {
  readonly #include: CompiledRule[];
  readonly #exclude: CompiledRule[];

  /** `config` is validated already (config/selection.ts): a glob that does not compile throws. */
  constructor(config: Pick<SelectionConfig, 'include' | 'exclude' | 'defaultExcludes'>) {
    this.#include = config.include.map((r, i) => compileRule(r, `selection.include[${i}]`));
    this.#exclude = [
      ...config.exclude.map((r, i) => compileRule(r, `selection.exclude[${i}]`)),
      ...(config.defaultExcludes ? DEFAULT_EXCLUDES.map((r) => compileRule(r, `default exclude ${describeRule(r)}`)) : []),
    ];
  }

  get hasIncludes(): boolean {
    return this.#include.length > 0;
  }

  get hasExcludes(): boolean {
    return this.#exclude.length > 0;
  }

  /** Some rule asks about listening ports (they are then looked up, periodically). */
  get usesPorts(): boolean {
    return [...this.#include, ...this.#exclude].some((r) => r.port !== undefined);
  }

  /** Some rule asks about a pod (decisions change when pods arrive). */
  get usesPods(): boolean {
    return [...this.#include, ...this.#exclude].some((r) => r.namespace !== null || r.labels.length > 0);
  }

  decide(f: ProcessFacts): Decision {
    const ex = this.#exclude.find((r) => matches(r, f));
    if (ex !== undefined) return { traced: false, reason: ex.source };
    if (this.#include.length === 0) return { traced: true, reason: 'no include rules' };
    const inc = this.#include.find((r) => matches(r, f));
    return inc !== undefined ? { traced: true, reason: inc.source } : { traced: false, reason: 'no include rule matched' };
  }
}

/** A rule as it is written in YAML: `{exe: otelcol*}`. */
export function describeRule(r: SelectionRule): string {
  const parts: string[] = [];
  if (r.exe !== undefined) parts.push(`exe: ${r.exe}`);
  if (r.port !== undefined) parts.push(`port: ${r.port.map(([lo, hi]) => (lo === hi ? `${lo}` : `${lo}-${hi}`)).join(',')}`);
  if (r.container !== undefined) parts.push(`container: ${r.container}`);
  if (r.k8sNamespace !== undefined) parts.push(`k8s_namespace: ${r.k8sNamespace}`);
  if (r.k8sPodLabels !== undefined) parts.push(`k8s_pod_labels: {${Object.entries(r.k8sPodLabels).map(([k, v]) => `${k}: ${v}`).join(', ')}}`);
  return `{${parts.join(', ')}}`;
}

function compileRule(r: SelectionRule, source: string): CompiledRule {
  const glob = (p: string): Glob => {
    const g = compileGlob(p);
    if (typeof g === 'string') throw new Error(`${source}: ${JSON.stringify(p)}: ${g}`);
    return g;
  };
  return {
    source,
    exe: r.exe !== undefined ? { glob: glob(r.exe), path: r.exe.includes('/') } : null,
    port: r.port,
    container: r.container,
    namespace: r.k8sNamespace !== undefined ? glob(r.k8sNamespace) : null,
    labels: Object.entries(r.k8sPodLabels ?? {}).map(([k, v]) => [k, glob(v)]),
  };
}

/** The executable's name: the path's last part (" (deleted)" removed), else comm. */
export function exeName(f: Pick<ProcessFacts, 'exePath' | 'comm'>): string | null {
  return f.exePath !== null ? basename(f.exePath.replace(/ \(deleted\)$/, '')) : f.comm;
}

function matches(r: CompiledRule, f: ProcessFacts): boolean {
  if (r.exe !== null) {
    const text = r.exe.path ? f.exePath?.replace(/ \(deleted\)$/, '') ?? null : exeName(f);
    if (text === null || !r.exe.glob(text)) return false;
  }
  if (r.port !== undefined) {
    if (f.ports === null || ![...f.ports].some((p) => r.port!.some(([lo, hi]) => p >= lo && p <= hi))) return false;
  }
  if (r.container !== undefined) {
    if (r.container === true ? f.containerId === null
      : r.container === false ? f.containerId !== null
        : f.containerId === null || !f.containerId.startsWith(r.container)) return false;
  }
  if (r.namespace !== null && (f.pod === null || !r.namespace(f.pod.namespace))) return false;
  for (const [k, v] of r.labels) {
    const value = f.pod?.labels[k];
    if (value === undefined || !v(value)) return false;
  }
  return true;
}
