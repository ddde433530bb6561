// The .eh_frame and .debug_frame parser and the row compiler against binutils: `readelf
// --debug-dump=frames-interp` of real binaries (/bin/ls, libc; .debug_frame as GCC and clang write
// it: CIE version 1, version 4, 64-bit DWARF), compared FDE by FDE (range) and row by row (CFA, rbp
// and return-address rules at each location readelf prints), and the compiled table's row at each
// of those addresses. Then malformed input: every truncation of a real section parses without throwing.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { CFA_TYPE, type CompiledTable, RBP_TYPE, UNWIND_ROW_SIZE, type UnwindRow, compileCfi, compileEhFrame, compileUnwindTable, encodeUnwindRow, mergeCfi, rowFor, withRule } from '../../src/symbols/cfi-table.js';
import { type CfiRow, type EhFrame, type RegRule, cfiSectionOf, parseCfi, parseDebugFrame, parseEhFrame, readDebugFrame, readEhFrame } from '../../src/symbols/eh-frame.js';
import { ElfFile } from '../../src/symbols/elf.js';
import { isGoBinary } from '../../src/symbols/go-buildinfo.js';
import { repoRoot } from '../helpers/cli.js';

interface ReadelfFde {
  offset: number;
  start: number;
  end: number;
  rows: Array<{ loc: number; cfa: string; rbp: string; ra: string }>;
}

/** The FDEs readelf shows for one section (`.eh_frame` or `.debug_frame`). */
function readelfFdes(path: string, section = '.eh_frame'): ReadelfFde[] {
  // readelf exits 1 on libc without saying why on stderr (binutils 2.40); its output is complete.
  const text = spawnSync('readelf', ['--debug-dump=frames-interp', path], { encoding: 'utf8', maxBuffer: 1 << 28 }).stdout;
  const out: ReadelfFde[] = [];
  let cur: ReadelfFde | null = null;
  let cols: string[] = [];
  let inSection = false;
  for (const line of text.split('\n')) {
    const contents = /^Contents of the (\S+) section\b/.exec(line);
    if (contents !== null) {
      inSection = contents[1] === section;
      cur = null;
      continue;
    }
    if (!inSection) continue;
    const fde = /^([0-9a-f]+) [0-9a-f]+ [0-9a-f]+ FDE cie=[0-9a-f]+ pc=([0-9a-f]+)\.\.([0-9a-f]+)/.exec(line);
    if (fde !== null) {
      cur = { offset: parseInt(fde[1]!, 16), start: parseInt(fde[2]!, 16), end: parseInt(fde[3]!, 16), rows: [] };
      out.push(cur);
      continue;
    }
    if (/^[0-9a-f]+ [0-9a-f]+ [0-9a-f]+ CIE/.test(line)) cur = null;
    if (line.trim().startsWith('LOC')) {
      cols = line.trim().split(/\s+/);
      continue;
    }
    const row = /^([0-9a-f]{16}) (.*)$/.exec(line);
    if (row === null || cur === null) continue;
    const vals = row[2]!.trim().split(/\s+/);
    // Rules other than c±n (saved at CFA+n) and u: a register (r5), an expression (exp), a value (v…).
    const col = (name: string): string => {
      const v = vals[cols.indexOf(name) - 1] ?? 'u';
      return name === 'CFA' || v === 'u' || /^c[+-]\d+$/.test(v) ? v : 'other';
    };
    cur.rows.push({ loc: parseInt(row[1]!, 16), cfa: col('CFA'), rbp: cols.includes('rbp') ? col('rbp') : 'u', ra: col('ra') });
  }
  return out;
}

const cfaText = (r: CfiRow): string => (r.cfa.kind === 'expr' ? 'exp' : `${['rax', 'rdx', 'rcx', 'rbx', 'rsi', 'rdi', 'rbp', 'rsp'][r.cfa.reg] ?? `r${r.cfa.reg}`}+${r.cfa.offset}`);
const ruleText = (r: RegRule): string => (r.kind === 'offset' ? `c${r.offset >= 0 ? '+' : ''}${r.offset}` : r.kind === 'same' || r.kind === 'undefined' ? 'u' : 'other');

/**
 * Our FDEs and rows (`cfi`, one section of `path`) against readelf's, and the compiled table's row
 * at each address readelf lists. `sampleEvery`: compare one FDE in n (libc: a few thousand rows).
 */
function compareWithReadelf(t: Test, path: string, section: string, cfi: EhFrame, opts: { sampleEvery: number; minRows: number }): void {
  const want = readelfFdes(path, section);
  t.equal(cfi.malformed, 0, 'nothing malformed');
  t.equal(cfi.fdes.length, want.filter((f) => f.end > f.start).length, `${cfi.fdes.length} FDEs`);
  const byOffset = new Map(cfi.fdes.map((f) => [f.offset, f]));
  const table = compileUnwindTable(cfi)!;
  const sample = want.filter((f, i) => f.end > f.start && i % opts.sampleEvery === 0);
  let rows = 0;
  const bad: string[] = [];
  for (const w of sample) {
    const f = byOffset.get(w.offset);
    if (f === undefined || f.start !== w.start || f.end !== w.end) {
      bad.push(`FDE at ${w.offset.toString(16)}: ${f === undefined ? 'missing' : `${f.start.toString(16)}..${f.end.toString(16)}`}`);
      continue;
    }
    for (const r of w.rows) {
      rows++;
      const ours = [...f.rows].reverse().find((x) => x.loc <= r.loc);
      const got = ours === undefined ? 'none' : `${cfaText(ours)} ${ruleText(ours.rbp)} ${ruleText(ours.ra)}`;
      if (got !== `${r.cfa} ${r.rbp} ${r.ra}`) bad.push(`${r.loc.toString(16)}: readelf ${r.cfa} ${r.rbp} ${r.ra}, ours ${got}`);
      // The compiled row the BPF walker would use at this address.
      const c = rowFor(table, r.loc);
      const expectType = r.ra === 'u' ? CFA_TYPE.END : r.ra !== 'c-8' ? CFA_TYPE.UNSUPPORTED : r.cfa.startsWith('rsp+') ? CFA_TYPE.RSP : r.cfa.startsWith('rbp+') ? CFA_TYPE.RBP : CFA_TYPE.UNSUPPORTED;
      if (c?.cfaType !== expectType) bad.push(`${r.loc.toString(16)}: compiled type ${c?.cfaType}, expected ${expectType} (${r.cfa} ${r.ra})`);
      else if (expectType === CFA_TYPE.RSP || expectType === CFA_TYPE.RBP) {
        if (c.cfaOffset !== Number(r.cfa.slice(4))) bad.push(`${r.loc.toString(16)}: compiled offset ${c.cfaOffset} for ${r.cfa}`);
        const rbp = r.rbp === 'u' ? [RBP_TYPE.UNCHANGED, 0] : r.rbp === 'other' ? [RBP_TYPE.UNDEFINED, 0] : [RBP_TYPE.AT_CFA, Number(r.rbp.slice(1))];
        if (c.rbpType !== rbp[0] || c.rbpOffset !== rbp[1]) bad.push(`${r.loc.toString(16)}: compiled rbp ${c.rbpType}/${c.rbpOffset} for ${r.rbp}`);
      }
    }
  }
  t.ok(rows >= opts.minRows, `${rows} rows compared in ${sample.length} FDEs`);
  t.same(bad.slice(0, 10), [], `${bad.length} differences`);
  // Addresses no FDE covers: a NONE row (frame pointers), below the first: nothing.
  const sorted = [...cfi.fdes].sort((a, b) => a.start - b.start);
  t.equal(rowFor(table, sorted[0]!.start - 1), undefined, 'below the first FDE');
  t.equal(rowFor(table, sorted[sorted.length - 1]!.end)?.cfaType, CFA_TYPE.NONE, 'past the last FDE');
  const gap = sorted.findIndex((f, i) => i > 0 && f.start > sorted[i - 1]!.end);
  if (gap > 0) t.equal(rowFor(table, sorted[gap - 1]!.end)?.cfaType, CFA_TYPE.NONE, 'in a gap between FDEs');
  for (let i = 1; i < table.length; i++) if (table[i]!.pc <= table[i - 1]!.pc) return void t.fail(`rows not sorted at ${i}`);
}

for (const path of ['/bin/ls', '/lib/x86_64-linux-gnu/libc.so.6']) {
  t.test(`${path}: FDEs and rows as readelf interprets them`, { skip: existsSync(path) ? false : `${path} absent` }, async (t) => {
    const elf = ElfFile.open(path);
    t.teardown(() => elf.close());
    // Every FDE of ls; one in 7 of libc's.
    compareWithReadelf(t, path, '.eh_frame', readEhFrame(elf)!, { sampleEvery: path.includes('libc') ? 7 : 1, minRows: 500 });
  });
}

const buildDir = join(repoRoot, 'test/.build/eh-frame');
const fixture = (name: string): string => join(repoRoot, 'test/fixtures/profiler', name);

/**
 * A program built with -g and without unwind tables: its functions' CFI only in .debug_frame (the
 * C runtime's start files keep a small .eh_frame). GCC writes CIE version 1, clang version 4
 * (address and segment selector sizes), and with -gdwarf64 64-bit entries (all-ones 8-byte CIE ids).
 */
const DEBUG_FRAME_BUILDS = [
  { name: 'gcc-v1', cc: 'gcc', args: ['-O1', '-fno-omit-frame-pointer'], version: 1, dwarf64: false },
  { name: 'clang-v4', cc: 'clang-14', args: ['-O2', '-fomit-frame-pointer'], version: 4, dwarf64: false },
  { name: 'clang-v4-dwarf64', cc: 'clang-14', args: ['-O2', '-gdwarf64'], version: 4, dwarf64: true },
] as const;

function hasCommand(cmd: string): boolean {
  return spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
}

function buildDebugFrameProgram(b: (typeof DEBUG_FRAME_BUILDS)[number]): string {
  mkdirSync(buildDir, { recursive: true });
  const out = join(buildDir, `leaf-${b.name}`);
  execFileSync(b.cc, ['-g', ...b.args, '-fno-asynchronous-unwind-tables', '-fno-unwind-tables', '-o', out, fixture('leaf.c')]);
  return out;
}

for (const b of DEBUG_FRAME_BUILDS) {
  t.test(`.debug_frame by ${b.name}: FDEs and rows as readelf interprets them`, { skip: hasCommand(b.cc) ? false : `${b.cc} absent` }, async (t) => {
    const path = buildDebugFrameProgram(b);
    const elf = ElfFile.open(path);
    t.teardown(() => elf.close());
    const sec = elf.sectionData(elf.section('.debug_frame')!);
    // What the build was meant to write: the CIE's version byte after its length and id.
    const cieVersion = b.dwarf64 ? sec[4 + 8 + 8] : sec[4 + 4];
    t.equal(b.dwarf64 ? sec.readUInt32LE(0) : 0, b.dwarf64 ? 0xffffffff : 0, b.dwarf64 ? '64-bit DWARF entries' : '32-bit DWARF entries');
    t.equal(cieVersion, b.version, `CIE version ${b.version}`);
    const debug = readDebugFrame(elf)!;
    compareWithReadelf(t, path, '.debug_frame', debug, { sampleEvery: 1, minRows: 10 });
    const names = ['hot', 'caller', 'main'];
    const syms = elf.symbols('.symtab').filter((s) => names.includes(s.name));
    t.equal(syms.length, 3, 'hot, caller and main in the symbol table');
    for (const s of syms) t.ok(debug.fdes.some((f) => f.start <= s.value && s.value < f.end), `${s.name} has an FDE in .debug_frame`);
    const eh = readEhFrame(elf);
    t.notOk(eh?.fdes.some((f) => syms.some((s) => f.start <= s.value && s.value < f.end)), 'and none in .eh_frame');
  });
}

t.test('.eh_frame and .debug_frame compiled together: .eh_frame first, .debug_frame for the rest', { skip: hasCommand('gcc') ? false : 'gcc absent' }, async (t) => {
  const path = buildDebugFrameProgram(DEBUG_FRAME_BUILDS[0]);
  const elf = ElfFile.open(path);
  t.teardown(() => elf.close());
  const eh = cfiSectionOf(elf, 'eh_frame')!;
  const debug = cfiSectionOf(elf, 'debug_frame')!;
  const merged = mergeCfi([parseCfi(eh), parseCfi(debug)]);
  const whole = Buffer.concat(compileUnwindTable(merged)!.map((r) => encodeUnwindRow(r)));
  const streamed = compileCfi([eh, debug])!;
  t.ok(streamed.rows.equals(whole), `compileCfi = compileUnwindTable(mergeCfi): ${streamed.count} rows`);
  t.same(streamed.sectionFdes, [parseCfi(eh).fdes.length, parseCfi(debug).fdes.length], `FDEs per section: ${streamed.sectionFdes.join(', ')} (the sections cover different code)`);
  // hot() is frameless: its row says CFA = rsp + 8, the return address at CFA − 8 (in caller).
  const hot = elf.symbols('.symtab').find((s) => s.name === 'hot')!;
  t.same(rowFor(compileUnwindTable(merged)!, hot.value), { pc: hot.value, cfaType: CFA_TYPE.RSP, cfaOffset: 8, rbpType: RBP_TYPE.UNCHANGED, rbpOffset: 0 }, 'hot: rsp+8');
  // The same .debug_frame twice: the second adds nothing, every FDE of it overlaps the first's.
  const twice = compileCfi([debug, debug])!;
  const once = compileCfi([debug])!;
  t.ok(twice.rows.equals(once.rows), 'a later section never overrides an earlier one');
  t.equal(twice.overlapping, once.fdes, `${twice.overlapping} overlapping FDEs left out`);
  t.same(mergeCfi([parseCfi(debug), parseCfi(debug)]).fdes.length, once.fdes, 'mergeCfi leaves out the same');
});

t.test('.debug_frame truncated and corrupted: counted, never thrown', { skip: hasCommand('gcc') ? false : 'gcc absent' }, async (t) => {
  const elf = ElfFile.open(buildDebugFrameProgram(DEBUG_FRAME_BUILDS[0]));
  const data = elf.sectionData(elf.section('.debug_frame')!);
  elf.close();
  for (let n = 0; n < data.length; n++) {
    const cfi = parseDebugFrame(data.subarray(0, n));
    if (cfi.fdes.some((f) => f.end < f.start)) t.fail(`truncated at ${n}: bad FDE`);
  }
  for (let i = 0; i < data.length; i++) {
    const junk = Buffer.from(data);
    junk[i] = junk[i]! ^ 0xff;
    const a = compileCfi([{ kind: 'debug_frame', data: junk, addr: 0 }]);
    const b = compileUnwindTable(parseDebugFrame(junk));
    if ((a === null ? null : a.count) !== (b === null ? null : b.length)) t.fail(`byte ${i} flipped: ${a?.count} rows streamed, ${b?.length} whole`);
  }
  t.pass(`${data.length} truncations and ${data.length} flipped bytes`);
});

t.test('truncated and corrupted sections: counted, never thrown', async (t) => {
  const elf = ElfFile.open('/bin/ls');
  t.teardown(() => elf.close());
  const sec = elf.section('.eh_frame')!;
  const data = elf.sectionData(sec);
  for (let n = 0; n < Math.min(data.length, 2000); n += 3) {
    const eh = parseEhFrame(data.subarray(0, n), sec.addr);
    if (eh.fdes.some((f) => f.end < f.start)) t.fail(`truncated at ${n}: bad FDE`);
  }
  const junk = Buffer.from(data);
  for (let i = 8; i < junk.length; i += 97) junk[i] = junk[i]! ^ 0x5a;
  const eh = parseEhFrame(junk, sec.addr);
  t.ok(eh.fdes.length + eh.malformed + eh.unsupported > 0, `corrupted: ${eh.fdes.length} FDEs, ${eh.malformed} malformed, ${eh.unsupported} unsupported`);
  t.ok(compileUnwindTable(eh) !== undefined);
});

t.test('compileEhFrame (FDE by FDE, what the worker runs) = compileUnwindTable(parseEhFrame), byte for byte', async (t) => {
  for (const path of ['/bin/ls', '/lib/x86_64-linux-gnu/libc.so.6', process.execPath]) {
    const elf = ElfFile.open(path);
    const sec = elf.section('.eh_frame')!;
    const data = elf.sectionData(sec);
    const whole = Buffer.concat(compileUnwindTable(parseEhFrame(data, sec.addr))!.map((r) => encodeUnwindRow(r)));
    const streamed = compileEhFrame(data, sec.addr)!;
    t.equal(streamed.count * 12, whole.length, `${path}: ${streamed.count} rows, ${streamed.fdes} FDEs`);
    t.ok(streamed.rows.equals(whole), `${path}: same bytes`);
    t.notOk(isGoBinary(elf), `${path} is no Go binary`);
    elf.close();
  }
  const ls = ElfFile.open('/bin/ls');
  const junk = Buffer.from(ls.sectionData(ls.section('.eh_frame')!));
  ls.close();
  for (let i = 8; i < junk.length; i += 97) junk[i] = junk[i]! ^ 0x5a;
  const a = compileEhFrame(junk, 0x1000);
  const b = compileUnwindTable(parseEhFrame(junk, 0x1000));
  t.same(a === null ? null : a.count, b === null ? null : b.length, 'a corrupted section: the same rows too');
});

/**
 * Compiled tables of real binaries pinned by row count and sha256, as the compiler made them before
 * it was rewritten for speed (e10c42e: rows as objects, rules in Maps): a change that alters any
 * row of these shows here. Keyed by build id — on another machine, or after a package upgrade,
 * the binary differs and its case is skipped. The corrupted copy of ls's .eh_frame (every 97th byte
 * flipped) pins the handling of malformed and unsupported entries as well.
 */
const PINNED = [
  { path: '/bin/ls', buildId: '15dfff3239aa7c3b16a71e6b2e3b6e4009dab998', rows: 2534, sha256: 'b68e17766712fa31a734d8cb97e5b3b344756f8c51513941f0f0e5a7051efbc1',
    corrupted: { rows: 26, sha256: '6c9926c3bb10ffd9fdaf024d8efd1a5defad2f810cb26df82c24089f97f097c2', fdes: 10, malformed: 4, unsupported: 1 } },
  { path: '/lib/x86_64-linux-gnu/libc.so.6', buildId: '93ac61ec5a8eb1396f9fbd350e3169a558528a40', rows: 28274, sha256: '15a27fc6775aa8700663b8d6557ce92e8c4b11fd704ebe842498099737b9e011' },
  { path: '/usr/bin/node', buildId: 'ebeaf2df364d5eeb7096f0f7722a69eec6efdf3b', rows: 371971, sha256: '07b24141157a8b00b1494b96539c239f489da6ba8e4d9e1f5c708391ae4dfe58' },
  { path: '/usr/lib/x86_64-linux-gnu/libLLVM-14.so.1', buildId: 'c660b6b628d81741b1a629afce603ae3b9849f4e', rows: 948864, sha256: 'b61232bf8fe3cc71fd4e36782b3ae97e4b950edcc072069b35bc999e17aaeff4' },
];

for (const pin of PINNED) {
  const elf = existsSync(pin.path) ? ElfFile.open(pin.path) : undefined;
  const buildId = elf?.buildId();
  elf?.close();
  const skip = buildId === undefined ? `${pin.path} absent` : buildId !== pin.buildId ? `${pin.path} is another build (${buildId})` : false;
  t.test(`${pin.path}: the pinned table`, { skip }, async (t) => {
    const f = ElfFile.open(pin.path);
    const sec = cfiSectionOf(f, 'eh_frame')!;
    f.close();
    const table = compileCfi([sec])!;
    t.equal(table.count, pin.rows, 'rows');
    t.equal(createHash('sha256').update(table.rows).digest('hex'), pin.sha256, 'sha256');
    if (pin.corrupted === undefined) return;
    const junk = Buffer.from(sec.data);
    for (let i = 8; i < junk.length; i += 97) junk[i] = junk[i]! ^ 0x5a;
    const bad = compileCfi([{ ...sec, data: junk }])!;
    t.same({ rows: bad.count, sha256: createHash('sha256').update(bad.rows).digest('hex'), fdes: bad.fdes, malformed: bad.malformed, unsupported: bad.unsupported },
      pin.corrupted, 'corrupted: rows, sha256 and counts');
  });
}

t.test('withRule: a rule over [start, end) whatever the rows there, the rule in force before resumes at end', async (t) => {
  const row = (pc: number, cfaType: number, cfaOffset = 0): UnwindRow => ({ pc, cfaType, cfaOffset, rbpType: RBP_TYPE.UNCHANGED, rbpOffset: 0 });
  const table = (rows: UnwindRow[]): CompiledTable => {
    const buf = Buffer.alloc(rows.length * UNWIND_ROW_SIZE);
    rows.forEach((r, i) => encodeUnwindRow(r, buf, i * UNWIND_ROW_SIZE));
    return { rows: buf, count: rows.length, fdes: 1, sectionFdes: [1], overlapping: 0, malformed: 0, unsupported: 0 };
  };
  const decode = (c: CompiledTable): Array<[number, number, number]> => Array.from({ length: c.count }, (_, i) => {
    const at = i * UNWIND_ROW_SIZE;
    return [c.rows.readUInt32LE(at), c.rows.readUInt8(at + 10), c.rows.readInt32LE(at + 4)];
  });
  const rule = { cfaType: CFA_TYPE.RBP_SWITCH, cfaOffset: 16, rbpType: RBP_TYPE.AT_CFA, rbpOffset: -16 };
  const base = table([row(0x100, CFA_TYPE.RSP, 8), row(0x120, CFA_TYPE.RSP, 16), row(0x140, CFA_TYPE.NONE), row(0x200, CFA_TYPE.RSP, 8)]);
  t.same(decode(withRule(base, 0x150, 0x180, rule)), [[0x100, 1, 8], [0x120, 1, 16], [0x140, 0, 0], [0x150, 5, 16], [0x180, 0, 0], [0x200, 1, 8]], 'in a gap: NONE again after');
  t.same(decode(withRule(base, 0x110, 0x130, rule)), [[0x100, 1, 8], [0x110, 5, 16], [0x130, 1, 16], [0x140, 0, 0], [0x200, 1, 8]], 'over rows: the one in force at end resumes');
  t.same(decode(withRule(base, 0x10, 0x20, rule)), [[0x10, 5, 16], [0x20, 0, 0], [0x100, 1, 8], [0x120, 1, 16], [0x140, 0, 0], [0x200, 1, 8]], 'before every row');
  t.same(decode(withRule(base, 0x300, 0x340, rule)).slice(-3), [[0x200, 1, 8], [0x300, 5, 16], [0x340, 1, 8]], 'after every row');
  t.same(decode(withRule(base, 0x120, 0x140, rule)), [[0x100, 1, 8], [0x120, 5, 16], [0x140, 0, 0], [0x200, 1, 8]], 'on row boundaries');
  const r = withRule(base, 0x150, 0x180, rule);
  t.equal(r.rows.buffer.byteLength, r.rows.byteLength, 'its own buffer: transferable');
});
