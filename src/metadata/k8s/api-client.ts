// The few requests Lantern makes of the Kubernetes API, over node:http/https (no client library:
// a GET with a bearer token, a JSON body, a line-per-event stream). Transport only: what the
// answers mean is the reflector's and the owner cache's business.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { type KubeConnection, TokenSource } from './connection.js';

/** A list page or a single object is far smaller; a larger body is refused, not buffered. */
const MAX_BODY_BYTES = 64 << 20;

export interface JsonAnswer {
  status: number;
  /** Parsed body; undefined when it was not JSON. */
  body: unknown;
}

export class KubeApiError extends Error {
  constructor(message: string, readonly status?: number) {
    super(message);
    this.name = 'KubeApiError';
  }
}

export class KubeApiClient {
  readonly #token: TokenSource | null;

  constructor(private readonly conn: KubeConnection, opts: { tokenMaxAgeMs?: number } = {}) {
    this.#token = conn.tokenFile !== null ? new TokenSource(conn.tokenFile, opts.tokenMaxAgeMs) : null;
  }

  /**
   * Opens `path` (with its query) and resolves when the answer's headers are in. `idleMs`: no byte
   * for that long ends the request (a watch's connection silently lost).
   */
  open(path: string, signal: AbortSignal, idleMs: number): Promise<IncomingMessage> {
    const url = new URL(path, this.conn.apiUrl);
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'lantern' };
    const token = this.#token?.get() ?? null;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(url, { method: 'GET', headers, signal, ...(this.conn.ca !== null ? { ca: this.conn.ca } : {}) }, (res) => {
        if (res.statusCode === 401) this.#token?.expire();
        resolve(res);
      });
      req.setTimeout(idleMs, () => req.destroy(new KubeApiError(`no answer from the Kubernetes API in ${idleMs} ms`)));
      req.on('error', reject);
      req.end();
    });
  }

  /** GET `path` → status and JSON body. */
  async getJson(path: string, signal: AbortSignal, timeoutMs = 30_000): Promise<JsonAnswer> {
    const res = await this.open(path, signal, timeoutMs);
    const body = await readBody(res, MAX_BODY_BYTES);
    try {
      return { status: res.statusCode ?? 0, body: JSON.parse(body) as unknown };
    } catch {
      return { status: res.statusCode ?? 0, body: undefined };
    }
  }
}

/** The whole body as text, refused past `max` bytes. */
export async function readBody(res: IncomingMessage, max: number): Promise<string> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const chunk of res) {
    n += (chunk as Buffer).length;
    if (n > max) {
      res.destroy();
      throw new KubeApiError(`answer larger than ${max} bytes`);
    }
    parts.push(chunk as Buffer);
  }
  return Buffer.concat(parts, n).toString('utf8');
}

/** A Status object's message, for a log line (bounded). */
export function statusMessage(body: unknown): string {
  const m = body !== null && typeof body === 'object' ? (body as { message?: unknown }).message : undefined;
  return typeof m === 'string' ? m.slice(0, 200) : '';
}
