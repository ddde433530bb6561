// An OpenTelemetry JS exporter (serializer + network delegate, callback API) as a Transport. The
// exporter is created on first use: its module graph (gRPC, protobuf writers) is heavy and an agent
// without traffic should not pay for it.
import { type SendResult, type Transport, asError } from './transport.js';

/** What OTLPTraceExporter and OTLPMetricExporter have in common. */
export interface SdkExporter<T> {
  export(items: T, resultCallback: (result: { code: number; error?: Error }) => void): void;
  shutdown(): Promise<void>;
}

const EXPORT_SUCCESS = 0; // ExportResultCode.SUCCESS in @opentelemetry/core

/** gRPC codes the OTLP spec lists as retryable (https://opentelemetry.io/docs/specs/otlp/#failures). */
const GRPC_RETRYABLE = new Set([
  1, // CANCELLED
  4, // DEADLINE_EXCEEDED
  8, // RESOURCE_EXHAUSTED (the collector's memory limiter answers this)
  10, // ABORTED
  11, // OUT_OF_RANGE
  14, // UNAVAILABLE
  15, // DATA_LOSS
]);
/** HTTP statuses the OTLP spec lists as retryable (https://opentelemetry.io/docs/specs/otlp/#failures-1). */
const HTTP_RETRYABLE = new Set([429, 502, 503, 504]);

export function isRetryableHttpStatus(status: number): boolean {
  return HTTP_RETRYABLE.has(status);
}
/** Connection-level errors: the backend is not there (yet), or went away. */
const NETWORK_RETRYABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH',
  'ENETUNREACH', 'ENETDOWN', 'EAI_AGAIN', 'ENOTFOUND', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);

/**
 * Whether a failed export is worth retrying, from the error the exporter reported: the SDK's result
 * callback only carries the error, so the kind is recovered from its shape. gRPC errors carry a
 * numeric status `code` and `details`; OTLPExporterError carries the HTTP status in `code`; Node
 * system errors a string `code`. Anything unrecognised is retried (within the attempt bound).
 */
export function isRetryableExportError(e: unknown): boolean {
  if (!(e instanceof Error)) return true;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string') return NETWORK_RETRYABLE.has(code);
  if (typeof code === 'number') {
    if ('details' in e || 'metadata' in e) return GRPC_RETRYABLE.has(code);
    if (e.name === 'OTLPExporterError') return isRetryableHttpStatus(code);
  }
  if (e.message === 'Nothing to send') return false;
  return true;
}

export class SdkExporterTransport<T> implements Transport<T> {
  readonly #create: () => Promise<SdkExporter<T>>;
  #exporter: Promise<SdkExporter<T>> | null = null;

  constructor(create: () => Promise<SdkExporter<T>>) {
    this.#create = create;
  }

  async send(batch: T): Promise<SendResult> {
    let exporter: SdkExporter<T>;
    try {
      exporter = await (this.#exporter ??= this.#create());
    } catch (e) {
      return { ok: false, retryable: false, error: asError(e) };
    }
    return new Promise<SendResult>((resolve) => {
      try {
        exporter.export(batch, (r) => {
          if (r.code === EXPORT_SUCCESS) resolve({ ok: true });
          else {
            const error = r.error ?? new Error('export failed');
            resolve({ ok: false, retryable: isRetryableExportError(error), error });
          }
        });
      } catch (e) {
        // The serializer throws on data it cannot encode: the same batch will fail again.
        resolve({ ok: false, retryable: false, error: asError(e) });
      }
    });
  }

  async shutdown(): Promise<void> {
    if (this.#exporter === null) return;
    try {
      await (await this.#exporter).shutdown();
    } catch {
      // nothing left to do with an exporter that failed to start or stop
    }
  }
}
