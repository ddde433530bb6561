// Retry with backoff and the bounded queue, over a scripted fake transport.
import t from 'tap';
import { BoundedQueue, batchLength } from '../../src/export/bounded-queue.js';
import { type RetryClock, RetryingTransport, backoffDelay } from '../../src/export/retrying-transport.js';
import { isRetryableExportError } from '../../src/export/sdk-exporter-transport.js';
import type { SendResult, Transport } from '../../src/export/transport.js';

const ok: SendResult = { ok: true };
const unavailable = (): SendResult => ({ ok: false, retryable: true, error: new Error('unavailable') });
const badRequest = (): SendResult => ({ ok: false, retryable: false, error: new Error('bad request') });

/** Answers from a script, then `rest`; records every batch it saw. */
class ScriptedTransport<T> implements Transport<T> {
  sent: T[] = [];
  shutdowns = 0;
  constructor(private script: SendResult[], private rest: SendResult = ok) {}
  async send(batch: T): Promise<SendResult> {
    this.sent.push(batch);
    return this.script.shift() ?? this.rest;
  }
  async shutdown(): Promise<void> {
    this.shutdowns++;
  }
}

/** Virtual time: sleeps advance the clock at once and are recorded. */
function fakeClock(random = 0.5): RetryClock & { sleeps: number[]; t: number } {
  const c = {
    t: 0,
    sleeps: [] as number[],
    now: () => c.t,
    random: () => random,
    sleep: async (ms: number) => {
      c.sleeps.push(ms);
      c.t += ms;
    },
  };
  return c;
}

const retry = { maxAttempts: 5, initialBackoffMs: 100, maxBackoffMs: 1000, multiplier: 2, jitter: 0.2, maxElapsedMs: 60_000 };

t.test('backoff: exponential, capped, jittered within ±jitter', async (t) => {
  t.same([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(retry, n, 0.5)), [100, 200, 400, 800, 1000, 1000]);
  t.equal(backoffDelay(retry, 1, 0), 80, 'lowest jitter');
  t.equal(backoffDelay(retry, 1, 1), 120, 'highest jitter');
  t.equal(backoffDelay(retry, 10, 1), 1200, 'jitter applies on top of the cap');
});

t.test('retryable failures are retried with growing delays until success', async (t) => {
  const inner = new ScriptedTransport<string>([unavailable(), unavailable(), unavailable()]);
  const clock = fakeClock();
  const r = new RetryingTransport(inner, retry, clock);
  t.same(await r.send('batch'), ok);
  t.same(inner.sent, ['batch', 'batch', 'batch', 'batch']);
  t.same(clock.sleeps, [100, 200, 400]);
  t.match(r.stats(), { attempts: 4, retries: 3, failedAttempts: 3, succeeded: 1, rejected: 0, exhausted: 0 });
});

t.test('failing: from a failed attempt until one succeeds (a backend down, not one that is slow)', async (t) => {
  const clock = fakeClock();
  const inner = new ScriptedTransport<string>([ok, badRequest(), ok]);
  const r = new RetryingTransport(inner, retry, clock);
  t.equal(r.failing, false, 'nothing sent yet');
  await r.send('a');
  t.equal(r.failing, false, 'answered');
  await r.send('b');
  t.equal(r.failing, true, 'refused');
  await r.send('c');
  t.equal(r.failing, false, 'answered again');
  const down = new RetryingTransport(new ScriptedTransport<string>([], unavailable()), { ...retry, maxAttempts: 2 }, fakeClock());
  await down.send('d');
  t.equal(down.failing, true, 'every attempt failed');
});

t.test('a non-retryable failure is returned at once', async (t) => {
  const inner = new ScriptedTransport<string>([badRequest()]);
  const clock = fakeClock();
  const r = new RetryingTransport(inner, retry, clock);
  const res = await r.send('b');
  t.match(res, { ok: false, retryable: false });
  t.equal(inner.sent.length, 1);
  t.same(clock.sleeps, []);
  t.match(r.stats(), { attempts: 1, rejected: 1 });
});

t.test('gives up after maxAttempts', async (t) => {
  const inner = new ScriptedTransport<string>([], unavailable());
  const clock = fakeClock();
  const r = new RetryingTransport(inner, retry, clock);
  const res = await r.send('b');
  t.match(res, { ok: false, retryable: true });
  t.notOk(!res.ok && res.aborted);
  t.equal(inner.sent.length, 5);
  t.same(clock.sleeps, [100, 200, 400, 800]);
  t.match(r.stats(), { attempts: 5, exhausted: 1 });
});

t.test('gives up when the next retry would start after maxElapsedMs', async (t) => {
  const inner = new ScriptedTransport<string>([], unavailable());
  const clock = fakeClock();
  const r = new RetryingTransport(inner, { ...retry, maxAttempts: 100, maxElapsedMs: 1000 }, clock);
  await r.send('b');
  t.same(clock.sleeps, [100, 200, 400], '100+200+400+800 would pass 1000 ms');
  t.equal(r.stats().exhausted, 1);
});

t.test('a server-requested delay (Retry-After) replaces the computed one', async (t) => {
  const inner = new ScriptedTransport<string>([{ ok: false, retryable: true, error: new Error('429'), retryAfterMs: 5000 }]);
  const clock = fakeClock();
  await new RetryingTransport(inner, retry, clock).send('b');
  t.same(clock.sleeps, [5000]);
});

t.test('stopRetryingAt: no wait past the deadline, waits in progress end', async (t) => {
  const inner = new ScriptedTransport<string>([], unavailable());
  const clock = fakeClock();
  const r = new RetryingTransport(inner, retry, clock);
  r.stopRetryingAt(250);
  const res = await r.send('b');
  t.match(res, { ok: false, aborted: true });
  t.same(clock.sleeps, [100], 'the 200 ms wait would end past 250');
  t.equal(r.stats().aborted, 1);

  // Real timers: a long backoff in progress is cut short.
  const slow = new RetryingTransport(new ScriptedTransport<string>([], unavailable()), { ...retry, initialBackoffMs: 60_000, maxBackoffMs: 60_000, maxElapsedMs: 600_000 });
  const started = Date.now();
  const keepAlive = setTimeout(() => {}, 10_000); // the retry timers are unref'd by design
  t.teardown(() => clearTimeout(keepAlive));
  const pending = slow.send('b');
  await new Promise((r) => setTimeout(r, 20));
  slow.stopRetryingAt(Date.now() + 50);
  t.match(await pending, { ok: false, aborted: true });
  t.ok(Date.now() - started < 5000, 'returned long before the 60 s backoff');
});

t.test('a transport that throws counts as a non-retryable failure', async (t) => {
  const r = new RetryingTransport<string>({ send: async () => { throw new Error('boom'); }, shutdown: async () => {} }, retry, fakeClock());
  t.match(await r.send('b'), { ok: false, retryable: false, error: { message: 'boom' } });
});

t.test('export errors: retryable or not, by their shape', async (t) => {
  const grpcErr = (code: number): Error => Object.assign(new Error(`grpc ${code}`), { code, details: '', metadata: {} });
  const httpErr = (code: number): Error => Object.assign(new Error(`http ${code}`), { name: 'OTLPExporterError', code });
  const sysErr = (code: string): Error => Object.assign(new Error(code), { code });
  for (const c of [1, 4, 8, 10, 11, 14, 15]) t.ok(isRetryableExportError(grpcErr(c)), `gRPC ${c} retryable`);
  for (const c of [2, 3, 5, 6, 7, 9, 12, 13, 16]) t.notOk(isRetryableExportError(grpcErr(c)), `gRPC ${c} not retryable`);
  for (const c of [429, 502, 503, 504]) t.ok(isRetryableExportError(httpErr(c)), `HTTP ${c} retryable`);
  for (const c of [400, 401, 403, 404, 413, 500]) t.notOk(isRetryableExportError(httpErr(c)), `HTTP ${c} not retryable`);
  t.ok(isRetryableExportError(sysErr('ECONNREFUSED')));
  t.ok(isRetryableExportError(sysErr('ECONNRESET')));
  t.notOk(isRetryableExportError(sysErr('ERR_SSL_WRONG_VERSION_NUMBER')));
  t.ok(isRetryableExportError(new Error('Request timed out')));
  t.notOk(isRetryableExportError(new Error('Nothing to send')));
});

function queueOver(transport: Transport<number[]>, capacity: number, maxBatch: number, delayMs = 0): BoundedQueue<number> {
  return new BoundedQueue<number>({ capacity, maxBatch, delayMs, send: (b) => transport.send(b) });
}

t.test('queue: batches of at most maxBatch, in order', async (t) => {
  const tr = new ScriptedTransport<number[]>([]);
  const q = queueOver(tr, 100, 4, 10_000);
  q.push([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  t.ok(await q.flush(1000));
  t.same(tr.sent, [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]);
  t.match(q.stats(), { accepted: 10, exported: 10, batches: 3, queued: 0, droppedQueueFull: 0 });
});

t.test('queue: a partial batch waits delayMs, then goes', async (t) => {
  const tr = new ScriptedTransport<number[]>([]);
  const q = queueOver(tr, 100, 10, 50);
  q.push([1, 2]);
  await new Promise((r) => setTimeout(r, 10));
  t.same(tr.sent, [], 'not yet');
  await new Promise((r) => setTimeout(r, 100));
  t.same(tr.sent, [[1, 2]]);
});

t.test('queue: bounded; overflow dropped and counted, push never blocks', async (t) => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const sent: number[][] = [];
  const q = new BoundedQueue<number>({
    capacity: 5, maxBatch: 2, delayMs: 0,
    send: async (b) => {
      sent.push(b);
      await gate;
      return ok;
    },
  });
  t.equal(q.push([1, 2]), 2, 'first batch goes in flight at once');
  t.equal(q.push([3, 4, 5, 6, 7, 8, 9]), 5, 'five fit while the backend is stuck');
  t.equal(q.push([10]), 0);
  t.match(q.stats(), { queued: 5, inFlight: 2, accepted: 7, droppedQueueFull: 3 });
  release();
  t.ok(await q.flush(1000));
  t.same(sent, [[1, 2], [3, 4], [5, 6], [7]]);
  t.match(q.stats(), { exported: 7, droppedQueueFull: 3, queued: 0, inFlight: 0 });
});

t.test('queue: up to maxInFlight batches in flight at once, then one per completion', async (t) => {
  const gates: Array<() => void> = [];
  const sent: number[][] = [];
  let concurrent = 0;
  let most = 0;
  const q = new BoundedQueue<number>({
    capacity: 100, maxBatch: 2, delayMs: 10_000, maxInFlight: 3,
    send: async (b) => {
      sent.push(b);
      most = Math.max(most, ++concurrent);
      await new Promise<void>((r) => gates.push(r));
      concurrent--;
      return ok;
    },
  });
  q.push([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  await new Promise((r) => setImmediate(r));
  t.same(sent, [[1, 2], [3, 4], [5, 6]], 'three full batches go at once');
  t.match(q.stats(), { queued: 4, inFlight: 6 });
  gates.shift()!();
  await new Promise((r) => setTimeout(r, 10));
  t.same(sent.length, 4, 'a completion lets the next batch go');
  const drained = q.flush(1000);
  for (let i = 0; i < 20 && gates.length > 0; i++) {
    while (gates.length > 0) gates.shift()!();
    await new Promise((r) => setTimeout(r, 5));
  }
  t.ok(await drained);
  t.equal(most, 3, 'never more than maxInFlight');
  t.match(q.stats(), { exported: 10, batches: 5, queued: 0, inFlight: 0 });
});

t.test('queue: failed batches counted by reason', async (t) => {
  const tr = new ScriptedTransport<number[]>([
    unavailable(), badRequest(), { ok: false, retryable: true, error: new Error('x'), aborted: true }, ok,
  ]);
  const failures: number[] = [];
  const q = new BoundedQueue<number>({ capacity: 100, maxBatch: 2, delayMs: 0, send: (b) => tr.send(b), onFailure: (_r, n) => failures.push(n) });
  q.push([1, 2, 3, 4, 5, 6, 7]);
  t.ok(await q.flush(1000));
  t.match(q.stats(), { accepted: 7, exported: 1, droppedRetriesExhausted: 2, droppedRejected: 2, droppedShutdown: 2 });
  t.same(failures, [2, 2, 2]);
});

t.test('queue through retries: transient failures cost nothing', async (t) => {
  const inner = new ScriptedTransport<number[]>([unavailable(), unavailable()]);
  const r = new RetryingTransport(inner, retry, fakeClock());
  const q = new BoundedQueue<number>({ capacity: 10, maxBatch: 10, delayMs: 0, send: (b) => r.send(b) });
  q.push([1, 2, 3]);
  t.ok(await q.flush(1000));
  t.match(q.stats(), { exported: 3, droppedRetriesExhausted: 0 });
  t.equal(r.stats().retries, 2);
});

t.test('queue: close flushes within the deadline, then drops the rest and refuses more', async (t) => {
  const q = new BoundedQueue<number>({ capacity: 100, maxBatch: 2, delayMs: 0, send: () => new Promise(() => {}) }); // a hung backend
  q.push([1, 2, 3, 4, 5]);
  const started = Date.now();
  await q.close(100);
  const took = Date.now() - started;
  t.ok(took >= 90 && took < 2000, `close returned by its deadline (${took} ms)`);
  t.match(q.stats(), { queued: 0, inFlight: 2, droppedShutdown: 3 });
  t.equal(q.push([6]), 0);
  t.equal(q.stats().droppedShutdown, 4);
});

t.test('queue: room says what fits; items a caller did not hand over count as dropped', async (t) => {
  // One batch at a time, the first held by the backend: what is pushed next waits in the queue.
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const q = new BoundedQueue<number>({ capacity: 4, maxBatch: 4, delayMs: 60_000, maxInFlight: 1, send: async () => {
    await held;
    return ok;
  } });
  t.equal(q.room, 4);
  t.equal(q.push([0, 0, 0, 0]), 4);
  t.match(q.stats(), { queued: 0, inFlight: 4 }, 'a full queue is a batch: in flight at once');
  t.equal(q.room, 4);
  // A caller that encodes only what fits hands over 4 of its 6 items.
  t.equal(q.push([1, 2, 3, 4], 6), 4);
  t.equal(q.room, 0);
  t.match(q.stats(), { queued: 4, accepted: 8, droppedQueueFull: 2 });
  t.equal(q.push([], 3), 0);
  t.match(q.stats(), { droppedQueueFull: 5 });
  release();
  await q.close(1000);
  t.equal(q.room, 0, 'nothing fits once closed');
  t.equal(q.push([], 2), 0);
  t.match(q.stats(), { exported: 8, droppedShutdown: 2 });
});

t.test('queue: maxBatchBytes sends a batch once its bytes are there, and cuts batches at it (an item larger goes alone)', async (t) => {
  const sent: string[][] = [];
  const q = new BoundedQueue<string>({
    capacity: 100, capacityBytes: 10_000, bytesOf: (s) => s.length, maxBatch: 50, maxBatchBytes: 1000, delayMs: 60_000,
    send: async (b) => {
      sent.push(b);
      return ok;
    },
  });
  q.push(['a'.repeat(400), 'b'.repeat(400)]);
  await new Promise((r) => setImmediate(r));
  t.same(sent, [], '800 bytes, 2 items of 50: the batch waits for its delay');
  q.push(['c'.repeat(400)]);
  await new Promise((r) => setImmediate(r));
  t.same(sent.map((b) => b.map((s) => s[0]).join('')), ['ab'], 'past 1000 bytes: the first two go at once, the third would pass the bound');
  q.push(['d'.repeat(1500), 'e'.repeat(10), 'f'.repeat(10)]);
  t.ok(await q.flush(1000));
  t.same(sent.map((b) => b.map((s) => s[0]).join('')), ['ab', 'c', 'd', 'ef'], 'an item over the bound goes alone, the rest after it');
  t.match(q.stats(), { accepted: 6, exported: 6, batches: 4, queued: 0 });
});

t.test('queue: a full queue is a whole batch, in items or in bytes, whatever maxBatch and maxBatchBytes say', async (t) => {
  const sent: string[][] = [];
  const send = async (b: string[]): Promise<typeof ok> => {
    sent.push(b);
    return ok;
  };
  const byCount = new BoundedQueue<string>({ capacity: 3, maxBatch: 4096, delayMs: 60_000, send });
  byCount.push(['a', 'b']);
  await new Promise((r) => setImmediate(r));
  t.same(sent, [], 'two of three: waits for its delay');
  byCount.push(['c']);
  await new Promise((r) => setImmediate(r));
  t.same(sent, [['a', 'b', 'c']], 'full: sent at once');
  const byBytes = new BoundedQueue<string>({ capacity: 100, capacityBytes: 1000, bytesOf: (x) => x.length, maxBatch: 4096, maxBatchBytes: 1 << 20, delayMs: 60_000, send });
  byBytes.push(['d'.repeat(600)]);
  await new Promise((r) => setImmediate(r));
  t.equal(sent.length, 1, '600 of 1000 bytes: waits');
  byBytes.push(['e'.repeat(400)]);
  await new Promise((r) => setImmediate(r));
  t.same(sent.slice(1).map((b) => b.map((x) => x[0]).join('')), ['de'], 'its bytes full: sent at once');
});

t.test('batchLength: maxBatch items at most, maxBatchBytes at most by bytesOf, one at least', async (t) => {
  const items = [300, 300, 300, 2000, 10, 10, 10];
  const id = (n: number): number => n;
  t.equal(batchLength(items, 0, 10), 7, 'no byte bound: maxBatch or what is left');
  t.equal(batchLength(items, 0, 2), 2);
  t.equal(batchLength(items, 0, 10, 1000, id), 3, '900 bytes, the fourth would pass');
  t.equal(batchLength(items, 3, 10, 1000, id), 1, 'an item over the bound, alone');
  t.equal(batchLength(items, 4, 2, 1000, id), 2, 'maxBatch first');
  t.equal(batchLength(items, 7, 10, 1000, id), 0, 'nothing left');
});

t.test('queue: capacityBytes bounds the bytes waiting, room follows the average item, fill the larger share', async (t) => {
  const sent: string[][] = [];
  let release: (() => void) | null = null;
  const q = new BoundedQueue<string>({
    capacity: 100, capacityBytes: 1000, bytesOf: (s) => s.length, maxBatch: 100, delayMs: 60_000,
    send: async (b) => {
      sent.push(b);
      await new Promise<void>((r) => (release = r));
      return ok;
    },
  });
  t.equal(q.room, 100, 'nothing seen yet: the count alone');
  t.equal(q.push(['a'.repeat(300), 'b'.repeat(300), 'c'.repeat(300), 'd'.repeat(300)]), 3, 'the fourth would pass 1000 bytes');
  t.equal(q.stats().droppedQueueFull, 1);
  t.equal(q.stats().queuedBytes, 900);
  t.equal(q.room, 0, '100 bytes left: no room for an item of the average 300');
  t.equal(q.fill, 0.9, 'the bytes\' share, larger than the count\'s (3 %)');
  t.equal(q.push(['e'.repeat(100)]), 1, 'an item that fits is taken');
  t.equal(q.fill, 1);
  // Sent: the bytes leave with the batch.
  const flushed = q.flush(1000);
  await new Promise((r) => setImmediate(r));
  t.equal(q.stats().queuedBytes, 0);
  t.equal(q.room, 4, 'empty again: 1000 bytes, four items of the average 250');
  release!();
  t.equal(await flushed, true);
  t.same(sent.map((b) => b.length), [4]);
  // One item larger than the whole bound still goes, alone, into an empty queue.
  t.equal(q.push(['x'.repeat(5000), 'y']), 1);
  t.equal(q.stats().queuedBytes, 5000);
  const closing = q.close(1000);
  await new Promise((r) => setImmediate(r));
  release!();
  await closing;
});
