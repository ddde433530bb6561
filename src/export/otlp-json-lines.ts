// --otlp-file encoding of metrics: the OTel JS JSON serializer (the OTLP/HTTP JSON body), with 64-bit
// integers as decimal strings, as the protobuf JSON mapping writes them and the Collector's file
// exporter does (the serializer emits numbers; readers accept both). Spans: otlp-spans.ts.
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';

type Serializers = typeof import('@opentelemetry/otlp-transformer');
let serializers: Promise<Serializers> | null = null;
function load(): Promise<Serializers> {
  return (serializers ??= import('@opentelemetry/otlp-transformer'));
}

const decoder = new TextDecoder();

/** One ExportMetricsServiceRequest holding every given resource. */
export async function metricsRequestJson(resourceMetrics: readonly ResourceMetrics[]): Promise<object> {
  const { JsonMetricsSerializer } = await load();
  const all: unknown[] = [];
  for (const rm of resourceMetrics) {
    const req = JSON.parse(decoder.decode(JsonMetricsSerializer.serializeRequest(rm))) as { resourceMetrics?: unknown[] };
    all.push(...(req.resourceMetrics ?? []));
  }
  return canonicalInt64({ resourceMetrics: all });
}

// (s)fixed64 / (u)int64 fields of the OTLP messages Lantern writes; the rest are 32-bit or double.
const INT64_FIELDS = new Set(['intValue', 'asInt', 'count', 'bucketCounts', 'zeroCount']);

export function canonicalInt64<T>(v: T): T {
  if (Array.isArray(v)) {
    for (const x of v) canonicalInt64(x);
  } else if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    for (const [k, x] of Object.entries(o)) {
      if (INT64_FIELDS.has(k)) {
        if (typeof x === 'number') o[k] = String(x);
        else if (Array.isArray(x)) o[k] = x.map((e) => (typeof e === 'number' ? String(e) : e));
        else canonicalInt64(x);
      } else canonicalInt64(x);
    }
  }
  return v;
}
