// Kernel layouts of bpf/include/profiler.h, read in place (offsets checked against the header by
// test/collectors/profiler-layout.test.ts).
import type { Codec } from 'libbpf-ts';
import { cString } from '../c-string.js';

export const PROFILE_KEY = {
  size: 40,
  pid: 0,
  tid: 4,
  userStackId: 8,
  kernelStackId: 12,
  tag: 16,
  comm: 24,
  commLen: 16,
} as const;

/** struct offcpu_key: a profile_key, then which buffer's stack map its stack ids are ids in. */
export const OFFCPU_KEY = { size: 48, base: 0, stackBuf: 40 } as const;
export const OFFCPU_VALUE = { size: 16, ns: 0, count: 8 } as const;
/** struct offcpu_start (offcpu_pending's value): switch-out time, the key, the switch-out CPU's rq clock. */
export const OFFCPU_START = { size: 64, ts: 0, key: 8, rqTs: 56 } as const;

export const PROFILER_EVENT = { size: 24, type: 0, flags: 1, pid: 4, comm: 8, commLen: 16 } as const;

/** PROF_EV_FLAG_KTHREAD */
export const NOTICE_FLAG_KTHREAD = 1;

export const PROFILER_EVENT_TYPE = { NEW_PID: 1, EXEC: 2, EXIT: 3, UNWIND_MISS: 4 } as const;

/** CFI unwinding (profiler.h): struct unwind_proc, unwind_procs' value. */
export const UNWIND_MAX_MAPPINGS = 128;
export const UNWIND_NO_TABLE = 0xffffffff;
export const UNWIND_PROC = { size: 8 + 128 * 32, count: 0, mappings: 8, mappingSize: 32 } as const;
/** struct unwind_table, unwind_tables' value. */
export const UNWIND_TABLE_SIZE = 8;
/** A user stack id with this bit names a cfi_stacks_N entry (stack map ids are below 1 << 22). */
export const CFI_STACK_ID_FLAG = 1 << 29;
/** enum unwind_counter, in order, as self-metric names (unwind_counters). */
export const UNWIND_COUNTERS = ['unwind_stacks', 'unwind_cfi_frames', 'unwind_fp_frames', 'unwind_no_mapping', 'unwind_unsupported',
  'unwind_read_failed', 'unwind_bad_frame', 'unwind_truncated', 'unwind_stack_collisions', 'unwind_stacks_full', 'unwind_miss_notices'] as const;

/** Frames per stack map value (PROFILER_STACK_DEPTH). */
export const STACK_DEPTH = 127;

/** Counter slots (enum profiler_counter), in order, as self-metric names. */
export const KERNEL_COUNTERS = ['samples', 'stack_collisions', 'stack_map_full', 'stack_errors', 'counts_map_full', 'notices_lost',
  'offcpu_blocks', 'offcpu_short', 'offcpu_pending_full', 'offcpu_counts_full', 'offcpu_switch_in_unseen', 'offcpu_undated'] as const;

/** bpf_get_stackid errors as they appear in a key's stack id. */
export const STACK_ERR = { EFAULT: -14, EEXIST: -17, ENOMEM: -12 } as const;

export interface ProfileKey {
  pid: number;
  tid: number;
  /** Id in the buffer's stack map, or a negative bpf_get_stackid error. */
  userStackId: number;
  kernelStackId: number;
  tag: bigint;
  comm: string;
}

/** A codec for what only the kernel writes: user space reads these maps, never writes them. */
function kernelWritten<T>(size: number, what: string, decode: (b: Buffer) => T): Codec<T> {
  return {
    size,
    encode() {
      throw new Error(`${what} are written by the kernel only`);
    },
    decode,
  };
}

/** The count map's key. */
export const profileKeyCodec = kernelWritten(PROFILE_KEY.size, 'profile keys', (b) => decodeProfileKey(b, 0));

function decodeProfileKey(b: Buffer, at: number): ProfileKey {
  return {
    pid: b.readUInt32LE(at + PROFILE_KEY.pid),
    tid: b.readUInt32LE(at + PROFILE_KEY.tid),
    userStackId: b.readInt32LE(at + PROFILE_KEY.userStackId),
    kernelStackId: b.readInt32LE(at + PROFILE_KEY.kernelStackId),
    tag: b.readBigUInt64LE(at + PROFILE_KEY.tag),
    comm: cString(b.subarray(at + PROFILE_KEY.comm, at + PROFILE_KEY.comm + PROFILE_KEY.commLen)),
  };
}

export interface OffCpuKey {
  key: ProfileKey;
  /** 0 or 1: the stack map (stacks_0/1) the key's stack ids belong to. */
  stackBuf: number;
}

export interface OffCpuValue {
  ns: bigint;
  count: bigint;
}

const decodeOffCpuKey = (b: Buffer, at: number): OffCpuKey =>
  ({ key: decodeProfileKey(b, at + OFFCPU_KEY.base), stackBuf: b.readUInt32LE(at + OFFCPU_KEY.stackBuf) });

export const offCpuKeyCodec = kernelWritten(OFFCPU_KEY.size, 'off-CPU keys', (b) => decodeOffCpuKey(b, 0));

export const offCpuValueCodec = kernelWritten(OFFCPU_VALUE.size, 'off-CPU sums',
  (b): OffCpuValue => ({ ns: b.readBigUInt64LE(OFFCPU_VALUE.ns), count: b.readBigUInt64LE(OFFCPU_VALUE.count) }));

/** offcpu_pending's value, as far as user space needs it: the key (not the switch-out time). */
export const offCpuStartCodec = kernelWritten(OFFCPU_START.size, 'pending blocks', (b) => decodeOffCpuKey(b, OFFCPU_START.key));

/** A stack map value: instruction pointers, leaf first, up to the first zero. */
export function decodeStack(b: Buffer): bigint[] {
  const out: bigint[] = [];
  for (let off = 0; off + 8 <= b.length; off += 8) {
    const ip = b.readBigUInt64LE(off);
    if (ip === 0n) break;
    out.push(ip);
  }
  return out;
}

export interface ProfilerNotice {
  /** unwind-miss: CFI unwinding met a PC in none of the process's published mappings. */
  type: 'new-pid' | 'exec' | 'exit' | 'unwind-miss';
  pid: number;
  /** new-pid: the process is a kernel thread (no user space to symbolize). */
  kernelThread?: boolean;
  /** The current thread's name (for new-pid: the sampled thread's). */
  comm: string;
}

/** null for records too short or of an unknown type. */
export function decodeNotice(view: DataView, off: number, len: number): ProfilerNotice | null {
  if (len < PROFILER_EVENT.size) return null;
  const t = view.getUint8(off + PROFILER_EVENT.type);
  const pid = view.getUint32(off + PROFILER_EVENT.pid, true);
  const comm = cString(new Uint8Array(view.buffer, view.byteOffset + off + PROFILER_EVENT.comm, PROFILER_EVENT.commLen));
  if (t === PROFILER_EVENT_TYPE.NEW_PID) {
    return { type: 'new-pid', pid, comm, kernelThread: (view.getUint8(off + PROFILER_EVENT.flags) & NOTICE_FLAG_KTHREAD) !== 0 };
  }
  if (t === PROFILER_EVENT_TYPE.EXEC) return { type: 'exec', pid, comm };
  if (t === PROFILER_EVENT_TYPE.EXIT) return { type: 'exit', pid, comm };
  if (t === PROFILER_EVENT_TYPE.UNWIND_MISS) return { type: 'unwind-miss', pid, comm };
  return null;
}
