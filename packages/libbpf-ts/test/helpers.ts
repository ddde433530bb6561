// Shared by the libbpf-ts tests: builds fixtures (incrementally) and decodes the test record.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Package root, whether running from test/ or dist/test/. */
export const packageRoot = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../../' : '../', import.meta.url));
export const buildDir = join(packageRoot, 'test/.build');
const fixtures = join(packageRoot, 'test/fixtures');

/** Compiles a fixture BPF program with the package's own compiler driver; returns the object path. */
export function bpfObject(name: string): string {
  execFileSync(process.execPath, [join(packageRoot, 'scripts/bpf-cc.mjs'), '--out', buildDir, join(fixtures, `${name}.bpf.c`)],
    { stdio: ['ignore', 'ignore', 'inherit'] });
  return join(buildDir, `${name}.bpf.o`);
}

/** Builds a C program from the fixtures with frame pointers and symbols; returns the binary path. */
export function cProgram(name: string): string {
  mkdirSync(buildDir, { recursive: true });
  const out = join(buildDir, name);
  execFileSync('gcc', ['-O1', '-g', '-fno-omit-frame-pointer', '-o', out, join(fixtures, `${name}.c`)]);
  return out;
}

export const KIND = { TRACEPOINT: 1, UPROBE: 2, URETPROBE: 3 } as const;
export const COUNTER = { RING_DROPS: 0, PERF_SAMPLES: 1, RAW_TP: 2 } as const;

/** struct probe_test_event (test/fixtures/probe_test.h). */
export interface ProbeTestEvent {
  kind: number;
  tgid: number;
  tid: number;
  paddingLen: number;
  cookie: bigint;
  arg0: bigint;
  arg1: bigint;
  ret: bigint;
  tsNs: bigint;
}

export const PROBE_TEST_EVENT_SIZE = 56;

export function decodeProbeTestEvent(v: DataView, off: number): ProbeTestEvent {
  return {
    kind: v.getUint32(off, true),
    tgid: v.getUint32(off + 4, true),
    tid: v.getUint32(off + 8, true),
    paddingLen: v.getUint32(off + 12, true),
    cookie: v.getBigUint64(off + 16, true),
    arg0: v.getBigInt64(off + 24, true),
    arg1: v.getBigInt64(off + 32, true),
    ret: v.getBigInt64(off + 40, true),
    tsNs: v.getBigUint64(off + 48, true),
  };
}

/** Waits until `cond` holds or `ms` pass; the caller asserts on the state either way. */
export async function waitFor(cond: () => boolean, ms = 3000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond() && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
}

/** Calls getppid(2) n times from this process (Node's process.ppid asks the kernel each time). */
export function getppidTimes(n: number): void {
  let sink = 0;
  for (let i = 0; i < n; i++) sink += process.ppid;
  if (sink === -1) throw new Error('unreachable');
}
