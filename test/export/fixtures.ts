// Records and configuration for the exporter tests.
import { type AgentConfig, defaultConfig } from '../../src/config/schema.js';
import { Logger } from '../../src/log.js';
import type { HistogramPoint, ResourceRecord, SpanRecord } from '../../src/model/span.js';

export const T0 = 1_700_000_000_123_456_789n;

export function resourceOf(service: string, pid: number): ResourceRecord {
  return { key: `pid:${pid}:1`, attributes: { 'service.name': service, 'process.pid': pid } };
}

/** Span i of a resource: ids and times derived from i so tests can check them exactly. */
export function span(resource: ResourceRecord, i: number, extra: Partial<SpanRecord> = {}): SpanRecord {
  const hex = (n: number, len: number): string => n.toString(16).padStart(len, '0');
  return {
    traceId: `${hex(0xabc, 16)}${hex(i + 1, 16)}`,
    spanId: `${hex(0xdef, 8)}${hex(i + 1, 8)}`,
    name: `GET ${i}`,
    kind: 'server',
    startTimeUnixNano: T0 + BigInt(i) * 1_000_000n,
    endTimeUnixNano: T0 + BigInt(i) * 1_000_000n + 123_456_789n,
    attributes: { 'http.request.method': 'GET', 'http.response.status_code': 200, 'url.path': `/p/${i}` },
    status: { code: 'unset' },
    resource,
    ...extra,
  };
}

export function durationPoint(resource: ResourceRecord, value: number, attributes: HistogramPoint['attributes'] = {}): HistogramPoint {
  return {
    name: 'http.server.request.duration', unit: 's', description: 'Duration of HTTP server requests.', value,
    attributes: { 'http.request.method': 'GET', 'http.response.status_code': 200, ...attributes }, resource, timeUnixNano: T0,
  };
}

export function config(patch: (c: AgentConfig) => void): AgentConfig {
  const c = defaultConfig();
  patch(c);
  return c;
}

/** A Logger whose lines are kept for assertions. */
export function memoryLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: new Logger('debug', true, { write: (l: string) => void lines.push(l) }), lines };
}
