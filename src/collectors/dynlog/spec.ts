// A function probe as users write it: a NAME.yaml file in the probes directory (snake_case keys)
// or a control API body (camelCase), checked into one FunctionProbeSpec with precise errors.
//   function: main.(*Server).Login     # required
//   binary: /srv/app                   # or pid: 1234
//   args: [req.User.Name, limit]       # default: every argument
//   returns: true
//   bound: 256                         # bytes per string or slice
//   max_per_second: 100
//   ttl_seconds: 3600
import type { FunctionProbeSpec } from './collector.js';

export class ProbeSpecError extends Error {}

const KEYS: Record<string, keyof FunctionProbeSpec> = {
  function: 'function', binary: 'binary', pid: 'pid', args: 'args', returns: 'returns', bound: 'bound',
  max_per_second: 'maxPerSecond', maxPerSecond: 'maxPerSecond', ttl_seconds: 'ttlSeconds', ttlSeconds: 'ttlSeconds', name: 'name',
};

export function parseProbeSpec(name: string | undefined, raw: unknown): FunctionProbeSpec {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ProbeSpecError('expected a mapping of settings (function, binary or pid, args, returns, …)');
  const out: Partial<Record<keyof FunctionProbeSpec, unknown>> = {};
  for (const [k, v] of Object.entries(raw)) {
    const key = KEYS[k];
    if (key === undefined) throw new ProbeSpecError(`unknown setting ${k} (known: function, binary, pid, args, returns, bound, max_per_second, ttl_seconds)`);
    out[key] = v;
  }
  if (typeof out.function !== 'string' || out.function === '') throw new ProbeSpecError('function: required, e.g. main.(*Server).Login');
  if ((out.binary === undefined) === (out.pid === undefined)) throw new ProbeSpecError('give the program: binary (a path) or pid, one of them');
  if (out.binary !== undefined && (typeof out.binary !== 'string' || out.binary === '')) throw new ProbeSpecError('binary: expected a path');
  const spec: FunctionProbeSpec = { function: out.function, returns: bool(out.returns, 'returns') };
  const probeName = name ?? out.name;
  if (probeName !== undefined) {
    if (typeof probeName !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._()*/-]{0,127}$/.test(probeName)) throw new ProbeSpecError('name: letters, digits and . _ ( ) * / -');
    spec.name = probeName;
  }
  if (typeof out.binary === 'string') spec.binary = out.binary;
  if (out.pid !== undefined) spec.pid = positive(out.pid, 'pid');
  if (out.args !== undefined) {
    const args = typeof out.args === 'string' ? out.args.split(',') : out.args;
    if (!Array.isArray(args) || !args.every((a) => typeof a === 'string' && /^[A-Za-z_~][\w.]*$/.test(a.trim()))) {
      throw new ProbeSpecError('args: a list of expressions such as req.User.Name');
    }
    spec.args = args.map((a: string) => a.trim());
  }
  if (out.bound !== undefined) spec.bound = positive(out.bound, 'bound');
  if (out.maxPerSecond !== undefined) spec.maxPerSecond = positive(out.maxPerSecond, 'max_per_second');
  if (out.ttlSeconds !== undefined) spec.ttlSeconds = positive(out.ttlSeconds, 'ttl_seconds');
  return spec;
}

function positive(v: unknown, key: string): number {
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n <= 0) throw new ProbeSpecError(`${key}: expected a positive whole number, got ${JSON.stringify(v)}`);
  return n;
}

function bool(v: unknown, key: string): boolean {
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw new ProbeSpecError(`${key}: expected true or false`);
  return v;
}
