// The agent's own log: one line per event on stderr, text for people or JSON for collectors.
// Every URL in a message or a field loses its userinfo password and secret query parameters
// (semconv/redaction.ts redactUrls): endpoints, errors quoting a request's URL and the like are
// logged as they would be exported.
import { redactUrls } from './semconv/redaction.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface LogSink {
  write(line: string): void;
}

/** Strings with their URLs' secrets redacted, in arrays and plain objects a few levels down. */
function withoutUrlSecrets(v: unknown, depth: number): unknown {
  if (typeof v === 'string') return redactUrls(v);
  if (depth === 0 || v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map((x) => withoutUrlSecrets(x, depth - 1));
  if (Object.getPrototypeOf(v) !== Object.prototype) return v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, withoutUrlSecrets(x, depth - 1)]));
}

export class Logger {
  constructor(
    private readonly level: LogLevel = 'info',
    private readonly json = false,
    private readonly sink: LogSink = process.stderr,
    private readonly fields: Record<string, unknown> = {},
  ) {}

  child(fields: Record<string, unknown>): Logger {
    return new Logger(this.level, this.json, this.sink, { ...this.fields, ...fields });
  }

  enabled(level: LogLevel): boolean {
    return ORDER[level] >= ORDER[this.level];
  }

  log(level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void {
    if (!this.enabled(level)) return;
    const all: Record<string, unknown> = { ...this.fields, ...fields };
    msg = redactUrls(msg);
    for (const [k, v] of Object.entries(all)) all[k] = withoutUrlSecrets(v, 4);
    if (this.json) {
      this.sink.write(`${JSON.stringify({ time: new Date().toISOString(), level, msg, ...all })}\n`);
      return;
    }
    const extra = Object.entries(all).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
    this.sink.write(`lantern ${level.padEnd(5)} ${msg}${extra ? `  ${extra}` : ''}\n`);
  }

  debug(msg: string, fields?: Record<string, unknown>): void {
    this.log('debug', msg, fields);
  }
  info(msg: string, fields?: Record<string, unknown>): void {
    this.log('info', msg, fields);
  }
  warn(msg: string, fields?: Record<string, unknown>): void {
    this.log('warn', msg, fields);
  }
  error(msg: string, fields?: Record<string, unknown>): void {
    this.log('error', msg, fields);
  }
}
