// From "what to log" to capture plans: an expression such as `req.User.Name` names an argument
// (or, with --returns, each result) and a chain of fields; with the ABI's locations (abi.ts) and the
// DWARF types (go-dwarf.ts) it becomes the operands the generic BPF program reads (a register or a
// stack slot, pointers followed with field offsets, bytes to keep) and the decoder that turns the
// captured bytes back into a typed value. Pure: no BPF, no process.
import { type GoType, goSizeOf } from '../../symbols/go-dwarf.js';
import { type Assigned, INT_REGISTERS, type WordLocation, registerParts } from './abi.js';

export const MAX_CAPTURES = 8;
export const MAX_DEREFS = 4;
export const MAX_BOUND = 512;
/** Operand base for the stack pointer (bpf/include/dynlog.h DL_SP). */
export const BASE_SP = INT_REGISTERS.length;

/** A word, as bpf/include/dynlog.h's dl_operand evaluates it. */
export interface Operand {
  base: number;
  derefs: number[];
  /** The memory at the address (value + off), not the value itself. */
  mem: boolean;
  off: number;
}

export type Capture =
  | { kind: 'scalar'; size: number; bound: number; a: Operand }
  | { kind: 'bytes'; elemSize: number; bound: number; a: Operand; b: Operand };

/** How one logged value is captured (its captures, in order) and shown. */
export interface ValuePlan {
  /** `lantern.arg.<expr>` or `lantern.return.<n>`. */
  attribute: string;
  type: GoType;
  captures: Capture[];
  /** What the value is when its captures come back: see decode.ts. */
  shape: Shape;
}

export type Shape =
  | { kind: 'int'; size: number; signed: boolean }
  | { kind: 'bool' }
  | { kind: 'float'; size: number }
  | { kind: 'pointer' }
  | { kind: 'string' }
  | { kind: 'slice'; elem: Shape | null; elemSize: number; elemName: string }
  | { kind: 'array'; elem: Shape | null; elemSize: number; count: number }
  | { kind: 'struct'; fields: Array<{ name: string; offset: number; shape: Shape | null; size: number }> }
  | { kind: 'map' }
  | { kind: 'interface'; empty: boolean }
  /** A string or slice header inside a captured struct: its length word (the data is not followed). */
  | { kind: 'length'; of: string };

export class PlanError extends Error {}

type Place =
  | { kind: 'words'; words: WordLocation[]; type: GoType }
  | { kind: 'mem'; base: number; derefs: number[]; off: number; type: GoType };

/** The value an argument or result holds, where the ABI put it. */
export function placeOf(a: Assigned): Place {
  return 'words' in a.location ? { kind: 'words', words: a.location.words, type: a.type } : { kind: 'mem', base: BASE_SP, derefs: [], off: a.location.stack, type: a.type };
}

/**
 * `req.User.Name` over the function's arguments: the argument, then fields, following pointers the
 * way Go's selector does. Errors name what was wrong (unknown argument, no such field, too deep).
 */
export function compileExpression(expr: string, args: Assigned[], bound: number): ValuePlan {
  const [root, ...fields] = expr.split('.');
  const arg = args.find((a) => a.name === root);
  if (arg === undefined) throw new PlanError(`${expr}: no argument named ${root} (arguments: ${args.map((a) => a.name).join(', ') || 'none'})`);
  let place = placeOf(arg);
  let path = root as string;
  for (const f of fields) {
    place = selectField(place, f, path);
    path = `${path}.${f}`;
  }
  return planValue(`lantern.arg.${expr}`, place, bound);
}

/** A whole argument or result. */
export function planAssigned(attribute: string, a: Assigned, bound: number): ValuePlan {
  return planValue(attribute, placeOf(a), bound);
}

function selectField(place: Place, name: string, path: string): Place {
  let p = place;
  let t = p.type;
  if (t.kind === 'pointer') {
    p = deref(p, path);
    t = p.type;
  }
  if (t.kind !== 'struct') throw new PlanError(`${path}.${name}: ${path} is a ${t.name || t.kind}, which has no fields`);
  const field = t.fields.find((f) => f.name === name);
  if (field === undefined) {
    throw new PlanError(`${path}.${name}: ${t.name} has no field ${name} (fields: ${t.fields.map((f) => f.name).join(', ')})`);
  }
  const ft = field.type();
  if (p.kind === 'mem') return { kind: 'mem', base: p.base, derefs: p.derefs, off: p.off + field.offset, type: ft };
  // A struct in registers: the field's words are its share of the struct's parts.
  let first = 0;
  for (const f of t.fields) {
    if (f === field) break;
    first += registerParts(f.type())?.length ?? 0;
  }
  const n = registerParts(ft)?.length ?? 0;
  return { kind: 'words', words: p.words.slice(first, first + n), type: ft };
}

/** The pointee of a pointer-valued place: memory at the pointer's value. */
function deref(place: Place, path: string): Place {
  const t = place.type;
  if (t.kind !== 'pointer') throw new PlanError(`${path} is not a pointer`);
  const ptr = wordOperand(place, 0, path);
  const elem = t.elem();
  if (!ptr.mem) return { kind: 'mem', base: ptr.base, derefs: [], off: 0, type: elem };
  const derefs = [...ptr.derefs, ptr.off];
  if (derefs.length > MAX_DEREFS) throw new PlanError(`${path}: more than ${MAX_DEREFS} pointers to follow`);
  return { kind: 'mem', base: ptr.base, derefs, off: 0, type: elem };
}

/** Word `i` of a value (a string's length is word 1) as an operand. */
function wordOperand(place: Place, i: number, path: string): Operand {
  if (place.kind === 'mem') return { base: place.base, derefs: place.derefs, mem: true, off: place.off + 8 * i };
  const w = place.words[i];
  if (w === undefined) throw new PlanError(`${path}: no word ${i} in its registers`);
  if ('reg' in w) return { base: INT_REGISTERS.indexOf(w.reg), derefs: [], mem: false, off: 0 };
  if ('stack' in w) return { base: BASE_SP, derefs: [], mem: true, off: w.stack };
  throw new PlanError(`${path}: in floating-point register X${w.xmm}, which uprobes cannot read`);
}

function planValue(attribute: string, place: Place, bound: number): ValuePlan {
  const t = place.type;
  const at = attribute.replace(/^lantern\.(arg|return)\./, '');
  const scalar = (size: number): Capture => ({ kind: 'scalar', size, bound, a: wordOperand(place, 0, at) });
  switch (t.kind) {
    case 'int': return { attribute, type: t, captures: [scalar(t.size)], shape: { kind: 'int', size: t.size, signed: t.signed } };
    case 'bool': return { attribute, type: t, captures: [scalar(1)], shape: { kind: 'bool' } };
    case 'float': return { attribute, type: t, captures: [scalar(t.size)], shape: { kind: 'float', size: t.size } };
    case 'string':
      return { attribute, type: t, captures: [{ kind: 'bytes', elemSize: 1, bound, a: wordOperand(place, 0, at), b: wordOperand(place, 1, at) }], shape: { kind: 'string' } };
    case 'slice': {
      const elem = t.elem();
      const elemShape = scalarShape(elem);
      // Elements that are themselves pointers to data (strings, slices…) are not followed: their length is.
      const bytes = elemShape !== null ? bound : 0;
      return { attribute, type: t, captures: [{ kind: 'bytes', elemSize: goSizeOf(elem), bound: bytes, a: wordOperand(place, 0, at), b: wordOperand(place, 1, at) }],
        shape: { kind: 'slice', elem: elemShape, elemSize: goSizeOf(elem), elemName: elem.name } };
    }
    case 'map': {
      // The header's first word is the element count (hmap.count, and maps.Map.used since Go 1.24).
      const m = deref({ ...place, type: { kind: 'pointer', name: t.name, elem: () => ({ kind: 'int', name: 'int', size: 8, signed: true }) } }, at);
      return { attribute, type: t, captures: [{ kind: 'scalar', size: 8, bound, a: wordOperand(m, 0, at) }], shape: { kind: 'map' } };
    }
    case 'interface': {
      // {itab or type, data}: the dynamic type from the first word; for the error types that wrap a
      // message (errors.errorString, fmt.wrapError: a string first), the message through the second.
      const data = wordOperand(place, 1, at);
      const msg: Place = data.mem ? { kind: 'mem', base: data.base, derefs: [...data.derefs, data.off], off: 0, type: t } : { kind: 'mem', base: data.base, derefs: [], off: 0, type: t };
      if (msg.kind === 'mem' && msg.derefs.length > MAX_DEREFS) throw new PlanError(`${at}: more than ${MAX_DEREFS} pointers to follow`);
      return {
        attribute, type: t,
        captures: [scalar(8), { kind: 'bytes', elemSize: 1, bound, a: wordOperand(msg, 0, at), b: wordOperand(msg, 1, at) }],
        shape: { kind: 'interface', empty: t.empty },
      };
    }
    case 'pointer': {
      // A pointer to a struct shows the struct (one level): what users mean by logging `req`.
      const elem = t.elem();
      if (elem.kind === 'struct') {
        const s = deref(place, at);
        return { attribute, type: t, captures: [{ kind: 'scalar', size: Math.min(elem.size, bound), bound, a: wordOperand(s, 0, at) }], shape: structShape(elem) };
      }
      return { attribute, type: t, captures: [scalar(8)], shape: { kind: 'pointer' } };
    }
    case 'struct':
      if (place.kind !== 'mem') throw new PlanError(`${at}: a ${t.name} passed in registers: name one of its fields (${t.fields.map((f) => `${at}.${f.name}`).join(', ')})`);
      return { attribute, type: t, captures: [{ kind: 'scalar', size: Math.min(t.size, bound), bound, a: wordOperand(place, 0, at) }], shape: structShape(t) };
    case 'array': {
      if (place.kind !== 'mem') throw new PlanError(`${at}: an array passed in registers cannot be read whole`);
      const elem = t.elem();
      return { attribute, type: t, captures: [{ kind: 'scalar', size: Math.min(t.size, bound), bound, a: wordOperand(place, 0, at) }],
        shape: { kind: 'array', elem: scalarShape(elem), elemSize: goSizeOf(elem), count: t.count } };
    }
    case 'opaque':
      throw new PlanError(`${at}: values of type ${t.name} are not captured`);
  }
}

/** The shape of a type stored inline in memory, when it is a plain scalar. */
function scalarShape(t: GoType): Shape | null {
  if (t.kind === 'int') return { kind: 'int', size: t.size, signed: t.signed };
  if (t.kind === 'bool') return { kind: 'bool' };
  if (t.kind === 'float') return { kind: 'float', size: t.size };
  if (t.kind === 'pointer' || t.kind === 'map') return { kind: 'pointer' };
  return null;
}

function structShape(t: Extract<GoType, { kind: 'struct' }>): Shape {
  return {
    kind: 'struct',
    fields: t.fields.map((f) => {
      const ft = f.type();
      // Strings and slices inline in the struct: their length word (8 bytes in) is there to show.
      if (ft.kind === 'string' || ft.kind === 'slice') return { name: f.name, offset: f.offset + 8, shape: { kind: 'length', of: ft.name } as Shape, size: 8 };
      return { name: f.name, offset: f.offset, shape: scalarShape(ft), size: goSizeOf(ft) };
    }),
  };
}

/** Captures in plan order, refusing plans the BPF program cannot hold. */
export function checkCaptureCount(values: ValuePlan[]): void {
  const n = values.reduce((a, v) => a + v.captures.length, 0);
  if (n > MAX_CAPTURES) throw new PlanError(`${n} captures needed (${values.map((v) => v.attribute).join(', ')}), at most ${MAX_CAPTURES} per probe: name fewer values`);
}
