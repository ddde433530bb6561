// Bad input never crashes: mutated and truncated ELF files (the C fixture, and the Go fixture's
// headers and function table) go through every path the symbolizer uses. The readers may only
// throw ElfError; the module layer counts and answers "unknown". Seeds are fixed so a failure
// names its case and replays.
import { readFileSync } from 'node:fs';
import t, { type Test } from 'tap';
import { ElfError, ElfFile } from '../../src/symbols/elf.js';
import { ElfModule } from '../../src/symbols/elf-module.js';
import { goFunctions } from '../../src/symbols/gopclntab.js';
import { xzDecompressor } from '../../src/symbols/minidebuginfo.js';
import { Counters } from '../../src/symbols/stats.js';
import { SymbolTable, functionEntries } from '../../src/symbols/symbol-table.js';
import { XorShift32 } from '../helpers/prng.js';
import { buildCProgram, buildGoPrograms } from './fixtures.js';

const prog = buildCProgram();
const cBytes = readFileSync(prog.full);
const miniBytes = readFileSync(prog.mini);
const goBytes = readFileSync(buildGoPrograms().stripped);

/** Everything the symbolizer asks of an ELF file. */
function exercise(buf: Buffer): void {
  const elf = ElfFile.fromBuffer(buf);
  elf.buildId();
  elf.debugLink();
  for (const s of elf.sections.slice(0, 64)) {
    try {
      elf.sectionData(s);
    } catch (err) {
      if (!(err instanceof ElfError)) throw err;
    }
  }
  const table = SymbolTable.fromEntries([...functionEntries(elf.symbols('.symtab'), elf.sections), ...functionEntries(elf.symbols('.dynsym'), elf.sections)]);
  table.lookup(0x1139);
  goFunctions(elf);
  elf.loadSegmentForOffset(0x1000);
  elf.addressToOffset(0x1000);
  // The symbolizer's own reader (raw entries into columns: elf-functions.ts, addGoFunctions): the
  // module counts what fails, and only ElfErrors may fail it.
  const counters = new Counters();
  ElfModule.fromBuffer(buf, 'fuzz', { debugRoots: [], xz: xzDecompressor({ xzPath: null }), counters }).functionAt(0x1139);
  if (counters.get('symbol_read_errors') > 0) throw new Error('the module\'s symbol read failed with something other than an ElfError');
}

/** A copy with a few bytes changed: anywhere, or in the headers where changes matter most. */
function mutate(rng: XorShift32, src: Buffer, headerBytes: number): Buffer {
  const buf = Buffer.from(src);
  const n = 1 + rng.int(12);
  for (let i = 0; i < n; i++) {
    const at = rng.chance(0.6) ? rng.int(Math.min(headerBytes, buf.length)) : rng.int(buf.length);
    buf[at] = rng.chance(0.3) ? rng.pick([0, 0xff, 0x7f, 0x80]) : rng.next() & 0xff;
  }
  return buf;
}

/** Section and program headers of `src` (the offsets mutations aim at). */
function headerRegions(src: Buffer): number[] {
  const shoff = Number(src.readBigUInt64LE(40));
  const shnum = src.readUInt16LE(60);
  const phoff = Number(src.readBigUInt64LE(32));
  const phnum = src.readUInt16LE(56);
  return [shoff, shoff + shnum * 64, phoff, phoff + phnum * 56];
}

/** Runs the readers over `buf`; anything but an ElfError fails the test `t`. */
function check(t: Test, label: string, buf: Buffer): void {
  try {
    exercise(buf);
  } catch (err) {
    if (!(err instanceof ElfError)) t.fail(`${label}: ${(err as Error).stack ?? String(err)}`);
  }
}

t.test('mutated C binaries: only ElfError', async (t) => {
  const rng = new XorShift32(0xe1f5eed);
  const [shStart, shEnd] = headerRegions(cBytes);
  const started = performance.now();
  for (let i = 0; i < 1500; i++) {
    let buf = mutate(rng, cBytes, 64);
    // Aim at the section header table a third of the time: hostile sizes, offsets, links.
    if (i % 3 === 0) for (let j = 0; j < 6; j++) buf[shStart! + rng.int(shEnd! - shStart!)] = rng.next() & 0xff;
    if (i % 5 === 0) buf = buf.subarray(0, rng.int(buf.length));
    check(t, `case ${i}`, buf);
  }
  t.ok(performance.now() - started < 20_000, 'no case hangs');
  t.pass('1500 cases');
});

t.test('truncated at every 97th byte: only ElfError', async (t) => {
  for (let len = 0; len < cBytes.length; len += 97) check(t, `length ${len}`, cBytes.subarray(0, len));
  t.pass('truncations');
});

t.test('hostile section headers: huge sizes, offsets past the end, self-referencing links', async (t) => {
  const [shStart] = headerRegions(cBytes);
  const shnum = cBytes.readUInt16LE(60);
  const rng = new XorShift32(0x5ec7);
  for (let i = 0; i < 400; i++) {
    const buf = Buffer.from(cBytes);
    const sh = shStart! + rng.int(shnum) * 64;
    const field = rng.pick([24, 32, 40, 56]); // offset, size, link (+info), entsize
    if (field === 40) buf.writeUInt32LE(rng.pick([0, 1, shnum - 1, shnum, 0xffffffff]), sh + field);
    else buf.writeBigUInt64LE(rng.pick([0n, 1n, 23n, 0xffffffffn, 0x7fffffffffffffffn, 0xffffffffffffffffn, BigInt(rng.next())]), sh + field);
    check(t, `case ${i}`, buf);
  }
  t.pass('400 cases');
});

t.test('mutated Go headers and function tables: only ElfError', async (t) => {
  const rng = new XorShift32(0x60f022);
  const elf = ElfFile.fromBuffer(goBytes);
  const pcln = elf.section('.gopclntab')!;
  const started = performance.now();
  for (let i = 0; i < 120; i++) {
    const buf = Buffer.from(goBytes);
    // The pclntab header and the start of its tables, where offsets and counts live.
    for (let j = 0; j < 1 + rng.int(6); j++) buf[pcln.offset + rng.int(Math.min(pcln.size, 4096))] = rng.next() & 0xff;
    if (i % 4 === 0) for (let j = 0; j < 4; j++) buf[rng.int(64)] = rng.next() & 0xff;
    check(t, `go case ${i}`, buf);
  }
  t.ok(performance.now() - started < 20_000, 'no case hangs');
  t.pass('120 cases');
});

t.test('the module layer never throws: errors are counted, frames stay unknown', async (t) => {
  const rng = new XorShift32(0x0dd5);
  const counters = new Counters();
  const ctx = { debugRoots: [], xz: xzDecompressor(), counters };
  let built = 0;
  for (let i = 0; i < 300; i++) {
    const src = i % 2 === 0 ? cBytes : miniBytes;
    const buf = mutate(rng, src, src.length);
    let mod: ElfModule;
    try {
      mod = ElfModule.fromBuffer(buf, `fuzz-${i}`, ctx);
    } catch (err) {
      if (!(err instanceof ElfError)) t.fail(`case ${i}: ${String(err)}`);
      continue;
    }
    built++;
    try {
      mod.functionAt(0x1139);
      mod.addressOfOffset(0x1139);
    } catch (err) {
      t.fail(`case ${i}: the module threw ${String(err)}`);
    }
  }
  t.ok(built > 100, `${built} modules built from mutated files`);
  t.ok((counters.get('elf_errors') + counters.get('symtab_used') + counters.get('minidebuginfo_used') + counters.get('no_symbols')) > 0, JSON.stringify(counters.snapshot()));
  t.equal(counters.get('symbol_read_errors'), 0, 'every failure was an ElfError');
});
