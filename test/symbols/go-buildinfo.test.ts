// .go.buildinfo: the Go version, module and build settings equal what `go version -m` prints, for
// builds with and without symbols and for arm64; both header formats (inline strings since Go 1.18,
// pointers before) in hand-made ELF files without section headers; version parsing; corrupt headers.
import { execFileSync } from 'node:child_process';
import t from 'tap';
import { ElfFile } from '../../src/symbols/elf.js';
import { GoBuildInfoError, compareGoVersions, parseGoVersion, readGoBuildInfo } from '../../src/symbols/go-buildinfo.js';
import { GO, buildGoTlsProbe, goEnv } from '../fixtures/go-tls-probe/build.js';

function read(file: string): ReturnType<typeof readGoBuildInfo> {
  const elf = ElfFile.open(file);
  try {
    return readGoBuildInfo(elf);
  } finally {
    elf.close();
  }
}

/** `go version -m`: the version and the module lines. */
function goVersionM(file: string): { version: string; path?: string; mod?: string[]; settings: Record<string, string> } {
  const out = execFileSync(GO, ['version', '-m', file], { env: goEnv(), encoding: 'utf8' });
  const [first, ...lines] = out.trimEnd().split('\n');
  const res: ReturnType<typeof goVersionM> = { version: first!.slice(first!.indexOf(': ') + 2), settings: {} };
  for (const line of lines) {
    const [, kind, ...f] = line.split('\t');
    if (kind === 'path') res.path = f[0];
    else if (kind === 'mod') res.mod = f;
    else if (kind === 'build') {
      const eq = f[0]!.indexOf('=');
      const v = f[0]!.slice(eq + 1);
      res.settings[f[0]!.slice(0, eq)] = v.startsWith('"') ? (JSON.parse(v) as string) : v;
    }
  }
  return res;
}

t.test('real builds: the same as go version -m', async (t) => {
  for (const variant of [{}, { ldflags: '-w' }, { ldflags: '-s -w' }, { goarch: 'arm64' as const }, { buildmode: 'pie' as const }]) {
    const bin = buildGoTlsProbe(variant);
    const info = read(bin);
    const want = goVersionM(bin);
    const label = JSON.stringify(variant);
    t.equal(info?.goVersion, want.version, `${label}: version`);
    t.equal(info?.path, want.path, `${label}: path`);
    t.same([info?.main?.path, info?.main?.version], want.mod?.slice(0, 2), `${label}: main module`);
    t.same(info?.settings, want.settings, `${label}: build settings`);
  }
  t.equal(read(buildGoTlsProbe({ ldflags: '-s -w' }))?.settings['-ldflags'], '-s -w');
  t.equal(read(buildGoTlsProbe({ goarch: 'arm64' }))?.settings.GOARCH, 'arm64');
});

t.test('not Go: undefined', async (t) => {
  t.equal(read(process.execPath), undefined, 'node');
});

// --- hand-made ELF files: one read-write PT_LOAD, no section headers (Go's fallback search) --------

const BASE = 0x400000;

function elfWith(data: Buffer): Buffer {
  const file = Buffer.alloc(0x100 + data.length);
  file.writeUInt32BE(0x7f454c46, 0);
  file[4] = 2; // ELFCLASS64
  file[5] = 1; // little-endian
  file[6] = 1;
  file.writeUInt16LE(2, 16); // ET_EXEC
  file.writeUInt16LE(62, 18); // x86-64
  file.writeUInt32LE(1, 20);
  file.writeBigUInt64LE(64n, 32); // e_phoff
  file.writeUInt16LE(64, 52);
  file.writeUInt16LE(56, 54);
  file.writeUInt16LE(1, 56); // one program header
  file.writeUInt16LE(64, 58);
  const ph = 64;
  file.writeUInt32LE(1, ph); // PT_LOAD
  file.writeUInt32LE(6, ph + 4); // PF_R | PF_W
  file.writeBigUInt64LE(0n, ph + 8);
  file.writeBigUInt64LE(BigInt(BASE), ph + 16);
  file.writeBigUInt64LE(BigInt(file.length), ph + 32);
  file.writeBigUInt64LE(BigInt(file.length), ph + 40);
  data.copy(file, 0x100);
  return file;
}

const MAGIC = Buffer.from('\xff Go buildinf:', 'latin1');
// Go wraps the module text in two 16-byte sentinels; the text ends with "\n".
const wrap = (mod: string): string => `3077af0c9274150a${mod}f932433186182072`;
const MOD = wrap('path\texample.com/app\nmod\texample.com/app\tv1.2.3\th1:abc=\ndep\tgolang.org/x/net\tv0.1.0\th1:def=\n=>\t../net\t(devel)\t\nbuild\tGOARCH=amd64\nbuild\t-ldflags="-s -w"\n');

function varint(n: number): Buffer {
  const out: number[] = [];
  do {
    out.push((n & 0x7f) | (n >= 0x80 ? 0x80 : 0));
    n >>>= 7;
  } while (n > 0);
  return Buffer.from(out);
}

function inlineFormat(version: string, mod: string): Buffer {
  const header = Buffer.alloc(32);
  MAGIC.copy(header);
  header[14] = 8;
  header[15] = 2; // inline strings
  return Buffer.concat([Buffer.alloc(16), header, varint(version.length), Buffer.from(version), varint(Buffer.byteLength(mod)), Buffer.from(mod)]);
}

function pointerFormat(version: string, mod: string): Buffer {
  // Layout (offsets in `data`, which lands at file offset 0x100): header at 0x10, string headers at
  // 0x40 and 0x50, string bytes from 0x60.
  const data = Buffer.alloc(0x60 + version.length + Buffer.byteLength(mod));
  const addr = (off: number): bigint => BigInt(BASE + 0x100 + off);
  MAGIC.copy(data, 0x10);
  data[0x10 + 14] = 8;
  data[0x10 + 15] = 0;
  data.writeBigUInt64LE(addr(0x40), 0x10 + 16);
  data.writeBigUInt64LE(addr(0x50), 0x10 + 24);
  data.writeBigUInt64LE(addr(0x60), 0x40);
  data.writeBigUInt64LE(BigInt(version.length), 0x48);
  data.writeBigUInt64LE(addr(0x60 + version.length), 0x50);
  data.writeBigUInt64LE(BigInt(Buffer.byteLength(mod)), 0x58);
  data.write(version, 0x60);
  data.write(mod, 0x60 + version.length);
  return data;
}

t.test('both header formats, found by scanning the writable segment', async (t) => {
  for (const [what, data] of [['inline (Go ≥ 1.18)', inlineFormat('go1.22.5', MOD)], ['pointers (Go < 1.18)', pointerFormat('go1.16.15', MOD)]] as const) {
    const info = readGoBuildInfo(ElfFile.fromBuffer(elfWith(data)));
    t.match(info, {
      path: 'example.com/app',
      main: { path: 'example.com/app', version: 'v1.2.3', sum: 'h1:abc=' },
      deps: [{ path: '../net', version: '(devel)' }],
      settings: { GOARCH: 'amd64', '-ldflags': '-s -w' },
    }, what);
  }
  t.equal(readGoBuildInfo(ElfFile.fromBuffer(elfWith(inlineFormat('go1.22.5', ''))))?.goVersion, 'go1.22.5', 'no module info');
});

t.test('corrupt headers are GoBuildInfoError', async (t) => {
  const longVarint = inlineFormat('go1.22.5', MOD);
  longVarint.fill(0xff, 48, 60); // the version length never ends
  t.throws(() => readGoBuildInfo(ElfFile.fromBuffer(elfWith(longVarint))), GoBuildInfoError);
  const pastEnd = inlineFormat('go1.22.5', MOD);
  pastEnd[48] = 0x7f; // a length beyond the file
  pastEnd[49] = 0x7f;
  t.throws(() => readGoBuildInfo(ElfFile.fromBuffer(elfWith(pastEnd.subarray(0, 60)))), GoBuildInfoError);
  const dangling = pointerFormat('go1.16.15', MOD);
  dangling.writeBigUInt64LE(0xdead0000n, 0x10 + 16); // the version pointer leads nowhere
  t.throws(() => readGoBuildInfo(ElfFile.fromBuffer(elfWith(dangling))), GoBuildInfoError);
  const badPtrSize = pointerFormat('go1.16.15', MOD);
  badPtrSize[0x10 + 14] = 3;
  t.throws(() => readGoBuildInfo(ElfFile.fromBuffer(elfWith(badPtrSize))), GoBuildInfoError);
  const misaligned = Buffer.concat([Buffer.alloc(3), inlineFormat('go1.22.5', MOD)]);
  t.equal(readGoBuildInfo(ElfFile.fromBuffer(elfWith(misaligned))), undefined, 'a magic off the 16-byte alignment is not a header');
});

t.test('version strings', async (t) => {
  t.same(parseGoVersion('go1.26.8'), { major: 1, minor: 26, patch: 8 });
  t.same(parseGoVersion('go1.20'), { major: 1, minor: 20, patch: 0 });
  t.same(parseGoVersion('go1.21rc2'), { major: 1, minor: 21, patch: 0 });
  t.same(parseGoVersion('go1.22.0 X:boringcrypto'), { major: 1, minor: 22, patch: 0 });
  t.same(parseGoVersion('devel go1.27-4d5e6f7 Tue Jan 6 2026'), { major: 1, minor: 27, patch: 0 });
  t.equal(parseGoVersion('devel +abcdef'), undefined);
  t.ok(compareGoVersions({ major: 1, minor: 9, patch: 0 }, { major: 1, minor: 17, patch: 0 }) < 0, 'numeric, not lexical');
  t.equal(compareGoVersions({ major: 1, minor: 22, patch: 3 }, { major: 1, minor: 22, patch: 9 }, true), 0);
});
