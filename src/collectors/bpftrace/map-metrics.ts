// A script's maps as OTel metric series, kept current as bpftrace prints them (print(@map) at an
// interval, or every map at exit):
//   count(), sum()             → monotonic sums
//   avg(), min(), max(), plain → gauges; stats() → three gauges (.count, .average, .total)
//   hist(), lhist()            → histograms with the script's own buckets
// A map's key becomes attributes, one per element of a tuple key, named after the key expressions.
// Printed values are cumulative as bpftrace keeps them, unless the script clears the map itself
// (clear/zero), in which case each print holds what came since the last one and is added up here.
// A cumulative value that goes down means the map was emptied: the series starts again.
import type { MetricSeries, MetricValue } from '../../model/metric.js';
import type { Attributes, ResourceRecord } from '../../model/span.js';
import type { BpftraceMessage, HistBucket, MapValue, StatsValue } from './output.js';
import type { MapInfo, ScriptInfo } from './script-info.js';

type MapMessage = Extract<BpftraceMessage, { type: 'map' | 'stats' | 'hist' }>;

interface SeriesState {
  name: string;
  attributes: Attributes;
  start: bigint;
  value: MetricValue;
  /** The last printed counts, to tell growth from a reset in cumulative mode. */
  last: number[];
}

export interface MapMetricsStats {
  series: number;
  seriesDropped: number;
  valuesNotNumeric: number;
}

export class MapMetrics {
  readonly #series = new Map<string, SeriesState>();
  readonly #prefix: string;
  #dropped = 0;
  #notNumeric = 0;

  constructor(script: string, private readonly info: ScriptInfo, private readonly maxSeries = 2000) {
    this.#prefix = `bpftrace.${metricWord(script)}`;
  }

  update(msg: MapMessage, nowNs: bigint): void {
    const map = this.info.maps.get(msg.name) ?? { kind: msg.type === 'hist' ? 'hist' : 'value', keys: [], resets: false };
    const name = msg.name === '' ? this.#prefix : `${this.#prefix}.${metricWord(msg.name)}`;
    if (msg.type === 'hist') {
      forEachKey(msg.value, (key, buckets) => this.#histogram(name, map, key, buckets, nowNs));
    } else if (msg.type === 'stats') {
      forEachKey(msg.value, (key, v) => this.#stats(name, map, key, v, nowNs));
    } else {
      forEachKey(msg.value, (key, v) => {
        if (typeof v !== 'number') this.#notNumeric++;
        else if (map.kind === 'count' || map.kind === 'sum') this.#counter(name, map, key, v, nowNs);
        else this.#set(name, map, key, { kind: 'gauge', value: v }, nowNs);
      });
    }
  }

  /** Every series as of `nowNs`, under the script's resource. */
  series(resource: ResourceRecord, nowNs: bigint): MetricSeries[] {
    return [...this.#series.values()].map((s) => ({
      name: s.name, description: `bpftrace map ${s.name}`, unit: '1', attributes: s.attributes,
      startTimeUnixNano: s.start, timeUnixNano: nowNs, value: s.value, resource,
    }));
  }

  stats(): MapMetricsStats {
    return { series: this.#series.size, seriesDropped: this.#dropped, valuesNotNumeric: this.#notNumeric };
  }

  #stats(name: string, map: MapInfo, key: string | null, v: number | StatsValue, now: bigint): void {
    if (typeof v === 'number') {
      this.#set(name, map, key, { kind: 'gauge', value: v }, now);
      return;
    }
    this.#set(`${name}.count`, map, key, { kind: 'gauge', value: v.count }, now);
    this.#set(`${name}.average`, map, key, { kind: 'gauge', value: v.average }, now);
    this.#set(`${name}.total`, map, key, { kind: 'gauge', value: v.total }, now);
  }

  #counter(name: string, map: MapInfo, key: string | null, v: number, now: bigint): void {
    const s = this.#state(name, map, key, now, () => ({ kind: 'sum', monotonic: true, value: 0 }));
    if (s === null || s.value.kind !== 'sum') return;
    s.value.value = accumulate(s, [v], map.resets, now)[0] ?? 0;
  }

  #histogram(name: string, map: MapInfo, key: string | null, buckets: HistBucket[], now: bigint): void {
    const s = this.#state(name, map, key, now, () => ({ kind: 'histogram', bounds: [], counts: [0], count: 0 }));
    if (s === null || s.value.kind !== 'histogram') return;
    const h = s.value;
    const wanted = bucketBounds(map, buckets, h.bounds);
    if (wanted !== h.bounds) {
      // Bounds only ever grow at the top (the counts above the old top were zero), unless the
      // script's buckets cannot be placed: then the series starts again.
      const extends_ = wanted.length >= h.bounds.length && h.bounds.every((b, i) => wanted[i] === b);
      if (!extends_) {
        s.start = now;
        s.last = [];
        h.counts = new Array<number>(wanted.length + 1).fill(0);
      } else {
        h.counts = [...h.counts.slice(0, -1), ...new Array<number>(wanted.length - h.bounds.length).fill(0), h.counts[h.counts.length - 1] ?? 0];
      }
      h.bounds = wanted;
    }
    const printed = new Array<number>(h.bounds.length + 1).fill(0);
    for (const b of buckets) {
      const i = b.max === undefined ? h.bounds.length : h.bounds.indexOf(b.max);
      if (i >= 0) printed[i] = (printed[i] ?? 0) + b.count;
    }
    h.counts = accumulate(s, printed, map.resets, now);
    h.count = h.counts.reduce((a, b) => a + b, 0);
  }

  #set(name: string, map: MapInfo, key: string | null, value: MetricValue, now: bigint): void {
    const s = this.#state(name, map, key, now, () => value);
    if (s !== null) s.value = value;
  }

  #state(name: string, map: MapInfo, key: string | null, now: bigint, initial: () => MetricValue): SeriesState | null {
    const id = `${name}\u0000${key ?? ''}`;
    let s = this.#series.get(id);
    if (s === undefined) {
      if (this.#series.size >= this.maxSeries) {
        this.#dropped++;
        return null;
      }
      s = { name, attributes: keyAttributes(map.keys, key), start: now, value: initial(), last: [] };
      this.#series.set(id, s);
    }
    return s;
  }
}

/**
 * The new cumulative values from printed ones: added when the script clears the map after printing,
 * taken as they are otherwise, and a reset (new start time) when any went down.
 */
function accumulate(s: SeriesState, printed: number[], resets: boolean, now: bigint): number[] {
  const current = s.value.kind === 'histogram' ? s.value.counts : s.value.kind === 'sum' ? [s.value.value] : [];
  let out: number[];
  if (resets) out = printed.map((v, i) => (current[i] ?? 0) + v);
  else {
    if (printed.some((v, i) => v < (s.last[i] ?? 0))) s.start = now;
    out = printed;
  }
  s.last = printed;
  return out;
}

/** The upper bounds (inclusive: bpftrace's buckets are integer ranges) the printed buckets need. */
function bucketBounds(map: MapInfo, buckets: HistBucket[], current: number[]): number[] {
  if (map.kind === 'lhist' && map.linear !== undefined) {
    if (current.length > 0) return current;
    const { min, max, step } = map.linear;
    const bounds = [min - 1];
    for (let b = min + step; b <= max && step > 0; b += step) bounds.push(b - 1);
    return bounds;
  }
  const top = Math.max(-1, ...buckets.map((b) => b.max ?? -Infinity));
  if (map.kind === 'hist' || map.kind === 'value') {
    // hist(): (…,-1], [0], [1], [2,3], [4,7], … [2^k, 2^(k+1)-1]: powers of two up to the top seen.
    if (current.length > 0 && (current[current.length - 1] ?? 0) >= top) return current;
    const bounds = [-1, 0];
    for (let b = 1; b <= top || bounds.length < 3; b = b * 2 + 1) bounds.push(b);
    return bounds;
  }
  // lhist with bounds the reader could not see: the printed ones, merged with those known.
  const seen = [...new Set([...current, ...buckets.flatMap((b) => (b.max === undefined ? [] : [b.max]))])].sort((a, b) => a - b);
  return seen.length === current.length ? current : seen;
}

function forEachKey<T>(value: MapValue<T>, f: (key: string | null, v: T) => void): void {
  if ('scalar' in value) f(null, value.scalar);
  else for (const [k, v] of value.keyed) f(k, v);
}

/** "1234,bash" with keys [pid, comm] → { pid: 1234, comm: "bash" }; the last element takes any extra commas. */
function keyAttributes(names: string[], key: string | null): Attributes {
  if (key === null) return {};
  if (names.length <= 1) return { [names[0] ?? 'key']: keyValue(key) };
  const parts = key.split(',');
  const out: Attributes = {};
  names.forEach((n, i) => {
    const v = i === names.length - 1 ? parts.slice(i).join(',') : parts[i];
    if (v !== undefined) out[n] = keyValue(v);
  });
  return out;
}

function keyValue(v: string): string | number {
  return /^-?\d+$/.test(v) && Number.isSafeInteger(Number(v)) ? Number(v) : v;
}

/** A name part of an OTel metric name: lowercase letters, digits and underscores. */
function metricWord(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9_]+/g, '_').replace(/^_+|_+$/g, '') || 'map';
}
