// Requests the kernel holds for HTTP/1 pairing (bpf/include/pairing.h, map `held`) until their
// response begins. A process that dies holding one never answers and never calls close (exit closes
// its sockets without the syscall), so nothing in the kernel would ever send it: the sweep takes
// entries older than a bound and hands them on as the data events they are. The take is atomic
// (lookup-and-delete), like the kernel's own claim, so a request goes out once, from one side.
import type { BpfMap } from 'libbpf-ts';
import type { KernelClock } from '../../model/clock.js';
import { DATA_HEADER, type SocketEvent, decodeSocketEvent } from './decode.js';

/** Held this long without a response: swept. A slower response then goes out unpaired, still correct. */
export const HELD_MAX_AGE_NS = 10_000_000_000n;

/**
 * Sends held requests older than `maxAgeNs` (all of them with 0n: the agent stops) to `emit`.
 * Returns how many. `nowNs` is CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns.
 */
export function sweepHeld(held: BpfMap, clock: KernelClock, maxAgeNs: bigint, emit: (e: SocketEvent) => void, nowNs = process.hrtime.bigint()): number {
  let swept = 0;
  // Keys first: deleting while walking next-key restarts the walk.
  for (const key of [...held.keys()]) {
    const peek = held.get(key);
    if (peek === undefined || nowNs - peek.readBigUInt64LE(DATA_HEADER.ts) < maxAgeNs) continue;
    const v = held.take(key);
    if (v === undefined) continue; // paired or replayed by the kernel meanwhile
    const e = decodeSocketEvent(new DataView(v.buffer, v.byteOffset, v.byteLength), 0, v.length, clock);
    if (e === null) continue;
    swept++;
    emit(e);
  }
  return swept;
}
