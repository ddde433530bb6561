// The bpftrace collector's settings: where scripts come from and the limits each one runs under.
import type { Problems } from './validate.js';
import { asPositiveInt, describe } from './validate.js';

export interface BpftraceConfig {
  /** The bpftrace binary (a path, or a name looked up on PATH). */
  binary: string;
  /** Scripts running at once (API, directory and command together). */
  maxScripts: number;
  /** printf lines per second per script turned into log records; the excess is dropped and counted. */
  maxLinesPerSecond: number;
  /** Longest printf line kept whole, in bytes. */
  maxLineBytes: number;
  /** A script over its line rate this many seconds in a row is stopped as a runaway. */
  runawaySeconds: number;
}

export function defaultBpftraceConfig(): BpftraceConfig {
  return { binary: 'bpftrace', maxScripts: 16, maxLinesPerSecond: 1000, maxLineBytes: 4096, runawaySeconds: 10 };
}

const KEYS = ['binary', 'max_scripts', 'max_lines_per_second', 'max_line_bytes', 'runaway_seconds'];

export function applyBpftraceFile(c: BpftraceConfig, o: Record<string, unknown> | undefined, source: string, problems: Problems): void {
  if (!o) return;
  for (const k of Object.keys(o)) if (!KEYS.includes(k)) problems.add(source, `bpftrace.${k}`, `unknown setting (known: ${KEYS.join(', ')})`);
  if (o.binary !== undefined) {
    if (typeof o.binary === 'string' && o.binary !== '') c.binary = o.binary;
    else problems.add(source, 'bpftrace.binary', `expected a path or a command name, got ${describe(o.binary)}`);
  }
  const ints: Array<[string, 'maxScripts' | 'maxLinesPerSecond' | 'maxLineBytes' | 'runawaySeconds', number]> = [
    ['max_scripts', 'maxScripts', 1024], ['max_lines_per_second', 'maxLinesPerSecond', 1_000_000],
    ['max_line_bytes', 'maxLineBytes', 1 << 20], ['runaway_seconds', 'runawaySeconds', 3600],
  ];
  for (const [key, field, max] of ints) {
    if (o[key] === undefined) continue;
    const n = asPositiveInt(o[key], max);
    if (typeof n === 'string') problems.add(source, `bpftrace.${key}`, n);
    else c[field] = n;
  }
}
