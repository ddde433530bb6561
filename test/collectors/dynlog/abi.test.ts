// assignAbi against Go's internal register ABI on amd64 (go.dev/src/cmd/compile/abi-internal.md,
// "Function call argument and result passing" and "amd64 architecture"): integer-class words in
// RAX, RBX, RCX, RDI, RSI, R8, R9, R10, R11; floats in X0–X14; a value that does not fit in the
// registers left, or holds an array of 2+ elements, goes on the stack whole (and the registers it
// did not take stay free for the next value); results start again from RAX. Then the same rules
// against the real binary: the operands analyzeFunction plans for the Go test program.
import t from 'tap';
import { type Assigned, INT_REGISTERS, type IntRegister, assignAbi } from '../../../src/collectors/dynlog/abi.js';
import { analyzeFunction } from '../../../src/collectors/dynlog/analyze.js';
import { BASE_SP, type Capture, type Operand } from '../../../src/collectors/dynlog/plan.js';
import type { GoType } from '../../../src/symbols/go-dwarf.js';
import { buildGoFixture } from '../../helpers/go-build.js';
import { BOOL, ERROR, F32, F64, INT, STRING, array, int, params, ptr, slice, struct } from './helpers.js';

const regs = (...names: IntRegister[]): Assigned['location'] => ({ words: names.map((reg) => ({ reg })) });
const where = (list: Assigned[]): Record<string, Assigned['location']> => Object.fromEntries(list.map((a) => [a.name, a.location]));
const ints = (n: number): Array<[string, GoType]> => Array.from({ length: n }, (_, i) => [`a${i}`, INT]);

t.test('integers and pointers take the nine registers in order; the tenth goes to 8(SP)', async (t) => {
  const mixed = ints(10).map(([name, ty], i): [string, GoType] => [name, i % 2 === 1 ? ptr(() => ty) : ty]);
  const { args, results } = assignAbi(params(mixed, [INT]));
  t.same(args.slice(0, 9).map((a) => a.location), INT_REGISTERS.map((r) => regs(r)));
  t.same(args[9]!.location, { stack: 8 }, 'just past the return address');
  t.same(where(results), { '~r0': regs('rax') }, 'results start again from RAX');
});

t.test('strings and interfaces are two words, slices three, structs field by field', async (t) => {
  const point = struct('main.Point', 24, [['X', 0, INT], ['Tag', 8, STRING]]);
  const { args, results } = assignAbi(params([['s', STRING], ['xs', slice(INT)], ['err', ERROR], ['p', point]], [STRING, ERROR]));
  t.same(where(args), {
    s: regs('rax', 'rbx'), xs: regs('rcx', 'rdi', 'rsi'), err: regs('r8', 'r9'),
    // X, Tag.ptr, Tag.len need three registers; two are left: the whole struct on the stack.
    p: { stack: 8 },
  });
  t.same(where(results), { '~r0': regs('rax', 'rbx'), '~r1': regs('rcx', 'rdi') });

  const small = struct('main.Pair', 16, [['A', 0, INT], ['B', 8, ptr(() => INT)]]);
  t.same(where(assignAbi(params([['p', small], ['n', INT]])).args), { p: regs('rax', 'rbx'), n: regs('rcx') });
});

t.test('a value that does not fit goes on the stack whole; the registers it left are used by the next', async (t) => {
  const pair = struct('main.Pair', 16, [['A', 0, INT], ['B', 8, INT]]);
  const { args } = assignAbi(params([...ints(8), ['p', pair], ['s', STRING], ['n', INT]]));
  t.same(where(args).p, { stack: 8 }, 'needs two registers, one is left');
  t.same(where(args).s, { stack: 24 }, 'also two words: after the struct');
  t.same(where(args).n, regs('r11'), 'fits in the register the others could not use');
});

t.test('arrays: [1]T as T, [0]T takes nothing, [N>1]T always on the stack', async (t) => {
  const { args } = assignAbi(params([['one', array(INT, 1, 8)], ['none', array(INT, 0, 8)], ['three', array(BOOL, 3, 1)], ['n', INT]]));
  t.same(where(args), { one: regs('rax'), none: { words: [] }, three: { stack: 8 }, n: regs('rbx') });
});

t.test('the spec example: f(a1 uint8, a2 [2]uintptr, a3 uint8) (r1 struct{x uintptr; y [2]uintptr}, r2 string)', async (t) => {
  const uintptr = int('uintptr', 8, false);
  const r1 = struct('struct { x uintptr; y [2]uintptr }', 24, [['x', 0, uintptr], ['y', 8, array(uintptr, 2, 8)]]);
  const { args, results } = assignAbi(params([['a1', int('uint8', 1, false)], ['a2', array(uintptr, 2, 8)], ['a3', int('uint8', 1, false)]], [r1, STRING]));
  t.same(where(args), { a1: regs('rax'), a2: { stack: 8 }, a3: regs('rbx') });
  t.same(where(results), { '~r0': { stack: 24 }, '~r1': regs('rax', 'rbx') }, 'stack results follow the stack arguments');
});

t.test('stack slots are aligned to their type; results start pointer-aligned', async (t) => {
  const { args, results } = assignAbi(params([...ints(9), ['b', BOOL], ['i32', int('int32', 4, true)], ['i16', int('int16', 2, true)], ['i64', INT]], [...ints(9).map(([, ty]) => ty), BOOL, BOOL]));
  t.match(where(args), { b: { stack: 8 }, i32: { stack: 12 }, i16: { stack: 16 }, i64: { stack: 24 } });
  t.same(results.slice(9).map((r) => r.location), [{ stack: 32 }, { stack: 33 }], 'after the arguments, from a pointer boundary');
});

t.test('floats take X0… separately from the integer registers; complex numbers two of them', async (t) => {
  const complex = { kind: 'opaque', name: 'complex128', size: 16 } as const;
  const { args, results } = assignAbi(params([['x', F64], ['n', INT], ['y', F32], ['c', complex]], [F64, INT]));
  t.same(where(args), { x: { words: [{ xmm: 0 }] }, n: regs('rax'), y: { words: [{ xmm: 1 }] }, c: { words: [{ xmm: 2 }, { xmm: 3 }] } });
  t.same(where(results), { '~r0': { words: [{ xmm: 0 }] }, '~r1': regs('rax') });

  const many = assignAbi(params(Array.from({ length: 16 }, (_, i): [string, GoType] => [`f${i}`, F64]))).args;
  t.same(many[14]!.location, { words: [{ xmm: 14 }] }, 'X14 is the last');
  t.same(many[15]!.location, { stack: 8 });
});

t.test('a value containing itself (only damaged DWARF says so) goes on the stack, without recursing for ever', async (t) => {
  const loop: GoType = { kind: 'array', name: '[3]loop', size: 3, count: 3, elem: () => loop };
  const one: GoType = { kind: 'array', name: '[1]one', size: 8, count: 1, elem: () => one };
  const twice: GoType = struct('main.Twice', 16, [['A', 0, () => twice], ['B', 8, () => twice]]);
  const { args } = assignAbi(params([['loop', loop], ['one', one], ['twice', twice], ['n', INT]]));
  t.same(where(args), { loop: { stack: 8 }, one: { stack: 16 }, twice: { stack: 24 }, n: regs('rax') });
});

// The fixture's functions (test/fixtures/dynlog-target/main.go) as analyzeFunction plans them.
const binary = buildGoFixture('dynlog-target');
const R = (name: IntRegister): number => INT_REGISTERS.indexOf(name);
const reg = (name: IntRegister): Operand => ({ base: R(name), derefs: [], mem: false, off: 0 });
/** The memory a register points at (`off` bytes in). */
const at = (name: IntRegister, off = 0): Operand => ({ base: R(name), derefs: [], mem: true, off });
const operands = (cs: Capture[]): Operand[] => cs.flatMap((c) => (c.kind === 'bytes' ? [c.a, c.b] : [c.a]));

const REAL: Record<string, { args: Record<string, Operand[]>; results: Operand[][] }> = {
  'main.Add': { args: { a: [reg('rax')], b: [reg('rbx')] }, results: [[reg('rax')]] },
  'main.Greet': { args: { name: [reg('rax'), reg('rbx')], loud: [reg('rcx')] }, results: [[reg('rax'), reg('rbx')]] },
  // Pointers to structs show the struct: the memory they point at. error: itab in RBX, data in RCX
  // (its message read through the data pointer, errors.errorString{s string}).
  'main.(*Server).Login': {
    args: { s: [at('rax')], req: [at('rbx')], limit: [reg('rcx')] },
    results: [[reg('rax')], [reg('rbx'), at('rcx', 0), at('rcx', 8)]],
  },
  'main.Parse': { args: { text: [reg('rax'), reg('rbx')] }, results: [[reg('rax')], [reg('rbx'), at('rcx', 0), at('rcx', 8)]] },
  // The map's count is its header's first word; [3]bool is a non-trivial array: 8(SP).
  'main.Counts': { args: { m: [at('rax')], flags: [{ base: BASE_SP, derefs: [], mem: true, off: 8 }] }, results: [[reg('rax')]] },
};

for (const [fn, want] of Object.entries(REAL)) {
  t.test(`${fn} in the built program`, async (t) => {
    const probe = analyzeFunction(binary, fn, { returns: true, bound: 64 });
    t.same(Object.fromEntries(probe.entry.map((v) => [v.attribute.replace('lantern.arg.', ''), operands(v.captures)])), want.args);
    t.same(probe.returns.map((v) => operands(v.captures)), want.results);
  });
}

t.test('main.(*Server).Login: the DWARF signature through assignAbi', async (t) => {
  const probe = analyzeFunction(binary, 'main.(*Server).Login', { returns: false, bound: 64 });
  const { args, results } = assignAbi(probe.signature.params);
  t.same(where(args), { s: regs('rax'), req: regs('rbx'), limit: regs('rcx') });
  t.same(where(results), { '~r0': regs('rax'), '~r1': regs('rbx', 'rcx') });
  t.equal(args[1]!.type.name, '*main.Request');
});
