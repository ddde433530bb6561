// A Go function's signature and types from its DWARF, as dynamic logging needs them: the formal
// parameters in order (receiver first), which of them are results (DW_AT_variable_parameter), and
// each type resolved to its Go shape (reflect kind from DW_AT_go_kind, sizes, struct fields with
// offsets, slice element types). Locations are not read from DWARF: Go's register ABI decides them
// from the types alone (src/collectors/dynlog/abi.ts), which also holds in optimised code where the
// location lists start after the prologue.
import {
  DW_AT_byte_size, DW_AT_count, DW_AT_data_member_location, DW_AT_encoding, DW_AT_go_elem, DW_AT_go_kind, DW_AT_name,
  DW_AT_type, DW_AT_upper_bound, DW_AT_variable_parameter, DW_TAG_array_type, DW_TAG_base_type, DW_TAG_formal_parameter,
  DW_TAG_member, DW_TAG_pointer_type, DW_TAG_structure_type, DW_TAG_subrange_type, DW_TAG_typedef,
} from './dwarf-constants.js';
import type { DwarfDie, DwarfInfo } from './dwarf.js';

/** reflect.Kind values (Go's runtime/type.go), as DW_AT_go_kind carries them. */
const KIND = { Bool: 1, Int: 2, Int64: 6, Uint: 7, Uintptr: 12, Float32: 13, Float64: 14, Complex64: 15, Complex128: 16, Array: 17,
  Chan: 18, Func: 19, Interface: 20, Map: 21, Pointer: 22, Slice: 23, String: 24, Struct: 25, UnsafePointer: 26 } as const;

export type GoType =
  | { kind: 'int'; name: string; size: number; signed: boolean }
  | { kind: 'float'; name: string; size: number }
  | { kind: 'bool'; name: string }
  | { kind: 'string'; name: string }
  | { kind: 'pointer'; name: string; elem: () => GoType }
  | { kind: 'struct'; name: string; size: number; fields: GoField[] }
  | { kind: 'slice'; name: string; elem: () => GoType }
  | { kind: 'array'; name: string; size: number; count: number; elem: () => GoType }
  /** `error` and other non-empty interfaces: {itab, data}; `any`: {type, data}. */
  | { kind: 'interface'; name: string; empty: boolean }
  /** A pointer to the runtime's map header (its first word is the count, old and Swiss maps alike). */
  | { kind: 'map'; name: string }
  /** Chans, funcs, complex numbers, unsafe pointers: shown by name and size only. */
  | { kind: 'opaque'; name: string; size: number };

export interface GoField {
  name: string;
  offset: number;
  type: () => GoType;
}

export interface GoParam {
  name: string;
  type: GoType;
  /** A result (Go marks them DW_AT_variable_parameter), not an argument. */
  result: boolean;
}

export interface GoFunctionSignature {
  name: string;
  lowPc: number;
  highPc: number;
  params: GoParam[];
}

const MAX_DEPTH = 32;
const POINTER_SIZE = 8;

export class GoDwarf {
  readonly #types = new Map<number, GoType>();

  constructor(private readonly dwarf: DwarfInfo) {}

  /** The function with code named `name`, or why not: absent, or inlined into its callers only. */
  signature(name: string): GoFunctionSignature | { missing: 'absent' | 'inlined' } {
    const f = this.dwarf.findFunction(name);
    if (f === undefined) return { missing: this.dwarf.subprogramDies(name).length > 0 ? 'inlined' : 'absent' };
    const die = this.dwarf.die(f.dieOffset);
    const params: GoParam[] = [];
    for (const child of die !== undefined ? this.dwarf.children(die) : []) {
      if (child.tag !== DW_TAG_formal_parameter) continue;
      const t = this.dwarf.reference(child, DW_AT_type);
      params.push({
        name: this.dwarf.string(child, DW_AT_name) ?? `~p${params.length}`,
        type: t === undefined ? { kind: 'opaque', name: '?', size: 0 } : this.type(t),
        result: this.dwarf.flag(child, DW_AT_variable_parameter),
      });
    }
    return { name, lowPc: f.lowPc, highPc: f.highPc, params };
  }

  /** Function names, for suggestions. */
  functionNames(): string[] {
    return this.dwarf.subprogramNames();
  }

  /** The Go shape of the type DIE at `offset` (cached; recursive types resolve lazily). */
  type(offset: number, depth = 0): GoType {
    const hit = this.#types.get(offset);
    if (hit !== undefined) return hit;
    const t = depth > MAX_DEPTH ? { kind: 'opaque' as const, name: '?', size: 0 } : this.#resolve(offset, depth);
    this.#types.set(offset, t);
    return t;
  }

  #resolve(offset: number, depth: number): GoType {
    const die = this.dwarf.die(offset);
    if (die === undefined) return { kind: 'opaque', name: '?', size: 0 };
    const name = this.dwarf.string(die, DW_AT_name) ?? '';
    const size = this.#num(die, DW_AT_byte_size) ?? 0;
    const kind = this.#num(die, DW_AT_go_kind);
    const ref = (at: number): (() => GoType) => {
      const target = this.dwarf.reference(die, at);
      return () => (target === undefined ? { kind: 'opaque', name: '?', size: 0 } : this.type(target, depth + 1));
    };
    if (die.tag === DW_TAG_typedef) {
      // Named non-struct types (type Celsius float64) and interfaces (error → runtime.iface).
      if (kind === KIND.Interface) return { kind: 'interface', name, empty: name === 'interface {}' || name === 'any' };
      const inner = this.dwarf.reference(die, DW_AT_type);
      if (inner === undefined) return { kind: 'opaque', name, size };
      const t = this.type(inner, depth + 1);
      if (t.kind === 'pointer' && name.startsWith('map[')) return { kind: 'map', name };
      return { ...t, name } as GoType;
    }
    if (die.tag === DW_TAG_pointer_type) {
      // A map value is a pointer to the runtime's header; newer Go names the pointer "map[K]V".
      if (kind === KIND.Map || name.startsWith('map[')) return { kind: 'map', name };
      if (kind === KIND.UnsafePointer || kind === KIND.Chan || kind === KIND.Func) return { kind: 'opaque', name, size: POINTER_SIZE };
      return { kind: 'pointer', name, elem: ref(DW_AT_type) };
    }
    if (die.tag === DW_TAG_base_type) {
      if (kind === KIND.Bool) return { kind: 'bool', name };
      if (kind === KIND.Float32 || kind === KIND.Float64) return { kind: 'float', name, size };
      if (kind === KIND.Complex64 || kind === KIND.Complex128) return { kind: 'opaque', name, size };
      // DW_ATE_signed = 5, DW_ATE_signed_char = 6; Go's ints carry both kind and encoding.
      const enc = this.#num(die, DW_AT_encoding);
      return { kind: 'int', name, size, signed: enc === 5 || enc === 6 };
    }
    if (die.tag === DW_TAG_structure_type) {
      if (kind === KIND.String) return { kind: 'string', name };
      if (kind === KIND.Slice) return { kind: 'slice', name, elem: ref(DW_AT_go_elem) };
      if (kind === KIND.Interface) return { kind: 'interface', name, empty: name === 'runtime.eface' };
      return { kind: 'struct', name, size, fields: this.#fields(die, depth) };
    }
    if (die.tag === DW_TAG_array_type) {
      const count = this.#arrayCount(die);
      return { kind: 'array', name, size, count, elem: ref(DW_AT_type) };
    }
    return { kind: 'opaque', name, size };
  }

  #fields(die: DwarfDie, depth: number): GoField[] {
    const out: GoField[] = [];
    for (const m of this.dwarf.children(die)) {
      if (m.tag !== DW_TAG_member) continue;
      const offset = this.#num(m, DW_AT_data_member_location);
      const t = this.dwarf.reference(m, DW_AT_type);
      if (offset === undefined) continue;
      out.push({ name: this.dwarf.string(m, DW_AT_name) ?? `~f${out.length}`, offset, type: () => (t === undefined ? { kind: 'opaque', name: '?', size: 0 } : this.type(t, depth + 1)) });
    }
    return out;
  }

  #arrayCount(die: DwarfDie): number {
    for (const c of this.dwarf.children(die)) {
      if (c.tag !== DW_TAG_subrange_type) continue;
      const count = this.#num(c, DW_AT_count);
      if (count !== undefined) return count;
      const upper = this.#num(c, DW_AT_upper_bound);
      if (upper !== undefined) return upper + 1;
    }
    return 0;
  }

  #num(die: DwarfDie, at: number): number | undefined {
    const v = this.dwarf.constant(die, at);
    return typeof v === 'number' ? v : v === undefined ? undefined : Number(v);
  }
}

/** Bytes a value of `t` takes (Go's sizes on 64-bit targets). */
export function goSizeOf(t: GoType): number {
  switch (t.kind) {
    case 'int': case 'float': case 'opaque': case 'struct': case 'array': return t.size;
    case 'bool': return 1;
    case 'string': case 'interface': return 16;
    case 'slice': return 24;
    case 'pointer': case 'map': return POINTER_SIZE;
  }
}
