// OTLP/HTTP for request bodies Lantern has already encoded (protobuf or JSON): one POST per batch to
// the signal's URL, with node:http(s) and a keep-alive agent (a batch a second must not open a
// connection each time). The answer is turned into a SendResult as the OTLP specification says
// (https://opentelemetry.io/docs/specs/otlp/#failures-1): 2xx is success, 429/502/503/504 and
// connection failures are worth retrying (after Retry-After when the server gives one), any other
// status is final.
import { Agent as HttpAgent, type IncomingMessage, type OutgoingHttpHeaders, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { OtlpProtocol } from '../config/schema.js';
import type { ResolvedExport } from './otlp-endpoints.js';
import { isRetryableExportError, isRetryableHttpStatus } from './sdk-exporter-transport.js';
import { type SendResult, type Transport, asError } from './transport.js';

const CONTENT_TYPE: Record<Exclude<OtlpProtocol, 'grpc'>, string> = {
  'http/protobuf': 'application/x-protobuf',
  'http/json': 'application/json',
};

/** How much of an error response is kept for the message (the Collector answers a google.rpc.Status). */
const MAX_ERROR_BODY = 1024;

/**
 * Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date, as milliseconds from `now`;
 * undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export class HttpExportTransport implements Transport<Uint8Array> {
  readonly #url: URL;
  readonly #headers: OutgoingHttpHeaders;
  readonly #agent: HttpAgent;
  readonly #request: typeof httpRequest;

  /** `r.protocol` must be http/protobuf or http/json: the body's encoding. */
  constructor(private readonly r: ResolvedExport) {
    if (r.protocol === 'grpc') throw new Error('HttpExportTransport: grpc is not an OTLP/HTTP protocol');
    this.#url = new URL(r.url);
    const https = this.#url.protocol === 'https:';
    this.#request = https ? httpsRequest : httpRequest;
    this.#agent = https ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
    // The body decides these two; configured headers of the same name (any case) would be sent twice.
    const own = (k: string): boolean => ['content-type', 'content-length'].includes(k.toLowerCase());
    this.#headers = { ...Object.fromEntries(Object.entries(r.headers).filter(([k]) => !own(k))), 'content-type': CONTENT_TYPE[r.protocol] };
  }

  send(body: Uint8Array): Promise<SendResult> {
    return new Promise<SendResult>((resolve) => {
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const done = (r: SendResult): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(r);
      };
      const failed = (e: unknown): void => {
        const error = asError(e);
        done({ ok: false, retryable: isRetryableExportError(error), error });
      };
      let req: ReturnType<typeof httpRequest>;
      try {
        req = this.#request(this.#url, {
          method: 'POST', agent: this.#agent, headers: { ...this.#headers, 'content-length': body.length },
        }, (res) => this.#answer(res, done));
      } catch (e) {
        // Thrown before anything was sent (a header value that is not valid HTTP): final.
        done({ ok: false, retryable: false, error: asError(e) });
        return;
      }
      // The whole exchange, not one socket read, is bounded by the timeout.
      timer = setTimeout(() => {
        const e = Object.assign(new Error(`OTLP/HTTP export to ${this.r.url}: no answer within ${this.r.timeoutMs} ms`), { code: 'ETIMEDOUT' });
        req.destroy(e);
      }, this.r.timeoutMs);
      req.on('error', failed);
      req.end(body);
    });
  }

  #answer(res: IncomingMessage, done: (r: SendResult) => void): void {
    const status = res.statusCode ?? 0;
    const chunks: Buffer[] = [];
    let kept = 0;
    res.on('data', (c: Buffer) => {
      if (kept < MAX_ERROR_BODY) chunks.push(c);
      kept += c.length;
    });
    res.on('error', (e) => done({ ok: false, retryable: isRetryableExportError(e), error: e }));
    res.on('end', () => {
      if (status >= 200 && status < 300) {
        done({ ok: true });
        return;
      }
      const text = Buffer.concat(chunks).subarray(0, MAX_ERROR_BODY).toString('utf8').replace(/[^\x20-\x7e]+/g, ' ').trim();
      const error = Object.assign(new Error(`OTLP/HTTP export to ${this.r.url}: HTTP ${status}${text !== '' ? `: ${text}` : ''}`), { status });
      const retryable = isRetryableHttpStatus(status);
      const retryAfterMs = retryable ? parseRetryAfter(headerValue(res.headers['retry-after'])) : undefined;
      done({ ok: false, retryable, error, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
    });
  }

  async shutdown(): Promise<void> {
    this.#agent.destroy();
  }
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
