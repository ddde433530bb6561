// Go function names from .gopclntab in a binary built with -ldflags='-s -w' (no .symtab, no
// DWARF): the same entries as the unstripped build's symbol table, found by section name or, with
// the section headers gone too, by scanning for the table; malformed tables are ElfErrors.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { ElfError, ElfFile } from '../../src/symbols/elf.js';
import { findGoFunction, goFunctions, parsePclntab } from '../../src/symbols/gopclntab.js';
import { SymbolTable, functionEntries } from '../../src/symbols/symbol-table.js';
import { XorShift32 } from '../helpers/prng.js';
import { buildGoPrograms } from './fixtures.js';

const go = buildGoPrograms();

t.test('a stripped Go binary keeps its function table', async (t) => {
  const elf = ElfFile.open(go.stripped);
  t.equal(elf.section('.symtab'), undefined, 'built with -s -w: no .symtab');
  t.ok(elf.section('.gopclntab'));
  const funcs = goFunctions(elf)!;
  t.ok(funcs.length > 1000, `${funcs.length} functions`);
  const hot = funcs.find((f) => f.name === 'main.hotLoop');
  t.ok(hot, 'main.hotLoop');
  t.ok(hot!.end > hot!.entry);
  const read = findGoFunction(elf, 'crypto/tls.(*Conn).Read');
  t.ok(read, 'crypto/tls.(*Conn).Read, as the Go TLS uprobes look it up');
  t.ok(findGoFunction(elf, 'crypto/tls.(*Conn).Write'));
  t.equal(findGoFunction(elf, 'no.such.function'), undefined);
  t.ok(elf.addressToOffset(read!.entry)! > 0, 'the entry translates to a file offset (for a uprobe)');
  for (let i = 1; i < funcs.length; i++) if (funcs[i]!.entry < funcs[i - 1]!.entry) t.fail('sorted by entry');
  elf.close();
});

t.test('entries agree with the unstripped build\'s .symtab', async (t) => {
  const full = ElfFile.open(go.full);
  const symtab = SymbolTable.fromEntries(functionEntries(full.symbols('.symtab'), full.sections));
  const fromTable = goFunctions(full)!;
  let same = 0;
  let compared = 0;
  for (const f of fromTable) {
    const hit = symtab.lookup(f.entry);
    if (!hit || hit.offset !== 0) continue;
    compared++;
    // The linker names assembly ABI wrappers `x.abi0` in .symtab only.
    if (hit.name === f.name || hit.name === `${f.name}.abi0`) same++;
  }
  t.ok(compared > 1000, `${compared} functions compared`);
  t.ok(same / compared > 0.98, `${same}/${compared} names agree`);
  const strippedHot = goFunctions(ElfFile.open(go.stripped))!.find((f) => f.name === 'main.hotLoop')!;
  t.equal(fromTable.find((f) => f.name === 'main.hotLoop')?.entry, full.symbols('.symtab').find((s) => s.name === 'main.hotLoop')?.value);
  t.ok(strippedHot.entry > 0);
  full.close();
});

t.test('without section headers the table is found by scanning for its magic', async (t) => {
  const buf = readFileSync(go.stripped);
  buf.writeBigUInt64LE(0n, 40); // e_shoff
  buf.writeUInt16LE(0, 60); // e_shnum
  buf.writeUInt16LE(0, 62); // e_shstrndx
  const elf = ElfFile.fromBuffer(buf);
  t.equal(elf.sections.length, 0);
  const scanned = goFunctions(elf)!;
  const normal = goFunctions(ElfFile.open(go.stripped))!;
  t.equal(scanned.length, normal.length);
  t.equal(scanned.find((f) => f.name === 'main.hotLoop')?.entry, normal.find((f) => f.name === 'main.hotLoop')?.entry, 'same addresses (text start from the entry point)');
});

/** A synthetic pclntab: header, names, functab, _func records, for the older layouts. */
function synthetic(magic: number, funcs: { name: string; entry: number }[], end: number): Buffer {
  const ptr = 8;
  const names = Buffer.concat(funcs.map((f) => Buffer.from(`${f.name}\0`)));
  const nameOffs: number[] = [];
  let o = 0;
  for (const f of funcs) {
    nameOffs.push(o);
    o += f.name.length + 1;
  }
  if (magic === 0xfffffffa) {
    // Go 1.16: nfunc, nfiles, funcnameOffset, cuOffset, filetabOffset, pctabOffset, pclnOffset.
    const headerLen = 8 + 7 * ptr;
    const namesOff = headerLen;
    const pclnOff = namesOff + names.length;
    const functabLen = (2 * funcs.length + 1) * ptr;
    const funcRecLen = ptr + 4 * 9;
    const buf = Buffer.alloc(pclnOff + functabLen + funcs.length * funcRecLen);
    buf.writeUInt32LE(magic, 0);
    buf[6] = 1;
    buf[7] = ptr;
    const words = [funcs.length, 0, namesOff, 0, 0, 0, pclnOff];
    words.forEach((w, i) => buf.writeBigUInt64LE(BigInt(w), 8 + i * ptr));
    names.copy(buf, namesOff);
    funcs.forEach((f, i) => {
      const rec = functabLen + i * funcRecLen;
      buf.writeBigUInt64LE(BigInt(f.entry), pclnOff + 2 * i * ptr);
      buf.writeBigUInt64LE(BigInt(rec), pclnOff + (2 * i + 1) * ptr);
      buf.writeBigUInt64LE(BigInt(f.entry), pclnOff + rec);
      buf.writeInt32LE(nameOffs[i]!, pclnOff + rec + ptr);
    });
    buf.writeBigUInt64LE(BigInt(end), pclnOff + 2 * funcs.length * ptr);
    return buf;
  }
  // Go 1.2: nfunc, then functab inline; funcoff and names relative to the table start.
  const functabOff = 8 + ptr;
  const functabLen = (2 * funcs.length + 1) * ptr + 4;
  const recsOff = functabOff + functabLen;
  const funcRecLen = ptr + 4 * 9;
  const namesOff = recsOff + funcs.length * funcRecLen;
  const buf = Buffer.alloc(namesOff + names.length);
  buf.writeUInt32LE(magic, 0);
  buf[6] = 1;
  buf[7] = ptr;
  buf.writeBigUInt64LE(BigInt(funcs.length), 8);
  funcs.forEach((f, i) => {
    const rec = recsOff + i * funcRecLen;
    buf.writeBigUInt64LE(BigInt(f.entry), functabOff + 2 * i * ptr);
    buf.writeBigUInt64LE(BigInt(rec), functabOff + (2 * i + 1) * ptr);
    buf.writeBigUInt64LE(BigInt(f.entry), rec);
    buf.writeInt32LE(namesOff + nameOffs[i]!, rec + ptr);
  });
  buf.writeBigUInt64LE(BigInt(end), functabOff + 2 * funcs.length * ptr);
  names.copy(buf, namesOff);
  return buf;
}

t.test('the Go 1.16 and Go 1.2 layouts', async (t) => {
  const funcs = [{ name: 'main.main', entry: 0x401000 }, { name: 'main.(*T).Method', entry: 0x401080 }];
  for (const magic of [0xfffffffa, 0xfffffffb]) {
    const parsed = parsePclntab(synthetic(magic, funcs, 0x401100));
    t.same(parsed, [
      { name: 'main.main', entry: 0x401000, end: 0x401080 },
      { name: 'main.(*T).Method', entry: 0x401080, end: 0x401100 },
    ], `magic 0x${magic.toString(16)}`);
  }
});

t.test('malformed tables are ElfErrors, never reads past the end', async (t) => {
  const elf = ElfFile.open(go.stripped);
  const table = elf.sectionData(elf.section('.gopclntab')!);
  const textStart = elf.section('.text')!.addr;
  t.throws(() => parsePclntab(table.subarray(0, 10)), ElfError);
  t.throws(() => parsePclntab(Buffer.alloc(64)), ElfError, 'no magic');
  const badPtr = Buffer.from(table.subarray(0, 64));
  badPtr[7] = 3;
  t.throws(() => parsePclntab(badPtr), ElfError, 'pointer size 3');
  const rng = new XorShift32(0x60c1a55);
  for (let i = 0; i < 300; i++) {
    const copy = Buffer.from(table.subarray(0, i % 3 === 0 ? rng.int(table.length) : table.length));
    for (let j = 0; j < 8; j++) copy[rng.int(Math.min(copy.length, 4096))] = rng.next() & 0xff;
    try {
      parsePclntab(copy, textStart);
    } catch (err) {
      if (!(err instanceof ElfError)) t.fail(`case ${i}: ${String(err)}`);
    }
  }
  t.pass('300 mutated tables');
  elf.close();
});
