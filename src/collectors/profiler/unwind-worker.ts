// The worker thread that compiles a binary's call frame information into unwind rows
// (unwind-compiler.ts starts it; unwind-file.ts is what it runs): the parse and compile take up to
// ~0.25 s of CPU for one binary (node's, libLLVM's, in a fresh worker), time the agent's event loop
// must not lose. It gets an open file descriptor (opened by the agent while the process that maps
// the file lived; the agent closes it once the first pass is answered), runs the first pass, and
// puts the rows in slices into the slots it shares with the agent, waiting for a free one: neither
// side ever holds the whole table (libLLVM: 11 MB) beside the rest of the compile's memory. The
// sections are read in windows, and every buffer a compile works in is the one the compile before
// used (a Scratch): a burst of new binaries leaves no garbage here for V8 to collect late.
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { ElfFile } from '../../symbols/elf.js';
import { UNWIND_ROW_SIZE } from '../../symbols/cfi-table.js';
import { Scratch } from '../../symbols/scratch.js';
import type { WorkerReply, WorkerRequest, WorkerSetup } from './unwind-compiler.js';
import { planFile } from './unwind-file.js';

const setup = workerData as WorkerSetup;
const slotBytes = setup.sliceRows * UNWIND_ROW_SIZE;
/** Slots the agent has given back (all of them at first), across compiles: a slot is free only when the agent says so. */
const freeSlots = Array.from({ length: setup.slots.byteLength / slotBytes }, (_, i) => i);
let slotFreed: (() => void) | null = null;
/** The compile the agent wants no more slices of (-1: none). */
let cancelled = -1;
/** The compiles' working buffers, one compile after the other: as big as the largest compile's. */
const scratch = new Scratch();

/**
 * The buffers this isolate holds besides the scratch: garbage (HELD_MAX_BYTES). The slots are not
 * among them: a SharedArrayBuffer the agent's isolate made.
 */
const held = (): number => process.memoryUsage().arrayBuffers - scratch.bytes;

const send = (reply: WorkerReply): void => parentPort!.postMessage(reply);

async function compile(req: Extract<WorkerRequest, { type: 'compile' }>): Promise<void> {
  yieldCpu();
  const t0 = performance.now();
  const ms = (): number => performance.now() - t0;
  const failed = (e: unknown): void => send({ id: req.id, kind: 'error', error: e instanceof Error ? e.message : String(e), ms: ms(), held: held() });
  let elf: ElfFile;
  try {
    elf = ElfFile.open(`/proc/self/fd/${req.fd}`);
  } catch (e) {
    return failed(e);
  }
  try {
    // The process's root, held open by the agent: its debug files stay reachable after it exits.
    const search = req.debug === undefined ? null : {
      path: req.debug.path,
      rootPrefix: req.debug.rootFd === undefined ? '' : `/proc/self/fd/${req.debug.rootFd}`,
      debugRoots: req.debug.debugRoots,
    };
    const plan = planFile(elf, search, scratch);
    if (plan.kind === 'none') return send({ id: req.id, kind: 'none', reason: plan.reason, segments: plan.segments, ms: ms(), held: held() });
    send({ id: req.id, kind: 'table', rowBound: plan.rowBound, segments: plan.segments, debugFrame: plan.debugFrame, cgo: plan.cgo === true, ms: ms() });
    const slices = plan.slices(setup.sliceRows);
    for (;;) {
      while (freeSlots.length === 0 && cancelled !== req.id) await new Promise<void>((r) => (slotFreed = r));
      if (cancelled === req.id) return failed('cancelled');
      const r = slices.next();
      if (r.done === true) return send({ id: req.id, kind: 'end', count: r.value, ms: ms(), held: held() });
      const slot = freeSlots.pop()!;
      Buffer.from(setup.slots, slot * slotBytes, slotBytes).set(r.value);
      send({ id: req.id, kind: 'slice', slot, rows: r.value.length / UNWIND_ROW_SIZE });
    }
  } catch (e) {
    return failed(e);
  } finally {
    elf.close();
  }
}

/**
 * This thread only (/proc/thread-self → <pid>/task/<tid>; setpriority on a tid is per thread on
 * Linux): the compile yields the CPU to the programs being profiled. Again before each compile: the
 * agent's CPU priority (agent/cpu-priority.ts, `nice`) sets every thread of the process back to its
 * start's priority when the agent falls behind, this one too.
 */
function yieldCpu(): void {
  if (tid === null) return; // not Linux: normal priority
  try {
    setPriority(tid, setup.nice);
  } catch {
    // not allowed: normal priority
  }
}
/** This thread's id, read once: it does not change. */
const tid = ((): number | null => {
  try {
    return Number(readlinkSync('/proc/thread-self').split('/').pop());
  } catch {
    return null;
  }
})();
yieldCpu();

/** Compiles one after the other, in the order asked. */
let queue = Promise.resolve();
parentPort?.on('message', (m: WorkerRequest) => {
  if (m.type === 'compile') queue = queue.then(() => compile(m));
  else if (m.type === 'free') freeSlots.push(m.slot);
  else cancelled = m.id;
  slotFreed?.();
  slotFreed = null;
});
