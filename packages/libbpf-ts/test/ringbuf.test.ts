// Ring buffer consumption: batching, overflow in the kernel and in JS, close semantics.
import t from 'tap';
import { BpfObject, RecordBatch, RingBufferConsumer, codec } from '../src/index.js';
import { COUNTER, PROBE_TEST_EVENT_SIZE, bpfObject, decodeProbeTestEvent, getppidTimes, waitFor } from './helpers.js';
import { requireBpf } from './require-bpf.js';

requireBpf(t);

function load(fillerLen: number): BpfObject {
  return BpfObject.open(bpfObject('probe_test')).setGlobal('target_tgid', process.pid).setGlobal('filler_len', fillerLen).load();
}

t.test('records arrive batched, in order, with their ring index', async (t) => {
  const obj = load(0);
  t.teardown(() => obj.close());
  let batches = 0;
  const tids: number[] = [];
  const rings = new Set<number>();
  const lengths = new Set<number>();
  let firstMismatches = 0;
  const consumer = new RingBufferConsumer([obj.map('events')], {
    flushMs: 50,
    onBatch: (b) => {
      batches++;
      let seen: { offset: number; length: number } | null = null;
      b.forEach((v, off, len, ring) => {
        seen ??= { offset: off, length: len };
        lengths.add(len);
        rings.add(ring);
        tids.push(decodeProbeTestEvent(v, off).tid);
      });
      if (JSON.stringify(b.first()) !== JSON.stringify(seen)) firstMismatches++;
    },
  });
  t.teardown(() => consumer.close());
  const link = obj.program('on_getppid').attach();
  t.teardown(() => link.close());
  getppidTimes(2000);
  await waitFor(() => tids.length >= 2000);
  await consumer.closeAndFlush();
  t.equal(tids.length, 2000);
  t.ok(batches < 200, `2000 records in few JS calls (${batches})`);
  t.same([...rings], [0]);
  t.equal(firstMismatches, 0, 'first() gives the record forEach gives first');
  t.equal(new RecordBatch(Buffer.alloc(0), 0).first(), null, 'and null in an empty batch');
  t.same([...lengths], [PROBE_TEST_EVENT_SIZE], 'each record has its real length');
  t.same(tids.filter((x) => x !== process.pid), [], 'records from the main thread only');
  const s = consumer.stats();
  t.equal(s.records, 2000);
  t.equal(s.bytes, 2000 * PROBE_TEST_EVENT_SIZE);
  t.equal(s.droppedRecords, 0);
});

t.test('a JS stall fills the held batch instead of dropping small ones', async (t) => {
  const obj = load(0);
  t.teardown(() => obj.close());
  let delivered = 0;
  // Two slots and a 1 ms flush: without holding back, a 300 ms stall would hand over (and drop) a
  // near-empty batch every millisecond.
  const consumer = new RingBufferConsumer([obj.map('events')], { maxPendingBatches: 2, flushMs: 1, pollMs: 1, onBatch: (b) => (delivered += b.count) });
  t.teardown(() => consumer.close());
  const link = obj.program('on_getppid').attach();
  t.teardown(() => link.close());
  // The JS thread is busy for 300 ms while records keep coming, 10 per millisecond (3,000 records:
  // under one batch's capacity, and under the kernel ring's even if the consumer thread got no CPU).
  const start = Date.now();
  let produced = 0;
  for (let ms = 0; ms < 300; ms++) {
    getppidTimes(10);
    produced += 10;
    while (Date.now() < start + ms + 1) {
      // busy: the event loop cannot take a batch
    }
  }
  // The stall left batches waiting for the event loop: pendingBatches() says so, as stats() does.
  const pending = consumer.pendingBatches();
  t.ok(pending >= 1 && pending <= 2, `batches waiting for JS after the stall (${pending})`);
  t.equal(pending, consumer.stats().pendingBatches, 'pendingBatches() is stats().pendingBatches');
  await waitFor(() => delivered >= produced);
  await consumer.closeAndFlush();
  t.equal(consumer.pendingBatches(), 0, 'none left once flushed');
  t.equal(consumer.stats().droppedRecords, 0, `no record dropped (${produced} produced during the stall)`);
  t.equal(delivered, produced);
});

t.test('batches waiting for JS are delivered one per event-loop turn', async (t) => {
  const obj = load(0);
  t.teardown(() => obj.close());
  // Between two batches the loop turns when an immediate set in the first has run before the second.
  let batches = 0;
  let sameTurn = 0;
  let turned = true;
  let delivered = 0;
  const consumer = new RingBufferConsumer([obj.map('events')], {
    batchBytes: 32 * (8 + PROBE_TEST_EVENT_SIZE), // 32 records a batch
    maxPendingBatches: 8,
    flushMs: 1,
    pollMs: 1,
    onBatch: (b) => {
      batches++;
      delivered += b.count;
      if (!turned) sameTurn++;
      turned = false;
      setImmediate(() => (turned = true));
    },
  });
  t.teardown(() => consumer.close());
  const link = obj.program('on_getppid').attach();
  t.teardown(() => link.close());
  // The JS thread busy while the native thread fills its pending slots: eight batches wait at once.
  getppidTimes(8 * 32);
  const until = Date.now() + 200;
  while (Date.now() < until) {
    // busy: no batch can be taken
  }
  t.ok(consumer.pendingBatches() >= 4, `batches waiting after the stall (${consumer.pendingBatches()})`);
  await waitFor(() => delivered >= 8 * 32);
  await consumer.closeAndFlush();
  t.equal(delivered, 8 * 32, 'every record delivered');
  t.ok(batches >= 5, `in several batches (${batches})`);
  t.equal(sameTurn, 0, 'never two batches in one turn of the loop');
});

t.test('a full kernel ring drops records and the program counts them', async (t) => {
  const obj = load(2048);
  t.teardown(() => obj.close());
  const link = obj.program('on_getppid').attach();
  // Nobody consumes yet: 256 KiB of ring holds ~120 records of ~2 KiB.
  getppidTimes(500);
  link.close();
  const drops = Number(obj.map('counters', codec.u32, codec.u64).get(COUNTER.RING_DROPS) ?? 0n);
  let delivered = 0;
  const consumer = new RingBufferConsumer([obj.map('events')], { onBatch: (b) => (delivered += b.count) });
  t.teardown(() => consumer.close());
  await waitFor(() => delivered + drops >= 500);
  await consumer.closeAndFlush();
  t.ok(drops > 0, `kernel-side drops counted (${drops})`);
  t.ok(delivered > 0 && delivered < 500, `what fitted was delivered (${delivered})`);
  t.equal(delivered + drops, 500, 'every record either delivered or counted as dropped');
});

t.test('a slow JS consumer loses whole batches, counted, and recovers', async (t) => {
  const obj = load(0);
  t.teardown(() => obj.close());
  let delivered = 0;
  let first = true;
  const consumer = new RingBufferConsumer([obj.map('events')], {
    batchBytes: 64 * 32, // 32 records per batch
    maxPendingBatches: 1,
    flushMs: 1,
    onBatch: (b: RecordBatch) => {
      delivered += b.count;
      if (first) {
        first = false;
        const until = Date.now() + 300; // JS is stuck while the native thread keeps draining
        while (Date.now() < until);
      }
    },
  });
  t.teardown(() => consumer.close());
  const link = obj.program('on_getppid').attach();
  t.teardown(() => link.close());
  getppidTimes(1); // the first batch starts the stall
  await waitFor(() => delivered >= 1);
  const started = Date.now();
  getppidTimes(5000);
  await waitFor(() => Date.now() - started > 400);
  getppidTimes(100);
  const kernelDrops = (): number => Number(obj.map('counters', codec.u32, codec.u64).get(COUNTER.RING_DROPS) ?? 0n);
  await waitFor(() => consumer.stats().records + kernelDrops() >= 5101, 10_000);
  await consumer.closeAndFlush();
  const s = consumer.stats();
  // On a loaded machine the kernel ring can fill too: every record is drained or counted there.
  t.equal(s.records + kernelDrops(), 5101, 'every record drained from the kernel or counted as dropped there');
  t.equal(delivered + s.droppedRecords, s.records, 'delivered + dropped = drained');
  t.equal(s.oversizeRecords, 0);
  t.equal(s.callbackErrors, 0);
});

t.test('leaveInRing: while JS holds every slot, records wait in the kernel ring, in order, none dropped', async (t) => {
  const obj = load(0);
  t.teardown(() => obj.close());
  const times: bigint[] = [];
  const consumer = new RingBufferConsumer([obj.map('events')], {
    batchBytes: 64 * 32, // 32 records per batch
    maxPendingBatches: 1,
    flushMs: 1,
    leaveInRing: true,
    onBatch: (b: RecordBatch) => b.forEach((v, off) => times.push(decodeProbeTestEvent(v, off).tsNs)),
  });
  t.teardown(() => consumer.close());
  const link = obj.program('on_getppid').attach();
  t.teardown(() => link.close());
  // 3000 records while the JS thread is busy making them: two batches' worth reach the consumer's
  // batches, the rest must wait in the 256 KiB ring (64 bytes each there: 4096 fit).
  const produced = 3000;
  getppidTimes(produced);
  const kernelDrops = (): number => Number(obj.map('counters', codec.u32, codec.u64).get(COUNTER.RING_DROPS) ?? 0n);
  await waitFor(() => times.length >= produced, 10_000);
  await consumer.closeAndFlush();
  const s = consumer.stats();
  t.equal(kernelDrops(), 0, 'the ring held what waited');
  t.equal(s.droppedRecords, 0, 'nothing dropped in the consumer');
  t.ok(s.ringWaits >= 1, `the consumer stopped reading while JS was behind (${s.ringWaits} times)`);
  t.equal(times.length, produced, 'every record delivered');
  t.ok(times.every((x, i) => i === 0 || x >= times[i - 1]!), 'in the order they were made (the record read as the wait began included)');
});

t.test('a batch is the callback\'s only: detached when it returns, its memory reused', async (t) => {
  const obj = load(0);
  t.teardown(() => obj.close());
  const kept: Array<{ buffer: Buffer; lengthInCall: number; tid: number }> = [];
  const consumer = new RingBufferConsumer([obj.map('events')], {
    maxPendingBatches: 2,
    flushMs: 1,
    onBatch: (b) => {
      let tid = 0;
      b.forEach((v, off) => (tid = decodeProbeTestEvent(v, off).tid));
      kept.push({ buffer: b.buffer, lengthInCall: b.buffer.length, tid });
    },
  });
  t.teardown(() => consumer.close());
  const link = obj.program('on_getppid').attach();
  t.teardown(() => link.close());
  for (let i = 0; i < 50; i++) {
    getppidTimes(10);
    await new Promise((r) => setTimeout(r, 3));
  }
  await waitFor(() => kept.length >= 20);
  t.ok(kept.every((k) => k.lengthInCall > 0 && k.tid === process.pid), 'each batch was readable during its call');
  t.same(kept.filter((k) => k.buffer.length !== 0).map((k) => k.buffer.length), [], 'every kept Buffer reads as empty afterwards');
  // The Buffers are all still referenced, yet the pool served the batches from the memory the
  // earlier ones gave back: a handful of allocations for all of them.
  const allocations = consumer.stats().bufferAllocations;
  t.ok(allocations <= 4, `${kept.length} batches from ${allocations} buffer allocations`);
});

t.test('a ring whose producer wakes the consumer needs no sweep: records come, and close() does not wait out the period', async (t) => {
  const obj = load(0);
  t.teardown(() => obj.close());
  let delivered = 0;
  // The fixture submits with wake-ups; a minute between sweeps.
  const consumer = new RingBufferConsumer([obj.map('events')], { pollMs: 60_000, flushMs: 1, onBatch: (b) => (delivered += b.count) });
  t.teardown(() => consumer.close());
  const link = obj.program('on_getppid').attach();
  t.teardown(() => link.close());
  getppidTimes(50);
  await waitFor(() => delivered >= 50);
  // Woken by the producer: the first poll did not have to run out.
  t.equal(delivered, 50, 'every record delivered long before the first sweep');
  const started = Date.now();
  await consumer.closeAndFlush();
  const took = Date.now() - started;
  t.ok(took < 10_000, `close() woke the consumer's poll instead of waiting out its 60 s (${took} ms)`);
  t.equal(consumer.stats().records, 50);
});

t.test('records larger than a batch are counted as oversize', async (t) => {
  const obj = load(2048);
  t.teardown(() => obj.close());
  let delivered = 0;
  const consumer = new RingBufferConsumer([obj.map('events')], { batchBytes: 1024, onBatch: (b) => (delivered += b.count) });
  t.teardown(() => consumer.close());
  const link = obj.program('on_getppid').attach();
  getppidTimes(10);
  link.close();
  await waitFor(() => consumer.stats().oversizeRecords >= 10);
  await consumer.closeAndFlush();
  t.equal(consumer.stats().oversizeRecords, 10);
  t.equal(delivered, 0);
});

t.test('exceptions in onBatch are counted, not fatal', async (t) => {
  const obj = load(0);
  t.teardown(() => obj.close());
  const errors: unknown[] = [];
  const consumer = new RingBufferConsumer([obj.map('events')], {
    onBatch: () => {
      throw new Error('boom');
    },
    onError: (e) => errors.push(e),
  });
  t.teardown(() => consumer.close());
  const link = obj.program('on_getppid').attach();
  getppidTimes(3);
  link.close();
  await waitFor(() => errors.length >= 1);
  await consumer.closeAndFlush();
  t.ok(consumer.stats().callbackErrors >= 1);
  t.match(String(errors[0]), /boom/);
});

t.test('a non-ringbuf map is refused', async (t) => {
  const obj = load(0);
  t.teardown(() => obj.close());
  t.throws(() => new RingBufferConsumer([obj.map('kv')], { onBatch: () => undefined }), /not a ringbuf/);
  t.throws(() => new RingBufferConsumer([], { onBatch: () => undefined }), /at least one/);
});
