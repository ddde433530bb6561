// libbpf-ts: libbpf for Node.js — objects, programs, maps, links and a batching ring-buffer consumer.
export { BpfObject, BpfProgram, type OpenOptions, type UprobeOptions, type KprobeOptions } from './object.js';
export { BpfMap, UpdateFlags } from './map.js';
export { Link, LinkGroup, closeLinks } from './link.js';
export { RingBufferConsumer, RecordBatch, type RingConsumerOptions, type RingBufferStats } from './ringbuf.js';
export { PerfType, PerfSoftware, PerfHardware, onlineCpus, parseCpuList, openPerfEvent, closePerfEvent, type PerfEventOptions, type PerfEventSpec } from './perf.js';
export { programTypeSupported, mapTypeSupported, helperSupported, BpfHelper, kprobesAvailable, uprobesAvailable, libbpfVersion, possibleCpus } from './probe.js';
export { releaseFreeMemory, setMmapThreshold } from './memory.js';
export { setThreadIdle, threadIsIdle, IdleGuard, type IdleGuardOptions } from './sched.js';
export { type LibbpfError, type LibbpfErrorCode, isLibbpfError } from './errors.js';
export * as codec from './codec.js';
export type { Codec } from './codec.js';
export type { MapInfo, ProgramInfo, CookieOption, IdleGuardStats } from './native.js';
