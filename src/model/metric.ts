// Metric series a collector computes itself (bpftrace maps), as opposed to the histograms the
// exporter aggregates from HistogramPoints: each is the series' current value, cumulative since
// its start, ready to export as it is.
import type { Attributes, ResourceRecord } from './span.js';

export type MetricValue =
  | { kind: 'sum'; monotonic: boolean; value: number }
  | { kind: 'gauge'; value: number }
  /** Explicit-bucket histogram: counts[i] counts values in (bounds[i-1], bounds[i]], the last one above every bound. */
  | { kind: 'histogram'; bounds: number[]; counts: number[]; count: number };

export interface MetricSeries {
  name: string;
  description: string;
  unit: string;
  attributes: Attributes;
  startTimeUnixNano: bigint;
  timeUnixNano: bigint;
  value: MetricValue;
  resource: ResourceRecord;
}
