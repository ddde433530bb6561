// GoDwarf on the Go test program (test/fixtures/dynlog-target, default optimisation): signatures
// in declaration order with the receiver first and results marked, types resolved to their Go
// shapes with the compiler's field offsets; functions inlined everywhere or absent told apart. Then
// analyzeFunction's refusals, each saying what is wrong and what would work.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { type AnalyzeOptions, DynlogError, type DynlogRefusal, analyzeFunction } from '../../src/collectors/dynlog/analyze.js';
import { DwarfInfo } from '../../src/symbols/dwarf.js';
import { ElfFile } from '../../src/symbols/elf.js';
import { type GoFunctionSignature, type GoParam, type GoType, GoDwarf } from '../../src/symbols/go-dwarf.js';
import { buildGoFixture } from '../helpers/go-build.js';

const binary = buildGoFixture('dynlog-target');
const elf = ElfFile.open(binary);
t.teardown(() => elf.close());
const go = new GoDwarf(DwarfInfo.fromElf(elf)!);
const symbols = new Map(elf.symbols('.symtab').map((s) => [s.name, s]));

function signature(name: string): GoFunctionSignature {
  const s = go.signature(name);
  if ('missing' in s) throw new Error(`${name}: ${s.missing}`);
  return s;
}

/** A type as plain data, `depth` levels into pointers, slices, arrays and struct fields; below that, by name. */
function plain(ty: GoType, depth = 1): unknown {
  const t = ty as GoType & { elem?: () => GoType };
  const base: Record<string, unknown> = { ...t };
  delete base.elem;
  if (t.elem !== undefined) base.elem = depth > 0 ? plain(t.elem(), depth - 1) : t.elem().name;
  if (t.kind === 'struct') base.fields = t.fields.map((f) => ({ name: f.name, offset: f.offset, type: depth > 0 ? plain(f.type(), depth - 1) : f.type().name }));
  return base;
}
const params = (ps: GoParam[]): unknown[] => ps.map((p) => ({ name: p.name, result: p.result, type: plain(p.type, 0) }));

t.test('main.Add(a int, b int64) int64', async (t) => {
  const s = signature('main.Add');
  t.same(params(s.params), [
    { name: 'a', result: false, type: { kind: 'int', name: 'int', size: 8, signed: true } },
    { name: 'b', result: false, type: { kind: 'int', name: 'int64', size: 8, signed: true } },
    { name: '~r0', result: true, type: { kind: 'int', name: 'int64', size: 8, signed: true } },
  ]);
  const sym = symbols.get('main.Add')!;
  t.same([s.lowPc, s.highPc], [sym.value, sym.value + sym.size], 'the code range is the symbol\'s');
});

t.test('main.(*Server).Login: receiver first, the request\'s fields at the compiler\'s offsets, results bool and error', async (t) => {
  const s = signature('main.(*Server).Login');
  t.same(s.params.map((p) => [p.name, p.type.name, p.result]), [
    ['s', '*main.Server', false], ['req', '*main.Request', false], ['limit', 'int', false], ['~r0', 'bool', true], ['~r1', 'error', true],
  ]);
  const [recv, req, , ok, err] = s.params.map((p) => p.type);
  t.same(plain(recv!), { kind: 'pointer', name: '*main.Server', elem: { kind: 'struct', name: 'main.Server', size: 8, fields: [{ name: 'hits', offset: 0, type: 'int' }] } });
  t.same(plain(req!, 3), {
    kind: 'pointer', name: '*main.Request',
    elem: { kind: 'struct', name: 'main.Request', size: 40, fields: [
      { name: 'ID', offset: 0, type: { kind: 'int', name: 'uint32', size: 4, signed: false } },
      { name: 'User', offset: 8, type: { kind: 'pointer', name: '*main.User', elem: {
        kind: 'struct', name: 'main.User', size: 24, fields: [{ name: 'Name', offset: 0, type: 'string' }, { name: 'Age', offset: 16, type: 'int' }] } } },
      { name: 'Tags', offset: 16, type: { kind: 'slice', name: '[]string', elem: { kind: 'string', name: 'string' } } },
    ] },
  });
  t.same(plain(ok!), { kind: 'bool', name: 'bool' });
  t.same(plain(err!), { kind: 'interface', name: 'error', empty: false });
});

t.test('main.Counts(m map[string]int, flags [3]bool); main.Sum(xs []int); main.Greet(name string, loud bool)', async (t) => {
  t.same(params(signature('main.Counts').params), [
    { name: 'm', result: false, type: { kind: 'map', name: 'map[string]int' } },
    { name: 'flags', result: false, type: { kind: 'array', name: '[3]bool', size: 3, count: 3, elem: 'bool' } },
    { name: '~r0', result: true, type: { kind: 'int', name: 'int', size: 8, signed: true } },
  ]);
  t.same(plain(signature('main.Sum').params[0]!.type), { kind: 'slice', name: '[]int', elem: { kind: 'int', name: 'int', size: 8, signed: true } });
  t.same(signature('main.Greet').params.map((p) => [p.name, p.type.kind, p.result]), [['name', 'string', false], ['loud', 'bool', false], ['~r0', 'string', true]]);
});

t.test('a function inlined into every caller, and one that is not there', async (t) => {
  t.same(go.signature('main.inlinedOnly'), { missing: 'inlined' });
  t.same(go.signature('main.NoSuchFunction'), { missing: 'absent' });
  const names = go.functionNames();
  t.ok(names.includes('main.(*Server).Login') && names.includes('main.main'), 'the names suggestions are drawn from');
});

const OPTS: AnalyzeOptions = { returns: false, bound: 64 };
/** The DynlogError analyzeFunction refuses with. */
function refusal(file: string, fn: string, o: AnalyzeOptions = OPTS): DynlogError | undefined {
  try {
    analyzeFunction(file, fn, o);
  } catch (e) {
    if (e instanceof DynlogError) return e;
    throw e;
  }
  return undefined;
}
function refuses(t: Test, file: string, fn: string, reason: DynlogRefusal, message: RegExp, o?: AnalyzeOptions): void {
  const e = refusal(file, fn, o);
  t.equal(e?.reason, reason, `${fn}: refused as ${reason}`);
  t.match(e?.message, message);
}

t.test('refusals', async (t) => {
  refuses(t, binary, 'main.inlinedOnly', 'inlined', /main\.inlinedOnly is inlined into every caller.*add \/\/go:noinline, or log its caller/);
  refuses(t, binary, 'main.Lgin', 'not-found', /^main\.Lgin is not a function of .*dynlog-target.* \(did you mean main\.\(\*Server\)\.Login[,?]/);
  refuses(t, binary, 'main.NoSuchFunction', 'not-found', /^main\.NoSuchFunction is not a function of \S+$/);
  refuses(t, binary, 'main.(*Server).Login', 'bad-expression', /^main\.\(\*Server\)\.Login: req\.User\.Nme: main\.User has no field Nme \(fields: Name, Age\)$/, { ...OPTS, args: ['req.User.Nme'] });

  refuses(t, buildGoFixture('dynlog-target', { ldflags: '-w' }), 'main.Add', 'no-dwarf', /has no DWARF \(built with -ldflags=-w or stripped\).*Function-level tracing of Go TLS and protocols still works; rebuild without -w/);
  refuses(t, '/bin/ls', 'main', 'not-go', /^\/bin\/ls is not a Go program.*for other programs, write a bpftrace script \(lantern bpftrace\)$/);
  const dir = mkdtempSync(join(tmpdir(), 'lantern-go-dwarf-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'notes.txt'), 'not a program at all\n'.repeat(10));
  refuses(t, join(dir, 'notes.txt'), 'main.Add', 'not-elf', /notes\.txt is not an ELF executable: not an ELF file$/);
});

t.test('a probe of the built program: version, offsets, error type names', async (t) => {
  const probe = analyzeFunction(binary, 'main.Parse', { returns: true, bound: 64 });
  const goVersion = execFileSync('/usr/local/go/bin/go', ['env', 'GOVERSION'], { encoding: 'utf8' }).trim();
  t.equal(probe.goVersion, goVersion);
  const sym = symbols.get('main.Parse')!;
  t.equal(probe.entryOffset, elf.addressToOffset(sym.value), 'entry at the function\'s first byte in the file');
  t.ok(probe.returnOffsets.length >= 2 && probe.returnOffsets.every((o) => o > probe.entryOffset && o < probe.entryOffset + sym.size), `${probe.returnOffsets.length} RETs inside the function`);
  const itab = (name: string): bigint => BigInt(symbols.get(`go:itab.${name},error`)!.value);
  t.equal(probe.typeNames.get(itab('*errors.errorString')), '*errors.errorString');
  t.equal(probe.typeNames.get(itab('*fmt.wrapError')), '*fmt.wrapError');
});
