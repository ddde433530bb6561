// Which spans leave when there are more than the agent can afford to export. Metrics never go
// through here: the pipeline records every exchange's duration before it asks (RED stays exact), and
// the local view counts shed exchanges too; what is shed is the building, linking, encoding and
// export of a span.
//
// Two limits, the tighter wins:
// - pressure: collectors report how full their queue towards JavaScript is (the bytes of the
//   ring-buffer batches waiting for the JS thread against what they can hold), averaged over about
//   a quarter second: a short stall of the JS thread (a binary analysed, a GC) is absorbed by the
//   queue and sheds nothing; a backlog that lasts sheds. Past half full on average, spans are kept
//   in proportion to the room left (down to 1 in 20), so the JS thread catches up before the kernel
//   side has to drop raw events, which would lose metrics and spans alike;
// - a budget of spans per second (config `spans.max_per_second`, 0 = none): each quarter second
//   starts with the share that would have fitted the previous one, and within a quarter the share
//   drops as soon as more spans come than its budget (a burst is cut at once, not a window late);
//   a quarter that has kept its budget of spans keeps no more (but the other ends of requests kept):
//   the share is a rate and the kernel applies the one of its last update, so a burst the kernel
//   kept before the update reached it would otherwise go out whole;
// - a budget of the agent's own CPU (config `spans.max_cpu_percent`, % of one core, 0 = none), from
//   when the agent has started (armCpuBudget: start-up's work is not what spans cost): the agent's
//   CPU (every thread, process.cpuUsage) is read each quarter second, and the share moves by the
//   square root of budget / used, by half at most down and a quarter at most up a quarter. A share
//   of spans is the lever the agent has on its CPU: HTTP/1 exchanges shed in the kernel cost the
//   agent nothing more, the others their building, encoding and export. So the agent can be held to
//   a CPU budget where it shares cores with the applications (queue pressure alone sheds only once
//   the agent cannot keep up, by which time it takes all the CPU it gets). The square root: the
//   agent's CPU comes in bursts (a metrics export, a scan of new processes, a GC) that a share cut in
//   full proportion paid for over the next seconds (at 10k req/s, 17 % of a core against a budget
//   of 20, a fifth to a third of the spans were shed, benchmarks/RESULTS.md). A quarter second of few
//   spans (CPU_CUT_MIN_OFFERED) is not cut for either budget. A second budget,
//   `spans.contended_cpu_percent`, applies only while the host has no CPU to spare (contended: the
//   agent, yielding under SCHED_IDLE, was starved and had to take its share back, cpu-priority.ts):
//   there every core the agent takes is the applications', and nginx under wrk served half its
//   throughput beside an agent that took 75 % of a core back to export every span it could.
//
// The decision is a hash of the request's link key against the share, and both ends of a request on
// this host (which compute the same key) get the same answer even when the share moved in between,
// so traces stay whole: a shed end is remembered until the other end asks (unless no other end can
// come: its connection is not followed, as the span linker does not wait for it either); a kept end
// waits in the span linker for its other half, which the pipeline lets the shedder ask about.
//
// Beside the share, a bound: the spans the export queues can still take (exportRoom: the most room
// of the destinations that are answering); past it requests are shed whole, before their spans are
// built. And exchanges the kernel decided (with the share of its last update) are decided again here
// when the agent is overrun or the quarter's budget is spent (decidedInKernel).
import { type LinkKey, linkKeyText } from './span-linker.js';
import { ownCpuMicros } from './own-process.js';
import { InsertionOrder } from '../fifo.js';
import { turnNow } from '../model/turn-clock.js';

export interface SpanShedderOptions {
  /** Spans per second exported at most; 0: no budget. */
  maxPerSecond: number;
  /** The agent's CPU, % of one core, above which spans are shed; 0 or absent: no budget. */
  maxCpuPercent?: number;
  /** The same, only while the host is contended (contended()); 0 or absent: none. The tighter of the two applies. */
  contendedCpuPercent?: number;
  /**
   * The clock (ms). Default turnNow (model/turn-clock.ts): the windows are rolled from every
   * exchange decided, twice for one the kernel decided under a budget, and Date.now() is a call into
   * V8's runtime (~100 ns) where a ring batch's exchanges all begin in the same millisecond.
   */
  now?: () => number;
  /** CPU time of the agent's process so far, µs (default own-process.ts ownCpuMicros: user + system, every thread). */
  cpuMicros?: () => number;
}

const WINDOW_MS = 250;
/** Shed decisions remembered for the other end of a request (in arrival order; the oldest go first). */
const MAX_REMEMBERED = 16_384;
const PRESSURE_FREE = 0.5;
/** Average pressure past which exchanges the kernel kept are decided again (decidedInKernel). */
const OVERRUN = 0.9;
/** Time constant of the pressure average. */
const PRESSURE_TAU_MS = 250;
const MIN_SHARE = 0.05;
/** Per window, the CPU budget's share falls by half at most and rises by a quarter at most. */
const CPU_MAX_CUT = 0.5;
const CPU_MAX_RISE = 1.25;
/**
 * A window that offered fewer spans than this (1,000 a second) is not cut for the CPU budget: at
 * ~15 µs each they cost ~1.5 % of a core, so an agent over its budget is so for other work
 * (start-up's background scans, new binaries analysed, the profiler), which shedding spans would not
 * reduce: it would shed the few spans there are for nothing.
 */
const CPU_CUT_MIN_OFFERED = 250;

/**
 * A request's name at both ends (agent/span-linker.ts), or that name as text. The text is made only
 * where a decision is hashed or remembered: with nothing shed, a string made per exchange for
 * nothing.
 */
export type RequestKey = LinkKey | string;

function keyText(key: RequestKey): string {
  return typeof key === 'string' ? key : linkKeyText(key);
}

/** FNV-1a of a string, as a fraction in [0, 1). */
function hashShare(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) / 0x1_0000_0000;
}

export class SpanShedder {
  readonly #budgetPerWindow: number;
  /** CPU budgets, in cores (0: none): always, and while contended. */
  readonly #maxCpu: number;
  readonly #contendedCpu: number;
  /** The budget that applies now, in cores (0: none). */
  #cpuBudget = 0;
  #contended = false;
  /** The agent has started (armCpuBudget): its CPU may count against a budget. */
  #started = false;
  /** The next window's CPU cut is in full proportion to budget / used (contention has just begun). */
  #undampedCut = false;
  readonly #now: () => number;
  readonly #cpuMicros: () => number;
  #pressure = 0;
  #pressureAt: number | null = null;
  /** Spans the export queue can still take before this batch of records is through (Infinity: no bound). */
  #exportRoom = Infinity;
  #budgetShare = 1;
  #cpuShare = 1;
  /** The agent's CPU (µs) and the time (ms) when the CPU budget's window began. */
  #cpuAtWindowStart = 0;
  #cpuWindowStart = 0;
  /** The agent's CPU over the last whole window, in cores. */
  #cpuUsed = 0;
  #windowStart: number;
  #offered = 0;
  /** Spans kept in this window, against its budget. */
  #keptInWindow = 0;
  #unkeyed = 0;
  /** Requests whose one end was shed, until the other end asks (in arrival order; the oldest go first). */
  readonly #decided = new Set<string>();
  readonly #decidedOrder = new InsertionOrder(this.#decided);
  #kept = 0;
  #shed = 0;
  #shedInKernel = 0;

  constructor(opts: SpanShedderOptions) {
    this.#budgetPerWindow = (opts.maxPerSecond * WINDOW_MS) / 1000;
    this.#maxCpu = (opts.maxCpuPercent ?? 0) / 100;
    this.#contendedCpu = (opts.contendedCpuPercent ?? 0) / 100;
    this.#now = opts.now ?? turnNow;
    this.#cpuMicros = opts.cpuMicros ?? ownCpuMicros;
    this.#windowStart = this.#now();
  }

  /** The agent has started: its CPU counts against the budget from now on. */
  armCpuBudget(): void {
    this.#started = true;
    this.#applyCpuBudget();
  }

  /**
   * Whether the host is contended now: the agent could not get CPU without taking it from the
   * applications (it was starved while yielding and came back, or tasks waited for a CPU while it
   * had its full share). The contended budget applies until the host has CPU to spare (cpu-priority.ts).
   * `usedCores`: the agent's CPU over the time that told of it, when known (at its full share).
   */
  contended(on: boolean, usedCores?: number): void {
    this.#contended = on;
    this.#applyCpuBudget();
    // The applications first: the first cut is in full proportion, not damped (a damped cut took
    // ~1 s to reach the budget, at the agent's full share meanwhile); made at once when the CPU it
    // took is known, else at the end of the first window (the CPU before a starved yield says
    // nothing of what the load costs).
    const cutNow = on && this.#cpuBudget > 0 && usedCores !== undefined && usedCores > this.#cpuBudget;
    if (cutNow) this.#cpuShare = Math.max(MIN_SHARE, this.#cpuShare * (this.#cpuBudget / usedCores));
    this.#undampedCut = on && this.#contendedCpu > 0 && !cutNow;
  }

  /** The budget that applies now: the tighter of those set (the contended one only while contended). */
  #applyCpuBudget(): void {
    const budgets = [this.#maxCpu, this.#contended ? this.#contendedCpu : 0].filter((b) => b > 0);
    const budget = this.#started && budgets.length > 0 ? Math.min(...budgets) : 0;
    if (budget === this.#cpuBudget) return;
    const was = this.#cpuBudget;
    this.#cpuBudget = budget;
    if (budget === 0) {
      this.#cpuShare = 1;
    } else if (was === 0) {
      // Measured from now: the CPU before says nothing of this budget. Without a span budget the
      // windows did not roll while nothing applied: one begins now, or the first would end at once.
      this.#cpuAtWindowStart = this.#cpuMicros();
      this.#cpuWindowStart = this.#now();
      if (this.#budgetPerWindow <= 0) {
        this.#windowStart = this.#cpuWindowStart;
        this.#offered = 0;
      }
    }
  }

  /**
   * A collector's backlog towards JavaScript now, 0 (empty) … 1 (full). `lost`: records were dropped
   * on the way (the queue could not absorb the backlog): the average jumps to full at once, as
   * shedding in the kernel is what stops further losses, which would take metrics with them.
   */
  reportPressure(pressure: number, lost = false): void {
    const now = this.#now();
    if (lost) {
      this.#pressureAt = now;
      this.#pressure = 1;
      return;
    }
    const sample = Math.min(1, Math.max(0, pressure));
    // Exponential average over time: reports come per batch, at no fixed rate.
    const weight = this.#pressureAt === null ? 1 : 1 - Math.exp(-Math.max(0, now - this.#pressureAt) / PRESSURE_TAU_MS);
    this.#pressureAt = now;
    this.#pressure += (sample - this.#pressure) * weight;
  }

  /**
   * The spans the export queues can take now (the most room of the destinations that are answering,
   * TelemetryExporter.spanExportBacklog; Infinity where no queue bounds them), told with each batch of
   * records: the batch's spans reach the queue as it ends.
   * Once that room is used up, the requests that come next are shed whole instead of their spans
   * being built, encoded and then dropped at the full queue one by one: exactly the excess, where
   * cutting the share would shed more than the queue could not take. A drop there loses spans, not
   * metrics, so the share does not follow it.
   */
  exportRoom(spans: number): void {
    this.#exportRoom = spans;
  }

  /** The share of requests whose spans are kept now: the tighter of the two limits. */
  #share(): number {
    const p = this.#pressure;
    const pressureShare = p <= PRESSURE_FREE ? 1 : Math.max(MIN_SHARE, (1 - p) / (1 - PRESSURE_FREE));
    return Math.min(pressureShare, this.#budgetShare, this.#cpuShare);
  }

  /**
   * Whether the span of the request named `linkKey` (null: no key) is exported. `keptEarlier` says
   * whether the request's other end was kept and still waits for this one (the span linker holds
   * it): a kept span is found there, so only shed decisions are remembered here, and when nothing
   * is shed this costs no lookup at all. `otherEndMayCome` says whether the other end can still ask
   * (absent: it can): a decision no end will ask for is not remembered. A server traced alone, or
   * one whose clients are on other hosts, otherwise filled the memory with decisions nobody took,
   * and every exchange the kernel kept then paid a key's text and a lookup in it
   * (decidedInKernel): ~9 % of the agent's CPU under wrk.
   */
  keep<K extends RequestKey>(linkKey: K | null, keptEarlier?: (linkKey: K) => boolean, otherEndMayCome?: (linkKey: K) => boolean): boolean {
    this.#offer();
    let keep: boolean;
    const shedEarlier = linkKey !== null && this.#decided.size > 0 && this.#decided.delete(keyText(linkKey));
    if (shedEarlier) {
      // The other end of a request was shed: this one too, once.
      keep = false;
    } else {
      const share = this.#share();
      const room = this.#exportRoom > 0 && !this.#budgetSpent();
      if ((share >= 1 && room) || (linkKey !== null && keptEarlier?.(linkKey) === true)) {
        keep = true;
      } else if (!room) {
        // The export queue is full, or this window's budget spent: this request is shed whole, its
        // other end too when it comes.
        keep = false;
        if (linkKey !== null && otherEndMayCome?.(linkKey) !== false) this.#remember(keyText(linkKey));
      } else {
        // Requests without a key are spread evenly by a low-discrepancy sequence instead.
        const text = linkKey !== null ? keyText(linkKey) : null;
        const position = text !== null ? hashShare(text) : (this.#unkeyed++ * 0.6180339887498949) % 1;
        keep = position < share;
        if (text !== null && !keep && otherEndMayCome?.(linkKey!) !== false) this.#remember(text);
      }
    }
    if (keep) this.#countKept();
    else this.#shed++;
    return keep;
  }

  /**
   * The kernel decided on an exchange's span with the share it was given (`share`, the same as here):
   * counted as offered (the budget sees every exchange) and as kept or shed. Returns whether the span
   * is exported: `kept`, unless the agent is overrun (the pressure past OVERRUN, records lost on the
   * way to JavaScript, or the export queue's room used up: exportRoom) or this window's span budget
   * is spent: then the exchanges the kernel kept are decided again here, by `keep`, with `linkKey`.
   * The kernel decided with the share of its last update, and past a sudden rise in load the ring's
   * backlog still holds seconds of exchanges it kept: exported, they would fill the export queue and
   * be dropped there one by one, after being built and encoded, or go past the budget (CI: 1,801 of
   * 3,000 server spans of curl's keep-alive requests exported under a budget of 200 a second).
   * Once a request's one end is shed here, its other end is too, whenever it comes.
   */
  decidedInKernel<K extends RequestKey>(kept: boolean, linkKey: K | null = null, keptEarlier?: (linkKey: K) => boolean,
    otherEndMayCome?: (linkKey: K) => boolean): boolean {
    // The budget's check below needs the current window (keep and #offer roll it themselves).
    if (this.#budgetPerWindow > 0) this.#rollWindow();
    if (kept && linkKey !== null && (this.#pressure >= OVERRUN || this.#exportRoom <= 0 || this.#budgetSpent() || (this.#decided.size > 0 && this.#decided.has(keyText(linkKey))))) {
      return this.keep(linkKey, keptEarlier, otherEndMayCome);
    }
    this.#offer();
    if (kept) this.#countKept();
    else {
      this.#shed++;
      this.#shedInKernel++;
    }
    return kept;
  }

  /**
   * Exchanges the kernel shed and counted, as it counted them (its counter, read with each ring
   * batch): offered now, for the budget. Their counts reach the pipeline up to two seconds later
   * (shedCountedInKernel); offered then, they would have skewed the budget's windows: a window
   * without them saw only the kept exchanges, kept all of the next, then met them all at once.
   */
  offeredInKernel(exchanges: number): void {
    if (exchanges > 0) this.#offer(exchanges);
  }

  /** The same exchanges when their counts arrive: shed, and offered already. */
  shedCountedInKernel(exchanges: number): void {
    this.#shed += exchanges;
    this.#shedInKernel += exchanges;
  }

  /** The share of requests whose spans are kept now (the kernel applies it to the exchanges it pairs). */
  get share(): number {
    this.#rollWindow();
    return this.#share();
  }

  /** The share as it stands, no window rolled by asking (CollectorContext.spanShareNow). */
  get shareNow(): number {
    return this.#share();
  }

  /** More spans offered in this window: past the budget, the share drops at once. */
  #offer(n = 1): void {
    this.#rollWindow();
    this.#offered += n;
    if (this.#budgetPerWindow > 0 && this.#offered > this.#budgetPerWindow) {
      this.#budgetShare = Math.min(this.#budgetShare, this.#budgetPerWindow / this.#offered);
    }
  }

  #countKept(): void {
    this.#kept++;
    this.#keptInWindow++;
    this.#exportRoom--;
  }

  /** This window has kept its budget of spans (the caller has rolled the window). */
  #budgetSpent(): boolean {
    return this.#budgetPerWindow > 0 && this.#keptInWindow >= this.#budgetPerWindow;
  }

  #remember(key: string): void {
    if (this.#decided.has(key)) return;
    if (this.#decided.size >= MAX_REMEMBERED) {
      const oldest = this.#decidedOrder.takeOldest();
      if (oldest !== undefined) this.#decided.delete(oldest);
    }
    this.#decided.add(key);
    this.#decidedOrder.added(key);
  }

  #rollWindow(): void {
    if (this.#budgetPerWindow <= 0 && this.#cpuBudget <= 0) return;
    const now = this.#now();
    const elapsed = now - this.#windowStart;
    if (elapsed < WINDOW_MS) return;
    // An idle gap longer than a window: the last count says nothing about now.
    const idle = elapsed >= 2 * WINDOW_MS;
    if (this.#budgetPerWindow > 0) {
      const offered = idle ? 0 : this.#offered;
      this.#budgetShare = offered <= this.#budgetPerWindow ? 1 : this.#budgetPerWindow / offered;
    }
    if (this.#cpuBudget > 0) this.#rollCpu(now, idle, idle ? 0 : this.#offered);
    this.#windowStart = now;
    this.#offered = 0;
    this.#keptInWindow = 0;
  }

  /** The CPU budget's share for the next window, from the agent's CPU over the one that ended. */
  #rollCpu(now: number, idle: boolean, offered: number): void {
    const cpu = this.#cpuMicros();
    const used = (cpu - this.#cpuAtWindowStart) / (Math.max(1, now - this.#cpuWindowStart) * 1000);
    this.#cpuAtWindowStart = cpu;
    this.#cpuWindowStart = now;
    this.#cpuUsed = used;
    if (idle && used <= this.#cpuBudget) {
      this.#cpuShare = 1; // nothing to go by since: the share starts over
      return;
    }
    const ratio = this.#cpuBudget / Math.max(used, 1e-6);
    const step = offered < CPU_CUT_MIN_OFFERED ? CPU_MAX_RISE
      : this.#undampedCut ? Math.min(1, ratio)
      : Math.min(CPU_MAX_RISE, Math.max(CPU_MAX_CUT, Math.sqrt(ratio)));
    this.#undampedCut = false;
    this.#cpuShare = Math.min(1, Math.max(MIN_SHARE, this.#cpuShare * step));
  }

  /** With a CPU budget applying, also the share it allows and the agent's CPU over the last window (% of one core). */
  /** spans_shed_remembered: shed decisions waiting for their request's other end (at most MAX_REMEMBERED). */
  stats(): { spans_kept: number; spans_shed: number; spans_shed_in_kernel: number; spans_shed_remembered: number; span_share_percent: number; cpu_budget_share_percent?: number; cpu_used_percent?: number } {
    const s = { spans_kept: this.#kept, spans_shed: this.#shed, spans_shed_in_kernel: this.#shedInKernel, spans_shed_remembered: this.#decided.size, span_share_percent: Math.round(100 * this.#share()) };
    if (this.#cpuBudget <= 0) return s;
    return { ...s, cpu_budget_share_percent: Math.round(100 * this.#cpuShare), cpu_used_percent: Math.round(100 * this.#cpuUsed) };
  }
}
