// List, then watch, one kind of object, keeping a handler in step with the API server — what
// client-go's reflector does (https://kubernetes.io/docs/reference/using-api/api-concepts/):
// - list in pages (limit/continue), hand over the whole set, note the list's resourceVersion;
// - watch from that version with allowWatchBookmarks (the server sends BOOKMARKs with newer
//   versions, so a reconnect resumes near now instead of replaying) and a server-side
//   timeoutSeconds spread at random (watches of many agents do not all end together);
// - 410 Gone, as the watch's HTTP status or as an ERROR event: the version is compacted away,
//   list again; a continue token too old for the next page: the list starts over;
// - a watch the server closed (its timeout, a restart) resumes at once from the last version seen;
//   errors, and watches that close without delivering anything, are retried with exponential
//   backoff and jitter (the export's backoffDelay);
// - lines bounded (line-splitter.ts); a line or object that is not what it should be is counted
//   and skipped.
import type { IncomingMessage } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { type RetryOptions, backoffDelay } from '../../export/retrying-transport.js';
import type { Logger } from '../../log.js';
import { type KubeApiClient, KubeApiError, readBody, statusMessage } from './api-client.js';
import { LineSplitter } from './line-splitter.js';
import { resourceVersionOf } from './objects.js';
import { parseWatchEvent } from './watch-event.js';

export interface ReflectorHandler<T> {
  /** The whole set, after a list: what is not in it is gone. */
  replace(items: T[]): void;
  upsert(item: T): void;
  remove(item: T): void;
}

export interface ReflectorOptions<T> {
  api: KubeApiClient;
  /** For the log and stats: "pods", "services". */
  what: string;
  /** The collection's path, e.g. /api/v1/pods. */
  path: string;
  /** Query parameters of both list and watch, e.g. { fieldSelector: 'spec.nodeName=node-1' }. */
  params?: Record<string, string>;
  decode(obj: unknown): T | null;
  handler: ReflectorHandler<T>;
  log: Logger;
  /** Longest watch line kept (default 4 MiB; a Pod's JSON is tens of kilobytes). */
  maxLineBytes?: number;
  /** Objects per list page (default 500, client-go's). */
  pageSize?: number;
  /** Server-side watch timeout, seconds: a random value in [min, max) (default 300–600). */
  watchSeconds?: [number, number];
  backoff?: Partial<RetryOptions>;
  random?: () => number;
}

export interface ReflectorStats {
  lists: number;
  listed: number;
  watches: number;
  events: number;
  bookmarks: number;
  /** Lists made again after 410 Gone. */
  relists: number;
  /** Failed lists and watches (HTTP errors, connection errors, ERROR events other than 410). */
  errors: number;
  /** Lines, events and objects that were not what they should be, skipped. */
  malformed: number;
  lines_too_long: number;
}

const DEFAULT_BACKOFF: RetryOptions = {
  maxAttempts: Number.POSITIVE_INFINITY, initialBackoffMs: 500, maxBackoffMs: 30_000, multiplier: 2, jitter: 0.5, maxElapsedMs: Number.POSITIVE_INFINITY,
};

/** How one watch ended. */
interface WatchEnd {
  /** The last version seen (where the next watch resumes). */
  rv: string;
  gone: boolean;
  /** It delivered an event or bookmark, or stayed open a while: no backoff before the next. */
  progress: boolean;
  error?: Error;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

export class Reflector<T> {
  readonly #abort = new AbortController();
  readonly #backoff: RetryOptions;
  readonly #random: () => number;
  readonly #stats: ReflectorStats = { lists: 0, listed: 0, watches: 0, events: 0, bookmarks: 0, relists: 0, errors: 0, malformed: 0, lines_too_long: 0 };
  #running: Promise<void> | null = null;
  /** Failing since the last answer: the first failure is a warning, the rest debug lines until it works again. */
  #failing = false;
  #synced = false;

  constructor(private readonly opts: ReflectorOptions<T>) {
    this.#backoff = { ...DEFAULT_BACKOFF, ...opts.backoff };
    this.#random = opts.random ?? Math.random;
  }

  start(): void {
    this.#running ??= this.#run();
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#running;
  }

  /** A list has been handed over (the handler knows the objects as of then). */
  get synced(): boolean {
    return this.#synced;
  }

  stats(): ReflectorStats {
    return { ...this.#stats };
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    let rv: string | null = null;
    /** Rounds in a row without progress: the backoff's exponent. */
    let idle = 0;
    while (!signal.aborted) {
      let progress = false;
      try {
        rv ??= await this.#list(signal);
        const end = await this.#watch(rv, signal);
        progress = end.progress;
        rv = end.gone ? null : end.rv;
        if (end.gone) this.#stats.relists++;
        if (end.error !== undefined && !signal.aborted) this.#failed(end.error, progress);
      } catch (e) {
        if (signal.aborted) break;
        this.#failed(e as Error, false);
      }
      if (progress) {
        idle = 0;
        continue;
      }
      const delay = backoffDelay(this.#backoff, ++idle, this.#random());
      await sleep(delay, undefined, { signal, ref: false }).catch(() => undefined);
    }
  }

  #failed(e: Error, progress: boolean): void {
    this.#stats.errors++;
    const fields = { resource: this.opts.what, error: e.message };
    // One warning per outage; a watch cut after it worked is routine (debug).
    if (!this.#failing && !progress) this.opts.log.warn('kubernetes: list/watch failed, retrying with backoff', fields);
    else this.opts.log.debug('kubernetes: list/watch failed', fields);
    if (!progress) this.#failing = true;
  }

  /** A list or a watch was answered: the next failure is news again. */
  #answered(): void {
    if (this.#failing) this.opts.log.info('kubernetes: list/watch works again', { resource: this.opts.what });
    this.#failing = false;
  }

  #url(extra: Record<string, string>): string {
    return `${this.opts.path}?${new URLSearchParams({ ...this.opts.params, ...extra }).toString()}`;
  }

  async #list(signal: AbortSignal): Promise<string> {
    const items: T[] = [];
    let rv = '';
    let next: string | undefined;
    let restarts = 0;
    for (;;) {
      const page: Record<string, string> = { limit: String(this.opts.pageSize ?? 500) };
      if (next !== undefined) page.continue = next;
      const { status, body } = await this.opts.api.getJson(this.#url(page), signal);
      if (status === 410 && next !== undefined && restarts++ < 3) {
        // The continue token outlived its snapshot: start the list over.
        items.length = 0;
        next = undefined;
        continue;
      }
      if (status !== 200) throw new KubeApiError(`list ${this.opts.what}: HTTP ${status} ${statusMessage(body)}`, status);
      if (!isObject(body) || !Array.isArray(body.items)) {
        this.#stats.malformed++;
        throw new KubeApiError(`list ${this.opts.what}: the answer is not a list`);
      }
      for (const raw of body.items) {
        const item = this.opts.decode(raw);
        if (item === null) this.#stats.malformed++;
        else items.push(item);
      }
      rv = resourceVersionOf(body) ?? '';
      const cont = isObject(body.metadata) ? body.metadata.continue : undefined;
      next = typeof cont === 'string' && cont !== '' ? cont : undefined;
      if (next === undefined) break;
    }
    this.opts.handler.replace(items);
    this.#answered();
    this.#stats.lists++;
    this.#stats.listed += items.length;
    this.#synced = true;
    return rv;
  }

  async #watch(rv: string, signal: AbortSignal): Promise<WatchEnd> {
    const [min, max] = this.opts.watchSeconds ?? [300, 600];
    const seconds = Math.floor(min + this.#random() * (max - min));
    const params: Record<string, string> = { watch: '1', allowWatchBookmarks: 'true', timeoutSeconds: String(seconds) };
    // An empty version would mean "from any recent state" (no continuity): only a list's is used.
    if (rv !== '') params.resourceVersion = rv;
    // Bookmarks come about once a minute: silence well past the timeout is a dead connection.
    const res = await this.opts.api.open(this.#url(params), signal, (seconds + 60) * 1000);
    if (res.statusCode === 410) {
      res.resume();
      return { rv, gone: true, progress: false };
    }
    if (res.statusCode !== 200) {
      const text = await readBody(res, 64 << 10).catch(() => '');
      let message = '';
      try {
        message = statusMessage(JSON.parse(text));
      } catch {
        // not a Status
      }
      throw new KubeApiError(`watch ${this.opts.what}: HTTP ${res.statusCode ?? 0} ${message}`, res.statusCode);
    }
    this.#stats.watches++;
    this.#answered();
    return this.#consume(res, rv);
  }

  /** Reads a watch stream to its end; applies each event. */
  async #consume(res: IncomingMessage, from: string): Promise<WatchEnd> {
    const started = Date.now();
    const lines = new LineSplitter(this.opts.maxLineBytes ?? 4 << 20);
    const end: WatchEnd = { rv: from, gone: false, progress: false };
    try {
      for await (const chunk of res) {
        const before = lines.tooLong;
        for (const line of lines.feed(chunk as Buffer)) {
          const stop = this.#apply(line, end);
          if (stop !== null) {
            res.destroy();
            if (stop !== 'gone') end.error = new KubeApiError(`watch ${this.opts.what}: ${stop}`);
            return end;
          }
        }
        this.#stats.lines_too_long += lines.tooLong - before;
      }
    } catch (e) {
      end.error = e as Error;
    }
    if (Date.now() - started >= 1000) end.progress = true;
    return end;
  }

  /** Applies one line to the handler; 'gone' or an error's text when the watch must end. */
  #apply(line: string, end: WatchEnd): string | null {
    const e = parseWatchEvent(line);
    switch (e.type) {
      case 'malformed':
        this.#stats.malformed++;
        return null;
      case 'BOOKMARK':
        this.#stats.bookmarks++;
        end.rv = e.resourceVersion;
        end.progress = true;
        return null;
      case 'ERROR':
        if (e.code === 410) {
          end.gone = true;
          return 'gone';
        }
        return `ERROR event ${e.code ?? '?'} ${e.message}`;
      default: {
        const item = this.opts.decode(e.object);
        if (item === null) {
          this.#stats.malformed++;
          return null;
        }
        this.#stats.events++;
        if (e.type === 'DELETED') this.opts.handler.remove(item);
        else this.opts.handler.upsert(item);
        if (e.resourceVersion !== null) end.rv = e.resourceVersion;
        end.progress = true;
        return null;
      }
    }
  }
}
