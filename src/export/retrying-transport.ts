// Retries a Transport with exponential backoff and jitter, bounded by attempts and elapsed time, as
// the OTLP specification asks of exporters (https://opentelemetry.io/docs/specs/otlp/#retrying).
// Non-retryable failures (bad request, unauthenticated, ...) are returned at once: sending the same
// bytes again cannot change the answer.
import { type SendResult, type Transport, asError } from './transport.js';

export interface RetryOptions {
  /** Attempts per batch, the first included. */
  maxAttempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  multiplier: number;
  /** Each delay is scaled by a random factor in [1 - jitter, 1 + jitter]: clients that failed
   *  together must not all come back in the same instant. */
  jitter: number;
  /** No retry starts later than this after the first attempt. */
  maxElapsedMs: number;
}

export const DEFAULT_RETRY: RetryOptions = {
  maxAttempts: 5,
  initialBackoffMs: 1000,
  maxBackoffMs: 30_000,
  multiplier: 2,
  jitter: 0.2,
  maxElapsedMs: 120_000,
};

export interface RetryClock {
  now(): number;
  random(): number;
  /** Resolves after ms, or early when the signal aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

const realClock: RetryClock = {
  now: () => Date.now(),
  random: () => Math.random(),
  sleep: (ms, signal) => new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    timer.unref();
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  }),
};

export interface RetryStats {
  attempts: number;
  retries: number;
  /** Attempts that failed (each retry of a batch counts). */
  failedAttempts: number;
  succeeded: number;
  /** Batches given up: non-retryable answer. */
  rejected: number;
  /** Batches given up: retryable, but out of attempts or time. */
  exhausted: number;
  /** Batches given up because of the shutdown deadline. */
  aborted: number;
}

/** The delay before retry number `retry` (1-based), without a server-requested delay. */
export function backoffDelay(o: RetryOptions, retry: number, random: number): number {
  const base = Math.min(o.maxBackoffMs, o.initialBackoffMs * o.multiplier ** (retry - 1));
  return Math.max(0, base * (1 + o.jitter * (2 * random - 1)));
}

export class RetryingTransport<T> implements Transport<T> {
  readonly #inner: Transport<T>;
  readonly #opts: RetryOptions;
  readonly #clock: RetryClock;
  readonly #abort = new AbortController();
  #deadline = Number.POSITIVE_INFINITY;
  #stats: RetryStats = { attempts: 0, retries: 0, failedAttempts: 0, succeeded: 0, rejected: 0, exhausted: 0, aborted: 0 };
  #failing = false;

  constructor(inner: Transport<T>, opts: Partial<RetryOptions> = {}, clock: Partial<RetryClock> = {}) {
    this.#inner = inner;
    this.#opts = { ...DEFAULT_RETRY, ...opts };
    this.#clock = { ...realClock, ...clock };
  }

  async send(batch: T): Promise<SendResult> {
    const start = this.#clock.now();
    for (let attempt = 1; ; attempt++) {
      this.#stats.attempts++;
      let r: SendResult;
      try {
        r = await this.#inner.send(batch);
      } catch (e) {
        r = { ok: false, retryable: false, error: asError(e) }; // a transport broke its contract
      }
      if (r.ok) {
        this.#stats.succeeded++;
        this.#failing = false;
        return r;
      }
      this.#stats.failedAttempts++;
      this.#failing = true;
      if (!r.retryable) {
        this.#stats.rejected++;
        return r;
      }
      if (attempt >= this.#opts.maxAttempts) return this.#giveUp(r, 'exhausted');
      const delay = r.retryAfterMs ?? backoffDelay(this.#opts, attempt, this.#clock.random());
      const at = this.#clock.now() + delay;
      if (at - start > this.#opts.maxElapsedMs) return this.#giveUp(r, 'exhausted');
      if (at > this.#deadline || this.#abort.signal.aborted) return this.#giveUp(r, 'aborted');
      await this.#clock.sleep(delay, this.#abort.signal);
      if (this.#abort.signal.aborted) return this.#giveUp(r, 'aborted');
      this.#stats.retries++;
    }
  }

  #giveUp(r: SendResult & { ok: false }, why: 'exhausted' | 'aborted'): SendResult {
    this.#stats[why]++;
    return why === 'aborted' ? { ...r, aborted: true } : r;
  }

  /**
   * From now on no retry waits past `deadline` (epoch ms); waits in progress end at it. Sends still
   * make their first attempt: shutdown flushes what it can.
   */
  stopRetryingAt(deadline: number): void {
    this.#deadline = Math.min(this.#deadline, deadline);
    const left = this.#deadline - this.#clock.now();
    if (left <= 0) this.#abort.abort();
    else setTimeout(() => this.#abort.abort(), left).unref();
  }

  /** Whether the last attempt to finish failed: the backend is down or refusing, not just slow. */
  get failing(): boolean {
    return this.#failing;
  }

  stats(): RetryStats {
    return { ...this.#stats };
  }

  async shutdown(): Promise<void> {
    this.#abort.abort();
    await this.#inner.shutdown();
  }
}
