// The OTLP transports Lantern sends through, configured from the resolved settings only: url,
// headers and timeout are passed explicitly, so AgentConfig (which already folded in the OTEL_*
// variables) decides, whatever the exporters would read from the environment themselves. Their
// modules (gRPC, protobuf writers) are loaded on first use.
import type { Client as GrpcClient, Metadata as GrpcMetadata } from '@grpc/grpc-js';
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { Logger } from '../log.js';
import type { ResolvedExport } from './otlp-endpoints.js';
import { type SdkExporter, isRetryableExportError } from './sdk-exporter-transport.js';
import { type SendResult, type Transport, asError } from './transport.js';

/** The Export methods of opentelemetry-proto's collector/<signal>/v1/<signal>_service.proto. */
export const GRPC_EXPORT_METHOD = {
  traces: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
  logs: '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
  profiles: '/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export',
} as const;

/** The longest a gRPC channel waits before connecting again to a receiver that was down. */
export const MAX_RECONNECT_BACKOFF_MS = 5_000;

/** "http://host:4317" → "host:4317" (the scheme only decides TLS); a bare "host:port" as it is. */
export function grpcTarget(url: string): string {
  if (!url.includes('://')) return url;
  const u = new URL(url);
  return `${u.hostname}:${u.port !== '' ? u.port : u.protocol === 'https:' ? '443' : '80'}`;
}

/**
 * One signal over OTLP/gRPC with grpc-js (the OTel exporters' own transport), sending request
 * bodies Lantern has already encoded (otlp-spans.ts, otlp-logs.ts): a unary call of `method`
 * (GRPC_EXPORT_METHOD) per batch, with the configured headers as metadata and the timeout as
 * deadline. Errors come back as grpc-js ServiceErrors (numeric `code`, `details`), which
 * isRetryableExportError classifies.
 */
export class GrpcExportTransport implements Transport<Uint8Array> {
  #client: Promise<{ client: GrpcClient; metadata: GrpcMetadata }> | null = null;

  constructor(private readonly r: ResolvedExport, private readonly method: string, private readonly log: Logger) {}

  async #connect(): Promise<{ client: GrpcClient; metadata: GrpcMetadata }> {
    const grpc = await import('@grpc/grpc-js');
    const metadata = new grpc.Metadata();
    for (const [k, v] of Object.entries(this.r.headers)) {
      try {
        metadata.set(k.toLowerCase(), v);
      } catch (e) {
        this.log.warn('OTLP header left out: not valid gRPC metadata', { method: this.method, header: k, error: (e as Error).message });
      }
    }
    // The scheme decides TLS: http:// is plaintext, https:// verifies the server with the system roots.
    const credentials = this.r.url.startsWith('https:') ? grpc.credentials.createSsl() : grpc.credentials.createInsecure();
    // grpc-js waits up to 120 s between reconnection attempts by default: a receiver back after an
    // outage would get nothing for minutes. Our own retries pace the calls; the channel follows.
    const options = { 'grpc.initial_reconnect_backoff_ms': 500, 'grpc.max_reconnect_backoff_ms': MAX_RECONNECT_BACKOFF_MS };
    return { client: new grpc.Client(grpcTarget(this.r.url), credentials, options), metadata };
  }

  async send(body: Uint8Array): Promise<SendResult> {
    let c: { client: GrpcClient; metadata: GrpcMetadata };
    try {
      c = await (this.#client ??= this.#connect());
    } catch (e) {
      return { ok: false, retryable: false, error: asError(e) };
    }
    return new Promise<SendResult>((resolve) => {
      c.client.makeUnaryRequest(this.method, (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.length), (b: Buffer) => b,
        body, c.metadata, { deadline: Date.now() + this.r.timeoutMs }, (err) => {
          if (err === null) resolve({ ok: true });
          else resolve({ ok: false, retryable: isRetryableExportError(err), error: err });
        });
    });
  }

  async shutdown(): Promise<void> {
    if (this.#client === null) return;
    try {
      (await this.#client).client.close();
    } catch {
      // a client that failed to start has nothing to close
    }
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
