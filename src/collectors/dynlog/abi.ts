// Where a Go function's arguments are at its entry and its results at each RET, by Go's internal
// register ABI on amd64 (go.dev/src/cmd/compile/abi-internal.md): integer-class values take
// RAX, RBX, RCX, RDI, RSI, R8, R9, R10, R11 in order, floats X0–X14; a value is split into its
// parts (a string is pointer + length, a slice pointer + length + capacity, an interface two words,
// a struct its fields, an array of one its element); a value whose parts do not all fit in the
// registers left goes on the stack whole, after the ones before it, aligned. Results are assigned
// the same way from the first registers again. At entry (and at RET, once the frame is popped) the
// stack-assigned values start 8 bytes above SP, past the return address.
import { type GoType, goSizeOf } from '../../symbols/go-dwarf.js';

export const INT_REGISTERS = ['rax', 'rbx', 'rcx', 'rdi', 'rsi', 'r8', 'r9', 'r10', 'r11'] as const;
export type IntRegister = (typeof INT_REGISTERS)[number];
const FLOAT_REGISTERS = 15;
/**
 * Arrays and structs a value is nested in, as far as this: deeper, or inside itself (which only
 * damaged DWARF can say), it is taken as unassignable: on the stack, 8-aligned.
 */
const MAX_NESTING = 64;
const nested = (t: GoType, outer: readonly GoType[]): boolean => outer.length > MAX_NESTING || outer.includes(t);

/** One word of a value: in a register, in a float register (not readable from a uprobe), or at SP+offset. */
export type WordLocation = { reg: IntRegister } | { xmm: number } | { stack: number };

/** Where a value is: its words in order (a string: [pointer, length]), or all on the stack at once. */
export type ValueLocation = { words: WordLocation[] } | { stack: number };

export interface Assigned {
  name: string;
  type: GoType;
  location: ValueLocation;
}

/** Every argument (receiver first) and every result of a function with these parameter types. */
export function assignAbi(params: Array<{ name: string; type: GoType; result: boolean }>): { args: Assigned[]; results: Assigned[] } {
  let stack = 8; // the return address is at 0(SP)
  const assign = (list: typeof params): Assigned[] => {
    let ints = 0;
    let floats = 0;
    return list.map((p) => {
      const parts = registerParts(p.type);
      const needInts = parts?.filter((x) => x === 'int').length ?? 0;
      const needFloats = parts?.filter((x) => x === 'float').length ?? 0;
      if (parts !== null && ints + needInts <= INT_REGISTERS.length && floats + needFloats <= FLOAT_REGISTERS) {
        const words: WordLocation[] = parts.map((k) => (k === 'int' ? { reg: INT_REGISTERS[ints++] as IntRegister } : { xmm: floats++ }));
        return { name: p.name, type: p.type, location: { words } };
      }
      const align = alignOf(p.type);
      stack = Math.ceil(stack / align) * align;
      const at = stack;
      stack += goSizeOf(p.type);
      return { name: p.name, type: p.type, location: { stack: at } };
    });
  };
  const args = assign(params.filter((p) => !p.result));
  // Stack results follow the stack arguments, pointer-aligned.
  stack = Math.ceil(stack / 8) * 8;
  const results = assign(params.filter((p) => p.result));
  return { args, results };
}

/** The register classes of a value's parts, or null when it cannot go in registers (arrays of 2+). */
export function registerParts(t: GoType, outer: readonly GoType[] = []): Array<'int' | 'float'> | null {
  if (nested(t, outer)) return null;
  switch (t.kind) {
    case 'int': case 'bool': case 'pointer': case 'map': return ['int'];
    case 'float': return ['float'];
    case 'string': case 'interface': return ['int', 'int'];
    case 'slice': return ['int', 'int', 'int'];
    case 'opaque':
      // Complex numbers are two floats; chans, funcs and unsafe pointers one word.
      if (t.name.startsWith('complex')) return ['float', 'float'];
      return t.size === 0 ? [] : t.size <= 8 ? ['int'] : null;
    case 'array': {
      if (t.count === 0) return [];
      if (t.count > 1) return null;
      return registerParts(t.elem(), [...outer, t]);
    }
    case 'struct': {
      const out: Array<'int' | 'float'> = [];
      for (const f of t.fields) {
        const p = registerParts(f.type(), [...outer, t]);
        if (p === null) return null;
        out.push(...p);
      }
      return out;
    }
  }
}

function alignOf(t: GoType, outer: readonly GoType[] = []): number {
  if (nested(t, outer)) return 8;
  switch (t.kind) {
    case 'int': case 'float': return Math.max(1, Math.min(8, t.size));
    case 'bool': return 1;
    case 'array': return alignOf(t.elem(), [...outer, t]);
    case 'struct': return Math.max(1, ...t.fields.map((f) => alignOf(f.type(), [...outer, t])));
    case 'opaque': return Math.max(1, Math.min(8, t.size));
    default: return 8;
  }
}
