// Expressions to capture plans over hand-built signatures (abi.ts places the arguments): pointers
// followed as operand derefs with field offsets, fields of structs held in registers, refusals that
// name what is wrong; then the plan as the bytes of bpf/include/dynlog.h struct dl_plan, with the
// offsets checked against the header compiled by the C compiler.
import t, { type Test } from 'tap';
import { assignAbi } from '../../../src/collectors/dynlog/abi.js';
import { CAPTURE_BYTES, OPERAND_BYTES, PLAN_BYTES, encodePlan } from '../../../src/collectors/dynlog/layout.js';
import { BASE_SP, MAX_CAPTURES, type Operand, PlanError, checkCaptureCount, compileExpression, planAssigned } from '../../../src/collectors/dynlog/plan.js';
import type { GoType } from '../../../src/symbols/go-dwarf.js';
import { BOOL, ERROR, F64, INT, REQUEST, STRING, dynlogHeaderLayout, params, ptr, slice, struct } from './helpers.js';

const SERVER = struct('main.Server', 8, [['hits', 0, INT]]);
const login = assignAbi(params([['s', ptr(() => SERVER)], ['req', ptr(() => REQUEST)], ['limit', INT]], [BOOL, ERROR]));
/** `f` throws a PlanError with exactly `message`. */
function refuses(t: Test, f: () => unknown, message: string): void {
  try {
    f();
    t.fail(`no error, expected: ${message}`);
  } catch (e) {
    t.ok(e instanceof PlanError, 'a PlanError');
    t.equal((e as Error).message, message);
  }
}

const op = (base: number, derefs: number[], mem: boolean, off: number): Operand => ({ base, derefs, mem, off });

t.test('req.User.Name: the pointer in RBX, then User at 8, then the string header', async (t) => {
  const p = compileExpression('req.User.Name', login.args, 64);
  t.equal(p.attribute, 'lantern.arg.req.User.Name');
  t.same(p.shape, { kind: 'string' });
  t.same(p.captures, [{ kind: 'bytes', elemSize: 1, bound: 64, a: op(1, [8], true, 0), b: op(1, [8], true, 8) }]);
  t.same(compileExpression('req.User.Age', login.args, 64).captures, [{ kind: 'scalar', size: 8, bound: 64, a: op(1, [8], true, 16) }]);
  t.same(compileExpression('req.ID', login.args, 64).captures, [{ kind: 'scalar', size: 4, bound: 64, a: op(1, [], true, 0) }]);
});

t.test('the same path from a pointer passed on the stack: one more load', async (t) => {
  const args = assignAbi(params([...Array.from({ length: 9 }, (_, i): [string, GoType] => [`n${i}`, INT]), ['req', ptr(() => REQUEST)]])).args;
  t.same(compileExpression('req.User.Name', args, 32).captures, [{ kind: 'bytes', elemSize: 1, bound: 32, a: op(BASE_SP, [8, 8], true, 0), b: op(BASE_SP, [8, 8], true, 8) }]);
});

t.test('slices: ints kept up to the bound, strings by their length only', async (t) => {
  const tags = compileExpression('req.Tags', login.args, 64);
  t.same(tags.captures, [{ kind: 'bytes', elemSize: 16, bound: 0, a: op(1, [], true, 16), b: op(1, [], true, 24) }]);
  t.same(tags.shape, { kind: 'slice', elem: null, elemSize: 16, elemName: 'string' });
  const xs = compileExpression('xs', assignAbi(params([['xs', slice(INT)]])).args, 64);
  t.same(xs.captures, [{ kind: 'bytes', elemSize: 8, bound: 64, a: op(0, [], false, 0), b: op(1, [], false, 0) }]);
});

t.test('a whole *Request: its struct bytes, strings and slices inside by their length word', async (t) => {
  const p = compileExpression('req', login.args, 64);
  t.same(p.captures, [{ kind: 'scalar', size: 40, bound: 64, a: op(1, [], true, 0) }]);
  t.same(p.shape, { kind: 'struct', fields: [
    { name: 'ID', offset: 0, shape: { kind: 'int', size: 4, signed: false }, size: 4 },
    { name: 'User', offset: 8, shape: { kind: 'pointer' }, size: 8 },
    { name: 'Tags', offset: 24, shape: { kind: 'length', of: '[]string' }, size: 8 },
  ] });
  t.match(compileExpression('req', login.args, 16).captures, [{ kind: 'scalar', size: 16 }], 'at most the bound');
});

t.test('results: an error is its itab word, then its message through the data word', async (t) => {
  const [ok, err] = login.results;
  t.same(planAssigned('lantern.return.0', ok!, 64).captures, [{ kind: 'scalar', size: 1, bound: 64, a: op(0, [], false, 0) }]);
  const e = planAssigned('lantern.return.1', err!, 64);
  t.same(e.shape, { kind: 'interface', empty: false });
  t.same(e.captures, [
    { kind: 'scalar', size: 8, bound: 64, a: op(1, [], false, 0) },
    { kind: 'bytes', elemSize: 1, bound: 64, a: op(2, [], true, 0), b: op(2, [], true, 8) },
  ]);
  // A map: the count in its header's first word.
  const m = planAssigned('lantern.arg.m', assignAbi(params([['m', { kind: 'map', name: 'map[string]int' }]])).args[0]!, 64);
  t.same(m.captures, [{ kind: 'scalar', size: 8, bound: 64, a: op(0, [], true, 0) }]);
});

t.test('a field of a struct passed in registers is its share of the registers', async (t) => {
  const point = struct('main.Point', 40, [['X', 0, INT], ['Y', 8, F64], ['Name', 16, STRING], ['Ok', 32, BOOL]]);
  const args = assignAbi(params([['n', INT], ['p', point]])).args;
  // n: RAX; p: X → RBX, Y → X0, Name → RCX, RDI, Ok → RSI.
  t.same(compileExpression('p.X', args, 64).captures, [{ kind: 'scalar', size: 8, bound: 64, a: op(1, [], false, 0) }]);
  t.same(compileExpression('p.Name', args, 64).captures, [{ kind: 'bytes', elemSize: 1, bound: 64, a: op(2, [], false, 0), b: op(3, [], false, 0) }]);
  t.same(compileExpression('p.Ok', args, 64).captures, [{ kind: 'scalar', size: 1, bound: 64, a: op(4, [], false, 0) }]);
  refuses(t, () => compileExpression('p.Y', args, 64), 'p.Y: in floating-point register X0, which uprobes cannot read');
  refuses(t, () => compileExpression('p', args, 64), 'p: a main.Point passed in registers: name one of its fields (p.X, p.Y, p.Name, p.Ok)');
});

t.test('refusals say what is wrong', async (t) => {
  refuses(t, () => compileExpression('rq.User', login.args, 64), 'rq.User: no argument named rq (arguments: s, req, limit)');
  refuses(t, () => compileExpression('x', [], 64), 'x: no argument named x (arguments: none)');
  refuses(t, () => compileExpression('req.User.Nme', login.args, 64), 'req.User.Nme: main.User has no field Nme (fields: Name, Age)');
  refuses(t, () => compileExpression('limit.Max', login.args, 64), 'limit.Max: limit is a int, which has no fields');
  refuses(t, () => compileExpression('req.User.Name.Len', login.args, 64), 'req.User.Name.Len: req.User.Name is a string, which has no fields');
  refuses(t, () => compileExpression('x', assignAbi(params([['x', F64]])).args, 64), 'x: in floating-point register X0, which uprobes cannot read');
});

t.test('at most four pointers followed', async (t) => {
  const node: GoType = struct('main.Node', 16, [['Next', 0, () => ptr(() => node)], ['V', 8, INT]]);
  const args = assignAbi(params([['n', ptr(() => node)]])).args;
  t.same(compileExpression('n.Next.Next.Next.Next.V', args, 64).captures, [{ kind: 'scalar', size: 8, bound: 64, a: op(0, [0, 0, 0, 0], true, 8) }]);
  refuses(t, () => compileExpression('n.Next.Next.Next.Next.Next.V', args, 64), 'n.Next.Next.Next.Next.Next: more than 4 pointers to follow');
});

t.test('captures per probe are bounded', async (t) => {
  const errs = assignAbi(params([], [ERROR, ERROR, ERROR, ERROR, ERROR])).results.map((r, i) => planAssigned(`lantern.return.${i}`, r, 64));
  // Four errors take eight registers; the fifth is on the stack: its itab at 8(SP), its message through 16(SP).
  t.same(errs[4]!.captures, [
    { kind: 'scalar', size: 8, bound: 64, a: op(BASE_SP, [], true, 8) },
    { kind: 'bytes', elemSize: 1, bound: 64, a: op(BASE_SP, [16], true, 0), b: op(BASE_SP, [16], true, 8) },
  ]);
  t.doesNotThrow(() => checkCaptureCount(errs.slice(0, 4)), `${MAX_CAPTURES} captures fit`);
  refuses(t, () => checkCaptureCount(errs),
    '10 captures needed (lantern.return.0, lantern.return.1, lantern.return.2, lantern.return.3, lantern.return.4), at most 8 per probe: name fewer values');
});

// struct dl_plan { u32 probe_id; u8 is_return; u8 ncaptures; u16 pad; u32 goid_offset; u32 pad2; struct dl_capture captures[8]; }
const C = dynlogHeaderLayout({
  plan: 'sizeof(struct dl_plan)', probeId: 'offsetof(struct dl_plan, probe_id)', isReturn: 'offsetof(struct dl_plan, is_return)',
  ncaptures: 'offsetof(struct dl_plan, ncaptures)', goidOffset: 'offsetof(struct dl_plan, goid_offset)', captures: 'offsetof(struct dl_plan, captures)',
  capture: 'sizeof(struct dl_capture)', kind: 'offsetof(struct dl_capture, kind)', size: 'offsetof(struct dl_capture, size)',
  bound: 'offsetof(struct dl_capture, bound)', a: 'offsetof(struct dl_capture, a)', b: 'offsetof(struct dl_capture, b)',
  operand: 'sizeof(struct dl_operand)', base: 'offsetof(struct dl_operand, base)', nderef: 'offsetof(struct dl_operand, nderef)',
  mem: 'offsetof(struct dl_operand, mem)', off: 'offsetof(struct dl_operand, off)', derefs: 'offsetof(struct dl_operand, derefs)',
  maxCaptures: 'DL_MAX_CAPTURES', sp: 'DL_SP',
});

t.test('dl_plan: the sizes and offsets layout.ts writes are the C compiler\'s', async (t) => {
  t.same(C, {
    plan: 528, probeId: 0, isReturn: 4, ncaptures: 5, goidOffset: 8, captures: 16,
    capture: 64, kind: 0, size: 4, bound: 8, a: 16, b: 40,
    operand: 24, base: 0, nderef: 1, mem: 2, off: 4, derefs: 8,
    maxCaptures: MAX_CAPTURES, sp: BASE_SP,
  });
  t.equal(PLAN_BYTES, C.plan);
  t.equal(CAPTURE_BYTES, C.capture);
  t.equal(OPERAND_BYTES, C.operand);
});

t.test('encodePlan writes every field where dl_plan has it', async (t) => {
  const name = compileExpression('req.User.Name', login.args, 200).captures[0]!;
  const stackOp = op(BASE_SP, [16, -8, 24], true, -4);
  const b = encodePlan({ probeId: 0x01020304, isReturn: true, goidOffset: 152, captures: [{ kind: 'scalar', size: 3, bound: 64, a: stackOp }, name] });
  t.equal(b.length, 528);
  t.equal(b.readUInt32LE(C.probeId!), 0x01020304);
  t.equal(b[C.isReturn!], 1);
  t.equal(b[C.ncaptures!], 2);
  t.equal(b.readUInt32LE(C.goidOffset!), 152);
  const capture = (i: number): number => C.captures! + i * C.capture!;
  const operand = (at: number): Operand => {
    const n = b[at + C.nderef!]!;
    return { base: b[at + C.base!]!, derefs: Array.from({ length: n }, (_, j) => b.readInt32LE(at + C.derefs! + 4 * j)), mem: b[at + C.mem!] === 1, off: b.readInt32LE(at + C.off!) };
  };
  // Capture 0: DL_SCALAR of 3 bytes from 8(SP) through three loads, a negative offset kept signed.
  t.same([b[capture(0) + C.kind!], b.readUInt32LE(capture(0) + C.size!), b.readUInt32LE(capture(0) + C.bound!)], [1, 3, 64]);
  t.same(operand(capture(0) + C.a!), stackOp);
  t.ok(b.subarray(capture(0) + C.b!, capture(0) + C.b! + C.operand!).every((x) => x === 0), 'a scalar leaves operand b zero');
  // Capture 1: DL_BYTES of 1-byte elements, bound 200: pointer and length through req → User.
  t.same([b[capture(1) + C.kind!], b.readUInt32LE(capture(1) + C.size!), b.readUInt32LE(capture(1) + C.bound!)], [2, 1, 200]);
  t.same(operand(capture(1) + C.a!), op(1, [8], true, 0));
  t.same(operand(capture(1) + C.b!), op(1, [8], true, 8));
  t.ok(b.subarray(capture(2)).every((x) => x === 0), 'unused captures stay zero');
});
