// Go types built by hand for the dynamic-logging unit tests (as go-dwarf.ts would read them from
// DWARF), and the layout of bpf/include/dynlog.h as the C compiler sees it.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GoType } from '../../../src/symbols/go-dwarf.js';
import { repoRoot } from '../../helpers/cli.js';

export const INT: GoType = { kind: 'int', name: 'int', size: 8, signed: true };
export const STRING: GoType = { kind: 'string', name: 'string' };
export const BOOL: GoType = { kind: 'bool', name: 'bool' };
export const F64: GoType = { kind: 'float', name: 'float64', size: 8 };
export const F32: GoType = { kind: 'float', name: 'float32', size: 4 };
export const ERROR: GoType = { kind: 'interface', name: 'error', empty: false };

export function int(name: string, size: number, signed: boolean): GoType {
  return { kind: 'int', name, size, signed };
}

export function ptr(elem: () => GoType, name = `*${elem().name}`): GoType {
  return { kind: 'pointer', name, elem };
}

export function slice(elem: GoType): GoType {
  return { kind: 'slice', name: `[]${elem.name}`, elem: () => elem };
}

export function array(elem: GoType, count: number, elemSize: number): GoType {
  return { kind: 'array', name: `[${count}]${elem.name}`, size: count * elemSize, count, elem: () => elem };
}

/** A struct from [name, offset, type] triples; a type may be lazy, for types that refer to themselves. */
export function struct(name: string, size: number, fields: Array<[string, number, GoType | (() => GoType)]>): GoType {
  return { kind: 'struct', name, size, fields: fields.map(([n, offset, t]) => ({ name: n, offset, type: typeof t === 'function' ? t : () => t })) };
}

/** The fixture's types: User{Name string; Age int}, Request{ID uint32; User *User; Tags []string}. */
export const USER = struct('main.User', 24, [['Name', 0, STRING], ['Age', 16, INT]]);
export const REQUEST = struct('main.Request', 40, [['ID', 0, int('uint32', 4, false)], ['User', 8, ptr(() => USER)], ['Tags', 16, slice(STRING)]]);

/** Parameters of a function: arguments, then results (named ~r0, ~r1… as Go's DWARF does). */
export function params(args: Array<[string, GoType]>, results: GoType[] = []): Array<{ name: string; type: GoType; result: boolean }> {
  return [...args.map(([name, type]) => ({ name, type, result: false })), ...results.map((type, i) => ({ name: `~r${i}`, type, result: true }))];
}

/**
 * `offsetof`/`sizeof` expressions over bpf/include/dynlog.h, evaluated by a program the host C
 * compiler builds (same layout rules as BPF for these explicitly padded structs).
 */
export function dynlogHeaderLayout(exprs: Record<string, string>): Record<string, number> {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-dynlog-layout-'));
  try {
    const prints = Object.entries(exprs).map(([key, expr]) => `printf("%s %zu\\n", "${key}", (size_t)(${expr}));`);
    writeFileSync(join(dir, 'layout.c'), `#include <linux/types.h>\n#include <stddef.h>\n#include <stdio.h>\n#include "dynlog.h"\nint main(void) {\n${prints.join('\n')}\nreturn 0; }\n`);
    execFileSync('gcc', ['-I', join(repoRoot, 'bpf/include'), '-o', join(dir, 'layout'), join(dir, 'layout.c')]);
    const out: Record<string, number> = {};
    for (const line of execFileSync(join(dir, 'layout'), { encoding: 'utf8' }).trim().split('\n')) {
      const [key, value] = line.split(' ');
      out[key!] = Number(value);
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
