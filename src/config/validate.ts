// Small validators that name the offending setting and its source in every message.
import { LanternError } from '../errors.js';

export class ConfigProblem {
  constructor(
    readonly source: string,
    readonly path: string,
    readonly message: string,
  ) {}

  toString(): string {
    return `${this.source}: ${this.path}: ${this.message}`;
  }
}

/** Gathers every problem so the user fixes them all in one go. */
export class Problems {
  readonly list: ConfigProblem[] = [];

  add(source: string, path: string, message: string): void {
    this.list.push(new ConfigProblem(source, path, message));
  }

  throwIfAny(): void {
    if (this.list.length === 0) return;
    throw new LanternError('LANTERN_ERR_CONFIG', `invalid configuration:\n  ${this.list.map(String).join('\n  ')}`);
  }
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'string') return JSON.stringify(v);
  return typeof v === 'object' ? 'a mapping' : String(v);
}

/** A YAML number or a command line's digits as a number; NaN for anything else (the caller says what it expected). */
export function wholeNumber(v: unknown): number {
  return typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : Number.NaN;
}

/** A YAML number or a command line's decimal (fractions allowed) as a number; NaN for anything else. */
export function decimalNumber(v: unknown): number {
  return typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : Number.NaN;
}

export function asPositiveInt(v: unknown, max = Number.MAX_SAFE_INTEGER): number | string {
  const n = typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n <= 0 || n > max) return `expected a whole number from 1 to ${max}, got ${describe(v)}`;
  return n;
}

export function asPositiveNumber(v: unknown): number | string {
  const n = decimalNumber(v);
  if (!Number.isFinite(n) || n <= 0) return `expected a positive number, got ${describe(v)}`;
  return n;
}

export function asUrl(v: unknown): string | { error: string } {
  if (typeof v !== 'string') return { error: `expected a URL, got ${describe(v)}` };
  try {
    const u = new URL(v);
    if (u.protocol === 'http:' || u.protocol === 'https:') return v;
  } catch {
    // reported below
  }
  return { error: `expected an http:// or https:// URL such as http://localhost:4317, got ${JSON.stringify(v)}` };
}

export function asOneOf<T extends string>(v: unknown, allowed: readonly T[]): T | string {
  if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
  return `expected one of ${allowed.join(', ')}, got ${describe(v)}`;
}

/**
 * Parses the W3C-baggage-like lists of OTEL_RESOURCE_ATTRIBUTES and OTEL_EXPORTER_OTLP_HEADERS:
 * `key1=value1,key2=value2`, values percent-encoded.
 */
export function parseKeyValueList(text: string): Record<string, string> | string {
  const out: Record<string, string> = {};
  for (const part of text.split(',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) return `expected key=value pairs separated by commas, got ${JSON.stringify(part.trim())}`;
    const key = part.slice(0, eq).trim();
    try {
      out[key] = decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      return `value of ${key} is not valid percent-encoding`;
    }
  }
  return out;
}
