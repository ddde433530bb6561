// The DWARF reader against readelf and the compilers: Go's DWARF 5 (SHF_COMPRESSED, addrx) with
// struct offsets and DIE counts equal to readelf's; C programs from gcc and clang in DWARF 2, 3, 4, 5,
// 64-bit DWARF, SHF_COMPRESSED and .zdebug sections, with member offsets equal to what the program
// itself prints with offsetof; and garbage, truncated and mutated sections that yield only DwarfError.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import t, { type Test } from 'tap';
import { DwarfError, DwarfInfo, type DwarfSections } from '../../src/symbols/dwarf.js';
import { dwarfSectionsFromElf, inflateZdebug } from '../../src/symbols/dwarf-sections.js';
import { ElfFile } from '../../src/symbols/elf.js';
import { buildGoTlsProbe } from '../fixtures/go-tls-probe/build.js';
import { XorShift32 } from '../helpers/prng.js';

const GO_STRUCTS: Record<string, string[]> = {
  'crypto/tls.Conn': ['conn', 'isClient', 'vers'],
  'net.TCPConn': ['conn'],
  'net.conn': ['fd'],
  'net.netFD': ['pfd'],
  'internal/poll.FD': ['Sysfd'],
  'runtime.g': ['goid'],
};

interface ReadelfDie {
  depth: number;
  tag: string;
  attrs: Map<string, string>;
}

/** readelf's view of .debug_info: every DIE with its depth, tag and attribute texts. */
function readelfDies(file: string): ReadelfDie[] {
  const out = execFileSync('readelf', ['--debug-dump=info', '-W', file], { encoding: 'utf8', maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'ignore'] });
  const dies: ReadelfDie[] = [];
  let cur: ReadelfDie | undefined;
  for (const line of out.split('\n')) {
    const d = /^ <(\d+)><[0-9a-f]+>: Abbrev Number: (\d+)(?: \((\w+)\))?/.exec(line);
    if (d) {
      cur = undefined;
      if (d[2] !== '0') dies.push((cur = { depth: Number(d[1]), tag: d[3] ?? '', attrs: new Map() }));
      continue;
    }
    const a = /^\s+<[0-9a-f]+>\s+(DW_AT_\w+)\s*: (.*)$/.exec(line);
    if (a && cur) cur.attrs.set(a[1]!, a[2]!.replace(/^\(\w+\) /, '').trim()); // "(udata) 872" with -W
  }
  return dies;
}

/** Member offsets of the named structs, as readelf prints them. */
function readelfStructs(dies: ReadelfDie[], wanted: Record<string, string[]>): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (let i = 0; i < dies.length; i++) {
    const d = dies[i]!;
    const name = d.attrs.get('DW_AT_name');
    if (d.tag !== 'DW_TAG_structure_type' || !name || !wanted[name] || out[name]) continue;
    const members: Record<string, number> = {};
    for (let j = i + 1; j < dies.length && dies[j]!.depth > d.depth; j++) {
      const m = dies[j]!;
      const mname = m.attrs.get('DW_AT_name');
      if (m.depth === d.depth + 1 && m.tag === 'DW_TAG_member' && mname && wanted[name]!.includes(mname)) {
        members[mname] = Number(m.attrs.get('DW_AT_data_member_location'));
      }
    }
    out[name] = members;
  }
  return out;
}

function open(file: string): { elf: ElfFile; dwarf: DwarfInfo } {
  const elf = ElfFile.open(file);
  const dwarf = DwarfInfo.fromElf(elf);
  if (!dwarf) throw new Error(`${file}: no DWARF`);
  return { elf, dwarf };
}

t.test('Go (DWARF 5, compressed): struct members, DIE count and functions agree with readelf and .symtab', async (t) => {
  const bin = buildGoTlsProbe();
  const { elf, dwarf } = open(bin);
  t.teardown(() => elf.close());
  const dies = readelfDies(bin);
  let count = 0;
  for (const u of dwarf.units) for (const _ of dwarf.walk(u)) count++;
  t.equal(count, dies.length, 'every DIE readelf lists');

  const expected = readelfStructs(dies, GO_STRUCTS);
  for (const [name, fields] of Object.entries(GO_STRUCTS)) {
    const s = dwarf.findStruct(name);
    t.ok(s, name);
    const got: Record<string, number> = {};
    for (const m of s?.members ?? []) if (fields.includes(m.name) && m.offset !== undefined) got[m.name] = m.offset;
    t.same(got, expected[name], `${name} member offsets`);
  }
  const conn = dwarf.findStruct('net.TCPConn')!.members[0]!;
  t.match(conn, { name: 'conn', typeName: 'net.conn', embedded: true }, 'TCPConn embeds conn');
  t.equal(dwarf.findStruct('net.conn')!.members[0]!.typeName, '*net.netFD');
  t.equal(dwarf.findStruct('internal/poll.FD')!.members.find((m) => m.name === 'Sysfd')!.typeName, 'int');

  const syms = elf.symbols('.symtab');
  for (const fn of ['crypto/tls.(*Conn).Read', 'crypto/tls.(*Conn).Write', 'main.main']) {
    const f = dwarf.findFunction(fn);
    const s = syms.find((x) => x.name === fn)!;
    t.same(f && [f.lowPc, f.highPc - f.lowPc], [s.value, s.size], fn);
  }
  t.match(dwarf.unitSummary(dwarf.units[0]!).producer, /^Go cmd\/compile go1\.\d+/);
  t.equal(dwarf.findStruct('no/such.Type'), undefined);
  t.equal(dwarf.findFunction('no/such.Func'), undefined);
});

t.test('no DWARF: fromElf gives undefined', async (t) => {
  const elf = ElfFile.open(buildGoTlsProbe({ ldflags: '-w' }));
  t.teardown(() => elf.close());
  t.equal(DwarfInfo.fromElf(elf), undefined);
});

// --- C programs: every DWARF flavour the compilers write -------------------------------------------

const C_SOURCE = `#include <stddef.h>
#include <stdio.h>
struct inner { char c; long l; };
struct outer { int a; struct inner in; const char *name; unsigned bits : 3; union { int x; double y; } u; struct outer *next; };
__attribute__((noinline)) int probe_fn(struct outer *o) { return o->a + (int)o->in.l; }
int main(void) {
  struct outer o = {0};
  printf("%zu %zu %zu %zu %zu %zu %zu\\n", offsetof(struct outer, a), offsetof(struct outer, in), offsetof(struct outer, name),
         offsetof(struct outer, u), offsetof(struct outer, next), offsetof(struct inner, c), offsetof(struct inner, l));
  return probe_fn(&o);
}
`;

const FLAVOURS: Array<[string, string, string[]]> = [
  ['gcc DWARF 2', 'gcc', ['-gdwarf-2']],
  ['gcc DWARF 3', 'gcc', ['-gdwarf-3']],
  ['gcc DWARF 4', 'gcc', ['-gdwarf-4']],
  ['gcc DWARF 5 (strp, line_strp)', 'gcc', ['-gdwarf-5']],
  ['gcc 64-bit DWARF 5', 'gcc', ['-gdwarf-5', '-gdwarf64']],
  ['gcc DWARF 5, SHF_COMPRESSED', 'gcc', ['-gdwarf-5', '-Wl,--compress-debug-sections=zlib']],
  ['gcc DWARF 4, .zdebug sections', 'gcc', ['-gdwarf-4', '-Wl,--compress-debug-sections=zlib-gnu']],
  ['clang DWARF 5 (strx1, addrx)', 'clang-14', ['-gdwarf-5']],
];

t.test('C programs in every DWARF flavour: member offsets equal offsetof, functions equal nm', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dwarf-c-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'p.c'), C_SOURCE);
  for (const [what, cc, flags] of FLAVOURS) {
    if (!existsSync(`/usr/bin/${cc}`)) {
      t.skip(`${what}: no ${cc} on this host`, () => undefined);
      continue;
    }
    const bin = join(dir, what.replace(/\W+/g, '_'));
    execFileSync(cc, ['-g', '-O1', ...flags, '-o', bin, join(dir, 'p.c')]);
    const [a, inn, name, u, next, c, l] = execFileSync(bin, { encoding: 'utf8' }).trim().split(' ').map(Number);
    const { elf, dwarf } = open(bin);
    try {
      const outer = dwarf.findStruct('outer')!;
      const off = (n: string): number | undefined => outer.members.find((m) => m.name === n)?.offset;
      t.same([off('a'), off('in'), off('name'), off('u'), off('next')], [a, inn, name, u, next], `${what}: struct outer`);
      t.equal(outer.byteSize, 56, `${what}: sizeof`);
      t.equal(outer.members.find((m) => m.name === 'name')?.typeName, 'const char *', `${what}: unnamed pointer types are spelled out`);
      const inner = dwarf.findStruct('inner')!;
      t.same(inner.members.map((m) => m.offset), [c, l], `${what}: struct inner`);
      const nm = execFileSync('nm', ['-S', bin], { encoding: 'utf8' }).split('\n').find((x) => x.endsWith(' probe_fn'))!.split(' ');
      const f = dwarf.findFunction('probe_fn');
      t.same(f && [f.lowPc, f.highPc - f.lowPc], [parseInt(nm[0]!, 16), parseInt(nm[1]!, 16)], `${what}: probe_fn`);
    } finally {
      elf.close();
    }
  }
});

// --- robustness ------------------------------------------------------------------------------------

t.test('.zdebug inflation: header checked, size checked, zlib errors typed', async (t) => {
  const payload = Buffer.from('hello dwarf');
  const header = Buffer.alloc(12);
  header.write('ZLIB', 0, 'latin1');
  header.writeBigUInt64BE(BigInt(payload.length), 4);
  t.same(inflateZdebug('.zdebug_info', Buffer.concat([header, deflateSync(payload)])), payload);
  t.throws(() => inflateZdebug('.zdebug_info', Buffer.from('ZLIX00000000')), DwarfError);
  const wrongSize = Buffer.from(header);
  wrongSize.writeBigUInt64BE(3n, 4);
  t.throws(() => inflateZdebug('.zdebug_info', Buffer.concat([wrongSize, deflateSync(payload)])), DwarfError);
  t.throws(() => inflateZdebug('.zdebug_info', Buffer.concat([header, Buffer.from('not zlib')])), DwarfError);
  const huge = Buffer.from(header);
  huge.writeBigUInt64BE(1n << 40n, 4);
  t.throws(() => inflateZdebug('.zdebug_info', Buffer.concat([huge, deflateSync(payload)])), DwarfError);
});

/** Everything a consumer might do with a DwarfInfo; only DwarfError may escape. */
function exercise(s: DwarfSections, r: XorShift32): void {
  const d = DwarfInfo.fromSections(s);
  for (const u of d.units) {
    let n = 0;
    for (const { die } of d.walk(u)) {
      if (++n > 200_000) throw new Error('walk does not end');
      if (r.chance(0.05)) {
        for (const a of die.attributes) {
          d.string(die, a.at);
          d.address(die, a.at);
        }
        d.children(die);
      }
    }
    d.unitSummary(u);
  }
  d.findStruct(r.pick(['outer', 'inner', 'crypto/tls.Conn', 'runtime.g']));
  d.findFunction(r.pick(['probe_fn', 'main', 'crypto/tls.(*Conn).Read']));
  for (let i = 0; i < 20; i++) {
    try {
      const die = d.die(r.int(s.info.length));
      if (die) d.children(die);
    } catch (err) {
      if (!(err instanceof DwarfError)) throw err;
    }
  }
}

function onlyDwarfErrors(t: Test, what: string, s: DwarfSections, r: XorShift32): boolean {
  try {
    exercise(s, r);
    return true;
  } catch (err) {
    if (err instanceof DwarfError) return false;
    t.fail(`${what}: ${(err as Error).stack}`);
    return false;
  }
}

function cSections(dir: string, cc: string, flags: string[]): DwarfSections {
  const bin = join(dir, `fuzz-${cc}`);
  execFileSync(cc, ['-g', '-O1', ...flags, '-o', bin, join(dir, 'p.c')]);
  const elf = ElfFile.open(bin);
  try {
    return dwarfSectionsFromElf(elf)!;
  } finally {
    elf.close();
  }
}

function mutate(buf: Buffer | undefined, r: XorShift32, flips: number): Buffer | undefined {
  if (!buf || buf.length === 0) return buf;
  const out = Buffer.from(buf);
  for (let i = 0; i < flips; i++) out[r.int(out.length)] = r.chance(0.3) ? r.pick([0, 0xff, 0x80, 0x7f]) : r.next() & 0xff;
  return out;
}

t.test('garbage, truncated and mutated DWARF: only DwarfError, never a hang', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dwarf-fuzz-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'p.c'), C_SOURCE);
  const bases: Array<[string, DwarfSections]> = [['gcc DWARF 5', cSections(dir, 'gcc', ['-gdwarf-5'])], ['gcc DWARF 2', cSections(dir, 'gcc', ['-gdwarf-2'])]];
  if (existsSync('/usr/bin/clang-14')) bases.push(['clang DWARF 5', cSections(dir, 'clang-14', ['-gdwarf-5'])]);
  // The first units of Go's DWARF (references into later units then point nowhere: also an error case).
  const goElf = ElfFile.open(buildGoTlsProbe());
  const go = dwarfSectionsFromElf(goElf)!;
  goElf.close();
  const goUnits = DwarfInfo.fromSections(go).units;
  bases.push(['Go, first units', { ...go, info: go.info.subarray(0, goUnits[Math.min(3, goUnits.length - 1)]!.end) }]);

  const started = Date.now();
  let failed = 0;
  let runs = 0;
  for (const [name, base] of bases) {
    t.ok(onlyDwarfErrors(t, `${name} as is`, base, new XorShift32(1)), `${name} reads cleanly`);
    // Every truncation of .debug_info and .debug_abbrev (all of them for C, a sample for Go).
    const step = base.info.length > 4096 ? 97 : 1;
    for (let n = 0; n < base.info.length; n += step, runs++) if (!onlyDwarfErrors(t, `${name} info[0:${n}]`, { ...base, info: base.info.subarray(0, n) }, new XorShift32(n + 1))) failed++;
    for (let n = 0; n < base.abbrev.length; n += 1, runs++) if (!onlyDwarfErrors(t, `${name} abbrev[0:${n}]`, { ...base, abbrev: base.abbrev.subarray(0, n) }, new XorShift32(n + 1))) failed++;
    // Random mutations of every section.
    for (let seed = 1; seed <= 1000; seed++, runs++) {
      const r = new XorShift32(seed * 7919);
      const s: DwarfSections = {
        info: mutate(base.info, r, 1 + r.int(8))!,
        abbrev: r.chance(0.3) ? mutate(base.abbrev, r, 1 + r.int(4))! : base.abbrev,
        str: r.chance(0.2) ? mutate(base.str, r, 4) : base.str,
        lineStr: base.lineStr,
        strOffsets: r.chance(0.2) ? mutate(base.strOffsets, r, 2) : base.strOffsets,
        addr: r.chance(0.2) ? mutate(base.addr, r, 2) : base.addr,
      };
      if (!onlyDwarfErrors(t, `${name} mutation seed ${seed}`, s, r)) failed++;
    }
  }
  // Pure garbage, with and without a plausible unit header in front.
  for (let seed = 1; seed <= 500; seed++, runs++) {
    const r = new XorShift32(seed);
    const body = r.bytes(r.int(300));
    const version = r.pick([2, 3, 4, 5]);
    const header = Buffer.alloc(version === 5 ? 12 : 11);
    header.writeUInt32LE(header.length - 4 + body.length, 0);
    header.writeUInt16LE(version, 4);
    header.set(version === 5 ? [1, 8, 0, 0, 0, 0] : [0, 0, 0, 0, 8], 6);
    const info = r.chance(0.5) ? Buffer.concat([header, body]) : body;
    const s: DwarfSections = { info, abbrev: r.chance(0.5) ? bases[0]![1].abbrev : r.bytes(r.int(100)), str: r.bytes(64), addr: r.bytes(64), strOffsets: r.bytes(64) };
    try {
      exercise(s, r);
    } catch (err) {
      if (!(err instanceof DwarfError)) t.fail(`garbage seed ${seed}: ${(err as Error).stack}`);
    }
  }
  t.ok(failed > 0, `${runs} runs, ${failed} with a DwarfError`);
  t.ok(Date.now() - started < 120_000, `bounded time (${Date.now() - started} ms)`);
});
