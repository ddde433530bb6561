// Records and configuration for the exporter tests.
import { type AgentConfig, defaultConfig } from '../../src/config/schema.js';
import { ResourceCache } from '../../src/export/resource-cache.js';
import { Logger } from '../../src/log.js';
import { SEVERITY, type LogRecordData } from '../../src/model/log.js';
import type { HistogramPoint, ResourceRecord, SpanRecord } from '../../src/model/span.js';
import { XorShift32 } from '../helpers/prng.js';
import { type SpanWithoutWords, withIds } from '../helpers/span-ids.js';

export const T0 = 1_700_000_000_123_456_789n;

export function resourceOf(service: string, pid: number): ResourceRecord {
  return { key: `pid:${pid}:1`, attributes: { 'service.name': service, 'process.pid': pid } };
}

/** The two processes of the encoder tests' varied batches: a plain one, and one with UTF-8 and an array. */
export const PLAIN_PROCESS = resourceOf('checkout', 101);
export const UNICODE_PROCESS: ResourceRecord = {
  key: 'pid:202:1', attributes: { 'service.name': 'naïve-ünïcode ✓', 'process.pid': 202, 'process.command_args': ['nginx:', 'worker process'] },
};
/** Text whose length needs a 3-byte varint, in a record over 64 KiB. */
export const LONG_TEXT = 'x'.repeat(70_000);

/** Span i of a resource: ids and times derived from i so tests can check them exactly. */
export function span(resource: ResourceRecord, i: number, extra: Partial<SpanWithoutWords> = {}): SpanRecord {
  const hex = (n: number, len: number): string => n.toString(16).padStart(len, '0');
  return withIds({
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
  });
}

/** Log record i of a resource: times derived from i, an event with a body and typed attributes. */
export function logRecord(resource: ResourceRecord, i: number, extra: Partial<LogRecordData> = {}): LogRecordData {
  return {
    timeUnixNano: T0 + BigInt(i) * 1_000_000n,
    observedTimeUnixNano: T0 + BigInt(i) * 1_000_000n + 5_000n,
    severity: SEVERITY.info,
    eventName: 'process.exec',
    body: `record ${i}`,
    attributes: { 'process.pid': 4242, i, ratio: 0.5, ok: true, args: ['a', 'b'] },
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

/**
 * Random batches for the encoder-vs-oracle tests: `rounds` batches of 1 to 40 records of up to 6
 * processes, record i made by `make`, each batch given to `check` until it says false. Our resource
 * cache is smaller than a batch's processes (grouping must not depend on its LRU); the oracle's
 * holds them all.
 */
export function randomBatches<R>(seed: number, rounds: number, make: (rand: () => number, resource: ResourceRecord, i: number) => R,
  check: (records: R[], cache: ResourceCache, oracleCache: ResourceCache, round: number) => boolean): void {
  const rng = new XorShift32(seed);
  const rand = (): number => rng.next() / 0x1_0000_0000;
  const cache = new ResourceCache(4, { 'host.name': 'h' });
  const oracleCache = new ResourceCache(64, { 'host.name': 'h' });
  for (let round = 0; round < rounds; round++) {
    const records: R[] = [];
    const n = 1 + Math.floor(rand() * 40);
    for (let i = 0; i < n; i++) {
      const pid = 1 + Math.floor(rand() * 6);
      records.push(make(rand, resourceOf(`svc${pid}`, pid), i));
    }
    if (!check(records, cache, oracleCache, round)) return;
  }
}
