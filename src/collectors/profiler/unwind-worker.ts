// The worker thread that compiles a binary's call frame information into unwind rows
// (unwind-compiler.ts starts it; unwind-file.ts is what it runs): the parse and compile take up to
// ~0.25 s of CPU for one binary (node's, libLLVM's, in a fresh worker), time the agent's event loop
// must not lose. It gets an open file descriptor (opened by the agent while the process that maps
// the file lived; the agent closes it) and answers with the encoded rows, moved, not copied.
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { ElfFile } from '../../symbols/elf.js';
import type { CompileReply, CompileRequest } from './unwind-compiler.js';
import { compileFile } from './unwind-file.js';

function compile(req: CompileRequest): CompileReply {
  const t0 = performance.now();
  const ms = (): number => performance.now() - t0;
  let elf: ElfFile;
  try {
    elf = ElfFile.open(`/proc/self/fd/${req.fd}`);
  } catch (e) {
    return { id: req.id, kind: 'error', error: e instanceof Error ? e.message : String(e), ms: ms() };
  }
  try {
    // The process's root, held open by the agent: its debug files stay reachable after it exits.
    const search = req.debug === undefined ? null : {
      path: req.debug.path,
      rootPrefix: req.debug.rootFd === undefined ? '' : `/proc/self/fd/${req.debug.rootFd}`,
      debugRoots: req.debug.debugRoots,
    };
    const r = compileFile(elf, search);
    if (r.kind === 'none') return { id: req.id, kind: 'none', reason: r.reason, segments: r.segments, ms: ms() };
    const t = r.table;
    const rows = new Uint8Array(t.rows.buffer, t.rows.byteOffset, t.rows.byteLength);
    return { id: req.id, kind: 'table', rows, count: t.count, segments: r.segments, debugFrame: r.debugFrame, cgo: r.cgo === true, ms: ms() };
  } catch (e) {
    return { id: req.id, kind: 'error', error: e instanceof Error ? e.message : String(e), ms: ms() };
  } finally {
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

parentPort?.on('message', (req: CompileRequest) => {
  const reply = compile(req);
  // The buffers this isolate holds besides the rows about to leave: the sections read, the FDE
  // indexes — garbage V8 frees only when it has ~64 MB of it (external memory), so the compiler
  // ends the worker past a bound instead (unwind-compiler.ts, HELD_MAX_BYTES).
  reply.held = process.memoryUsage().arrayBuffers - (reply.kind === 'table' ? reply.rows.byteLength : 0);
  // The table's rows are a view of an ArrayBuffer of their own (compileCfi): moved, not copied. (A
  // Buffer under half of Buffer.poolSize may be a slice of the shared pool: never moved.)
  const own = reply.kind === 'table' && reply.rows.buffer.byteLength >= Buffer.poolSize / 2;
  const transfer = own ? [reply.rows.buffer as ArrayBuffer] : [];
  parentPort!.postMessage(reply, transfer);
});
