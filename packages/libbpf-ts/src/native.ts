// The addon's raw surface, typed. Everything else in libbpf-ts wraps this; nothing outside does.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface NativeLink {
  destroy(): void;
  /** Detaches on a libuv pool thread; the link is gone at once from this side. */
  destroyInBackground(): Promise<void>;
  fd(): number;
}

export interface ProgramInfo {
  name: string;
  section: string;
  type: string;
  fd: number;
  autoload: boolean;
}

export interface MapInfo {
  name: string;
  type: string;
  fd: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  internal: boolean;
}

export interface CookieOption {
  cookie?: bigint | number;
}

export interface NativeUprobeOptions extends CookieOption {
  binaryPath: string;
  funcName?: string;
  offset?: number;
  pid?: number;
  retprobe?: boolean;
  refCtrOffset?: number;
}

export interface NativeKprobeOptions extends CookieOption {
  funcName: string;
  offset?: number;
  retprobe?: boolean;
}

export interface NativeObject {
  name(): string;
  load(): void;
  close(): void;
  programs(): ProgramInfo[];
  maps(): MapInfo[];
  setGlobal(name: string, value: Buffer): void;
  setMapMaxEntries(map: string, entries: number): void;
  setAutoload(program: string, autoload: boolean): void;
  reuseMapFd(map: string, fd: number): void;
  attach(program: string): NativeLink;
  attachTracepoint(program: string, category: string, name: string, opts?: CookieOption): NativeLink;
  attachRawTracepoint(program: string, name: string): NativeLink;
  attachUprobe(program: string, opts: NativeUprobeOptions): NativeLink;
  attachKprobe(program: string, opts: NativeKprobeOptions): NativeLink;
  attachPerfEvent(program: string, perfFd: number, opts?: CookieOption): NativeLink;
}

export interface BatchResult {
  keys: Buffer;
  values: Buffer;
  count: number;
  next: Buffer | null;
}

export interface NativeMapOps {
  lookup(fd: number, key: Buffer, valueSize: number): Buffer | null;
  /** The value of `key` written into `out` (sized by the caller); false when the key is not there. */
  lookupInto(fd: number, key: Buffer, out: Buffer): boolean;
  lookupAndDelete(fd: number, key: Buffer | null, valueSize: number): Buffer | null;
  update(fd: number, key: Buffer, value: Buffer, flags: number): void;
  delete(fd: number, key: Buffer): boolean;
  nextKey(fd: number, key: Buffer | null, keySize: number): Buffer | null;
  lookupBatch(fd: number, inBatch: Buffer | null, keySize: number, valueSize: number, count: number,
    andDelete: boolean): BatchResult;
  updateBatch(fd: number, keys: Buffer, values: Buffer, count: number, flags: number): number;
  deleteBatch(fd: number, keys: Buffer, count: number): number;
}

export interface RingConsumerStats {
  /** Records copied out of the kernel rings. */
  records: number;
  bytes: number;
  /** Batches handed to JS. */
  batches: number;
  /** Records lost because JS had `maxPendingBatches` batches still waiting. */
  droppedRecords: number;
  droppedBatches: number;
  /** Records larger than a whole batch (never delivered). */
  oversizeRecords: number;
  pollErrors: number;
  pendingBatches: number;
  /** Times the consumer stopped reading because JS held every slot (leaveInRing): records waited in the rings. */
  ringWaits: number;
  /** Batch buffers allocated (the pool reuses returned ones; at most maxPendingBatches + 2 are kept). */
  bufferAllocations: number;
}

export interface NativeRingConsumer {
  stats(): RingConsumerStats;
  /** stats().pendingBatches alone, without building the stats object. */
  pendingBatches(): number;
  /** The JS thread is ready for the next batch waiting, if any (one per event-loop turn). */
  next(): void;
  close(): void;
  ref(): void;
  unref(): void;
}

export interface IdleGuardStats {
  /** Whether the guard is watching now (armed, and not yet fired). */
  armed: boolean;
  /** Checks made while armed. */
  checks: number;
  /** Times it took the threads back out of SCHED_IDLE, and how many threads it moved in all. */
  restores: number;
  threadsRestored: number;
  /**
   * Why it last did: 'waiting for a CPU' (the thread that armed it, runnable, waited too long),
   * 'heartbeat' (the JS thread did not beat in time), 'ring filling', or ''.
   */
  lastReason: '' | 'waiting for a CPU' | 'heartbeat' | 'ring filling';
  /** Ring buffers watched now. */
  rings: number;
}

export interface NativeIdleGuard {
  readonly tid: number;
  arm(): void;
  disarm(): void;
  beat(): void;
  watchRing(mapFd: number): number;
  unwatchRing(id: number): void;
  stats(): IdleGuardStats;
  /** stats().restores alone, without building the stats object. */
  restores(): number;
  close(): void;
}

export interface NativePerfEventAttr {
  type: number;
  config: number;
  sampleFreq?: number;
  samplePeriod?: number;
  pid?: number;
  cpu?: number;
  inherit?: boolean;
}

export interface NativeAddon {
  NativeObject: new (path: string, opts?: { btfCustomPath?: string }) => NativeObject;
  NativeRingConsumer: new (
    fds: number[],
    opts: { batchBytes: number; maxPendingBatches: number; flushMs: number; pollMs: number; leaveInRing: boolean },
    onBatch: (batch: Buffer, count: number) => void,
  ) => NativeRingConsumer;
  NativeIdleGuard: new (opts: { checkMs: number; heartbeatMs: number; ringFillPercent: number; waitPercent: number; waitWindowMs: number }) => NativeIdleGuard;
  map: NativeMapOps;
  possibleCpus(): number;
  perfEventOpen(attr: NativePerfEventAttr): number;
  closeFd(fd: number): void;
  probeProgramType(type: string): boolean;
  probeMapType(type: string): boolean;
  probeHelper(programType: string, helper: number): boolean;
  libbpfVersion(): string;
  releaseFreeMemory(): boolean;
  setThreadIdle(tid: number, idle: boolean): number;
  threadIsIdle(tid: number): boolean;
  setMmapThreshold(bytes: number): boolean;
}

function loadAddon(): NativeAddon {
  // dist/src/native.js → package root is two levels up; the same from src/ under a TS runner.
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, '../../build/Release/lbts.node'), join(here, '../build/Release/lbts.node')];
  const path = candidates.find((p) => existsSync(p));
  if (path === undefined) {
    throw new Error('libbpf-ts: the native addon is not built (run `npm run build -w libbpf-ts`)');
  }
  return createRequire(import.meta.url)(path) as NativeAddon;
}

export const native: NativeAddon = loadAddon();
