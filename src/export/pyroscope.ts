// Pushes pprof profiles to Grafana Pyroscope's ingest API:
//   POST <url>/ingest?name=<app>.cpu{k=v,...}&from=<unix s>&until=<unix s>&format=pprof
//        &sampleRate=<Hz>&spyName=lantern
// with the gzipped pprof as the body (https://grafana.com/docs/pyroscope/latest/configure-server/about-server-api/).
// Pyroscope names the series service_name=<app> (the `.cpu` suffix is the profile type) and reads
// the profile type from the pprof sample types.
//
// Off-CPU profiles go as `<app>.off_cpu{…}`, multipart/form-data with the pprof as `profile` and a
// `sample_type_config`: Pyroscope names a pprof upload's series (__name__) after its sample types,
// and any sample type whose name contains "cpu" becomes `process_cpu`, which would mix blocked time
// into the CPU series. The config renames `off_cpu` (and `blocks`) for that naming only, to
// OFF_CPU_METRIC; the stored profile keeps its sample types, so its profile type is
// `off_time:off_cpu:nanoseconds:off_cpu:nanoseconds` (pkg/og/convert/pprof/profile.go,
// metricName). Failures are counted and logged once per outage;
// a profile that cannot be sent is dropped (the next interval brings a new one), never retried
// into unbounded memory.

import type { ProfileKind } from '../model/profile.js';

export interface PyroscopeOptions {
  /** Base URL, e.g. http://pyroscope:4040 (a path prefix is kept). */
  url: string;
  basicAuth?: { username: string; password: string };
  bearerToken?: string;
  /** X-Scope-OrgID for multi-tenant Pyroscope. */
  tenantId?: string;
  timeoutMs: number;
  /** Pushes in flight at once; beyond that a profile is dropped and counted. Default 4. */
  maxInFlight?: number;
  /** Told about the first failure of an outage and about the recovery. */
  onStatus?(ok: boolean, detail: string): void;
}

/** The __name__ of off-CPU series: anything without "cpu" in it (see above). */
export const OFF_CPU_METRIC = 'off_time';

/** The multipart field Pyroscope reads sample type settings from, for off-CPU uploads. */
export const OFF_CPU_SAMPLE_TYPE_CONFIG = JSON.stringify({
  blocks: { units: 'count', 'display-name': OFF_CPU_METRIC },
  off_cpu: { units: 'nanoseconds', 'display-name': OFF_CPU_METRIC },
});

export interface PyroscopePush {
  /** Becomes the application name and the `service_name` label. */
  service: string;
  /** Absent: cpu. */
  kind?: ProfileKind;
  /** More series labels (e.g. container_id). */
  labels?: Record<string, string>;
  fromUnixNano: bigint;
  untilUnixNano: bigint;
  sampleRateHz: number;
  /** gzipped pprof. */
  body: Buffer;
}

/**
 * Pyroscope's key syntax (`app{k=v,...}`) has no escaping: characters that would end a name or a
 * label are replaced.
 */
export function sanitizeName(s: string): string {
  const out = s.replace(/[{}=,"\s\\]/g, '_');
  return out === '' ? 'unknown' : out;
}

export function sanitizeLabelKey(s: string): string {
  const out = s.replace(/[^A-Za-z0-9_]/g, '_');
  return /^[A-Za-z_]/.test(out) ? out : `_${out}`;
}

/** The ingest URL of one push. */
export function ingestUrl(base: string, p: Omit<PyroscopePush, 'body'>): URL {
  const url = new URL(base);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/ingest`;
  const service = sanitizeName(p.service);
  const labels: Record<string, string> = { service_name: service, ...p.labels };
  const pairs = Object.entries(labels).map(([k, v]) => `${sanitizeLabelKey(k)}=${sanitizeName(v)}`);
  url.searchParams.set('name', `${service}.${p.kind ?? 'cpu'}{${pairs.join(',')}}`);
  url.searchParams.set('from', String(p.fromUnixNano / 1_000_000_000n));
  // Pyroscope wants until > from; a sub-second interval still spans one second.
  const until = p.untilUnixNano / 1_000_000_000n;
  url.searchParams.set('until', String(until > p.fromUnixNano / 1_000_000_000n ? until : p.fromUnixNano / 1_000_000_000n + 1n));
  url.searchParams.set('format', 'pprof');
  url.searchParams.set('sampleRate', String(p.sampleRateHz));
  url.searchParams.set('spyName', 'lantern');
  return url;
}

/** CPU: the gzipped pprof as it is; off-CPU: a form with the sample type config (fetch sets its boundary). */
export function requestBody(p: PyroscopePush, headers: Record<string, string>): { headers: Record<string, string>; body: RequestInit['body'] } {
  if ((p.kind ?? 'cpu') === 'cpu') return { headers, body: new Uint8Array(p.body) };
  const form = new FormData();
  form.append('profile', new Blob([new Uint8Array(p.body)]), 'profile.pprof');
  form.append('sample_type_config', new Blob([OFF_CPU_SAMPLE_TYPE_CONFIG]), 'sample_type_config.json');
  const { 'content-type': _binary, ...rest } = headers;
  return { headers: rest, body: form };
}

export class PyroscopeClient {
  readonly #o: PyroscopeOptions;
  readonly #headers: Record<string, string>;
  readonly #inFlight = new Set<Promise<void>>();
  #healthy = true;
  readonly #stats = { pushed: 0, pushed_bytes: 0, failed: 0, dropped_busy: 0, rejected: 0 };

  constructor(opts: PyroscopeOptions) {
    this.#o = opts;
    this.#headers = { 'content-type': 'application/octet-stream' };
    if (opts.bearerToken !== undefined) this.#headers.authorization = `Bearer ${opts.bearerToken}`;
    else if (opts.basicAuth !== undefined) {
      this.#headers.authorization = `Basic ${Buffer.from(`${opts.basicAuth.username}:${opts.basicAuth.password}`).toString('base64')}`;
    }
    if (opts.tenantId !== undefined) this.#headers['x-scope-orgid'] = opts.tenantId;
  }

  /** Starts a push and returns at once; the outcome is counted. */
  push(p: PyroscopePush): void {
    if (this.#inFlight.size >= (this.#o.maxInFlight ?? 4)) {
      this.#stats.dropped_busy++;
      return;
    }
    const done = this.#send(p).finally(() => this.#inFlight.delete(done));
    this.#inFlight.add(done);
  }

  async #send(p: PyroscopePush): Promise<void> {
    let detail: string;
    try {
      const res = await fetch(ingestUrl(this.#o.url, p), {
        method: 'POST',
        ...requestBody(p, this.#headers),
        signal: AbortSignal.timeout(this.#o.timeoutMs),
      });
      // Drain the body so the connection can be reused.
      const text = await res.text().catch(() => '');
      if (res.ok) {
        this.#stats.pushed++;
        this.#stats.pushed_bytes += p.body.length;
        this.#status(true, `HTTP ${res.status}`);
        return;
      }
      if (res.status >= 400 && res.status < 500) this.#stats.rejected++;
      detail = `HTTP ${res.status}${text !== '' ? `: ${text.slice(0, 200)}` : ''}`;
    } catch (e) {
      detail = (e as Error).message;
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      if (cause?.code !== undefined || cause?.message !== undefined) detail += ` (${cause.code ?? cause.message})`;
    }
    this.#stats.failed++;
    this.#status(false, detail);
  }

  #status(ok: boolean, detail: string): void {
    if (ok === this.#healthy) return;
    this.#healthy = ok;
    this.#o.onStatus?.(ok, detail);
  }

  stats(): Record<string, number> {
    return { ...this.#stats, in_flight: this.#inFlight.size };
  }

  /** Waits (bounded) for pushes in flight. */
  async close(timeoutMs = 5000): Promise<void> {
    const timer = new Promise<void>((r) => setTimeout(r, timeoutMs).unref());
    await Promise.race([Promise.allSettled([...this.#inFlight]), timer]);
  }
}
