// The table writer (src/collectors/profiler/unwind-tables.ts) with the real compile worker and maps
// of the test's own that record every write: a table that comes in slices is exactly the one-shot
// compile's rows at the range its index entry names, and a compile that fails mid-way leaves no index
// entry (the BPF side never sees its rows), its range free again, counted.
import { realpathSync } from 'node:fs';
import t from 'tap';
import type { RowSlices } from '../../src/collectors/profiler/row-slices.js';
import { UnwindCompiler } from '../../src/collectors/profiler/unwind-compiler.js';
import { compileFile } from '../../src/collectors/profiler/unwind-file.js';
import { type TableCompiler, type UnwindMaps, UnwindTables } from '../../src/collectors/profiler/unwind-tables.js';
import { UNWIND_ROW_SIZE } from '../../src/symbols/cfi-table.js';
import { ElfFile } from '../../src/symbols/elf.js';

const NODE = realpathSync(process.execPath);

/** node's table made whole on this thread (~372k rows): what the slices must add up to. */
function nodeRows(): Buffer {
  const elf = ElfFile.open(NODE);
  try {
    const r = compileFile(elf, { path: NODE, rootPrefix: '', debugRoots: ['/usr/lib/debug'] });
    if (r.kind !== 'table') throw new Error(`node's binary: no table (${r.kind})`);
    return Buffer.from(r.table.rows);
  } finally {
    elf.close();
  }
}

/** The three maps as what was last written to each key. */
function recordingMaps(): UnwindMaps & { rowsAt: Map<number, Buffer>; index: Map<number, Buffer> } {
  const rowsAt = new Map<number, Buffer>();
  const index = new Map<number, Buffer>();
  const procs = new Map<number, Buffer>();
  const ops = (m: Map<number, Buffer>, size: number): UnwindMaps['rows'] => ({
    set: (k: number, v: Buffer) => void m.set(k, Buffer.from(v)),
    delete: (k: number) => m.delete(k),
    writeBatchRaw: (keys: Buffer, values: Buffer, count: number) => {
      for (let i = 0; i < count; i++) m.set(keys.readUInt32LE(4 * i), Buffer.from(values.subarray(i * size, (i + 1) * size)));
      return count;
    },
  });
  return { rows: ops(rowsAt, UNWIND_ROW_SIZE), tables: ops(index, 8), procs: ops(procs, 0), rowsAt, index };
}

/** Published tables (a count above 0) with their rows as the rows map holds them. */
function published(maps: ReturnType<typeof recordingMaps>): Array<{ start: number; count: number; rows: Buffer }> {
  const out = [];
  for (const v of maps.index.values()) {
    const start = v.readUInt32LE(0);
    const count = v.readUInt32LE(4);
    if (count === 0) continue;
    const rows: Buffer[] = [];
    for (let i = start; i < start + count; i++) rows.push(maps.rowsAt.get(i) ?? Buffer.alloc(UNWIND_ROW_SIZE, 0xee));
    out.push({ start, count, rows: Buffer.concat(rows) });
  }
  return out.sort((a, b) => a.start - b.start);
}

/** `real`, with node's binary's slices failing after `after` of them. */
function failingNode(real: UnwindCompiler, after: number): TableCompiler {
  const failing = (inner: RowSlices): RowSlices => {
    let given = 0;
    return {
      next: () => (given++ < after ? inner.next() : Promise.reject(new Error('injected'))),
      cancel: () => inner.cancel(),
    };
  };
  return {
    compile: async (fd, debug) => {
      const r = await real.compile(fd, debug);
      if (r.kind !== 'table' || debug === undefined || realpathSync(debug.path) !== NODE) return r;
      return { ...r, slices: failing(r.slices) };
    },
    discard: (fd, debug) => real.discard(fd, debug),
    close: () => real.close(),
    get busy() {
      return real.busy;
    },
    stats: real.stats,
  };
}

const want = nodeRows();
const count = want.length / UNWIND_ROW_SIZE;

t.test('a table written in slices: the one-shot rows, the unused reservation given back', async (t) => {
  const maps = recordingMaps();
  // 8192-row slices: node's table comes in ~45 of them.
  const tables = new UnwindTables(maps, { maxRows: 1 << 21, maxTables: 256, compiler: new UnwindCompiler({ sliceRows: 8192 }) });
  t.teardown(() => tables.close());
  t.ok(tables.notePid(process.pid), 'this process noted');
  await tables.idle();
  const all = published(maps);
  const node = all.filter((p) => p.count === count);
  t.equal(node.length, 1, `node's table published (${count} rows)`);
  t.ok(node[0]?.rows.equals(want), 'its rows are the one-shot compile\'s, in order, at its range');
  for (let i = 1; i < all.length; i++) t.ok(all[i - 1]!.start + all[i - 1]!.count <= all[i]!.start, `ranges ${i - 1} and ${i} apart`);
  const s = tables.stats();
  t.equal(all.length, s.tables_loaded, 'every loaded table published');
  t.equal(s.file_errors, 0, 'no errors');
  // Tables packed first-fit from 0: each one's tail, reserved from its bound, was given back.
  const end = all.reduce((a, p) => Math.max(a, p.start + p.count), 0);
  t.equal(end, s.table_rows, `tables end at row ${end}: no reserved tail left between them`);
});

t.test('a compile that fails mid-way publishes nothing, is counted, and frees its range', async (t) => {
  const maps = recordingMaps();
  const real = new UnwindCompiler({ sliceRows: 8192 });
  const tables = new UnwindTables(maps, { maxRows: 1 << 21, maxTables: 256, compiler: failingNode(real, 3) });
  t.teardown(() => tables.close());
  t.ok(tables.notePid(process.pid), 'this process noted');
  await tables.idle();
  const all = published(maps);
  t.equal(all.filter((p) => p.count === count).length, 0, 'node\'s table: no index entry');
  const written = [...maps.rowsAt.keys()].length;
  t.ok(written >= 3 * 8192, `rows written before it failed (${written} in the map, other tables' included)`);
  const s = tables.stats();
  t.equal(s.file_errors, 1, 'counted');
  t.equal(all.length, s.tables_loaded, 'the other tables published');
  t.ok((s.tables_loaded ?? 0) > 0, `${s.tables_loaded} other tables`);
  const end = all.reduce((a, p) => Math.max(a, p.start + p.count), 0);
  t.equal(end, s.table_rows, 'its range given back: the tables after it packed from where it was');
  t.equal(real.busy, 0, 'the worker stopped making its slices');
});
