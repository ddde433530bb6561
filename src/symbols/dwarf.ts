// A DWARF 2–5 reader over .debug_info / .debug_abbrev (+ the string and address sections of DWARF 5),
// enough to find a struct type by name with its members' offsets and types, and a function's
// low_pc/high_pc. Go's DWARF is the first user (Go crypto/tls offsets); dynamic logging reads the
// same DIEs. Reference: DWARF 5 standard §7.5 (unit headers, abbreviations, attribute forms).
//
// The whole .debug_info is walked once, lazily, to index names (structs, subprograms); a DIE is
// decoded fully only when asked for. Every read is bounded by its unit and section: corrupt input
// is a DwarfError (section + offset), never a read past the end or an endless loop.
import {
  DW_AT_abstract_origin, DW_AT_addr_base, DW_AT_byte_size, DW_AT_data_member_location, DW_AT_declaration,
  DW_AT_go_embedded_field, DW_AT_high_pc, DW_AT_language, DW_AT_linkage_name, DW_AT_low_pc, DW_AT_MIPS_linkage_name,
  DW_AT_name, DW_AT_producer, DW_AT_specification, DW_AT_str_offsets_base, DW_AT_type,
  DW_FORM_addr, DW_FORM_addrx, DW_FORM_addrx1, DW_FORM_addrx2, DW_FORM_addrx3, DW_FORM_addrx4, DW_FORM_block,
  DW_FORM_block1, DW_FORM_block2, DW_FORM_block4, DW_FORM_data1, DW_FORM_data16, DW_FORM_data2, DW_FORM_data4,
  DW_FORM_data8, DW_FORM_exprloc, DW_FORM_flag, DW_FORM_flag_present, DW_FORM_GNU_addr_index, DW_FORM_GNU_ref_alt,
  DW_FORM_GNU_str_index, DW_FORM_GNU_strp_alt, DW_FORM_implicit_const, DW_FORM_indirect, DW_FORM_line_strp,
  DW_FORM_loclistx, DW_FORM_ref1, DW_FORM_ref2, DW_FORM_ref4, DW_FORM_ref8, DW_FORM_ref_addr, DW_FORM_ref_sig8,
  DW_FORM_ref_sup4, DW_FORM_ref_sup8, DW_FORM_ref_udata, DW_FORM_rnglistx, DW_FORM_sdata, DW_FORM_sec_offset,
  DW_FORM_string, DW_FORM_strp, DW_FORM_strp_sup, DW_FORM_strx, DW_FORM_strx1, DW_FORM_strx2, DW_FORM_strx3,
  DW_FORM_strx4, DW_FORM_udata, DW_OP_plus_uconst, DW_TAG_class_type, DW_TAG_const_type, DW_TAG_inheritance,
  DW_TAG_member, DW_TAG_pointer_type, DW_TAG_structure_type, DW_TAG_subprogram, DW_TAG_union_type,
  DW_TAG_volatile_type, DW_UT_compile, DW_UT_skeleton, DW_UT_split_compile, DW_UT_split_type, DW_UT_type,
} from './dwarf-constants.js';
import { DwarfCursor, DwarfError, type DwarfInt, stringAt } from './dwarf-cursor.js';
import { type DwarfSections, dwarfSectionsFromElf } from './dwarf-sections.js';
import type { ElfFile } from './elf.js';

export { DwarfError } from './dwarf-cursor.js';
export type { DwarfSections } from './dwarf-sections.js';

export interface DwarfUnit {
  /** Offset of the unit header in .debug_info. */
  offset: number;
  /** Offset just past the unit. */
  end: number;
  version: number;
  /** DW_UT_* (DWARF 5); DW_UT_compile for earlier versions. */
  unitType: number;
  offsetSize: 4 | 8;
  addressSize: number;
  abbrevOffset: number;
  /** Offset of the unit's root DIE. */
  firstDie: number;
}

/** An attribute value as encoded; indexes (strx, addrx) are resolved by DwarfInfo's accessors. */
export type DwarfValue =
  | { kind: 'const'; value: DwarfInt }
  | { kind: 'flag'; value: boolean }
  | { kind: 'address'; value: number }
  | { kind: 'addrx'; index: number }
  /** An absolute .debug_info offset (unit-relative references are made absolute). */
  | { kind: 'ref'; offset: number }
  | { kind: 'sig8'; value: bigint }
  | { kind: 'string'; value: string }
  | { kind: 'strp'; section: '.debug_str' | '.debug_line_str'; offset: number }
  | { kind: 'strx'; index: number }
  /** DW_FORM_block*, exprloc, data16. */
  | { kind: 'block'; value: Buffer }
  | { kind: 'secoffset'; value: number }
  /** loclistx / rnglistx. */
  | { kind: 'listx'; index: number }
  /** References into a supplementary object file (dwz): not followed. */
  | { kind: 'supplementary'; offset: number };

export interface DwarfAttribute {
  at: number;
  form: number;
  value: DwarfValue;
}

export interface DwarfDie {
  offset: number;
  unit: DwarfUnit;
  tag: number;
  hasChildren: boolean;
  attributes: DwarfAttribute[];
  /** Offset just past this DIE's attributes: its first child, or its next sibling. */
  next: number;
}

export interface DwarfMember {
  name: string;
  /** DW_AT_data_member_location; undefined for bit fields and union members without one. */
  offset: number | undefined;
  /** .debug_info offset of the member's type DIE. */
  typeOffset: number | undefined;
  /** The type's name (`*net.netFD`, `int`, `char *`), when it has or can be given one. */
  typeName: string | undefined;
  /** Go embedded field (`struct { conn }`) or C++ base class. */
  embedded: boolean;
}

export interface DwarfStruct {
  name: string;
  /** .debug_info offset of the DIE. */
  dieOffset: number;
  byteSize: number | undefined;
  members: DwarfMember[];
}

export interface DwarfFunction {
  name: string;
  dieOffset: number;
  lowPc: number;
  /** Exclusive end address. */
  highPc: number;
}

interface AttrSpec {
  at: number;
  form: number;
  implicit: DwarfInt;
}

interface Abbrev {
  tag: number;
  hasChildren: boolean;
  specs: AttrSpec[];
}

/** Bounds against hostile input (real compilers stay far below). */
const MAX_ATTRS_PER_ABBREV = 256;
const MAX_INDIRECT = 4;
const MAX_TYPE_NAME_DEPTH = 16;

const STRUCT_TAGS = new Set([DW_TAG_structure_type, DW_TAG_class_type, DW_TAG_union_type]);

interface NameIndex {
  types: Map<string, number[]>;
  subprograms: Map<string, number[]>;
  /** Subprograms named only through DW_AT_abstract_origin / DW_AT_specification: [die, origin]. */
  unnamedSubprograms: Array<[number, number]>;
}

export class DwarfInfo {
  readonly units: readonly DwarfUnit[];
  private readonly abbrevTables = new Map<number, Map<number, Abbrev>>();
  private readonly bases = new Map<number, { str: number; addr: number }>();
  private index: NameIndex | undefined;

  private constructor(private readonly s: DwarfSections) {
    this.units = parseUnits(s.info);
  }

  /** Reads the sections and unit headers; undefined when the file has no DWARF. Throws DwarfError. */
  static fromElf(elf: ElfFile): DwarfInfo | undefined {
    const s = dwarfSectionsFromElf(elf);
    return s ? new DwarfInfo(s) : undefined;
  }

  static fromSections(s: DwarfSections): DwarfInfo {
    return new DwarfInfo(s);
  }

  /** The unit holding a .debug_info offset. */
  unitAt(offset: number): DwarfUnit {
    let lo = 0;
    let hi = this.units.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const u = this.units[mid]!;
      if (offset < u.offset) hi = mid - 1;
      else if (offset >= u.end) lo = mid + 1;
      else {
        if (offset < u.firstDie) break;
        return u;
      }
    }
    throw new DwarfError('offset is not inside any unit\'s DIEs', '.debug_info', offset);
  }

  /** The DIE at `offset`, fully decoded; undefined for a null entry (end of a sibling list). */
  die(offset: number): DwarfDie | undefined {
    const unit = this.unitAt(offset);
    const cur = new DwarfCursor(this.s.info, offset, unit.end, '.debug_info');
    const code = cur.ulebNumber();
    if (code === 0) return undefined;
    const abbrev = this.abbrev(unit, code, offset);
    const attributes: DwarfAttribute[] = [];
    for (const spec of abbrev.specs) attributes.push(this.readAttribute(cur, unit, spec.at, spec.form, spec.implicit));
    return { offset, unit, tag: abbrev.tag, hasChildren: abbrev.hasChildren, attributes, next: cur.pos };
  }

  /** The direct children of a DIE, in order. */
  children(die: DwarfDie): DwarfDie[] {
    const out: DwarfDie[] = [];
    if (!die.hasChildren) return out;
    const cur = new DwarfCursor(this.s.info, die.next, die.unit.end, '.debug_info');
    let depth = 0;
    while (cur.pos < die.unit.end) {
      const at = cur.pos;
      const code = cur.ulebNumber();
      if (code === 0) {
        if (depth === 0) return out;
        depth--;
        continue;
      }
      const abbrev = this.abbrev(die.unit, code, at);
      if (depth === 0) {
        const child = this.die(at)!;
        out.push(child);
        cur.pos = child.next;
      } else {
        for (const spec of abbrev.specs) this.skipAttribute(cur, die.unit, spec.form);
      }
      if (abbrev.hasChildren) depth++;
    }
    return out; // a unit may end without the closing null entries
  }

  /** Walks every DIE of a unit in order with its depth (0 = the unit's root). */
  *walk(unit: DwarfUnit): Generator<{ die: DwarfDie; depth: number }> {
    let offset = unit.firstDie;
    let depth = 0;
    while (offset < unit.end) {
      const cur = new DwarfCursor(this.s.info, offset, unit.end, '.debug_info');
      const code = cur.ulebNumber();
      if (code === 0) {
        depth = Math.max(0, depth - 1);
        offset = cur.pos;
        continue;
      }
      const die = this.die(offset)!;
      yield { die, depth };
      if (die.hasChildren) depth++;
      offset = die.next;
    }
  }

  attribute(die: DwarfDie, at: number): DwarfAttribute | undefined {
    return die.attributes.find((a) => a.at === at);
  }

  /** A string-class attribute, with strp / line_strp / strx resolved. */
  string(die: DwarfDie, at: number): string | undefined {
    const v = this.attribute(die, at)?.value;
    if (!v) return undefined;
    return this.resolveString(die.unit, v);
  }

  /** A constant-class attribute. */
  constant(die: DwarfDie, at: number): DwarfInt | undefined {
    const v = this.attribute(die, at)?.value;
    return v?.kind === 'const' ? v.value : undefined;
  }

  flag(die: DwarfDie, at: number): boolean {
    const v = this.attribute(die, at)?.value;
    return v?.kind === 'flag' ? v.value : false;
  }

  /** An address-class attribute, with addrx resolved through .debug_addr. */
  address(die: DwarfDie, at: number): number | undefined {
    const v = this.attribute(die, at)?.value;
    if (v?.kind === 'address') return v.value;
    if (v?.kind === 'addrx') return this.resolveAddress(die.unit, v.index);
    return undefined;
  }

  /** A reference-class attribute as an absolute .debug_info offset. */
  reference(die: DwarfDie, at: number): number | undefined {
    const v = this.attribute(die, at)?.value;
    return v?.kind === 'ref' ? v.offset : undefined;
  }

  /** The root DIE's name, producer (`Go cmd/compile go1.26.8; regabi`) and language. */
  unitSummary(unit: DwarfUnit): { name?: string; producer?: string; language?: number } {
    const root = this.die(unit.firstDie);
    if (!root) return {};
    const language = this.constant(root, DW_AT_language);
    return {
      name: this.string(root, DW_AT_name),
      producer: this.string(root, DW_AT_producer),
      language: typeof language === 'number' ? language : undefined,
    };
  }

  /** A struct (or class / union) type by its DW_AT_name — Go names are package-qualified (`net.netFD`). */
  findStruct(name: string): DwarfStruct | undefined {
    const offsets = this.names().types.get(name);
    if (!offsets) return undefined;
    let best: DwarfDie | undefined;
    for (const off of offsets) {
      const die = this.die(off);
      if (!die || this.flag(die, DW_AT_declaration)) continue;
      best ??= die;
      if (die.hasChildren) {
        best = die;
        break;
      }
    }
    return best && this.structOf(best, name);
  }

  /** The function named `name` that has code (DW_AT_low_pc): out-of-line definitions, not inline-only ones. */
  findFunction(name: string): DwarfFunction | undefined {
    const idx = this.names();
    const named = idx.subprograms.get(name) ?? [];
    for (const off of named) {
      const f = this.functionAt(off, name);
      if (f) return f;
    }
    // C++ / C with inlining: the concrete instance names its abstract origin or declaration.
    const origins = new Set(named);
    for (const [off, origin] of idx.unnamedSubprograms) {
      if (!origins.has(origin)) continue;
      const f = this.functionAt(off, name);
      if (f) return f;
    }
    return undefined;
  }

  /** Every subprogram name (for "did you mean" suggestions). */
  subprogramNames(): string[] {
    return [...this.names().subprograms.keys()];
  }

  /** DIE offsets of the subprograms named `name`, with code or not (inline-only ones too). */
  subprogramDies(name: string): readonly number[] {
    return this.names().subprograms.get(name) ?? [];
  }

  /** A type's name; unnamed pointer/const/volatile types are spelled out C-style. */
  typeName(offset: number, depth = 0): string | undefined {
    if (depth > MAX_TYPE_NAME_DEPTH) return undefined;
    const die = this.die(offset);
    if (!die) return undefined;
    const name = this.string(die, DW_AT_name);
    if (name !== undefined) return name;
    const inner = this.reference(die, DW_AT_type);
    const innerName = inner === undefined ? 'void' : this.typeName(inner, depth + 1);
    if (innerName === undefined) return undefined;
    if (die.tag === DW_TAG_pointer_type) return `${innerName} *`;
    if (die.tag === DW_TAG_const_type) return `const ${innerName}`;
    if (die.tag === DW_TAG_volatile_type) return `volatile ${innerName}`;
    return undefined;
  }

  private structOf(die: DwarfDie, name: string): DwarfStruct {
    const size = this.constant(die, DW_AT_byte_size);
    const members: DwarfMember[] = [];
    for (const child of this.children(die)) {
      if (child.tag !== DW_TAG_member && child.tag !== DW_TAG_inheritance) continue;
      const typeOffset = this.reference(child, DW_AT_type);
      members.push({
        name: this.string(child, DW_AT_name) ?? '',
        offset: this.memberLocation(child),
        typeOffset,
        typeName: typeOffset === undefined ? undefined : this.typeName(typeOffset),
        embedded: child.tag === DW_TAG_inheritance || this.flag(child, DW_AT_go_embedded_field),
      });
    }
    return { name, dieOffset: die.offset, byteSize: typeof size === 'number' ? size : undefined, members };
  }

  private memberLocation(die: DwarfDie): number | undefined {
    const v = this.attribute(die, DW_AT_data_member_location)?.value;
    if (!v) return die.tag === DW_TAG_member ? undefined : 0;
    if (v.kind === 'const') return typeof v.value === 'number' && v.value >= 0 ? v.value : undefined;
    if (v.kind === 'block' && v.value.length > 0 && v.value[0] === DW_OP_plus_uconst) {
      // DWARF 2 style: a location expression that adds the offset to the struct's address.
      const cur = new DwarfCursor(v.value, 1, v.value.length, '.debug_info');
      const off = cur.uleb();
      return typeof off === 'number' && cur.remaining === 0 ? off : undefined;
    }
    return undefined;
  }

  private functionAt(offset: number, name: string): DwarfFunction | undefined {
    const die = this.die(offset);
    if (!die || die.tag !== DW_TAG_subprogram) return undefined;
    const lowPc = this.address(die, DW_AT_low_pc);
    if (lowPc === undefined) return undefined;
    const high = this.attribute(die, DW_AT_high_pc)?.value;
    let highPc: number | undefined;
    // DWARF 4+: a constant is the size; DWARF 2/3: an address.
    if (high?.kind === 'const' && typeof high.value === 'number') highPc = lowPc + high.value;
    else if (high?.kind === 'address') highPc = high.value;
    else if (high?.kind === 'addrx') highPc = this.resolveAddress(die.unit, high.index);
    if (highPc === undefined || highPc < lowPc) return undefined;
    return { name, dieOffset: offset, lowPc, highPc };
  }

  /** One pass over every unit: names of struct types and subprograms → DIE offsets. */
  private names(): NameIndex {
    if (this.index) return this.index;
    const idx: NameIndex = { types: new Map(), subprograms: new Map(), unnamedSubprograms: [] };
    const add = (m: Map<string, number[]>, name: string, off: number): void => {
      const list = m.get(name);
      if (list) list.push(off);
      else m.set(name, [off]);
    };
    for (const unit of this.units) {
      const cur = new DwarfCursor(this.s.info, unit.firstDie, unit.end, '.debug_info');
      while (cur.pos < unit.end) {
        const at = cur.pos;
        const code = cur.ulebNumber();
        if (code === 0) continue;
        const abbrev = this.abbrev(unit, code, at);
        const isType = STRUCT_TAGS.has(abbrev.tag);
        const isFunc = abbrev.tag === DW_TAG_subprogram;
        if (!isType && !isFunc) {
          for (const spec of abbrev.specs) this.skipAttribute(cur, unit, spec.form);
          continue;
        }
        let name: string | undefined;
        let linkage: string | undefined;
        let origin: number | undefined;
        for (const spec of abbrev.specs) {
          if (spec.at === DW_AT_name || (isFunc && (spec.at === DW_AT_linkage_name || spec.at === DW_AT_MIPS_linkage_name))) {
            const s = this.resolveString(unit, this.readAttribute(cur, unit, spec.at, spec.form, spec.implicit).value);
            if (spec.at === DW_AT_name) name = s;
            else linkage = s;
          } else if (isFunc && (spec.at === DW_AT_abstract_origin || spec.at === DW_AT_specification)) {
            const v = this.readAttribute(cur, unit, spec.at, spec.form, spec.implicit).value;
            if (v.kind === 'ref') origin = v.offset;
          } else this.skipAttribute(cur, unit, spec.form);
        }
        if (isType && name !== undefined) add(idx.types, name, at);
        if (isFunc) {
          if (name !== undefined) add(idx.subprograms, name, at);
          if (linkage !== undefined && linkage !== name) add(idx.subprograms, linkage, at);
          if (name === undefined && origin !== undefined) idx.unnamedSubprograms.push([at, origin]);
        }
      }
    }
    this.index = idx;
    return idx;
  }

  private abbrev(unit: DwarfUnit, code: number, at: number): Abbrev {
    let table = this.abbrevTables.get(unit.abbrevOffset);
    if (!table) {
      table = parseAbbrevTable(this.s.abbrev, unit.abbrevOffset);
      this.abbrevTables.set(unit.abbrevOffset, table);
    }
    const a = table.get(code);
    if (!a) throw new DwarfError(`abbreviation code ${code} not in the table at .debug_abbrev+0x${unit.abbrevOffset.toString(16)}`, '.debug_info', at);
    return a;
  }

  private readAttribute(cur: DwarfCursor, unit: DwarfUnit, at: number, form: number, implicit: DwarfInt, indirections = 0): DwarfAttribute {
    const value = (v: DwarfValue): DwarfAttribute => ({ at, form, value: v });
    const u = unit;
    switch (form) {
      case DW_FORM_addr: return value({ kind: 'address', value: cur.uN(u.addressSize) });
      case DW_FORM_block1: return value({ kind: 'block', value: cur.bytes(cur.u8()) });
      case DW_FORM_block2: return value({ kind: 'block', value: cur.bytes(cur.u16()) });
      case DW_FORM_block4: return value({ kind: 'block', value: cur.bytes(cur.u32()) });
      case DW_FORM_block:
      case DW_FORM_exprloc: return value({ kind: 'block', value: cur.bytes(cur.ulebNumber()) });
      case DW_FORM_data16: return value({ kind: 'block', value: cur.bytes(16) });
      case DW_FORM_data1: return value({ kind: 'const', value: cur.u8() });
      case DW_FORM_data2: return value({ kind: 'const', value: cur.u16() });
      case DW_FORM_data4: return value({ kind: 'const', value: cur.u32() });
      case DW_FORM_data8: return value({ kind: 'const', value: cur.u64() });
      case DW_FORM_sdata: return value({ kind: 'const', value: cur.sleb() });
      case DW_FORM_udata: return value({ kind: 'const', value: cur.uleb() });
      case DW_FORM_implicit_const: return value({ kind: 'const', value: implicit });
      case DW_FORM_string: return value({ kind: 'string', value: cur.cstring() });
      case DW_FORM_flag: return value({ kind: 'flag', value: cur.u8() !== 0 });
      case DW_FORM_flag_present: return value({ kind: 'flag', value: true });
      case DW_FORM_strp: return value({ kind: 'strp', section: '.debug_str', offset: cur.uN(u.offsetSize) });
      case DW_FORM_line_strp: return value({ kind: 'strp', section: '.debug_line_str', offset: cur.uN(u.offsetSize) });
      case DW_FORM_strx:
      case DW_FORM_GNU_str_index: return value({ kind: 'strx', index: cur.ulebNumber() });
      case DW_FORM_strx1: return value({ kind: 'strx', index: cur.u8() });
      case DW_FORM_strx2: return value({ kind: 'strx', index: cur.u16() });
      case DW_FORM_strx3: return value({ kind: 'strx', index: cur.u24() });
      case DW_FORM_strx4: return value({ kind: 'strx', index: cur.u32() });
      case DW_FORM_addrx:
      case DW_FORM_GNU_addr_index: return value({ kind: 'addrx', index: cur.ulebNumber() });
      case DW_FORM_addrx1: return value({ kind: 'addrx', index: cur.u8() });
      case DW_FORM_addrx2: return value({ kind: 'addrx', index: cur.u16() });
      case DW_FORM_addrx3: return value({ kind: 'addrx', index: cur.u24() });
      case DW_FORM_addrx4: return value({ kind: 'addrx', index: cur.u32() });
      case DW_FORM_ref_addr: return value({ kind: 'ref', offset: cur.uN(u.version <= 2 ? u.addressSize : u.offsetSize) });
      case DW_FORM_ref1: return value({ kind: 'ref', offset: u.offset + cur.u8() });
      case DW_FORM_ref2: return value({ kind: 'ref', offset: u.offset + cur.u16() });
      case DW_FORM_ref4: return value({ kind: 'ref', offset: u.offset + cur.u32() });
      case DW_FORM_ref8: return value({ kind: 'ref', offset: u.offset + cur.u64Offset() });
      case DW_FORM_ref_udata: return value({ kind: 'ref', offset: u.offset + cur.ulebNumber() });
      case DW_FORM_ref_sig8: return value({ kind: 'sig8', value: cur.u64Big() });
      case DW_FORM_sec_offset: return value({ kind: 'secoffset', value: cur.uN(u.offsetSize) });
      case DW_FORM_loclistx:
      case DW_FORM_rnglistx: return value({ kind: 'listx', index: cur.ulebNumber() });
      case DW_FORM_ref_sup4: return value({ kind: 'supplementary', offset: cur.u32() });
      case DW_FORM_ref_sup8: return value({ kind: 'supplementary', offset: cur.u64Offset() });
      case DW_FORM_strp_sup:
      case DW_FORM_GNU_ref_alt:
      case DW_FORM_GNU_strp_alt: return value({ kind: 'supplementary', offset: cur.uN(u.offsetSize) });
      case DW_FORM_indirect: {
        const at0 = cur.pos;
        const real = cur.ulebNumber();
        if (indirections >= MAX_INDIRECT || real === DW_FORM_implicit_const) throw cur.error(`bad DW_FORM_indirect chain (form 0x${real.toString(16)})`, at0);
        return this.readAttribute(cur, unit, at, real, implicit, indirections + 1);
      }
      default:
        throw cur.error(`unknown attribute form 0x${form.toString(16)}`);
    }
  }

  /** Moves past an attribute without building its value (the index pass). */
  private skipAttribute(cur: DwarfCursor, unit: DwarfUnit, form: number): void {
    switch (form) {
      case DW_FORM_flag_present:
      case DW_FORM_implicit_const:
        return;
      case DW_FORM_data1:
      case DW_FORM_ref1:
      case DW_FORM_flag:
      case DW_FORM_strx1:
      case DW_FORM_addrx1:
        return cur.skip(1);
      case DW_FORM_data2:
      case DW_FORM_ref2:
      case DW_FORM_strx2:
      case DW_FORM_addrx2:
        return cur.skip(2);
      case DW_FORM_strx3:
      case DW_FORM_addrx3:
        return cur.skip(3);
      case DW_FORM_data4:
      case DW_FORM_ref4:
      case DW_FORM_strx4:
      case DW_FORM_addrx4:
      case DW_FORM_ref_sup4:
        return cur.skip(4);
      case DW_FORM_data8:
      case DW_FORM_ref8:
      case DW_FORM_ref_sig8:
      case DW_FORM_ref_sup8:
        return cur.skip(8);
      case DW_FORM_data16:
        return cur.skip(16);
      case DW_FORM_string:
        return cur.skipCstring();
      case DW_FORM_udata:
      case DW_FORM_sdata:
      case DW_FORM_ref_udata:
      case DW_FORM_strx:
      case DW_FORM_addrx:
      case DW_FORM_GNU_str_index:
      case DW_FORM_GNU_addr_index:
      case DW_FORM_loclistx:
      case DW_FORM_rnglistx:
        cur.uleb();
        return;
      case DW_FORM_block1:
        return cur.skip(cur.u8());
      case DW_FORM_block2:
        return cur.skip(cur.u16());
      case DW_FORM_block4:
        return cur.skip(cur.u32());
      case DW_FORM_block:
      case DW_FORM_exprloc:
        return cur.skip(cur.ulebNumber());
      default:
        this.readAttribute(cur, unit, 0, form, 0);
    }
  }

  private resolveString(unit: DwarfUnit, v: DwarfValue): string | undefined {
    switch (v.kind) {
      case 'string':
        return v.value;
      case 'strp':
        return stringAt(v.section === '.debug_str' ? this.s.str : this.s.lineStr, v.section, v.offset);
      case 'strx': {
        const table = this.s.strOffsets;
        const at = this.unitBases(unit).str + v.index * unit.offsetSize;
        if (!table || at + unit.offsetSize > table.length) throw new DwarfError(`string index ${v.index} outside the table`, '.debug_str_offsets', at);
        const cur = new DwarfCursor(table, at, table.length, '.debug_str_offsets');
        return stringAt(this.s.str, '.debug_str', cur.uN(unit.offsetSize));
      }
      default:
        return undefined;
    }
  }

  private resolveAddress(unit: DwarfUnit, index: number): number {
    const table = this.s.addr;
    const at = this.unitBases(unit).addr + index * unit.addressSize;
    if (!table || at + unit.addressSize > table.length) throw new DwarfError(`address index ${index} outside the table`, '.debug_addr', at);
    return new DwarfCursor(table, at, table.length, '.debug_addr').uN(unit.addressSize);
  }

  /** DW_AT_str_offsets_base / DW_AT_addr_base of a unit; absent means just past a 32- or 64-bit section header. */
  private unitBases(unit: DwarfUnit): { str: number; addr: number } {
    let b = this.bases.get(unit.offset);
    if (b) return b;
    const header = unit.offsetSize === 8 ? 16 : 8;
    b = { str: header, addr: header };
    const root = this.die(unit.firstDie);
    if (root) {
      for (const a of root.attributes) {
        if (a.value.kind !== 'secoffset') continue;
        if (a.at === DW_AT_str_offsets_base) b.str = a.value.value;
        if (a.at === DW_AT_addr_base) b.addr = a.value.value;
      }
    }
    this.bases.set(unit.offset, b);
    return b;
  }
}

function parseUnits(info: Buffer): DwarfUnit[] {
  const units: DwarfUnit[] = [];
  let pos = 0;
  while (pos < info.length) {
    const cur = new DwarfCursor(info, pos, info.length, '.debug_info');
    let length = cur.u32();
    let offsetSize: 4 | 8 = 4;
    if (length === 0xffffffff) {
      length = cur.u64Offset();
      offsetSize = 8;
    } else if (length >= 0xfffffff0) throw cur.error(`reserved unit length 0x${length.toString(16)}`, pos);
    const end = cur.pos + length;
    if (end > info.length) throw cur.error(`unit of ${length} bytes runs past the section (${info.length})`, pos);
    cur.end = end;
    const version = cur.u16();
    if (version < 2 || version > 5) throw cur.error(`unsupported DWARF version ${version}`, pos);
    let unitType = DW_UT_compile;
    let addressSize: number;
    let abbrevOffset: number;
    if (version >= 5) {
      unitType = cur.u8();
      addressSize = cur.u8();
      abbrevOffset = cur.uN(offsetSize);
      if (unitType === DW_UT_skeleton || unitType === DW_UT_split_compile) cur.skip(8);
      else if (unitType === DW_UT_type || unitType === DW_UT_split_type) cur.skip(8 + offsetSize);
      else if (unitType < 1 || unitType > 6) throw cur.error(`unknown unit type ${unitType}`, pos);
    } else {
      abbrevOffset = cur.uN(offsetSize);
      addressSize = cur.u8();
    }
    if (addressSize !== 4 && addressSize !== 8) throw cur.error(`address size ${addressSize} not supported`, pos);
    units.push({ offset: pos, end, version, unitType, offsetSize, addressSize, abbrevOffset, firstDie: cur.pos });
    pos = end;
  }
  return units;
}

function parseAbbrevTable(buf: Buffer, offset: number): Map<number, Abbrev> {
  if (offset >= buf.length) throw new DwarfError('abbreviation table offset outside the section', '.debug_abbrev', offset);
  const cur = new DwarfCursor(buf, offset, buf.length, '.debug_abbrev');
  const table = new Map<number, Abbrev>();
  for (;;) {
    const code = cur.ulebNumber();
    if (code === 0) return table;
    const tag = cur.ulebNumber();
    const children = cur.u8();
    if (children > 1) throw cur.error(`DW_CHILDREN value ${children}`, cur.pos - 1);
    const specs: AttrSpec[] = [];
    for (;;) {
      const at = cur.ulebNumber();
      const form = cur.ulebNumber();
      const implicit = form === DW_FORM_implicit_const ? cur.sleb() : 0;
      if (at === 0 && form === 0) break;
      if (specs.length >= MAX_ATTRS_PER_ABBREV) throw cur.error(`abbreviation ${code} has more than ${MAX_ATTRS_PER_ABBREV} attributes`);
      specs.push({ at, form, implicit });
    }
    if (!table.has(code)) table.set(code, { tag, hasChildren: children === 1, specs });
  }
}
