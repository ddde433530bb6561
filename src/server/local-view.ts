// What the agent saw, kept locally: recent spans and per-service RED figures (rate, errors,
// duration). Serves the embedded default when no OTLP endpoint is configured, and the control API
// always. RED counts every span; the recent list is a sample under load: at most `maxSpansPerSecond`
// spans a second are listed (and as many errors besides), so that at 20k spans/s the list does not
// keep the last 1,000 span objects alive through young-generation GCs (V8 then promoted, even
// pretenured, every span the agent built).
import type { HistogramPoint, ResourceRecord, SpanRecord } from '../model/span.js';
import { turnNow } from '../model/turn-clock.js';

export interface ServiceRed {
  service: string;
  /** Spans seen since start, by kind. */
  server: { count: number; errors: number; durationSumMs: number; p50Ms: number; p99Ms: number };
  client: { count: number; errors: number; durationSumMs: number; p50Ms: number; p99Ms: number };
}

export interface SpanView {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: string;
  service: string;
  pid: number | null;
  start: string;
  durationMs: number;
  status: string;
  attributes: SpanRecord['attributes'];
}

/** A fixed-size sample of recent durations per series for percentiles without unbounded memory. */
class DurationWindow {
  #values: number[] = [];
  #next = 0;
  count = 0;
  errors = 0;
  sum = 0;
  constructor(private readonly size = 512) {}
  /**
   * `n` requests of `ms` in all. Many at once (counted in the kernel) are one value in the
   * percentile window: their mean.
   */
  add(ms: number, error: boolean, n = 1): void {
    if (n <= 0) return;
    this.count += n;
    this.sum += ms;
    if (error) this.errors += n;
    if (n > 1) ms /= n;
    if (this.#values.length < this.size) this.#values.push(ms);
    else this.#values[this.#next] = ms;
    this.#next = (this.#next + 1) % this.size;
  }
  percentile(p: number): number {
    if (this.#values.length === 0) return 0;
    const sorted = [...this.#values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
  }
  summary() {
    return { count: this.count, errors: this.errors, durationSumMs: this.sum, p50Ms: this.percentile(0.5), p99Ms: this.percentile(0.99) };
  }
}

interface ServiceWindows {
  server: DurationWindow;
  client: DurationWindow;
}

function spanView(s: SpanRecord): SpanView {
  const pid = s.resource.attributes['process.pid'];
  return {
    traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId, name: s.name, kind: s.kind,
    service: String(s.resource.attributes['service.name'] ?? 'unknown'), pid: typeof pid === 'number' ? pid : null,
    start: new Date(Number(s.startTimeUnixNano / 1_000_000n)).toISOString(),
    durationMs: Number(s.endTimeUnixNano - s.startTimeUnixNano) / 1e6, status: s.status.code, attributes: s.attributes,
  };
}

export class LocalView {
  /** The latest spans as they came (a ring): turned into SpanViews only when someone asks. */
  #recent: SpanRecord[] = [];
  #next = 0;
  #services = new Map<string, ServiceWindows>();
  #lastResource: ResourceRecord | null = null;
  #lastWindows: ServiceWindows | undefined;
  #otherResource: ResourceRecord | null = null;
  #otherWindows: ServiceWindows | undefined;

  /** The second the budgets below are for, and what each has left. */
  #second = 0;
  #spansLeft = 0;
  #errorsLeft = 0;
  #sampledOut = 0;

  constructor(private readonly maxSpans = 1000, private readonly maxServices = 1000, private readonly maxSpansPerSecond = 100,
    private readonly now: () => number = turnNow) {}

  addSpans(spans: SpanRecord[]): void {
    for (const s of spans) this.addSpan(s);
  }

  /** An exported span: counted, and listed among the recent ones while this second's budget lasts. */
  addSpan(s: SpanRecord): void {
    this.countSpan(s);
    if (!this.#admit(s.status.code === 'error')) {
      this.#sampledOut++;
      return;
    }
    if (this.#recent.length < this.maxSpans) this.#recent.push(s);
    else this.#recent[this.#next] = s;
    this.#next = (this.#next + 1) % this.maxSpans;
  }

  /** Spans counted but not listed (the list's budget was spent that second). */
  get sampledOut(): number {
    return this.#sampledOut;
  }

  #admit(error: boolean): boolean {
    const second = Math.floor(this.now() / 1000);
    if (second !== this.#second) {
      this.#second = second;
      this.#spansLeft = this.maxSpansPerSecond;
      this.#errorsLeft = this.maxSpansPerSecond;
    }
    if (this.#spansLeft > 0) {
      this.#spansLeft--;
      return true;
    }
    if (error && this.#errorsLeft > 0) {
      this.#errorsLeft--;
      return true;
    }
    return false;
  }

  /** A span counted in the RED figures only (shed: not exported). */
  countSpan(s: SpanRecord): void {
    const durationMs = Number(s.endTimeUnixNano - s.startTimeUnixNano) / 1e6;
    this.#count(s.resource, s.kind === 'client' ? 'client' : 'server', durationMs, s.status.code === 'error');
  }

  /**
   * An exchange whose span was shed, counted from its duration points: `*.server.*` instruments
   * are server-side, the others client-side; error.type marks an error, as it marks the span's
   * error status.
   */
  countPoints(points: readonly HistogramPoint[]): void {
    for (const p of points) {
      if (p.unit !== 's') continue;
      const error = p.attributes['error.type'] !== undefined;
      const kind = p.name.includes('.server.') ? 'server' : 'client';
      if (p.counted === undefined) this.#count(p.resource, kind, p.value * 1000, error);
      else this.#count(p.resource, kind, p.counted.sum * 1000, error, p.counted.count);
    }
  }

  /** `n` exchanges of `durationMs` in all (shed ones the kernel counted come together). */
  #count(resource: ResourceRecord, kind: 'server' | 'client', durationMs: number, error: boolean, n = 1): void {
    const svc = this.#windowsOf(resource);
    if (svc !== undefined) svc[kind].add(durationMs, error, n);
  }

  /**
   * The windows of `resource`'s service (undefined past maxServices). The last two resources' are
   * kept by object: a traced client's spans and its server's alternate, and the service name read
   * from each resource's attributes (objects of many shapes: a megamorphic load) then looked up by
   * text cost ~1 % of the agent's JS thread at 20k spans/s.
   */
  #windowsOf(resource: ResourceRecord): ServiceWindows | undefined {
    if (resource === this.#lastResource) return this.#lastWindows;
    if (resource === this.#otherResource) return this.#otherWindows;
    const service = resource.attributes['service.name'];
    const name = typeof service === 'string' ? service : 'unknown';
    let svc = this.#services.get(name);
    if (svc === undefined) {
      if (this.#services.size >= this.maxServices) return undefined;
      svc = { server: new DurationWindow(), client: new DurationWindow() };
      this.#services.set(name, svc);
    }
    this.#otherResource = this.#lastResource;
    this.#otherWindows = this.#lastWindows;
    this.#lastResource = resource;
    this.#lastWindows = svc;
    return svc;
  }

  spans(filter: { service?: string; limit?: number } = {}): SpanView[] {
    const limit = filter.limit ?? 100;
    const out: SpanView[] = [];
    // Newest first: walk the ring backwards from the slot written last.
    for (let i = 1; i <= this.#recent.length && out.length < limit; i++) {
      const s = this.#recent[(this.#next - i + this.#recent.length * 2) % this.#recent.length]!;
      const view = spanView(s);
      if (filter.service === undefined || view.service === filter.service) out.push(view);
    }
    return out;
  }

  services(): ServiceRed[] {
    return [...this.#services].map(([service, w]) => ({ service, server: w.server.summary(), client: w.client.summary() }))
      .sort((a, b) => b.server.count + b.client.count - (a.server.count + a.client.count));
  }

  /** One line per service for the terminal. */
  summaryLines(): string[] {
    return this.services().map((s) => {
      const part = (label: string, r: ServiceRed['server']): string =>
        r.count === 0 ? '' : ` ${label} ${r.count} req, ${r.errors} err, p50 ${r.p50Ms.toFixed(1)} ms, p99 ${r.p99Ms.toFixed(1)} ms;`;
      return `${s.service}:${part('server', s.server)}${part('client', s.client)}`;
    });
  }
}
