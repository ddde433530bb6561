// ELF function symbols from every source a binary may have: .symtab, a separate debug file found
// by build id or by .gnu_debuglink (CRC checked), MiniDebugInfo through xz, .dynsym alone; the
// table's lookup rules (size-0 symbols, aliases); a file replaced before its symbols are read; the
// module's column reader against the object-per-symbol reading on node, Go and C binaries.
import { copyFileSync, mkdirSync, mkdtempSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import t from 'tap';
import { debugFileCandidates } from '../../src/symbols/debug-file.js';
import { ElfError, ElfFile, type ElfSymbol, SHF_EXECINSTR, STT_FUNC } from '../../src/symbols/elf.js';
import { findSymbolsNamed } from '../../src/symbols/elf-functions.js';
import { ElfModule, type ModuleContext } from '../../src/symbols/elf-module.js';
import { findInPath, xzDecompressor } from '../../src/symbols/minidebuginfo.js';
import { Counters } from '../../src/symbols/stats.js';
import { findGoFunctions, goFunctions } from '../../src/symbols/gopclntab.js';
import { wholeBytes } from '../../src/symbols/section-window.js';
import { tableNames } from '../../src/symbols/string-table.js';
import { SourceColumns, SymbolTable, SymbolTableBuilder, functionEntries, type NameSource, type SymbolEntry } from '../../src/symbols/symbol-table.js';
import { buildCProgram, buildGoPrograms, debugRootByBuildId, nmAddress } from './fixtures.js';

const prog = buildCProgram();
const hot = nmAddress(prog.full, 'hot_function');
const helper = nmAddress(prog.full, 'helper_static');
const main = nmAddress(prog.full, 'main');

function context(debugRoots: string[] = [], xzPath?: string | null): ModuleContext {
  return { debugRoots, xz: xzDecompressor({ xzPath }), counters: new Counters() };
}

/** Opens `file` as a module the way the symbolizer does and names the function at `vaddr`. */
function nameAt(file: string, vaddr: number, ctx: ModuleContext, pathInProcess = file): string | undefined {
  const mod = ElfModule.open(file, pathInProcess, '', ElfModule.identityOf(file), ctx);
  try {
    return mod.functionAt(vaddr);
  } finally {
    mod.close();
  }
}

t.test('the environment has what these tests use', async (t) => {
  t.ok(findInPath('xz'), 'xz is installed (Debian xz-utils): MiniDebugInfo is decompressed through it');
  t.ok(findInPath('objcopy') && findInPath('gcc'), 'gcc and binutils build the fixtures');
});

t.test('.symtab: functions, sizes, aliases and lookups', async (t) => {
  const elf = ElfFile.open(prog.full);
  const entries = functionEntries(elf.symbols('.symtab'), elf.sections);
  const table = SymbolTable.fromEntries(entries);
  t.equal(table.lookup(hot)?.name, 'hot_function');
  t.equal(table.lookup(hot)?.offset, 0);
  t.equal(table.lookup(hot + 5)?.name, 'hot_function');
  t.equal(table.lookup(helper + 1)?.name, 'helper_static', 'static (local) functions come from .symtab');
  t.equal(table.lookup(main + 2)?.offset, 2);
  t.equal(table.lookup(0x10), undefined, 'below every function');
  t.equal(table.lookup(2 ** 40), undefined, 'far above every function');
  const sym = elf.symbols('.symtab').find((s) => s.name === 'hot_function')!;
  t.equal(sym.type, STT_FUNC);
  t.not(table.lookup(hot + sym.size)?.name, 'hot_function', 'the end is exclusive');
  elf.close();
});

t.test('SymbolTable: size-0 symbols reach the next symbol or their section end; aliases pick a sized global', async (t) => {
  const text = { index: 1, name: '.text', type: 1, flags: SHF_EXECINSTR, addr: 0x1000, offset: 0x1000, size: 0x100, link: 0, info: 0, entsize: 0 };
  const sections = [{ ...text, index: 0, name: '', flags: 0, addr: 0, size: 0 }, text];
  const sym = (name: string, value: number, size: number, bind = 1, type = STT_FUNC) => ({ name, value, size, type, bind, sectionIndex: 1 });
  const table = SymbolTable.fromEntries(functionEntries([
    sym('asm_entry', 0x1000, 0), // size 0: reaches sized_fn
    sym('sized_fn', 0x1040, 0x10),
    sym('__alias_local', 0x1080, 0x20, 0),
    sym('alias', 0x1080, 0x20, 1),
    sym('alias_nosize', 0x1080, 0, 1),
    sym('tail', 0x10c0, 0), // size 0, last: reaches the end of .text (0x1100)
    sym('data_like', 0x10f0, 4, 1, 1), // STT_OBJECT: not a function
    { name: 'untyped_sized', value: 0x10a0, size: 8, type: 0, bind: 1, sectionIndex: 1 },
  ], sections));
  t.equal(table.lookup(0x103f)?.name, 'asm_entry');
  t.equal(table.lookup(0x1045)?.name, 'sized_fn');
  t.equal(table.lookup(0x1050), undefined, 'the gap after a sized function is not attributed');
  t.equal(table.lookup(0x1090)?.name, 'alias', 'a global sized alias wins over local and size-0 ones');
  t.equal(table.lookup(0x10a4)?.name, 'untyped_sized', 'a sized untyped symbol in an executable section counts');
  t.equal(table.lookup(0x10fc)?.name, 'tail');
  t.equal(table.lookup(0x1100), undefined, 'a size-0 symbol stops at its section end');
  t.ok(table.byteEstimate() > 0);
  t.same([...table.entries()].map((e) => e.name), ['asm_entry', 'sized_fn', 'alias', 'untyped_sized', 'tail']);
});

t.test('a stripped binary has only .dynsym: its debug file is found by build id', async (t) => {
  const strippedElf = ElfFile.open(prog.stripped);
  t.equal(strippedElf.section('.symtab'), undefined, 'the fixture really is stripped');
  t.equal(strippedElf.buildId(), prog.buildId);
  strippedElf.close();

  const ctx = context([debugRootByBuildId(prog)]);
  // A path in a directory without the debuglink target: only the build-id path can match.
  t.equal(nameAt(prog.stripped, hot + 3, ctx, '/nonexistent/prog'), 'hot_function');
  t.equal(ctx.counters.get('debug_file_found'), 1);
  t.equal(ctx.counters.get('missing_debug_file'), 0);

  const none = context([mkdtempSync(join(tmpdir(), 'lantern-empty-root-'))]);
  t.equal(nameAt(prog.bare, hot + 3, none), undefined, 'no debug file: the local function stays unnamed');
  t.equal(none.counters.get('missing_debug_file'), 1);
  t.equal(none.counters.get('no_symbols'), 1, 'a PIE executable exports nothing in .dynsym');
});

t.test('.gnu_debuglink: beside the binary, in .debug/, under a debug root; the CRC must match', async (t) => {
  // Beside the binary (prog.debug is in the same directory as prog.stripped).
  const beside = context([]);
  t.equal(nameAt(prog.stripped, helper, beside), 'helper_static');
  t.equal(beside.counters.get('debug_file_found'), 1);

  // <dir>/.debug/<name>
  const dir2 = mkdtempSync(join(tmpdir(), 'lantern-debuglink-'));
  mkdirSync(join(dir2, '.debug'));
  copyFileSync(prog.stripped, join(dir2, 'app'));
  copyFileSync(prog.debugFile, join(dir2, '.debug', 'prog.debug'));
  t.equal(nameAt(join(dir2, 'app'), hot, context([])), 'hot_function');

  // <root>/<dir>/<name>
  const dir3 = mkdtempSync(join(tmpdir(), 'lantern-debuglink-'));
  copyFileSync(prog.stripped, join(dir3, 'app'));
  const root = mkdtempSync(join(tmpdir(), 'lantern-debugroot-'));
  mkdirSync(join(root, dir3), { recursive: true });
  copyFileSync(prog.debugFile, join(root, dir3, 'prog.debug'));
  t.equal(nameAt(join(dir3, 'app'), hot, context([root])), 'hot_function');

  // A file of the right name with other contents: the CRC32 recorded in the binary does not match.
  const dir4 = mkdtempSync(join(tmpdir(), 'lantern-debuglink-'));
  copyFileSync(prog.stripped, join(dir4, 'app'));
  copyFileSync(prog.full, join(dir4, 'prog.debug'));
  const wrong = context([]);
  t.equal(nameAt(join(dir4, 'app'), hot, wrong), undefined);
  t.equal(wrong.counters.get('debug_file_mismatch'), 1);
  t.equal(wrong.counters.get('missing_debug_file'), 1);
});

t.test('debug file candidates follow GDB and stay inside the roots', async (t) => {
  t.same(debugFileCandidates('/usr/bin/app', 'abcdef12', 'app.debug', ['/usr/lib/debug'], '/proc/42/root').map((c) => c.path), [
    '/usr/lib/debug/.build-id/ab/cdef12.debug',
    '/proc/42/root/usr/lib/debug/.build-id/ab/cdef12.debug',
    '/proc/42/root/usr/bin/app.debug',
    '/proc/42/root/usr/bin/.debug/app.debug',
    '/usr/lib/debug/usr/bin/app.debug',
    '/proc/42/root/usr/lib/debug/usr/bin/app.debug',
  ]);
  t.same(debugFileCandidates('/usr/bin/app', undefined, '../../etc/passwd', ['/usr/lib/debug']), [], 'a debuglink naming a path is ignored');
  t.same(debugFileCandidates('/usr/bin/app', 'zz', undefined, ['/d']), [], 'a build id that is not hex is ignored');
});

t.test('MiniDebugInfo: .gnu_debugdata through xz, counted; without xz a counted fallback', async (t) => {
  const ctx = context([]);
  t.equal(nameAt(prog.mini, helper + 1, ctx), 'helper_static');
  t.equal(ctx.counters.get('minidebuginfo_used'), 1);
  t.equal(ctx.counters.get('missing_debug_file'), 1, 'it is looked for first');

  const noXz = context([], null);
  t.equal(nameAt(prog.mini, helper + 1, noXz), undefined);
  t.equal(noXz.counters.get('minidebuginfo_unavailable'), 1);

  // A section that is not xz is an ELF error, not a crash.
  const bogus = join(prog.dir, 'prog.bogus-mini');
  const garbage = join(prog.dir, 'garbage.bin');
  writeFileSync(garbage, Buffer.from('not xz at all'));
  const { execFileSync } = await import('node:child_process');
  execFileSync('objcopy', [`--add-section=.gnu_debugdata=${garbage}`, prog.bare, bogus]);
  const bad = context([]);
  t.equal(nameAt(bogus, hot, bad), undefined);
  t.equal(bad.counters.get('elf_errors'), 1);

  // xz that cannot keep up with its bound fails cleanly.
  const tiny = xzDecompressor({ maxOutputBytes: 16 });
  const compressed = execFileSync('xz', ['--stdout'], { input: Buffer.alloc(100_000) });
  t.throws(() => tiny.decompress(compressed), { name: 'ElfError' });
});

t.test('a file replaced before its symbols are read: a counted ELF error, no crash', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-replaced-'));
  const file = join(dir, basename(prog.full));
  copyFileSync(prog.full, file);
  const ctx = context([]);
  const mod = ElfModule.open(file, file, '', ElfModule.identityOf(file), ctx);
  // Overwritten in place (same inode) while "mapped": the symbol table now points past the end.
  truncateSync(file, 4096);
  t.equal(mod.functionAt(hot), undefined);
  t.equal(ctx.counters.get('elf_errors'), 1);
  t.equal(ctx.counters.get('no_symbols'), 1);
  t.equal(mod.addressOfOffset(0x1000), 0x1000, 'the segments read at open still translate offsets');
  mod.close();
  t.equal(dirname(file), dir);
});

/**
 * SymbolTable.fromEntries as it was built before the column builder, one object per entry: the
 * oracle the module's streaming reader (elf-functions.ts, addGoFunctions, SymbolTableBuilder) is
 * checked against. At one address the first entry wins; a size-0 one stops at the next start.
 */
function referenceTable(entries: readonly SymbolEntry[]): SymbolEntry[] {
  const sorted = entries.map((e, i) => ({ e, i }))
    .filter(({ e }) => Number.isFinite(e.start) && e.start >= 0 && e.end > e.start)
    .sort((a, b) => a.e.start - b.e.start || a.i - b.i);
  const kept: SymbolEntry[] = [];
  for (const { e } of sorted) if (kept.at(-1)?.start !== e.start) kept.push(e);
  return kept.map((e, i) => ({ name: e.name, start: e.start, end: e.open ? Math.min(e.end, kept[i + 1]?.start ?? Infinity, e.start + (16 << 20)) : e.end }));
}

t.test('the module\'s table, read without an object per symbol, equals the object-per-symbol reading', async (t) => {
  const go = buildGoPrograms();
  const cases: Array<{ file: string; source: string }> = [
    { file: prog.full, source: 'symtab_used' },
    { file: process.execPath, source: 'symtab_used' }, // node: 190k symbols in .symtab + .dynsym here
    { file: go.full, source: 'symtab_used' },
    { file: go.stripped, source: 'gopclntab_used' },
  ];
  for (const { file, source } of cases) {
    const elf = ElfFile.open(file);
    const dynamic = functionEntries(elf.symbols('.dynsym'), elf.sections);
    const own = functionEntries(elf.symbols('.symtab'), elf.sections);
    if (source === 'symtab_used' && own.length === 0) {
      t.comment(`${file}: stripped on this machine, skipped`);
      elf.close();
      continue;
    }
    const primary = own.length > 0 ? own : goFunctions(elf)!.map((f): SymbolEntry => ({ name: f.name, start: f.entry, end: f.end }));
    const want = referenceTable([...primary, ...dynamic]);
    elf.close();
    const ctx = context([]);
    const mod = ElfModule.open(file, file, '', ElfModule.identityOf(file), ctx);
    const got = [...mod.symbols().entries()];
    mod.close();
    t.equal(ctx.counters.get(source), 1, `${file}: ${source}`);
    t.equal(got.length, want.length, `${file}: ${want.length} functions`);
    let differences = 0;
    for (let i = 0; i < want.length; i++) {
      const a = got[i];
      const b = want[i]!;
      if (a?.name !== b.name || a.start !== b.start || a.end !== b.end) {
        if (differences++ < 3) t.comment(`${file} #${i}: got ${JSON.stringify(a)}, want ${JSON.stringify(b)}`);
      }
    }
    t.equal(differences, 0, `${file}: every entry the same`);
  }
});

t.test('symbols looked up by name, a window at a time, are the ones the object-per-symbol reading finds', async (t) => {
  const go = buildGoPrograms();
  const cases = [
    { file: process.execPath, table: '.dynsym', names: ['SSL_read', 'SSL_write_ex', 'SSL_free', 'napi_create_buffer'] },
    { file: prog.full, table: '.symtab', names: ['hot_function', 'helper_static', 'main'] },
    { file: go.full, table: '.symtab', names: ['main.main', 'runtime.newproc1', 'go:itab.*os.File,io.Writer'] },
  ] as const;
  for (const { file, table, names } of cases) {
    const elf = ElfFile.open(file);
    const wanted = [...names, 'no such symbol'];
    const want = new Map<string, ElfSymbol>();
    for (const s of elf.symbols(table)) if (wanted.includes(s.name) && s.sectionIndex !== 0 && s.value !== 0) want.set(s.name, s);
    const got = findSymbolsNamed(elf, table, wanted);
    if (want.size === 0) t.comment(`${file}: no ${table} on this machine`);
    t.same([...got.entries()].sort(), [...want.entries()].sort(), `${file} ${table}: ${[...want.keys()].join(', ')}`);
    t.same(findSymbolsNamed(elf, table, wanted, (s) => s.type === STT_FUNC).size, [...want.values()].filter((s) => s.type === STT_FUNC).length, `${file}: accept filters`);
    elf.close();
  }
  for (const file of [go.full, go.stripped]) {
    const elf = ElfFile.open(file);
    const names = ['crypto/tls.(*Conn).Read', 'runtime.newproc1', 'main.main', 'no such function'];
    const want = goFunctions(elf)!.filter((f) => names.includes(f.name));
    t.same([...findGoFunctions(elf, names).values()].sort((a, b) => a.entry - b.entry), want, `${file}: .gopclntab by name`);
    elf.close();
  }
});

t.test('SymbolTableBuilder: sources in order of preference, aliases by rank, names read only for what is kept', async (t) => {
  const strings = Buffer.from('\0dyn_name\0own_name\0own_alias\0');
  const asked: number[][] = [];
  const names = (buf: Buffer): NameSource => {
    const inner = tableNames(wholeBytes(buf));
    return { names: (refs) => (asked.push([...refs]), inner.names(refs)) };
  };
  const b = new SymbolTableBuilder();
  const own = new SourceColumns();
  own.push(0x1000, 0x1010, false, 5, 19); // own_alias, worse rank
  own.push(0x1000, 0x1010, false, 1, 10); // own_name
  t.equal(b.addSource(own, names(strings)), 1);
  t.ok(b.covers(0x1000));
  const failing = new SourceColumns();
  failing.push(0x3000, 0x3010, false, 0, 1);
  t.throws(() => b.addSource(failing, { names: () => { throw new ElfError('bad table'); } }), { name: 'ElfError' });
  const dyn = new SourceColumns();
  dyn.push(0x1000, 0x1010, false, 0, 1); // dyn_name: a later source loses at 0x1000, even at rank 0
  dyn.push(0x2000, 0x2000, false, 0, 1); // an empty range: dropped
  dyn.push(0x2000, 0x2010, true, 0, 10); // size 0: reaches its end, nothing follows
  t.equal(b.addSource(dyn, names(strings)), 1);
  t.same(asked, [[10], [10]], 'names are read only for the entries kept');
  const table = b.build();
  t.same([...table.entries()], [{ name: 'own_name', start: 0x1000, end: 0x1010 }, { name: 'own_name', start: 0x2000, end: 0x2010 }]);
  t.equal(table.lookup(0x3004), undefined, 'the source that failed left nothing');
  t.equal(table.byteEstimate(), 64 + 2 * 25 + 2 * 'own_name'.length, 'charged for its columns and name bytes');
  const long = SymbolTable.fromEntries([{ name: '€'.repeat(30_000), start: 1, end: 2 }]);
  t.equal(Buffer.byteLength(long.nameAt(0)), 65_535, 'a name past 64 KiB is cut on a character boundary');
});
