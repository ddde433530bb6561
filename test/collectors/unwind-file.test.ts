// What the compile worker makes of one binary (src/collectors/profiler/unwind-file.ts): .eh_frame,
// then .debug_frame — the binary's own, or its separate debug file's when it was stripped (found by
// .gnu_debuglink beside it, by build id under a debug root, under the process's root through a held
// directory descriptor) — and through the real worker thread (unwind-compiler.ts). As the worker
// reads them (sections in windows, buffers reused from file to file) and whole, the same rows.
import { execFileSync } from 'node:child_process';
import { closeSync, constants, copyFileSync, fstatSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import t from 'tap';
import { allRows } from '../../src/collectors/profiler/row-slices.js';
import { UnwindCompiler } from '../../src/collectors/profiler/unwind-compiler.js';
import { compileFile, type DebugFileSearch, type FileTable, planFile } from '../../src/collectors/profiler/unwind-file.js';
import { ElfFile } from '../../src/symbols/elf.js';
import { Scratch } from '../../src/symbols/scratch.js';
import { repoRoot } from '../helpers/cli.js';

const buildDir = join(repoRoot, 'test/.build/unwind-file');

/** leaf.c with -g and no unwind tables: its functions' CFI in .debug_frame only (crt's in .eh_frame). */
function build(): { bin: string; buildId: string } {
  rmSync(buildDir, { recursive: true, force: true });
  mkdirSync(buildDir, { recursive: true });
  const bin = join(buildDir, 'leaf');
  execFileSync('gcc', ['-g', '-O1', '-fno-omit-frame-pointer', '-fno-asynchronous-unwind-tables', '-fno-unwind-tables', '-o', bin,
    join(repoRoot, 'test/fixtures/profiler/leaf.c')]);
  const elf = ElfFile.open(bin);
  const buildId = elf.buildId()!;
  elf.close();
  return { bin, buildId };
}

/** `bin` stripped of its debug sections (.debug_frame among them) into `out`, its debug sections into `debug`. */
function split(bin: string, out: string, debug: string, link: boolean): void {
  mkdirSync(dirname(out), { recursive: true });
  mkdirSync(dirname(debug), { recursive: true });
  execFileSync('objcopy', ['--only-keep-debug', bin, debug]);
  execFileSync('objcopy', ['--strip-debug', ...(link ? [`--add-gnu-debuglink=${debug}`] : []), bin, out]);
}

function compile(path: string, search: DebugFileSearch | null): FileTable {
  const elf = ElfFile.open(path);
  try {
    return compileFile(elf, search);
  } finally {
    elf.close();
  }
}

const rowsOf = (r: FileTable): Buffer | undefined => (r.kind === 'table' ? r.table.rows : undefined);
const noRoots = { rootPrefix: '', debugRoots: [] as string[] };

t.test('.debug_frame of the binary, of a debug file by debuglink, by build id, under a process root', async (t) => {
  const { bin, buildId } = build();
  const own = compile(bin, null);
  t.equal(own.kind, 'table', 'the unstripped binary has a table');
  if (own.kind !== 'table') return;
  t.equal(own.debugFrame, 'file', 'from its own .debug_frame');
  t.same(own.table.sectionFdes.map((n) => n > 0), [true, true], `.eh_frame (crt) and .debug_frame FDEs: ${own.table.sectionFdes.join(', ')}`);

  // Stripped, with the debug file beside it, named by .gnu_debuglink (its CRC32 checked).
  const linked = join(buildDir, 'linked/leaf');
  split(bin, linked, join(buildDir, 'linked/leaf.debug'), true);
  const withoutSearch = compile(linked, null);
  t.ok(withoutSearch.kind === 'table' && withoutSearch.debugFrame === null, 'stripped, no search: .eh_frame (crt) only');
  const byLink = compile(linked, { path: linked, ...noRoots });
  t.equal(byLink.kind === 'table' && byLink.debugFrame, 'debug-file', 'by debuglink: from the debug file');
  t.ok(rowsOf(byLink)?.equals(own.table.rows), 'the same rows as the unstripped binary');

  // A debug file that is not this binary's (its CRC32 differs): not used.
  const debugPath = join(buildDir, 'linked/leaf.debug');
  writeFileSync(debugPath, Buffer.concat([readFileSync(debugPath), Buffer.from([0])]));
  const wrong = compile(linked, { path: linked, ...noRoots });
  t.ok(wrong.kind === 'table' && wrong.debugFrame === null, 'a debug file with another CRC32: left alone');

  // By build id under a debug root, the binary somewhere else.
  const root = join(buildDir, 'debug-root');
  const byIdBin = join(buildDir, 'by-id/leaf');
  split(bin, byIdBin, join(root, '.build-id', buildId.slice(0, 2), `${buildId.slice(2)}.debug`), false);
  const byId = compile(byIdBin, { path: '/usr/bin/leaf', rootPrefix: '', debugRoots: [root] });
  t.equal(byId.kind === 'table' && byId.debugFrame, 'debug-file', 'by build id: from the debug file');
  t.ok(rowsOf(byId)?.equals(own.table.rows), 'the same rows');

  // Under another process's root, reached through a directory descriptor the agent holds (the
  // worker's view of /proc/<pid>/root): <root>/usr/lib/debug/.build-id/…
  const procRoot = join(buildDir, 'proc-root');
  const inRoot = join(procRoot, 'usr/lib/debug/.build-id', buildId.slice(0, 2), `${buildId.slice(2)}.debug`);
  mkdirSync(dirname(inRoot), { recursive: true });
  copyFileSync(join(root, '.build-id', buildId.slice(0, 2), `${buildId.slice(2)}.debug`), inRoot);
  const rootFd = openSync(procRoot, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    const underRoot = compile(byIdBin, { path: '/usr/bin/leaf', rootPrefix: `/proc/self/fd/${rootFd}`, debugRoots: ['/usr/lib/debug'] });
    t.equal(underRoot.kind === 'table' && underRoot.debugFrame, 'debug-file', 'under the process root: from the debug file');
  } finally {
    closeSync(rootFd);
  }

  // Neither section anywhere: no table.
  const bare = join(buildDir, 'bare');
  execFileSync('objcopy', ['--strip-debug', '--remove-section', '.eh_frame', '--remove-section', '.eh_frame_hdr', bin, bare]);
  t.match(compile(bare, { path: bare, ...noRoots }), { kind: 'none', reason: 'no-cfi' }, 'no CFI at all: none');
});

t.test('through the worker: the debug file is found, the descriptors are closed', async (t) => {
  const { bin } = build();
  const linked = join(buildDir, 'linked/leaf');
  split(bin, linked, join(buildDir, 'linked/leaf.debug'), true);
  const want = rowsOf(compile(bin, null))!;
  const compiler = new UnwindCompiler();
  t.teardown(() => compiler.close());
  const fd = openSync(linked, 'r');
  const rootFd = openSync('/', constants.O_RDONLY | constants.O_DIRECTORY);
  const reply = await compiler.compile(fd, { path: linked, rootFd, debugRoots: [] });
  // Checked before anything else opens a file (it could be given a closed descriptor's number).
  for (const d of [fd, rootFd]) t.throws(() => fstatSync(d), { code: 'EBADF' }, `descriptor ${d} closed`);
  t.equal(reply.kind === 'table' && reply.debugFrame, 'debug-file', `reply: ${reply.kind}`);
  t.ok(reply.kind === 'table' && (await allRows(reply.slices)).rows.equals(want), 'the rows of the unstripped binary');
});

t.test('sections read in windows into reused buffers, file after file: the rows of the whole sections', async (t) => {
  const { bin } = build();
  // A corrupted copy of ls (every 97th byte of .eh_frame flipped) read from memory: the windows move
  // over malformed and unsupported entries too.
  const ls = readFileSync('/bin/ls');
  const eh = ElfFile.fromBuffer(ls).section('.eh_frame')!;
  const junk = Buffer.from(ls);
  for (let i = eh.offset + 8; i < eh.offset + eh.size; i += 97) junk[i] = junk[i]! ^ 0x5a;
  const files: Array<[string, () => ElfFile]> = [
    ['node', () => ElfFile.open(process.execPath)],
    ['libc', () => ElfFile.open('/lib/x86_64-linux-gnu/libc.so.6')],
    ['ls, corrupted', () => ElfFile.fromBuffer(junk)],
    ['leaf (.debug_frame)', () => ElfFile.open(bin)],
    ['ls', () => ElfFile.open('/bin/ls')],
    ['node again', () => ElfFile.open(process.execPath)],
  ];
  const scratch = new Scratch();
  for (const [name, open] of files) {
    const whole = open();
    const want = compileFile(whole, null);
    whole.close();
    const elf = open();
    const plan = planFile(elf, null, scratch);
    if (plan.kind !== 'table' || want.kind !== 'table') {
      t.fail(`${name}: ${plan.kind}, whole ${want.kind}`);
      continue;
    }
    const parts: Buffer[] = [];
    const slices = plan.slices(4096);
    let r = slices.next();
    for (; r.done !== true; r = slices.next()) parts.push(Buffer.from(r.value));
    elf.close();
    const rows = Buffer.concat(parts);
    t.equal(r.value, want.table.count, `${name}: ${r.value} rows`);
    t.ok(rows.equals(want.table.rows), `${name}: the same bytes`);
    t.ok(plan.rowBound >= want.table.count, `${name}: within the bound`);
  }
  const held = scratch.bytes;
  const elf = ElfFile.open(process.execPath);
  const plan = planFile(elf, null, scratch);
  if (plan.kind === 'table') {
    const slices = plan.slices(4096);
    while (slices.next().done !== true);
  }
  elf.close();
  t.equal(scratch.bytes, held, `node a third time: no buffer grown (${held} bytes)`);
});
