// RED of the HTTP/1 exchanges the kernel shed and counted instead of sending (bpf/include/pairing.h,
// shed_count). Past the agent's capacity a summary record per shed exchange still cost the ring and
// the JS thread a head parse each, and when the queue towards JavaScript overflowed, those records
// and their metrics were lost. The kernel now adds each shed exchange to a duration histogram per
// (client connection or server port, request line, status) and keeps the first exchange of each as
// the summary it would have sent; this drains them. Two maps take turns (shed_control.red_map): the one not counted
// in since the last drain is read and emptied, then counted in again. A period is far longer than a
// program runs, so no program still adds to a map while it is emptied: an element deleted under a
// program's add would lose that count.
import { type BpfMap, codec } from 'libbpf-ts';
import { DURATION_BUCKETS_S } from '../../export/histogram-aggregator.js';
import type { KernelClock } from '../../model/clock.js';
import type { CountedValues } from '../../model/span.js';
import { PAIR_EVENT, type SocketShed, decodeSocketRecord, u64 } from './decode.js';

/**
 * struct shed_red: count, sum, min and max in ns, the duration buckets (DURATION_BUCKETS_S, whose
 * bounds bpf/include/pairing.h shed_red_bucket repeats in ns), then the summary record of the key's
 * first exchange (a struct socket_pair_event with room for its request and status line only).
 */
export const SHED_RED = { size: 1352, count: 0, sumNs: 8, minNs: 16, maxNs: 24, buckets: 32, summary: 152 } as const;
/** struct shed_red_key: end (client connection or server port), line hash, status, pad. */
export const SHED_RED_KEY = { size: 16 } as const;

/** Shed exchanges of one key: the first one's summary, and all of their durations. */
export interface CountedShed {
  summary: SocketShed;
  counted: CountedValues;
}

/** One drained value; null when it counts nothing or its summary does not decode (counted by the caller). */
export function decodeCountedShed(value: Uint8Array, clock: KernelClock): CountedShed | null {
  if (value.length < SHED_RED.summary + PAIR_EVENT.data) return null;
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  const count = u64(view, SHED_RED.count);
  if (count === 0) return null;
  const counts: number[] = [];
  for (let i = 0; i <= DURATION_BUCKETS_S.length; i++) counts.push(u64(view, SHED_RED.buckets + 8 * i));
  let summary: SocketShed | null = null;
  decodeSocketRecord(view, SHED_RED.summary, value.length - SHED_RED.summary, clock, (e) => {
    if (e.type === 'shed') summary = e;
  });
  if (summary === null) return null;
  return {
    summary,
    counted: {
      count, sum: u64(view, SHED_RED.sumNs) / 1e9, min: u64(view, SHED_RED.minNs) / 1e9, max: u64(view, SHED_RED.maxNs) / 1e9,
      boundaries: DURATION_BUCKETS_S, counts,
    },
  };
}

export interface KernelRedStats {
  /** Keys drained, and those whose value could not be read. */
  kernel_red_keys: number;
  kernel_red_malformed: number;
}

export class KernelRed {
  readonly #maps: [BpfMap<Buffer, Buffer>, BpfMap<Buffer, Buffer>];
  readonly #countIn: (map: 0 | 1) => void;
  #active: 0 | 1 = 0;
  readonly #stats: KernelRedStats = { kernel_red_keys: 0, kernel_red_malformed: 0 };

  /** `countIn` tells the kernel which map to count in (KernelShedShare.countIn). */
  constructor(maps: [BpfMap, BpfMap], countIn: (map: 0 | 1) => void, private readonly clock: KernelClock) {
    // Throws if the sizes differ from bpf/include/sockets.h.
    const typed = (m: BpfMap): BpfMap<Buffer, Buffer> => m.typed(codec.bytes(SHED_RED_KEY.size), codec.bytes(SHED_RED.size));
    this.#maps = [typed(maps[0]), typed(maps[1])];
    this.#countIn = countIn;
    countIn(0);
  }

  /** Drains the map not counted in since the last call, then has the kernel count in it. */
  drain(emit: (c: CountedShed) => void): void {
    const idle = this.#active === 0 ? 1 : 0;
    this.#drainMap(idle, emit);
    this.#countIn(idle);
    this.#active = idle;
  }

  /** Both maps, when no program runs any more (the collector stops). */
  drainAll(emit: (c: CountedShed) => void): void {
    this.#drainMap(0, emit);
    this.#drainMap(1, emit);
  }

  #drainMap(i: 0 | 1, emit: (c: CountedShed) => void): void {
    for (const [, value] of this.#maps[i].readBatch({ drain: true })) {
      this.#stats.kernel_red_keys++;
      const c = decodeCountedShed(value as Buffer, this.clock);
      if (c === null) this.#stats.kernel_red_malformed++;
      else emit(c);
    }
  }

  stats(): KernelRedStats {
    return { ...this.#stats };
  }
}
