// Shared by the profiler tests: a fake Symbolizer, synthetic drained buffers, and the workloads.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProfilerCollector, type ProfilerCollectorOptions } from '../../src/collectors/profiler/collector.js';
import type { ProfileKey } from '../../src/collectors/profiler/layout.js';
import type { DrainedBuffer } from '../../src/collectors/profiler/sampler.js';
import type { ProfileFrame, ProfileRecord } from '../../src/model/profile.js';
import type { Frame, Symbolizer } from '../../src/symbols/symbolizer.js';
import { loadConfig } from '../../src/config/load.js';
import type { ProfilerConfig } from '../../src/config/schema.js';
import { Logger } from '../../src/log.js';
import { ProcessMetadata } from '../../src/metadata/process-metadata.js';
import { KernelClock } from '../../src/model/clock.js';
import { repoRoot } from '../helpers/cli.js';

/** Names addresses from a table; records what it was asked. */
export class FakeSymbolizer implements Symbolizer {
  readonly noted: number[] = [];
  readonly forgotten: number[] = [];
  readonly userCalls: Array<{ pid: number; addresses: bigint[] }> = [];
  readonly kernelCalls: bigint[][] = [];
  failUser = false;
  failKernel = false;

  constructor(readonly table: Map<bigint, Frame> = new Map()) {}

  notePid(pid: number): void {
    this.noted.push(pid);
  }
  symbolizeUser(pid: number, addresses: readonly bigint[]): Frame[] {
    this.userCalls.push({ pid, addresses: [...addresses] });
    if (this.failUser) throw new Error('cannot read /proc/1234/maps');
    return addresses.map((a) => this.table.get(a) ?? { module: '/usr/bin/app', moduleOffset: Number(a & 0xfffffn) });
  }
  symbolizeKernel(addresses: readonly bigint[]): Frame[] {
    this.kernelCalls.push([...addresses]);
    if (this.failKernel) throw new Error('kallsyms unreadable');
    return addresses.map((a) => this.table.get(a) ?? { module: '[kernel]' });
  }
  forgetPid(pid: number): void {
    this.forgotten.push(pid);
  }
  stats(): Record<string, number> {
    return { fake_calls: this.userCalls.length + this.kernelCalls.length };
  }
}

export function key(k: Partial<ProfileKey> & { pid: number }): ProfileKey {
  return { tid: k.pid, userStackId: -14, kernelStackId: -14, tag: 0n, comm: 'app', ...k };
}

/** `offCpu`: [key, blocks, nanoseconds]. */
export function drained(counts: Array<[ProfileKey, number]>, stacks: Record<number, bigint[]> = {},
  offCpu: Array<[ProfileKey, number, number]> = []): DrainedBuffer {
  return {
    startUnixNano: 1_700_000_000_000_000_000n,
    endUnixNano: 1_700_000_010_000_000_000n,
    counts: counts.map(([k, count]) => ({ key: k, count })),
    offCpu: offCpu.map(([k, count, nanos]) => ({ key: k, count, nanos })),
    stacks: new Map(Object.entries(stacks).map(([id, ips]) => [Number(id), ips])),
    stacksMissing: 0,
  };
}

export function names(frames: readonly ProfileFrame[]): string[] {
  return frames.map((f) => f.function ?? `[${f.module}]`);
}

/** Sum of sample counts per leaf function name over profiles. */
export function selfByFunction(profiles: readonly ProfileRecord[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const p of profiles) for (const s of p.samples) {
    const leaf = s.frames[0];
    const n = leaf === undefined ? '[none]' : leaf.function ?? `[${leaf.module}]`;
    out.set(n, (out.get(n) ?? 0) + s.count);
  }
  return out;
}

// --- the collector on the real kernel ----------------------------------------------------------

export interface Run {
  collector: ProfilerCollector;
  profiles: ProfileRecord[];
  log: string[];
  stop(): Promise<void>;
}

/** A started profiler collector (60 s interval: drained by the test's flushes), scoped to `pids` and their children. */
export async function startProfiler(opts: ProfilerCollectorOptions = {}, pids: number[] = [process.pid]): Promise<Run> {
  const log: string[] = [];
  const config = loadConfig({ pids: pids.map(String), collectors: 'profiler' }, {});
  const profiles: ProfileRecord[] = [];
  // LANTERN_TEST_PROFILER_UNWIND=frame_pointers|cfi runs the profiler tests with another unwinder (default: auto).
  const unwind = process.env.LANTERN_TEST_PROFILER_UNWIND as ProfilerConfig['unwind'] | undefined;
  const collector = new ProfilerCollector({ ...opts, settings: { intervalSeconds: 60, ...(unwind ? { unwind } : {}), ...opts.settings } });
  await collector.start({
    config,
    log: new Logger('info', false, { write: (l: string) => log.push(l) }),
    clock: new KernelClock(),
    sink: { put: (r) => (r.type === 'profile' ? void profiles.push(r.profile) : undefined) },
    metadata: new ProcessMetadata({ base: {} }),
  });
  return { collector, profiles, log, stop: () => collector.stop() };
}

// --- workloads -------------------------------------------------------------------------------

export const fixtureDir = join(repoRoot, 'test/fixtures/profiler');
const buildDir = join(repoRoot, 'test/.build/profiler');

/**
 * The C workload (test/fixtures/profiler/hot.c: main → outer → hot, or kernel_loop). Built without
 * optimization so every function keeps its frame pointer: gcc 12 omits it in leaf functions even
 * with -mno-omit-leaf-frame-pointer, and a frame-pointer unwinder then skips the leaf's caller.
 */
export function hotBinary(): string {
  return fixtureBinary('hot');
}

/** test/fixtures/profiler/NAME.c, built as hot.c is (with threads). */
export function fixtureBinary(name: string): string {
  mkdirSync(buildDir, { recursive: true });
  const out = join(buildDir, name);
  execFileSync('gcc', ['-O0', '-g', '-fno-omit-frame-pointer', '-pthread', '-o', out, join(fixtureDir, `${name}.c`)]);
  return out;
}

export interface Workload {
  child: ChildProcess;
  pid: number;
  /** Resolves when the program has printed "ready". */
  ready: Promise<void>;
  exited: Promise<number | null>;
  /** What it printed so far. */
  stdout(): string;
  stop(): Promise<void>;
}

/**
 * Starts a workload that prints "ready" once it begins its hot loop, in a scratch directory (node
 * with --perf-basic-prof writes V8 logs into its working directory); its /tmp/perf-<pid>.map is
 * removed when it is stopped.
 */
export function startWorkload(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Workload {
  const cwd = mkdtempSync(join(tmpdir(), 'lantern-workload-'));
  const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  const cleanup = (): void => {
    rmSync(cwd, { recursive: true, force: true });
    rmSync(`/tmp/perf-${child.pid}.map`, { force: true });
  };
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  void exited.then(() => setTimeout(cleanup, 2000).unref());
  let buf = '';
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('ready')) resolve();
    });
    child.once('exit', (c) => reject(new Error(`${cmd} exited (${c}) before it was ready`)));
  });
  ready.catch(() => undefined);
  return {
    child,
    pid: child.pid!,
    ready,
    exited,
    stdout: () => buf,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

export function haveTool(path: string): boolean {
  return existsSync(path);
}
