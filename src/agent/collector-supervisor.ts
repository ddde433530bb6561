// One collector under supervision: a collector that fails — its start throws (a BPF object the
// kernel refuses, a missing file), or it reports later that it cannot go on (CollectorContext.
// reportFailure: a consumer that keeps failing) — is stopped, and a new instance is started after a
// backoff (1 s doubling to 60 s, reset once an instance has run for a minute), while the others go on.
// Each failure is logged and counted: `collectors.<name>.restarts`, `.failures`, `.state`.
//
//   starting ──ok──▶ running ──reportFailure──▶ backoff ──timer──▶ starting …
//       └──throws──▶ backoff                       stop() from any state ──▶ stopped
import type { Logger } from '../log.js';
import type { Collector, CollectorContext } from '../collectors/collector.js';

export interface SupervisorBackoff {
  initialMs: number;
  maxMs: number;
  /** An instance that ran this long resets the backoff to initialMs. */
  resetAfterMs: number;
}

export const DEFAULT_SUPERVISOR_BACKOFF: SupervisorBackoff = { initialMs: 1000, maxMs: 60_000, resetAfterMs: 60_000 };

export type SupervisedState = 'starting' | 'running' | 'backoff' | 'stopped';
/** The state as a number for self-metrics (a gauge): what `collectors.<name>.state` holds. */
export const STATE_CODES: Record<SupervisedState, number> = { stopped: 0, starting: 1, running: 2, backoff: 3 };

export interface SupervisorOptions {
  name: string;
  /** A new instance for each start (a failed one may hold half-loaded state). */
  create: () => Collector;
  ctx: CollectorContext;
  log: Logger;
  backoff?: Partial<SupervisorBackoff>;
  /** Before each start (span-tag maps shared between collectors). */
  prepare?: (c: Collector) => void;
  /** After each successful start. */
  started?: (c: Collector) => void;
}

export class SupervisedCollector {
  readonly name: string;
  readonly #o: SupervisorOptions;
  readonly #backoff: SupervisorBackoff;
  #current: Collector | null = null;
  /** The instance that ran last: its final counters stay in the summary after it stopped. */
  #last: Collector | null = null;
  #state: SupervisedState = 'stopped';
  #delayMs: number;
  #timer: NodeJS.Timeout | null = null;
  #runningSince = 0;
  #failing: Promise<void> | null = null;
  #stopping = false;
  #s = { restarts: 0, failures: 0 };
  #lastError: string | undefined;

  constructor(o: SupervisorOptions) {
    this.name = o.name;
    this.#o = o;
    this.#backoff = { ...DEFAULT_SUPERVISOR_BACKOFF, ...o.backoff };
    this.#delayMs = this.#backoff.initialMs;
  }

  /** The running instance, null while it is failed or backing off. */
  get collector(): Collector | null {
    return this.#state === 'running' ? this.#current : null;
  }

  /** The running instance, or the last one that ran (stopped or failed): what it kept can still be read. */
  get latest(): Collector | null {
    return this.#current ?? this.#last;
  }

  get state(): SupervisedState {
    return this.#state;
  }

  get lastError(): string | undefined {
    return this.#lastError;
  }

  /** Starts the first instance; false (and a restart scheduled) when it failed. Never throws. */
  async start(): Promise<boolean> {
    this.#stopping = false;
    return this.#startOne();
  }

  async #startOne(): Promise<boolean> {
    this.#timer = null;
    if (this.#stopping) return false;
    this.#state = 'starting';
    let c: Collector;
    try {
      c = this.#o.create();
    } catch (e) {
      this.#failed(e, 'create');
      return false;
    }
    this.#current = c;
    this.#last = c;
    // Each instance reports for itself: a late report of an instance already replaced is ignored.
    const ctx: CollectorContext = { ...this.#o.ctx, reportFailure: (e) => this.#reportFailure(c, e) };
    try {
      this.#o.prepare?.(c);
      await c.start(ctx);
    } catch (e) {
      await this.#stopQuietly(c);
      this.#current = null;
      this.#failed(e, 'start');
      return false;
    }
    if (this.#stopping) {
      await this.#stopQuietly(c);
      return false;
    }
    this.#state = 'running';
    this.#runningSince = Date.now();
    this.#o.started?.(c);
    this.#o.log.info('collector started', { collector: this.name, ...(this.#s.restarts > 0 ? { restarts: this.#s.restarts } : {}) });
    return true;
  }

  #reportFailure(c: Collector, e: Error): void {
    if (c !== this.#current || this.#state !== 'running' || this.#failing !== null) return;
    this.#failing = (async () => {
      this.#state = 'backoff';
      await this.#stopQuietly(c);
      this.#current = null;
      this.#failed(e, 'run');
    })().finally(() => (this.#failing = null));
  }

  #failed(e: unknown, when: 'create' | 'start' | 'run'): void {
    this.#s.failures++;
    this.#lastError = e instanceof Error ? e.message : String(e);
    if (this.#stopping) {
      this.#state = 'stopped';
      return;
    }
    // An instance that ran long enough was healthy: its failure starts the backoff over.
    if (when === 'run' && Date.now() - this.#runningSince >= this.#backoff.resetAfterMs) this.#delayMs = this.#backoff.initialMs;
    const delay = this.#delayMs;
    this.#delayMs = Math.min(this.#backoff.maxMs, this.#delayMs * 2);
    this.#state = 'backoff';
    this.#o.log.warn(`collector failed ${when === 'run' ? 'while running' : 'to start'}; the others go on, restart scheduled`,
      { collector: this.name, error: this.#lastError, retry_in_ms: delay, failures: this.#s.failures });
    this.#timer = setTimeout(() => {
      this.#s.restarts++;
      void this.#startOne();
    }, delay);
    this.#timer.unref();
  }

  async #stopQuietly(c: Collector): Promise<void> {
    try {
      await c.stop();
    } catch (e) {
      this.#o.log.warn('collector did not stop cleanly', { collector: this.name, error: String(e) });
    }
  }

  /** Detaches the running instance (what it holds is delivered); no restart after this. */
  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#failing;
    const c = this.#current;
    this.#current = null;
    this.#state = 'stopped';
    if (c === null) return;
    const started = Date.now();
    await this.#stopQuietly(c);
    this.#o.log.info('collector stopped', { collector: this.name, took_ms: Date.now() - started });
  }

  /** The running instance's counters (the last one's while it backs off) and the supervision's. */
  stats(): Record<string, number> {
    let own: Record<string, number> = {};
    try {
      own = (this.#current ?? this.#last)?.stats() ?? {};
    } catch {
      // a broken instance's counters are not worth the agent's summary
    }
    return { ...own, restarts: this.#s.restarts, failures: this.#s.failures, state: STATE_CODES[this.#state] };
  }
}
