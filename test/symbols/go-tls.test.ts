// analyzeGoTlsBinary on a real Go HTTPS program built four ways (with DWARF, `-ldflags=-w`,
// `-ldflags='-s -w'`, PIE) and for arm64: entry and RET file offsets equal objdump's (-F prints file
// offsets) and `go tool nm`'s addresses, struct offsets equal the DWARF of the normal build, and the
// typed errors for a corrupt function and an unknown layout.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ElfFile } from '../../src/symbols/elf.js';
import { GO_NEWPROC1, GO_TLS_READ, GO_TLS_WRITE, GoTlsError, type GoTlsTarget, analyzeGoTlsBinary, analyzeGoTlsElf, goSpawnProbePoints, goTlsBpfLayout, goTlsOffsetsFromDwarf } from '../../src/symbols/go-tls.js';
import { XorShift32 } from '../helpers/prng.js';
import { GO, buildGoTlsProbe, goEnv } from '../fixtures/go-tls-probe/build.js';
import { run, startPrintingPort } from '../helpers/spawn.js';

const normalBin = buildGoTlsProbe();
const noDwarfBin = buildGoTlsProbe({ ldflags: '-w' });
const strippedBin = buildGoTlsProbe({ ldflags: '-s -w' });
const pieBin = buildGoTlsProbe({ buildmode: 'pie' });
const arm64Bin = buildGoTlsProbe({ goarch: 'arm64' });

/** `go tool nm -size`: address and size of each symbol. */
function goNm(bin: string): Map<string, { address: number; size: number }> {
  const out = execFileSync(GO, ['tool', 'nm', '-size', bin], { env: goEnv(), encoding: 'utf8', maxBuffer: 1 << 28 });
  const m = new Map<string, { address: number; size: number }>();
  for (const line of out.split('\n')) {
    const f = /^\s*([0-9a-f]+)\s+(\d+)\s+\S\s+(.+)$/.exec(line);
    if (f) m.set(f[3]!, { address: parseInt(f[1]!, 16), size: Number(f[2]) });
  }
  return m;
}

/** objdump over [address, address+size): the file offset of the start and of every RET. */
function objdumpFunction(bin: string, address: number, size: number): { entryOffset: number; returnOffsets: number[] } {
  const out = execFileSync('objdump', ['-d', '-F', '--insn-width=16', `--start-address=0x${address.toString(16)}`, `--stop-address=0x${(address + size).toString(16)}`, bin], { encoding: 'utf8' });
  const label = /^[0-9a-f]+ <[^>]+> \(File Offset: 0x([0-9a-f]+)\):$/m.exec(out);
  if (!label) throw new Error(`objdump printed no label for 0x${address.toString(16)}`);
  const entryOffset = parseInt(label[1]!, 16);
  const returnOffsets = [...out.matchAll(/^\s*([0-9a-f]+):\t[0-9a-f ]+\t(?:repz )?ret/gm)].map((m) => entryOffset + parseInt(m[1]!, 16) - address);
  return { entryOffset, returnOffsets };
}

function analyze(bin: string): GoTlsTarget {
  const target = analyzeGoTlsBinary(bin);
  if (!target) throw new Error(`${bin}: not recognised`);
  return target;
}

function dwarfOffsets(bin: string): unknown {
  const elf = ElfFile.open(bin);
  try {
    return goTlsOffsetsFromDwarf(elf);
  } finally {
    elf.close();
  }
}

const localGo = execFileSync(GO, ['env', 'GOVERSION'], { env: goEnv(), encoding: 'utf8' }).trim();
const nm = goNm(normalBin);
const normal = analyze(normalBin);

t.test('with DWARF: symbols from .symtab, RETs as objdump lists them, offsets from the measured table (as DWARF says)', async (t) => {
  // A release the table has measured is not indexed again: its DWARF must say the same.
  t.match(normal, { goVersion: localGo, arch: 'amd64', registerAbi: true, modulePath: 'lantern.test/gotlsprobe', offsetsSource: 'table', offsetsVerified: true, functionsSource: 'symtab', warnings: [] });
  t.same(dwarfOffsets(normalBin), normal.offsets, 'the table row is what this binary\'s DWARF says');
  for (const [key, name] of [['read', GO_TLS_READ], ['write', GO_TLS_WRITE]] as const) {
    const sym = nm.get(name)!;
    const points = normal[key];
    t.same([points.address, points.size], [sym.address, sym.size], `${name}: address and size as go tool nm`);
    const want = objdumpFunction(normalBin, sym.address, sym.size);
    t.equal(points.entryOffset, want.entryOffset, `${name}: entry file offset`);
    t.ok(want.returnOffsets.length > 0, `${name}: objdump finds RETs`);
    t.same(points.returnOffsets, want.returnOffsets, `${name}: every RET`);
  }
  t.equal(normal.tcpConnItab, nm.get('go:itab.*net.TCPConn,net.Conn')?.address ?? nm.get('go.itab.*net.TCPConn,net.Conn')?.address, 'itab of *net.TCPConn as net.Conn');
  // The values Go's sources give (net.go, tcpsock.go, fd_posix.go, internal/poll/fd_unix.go).
  t.match(normal.offsets, { tlsConnConn: 0, tcpConnConnFd: 0, netFdPfd: 0, pfdSysfd: 16 });
  t.same(goTlsBpfLayout(normal), {
    connData: normal.offsets.tlsConnConn + 8,
    tcpConnFd: normal.offsets.tcpConnConnFd,
    netFdSysfd: normal.offsets.netFdPfd + normal.offsets.pfdSysfd,
    vers: normal.offsets.tlsConnVers,
    // The fd path holds for these conns only; a non-PIE build's itab addresses are fixed.
    connItabs: [normal.tcpConnItab, normal.unixConnItab].filter((a) => a !== undefined),
  });
  t.equal(normal.pie, false);
  t.equal(normal.unixConnItab, nm.get('go:itab.*net.UnixConn,net.Conn')?.address ?? nm.get('go.itab.*net.UnixConn,net.Conn')?.address, 'itab of *net.UnixConn as net.Conn');
});

t.test('-ldflags=-w (no DWARF): the same probes, offsets from the table equal to DWARF\'s', async (t) => {
  const target = analyze(noDwarfBin);
  t.match(target, { goVersion: localGo, offsetsSource: 'table', offsetsVerified: true, functionsSource: 'symtab' });
  t.same(target.offsets, normal.offsets, 'table offsets equal the DWARF of the normal build');
  for (const key of ['read', 'write'] as const) {
    const want = objdumpFunction(noDwarfBin, target[key].address, target[key].size);
    t.same([target[key].entryOffset, target[key].returnOffsets], [want.entryOffset, want.returnOffsets], key);
  }
});

t.test('-ldflags=\'-s -w\' (stripped): functions from .gopclntab, the same RETs', async (t) => {
  const target = analyze(strippedBin);
  t.match(target, { goVersion: localGo, offsetsSource: 'table', functionsSource: 'gopclntab' });
  t.equal(target.tcpConnItab, undefined, 'no symbol for the itab');
  t.same(target.offsets, normal.offsets);
  for (const [key, name] of [['read', GO_TLS_READ], ['write', GO_TLS_WRITE]] as const) {
    const sym = nm.get(name)!;
    t.equal(target[key].address, sym.address, `${name}: same entry as the unstripped build`);
    // The table's function ends where the next begins: alignment padding (INT3) is included.
    t.ok(target[key].size >= sym.size && target[key].size < sym.size + 64, `${name}: size ${target[key].size} covers ${sym.size}`);
    const want = objdumpFunction(strippedBin, target[key].address, target[key].size);
    t.same([target[key].entryOffset, target[key].returnOffsets], [want.entryOffset, want.returnOffsets], `${name}: as objdump`);
    t.same(target[key].returnOffsets, normal[key].returnOffsets, `${name}: as the unstripped build`);
  }
});

t.test('PIE: file offsets, not addresses', async (t) => {
  const target = analyze(pieBin);
  const pieNm = goNm(pieBin);
  for (const [key, name] of [['read', GO_TLS_READ], ['write', GO_TLS_WRITE]] as const) {
    const sym = pieNm.get(name)!;
    const want = objdumpFunction(pieBin, sym.address, sym.size);
    t.same([target[key].entryOffset, target[key].returnOffsets], [want.entryOffset, want.returnOffsets], name);
  }
  t.same(target.offsets, normal.offsets);
  t.equal(target.pie, true);
  t.same(goTlsBpfLayout(target).connItabs, [], 'itab addresses move with the load address: not checked');
});

t.test('arm64: RETs as go tool objdump lists them, DWARF offsets as on amd64', async (t) => {
  const target = analyze(arm64Bin);
  t.match(target, { arch: 'arm64', registerAbi: true, offsetsSource: 'table', functionsSource: 'symtab' });
  t.same(dwarfOffsets(arm64Bin), target.offsets, 'the table row is what this binary\'s DWARF says');
  t.same(target.offsets, normal.offsets, '64-bit layouts are the same');
  const elf = ElfFile.open(arm64Bin);
  t.teardown(() => elf.close());
  for (const [key, name] of [['read', GO_TLS_READ], ['write', GO_TLS_WRITE]] as const) {
    const pattern = `^${name.replace(/[.*()]/g, (c) => `\\${c}`)}$`;
    const out = execFileSync(GO, ['tool', 'objdump', '-s', pattern, arm64Bin], { env: goEnv(), encoding: 'utf8' });
    const rets = [...out.matchAll(/^\s*\S+\s+0x([0-9a-f]+)\s+d65f03c0\s+RET\b/gm)].map((m) => elf.addressToOffset(parseInt(m[1]!, 16))!);
    t.ok(rets.length > 0, `${name}: go tool objdump lists RETs`);
    t.same(target[key].returnOffsets, rets, name);
    t.equal(target[key].entryOffset, elf.addressToOffset(target[key].address));
  }
});

t.test('not Go, or Go without crypto/tls: undefined; a missing file: the I/O error', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'go-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.equal(analyzeGoTlsBinary(process.execPath), undefined, 'node');
  writeFileSync(join(dir, 'text'), 'not an ELF file at all, just text long enough for a header check..........');
  t.equal(analyzeGoTlsBinary(join(dir, 'text')), undefined, 'a text file');
  t.throws(() => analyzeGoTlsBinary(join(dir, 'missing')), { code: 'ENOENT' });
  writeFileSync(join(dir, 'go.mod'), 'module example.com/hello\n\ngo 1.17\n');
  writeFileSync(join(dir, 'main.go'), 'package main\n\nfunc main() { println("hello") }\n');
  execFileSync(GO, ['build', '-o', 'hello', '.'], { cwd: dir, env: goEnv() });
  t.equal(analyzeGoTlsBinary(join(dir, 'hello')), undefined, 'Go without crypto/tls');
});

t.test('goroutine creation (runtime.newproc1): entry and RETs as objdump lists them, stripped or not, with or without crypto/tls', async (t) => {
  const spawn = (bin: string): ReturnType<typeof goSpawnProbePoints> => {
    const elf = ElfFile.open(bin);
    try {
      return goSpawnProbePoints(elf);
    } finally {
      elf.close();
    }
  };
  const sym = nm.get(GO_NEWPROC1)!;
  t.ok(sym, 'go tool nm lists it');
  const want = objdumpFunction(normalBin, sym.address, sym.size);
  const normalSpawn = spawn(normalBin);
  t.same([normalSpawn?.entryOffset, normalSpawn?.returnOffsets], [want.entryOffset, want.returnOffsets], 'with .symtab');
  const stripped = spawn(strippedBin);
  t.equal(stripped?.address, sym.address, 'stripped: from .gopclntab');
  t.same(stripped?.returnOffsets, want.returnOffsets, 'stripped: the same RETs');
  t.equal(spawn(process.execPath), undefined, 'node: not Go');
  const dir = mkdtempSync(join(tmpdir(), 'go-spawn-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'go.mod'), 'module example.com/hello\n\ngo 1.17\n');
  writeFileSync(join(dir, 'main.go'), 'package main\n\nfunc main() { go println("hello") }\n');
  execFileSync(GO, ['build', '-o', 'hello', '.'], { cwd: dir, env: goEnv() });
  t.ok((spawn(join(dir, 'hello'))?.returnOffsets.length ?? 0) > 0, 'Go without crypto/tls: probed too');
});

function reasonOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return err instanceof GoTlsError ? err.reason : `not a GoTlsError: ${String(err)}`;
  }
  return 'no error';
}

t.test('typed errors: undecodable function, unknown layout', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'go-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // An opcode invalid in 64-bit mode in the middle of Read.
  const broken = join(dir, 'broken');
  const bytes = readFileSync(normalBin);
  bytes[normal.read.entryOffset + 4] = 0x06;
  writeFileSync(broken, bytes);
  t.equal(reasonOf(() => analyzeGoTlsBinary(broken)), 'bad-function');
  // No DWARF and a Go release before the table (the version string rewritten in place).
  const old = join(dir, 'old');
  copyFileSync(noDwarfBin, old);
  const oldBytes = readFileSync(old);
  const elf = ElfFile.open(noDwarfBin);
  const buildInfoAt = elf.section('.go.buildinfo')!.offset;
  elf.close();
  const at = oldBytes.indexOf(Buffer.from(localGo), buildInfoAt);
  Buffer.from(localGo.replace(/^go1\.\d+/, 'go1.15')).copy(oldBytes, at);
  writeFileSync(old, oldBytes);
  t.equal(reasonOf(() => analyzeGoTlsBinary(old)), 'unknown-layout');
});

t.test('mutated build info, function table, code and DWARF: a result, undefined or a GoTlsError', async (t) => {
  for (const [bin, sections] of [[strippedBin, ['.go.buildinfo', '.gopclntab']], [normalBin, ['.go.buildinfo', '.debug_info', '.debug_abbrev', '.symtab']]] as const) {
    const original = readFileSync(bin);
    const elf = ElfFile.fromBuffer(original);
    const areas = sections.map((n) => elf.section(n)!).map((sec) => ({ offset: sec.offset, size: Math.min(sec.size, 4096) }));
    const target = analyzeGoTlsElf(elf)!;
    areas.push({ offset: target.read.entryOffset, size: target.read.size });
    const outcomes = new Map<string, number>();
    for (let seed = 1; seed <= 60; seed++) {
      const r = new XorShift32(seed);
      const buf = Buffer.from(original);
      for (let i = 1 + r.int(16); i > 0; i--) {
        const a = r.pick(areas);
        buf[a.offset + r.int(a.size)] = r.next() & 0xff;
      }
      let outcome: string;
      try {
        outcome = analyzeGoTlsElf(ElfFile.fromBuffer(buf)) ? 'analyzed' : 'undefined';
      } catch (err) {
        if (!(err instanceof GoTlsError)) {
          t.fail(`${bin} seed ${seed}: ${(err as Error).stack}`);
          continue;
        }
        outcome = err.reason;
      }
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
    t.ok(outcomes.size > 1, `${JSON.stringify(Object.fromEntries(outcomes))}`);
  }
});

t.test('the fixture serves HTTPS through crypto/tls', async (t) => {
  const server = await startPrintingPort(normalBin, ['server']);
  t.teardown(() => server.stop());
  const r = await run(strippedBin, ['client', `https://127.0.0.1:${server.port}/hello`, '2']);
  t.equal(r.stdout, '200\n200\n', r.stderr);
});
