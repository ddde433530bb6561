// The worker thread that compiles a binary's call frame information into unwind rows
// (unwind-compiler.ts starts it; unwind-file.ts is what it runs): the parse and compile take up to
// ~0.25 s of CPU for one binary (node's, libLLVM's, in a fresh worker), time the agent's event loop
// must not lose. It gets an open file descriptor (opened by the agent while the process that maps
// the file lived; the agent closes it once the first pass is answered), runs the first pass, and
// sends the rows in slices, moved, not copied, waiting for the agent to ask for more: neither side
// ever holds the whole table (libLLVM: 11 MB) beside the rest of the compile's memory.
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { ElfFile } from '../../symbols/elf.js';
import type { WorkerReply, WorkerRequest } from './unwind-compiler.js';
import { planFile } from './unwind-file.js';

/** A compile's flow control: slices it may still send, and whether the agent wants no more. */
interface Flow {
  credits: number;
  cancelled: boolean;
  wake: (() => void) | null;
}

const flows = new Map<number, Flow>();

/** The buffers this isolate holds: the sections read, the FDE index (HELD_MAX_BYTES). */
const held = (): number => process.memoryUsage().arrayBuffers;

function send(reply: WorkerReply): void {
  if (reply.kind !== 'slice') return parentPort!.postMessage(reply);
  // A slice in an ArrayBuffer of its own (cfiRowSlices) is moved; a view of a table made whole (a
  // cgo table's, slicesOf) is copied, so the table stays whole for the next.
  const own = reply.rows.byteOffset === 0 && reply.rows.byteLength === reply.rows.buffer.byteLength;
  parentPort!.postMessage(reply, own ? [reply.rows.buffer as ArrayBuffer] : []);
}

async function compile(req: Extract<WorkerRequest, { type: 'compile' }>): Promise<void> {
  const t0 = performance.now();
  const ms = (): number => performance.now() - t0;
  const failed = (e: unknown): void => send({ id: req.id, kind: 'error', error: e instanceof Error ? e.message : String(e), ms: ms(), held: held() });
  let elf: ElfFile;
  try {
    elf = ElfFile.open(`/proc/self/fd/${req.fd}`);
  } catch (e) {
    return failed(e);
  }
  const flow: Flow = { credits: req.ahead, cancelled: false, wake: null };
  flows.set(req.id, flow);
  try {
    // The process's root, held open by the agent: its debug files stay reachable after it exits.
    const search = req.debug === undefined ? null : {
      path: req.debug.path,
      rootPrefix: req.debug.rootFd === undefined ? '' : `/proc/self/fd/${req.debug.rootFd}`,
      debugRoots: req.debug.debugRoots,
    };
    const plan = planFile(elf, search);
    if (plan.kind === 'none') return send({ id: req.id, kind: 'none', reason: plan.reason, segments: plan.segments, ms: ms(), held: held() });
    send({ id: req.id, kind: 'table', rowBound: plan.rowBound, segments: plan.segments, debugFrame: plan.debugFrame, cgo: plan.cgo === true, ms: ms() });
    const slices = plan.slices(req.sliceRows);
    for (;;) {
      while (flow.credits === 0 && !flow.cancelled) await new Promise<void>((r) => (flow.wake = r));
      if (flow.cancelled) return failed('cancelled');
      const r = slices.next();
      if (r.done === true) return send({ id: req.id, kind: 'end', count: r.value, ms: ms(), held: held() });
      flow.credits--;
      send({ id: req.id, kind: 'slice', rows: r.value });
    }
  } catch (e) {
    return failed(e);
  } finally {
    flows.delete(req.id);
    elf.close();
  }
}

// This thread only (/proc/thread-self → <pid>/task/<tid>; setpriority on a tid is per thread on
// Linux): the compile yields the CPU to the programs being profiled.
try {
  setPriority(Number(readlinkSync('/proc/thread-self').split('/').pop()), (workerData as { nice: number }).nice);
} catch {
  // not Linux, or not allowed: normal priority
}

/** Compiles one after the other, in the order asked. */
let queue = Promise.resolve();
parentPort?.on('message', (m: WorkerRequest) => {
  if (m.type === 'compile') {
    queue = queue.then(() => compile(m));
    return;
  }
  const flow = flows.get(m.id);
  if (flow === undefined) return;
  if (m.type === 'more') flow.credits++;
  else flow.cancelled = true;
  flow.wake?.();
  flow.wake = null;
});
