// The worker thread that compiles a binary's .eh_frame into unwind rows (unwind-compiler.ts starts
// it): the parse and compile take 0.1 s for libc and 1.2 s for node's 99 MB binary, time the
// agent's event loop must not lose. It gets an open file descriptor (opened by the agent while the
// process that maps the file lived; the agent closes it) and answers with the encoded rows, moved,
// not copied.
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { compileEhFrame } from '../../symbols/cfi-table.js';
import { ElfFile, PT_LOAD } from '../../symbols/elf.js';
import { isGoBinary } from '../../symbols/go-buildinfo.js';
import type { CompileReply, CompileRequest } from './unwind-compiler.js';

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
    const segments = elf.segments.filter((p) => p.type === PT_LOAD).map((p) => ({ offset: p.offset, vaddr: p.vaddr, filesz: p.filesz }));
    // Go code keeps frame pointers; the walker's frame-pointer step is right for it, and cheaper.
    if (isGoBinary(elf)) return { id: req.id, kind: 'none', reason: 'go', segments, ms: ms() };
    const sec = elf.section('.eh_frame');
    if (sec === undefined || sec.size === 0) return { id: req.id, kind: 'none', reason: 'no-eh-frame', segments, ms: ms() };
    const t = compileEhFrame(elf.sectionData(sec), sec.addr);
    if (t === null) return { id: req.id, kind: 'none', reason: 'high-addresses', segments, ms: ms() };
    if (t.count === 0) return { id: req.id, kind: 'none', reason: 'no-rows', segments, ms: ms() };
    const rows = new Uint8Array(t.rows.buffer, t.rows.byteOffset, t.rows.byteLength);
    return { id: req.id, kind: 'table', rows, count: t.count, segments, ms: ms() };
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
  // Buffer.alloc of a large size owns its ArrayBuffer: transferred whole, no copy.
  const transfer = reply.kind === 'table' && reply.rows.byteOffset === 0 && reply.rows.byteLength === reply.rows.buffer.byteLength ? [reply.rows.buffer as ArrayBuffer] : [];
  parentPort!.postMessage(reply, transfer);
});
