// The Symbolizer on live processes: a C program (unstripped, and stripped with its debug file in a
// temp debug root), a stripped Go program, node's JIT through --perf-basic-prof, the vDSO and
// anonymous code of this process, the kernel through /proc/kallsyms. A process that exits after
// notePid is still symbolized; caches stay within their bounds.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parseProcMaps } from '../../src/metadata/proc.js';
import { ElfFile } from '../../src/symbols/elf.js';
import { createSymbolizer } from '../../src/symbols/index.js';
import { readOwnVdso } from '../../src/symbols/vdso.js';
import { buildCProgram, buildGoPrograms, debugRootByBuildId } from './fixtures.js';

const prog = buildCProgram();
const go = buildGoPrograms();

/** Starts `cmd` and resolves with the child and the first line it prints (an address). */
async function startPrinting(cmd: string, args: string[]): Promise<{ child: ChildProcess; line: string }> {
  // In the temp dir: node under --perf-basic-prof writes its V8 logs into its working directory.
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], cwd: tmpdir() });
  const line = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(buf.slice(0, nl).trim());
    });
    child.once('exit', (code) => reject(new Error(`${cmd} exited (${code}) before printing`)));
  });
  return { child, line };
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGKILL');
  await once(child, 'exit');
}

t.test('a live C process: resolved, and still resolved after it exits (notePid)', async (t) => {
  const { child, line } = await startPrinting(prog.full, ['wait']);
  t.teardown(() => kill(child));
  const hot = BigInt(line);
  const s = createSymbolizer({ debugRoots: [] });
  s.notePid(child.pid!);
  // The process is gone before any symbol is read: the files were opened at notePid.
  await kill(child);
  t.notOk(existsSync(`/proc/${child.pid}/maps`), 'exited');
  const [a, b] = s.symbolizeUser(child.pid!, [hot + 4n, hot]);
  t.equal(a!.function, 'hot_function');
  t.equal(a!.module, prog.full);
  t.equal(a!.buildId, prog.buildId);
  t.type(a!.moduleOffset, 'number');
  t.equal(b!.function, 'hot_function');
  const stats = s.stats();
  t.ok(stats.symtab_used! >= 1);
  t.equal(stats.pids, 1);
  s.forgetPid(child.pid!);
  const [gone] = s.symbolizeUser(child.pid!, [hot]);
  t.equal(gone!.module, '[unknown]', 'forgotten: nothing is left to resolve with');
  t.equal(gone!.function, undefined);
  t.ok(s.stats().unknown_pid! >= 1);
  t.equal(s.stats().pids, 0);
});

t.test('a live stripped C process: symbols from its debug file under a temp debug root', async (t) => {
  const { child, line } = await startPrinting(prog.bare, ['spin']);
  t.teardown(() => kill(child));
  const s = createSymbolizer({ debugRoots: [debugRootByBuildId(prog)] });
  s.notePid(child.pid!);
  const frames = s.symbolizeUser(child.pid!, [BigInt(line) + 2n, 0x10n]);
  t.equal(frames[0]!.function, 'hot_function');
  t.equal(frames[0]!.module, prog.bare);
  t.same(frames[1], { module: '[unknown]', moduleOffset: 0x10 }, 'an address in no mapping');
  t.equal(s.stats().debug_file_found, 1);
  t.equal(s.stats().missing_debug_file ?? 0, 0, 'only the module looked up was loaded');
});

t.test('a live Go process built with -ldflags="-s -w": names from .gopclntab', async (t) => {
  const { child, line } = await startPrinting(go.stripped, ['spin']);
  t.teardown(() => kill(child));
  const s = createSymbolizer();
  s.notePid(child.pid!);
  const [f] = s.symbolizeUser(child.pid!, [BigInt(line) + 1n]);
  t.equal(f!.function, 'main.hotLoop');
  t.equal(f!.module, go.stripped);
  t.equal(s.stats().gopclntab_used, 1);
});

t.test('node --perf-basic-prof: a JIT frame named from /tmp/perf-<pid>.map', async (t) => {
  const script = `
    function lanternHotJs(n) { let s = 0; for (let i = 0; i < n; i++) s = (s + i * 7) % 1000003; return s; }
    let x = 0;
    (function spin() { for (let k = 0; k < 50; k++) x += lanternHotJs(20000); setImmediate(spin); })();
    console.log('ready');`;
  const { child } = await startPrinting(process.execPath, ['--perf-basic-prof', '-e', script]);
  const mapFile = `/tmp/perf-${child.pid}.map`;
  t.teardown(async () => {
    await kill(child);
    rmSync(mapFile, { force: true });
  });
  let line: string | undefined;
  for (let i = 0; i < 100 && !line; i++) {
    await new Promise((r) => setTimeout(r, 100));
    line = existsSync(mapFile) ? readFileSync(mapFile, 'utf8').split('\n').find((l) => l.includes('lanternHotJs')) : undefined;
  }
  t.ok(line, 'V8 wrote the function to its perf map');
  const start = BigInt(`0x${line!.split(' ')[0]}`);
  const s = createSymbolizer();
  s.notePid(child.pid!);
  const [f] = s.symbolizeUser(child.pid!, [start + 1n]);
  t.match(f!.function, /lanternHotJs/);
  t.equal(f!.module, mapFile);
  t.equal(s.stats().perf_map_frames, 1);
});

t.test('this process: the vDSO by name, anonymous code as [anon]', async (t) => {
  const s = createSymbolizer();
  const maps = parseProcMaps(readFileSync('/proc/self/maps', 'utf8'));
  const vdso = maps.find((m) => m.path === '[vdso]')!;
  const image = ElfFile.fromBuffer(readOwnVdso()!);
  const sym = image.symbols('.dynsym').find((x) => x.name.endsWith('clock_gettime'))!;
  const seg = image.segments.find((p) => p.type === 1)!;
  const addr = vdso.start + BigInt(sym.value - seg.vaddr + seg.offset) + 1n;
  const anon = maps.find((m) => m.path === '' && m.perms.includes('x'));
  const frames = s.symbolizeUser(process.pid, anon ? [addr, anon.start + 8n] : [addr]);
  t.match(frames[0]!.function, /clock_gettime/);
  t.equal(frames[0]!.module, '[vdso]');
  if (anon) t.same(frames[1], { module: '[anon]', moduleOffset: 8 }, 'V8 code without a perf map');
  else t.comment('no anonymous executable mapping in this process');
});

t.test('kernel frames from /proc/kallsyms', async (t) => {
  const lines = readFileSync('/proc/kallsyms', 'utf8').split('\n');
  const counts = new Map<string, number>();
  for (const l of lines) counts.set(l.slice(0, 16), (counts.get(l.slice(0, 16)) ?? 0) + 1);
  const pick = lines.find((l) => / T (vfs_read|do_sys_open|ksys_read|schedule)$/.test(l) && counts.get(l.slice(0, 16)) === 1);
  t.ok(pick, 'a kernel function with an address of its own (running as root)');
  const [hex, , name] = pick!.split(' ');
  const s = createSymbolizer();
  const frames = s.symbolizeKernel([BigInt(`0x${hex}`) + 3n, 0x10n]);
  t.same(frames[0], { function: name, module: '[kernel]' });
  t.same(frames[1], { module: '[kernel]' });
  const mod = lines.find((l) => /\t\[\w+\]$/.test(l) && / [tT] /.test(l) && counts.get(l.slice(0, 16)) === 1 && !l.startsWith('0000'));
  if (mod) {
    const [mhex, , rest] = mod.split(' ');
    const [mname, mmod] = rest!.split('\t');
    t.same(s.symbolizeKernel([BigInt(`0x${mhex}`)])[0], { function: mname, module: mmod }, `a module symbol (${mmod})`);
  } else t.comment('no module symbols on this kernel');
  t.equal(s.stats().kernel_unknown_frames, 1);

  const dir = mkdtempSync(join(tmpdir(), 'lantern-kallsyms-'));
  writeFileSync(join(dir, 'kallsyms'), '0000000000000000 T _stext\n0000000000000000 T vfs_read\n');
  const unprivileged = createSymbolizer({ kallsymsPath: join(dir, 'kallsyms') });
  t.same(unprivileged.symbolizeKernel([BigInt(`0x${hex}`)]), [{ module: '[kernel]' }]);
  t.equal(unprivileged.stats().kallsyms_unavailable, 1, 'zero addresses (not root) count as unavailable');
  const missing = createSymbolizer({ kallsymsPath: join(dir, 'nope') });
  t.same(missing.symbolizeKernel([1n]), [{ module: '[kernel]' }]);
  t.equal(missing.stats().kallsyms_unavailable, 1);
});

t.test('bounded: one module kept at a time, evicted modules reopened for live processes', async (t) => {
  const { child, line } = await startPrinting(prog.full, ['wait']);
  t.teardown(() => kill(child));
  const s = createSymbolizer({ maxModules: 1 });
  s.notePid(child.pid!);
  const libc = parseProcMaps(readFileSync(`/proc/${child.pid}/maps`, 'utf8')).find((m) => m.path.includes('libc.so') && m.perms.includes('x'))!;
  for (let i = 0; i < 3; i++) {
    const [a, b] = s.symbolizeUser(child.pid!, [BigInt(line) + 1n, libc.start + 0x100n]);
    t.equal(a!.function, 'hot_function', `round ${i}`);
    t.equal(b!.module, libc.path);
  }
  const st = s.stats();
  t.ok(st.module_evictions! > 0, `${st.module_evictions} evictions`);
  t.ok(st.modules! <= 1, 'never more than maxModules');
  t.equal(s.symbolizeUser(4_194_000, [1n])[0]!.module, '[unknown]', 'a pid that never existed');
});
