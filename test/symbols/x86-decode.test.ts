// The x86-64 length decoder: hand-picked encodings (each also checked against objdump), instruction
// boundaries equal to objdump's over every function of a real Go binary and over a sample of node's
// functions, arm64 RETs equal to `go tool objdump`'s, and garbage that yields only X86DecodeError.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import t from 'tap';
import { ElfFile, STT_FUNC } from '../../src/symbols/elf.js';
import { arm64ReturnOffsets } from '../../src/symbols/insn-arm64.js';
import { X86DecodeError, X86_MAX_INSTRUCTION_LENGTH, decodeX86, decodeX86Range, x86ReturnOffsets } from '../../src/symbols/x86-decode.js';
import { GO, buildGoTlsProbe, goEnv, requestedToolchains } from '../fixtures/go-tls-probe/build.js';
import { XorShift32 } from '../helpers/prng.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// [bytes, length, what] — lengths as the SDM defines them (and objdump agrees, checked below).
const CASES: Array<[string, number, string]> = [
  ['c3', 1, 'ret'],
  ['c2 08 00', 3, 'ret imm16'],
  ['f3 c3', 2, 'repz ret'],
  ['48 c7 c0 c3 00 00 00', 7, 'mov rax, 0xc3 (a C3 byte in an immediate)'],
  ['b8 c3 c3 c3 c3', 5, 'mov eax, imm32 of C3 bytes'],
  ['48 b8 c3 c3 c3 c3 c3 c3 c3 c3', 10, 'movabs rax, imm64'],
  ['66 b8 34 12', 4, 'mov ax, imm16'],
  ['e8 c3 00 00 00', 5, 'call rel32'],
  ['0f 84 00 00 00 00', 6, 'je rel32'],
  ['74 c3', 2, 'je rel8'],
  ['8b 04 25 00 00 00 00', 7, 'mov eax, [disp32] (SIB, no base)'],
  ['8b 44 24 08', 4, 'mov eax, [rsp+8] (SIB + disp8)'],
  ['8b 84 24 00 01 00 00', 7, 'mov eax, [rsp+0x100] (SIB + disp32)'],
  ['8b 05 c3 00 00 00', 6, 'mov eax, [rip+disp32]'],
  ['8b 45 00', 3, 'mov eax, [rbp+0]'],
  ['67 8b 00', 3, 'addr32 mov eax, [eax]'],
  ['a1 00 00 00 00 00 00 00 00', 9, 'movabs eax, moffs64'],
  ['67 a1 00 00 00 00', 6, 'addr32 mov eax, moffs32'],
  ['f6 c0 12', 3, 'test al, imm8 (group 3 /0)'],
  ['f6 d0', 2, 'not al (group 3 /2, no immediate)'],
  ['f7 c0 01 00 00 00', 6, 'test eax, imm32'],
  ['66 f7 c0 01 00', 5, 'test ax, imm16'],
  ['48 f7 c0 01 00 00 00', 7, 'test rax, imm32 (REX.W keeps 4 bytes)'],
  ['c8 10 00 01', 4, 'enter imm16, imm8'],
  ['0f 20 c0', 3, 'mov rax, cr0'],
  ['0f 1f 44 00 00', 5, 'nopl'],
  ['66 2e 0f 1f 84 00 00 00 00 00', 10, 'cs nopw'],
  ['f3 0f 1e fa', 4, 'endbr64'],
  ['0f 38 f0 00', 4, 'movbe eax, [rax] (0F 38)'],
  ['66 0f 3a 0f c1 08', 6, 'palignr (0F 3A imm8)'],
  ['66 0f 70 c1 1b', 5, 'pshufd imm8'],
  ['0f ba e0 03', 4, 'bt eax, 3'],
  ['c5 f8 77', 3, 'vzeroupper (VEX, no ModRM)'],
  ['c5 fd 6f 04 24', 5, 'vmovdqa ymm0, [rsp] (VEX2)'],
  ['c4 e2 7d 18 c0', 5, 'vbroadcastss (VEX3 map 0F38)'],
  ['c4 e3 7d 39 c1 01', 6, 'vextracti128 (VEX3 map 0F3A, imm8)'],
  ['c5 fd 73 d0 04', 5, 'vpsrlq ymm0, imm8 (VEX map 1 with imm8)'],
  ['62 f1 7c 48 10 04 24', 7, 'vmovups zmm0, [rsp] (EVEX)'],
  ['62 f1 fd 48 6f 44 24 01', 8, 'vmovdqa64 zmm0, [rsp+0x40] (EVEX disp8*N)'],
  ['62 f3 7d 48 3b c1 01', 7, 'vextracti64x4 (EVEX map 3, imm8)'],
  ['0f 0f c1 b4', 4, 'pfmul (3DNow!, imm8 suffix)'],
  ['8f c0', 2, 'pop rax (8F /0, not XOP)'],
  ['f0 48 0f b1 0a', 5, 'lock cmpxchg [rdx], rcx'],
  ['64 48 8b 04 25 00 00 00 00', 9, 'mov rax, fs:[0]'],
  ['48 66 90', 1, 'a REX followed by another prefix stands alone (as objdump shows it)'],
  ['d9 ee', 2, 'fldz (x87)'],
  ['cc', 1, 'int3'],
];

t.test('hand-picked encodings have the right lengths and only RETs are returns', async (t) => {
  for (const [bytes, len, what] of CASES) {
    const insn = decodeX86(hex(bytes), 0);
    t.equal(insn.length, len, what);
    t.equal(insn.ret, /^(repz )?ret/.test(what), `${what}: ret`);
  }
  t.same(x86ReturnOffsets(hex('48 c7 c0 c3 00 00 00 c3 e8 c3 c3 c3 c3 c2 10 00')), [7, 13], 'C3 bytes inside instructions are not returns');
});

t.test('objdump agrees with the hand-picked lengths', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'x86-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const code = Buffer.concat(CASES.map(([b]) => hex(b)));
  const file = join(dir, 'code.bin');
  writeFileSync(file, code);
  const out = execFileSync('objdump', ['-D', '-b', 'binary', '-m', 'i386:x86-64', '--insn-width=16', file], { encoding: 'utf8' });
  const theirs = [...out.matchAll(/^\s*([0-9a-f]+):\t/gm)].map((m) => parseInt(m[1]!, 16));
  t.same(decodeX86Range(code).map((i) => i.offset), theirs);
});

t.test('truncated, over-long and invalid encodings are X86DecodeErrors naming the offset', async (t) => {
  for (const bad of ['48', '0f', 'e8 00 00', '8b 04', '62 f1 7c', 'c4 e2', '66'.repeat(15) + '90', '06', 'd5 00', 'c4 e0 7d 18 c0']) {
    const code = hex(`90 ${bad}`);
    let err: unknown;
    try {
      decodeX86Range(code);
    } catch (e) {
      err = e;
    }
    t.ok(err instanceof X86DecodeError && err.offset === 1 && err.bytes === code.subarray(1, 17).toString('hex'), `${bad}: ${String(err)}`);
  }
  t.throws(() => decodeX86(hex('c3'), 1), X86DecodeError, 'offset past the end');
  t.throws(() => decodeX86(hex('b8 00 00 00 00'), 0, 3), X86DecodeError, 'the end bound is respected');
});

const PREFIXES = new Set([0x66, 0x67, 0xf0, 0xf2, 0xf3, 0x2e, 0x36, 0x3e, 0x26, 0x64, 0x65, ...Array.from({ length: 16 }, (_, i) => 0x40 + i)]);

t.test('random bytes: only X86DecodeError, every length within 1..15, independent of what follows', async (t) => {
  let decoded = 0;
  for (let seed = 1; seed <= 3000; seed++) {
    const r = new XorShift32(seed);
    const code = r.bytes(1 + r.int(64));
    let off = 0;
    while (off < code.length) {
      let insn;
      try {
        insn = decodeX86(code, off);
      } catch (err) {
        if (!(err instanceof X86DecodeError)) t.fail(`seed ${seed}: ${(err as Error).stack}`);
        off++;
        continue;
      }
      decoded++;
      if (insn.length < 1 || insn.length > X86_MAX_INSTRUCTION_LENGTH) t.fail(`seed ${seed}: length ${insn.length}`);
      // Decoding must not look past the instruction: the same bytes with other bytes after them give the
      // same length (except a lone REX, which stands alone only because a prefix follows it).
      const prefixesOnly = [...code.subarray(off, off + insn.length)].every((b) => PREFIXES.has(b));
      const alone = Buffer.concat([code.subarray(off, off + insn.length), r.bytes(16)]);
      if (!prefixesOnly && decodeX86(alone, 0).length !== insn.length) t.fail(`seed ${seed}: length depends on following bytes at ${off}`);
      off += insn.length;
    }
  }
  t.ok(decoded > 10_000, `${decoded} instructions decoded`);
});

/** Instruction start addresses objdump finds in [start, stop), and those of instructions it calls (bad). */
async function objdumpBoundaries(file: string, start?: number, stop?: number): Promise<{ starts: Set<number>; bad: Set<number> }> {
  const args = ['-d', '--insn-width=16', '-j', '.text'];
  if (start !== undefined && stop !== undefined) args.push(`--start-address=0x${start.toString(16)}`, `--stop-address=0x${stop.toString(16)}`);
  const p = spawn('objdump', [...args, file], { stdio: ['ignore', 'pipe', 'inherit'] });
  const starts = new Set<number>();
  const bad = new Set<number>();
  for await (const line of createInterface({ input: p.stdout })) {
    const m = /^\s*([0-9a-f]+):\t/.exec(line);
    if (!m) continue;
    const a = parseInt(m[1]!, 16);
    starts.add(a);
    if (line.includes('(bad)')) bad.add(a);
  }
  return { starts, bad };
}

interface Comparison {
  functions: number;
  instructions: number;
  mismatches: string[];
  /** Functions holding bytes objdump cannot decode either (data in .text). */
  undecodable: string[];
}

async function compareWithObjdump(file: string, window?: { start: number; stop: number }): Promise<Comparison> {
  const elf = ElfFile.open(file);
  try {
    const text = elf.section('.text')!;
    const lo = window?.start ?? text.addr;
    const hi = window?.stop ?? text.addr + text.size;
    const { starts, bad } = await objdumpBoundaries(file, window?.start, window?.stop);
    const code = elf.readAt(text.offset + (lo - text.addr), hi - lo);
    const res: Comparison = { functions: 0, instructions: 0, mismatches: [], undecodable: [] };
    const seen = new Set<number>();
    for (const s of elf.symbols('.symtab')) {
      if (s.type !== STT_FUNC || s.size === 0 || s.value < lo || s.value + s.size > hi || seen.has(s.value)) continue;
      seen.add(s.value);
      if ([...bad].some((a) => a >= s.value && a < s.value + s.size)) {
        res.undecodable.push(s.name);
        continue;
      }
      res.functions++;
      const theirs: number[] = [];
      for (let a = s.value; a < s.value + s.size; a++) if (starts.has(a)) theirs.push(a);
      let mine: number[];
      try {
        mine = decodeX86Range(code, s.value - lo, s.value - lo + s.size).map((i) => i.offset + lo);
      } catch (err) {
        res.mismatches.push(`${s.name}: ${(err as Error).message}`);
        continue;
      }
      res.instructions += mine.length;
      if (mine.length !== theirs.length || mine.some((a, i) => a !== theirs[i])) {
        const at = mine.findIndex((a, i) => a !== theirs[i]);
        res.mismatches.push(`${s.name}: first difference at 0x${(mine[at] ?? theirs[at] ?? 0).toString(16)}`);
      }
    }
    return res;
  } finally {
    elf.close();
  }
}

t.test('instruction boundaries equal objdump\'s in every function of a Go TLS program', async (t) => {
  const res = await compareWithObjdump(buildGoTlsProbe());
  t.same(res.mismatches, []);
  t.ok(res.functions > 3000, `${res.functions} functions, ${res.instructions} instructions`);
  // Go's FIPS/boring marker "functions" hold magic bytes, not code.
  t.ok(res.undecodable.every((n) => n.startsWith('crypto/internal/boring/sig.')), `undecodable: ${res.undecodable.join(', ')}`);
});

t.test('other Go toolchains (LANTERN_GO_TOOLCHAINS=cached or go1.X.Y,…)', async (t) => {
  const list = requestedToolchains();
  if (!list) {
    t.skip('other toolchains: set LANTERN_GO_TOOLCHAINS to compare their builds', () => undefined);
    return;
  }
  for (const toolchain of list) {
    const res = await compareWithObjdump(buildGoTlsProbe({ toolchain }));
    t.same(res.mismatches, [], `${toolchain}: ${res.functions} functions, ${res.instructions} instructions`);
    t.ok(res.undecodable.every((n) => n.startsWith('crypto/internal/boring/sig.')), `${toolchain} undecodable: ${res.undecodable.join(', ')}`);
  }
});

t.test('instruction boundaries equal objdump\'s over a sample of node\'s functions', async (t) => {
  const node = process.execPath;
  const elf = ElfFile.open(node);
  const text = elf.section('.text');
  const hasSymtab = elf.section('.symtab') !== undefined;
  elf.close();
  if (!text || !hasSymtab) {
    t.skip(`${node} has no .symtab`, () => undefined);
    return;
  }
  // Three 1 MiB windows spread over .text (C++, V8 builtins, OpenSSL assembly live in different parts).
  let total = 0;
  for (const frac of [0.1, 0.5, 0.9]) {
    const start = text.addr + Math.floor(text.size * frac);
    const res = await compareWithObjdump(node, { start, stop: Math.min(start + (1 << 20), text.addr + text.size) });
    t.same(res.mismatches, [], `window at ${frac}`);
    total += res.functions;
  }
  t.ok(total > 300, `${total} functions compared`);
});

t.test('arm64: the RETs of crypto/tls.(*Conn).Read/Write are those go tool objdump lists', async (t) => {
  const bin = buildGoTlsProbe({ goarch: 'arm64' });
  const elf = ElfFile.open(bin);
  t.teardown(() => elf.close());
  for (const fn of ['crypto/tls.(*Conn).Read', 'crypto/tls.(*Conn).Write']) {
    const sym = elf.symbols('.symtab').find((s) => s.name === fn)!;
    const code = elf.readAt(elf.addressToOffset(sym.value)!, sym.size);
    const mine = arm64ReturnOffsets(code).map((o) => sym.value + o);
    const pattern = `^${fn.replace(/[.*()]/g, (c) => `\\${c}`)}$`;
    const out = execFileSync(GO, ['tool', 'objdump', '-s', pattern, bin], { env: goEnv(), encoding: 'utf8' });
    const theirs = [...out.matchAll(/^\s*\S+\s+0x([0-9a-f]+)\s+[0-9a-f]{8}\s+RET\b/gm)].map((m) => parseInt(m[1]!, 16));
    t.ok(theirs.length > 0, `${fn}: objdump lists RETs`);
    t.same(mine, theirs, fn);
  }
  t.same(arm64ReturnOffsets(hex('c0035fd6 00000000 c0035fd6 20005fd6 c003')), [0, 8, 12], 'RET, RET x1; a trailing partial word is ignored');
});
