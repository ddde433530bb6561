// The OpenTelemetry JS exporters Lantern sends through, configured from the resolved settings only:
// url, headers and timeout are passed explicitly, so AgentConfig (which already folded in the OTEL_*
// variables) decides, whatever the exporters would read from the environment themselves. Loaded on
// first use (see SdkExporterTransport).
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import type { Logger } from '../log.js';
import type { ResolvedExport } from './otlp-endpoints.js';
import type { SdkExporter } from './sdk-exporter-transport.js';

export async function createGrpcTraceExporter(r: ResolvedExport, log: Logger): Promise<SdkExporter<ReadableSpan[]>> {
  const [{ OTLPTraceExporter }, grpc] = await Promise.all([
    import('@opentelemetry/exporter-trace-otlp-grpc'),
    import('@grpc/grpc-js'),
  ]);
  const metadata = new grpc.Metadata();
  for (const [k, v] of Object.entries(r.headers)) {
    try {
      metadata.set(k.toLowerCase(), v);
    } catch (e) {
      log.warn('OTLP trace header left out: not valid gRPC metadata', { header: k, error: (e as Error).message });
    }
  }
  // The scheme decides TLS: http:// is plaintext, https:// verifies the server with the system roots.
  const credentials = r.url.startsWith('https:') ? grpc.credentials.createSsl() : grpc.credentials.createInsecure();
  return new OTLPTraceExporter({ url: r.url, metadata, credentials, timeoutMillis: r.timeoutMs });
}

export async function createHttpMetricExporter(r: ResolvedExport): Promise<SdkExporter<ResourceMetrics>> {
  const options = { url: r.url, headers: { ...r.headers }, timeoutMillis: r.timeoutMs };
  if (r.protocol === 'http/json') {
    const { OTLPMetricExporter } = await import('@opentelemetry/exporter-metrics-otlp-http');
    return new OTLPMetricExporter(options);
  }
  const { OTLPMetricExporter } = await import('@opentelemetry/exporter-metrics-otlp-proto');
  return new OTLPMetricExporter(options);
}
