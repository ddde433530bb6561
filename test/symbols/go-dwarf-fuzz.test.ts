// Damaged Go binaries given to analyzeFunction: copies of the dynlog test program cut short (in the
// headers, the code, the function table, inside .debug_abbrev and .debug_info), with a DWARF
// section's size cut in its header, and with bytes changed inside the DWARF sections (seeded). Each
// case either gives a probe or a clear error (DynlogError, ElfError, DwarfError), never another
// exception and never a hang: the cases run in a worker thread, which is stopped and the case
// named when one takes longer than CASE_LIMIT_MS. Seeds are fixed so a failure replays.
import { mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { DynlogError, analyzeFunction } from '../../src/collectors/dynlog/analyze.js';
import { DW_AT_name, DW_AT_type, DW_FORM_ref_addr } from '../../src/symbols/dwarf-constants.js';
import { DwarfError, DwarfInfo } from '../../src/symbols/dwarf.js';
import { ElfError, ElfFile } from '../../src/symbols/elf.js';
import { XorShift32 } from '../helpers/prng.js';

const CASE_LIMIT_MS = 10_000;

/** One damaged copy: the source cut to `length` bytes, a range of it appended, then bytes written at offsets. */
interface Case {
  label: string;
  source: string;
  length: number;
  append?: [offset: number, size: number];
  patches: Array<[offset: number, byte: number]>;
  fn: string;
  args?: string[];
  /** What the case must give, where that is certain: the start of `${outcome} ${detail}`. */
  expect?: string;
}

type Outcome = { i: number; ms: number; outcome: 'probe' | 'DynlogError' | 'ElfError' | 'DwarfError' | 'other'; detail: string };

/** Worker side: each case written to a file, analysed, removed; the outcome posted. */
function runCases(cases: Case[], dir: string): void {
  const sources = new Map<string, Buffer>();
  cases.forEach((c, i) => {
    let src = sources.get(c.source);
    if (src === undefined) sources.set(c.source, (src = readFileSync(c.source)));
    const buf = Buffer.concat([src.subarray(0, c.length), c.append !== undefined ? src.subarray(c.append[0], c.append[0] + c.append[1]) : Buffer.alloc(0)]);
    for (const [at, byte] of c.patches) if (at < buf.length) buf[at] = byte;
    const file = join(dir, `case-${i}`);
    writeFileSync(file, buf);
    parentPort!.postMessage({ start: i });
    const started = performance.now();
    let outcome: Outcome['outcome'];
    let detail: string;
    try {
      const p = analyzeFunction(file, c.fn, { returns: true, bound: 64, ...(c.args !== undefined ? { args: c.args } : {}) });
      outcome = 'probe';
      detail = `${p.entry.length} arguments, ${p.returnOffsets.length} returns`;
    } catch (e) {
      outcome = e instanceof DynlogError ? 'DynlogError' : e instanceof ElfError ? 'ElfError' : e instanceof DwarfError ? 'DwarfError' : 'other';
      detail = outcome === 'other' ? ((e as Error).stack ?? String(e)) : `${e instanceof DynlogError ? `${e.reason}: ` : ''}${(e as Error).message}`;
    }
    unlinkSync(file);
    parentPort!.postMessage({ i, ms: performance.now() - started, outcome, detail } satisfies Outcome);
  });
}

if (!isMainThread) {
  const { cases, dir } = workerData as { cases: Case[]; dir: string };
  runCases(cases, dir);
} else {
  await main();
}

async function main(): Promise<void> {
  // tap only in the main thread: the worker runs this file for runCases alone.
  const { default: t } = await import('tap');
  const { buildGoFixture } = await import('../helpers/go-build.js');
  // The default build compresses its DWARF (zlib: most damage stops at inflate); the uncompressed
  // one lets changed bytes reach the DWARF reader and GoDwarf.
  const compressed = buildGoFixture('dynlog-target');
  const plain = buildGoFixture('dynlog-target', { ldflags: '-compressdwarf=false' });

  const sections = (file: string): Map<string, { index: number; offset: number; size: number }> => {
    const elf = ElfFile.open(file);
    try {
      return new Map(elf.sections.map((s) => [s.name, { index: s.index, offset: s.offset, size: s.size }]));
    } finally {
      elf.close();
    }
  };
  const elfHeaders = new Map<string, Buffer>();
  /** e_shoff: where the section headers start. */
  const shoff = (file: string): number => {
    let h = elfHeaders.get(file);
    if (h === undefined) elfHeaders.set(file, (h = readFileSync(file).subarray(0, 64)));
    return Number(h.readBigUInt64LE(40));
  };

  const cases: Case[] = [];
  const whole = (source: string): Omit<Case, 'label'> => ({ source, length: statSync(source).size, patches: [], fn: 'main.(*Server).Login' });
  const le64 = (n: number): number[] => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(n));
    return [...b];
  };
  /** Bytes that set field `field` (sh_offset 24, sh_size 32) of section `index`'s header to `value`. */
  const header = (file: string, index: number, field: number, value: number): Case['patches'] =>
    le64(value).map((byte, k) => [shoff(file) + index * 64 + field + k, byte]);
  for (const [name, file] of [['compressed', compressed], ['plain', plain]] as const) {
    const s = sections(file);
    const cut = (label: string, length: number): void =>
      void cases.push({ ...whole(file), label: `${name}: cut at ${label} (${length})`, length, expect: 'DynlogError not-elf: ' });
    cut('the ELF header', 40);
    cut('the section headers', shoff(file) + 100);
    cut('the last byte', whole(file).length - 1);
    // Go writes the section names last: most cuts lose them. Keep them (appended after the cut, the
    // header pointing there) so that the sections past the cut are what is missing.
    const names = s.get('.shstrtab')!;
    // Cut before the build information: not a readable Go program; in the DWARF: no DWARF to use;
    // in the symbol table, read last for the error types' names: a damaged binary, said as such.
    const expect: Record<string, string | undefined> = {
      '.text': 'DynlogError not-go: ', '.gopclntab': 'DynlogError not-go: ', '.go.buildinfo': undefined,
      '.debug_abbrev': 'DynlogError no-dwarf: ', '.debug_info': 'DynlogError no-dwarf: ', '.debug_addr': 'DynlogError no-dwarf: ', '.symtab': 'DynlogError not-elf: ',
    };
    for (const sec of Object.keys(expect)) {
      const { offset, size } = s.get(sec)!;
      for (const [where, length] of [['the start', offset + 1], ['the middle', offset + Math.floor(size / 2)]] as const) {
        cases.push({ ...whole(file), label: `${name}: cut at ${where} of ${sec} (${length}), section names kept`, length,
          append: [names.offset, names.size], patches: header(file, names.index, 24, length), ...(expect[sec] !== undefined ? { expect: expect[sec] } : {}) });
      }
    }
  }

  // A DWARF section's size cut in its section header: the reader gets a section that stops short.
  const ps = sections(plain);
  for (const sec of ['.debug_abbrev', '.debug_info', '.debug_addr', '.debug_rnglists']) {
    for (const frac of [0, 0.01, 0.5, 0.99]) {
      const size = Math.floor(ps.get(sec)!.size * frac);
      cases.push({ ...whole(plain), label: `plain: ${sec} cut to ${size} bytes in its header`, patches: header(plain, ps.get(sec)!.index, 32, size) });
    }
  }

  // A type that contains itself: main.Counts's [3]bool made an array of itself (its DW_AT_type, a
  // DW_FORM_ref_addr, pointed at its own DIE). Only damaged DWARF says so; the ABI's walk over the
  // type must not recurse for ever.
  {
    const elf = ElfFile.open(plain);
    try {
      const dwarf = DwarfInfo.fromElf(elf)!;
      const fn = dwarf.die(dwarf.findFunction('main.Counts')!.dieOffset)!;
      const flags = dwarf.children(fn).find((c) => dwarf.string(c, DW_AT_name) === 'flags')!;
      const arr = dwarf.die(dwarf.reference(flags, DW_AT_type)!)!;
      const ref = arr.attributes.find((a) => a.at === DW_AT_type && a.form === DW_FORM_ref_addr)!;
      const bytes = readFileSync(plain).subarray(ps.get('.debug_info')!.offset + arr.offset, ps.get('.debug_info')!.offset + arr.next);
      const want = Buffer.alloc(4);
      want.writeUInt32LE(ref.value.kind === 'ref' ? ref.value.offset : -1);
      const at = ps.get('.debug_info')!.offset + arr.offset + bytes.indexOf(want);
      const self = Buffer.alloc(4);
      self.writeUInt32LE(arr.offset);
      cases.push({ ...whole(plain), fn: 'main.Counts', label: 'plain: [3]bool an array of itself', patches: [...self].map((byte, k) => [at + k, byte]),
        expect: 'probe 2 arguments' });
    } finally {
      elf.close();
    }
  }

  // Bytes changed inside the DWARF sections: a few (the reader goes deep) or a few hundred.
  const rng = new XorShift32(0xd3a4f);
  const targets = ['.debug_info', '.debug_info', '.debug_info', '.debug_abbrev', '.debug_addr', '.debug_rnglists'];
  const fns = [{ fn: 'main.(*Server).Login', args: ['req.User.Name', 'req.Tags', 'limit'] }, { fn: 'main.Counts' }, { fn: 'main.Parse' }, { fn: 'main.Lgin' }];
  for (let i = 0; i < 48; i++) {
    const file = i % 8 === 7 ? compressed : plain;
    const s = sections(file);
    const n = i % 2 === 0 ? 1 + rng.int(8) : 100 + rng.int(300);
    const patches: Case['patches'] = [];
    for (let k = 0; k < n; k++) {
      const sec = s.get(rng.pick(targets))!;
      patches.push([sec.offset + rng.int(sec.size), rng.chance(0.3) ? rng.pick([0, 0xff, 0x7f, 0x80]) : rng.next() & 0xff]);
    }
    cases.push({ ...whole(file), ...rng.pick(fns), label: `${file === plain ? 'plain' : 'compressed'}: ${n} bytes changed (case ${i})`, patches });
  }

  t.test('damaged binaries: a probe or a clear error, each in bounded time', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'lantern-go-dwarf-fuzz-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const outcomes: Outcome[] = [];
    await new Promise<void>((resolve) => {
      const worker = new Worker(new URL(import.meta.url), { workerData: { cases, dir } });
      let watchdog: NodeJS.Timeout | undefined;
      worker.on('message', (m: { start: number } | Outcome) => {
        clearTimeout(watchdog);
        if ('start' in m) {
          watchdog = setTimeout(() => {
            t.fail(`${cases[m.start]!.label}: still running after ${CASE_LIMIT_MS} ms`);
            void worker.terminate();
          }, CASE_LIMIT_MS);
          return;
        }
        outcomes.push(m);
        const c = cases[m.i]!;
        if (m.outcome === 'other') t.fail(`${c.label}: ${m.detail}`);
        else if (c.expect !== undefined && !`${m.outcome} ${m.detail}`.startsWith(c.expect)) t.fail(`${c.label}: ${m.outcome} ${m.detail}, expected ${c.expect}…`);
      });
      worker.on('error', (e) => {
        t.fail(`worker: ${e.stack ?? String(e)}`);
      });
      worker.on('exit', () => {
        clearTimeout(watchdog);
        resolve();
      });
    });
    t.equal(outcomes.length, cases.length, `all ${cases.length} cases ran`);
    const count = (o: Outcome['outcome']): number => outcomes.filter((x) => x.outcome === o).length;
    t.equal(count('other'), 0, 'no exception but DynlogError, ElfError, DwarfError');
    t.comment(`outcomes: ${(['probe', 'DynlogError', 'ElfError', 'DwarfError'] as const).map((o) => `${o} ${count(o)}`).join(', ')}; slowest ${Math.round(Math.max(...outcomes.map((o) => o.ms)))} ms`);
    // The damage reached past the ELF layer: the DWARF reader refused some cases, some still worked.
    t.ok(outcomes.some((o) => o.outcome === 'DwarfError'), 'some cases refused by the DWARF reader');
    t.ok(outcomes.some((o) => o.outcome === 'probe' && cases[o.i]!.patches.length > 0), 'some damaged copies still analysed');
  });
}
