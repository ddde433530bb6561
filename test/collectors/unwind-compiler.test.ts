// The compile worker's memory bounds (src/collectors/profiler/unwind-compiler.ts): its compiles
// reuse one another's buffers; it ends after its idle period, and after a compile that left more
// than its bound of garbage buffers in its isolate — the next file gets a fresh worker and the same rows.
import { openSync } from 'node:fs';
import t from 'tap';
import { allRows } from '../../src/collectors/profiler/row-slices.js';
import { type CompileReply, UnwindCompiler } from '../../src/collectors/profiler/unwind-compiler.js';

// node's own binary: ~2.7 MB of .eh_frame, present wherever the tests run: its rows, and what the
// worker held after it.
async function compileNode(c: UnwindCompiler): Promise<{ kind: CompileReply['kind']; rows: Buffer; held: number }> {
  const r = await c.compile(openSync(process.execPath, 'r'));
  if (r.kind !== 'table') return { kind: r.kind, rows: Buffer.alloc(0), held: r.held ?? 0 };
  const all = await allRows(r.slices);
  return { kind: r.kind, rows: all.rows, held: all.held ?? 0 };
}

// The first compile grows the scratch's buffers (the ones grown out of are garbage, less than the
// final size together); the next ones add next to nothing (~20 KB for node's).
t.test('a compile works in buffers the next reuses: the garbage node\'s compile leaves does not grow with more', async (t) => {
  const c = new UnwindCompiler();
  t.teardown(() => c.close());
  const first = await compileNode(c);
  const second = await compileNode(c);
  const third = await compileNode(c);
  t.equal(first.kind, 'table', `node's binary: ${first.kind}`);
  t.ok(second.rows.equals(first.rows) && third.rows.equals(first.rows), 'the same rows');
  t.ok(third.held - first.held < 256 << 10, `the worker held ${first.held}, ${second.held}, then ${third.held} bytes besides its scratch`);
  t.ok(third.held < 2 << 20, 'under 2 MiB');
  t.equal(c.stats.worker_starts, 1, 'one worker');
  t.equal(c.stats.worker_recycles, 0, 'never past the bound');
});

// Past the bound (0 here: the few small buffers any compile leaves), as a compile that reads a
// section whole (a Go binary's function table, a compressed .debug_frame) may leave more.
t.test('a compile that leaves more than the bound in the worker ends it; the next gets a fresh one', async (t) => {
  const c = new UnwindCompiler({ heldMaxBytes: 0 });
  t.teardown(() => c.close());
  const first = await compileNode(c);
  t.equal(first.kind, 'table', `node's binary: ${first.kind}`);
  t.ok(first.held > 0, `the worker held ${first.held} bytes after it`);
  t.equal(c.stats.worker_recycles, 1, 'ended past the bound');
  const second = await compileNode(c);
  t.equal(c.stats.worker_starts, 2, 'a fresh worker for the next file');
  t.ok(second.rows.equals(first.rows), 'the same rows');
  t.equal(c.stats.worker_failures, 0, 'an ended worker is no failure');
});

t.test('under the bound the worker stays; it ends after its idle period', async (t) => {
  const c = new UnwindCompiler({ idleMs: 200 });
  t.teardown(() => c.close());
  const dev = (): Promise<CompileReply> => c.compile(openSync('/dev/null', 'r'));
  t.equal((await dev()).kind, 'error', '/dev/null: no ELF file');
  t.equal((await dev()).kind, 'error', 'again');
  t.equal(c.stats.worker_starts, 1, 'one worker for both');
  await new Promise((r) => setTimeout(r, 600));
  await dev();
  t.equal(c.stats.worker_starts, 2, 'started again after the idle period');
  t.equal(c.stats.worker_recycles, 0, 'never past the bound');
});
