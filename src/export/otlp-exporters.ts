// The OTLP transports Lantern sends through, configured from the resolved settings only: url,
// headers and timeout are passed explicitly, so AgentConfig (which already folded in the OTEL_*
// variables) decides, whatever the exporters would read from the environment themselves. The
// metrics exporters' modules (protobuf writers) are loaded on first use.
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { Logger } from '../log.js';
import { GrpcUnaryClient, metadataProblem } from './grpc-unary.js';
import type { ResolvedExport } from './otlp-endpoints.js';
import { type SdkExporter, isRetryableExportError } from './sdk-exporter-transport.js';
import { type SendResult, type Transport, asError } from './transport.js';

/** The Export methods of opentelemetry-proto's collector/<signal>/v1/<signal>_service.proto. */
export const GRPC_EXPORT_METHOD = {
  traces: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
  logs: '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
  profiles: '/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export',
} as const;

/** "http://host:4317" → "host:4317" (the scheme only decides TLS); a bare "host:port" as it is. */
export function grpcTarget(url: string): string {
  if (!url.includes('://')) return url;
  const u = new URL(url);
  return `${u.hostname}:${u.port !== '' ? u.port : u.protocol === 'https:' ? '443' : '80'}`;
}

/**
 * One signal over OTLP/gRPC, sending request bodies Lantern has already encoded (otlp-spans.ts,
 * otlp-logs.ts): a unary call of `method` (GRPC_EXPORT_METHOD) per batch over node:http2
 * (grpc-unary.ts), with the configured headers as metadata and the timeout as deadline. Failures
 * come back as GrpcCallErrors (numeric `code`, `details`), which isRetryableExportError classifies.
 */
export class GrpcExportTransport implements Transport<Uint8Array> {
  #client: GrpcUnaryClient | null = null;

  constructor(private readonly r: ResolvedExport, private readonly method: string, private readonly log: Logger) {}

  #connect(): GrpcUnaryClient {
    const metadata: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.r.headers)) {
      const problem = metadataProblem(k.toLowerCase(), v);
      if (problem === null) metadata[k.toLowerCase()] = v;
      else this.log.warn('OTLP header left out: not valid gRPC metadata', { method: this.method, header: k, error: problem });
    }
    // The scheme decides TLS: http:// (or none) is plaintext, https:// verifies the server with Node's roots.
    const origin = `${this.r.url.startsWith('https:') ? 'https' : 'http'}://${grpcTarget(this.r.url)}`;
    return new GrpcUnaryClient({ origin, metadata });
  }

  async send(body: Uint8Array): Promise<SendResult> {
    try {
      await (this.#client ??= this.#connect()).call(this.method, body, this.r.timeoutMs);
      return { ok: true };
    } catch (e) {
      return { ok: false, retryable: isRetryableExportError(e), error: asError(e) };
    }
  }

  async shutdown(): Promise<void> {
    this.#client?.close();
  }
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
