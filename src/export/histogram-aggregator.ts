// HistogramPoints → cumulative explicit-bucket histograms, one series per (resource, instrument,
// attribute set). Lantern aggregates itself because the SDK's MeterProvider has one resource per
// provider and Lantern has one per traced process.
//
// Memory is bounded: past `maxSeries`, points go to one overflow series per (resource, instrument)
// carrying otel.metric.overflow=true, as the SDK's cardinality limit does
// (https://opentelemetry.io/docs/specs/otel/metrics/sdk/#overflow-attribute); past the reserve for
// those, points are dropped. Both are counted. Series that saw no point for `staleAfterMs` are
// forgotten (their process has usually exited), which frees room for new ones.
import type { Attributes, HistogramPoint, ResourceRecord } from '../model/span.js';

/** The semantic conventions' advice for http.*.request.duration and other duration histograms, in s. */
export const DURATION_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
/** The SDK's default explicit buckets, for anything else. */
export const DEFAULT_BUCKETS = [0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000];

export const OVERFLOW_ATTRIBUTE = 'otel.metric.overflow';

/** The database conventions' advice for db.client.operation.duration (operations are often sub-ms). */
export const DB_DURATION_BUCKETS_S = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10];

/** Instruments whose conventions advise their own buckets. */
const ADVISED: Record<string, number[]> = {
  'db.client.operation.duration': DB_DURATION_BUCKETS_S,
};

export function bucketsFor(unit: string, name = ''): number[] {
  return ADVISED[name] ?? (unit === 's' ? DURATION_BUCKETS_S : DEFAULT_BUCKETS);
}

export interface HistogramSeries {
  name: string;
  unit: string;
  description: string;
  attributes: Attributes;
  boundaries: readonly number[];
  /** boundaries.length + 1 buckets; bucket i counts values in (boundaries[i-1], boundaries[i]]. */
  counts: number[];
  count: number;
  sum: number;
  min: number;
  max: number;
  startTimeUnixNano: bigint;
}

export interface ResourceHistograms {
  resource: ResourceRecord;
  /** Cumulative state at `timeUnixNano`. */
  series: HistogramSeries[];
  timeUnixNano: bigint;
}

export interface HistogramAggregatorOptions {
  maxSeries: number;
  /** Extra room for overflow series. */
  overflowReserve: number;
  staleAfterMs: number;
  /** Wall clock, epoch ns. */
  now(): bigint;
}

export interface HistogramAggregatorStats {
  series: number;
  points: number;
  pointsOverflowed: number;
  pointsDropped: number;
  seriesExpired: number;
}

interface Series extends HistogramSeries {
  resource: ResourceRecord;
  lastUpdateNs: bigint;
  overflow: boolean;
}

export class HistogramAggregator {
  readonly #o: HistogramAggregatorOptions;
  #series = new Map<string, Series>();
  #normal = 0;
  #stats = { points: 0, pointsOverflowed: 0, pointsDropped: 0, seriesExpired: 0 };

  constructor(opts: Partial<HistogramAggregatorOptions> = {}) {
    this.#o = {
      maxSeries: 2000,
      overflowReserve: 200,
      staleAfterMs: 15 * 60_000,
      now: () => BigInt(Date.now()) * 1_000_000n,
      ...opts,
    };
  }

  record(points: readonly HistogramPoint[]): void {
    let now: bigint | undefined;
    for (const p of points) {
      if (!Number.isFinite(p.value)) {
        this.#stats.pointsDropped++;
        continue;
      }
      const base = `${p.resource.key}\u0000${p.name}\u0000`;
      const key = base + attributesKey(p.attributes);
      let s = this.#series.get(key);
      if (s === undefined) {
        if (this.#normal < this.#o.maxSeries) {
          s = this.#newSeries(key, p, p.attributes, false);
          this.#normal++;
        } else {
          const okey = `${base}\u0000overflow`;
          s = this.#series.get(okey);
          if (s === undefined && this.#series.size < this.#o.maxSeries + this.#o.overflowReserve) {
            s = this.#newSeries(okey, p, { [OVERFLOW_ATTRIBUTE]: true }, true);
          }
          if (s === undefined) {
            this.#stats.pointsDropped++;
            continue;
          }
          this.#stats.pointsOverflowed++;
        }
      }
      add(s, p.value);
      s.lastUpdateNs = now ??= this.#o.now();
      this.#stats.points++;
    }
  }

  /** Every live series' cumulative state, grouped by resource; forgets stale series. */
  collect(): ResourceHistograms[] {
    const now = this.#o.now();
    const staleBefore = now - BigInt(this.#o.staleAfterMs) * 1_000_000n;
    const byResource = new Map<string, ResourceHistograms>();
    for (const [key, s] of this.#series) {
      if (s.lastUpdateNs < staleBefore) {
        this.#series.delete(key);
        if (!s.overflow) this.#normal--;
        this.#stats.seriesExpired++;
        continue;
      }
      let g = byResource.get(s.resource.key);
      if (g === undefined) byResource.set(s.resource.key, (g = { resource: s.resource, series: [], timeUnixNano: now }));
      // A copy: the snapshot may sit in an export queue while recording goes on.
      g.series.push({
        name: s.name, unit: s.unit, description: s.description, attributes: s.attributes, boundaries: s.boundaries,
        counts: [...s.counts], count: s.count, sum: s.sum, min: s.min, max: s.max,
        startTimeUnixNano: s.startTimeUnixNano < now ? s.startTimeUnixNano : now,
      });
      // Keep the latest attributes of the process (metadata may have been resolved since).
      g.resource = s.resource;
    }
    return [...byResource.values()];
  }

  stats(): HistogramAggregatorStats {
    return { series: this.#series.size, ...this.#stats };
  }

  #newSeries(key: string, p: HistogramPoint, attributes: Attributes, overflow: boolean): Series {
    const boundaries = bucketsFor(p.unit, p.name);
    const now = this.#o.now();
    const s: Series = {
      resource: p.resource, name: p.name, unit: p.unit, description: p.description, attributes, boundaries,
      counts: new Array<number>(boundaries.length + 1).fill(0), count: 0, sum: 0,
      min: Number.POSITIVE_INFINITY, max: Number.NEGATIVE_INFINITY,
      startTimeUnixNano: p.timeUnixNano < now ? p.timeUnixNano : now, lastUpdateNs: now, overflow,
    };
    this.#series.set(key, s);
    return s;
  }
}

function add(s: Series, v: number): void {
  // Upper bounds are inclusive: the first boundary >= v names the bucket (binary search).
  let lo = 0;
  let hi = s.boundaries.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((s.boundaries[mid] as number) >= v) hi = mid;
    else lo = mid + 1;
  }
  s.counts[lo] = (s.counts[lo] ?? 0) + 1;
  s.count++;
  s.sum += v;
  if (v < s.min) s.min = v;
  if (v > s.max) s.max = v;
}

/**
 * Attribute sets equal regardless of key order give the same key. Called for every measurement:
 * keys are sorted only when not already in order (the semantic conventions build them in a fixed
 * order); every key and value is length-prefixed and values are tagged by type (200 and "200"
 * differ), so distinct sets never collide whatever characters they hold, with nothing to escape.
 */
export function attributesKey(a: Attributes): string {
  let keys = Object.keys(a);
  for (let i = 1; i < keys.length; i++) {
    if (keys[i - 1]! > keys[i]!) {
      keys = keys.sort();
      break;
    }
  }
  let out = '';
  for (const k of keys) {
    const v = a[k]!;
    let text: string;
    if (Array.isArray(v)) {
      text = `a${v.length}`;
      for (const e of v) {
        const se = String(e);
        text += `:${(typeof e)[0]}${se.length}:${se}`;
      }
    } else {
      const sv = String(v);
      text = `${(typeof v)[0]}${sv.length}:${sv}`;
    }
    out += `${k.length}:${k}=${text};`;
  }
  return out;
}
