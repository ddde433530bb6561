// CFI unwinding (profiler.unwind: auto) through the real kernel, on C programs whose stacks frame
// pointers cannot walk: a leaf without a frame of its own (test/fixtures/profiler/leaf.c) — with
// its CFI in .eh_frame, in .debug_frame only, in a separate debug file's .debug_frame only —, three
// levels built -fomit-frame-pointer (omitfp.c), the same in a shared library (omitfp-lib.c), and the
// vDSO's clock_gettime (vdso.c).
// Scoped to this test's children.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { ProfileRecord, ProfileSample } from '../../src/model/profile.js';
import { ElfFile, SHT_NOBITS } from '../../src/symbols/elf.js';
import { repoRoot } from '../helpers/cli.js';
import { buildGoFixture, STRIPPED } from '../helpers/go-build.js';
import { fixtureBinary, fixtureDir, names, startProfiler, startWorkload } from './profiler-helpers.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const buildDir = join(repoRoot, 'test/.build/profiler-unwind');

function gcc(args: string[]): void {
  mkdirSync(buildDir, { recursive: true });
  execFileSync('gcc', ['-g', ...args]);
}

/** leaf.c as the issue describes it: -O1 with frame pointers, hot() left without a frame. */
function leafBinary(name = 'leaf', flags: string[] = []): string {
  const out = join(buildDir, name);
  gcc(['-O1', '-fno-omit-frame-pointer', ...flags, '-o', out, join(fixtureDir, 'leaf.c')]);
  return out;
}

/**
 * leaf.c without unwind tables (its functions' CFI then goes to .debug_frame only) and with the
 * start files' .eh_frame removed too: no .eh_frame at all.
 */
function leafDebugFrameBinary(): string {
  const built = leafBinary('leaf-no-unwind-tables', ['-fno-asynchronous-unwind-tables', '-fno-unwind-tables']);
  const out = join(buildDir, 'leaf-debug-frame');
  execFileSync('objcopy', ['--remove-section', '.eh_frame', '--remove-section', '.eh_frame_hdr', built, out]);
  return out;
}

/** leafDebugFrameBinary stripped: .debug_frame only in leaf-stripped.debug beside it, named by .gnu_debuglink. */
function leafDebugFileBinary(): string {
  const full = leafDebugFrameBinary();
  const out = join(buildDir, 'leaf-stripped');
  execFileSync('objcopy', ['--only-keep-debug', full, `${out}.debug`]);
  execFileSync('objcopy', ['--strip-debug', `--add-gnu-debuglink=${out}.debug`, full, out]);
  return out;
}

/** Which of the CFI sections a file has with bytes in it (readelf -S, as ElfFile reads it). */
function cfiSections(path: string): string[] {
  const elf = ElfFile.open(path);
  try {
    return ['.eh_frame', '.debug_frame'].filter((n) => { const s = elf.section(n); return s !== undefined && s.size > 0 && s.type !== SHT_NOBITS; });
  } finally {
    elf.close();
  }
}

/** omitfp.c and libomitfp.so, both -O2 -fomit-frame-pointer. */
function omitFpBinary(): string {
  const lib = join(buildDir, 'libomitfp.so');
  const out = join(buildDir, 'omitfp');
  gcc(['-O2', '-fomit-frame-pointer', '-fPIC', '-shared', '-o', lib, join(fixtureDir, 'omitfp-lib.c')]);
  gcc(['-O2', '-fomit-frame-pointer', '-o', out, join(fixtureDir, 'omitfp.c'), `-L${buildDir}`, '-lomitfp', `-Wl,-rpath,${buildDir}`]);
  return out;
}

function samplesOf(profiles: readonly ProfileRecord[], pid: number): ProfileSample[] {
  return profiles.flatMap((p) => p.samples.filter((s) => s.labels.pid === String(pid)));
}

/** Samples whose leaf is `leaf`, and how many of them have `chain` (leaf first) at their top. */
function chainShare(samples: readonly ProfileSample[], chain: string[]): { n: number; with: number; example: string } {
  const top = samples.filter((s) => names(s.frames)[0] === chain[0]);
  const n = top.reduce((a, s) => a + s.count, 0);
  // Go's ABI wrappers: `runtime.goexit.abi0` in the symbol table, `runtime.goexit` in a stripped binary's pclntab.
  const plain = (f: string[]): string => f.map((x) => x.replace(/\.abi0$/, '')).join(' ');
  const ok = top.filter((s) => plain(names(s.frames).slice(0, chain.length)) === plain(chain));
  const bad = top.find((s) => !ok.includes(s));
  return { n, with: ok.reduce((a, s) => a + s.count, 0), example: names((bad ?? top[0])?.frames ?? []).slice(0, 8).join(' ← ') };
}

/**
 * Samples of `bin` over `ms`, after a warm-up whose samples are dropped: a process's first samples
 * (until the worker has compiled its binaries' tables and they are in the kernel) are walked with
 * frame pointers.
 */
async function profile(bin: string, args: string[], unwind: 'auto' | 'frame_pointers', ms = 2500): Promise<{ samples: ProfileSample[]; stats: Record<string, number> }> {
  const run = await startProfiler({ settings: { unwind } });
  try {
    const w = startWorkload(bin, args);
    try {
      await w.ready;
      await sleep(300);
      await run.collector.unwindTablesIdle();
      await run.collector.flush();
      await sleep(ms);
      const samples = samplesOf(await run.collector.flush(), w.pid);
      return { samples, stats: run.collector.stats() };
    } finally {
      await w.stop();
    }
  } finally {
    await run.stop();
  }
}

/** The leaf's hot samples by CFI: caller between hot and main in more than 95 % of them. Its stats. */
async function expectLeafChain(t: Test, bin: string): Promise<Record<string, number>> {
  const fp = await profile(bin, ['4'], 'frame_pointers', 1000);
  const fpShare = chainShare(fp.samples, ['hot', 'caller', 'main']);
  t.comment(`frame pointers: ${fpShare.with} of ${fpShare.n} hot samples have caller (e.g. ${fpShare.example})`);
  const cfi = await profile(bin, ['4'], 'auto');
  const s = chainShare(cfi.samples, ['hot', 'caller', 'main']);
  t.ok(s.n >= 50, `${s.n} samples of hot`);
  t.ok(s.with > 0.95 * s.n, `hot ← caller ← main in ${s.with} of ${s.n} (${((100 * s.with) / s.n).toFixed(1)} %); other: ${s.example}`);
  t.ok((cfi.stats.unwind_tables_loaded ?? 0) >= 1, `tables loaded: ${cfi.stats.unwind_tables_loaded}, rows ${cfi.stats.unwind_table_rows}`);
  t.ok((cfi.stats.kernel_unwind_cfi_frames ?? 0) > 0, `frames by CFI: ${cfi.stats.kernel_unwind_cfi_frames}, by frame pointers: ${cfi.stats.kernel_unwind_fp_frames}`);
  return cfi.stats;
}

t.test('a leaf without a frame: caller between hot and main', async (t) => {
  await expectLeafChain(t, leafBinary());
});

t.test('the leaf built without unwind tables and without .eh_frame: its .debug_frame', async (t) => {
  const bin = leafDebugFrameBinary();
  t.same(cfiSections(bin), ['.debug_frame'], '.debug_frame, no .eh_frame');
  const stats = await expectLeafChain(t, bin);
  t.ok((stats.unwind_debug_frame_tables ?? 0) >= 1, `tables with .debug_frame FDEs: ${stats.unwind_debug_frame_tables}`);
});

t.test('the same stripped: the .debug_frame of its debug file (.gnu_debuglink)', async (t) => {
  const bin = leafDebugFileBinary();
  t.same(cfiSections(bin), [], 'neither section in the binary');
  t.same(cfiSections(`${bin}.debug`), ['.debug_frame'], '.debug_frame in the debug file');
  const stats = await expectLeafChain(t, bin);
  t.ok((stats.unwind_debug_file_tables ?? 0) >= 1, `tables with a debug file's .debug_frame: ${stats.unwind_debug_file_tables}`);
});

t.test('perf record --call-graph dwarf sees the same call graph for the leaf', async (t) => {
  // perf copies each sample's user stack and unwinds it with DWARF afterwards: the reference the
  // issue names. Its hot samples must show caller between hot and main, as Lantern's do.
  const bin = leafBinary();
  const data = join(buildDir, 'leaf-perf.data');
  execFileSync('perf', ['record', '-q', '--call-graph', 'dwarf', '-F', '99', '-o', data, '--', bin, '2'], { stdio: 'ignore' });
  const script = execFileSync('perf', ['script', '-i', data, '-F', 'comm,ip,sym'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  let hot = 0;
  let chain = 0;
  // One sample per block: a "comm" line, then one frame per line, leaf first: "<address> <symbol>+<offset>".
  for (const block of script.split(/\n\s*\n/)) {
    const frames = block.split('\n').slice(1).map((l) => l.trim().split(/\s+/)[1]?.replace(/\+0x[0-9a-f]+$/, '') ?? '').filter((l) => l !== '');
    if (frames[0] !== 'hot') continue;
    hot++;
    if (frames[1] === 'caller' && frames[2] === 'main') chain++;
  }
  t.ok(hot >= 50, `perf: ${hot} samples of hot`);
  t.ok(chain > 0.95 * hot, `perf: hot ← caller ← main in ${chain} of ${hot}`);
});

t.test('the vDSO: clock_gettime\'s callers, from the vDSO\'s own .eh_frame', async (t) => {
  const bin = join(buildDir, 'vdso');
  gcc(['-O1', '-fno-omit-frame-pointer', '-o', bin, join(fixtureDir, 'vdso.c')]);
  // Samples in the vDSO (module [vdso]) under libc's wrapper: work, outer and main must follow.
  const share = (samples: readonly ProfileSample[]): { n: number; with: number; example: string } => {
    const inVdso = samples.filter((s) => s.frames[0]?.module === '[vdso]' && names(s.frames)[1]?.startsWith('clock_gettime'));
    const ok = inVdso.filter((s) => names(s.frames).slice(2, 5).join(' ') === 'work outer main');
    const bad = inVdso.find((s) => !ok.includes(s));
    return { n: inVdso.reduce((a, s) => a + s.count, 0), with: ok.reduce((a, s) => a + s.count, 0), example: names((bad ?? inVdso[0])?.frames ?? []).slice(0, 6).join(' ← ') };
  };
  const fp = share((await profile(bin, ['4'], 'frame_pointers', 1500)).samples);
  t.comment(`frame pointers: ${fp.with} of ${fp.n} vDSO samples have work ← outer ← main (e.g. ${fp.example})`);
  const cfi = share((await profile(bin, ['4'], 'auto')).samples);
  t.ok(cfi.n >= 50, `${cfi.n} samples in the vDSO under clock_gettime`);
  t.ok(cfi.with > 0.95 * cfi.n, `… ← work ← outer ← main in ${cfi.with} of ${cfi.n} (${((100 * cfi.with) / cfi.n).toFixed(1)} %); other: ${cfi.example}`);
});

t.test('-fomit-frame-pointer -O2: every level of main → level1 → level2 → level3', async (t) => {
  const { samples } = await profile(omitFpBinary(), ['4'], 'auto');
  const s = chainShare(samples, ['level3', 'level2', 'level1', 'main']);
  t.ok(s.n >= 50, `${s.n} samples of level3`);
  t.ok(s.with > 0.95 * s.n, `the whole chain in ${s.with} of ${s.n} (${((100 * s.with) / s.n).toFixed(1)} %); other: ${s.example}`);
});

t.test('a shared library without frame pointers: its frames and its caller', async (t) => {
  const { samples } = await profile(omitFpBinary(), ['4', 'lib'], 'auto');
  const s = chainShare(samples, ['lib_level3', 'lib_level2', 'lib_level1', 'main']);
  t.ok(s.n >= 50, `${s.n} samples of lib_level3`);
  t.ok(s.with > 0.95 * s.n, `the whole chain in ${s.with} of ${s.n} (${((100 * s.with) / s.n).toFixed(1)} %); other: ${s.example}`);
  const lib = samples.find((x) => names(x.frames)[0] === 'lib_level3');
  t.match(lib?.frames[0]?.module ?? '', /libomitfp\.so$/, 'the leaf is in the library');
});

t.test('Go, with symbols and stripped: recognised as Go (frame pointers, no parse), whole chain to runtime.goexit', async (t) => {
  for (const [what, bin] of [['with symbols', buildGoFixture('profiler-go')], ['stripped', buildGoFixture('profiler-go', STRIPPED)]] as const) {
    const { samples, stats } = await profile(bin, ['3'], 'auto', 1500);
    // An odd number of frames (5): the depth whose outermost frame the CFI walk used to lose.
    const s = chainShare(samples, ['main.hotGo', 'main.outerGo', 'main.main', 'runtime.main', 'runtime.goexit']);
    t.ok(s.n >= 30, `${what}: ${s.n} samples of main.hotGo`);
    t.ok(s.with > 0.95 * s.n, `${what}: hotGo ← outerGo ← main ← runtime.main ← runtime.goexit in ${s.with} of ${s.n}; other: ${s.example}`);
    t.ok((stats.unwind_go_binaries ?? 0) >= 1, `${what}: Go binaries ${stats.unwind_go_binaries}, tables loaded ${stats.unwind_tables_loaded}`);
  }
});

t.test('C code in a Go program (cgo): its .eh_frame for the C frames, then across the stack switch to the Go frames', async (t) => {
  const bin = buildGoFixture('profiler-cgo');
  // c_hot ← c_caller ← the cgo wrapper (C, on the system stack) … ← main.main ← runtime.main ← runtime.goexit (Go).
  const whole = (s: ProfileSample): boolean => {
    const f = names(s.frames).map((x) => x.replace(/\.abi0$/, ''));
    return f[0] === 'c_hot' && f[1] === 'c_caller' && /_Cfunc_c_caller$/.test(f[2] ?? '') && f.includes('main.main') && f.at(-1) === 'runtime.goexit';
  };
  const share = (samples: readonly ProfileSample[]): { n: number; with: number; example: string } => {
    const hot = samples.filter((s) => names(s.frames)[0] === 'c_hot');
    const bad = hot.find((s) => !whole(s));
    return { n: hot.reduce((a, s) => a + s.count, 0), with: hot.filter(whole).reduce((a, s) => a + s.count, 0), example: names((bad ?? hot[0])?.frames ?? []).join(' ← ') };
  };
  const fp = share((await profile(bin, ['4'], 'frame_pointers', 1500)).samples);
  t.comment(`frame pointers: the whole chain in ${fp.with} of ${fp.n} c_hot samples (e.g. ${fp.example})`);
  const { samples, stats } = await profile(bin, ['4'], 'auto');
  const s = share(samples);
  t.ok(s.n >= 50, `${s.n} samples of c_hot`);
  t.ok(s.with > 0.95 * s.n, `the whole chain in ${s.with} of ${s.n} (${((100 * s.with) / s.n).toFixed(1)} %); other: ${s.example}`);
  t.ok((stats.unwind_cgo_tables ?? 0) >= 1, `tables of cgo code: ${stats.unwind_cgo_tables}`);
});

/** Off-CPU samples of blocker.c's sleeper (nanosleep through libc, which keeps no frame pointer) over 1.5 s. */
async function sleeperStacks(unwind: 'auto' | 'frame_pointers'): Promise<string[][]> {
  const run = await startProfiler({ settings: { unwind, offCpu: { enabled: true, minBlockMs: 1, sampleEvery: 1 } } });
  try {
    const w = startWorkload(fixtureBinary('blocker'), ['40', '50']);
    try {
      await w.ready;
      await sleep(300);
      await run.collector.unwindTablesIdle();
      // A block is counted when it ends, with the stack taken when it began: wait out the blocks
      // (50 ms) that began before the tables were live, so none of them lands in the window.
      await sleep(200);
      await run.collector.flush();
      await sleep(1500);
      const profiles = await run.collector.flush();
      return profiles.filter((p) => p.kind === 'off_cpu').flatMap((p) => p.samples)
        .filter((x) => x.labels.pid === String(w.pid)).map((x) => names(x.frames.filter((f) => f.kernel !== true)))
        .filter((n) => n.includes('sleeper'));
    } finally {
      await w.stop();
    }
  } finally {
    await run.stop();
  }
}

t.test('off-CPU stacks by CFI too: the caller a libc wrapper without frame pointers hides', async (t) => {
  const fp = await sleeperStacks('frame_pointers');
  const cfi = await sleeperStacks('auto');
  t.ok(fp.length > 0 && cfi.length > 0, `sleeper stacks: ${fp.length} with frame pointers, ${cfi.length} with CFI`);
  t.comment(`frame pointers: ${fp[0]?.join(' ← ')}`);
  t.ok(cfi.every((n) => n.join(' ').includes('wait_ms sleep_here sleeper')), `CFI: ${cfi[0]?.join(' ← ')}`);
  t.notOk(fp.some((n) => n.includes('wait_ms')), 'frame pointers skip wait_ms (libc\'s nanosleep keeps no frame)');
});
