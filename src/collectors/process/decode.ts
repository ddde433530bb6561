// Decodes struct process_event (bpf/include/process.h) in place from a ring-buffer batch.
import type { KernelClock } from '../../model/clock.js';
import type { ProcessEvent } from '../../model/process.js';
import { cString } from '../c-string.js';

export const PROCESS_EVENT = {
  size: 296,
  type: 0,
  pid: 4,
  ppid: 8,
  exitCode: 12,
  tsNs: 16,
  comm: 24,
  commLen: 16,
  filename: 40,
  filenameLen: 256,
} as const;

const EXEC = 1;
const EXIT = 2;

function field(view: DataView, off: number, max: number): string {
  return cString(new Uint8Array(view.buffer, view.byteOffset + off, max));
}

/** Returns null for records that are too short or of an unknown type (counted by the caller). */
export function decodeProcessEvent(view: DataView, off: number, len: number, clock: KernelClock): ProcessEvent | null {
  if (len < PROCESS_EVENT.size) return null;
  const type = view.getUint8(off + PROCESS_EVENT.type);
  const pid = view.getUint32(off + PROCESS_EVENT.pid, true);
  const ppid = view.getUint32(off + PROCESS_EVENT.ppid, true);
  const timeUnixNano = clock.toWallNs(view.getBigUint64(off + PROCESS_EVENT.tsNs, true));
  const comm = field(view, off + PROCESS_EVENT.comm, PROCESS_EVENT.commLen);
  if (type === EXEC) {
    return { kind: 'exec', pid, ppid, comm, timeUnixNano, filename: field(view, off + PROCESS_EVENT.filename, PROCESS_EVENT.filenameLen) };
  }
  if (type === EXIT) {
    return { kind: 'exit', pid, ppid, comm, timeUnixNano, status: view.getInt32(off + PROCESS_EVENT.exitCode, true) };
  }
  return null;
}
