// Aggregated histograms as the SDK's ResourceMetrics, the input of the OTLP metric serializers.
import type { HrTime, ValueType } from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { AggregationTemporality, DataPointType, GaugeMetricData, HistogramMetricData, MetricData, ResourceMetrics, SumMetricData } from '@opentelemetry/sdk-metrics';
import type { MetricSeries } from '../model/metric.js';
import type { ResourceRecord } from '../model/span.js';
import type { ResourceHistograms } from './histogram-aggregator.js';
import { SCOPE_NAME, SCOPE_VERSION } from './otlp-common.js';
import type { ResourceCache } from './resource-cache.js';

/**
 * The SDK enum values these records use, as constants: importing @opentelemetry/sdk-metrics (and
 * @opentelemetry/api) for five numbers was ~45 ms of the agent's start-up, before tracing; the
 * metric exporters load them with themselves, at the first export. test/export/metric-data.test.ts
 * holds them to the SDK's.
 */
export const SDK_VALUES = {
  double: 1 as ValueType.DOUBLE,
  cumulative: 1 as AggregationTemporality.CUMULATIVE,
  histogram: 0 as DataPointType.HISTOGRAM,
  gauge: 2 as DataPointType.GAUGE,
  sum: 3 as DataPointType.SUM,
} as const;

/** Metrics are grouped by scope object identity too: one object for all. */
const LANTERN_SCOPE: InstrumentationScope = { name: SCOPE_NAME, version: SCOPE_VERSION };

const NS_PER_S = 1_000_000_000n;

/** Epoch nanoseconds → [seconds, nanoseconds], exactly (a double would lose the last digits). */
export function nsToHrTime(ns: bigint): HrTime {
  const n = ns < 0n ? 0n : ns;
  return [Number(n / NS_PER_S), Number(n % NS_PER_S)];
}

/** One ResourceMetrics per process: one metric per instrument, one data point per attribute set. */
export function toResourceMetrics(g: ResourceHistograms, resources: ResourceCache): ResourceMetrics {
  const byName = new Map<string, HistogramMetricData>();
  const end = nsToHrTime(g.timeUnixNano);
  for (const s of g.series) {
    let m = byName.get(s.name);
    if (m === undefined) {
      m = {
        descriptor: { name: s.name, description: s.description, unit: s.unit, valueType: SDK_VALUES.double },
        aggregationTemporality: SDK_VALUES.cumulative,
        dataPointType: SDK_VALUES.histogram,
        dataPoints: [],
      };
      byName.set(s.name, m);
    }
    m.dataPoints.push({
      startTime: nsToHrTime(s.startTimeUnixNano),
      endTime: end,
      attributes: s.attributes,
      value: {
        buckets: { boundaries: [...s.boundaries], counts: s.counts },
        sum: s.sum,
        count: s.count,
        ...(s.count > 0 ? { min: s.min, max: s.max } : {}),
      },
    });
  }
  return { resource: resources.get(g.resource), scopeMetrics: [{ scope: LANTERN_SCOPE, metrics: [...byName.values()] }] };
}

/**
 * The agent's own counters (events in, bytes, parse errors, losses per stage, spans out, export
 * failures) as one gauge, `lantern.agent.stat`, with the counter's name in `lantern.stat`: one
 * bounded series per counter, whatever the collectors report.
 */
export function selfMetrics(resource: ResourceMetrics['resource'], stats: Record<string, number>, timeUnixNano: bigint, startUnixNano: bigint): ResourceMetrics {
  const end = nsToHrTime(timeUnixNano);
  const start = nsToHrTime(startUnixNano);
  const metric: GaugeMetricData = {
    descriptor: { name: 'lantern.agent.stat', description: 'Lantern agent self-metrics: counters and levels per pipeline stage', unit: '{count}', valueType: SDK_VALUES.double },
    aggregationTemporality: SDK_VALUES.cumulative,
    dataPointType: SDK_VALUES.gauge,
    dataPoints: Object.entries(stats).filter(([, v]) => Number.isFinite(v)).map(([name, value]) => ({ startTime: start, endTime: end, attributes: { 'lantern.stat': name }, value })),
  };
  return { resource, scopeMetrics: [{ scope: LANTERN_SCOPE, metrics: [metric] }] };
}

/**
 * Series a collector keeps itself (bpftrace maps) as ResourceMetrics: one per resource, one metric
 * per name (its points share the kind of the first), cumulative.
 */
export function seriesToResourceMetrics(series: readonly MetricSeries[], resourceOf: (r: ResourceRecord) => ResourceMetrics['resource']): ResourceMetrics[] {
  const byResource = new Map<string, { record: ResourceRecord; metrics: Map<string, MetricData> }>();
  for (const s of series) {
    let g = byResource.get(s.resource.key);
    if (g === undefined) byResource.set(s.resource.key, (g = { record: s.resource, metrics: new Map() }));
    let m = g.metrics.get(s.name);
    if (m === undefined) g.metrics.set(s.name, (m = emptyMetric(s)));
    const times = { startTime: nsToHrTime(s.startTimeUnixNano), endTime: nsToHrTime(s.timeUnixNano), attributes: s.attributes };
    const v = s.value;
    if (m.dataPointType === SDK_VALUES.histogram && v.kind === 'histogram') {
      m.dataPoints.push({ ...times, value: { buckets: { boundaries: [...v.bounds], counts: [...v.counts] }, count: v.count } });
    } else if (m.dataPointType !== SDK_VALUES.histogram && v.kind !== 'histogram') {
      (m as SumMetricData | GaugeMetricData).dataPoints.push({ ...times, value: v.value });
    }
  }
  return [...byResource.values()].map((g) => ({ resource: resourceOf(g.record), scopeMetrics: [{ scope: LANTERN_SCOPE, metrics: [...g.metrics.values()] }] }));
}

function emptyMetric(s: MetricSeries): MetricData {
  const descriptor = { name: s.name, description: s.description, unit: s.unit, valueType: SDK_VALUES.double };
  const aggregationTemporality = SDK_VALUES.cumulative;
  switch (s.value.kind) {
    case 'histogram':
      return { descriptor, aggregationTemporality, dataPointType: SDK_VALUES.histogram, dataPoints: [] };
    case 'sum':
      return { descriptor, aggregationTemporality, dataPointType: SDK_VALUES.sum, isMonotonic: s.value.monotonic, dataPoints: [] };
    default:
      return { descriptor, aggregationTemporality, dataPointType: SDK_VALUES.gauge, dataPoints: [] };
  }
}
