// The sockets collector: socket syscalls → connection tracker → protocol sessions → exchanges.
import { type BpfMap, type BpfObject, type Link, RingBufferConsumer, closeLinks } from 'libbpf-ts';
import type { ProtocolHandler } from '../../protocols/session.js';
import { counterReader, loadLanternObject, readCounters } from '../bpf-object.js';
import { type Collector, type CollectorContext, filterSettings } from '../collector.js';
import { EventScratch, type SocketEvent, decodeSocketRecord, socketRecordWrittenNs } from './decode.js';
import { HELD_MAX_AGE_NS, sweepHeld } from './held-sweep.js';
import { type CountedShed, KernelRed } from './kernel-red.js';
import { KernelShedShare } from './kernel-shedding.js';
import { taskStorageFromTracepoints } from './kernel-needs.js';
import { ConnectionTracker } from './tracker.js';
import { turn, turnNow } from '../../model/turn-clock.js';
import { TlsAttacher, type TlsAttacherOptions } from '../tls/attacher.js';
import { type SpanTagMaps, reuseSpanTagMaps, shrinkSpanTagMaps } from '../span-tag-maps.js';

/** Ring-buffer batches that may wait for the JS thread (RingConsumerOptions.maxPendingBatches). */
const MAX_PENDING_BATCHES = 16;
/** Capacity of one batch (RingConsumerOptions.batchBytes). */
const BATCH_BYTES = 1 << 20;
/**
 * A batch is handed to the JS thread at most this long after its first record (unless it fills
 * first: at ~6 MB of records a second, 20k exchanges, it holds ~240 KB). Each batch costs the JS
 * thread a fixed ~150 µs besides its records (measured under 10k req/s with every process traced,
 * its caches cold after the wait: two counter reads through the bpf syscall, the pressure reports,
 * the native side's Buffer made and detached), and the agent's default 10 ms made ~40 batches a
 * second there: ~5 % of the agent's CPU. Records wait a little longer, up to the consumer's 10 ms
 * sweep (the ring's producers do not wake it) plus this, which the span linker's 300 ms window and
 * the export queue's 1 s delay do not notice; cpu-priority.ts's calm lag allows for it.
 */
const FLUSH_MS = 40;
/** With every slot taken, the batches waiting must hold this share of what they could for the ring to count as full. */
const SLOTS_TAKEN_FULL_SHARE = 0.25;

/**
 * How close the consumer is to dropping, 0 … 1, so the agent sheds spans before drops begin: the
 * bytes waiting for the JS thread (`pendingBatches` behind this one, each about this one's
 * `batchLength`) against what the waiting batches can hold. Counted in bytes, not batches: at a low
 * rate a batch leaves every FLUSH_MS nearly empty, and a JS stall that queues many of them risks
 * nothing. Records the full ring lost since the last batch count as full. So does every slot taken
 * (the consumer then holds its batch back, up to BATCH_BYTES, and leaves records in the ring, where
 * the kernel sheds and counts HTTP/1 exchanges as it fills) once the batches waiting hold a quarter
 * of what they could: with small batches, slots taken are a short stall of the JS thread, not a
 * backlog (300 req/s beside two busy processes: the agent, yielding, starved for ~160 ms, and a few
 * spans were shed for a backlog of ~50 records; test/e2e/outage.test.ts, in CI beside other tests).
 */
export function ringPressure(pendingBatches: number, batchLength: number, lost: boolean): number {
  const waiting = pendingBatches * batchLength;
  const capacity = MAX_PENDING_BATCHES * BATCH_BYTES;
  if (lost || (pendingBatches >= MAX_PENDING_BATCHES - 1 && waiting >= capacity * SLOTS_TAKEN_FULL_SHARE)) return 1;
  return Math.min(1, waiting / capacity);
}

/** Counter slots of bpf/include/sockets.h, in order. */
const KERNEL_COUNTERS = ['lost_ringbuf_full', 'lost_args_table_full', 'lost_conn_table_full', 'user_read_failures',
  'payload_truncated', 'data_events', 'conn_opens', 'conn_closes', 'protocol_giveups', 'tls_calls', 'tls_no_fd',
  'lost_tls_calls_full', 'tls_upgrades', 'tls_go_foreign_conn',
  // HTTP/1 pairing (bpf/include/pairing.h): exchanges sent as one record, then why connections left it.
  'http1_paired', 'http1_unpaired_pipelined', 'http1_unpaired_request_spanning', 'http1_unpaired_request_large',
  'http1_unpaired_informational', 'http1_unpaired_upgrade', 'http1_unpaired_not_status_line', 'http1_unpaired_close',
  'http1_unpaired_tls', 'http1_unpaired_hold_full',
  // Shedding in the kernel: exchanges sent as summaries, response syscalls of those not captured,
  // exchanges counted in the kernel's RED histograms (no record), exchanges shed because the ring was
  // filling (the JS thread behind), whatever the share, and because the quarter second's span budget
  // was spent; decisions left for an exchange's other end (traced on this host) and not left (elsewhere).
  'http1_shed_in_kernel', 'http1_shed_response_syscalls', 'http1_shed_counted_in_kernel', 'http1_shed_ring_filling',
  'http1_shed_budget', 'http1_shed_decisions_left', 'http1_shed_other_end_away'] as const;

/** The counter slot of exchanges shed and counted in the kernel (SOCK_CTR_SHED_COUNTED). */
const SHED_COUNTED_SLOT = KERNEL_COUNTERS.indexOf('http1_shed_counted_in_kernel');
/** The counter slot of records the ring had no room for (SOCK_CTR_RINGBUF_FULL). */
const RING_FULL_SLOT = KERNEL_COUNTERS.indexOf('lost_ringbuf_full');

/** How often the span shedder's share reaches the kernel between ring batches (a quarter second: the shedder's window). */
const SHARE_REFRESH_MS = 250;
/** How often the RED of exchanges shed in the kernel is drained (kernel-red.ts): up to two periods late. */
const COUNTED_DRAIN_MS = 1_000;
/**
 * How long after the kernel last counted a shed exchange its count may still be on its way: a count
 * is drained at most two periods after it was made (KernelRed's two maps take turns), and a period
 * more for a late timer.
 */
const COUNTS_IN_FLIGHT_MS = 3 * COUNTED_DRAIN_MS;

export interface SocketsCollectorOptions {
  handlers: ProtocolHandler[];
  maxConnections?: number;
  idleTimeoutMs?: number;
  ringBufferBytes?: number;
  /**
   * HTTP/1 request and response paired in the kernel, one record per exchange (bpf/include/pairing.h).
   * Default on; off only to measure what it saves.
   */
  http1Pairing?: boolean;
  /** Plaintext of TLS libraries too (uprobes on OpenSSL and Go crypto/tls): the `tls` collector. */
  tls?: Omit<TlsAttacherOptions, 'pids'>;
}

export class SocketsCollector implements Collector {
  readonly name = 'sockets';
  #obj: BpfObject | null = null;
  #links: Link[] = [];
  #consumer: RingBufferConsumer | null = null;
  /** Ends the agent's watch of the ring's fill (ctx.watchRing), if it watches. */
  #unwatchRing: (() => void) | null = null;
  #tracker: ConnectionTracker | null = null;
  #tls: TlsAttacher | null = null;
  #shedShare: KernelShedShare | null = null;
  #red: KernelRed | null = null;
  #redDrain: NodeJS.Timeout | null = null;
  #redFailures = 0;
  #spanTagMaps: SpanTagMaps | null = null;
  #sweep: NodeJS.Timeout | null = null;
  #shareRefresh: NodeJS.Timeout | null = null;
  #malformed = 0;
  #heldSwept = 0;
  /** How late the last batch was handled (its first record, from the kernel's write), and the most so far. */
  #lagMs = 0;
  #lagMaxMs = 0;
  #ctx: CollectorContext | null = null;
  /** Hands one decoded event on (set in start); the held-request sweep delivers through it too. */
  #handle: ((e: SocketEvent) => void) | null = null;
  #failed = 0;
  #final: Record<string, number> | null = null;
  /** When a batch last found the kernel's count of the exchanges it counted grown (-Infinity: never). */
  #lastCountedMs = -Infinity;

  constructor(private readonly opts: SocketsCollectorOptions) {}

  /**
   * Span-aware profiles: before start, the profiler's (or dynlog's) span tag maps, in which the thread
   * or goroutine serving a request is tagged with that exchange (bpf/sockets.bpf.c, tag_serving_thread).
   */
  shareSpanTagMaps(maps: SpanTagMaps): void {
    this.#spanTagMaps = maps;
  }

  async start(ctx: CollectorContext): Promise<void> {
    this.#ctx = ctx;
    // Said plainly rather than as the verifier's refusal (calls in sockets.bpf.c; `lantern doctor`).
    if (!taskStorageFromTracepoints()) {
      throw new Error('the socket tracer needs BPF task storage in tracepoint programs (Linux 5.12 or newer)');
    }
    const obj = loadLanternObject('sockets', filterSettings(ctx), (o) => {
      if (this.opts.ringBufferBytes !== undefined) o.setMapMaxEntries('socket_events', this.opts.ringBufferBytes);
      if (this.opts.http1Pairing === false) o.setGlobal('http1_pairing', 0, 1);
      if (this.#spanTagMaps !== null) {
        reuseSpanTagMaps(o, this.#spanTagMaps);
        o.setGlobal('span_tags', 1, 1);
      } else {
        shrinkSpanTagMaps(o);
      }
    });
    this.#obj = obj;
    const tracker = new ConnectionTracker({
      maxConnections: this.opts.maxConnections ?? 16384,
      idleTimeoutMs: this.opts.idleTimeoutMs ?? 120_000,
      handlers: this.opts.handlers,
      onExchange: (exchange) => ctx.sink.put({ type: 'exchange', exchange }),
      ...(ctx.followedConnections !== undefined ? { followed: ctx.followedConnections } : {}),
      // The kernel's counter of the exchanges it counted is read at every batch (below): a closed
      // connection is remembered for the counts of its last exchanges only while some may be in flight.
      ...(ctx.offeredInKernel !== undefined ? { countsMayFollowClose: () => turnNow() - this.#lastCountedMs <= COUNTS_IN_FLIGHT_MS } : {}),
      // The turn's clock (model/turn-clock.ts): the tracker's work runs in turns (a ring batch, a
      // sweep, a drain of the kernel's counts, the stop), one clock read each, not one per record.
      // It dates a connection's last activity for the idle sweep, where a batch's 10 ms are nothing.
    }, turnNow);
    this.#tracker = tracker;
    // Data events are filled again record after record: `handle` and the tracker keep nothing of them
    // but bytes, times and numbers.
    const scratch = new EventScratch();
    // One record may stand for two events (a paired HTTP/1 exchange): each goes here, in order.
    const handle = (e: SocketEvent): void => {
      if (e.type === 'exec') {
        // Judged first (process selection): the new program's records follow this one. By its
        // comm when it is gone already (a short-lived program, a busy agent).
        ctx.selection?.onExec(e.pid, e.comm);
        this.#tls?.onExec(e.pid);
        // Its next connection is the new program's (the process collector may not run).
        ctx.metadata.forget(e.pid);
        return;
      }
      // Read the process's identity while it is alive: it may exit before its spans leave.
      if (e.type === 'open') ctx.metadata.resource(e.pid, e.comm);
      try {
        tracker.handle(e);
      } catch (err) {
        // A protocol session that throws loses that record, not the rest of the batch.
        this.#failed++;
        if (this.#failed === 1) ctx.log.warn('sockets collector: a record could not be handled', { error: String(err) });
      }
    };
    this.#handle = handle;
    let ringFullSeen = 0n;
    let countedSeen = 0n;
    const ringFullCount = counterReader(obj, RING_FULL_SLOT);
    const countedCount = counterReader(obj, SHED_COUNTED_SLOT);
    const shedShare = new KernelShedShare(obj.map('shed_control'));
    shedShare.budget(ctx.config.spans.maxPerSecond);
    this.#shedShare = shedShare;
    this.#red = new KernelRed([obj.map('shed_red_0'), obj.map('shed_red_1')], (map) => shedShare.countIn(map), ctx.clock);
    this.#redDrain = setInterval(() => turn(() => this.#drainCounted(false)), COUNTED_DRAIN_MS).unref();
    const ring = obj.map('socket_events');
    this.#unwatchRing = ctx.watchRing?.(ring) ?? null;
    const consumer = new RingBufferConsumer([ring], {
      maxPendingBatches: MAX_PENDING_BATCHES,
      batchBytes: BATCH_BYTES,
      // While the JS thread is behind, records wait in the kernel ring rather than being dropped
      // here a batch at a time: once the ring is half full the kernel sheds every paired HTTP/1
      // exchange and counts it in its RED (bpf/include/pairing.h, ring_filling), so a stall (start-up
      // into a loaded host, a long GC) costs spans, not RED.
      leaveInRing: true,
      flushMs: FLUSH_MS,
      // One clock read for the batch (model/turn-clock.ts): its records are handled in one turn.
      onBatch: (batch) => turn(() => {
        const pendingBatches = consumer.pendingBatches();
        const ringFull = ringFullCount();
        const lost = ringFull > ringFullSeen;
        ringFullSeen = ringFull;
        // How late the JS thread handles records: the first of the batch, from the kernel's write.
        // Pressure counts bytes waiting; a starved agent at a modest rate lags without them piling up.
        const first = batch.first();
        const writtenNs = first === null ? null : socketRecordWrittenNs(batch.view, first.offset, first.length);
        if (writtenNs !== null) {
          this.#lagMs = Math.max(0, Number(process.hrtime.bigint() - writtenNs) / 1e6);
          if (this.#lagMs > this.#lagMaxMs) this.#lagMaxMs = this.#lagMs;
        }
        ctx.reportPressure?.(ringPressure(pendingBatches, batch.buffer.length, lost), lost, this.#lagMs);
        // Exchanges the kernel counted since the last batch count towards the span budget now.
        if (ctx.offeredInKernel !== undefined) {
          const counted = countedCount();
          ctx.offeredInKernel(Number(counted - countedSeen));
          if (counted !== countedSeen) this.#lastCountedMs = turnNow();
          countedSeen = counted;
        }
        // The share that pressure (and the span budget) leaves, applied in the kernel from now on.
        if (ctx.spanShare !== undefined) shedShare.keep(ctx.spanShare());
        batch.forEach((view, off, len) => {
          if (!decodeSocketRecord(view, off, len, ctx.clock, handle, scratch)) this.#malformed++;
        });
      }),
      onError: (e) => ctx.log.warn('sockets collector: batch handling failed', { error: String(e) }),
    });
    this.#consumer = consumer;
    // The share also changes without ring batches (a contention begun or lifted, the queue's pressure
    // eased): a quiet connection's next exchange was decided by the share of the last batch, however
    // old (the first request after a flood, shed by the contended budget lifted a second earlier).
    // Budget windows still close only with batches (spanShareNow).
    if (ctx.spanShareNow !== undefined) {
      const spanShareNow = ctx.spanShareNow;
      this.#shareRefresh = setInterval(() => shedShare.keep(spanShareNow()), SHARE_REFRESH_MS).unref();
    }
    this.#sweep = setInterval(() => turn(() => {
      this.#sweepHeld(HELD_MAX_AGE_NS, ctx);
      tracker.sweep();
    }), 5_000).unref();
    try {
      // Tracepoints attach by their section name; uprobes are the TLS attacher's, file by file.
      for (const p of obj.programs()) {
        if (p.info.section.startsWith('uprobe') || p.info.section.startsWith('uretprobe')) continue;
        // The syscall exits' handlers: reached by tail calls (exit_handlers), attached to nothing.
        if (p.info.section === 'tracepoint') continue;
        if (p.name === 'tls_on_exec' && this.opts.tls === undefined && ctx.selection?.mode.filterPids !== true) continue;
        this.#links.push(p.attach());
      }
      // Socket syscalls are traced from here on (the ring is drained already): the line start-up is
      // measured to. The TLS probes come next, each file logged as it is probed.
      ctx.log.info('sockets: syscall tracepoints attached', { programs: this.#links.length });
      if (this.opts.tls !== undefined) {
        this.#tls = new TlsAttacher(obj, ctx.log, {
          ...this.opts.tls, pids: ctx.config.pids, goroutineTags: this.#spanTagMaps !== null,
          ...(ctx.selection !== undefined ? { traced: (pid: number) => ctx.selection!.traced(pid) } : {}),
        });
        await this.#tls.start();
      }
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  async stop(): Promise<void> {
    if (this.#sweep !== null) clearInterval(this.#sweep);
    this.#sweep = null;
    if (this.#shareRefresh !== null) clearInterval(this.#shareRefresh);
    this.#shareRefresh = null;
    if (this.#redDrain !== null) clearInterval(this.#redDrain);
    this.#redDrain = null;
    await Promise.all([this.#tls?.stop(), closeLinks(this.#links)]);
    this.#links = [];
    this.#unwatchRing?.();
    this.#unwatchRing = null;
    await this.#consumer?.closeAndFlush();
    turn(() => {
      // Requests still held for pairing reach the tracker before it ends every connection.
      if (this.#ctx !== null) this.#sweepHeld(0n, this.#ctx);
      // What the kernel counted, while the connections are still tracked (no program runs now).
      this.#drainCounted(true);
      this.#tracker?.closeAll();
    });
    this.#final = this.stats();
    this.#obj?.close();
    this.#obj = null;
  }

  /** The RED of shed exchanges the kernel counted goes to the pipeline, as exchanges standing for them. */
  #drainCounted(all: boolean): void {
    const tracker = this.#tracker;
    if (this.#red === null || tracker === null) return;
    const emit = ({ summary, counted }: CountedShed): void => {
      tracker.counted(summary, (ex) => {
        if (ex.protocol === 'http1') ex.counted = counted;
      });
    };
    try {
      if (all) this.#red.drainAll(emit);
      else this.#red.drain(emit);
    } catch (err) {
      this.#redFailures++;
      if (this.#redFailures === 1) this.#ctx?.log.warn('sockets collector: counts of shed exchanges could not be drained', { error: String(err) });
    }
  }

  /** Held HTTP/1 requests older than `maxAgeNs` (bpf/include/pairing.h) go on as data events. */
  #sweepHeld(maxAgeNs: bigint, ctx: CollectorContext): void {
    if (this.#obj === null || this.#handle === null) return;
    try {
      this.#heldSwept += sweepHeld(this.#obj.map('held'), ctx.clock, maxAgeNs, this.#handle);
    } catch (err) {
      ctx.log.warn('sockets collector: held requests could not be swept', { error: String(err) });
    }
  }

  stats(): Record<string, number> {
    if (this.#final !== null) return this.#final;
    const out: Record<string, number> = {
      records_malformed: this.#malformed, records_failed: this.#failed, http1_held_swept: this.#heldSwept, kernel_red_drain_failures: this.#redFailures,
      bpf_attachments: this.#links.length + (this.#tls?.stats().links ?? 0),
      records_lag_ms: Math.round(this.#lagMs), records_lag_max_ms: Math.round(this.#lagMaxMs),
    };
    const s = this.#consumer?.stats();
    if (s !== undefined) {
      out.records_in = s.records;
      out.bytes_in = s.bytes;
      out.record_batches = s.batches;
      out.lost_js_queue_full = s.droppedRecords;
      out.ring_waits = s.ringWaits;
      out.lost_oversize = s.oversizeRecords;
    }
    if (this.#obj !== null) {
      const k = readCounters(this.#obj, KERNEL_COUNTERS.length);
      KERNEL_COUNTERS.forEach((name, i) => (out[`kernel_${name}`] = Number(k[i] ?? 0n)));
    }
    for (const [k, v] of Object.entries(this.#tracker?.stats() ?? {})) out[`tracker_${k}`] = v;
    for (const [k, v] of Object.entries(this.#tls?.stats() ?? {})) out[`tls_${k}`] = v;
    Object.assign(out, this.#shedShare?.stats(), this.#red?.stats());
    return out;
  }
}
