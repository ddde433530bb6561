// HistogramPoints → cumulative explicit-bucket histograms, one series per (resource, instrument,
// attribute set). Lantern aggregates itself because the SDK's MeterProvider has one resource per
// provider and Lantern has one per traced process.
//
// Memory is bounded: past `maxSeries`, points go to one overflow series per (resource, instrument)
// carrying otel.metric.overflow=true, as the SDK's cardinality limit does
// (https://opentelemetry.io/docs/specs/otel/metrics/sdk/#overflow-attribute); past the reserve for
// those, points are dropped. Both are counted. Series that saw no point for `staleAfterMs` (as the
// collections see it) are forgotten (their process has usually exited), which frees room for new ones.
import type { AttributeValue, Attributes, CountedValues, HistogramPoint, ResourceRecord } from '../model/span.js';

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
  /**
   * When it was last seen updated: at its creation, then at each collection after points came (set
   * there from `touched`, not per point: a clock read and a BigInt per measurement were ~3 % of the
   * agent's time per exchange). Staleness is measured to a collection interval, far below its bound.
   */
  lastUpdateNs: bigint;
  /** Points came since the last collection. */
  touched: boolean;
  overflow: boolean;
}

/**
 * Series found by walking the point's identity instead of building a string key from it: resource
 * key, instrument name, then each attribute's name and value as Map keys. Every measurement takes
 * this path; joining the parts into one key string cost a concatenation, a flattening and a hash of
 * ~150 characters per point (a tenth of the agent's time per exchange). Map keys compare by
 * SameValueZero, so 200 and "200" stay distinct as they must.
 */
interface SeriesNode {
  next: Map<unknown, SeriesNode> | null;
  series: Series | null;
}

function child(node: SeriesNode, key: unknown): SeriesNode {
  node.next ??= new Map();
  let c = node.next.get(key);
  if (c === undefined) node.next.set(key, (c = { next: null, series: null }));
  return c;
}

/** Keys of the point being recorded, sorted in place: one array for every point (no allocation). */
const sortedKeys: string[] = [];

/**
 * The node of `attributes` under `node`, keys in sorted order (sets equal in any order meet). The
 * keys are sorted by insertion into a reused array: Object.keys().sort() per point was an eighth of
 * everything the agent allocated per exchange.
 */
function attributesNode(node: SeriesNode, attributes: Attributes): SeriesNode {
  sortedKeys.length = 0;
  for (const k in attributes) {
    let i = sortedKeys.length;
    while (i > 0 && sortedKeys[i - 1]! > k) {
      sortedKeys[i] = sortedKeys[i - 1]!;
      i--;
    }
    sortedKeys[i] = k;
  }
  for (let i = 0; i < sortedKeys.length; i++) {
    const k = sortedKeys[i]!;
    node = valueNode(child(node, k), attributes[k]!);
  }
  return node;
}

function valueNode(node: SeriesNode, v: AttributeValue): SeriesNode {
  // Arrays are not Map keys by value: their tagged text is (attributesKey), under a marker that no
  // plain string value can reach.
  return Array.isArray(v) ? child(child(node, ARRAY_MARKER), attributesKey({ v })) : child(node, v);
}

const ARRAY_MARKER = Symbol('array');

/** A point's place in the tree: its instrument's node and its attributes' leaf (see #leaves). */
interface KnownLeaf {
  root: SeriesNode;
  resourceKey: string;
  name: string;
  instrument: SeriesNode;
  leaf: SeriesNode;
}

export class HistogramAggregator {
  readonly #o: HistogramAggregatorOptions;
  /** Every series, for collection and expiry. */
  #series = new Set<Series>();
  #root: SeriesNode = { next: null, series: null };
  #normal = 0;
  #stats = { points: 0, pointsOverflowed: 0, pointsDropped: 0, seriesExpired: 0 };
  /**
   * Where a frozen attribute set was last recorded, by object: the conventions give alike exchanges
   * one frozen set (semconv/http.ts), and its leaf is found again without the walk (a key sort, a
   * for-in that allocates its keys for a frozen object, and a Map lookup per key and value). Valid
   * while the tree is the same one and the point's resource and instrument are those it was found for.
   */
  readonly #leaves = new WeakMap<Attributes, KnownLeaf>();

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
    for (const p of points) {
      if (!Number.isFinite(p.value)) {
        this.#stats.pointsDropped++;
        continue;
      }
      const { instrument, leaf } = this.#nodesOf(p);
      let s = leaf.series;
      if (s === null) {
        if (this.#normal < this.#o.maxSeries) {
          s = leaf.series = this.#newSeries(p, p.attributes, false);
          this.#normal++;
        } else {
          const overflow = child(instrument, OVERFLOW);
          s = overflow.series;
          if (s === null && this.#series.size < this.#o.maxSeries + this.#o.overflowReserve) {
            s = overflow.series = this.#newSeries(p, { [OVERFLOW_ATTRIBUTE]: true }, true);
          }
          // The leaf made for this point stays empty; the tree is rebuilt when series expire.
          if (s === null) {
            this.#stats.pointsDropped++;
            continue;
          }
          this.#stats.pointsOverflowed++;
        }
      }
      if (p.counted === undefined) add(s, p.value);
      else if (!addCounted(s, p.counted)) {
        this.#stats.pointsDropped++;
        continue;
      }
      s.touched = true;
      this.#stats.points++;
    }
  }

  /** The point's instrument node and the leaf of its attributes under it. */
  #nodesOf(p: HistogramPoint): KnownLeaf {
    // Looked up before Object.isFrozen (a call into V8's runtime): only frozen sets go in, and stay frozen.
    const known = this.#leaves.get(p.attributes);
    if (known !== undefined && known.root === this.#root && known.resourceKey === p.resource.key && known.name === p.name) return known;
    const instrument = child(child(this.#root, p.resource.key), p.name);
    const found: KnownLeaf = { root: this.#root, resourceKey: p.resource.key, name: p.name, instrument, leaf: attributesNode(child(instrument, ATTRIBUTES), p.attributes) };
    if (Object.isFrozen(p.attributes)) this.#leaves.set(p.attributes, found);
    return found;
  }

  /** Every live series' cumulative state, grouped by resource; forgets stale series. */
  collect(): ResourceHistograms[] {
    const now = this.#o.now();
    const staleBefore = now - BigInt(this.#o.staleAfterMs) * 1_000_000n;
    const byResource = new Map<string, ResourceHistograms>();
    let expired = false;
    for (const s of this.#series) {
      if (s.touched) {
        s.touched = false;
        s.lastUpdateNs = now;
      } else if (s.lastUpdateNs < staleBefore) {
        this.#series.delete(s);
        if (!s.overflow) this.#normal--;
        this.#stats.seriesExpired++;
        expired = true;
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
    if (expired) this.#rebuildTree();
    return [...byResource.values()];
  }

  stats(): HistogramAggregatorStats {
    return { series: this.#series.size, ...this.#stats };
  }

  /** The tree again from the live series only: expired series and empty leaves leave no nodes. */
  #rebuildTree(): void {
    this.#root = { next: null, series: null };
    for (const s of this.#series) {
      const instrument = child(child(this.#root, s.resource.key), s.name);
      const node = s.overflow ? child(instrument, OVERFLOW) : attributesNode(child(instrument, ATTRIBUTES), s.attributes);
      node.series = s;
    }
  }

  #newSeries(p: HistogramPoint, attributes: Attributes, overflow: boolean): Series {
    const boundaries = bucketsFor(p.unit, p.name);
    const now = this.#o.now();
    const s: Series = {
      resource: p.resource, name: p.name, unit: p.unit, description: p.description, attributes, boundaries,
      counts: new Array<number>(boundaries.length + 1).fill(0), count: 0, sum: 0,
      min: Number.POSITIVE_INFINITY, max: Number.NEGATIVE_INFINITY,
      startTimeUnixNano: p.timeUnixNano < now ? p.timeUnixNano : now, lastUpdateNs: now, touched: false, overflow,
    };
    this.#series.add(s);
    return s;
  }
}

/** Under an instrument: its attribute sets, and apart from them its overflow series. */
const ATTRIBUTES = Symbol('attributes');
const OVERFLOW = Symbol('overflow');

/** Adds values bucketed elsewhere; false when their buckets are not the series' (nothing added). */
function addCounted(s: Series, c: CountedValues): boolean {
  if (c.counts.length !== s.counts.length || c.boundaries.some((b, i) => b !== s.boundaries[i])) return false;
  for (let i = 0; i < c.counts.length; i++) s.counts[i]! += c.counts[i]!;
  s.count += c.count;
  s.sum += c.sum;
  if (c.count > 0 && c.min < s.min) s.min = c.min;
  if (c.count > 0 && c.max > s.max) s.max = c.max;
  return true;
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
