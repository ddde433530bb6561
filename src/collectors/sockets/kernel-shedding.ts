// Hands the span shedder's share to the kernel, where HTTP/1 exchanges paired there are shed before
// they cost anything more (bpf/include/pairing.h, pair_send): a shed exchange is counted in the
// kernel's RED histograms (kernel-red.ts), or comes back as a summary that yields its RED metrics
// and no span. The agent's one shedder (agent/span-shedder.ts)
// keeps deciding the share from the queue's pressure and the span budget; the kernel applies it to
// the exchanges it pairs, the shedder itself to every other (told of the kernel's decisions so that
// its budget counts every exchange offered).
import { type BpfMap, codec } from 'libbpf-ts';

/** The kernel's unit: shed `share` exchanges out of 65536. */
const SCALE = 65536;
/** struct shed_control: share, red_map, since_ns, until_ns, budget, padding. */
const CONTROL_BYTES = 32;
const BUDGET_OFFSET = 24;
/** The kernel's budget window, seconds (pairing.h SHED_BUDGET_WINDOW_NS), the span shedder's too. */
const BUDGET_WINDOW_S = 0.25;
/**
 * After shedding ends, how long the kernel still looks for decisions that the first end of a
 * request left for the other: longer than a request takes between its two ends on this host.
 */
const PENDING_DECISIONS_NS = 2_000_000_000n;

/**
 * When shedding begins, the requests it spares: those begun before `since_ns`, which is set this far
 * past the moment the share is written. An end that decided while the share was still 0 (before
 * the write) kept its request without leaving a word for the other end. Its request began before
 * that decision, so before the write: the other end, deciding after the write, must see it begun
 * before `since_ns` too. Read from the clock before the map write, `since_ns` was earlier than the
 * write by the time the write takes, and a request begun in between was kept at one end and could
 * be shed at the other (test/agent/shedding.test.ts saw it about once in ten runs).
 */
const SHEDDING_BEGINS_AFTER_NS = 10_000_000n;
/** bpf_ktime_get_ns's clock (CLOCK_MONOTONIC), which process.hrtime reads too. */
const monotonicNs = (): bigint => process.hrtime.bigint();

export class KernelShedShare {
  readonly #map: BpfMap<number, Buffer>;
  readonly #now: () => bigint;
  readonly #control = Buffer.alloc(CONTROL_BYTES);
  #shed = 0;
  /** Requests the kernel keeps per quarter second at most (0: no budget). */
  #budget = 0;
  #writes = 0;

  constructor(map: BpfMap, now: () => bigint = monotonicNs) {
    this.#map = map.typed(codec.u32, codec.bytes(CONTROL_BYTES)); // throws if the layout differs
    this.#now = now;
  }

  /** The share of spans to keep now (0 … 1); the map is written only when the kernel's value changes. */
  keep(share: number): void {
    const shed = Math.min(SCALE - 1, Math.max(0, Math.round((1 - share) * SCALE)));
    if (shed === this.#shed) return;
    const c = this.#control;
    // Shedding begins: the requests begun before are kept at both ends (SHEDDING_BEGINS_AFTER_NS).
    // It ends: the decisions left for other ends are still looked up for a while. The times are
    // written before the share that goes with them: a program reads the value while the map
    // update copies it, and must not see a new share with the time of the shedding before.
    const begins = this.#beginShedding();
    if (shed === 0) c.writeBigUInt64LE(this.#now() + PENDING_DECISIONS_NS, 16);
    if (begins || shed === 0) this.#map.set(0, c);
    c.writeUInt32LE(shed, 0);
    this.#map.set(0, c);
    this.#shed = shed;
    this.#writes++;
  }

  /**
   * The span budget in the kernel (spans.max_per_second; 0: none): requests kept per quarter second at
   * most, counted as the kernel decides them. The share comes a ring batch late, and a client
   * faster than that went out whole until it came; the span shedder holds the budget exactly, the
   * kernel sheds its bulk. Setting it begins shedding as a share does (`since_ns`).
   */
  budget(perSecond: number): void {
    const budget = Math.min(0xffff_ffff, Math.max(0, Math.ceil(perSecond * BUDGET_WINDOW_S)));
    if (budget === this.#budget) return;
    const c = this.#control;
    if (this.#beginShedding()) this.#map.set(0, c);
    c.writeUInt32LE(budget, BUDGET_OFFSET);
    this.#map.set(0, c);
    this.#budget = budget;
  }

  /**
   * When nothing sheds yet (no share, no budget), what is about to shed begins it: `since_ns` is
   * written into the control (true), and must reach the kernel before what begins it does.
   */
  #beginShedding(): boolean {
    if (this.#shed !== 0 || this.#budget !== 0) return false;
    this.#control.writeBigUInt64LE(this.#now() + SHEDDING_BEGINS_AFTER_NS, 8);
    return true;
  }

  /** The map the kernel counts the exchanges it sheds in from now on (kernel-red.ts). */
  countIn(map: 0 | 1): void {
    this.#control.writeUInt32LE(map, 4);
    this.#map.set(0, this.#control);
  }

  /** Share shed now (percent), and how often it changed. */
  stats(): { kernel_shed_percent: number; kernel_shed_share_updates: number } {
    return { kernel_shed_percent: Math.round((100 * this.#shed) / SCALE), kernel_shed_share_updates: this.#writes };
  }
}
