// The process collector: exec and exit of traced processes from the sched tracepoints.
import { type BpfObject, type Link, RingBufferConsumer } from 'libbpf-ts';
import { type Collector, type CollectorContext, filterSettings } from '../collector.js';
import { loadLanternObject, readCounters } from '../bpf-object.js';
import { decodeProcessEvent } from './decode.js';

/** Counter slots of bpf/include/process.h. */
const CTR = { EXEC: 0, EXIT: 1, RINGBUF_FULL: 2 } as const;

export class ProcessCollector implements Collector {
  readonly name = 'process';
  #obj: BpfObject | null = null;
  #links: Link[] = [];
  #consumer: RingBufferConsumer | null = null;
  #decoded = 0;
  #malformed = 0;
  #final: Record<string, number> | null = null;

  async start(ctx: CollectorContext): Promise<void> {
    const obj = loadLanternObject('process', filterSettings(ctx));
    this.#obj = obj;
    this.#consumer = new RingBufferConsumer([obj.map('process_events')], {
      // bpf/process.bpf.c submits with wake-ups: no sweep every 10 ms of a ring that is quiet (an
      // idle agent's consumer threads woke 100 times a second each for nothing).
      pollMs: 1000,
      onBatch: (batch) =>
        batch.forEach((view, off, len) => {
          const event = decodeProcessEvent(view, off, len, ctx.clock);
          if (event === null) {
            this.#malformed++;
            return;
          }
          this.#decoded++;
          ctx.sink.put({ type: 'process', event });
        }),
      onError: (e) => ctx.log.warn('process collector: record handling failed', { error: String(e) }),
    });
    // Every program: the collector's own and the pid filter's (bpf/include/filter.h).
    this.#links = obj.programs().map((p) => p.attach());
  }

  async stop(): Promise<void> {
    for (const l of this.#links) l.close();
    this.#links = [];
    await this.#consumer?.closeAndFlush();
    // Keep the last figures for the final report, then release the kernel objects.
    this.#final = this.stats();
    this.#obj?.close();
    this.#obj = null;
  }

  stats(): Record<string, number> {
    if (this.#final !== null) return this.#final;
    const s = this.#consumer?.stats();
    const k = this.#obj !== null ? readCountersSafe(this.#obj) : [];
    return {
      bpf_attachments: this.#links.length,
      kernel_exec: Number(k[CTR.EXEC] ?? 0n),
      kernel_exit: Number(k[CTR.EXIT] ?? 0n),
      lost_ringbuf_full: Number(k[CTR.RINGBUF_FULL] ?? 0n),
      lost_js_queue_full: s?.droppedRecords ?? 0,
      records_in: s?.records ?? 0,
      records_decoded: this.#decoded,
      records_malformed: this.#malformed,
    };
  }
}

function readCountersSafe(obj: BpfObject): bigint[] {
  try {
    return readCounters(obj, 3);
  } catch {
    return [];
  }
}
