// The fallback offsets table against DWARF: the row for the local Go toolchain (amd64 and arm64)
// equals what the DWARF of a crypto/tls program built with it says. With
// LANTERN_GO_TOOLCHAINS=cached (every toolchain already in the module cache) or a list such as
// go1.21.13,go1.23.12 the same is checked for those toolchains (each costs a cold build of the
// standard library, so it is not done by default).
import { execFileSync } from 'node:child_process';
import t, { type Test } from 'tap';
import { ElfFile } from '../../src/symbols/elf.js';
import { parseGoVersion, readGoBuildInfo } from '../../src/symbols/go-buildinfo.js';
import { GO_TLS_OFFSETS, GO_TLS_OFFSETS_NEWEST_VERIFIED, type GoTlsStructOffsets, goTlsOffsetsFor } from '../../src/symbols/go-offsets-table.js';
import { goTlsOffsetsFromDwarf } from '../../src/symbols/go-tls.js';
import { GO, type ProbeVariant, buildGoTlsProbe, goEnv, requestedToolchains } from '../fixtures/go-tls-probe/build.js';

function fromBinary(bin: string): { version: string; dwarf: GoTlsStructOffsets | undefined } {
  const elf = ElfFile.open(bin);
  try {
    return { version: readGoBuildInfo(elf)!.goVersion, dwarf: goTlsOffsetsFromDwarf(elf) };
  } finally {
    elf.close();
  }
}

function checkAgainstDwarf(t: Test, variant: ProbeVariant): void {
  const { version, dwarf } = fromBinary(buildGoTlsProbe(variant));
  const row = goTlsOffsetsFor(parseGoVersion(version)!);
  const label = `${version} ${variant.goarch ?? 'amd64'}`;
  t.ok(dwarf, `${label}: DWARF has every field`);
  t.ok(row?.verified, `${label}: the table covers it`);
  t.same(row?.offsets, dwarf, `${label}: table row equals DWARF`);
}

t.test('table shape: rows ascending, every field present', async (t) => {
  let last = 0;
  for (const row of GO_TLS_OFFSETS) {
    t.ok(row.since.major === 1 && row.since.minor > last, `row ${row.since.major}.${row.since.minor} after ${last}`);
    last = row.since.minor;
    for (const k of ['tlsConnConn', 'tcpConnConnFd', 'netFdPfd', 'pfdSysfd', 'gGoid', 'tlsConnVers', 'tlsConnIsClient'] as const) t.type(row.offsets[k], 'number', `${last}: ${k}`);
    t.ok(row.verified.length > 0, `${last}: measured on at least one toolchain`);
    for (const v of row.verified) t.equal(goTlsOffsetsFor(parseGoVersion(v)!)?.offsets.gGoid, row.offsets.gGoid, `${v} maps to its own row`);
  }
  t.equal(goTlsOffsetsFor({ major: 1, minor: 15 }), undefined, 'before Go 1.16: not covered');
  t.equal(goTlsOffsetsFor({ major: 2, minor: 0 }), undefined, 'Go 2: not covered');
  const future = goTlsOffsetsFor({ major: 1, minor: GO_TLS_OFFSETS_NEWEST_VERIFIED.minor + 3 });
  t.same(future, { offsets: GO_TLS_OFFSETS.at(-1)!.offsets, verified: false }, 'newer releases reuse the last row, unverified');
});

t.test('the local toolchain: table row equals DWARF (amd64, arm64)', async (t) => {
  const local = execFileSync(GO, ['env', 'GOVERSION'], { env: goEnv(), encoding: 'utf8' }).trim();
  t.ok(parseGoVersion(local), local);
  checkAgainstDwarf(t, {});
  checkAgainstDwarf(t, { goarch: 'arm64' });
});

t.test('other toolchains (LANTERN_GO_TOOLCHAINS)', async (t) => {
  const list = requestedToolchains();
  if (!list) {
    t.skip('other toolchains: set LANTERN_GO_TOOLCHAINS=cached or go1.X.Y,… to check them', () => undefined);
    return;
  }
  for (const toolchain of list) {
    const v = parseGoVersion(toolchain);
    if (!v || !goTlsOffsetsFor(v)) {
      t.pass(`${toolchain}: older than the table, not checked`);
      continue;
    }
    checkAgainstDwarf(t, { toolchain });
  }
});
