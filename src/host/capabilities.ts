// What this host offers to Lantern: each check asks the kernel (or the filesystem) directly, so
// `lantern doctor` reports what is true, not what the kernel version suggests.
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import {
  kprobesAvailable, libbpfVersion, mapTypeSupported, onlineCpus, PerfSoftware, PerfType, programTypeSupported, uprobesAvailable,
} from 'libbpf-ts';
import { taskStorageFromTracepoints } from '../collectors/sockets/kernel-needs.js';
import { BPFFS, TRACEFS, isMounted } from './mounts.js';
import { privilegeReport } from './privileges.js';
import { openAndClosePerfEvent } from './perf-probe.js';

export type CheckId =
  | 'privileges' | 'bpf_syscall' | 'btf' | 'tracefs' | 'bpffs' | 'syscall_tracepoints' | 'raw_tracepoints'
  | 'uprobes' | 'perf_events' | 'kprobes' | 'fentry' | 'ring_buffer' | 'task_storage' | 'bpftrace';

export interface Check {
  id: CheckId;
  title: string;
  ok: boolean;
  detail: string;
  /** A missing required check means the agent cannot run at all. */
  required: boolean;
}

export interface Feature {
  name: string;
  needs: CheckId[];
  /** Checks that make the feature better but are not needed. */
  optional?: CheckId[];
  available: boolean;
  missing: CheckId[];
}

function tryCheck(fn: () => { ok: boolean; detail: string }): { ok: boolean; detail: string } {
  try {
    return fn();
  } catch (e) {
    return { ok: false, detail: (e as Error).message.split('\n')[0] ?? 'failed' };
  }
}

function which(name: string): string | null {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':').concat(['/usr/bin', '/usr/sbin'])) {
    const p = `${dir}/${name}`;
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return null;
}

export function runChecks(): Check[] {
  const status = readFileSync('/proc/self/status', 'utf8');
  const priv = privilegeReport(status, process.getuid?.() ?? -1);
  const mounts = readFileSync('/proc/mounts', 'utf8');
  const check = (id: CheckId, title: string, required: boolean, fn: () => { ok: boolean; detail: string }): Check =>
    ({ id, title, required, ...tryCheck(fn) });
  const tracefsMounted = isMounted('tracefs', TRACEFS, mounts) || existsSync('/sys/kernel/debug/tracing/events');
  return [
    check('privileges', 'Privileges to load BPF', true, () => ({ ok: priv.canLoadBpf, detail: priv.detail })),
    check('bpf_syscall', 'BPF syscall', true, () => {
      const ok = mapTypeSupported('array');
      return { ok, detail: ok ? `bpf() works (libbpf ${libbpfVersion()})` : 'bpf() refused: kernel without CONFIG_BPF_SYSCALL or blocked by seccomp/lockdown' };
    }),
    check('btf', 'Kernel BTF (CO-RE)', true, () => {
      const ok = existsSync('/sys/kernel/btf/vmlinux');
      return { ok, detail: ok ? '/sys/kernel/btf/vmlinux' : 'no /sys/kernel/btf/vmlinux: kernel built without CONFIG_DEBUG_INFO_BTF' };
    }),
    check('tracefs', 'tracefs mounted', false, () => ({
      ok: tracefsMounted,
      detail: tracefsMounted ? TRACEFS : `not mounted; \`lantern run\` mounts it at ${TRACEFS}`,
    })),
    check('bpffs', 'bpffs mounted', false, () => {
      const ok = isMounted('bpf', BPFFS, mounts);
      return { ok, detail: ok ? BPFFS : `not mounted; \`lantern run\` mounts it at ${BPFFS}` };
    }),
    check('syscall_tracepoints', 'Syscall tracepoints', true, () => {
      // Without tracefs we cannot list events; the kernel config tells whether they exist.
      const dir = existsSync(`${TRACEFS}/events`) ? `${TRACEFS}/events` : '/sys/kernel/debug/tracing/events';
      if (existsSync(`${dir}/syscalls/sys_enter_read`)) return { ok: true, detail: 'syscalls:sys_enter_*/sys_exit_*' };
      if (!existsSync(`${dir}`)) return { ok: programTypeSupported('tracepoint'), detail: 'tracepoint programs load; events listable once tracefs is mounted' };
      return { ok: false, detail: 'kernel without CONFIG_FTRACE_SYSCALLS' };
    }),
    check('raw_tracepoints', 'Raw tracepoints', false, () => {
      const ok = programTypeSupported('raw_tracepoint');
      return { ok, detail: ok ? 'BPF_PROG_TYPE_RAW_TRACEPOINT' : 'not supported' };
    }),
    check('uprobes', 'Uprobes', false, () => {
      const ok = uprobesAvailable();
      return { ok, detail: ok ? 'uprobe PMU present' : 'kernel without CONFIG_UPROBE_EVENTS' };
    }),
    check('perf_events', 'Perf events (sampling)', false, () => {
      const cpus = onlineCpus();
      openAndClosePerfEvent({ type: PerfType.SOFTWARE, config: PerfSoftware.CPU_CLOCK, sampleFreq: 99 }, cpus[0] ?? 0);
      return { ok: programTypeSupported('perf_event'), detail: `cpu-clock sampling on ${cpus.length} CPU(s)` };
    }),
    check('kprobes', 'Kprobes', false, () => {
      const ok = kprobesAvailable();
      return { ok, detail: ok ? 'kprobe PMU present' : 'kernel without CONFIG_KPROBES (Lantern does not need them)' };
    }),
    check('fentry', 'fentry/fexit (BPF trampolines)', false, () => {
      const ok = programTypeSupported('tracing');
      return { ok, detail: ok ? 'BPF_PROG_TYPE_TRACING loads' : 'not supported here (Lantern does not need it)' };
    }),
    check('ring_buffer', 'BPF ring buffer', true, () => {
      const ok = mapTypeSupported('ringbuf');
      return { ok, detail: ok ? 'BPF_MAP_TYPE_RINGBUF' : 'kernel older than 5.8' };
    }),
    // What the socket tracer's per-thread state needs (collectors/sockets/kernel-needs.ts): 5.12+.
    check('task_storage', 'BPF task storage from tracepoints', false, () => {
      const ok = taskStorageFromTracepoints();
      return { ok, detail: ok ? 'bpf_task_storage_get, bpf_get_current_task_btf' : 'kernel older than 5.12' };
    }),
    check('bpftrace', 'bpftrace binary', false, () => {
      const p = which('bpftrace');
      return { ok: p !== null, detail: p ?? 'not installed (apt-get install bpftrace)' };
    }),
  ];
}

/** Which Lantern features the checks allow. */
export function features(checks: Check[]): Feature[] {
  const ok = new Set(checks.filter((c) => c.ok).map((c) => c.id));
  // tracefs/bpffs are mounted by the agent itself when missing, so they never block a feature.
  const base: CheckId[] = ['privileges', 'bpf_syscall', 'btf', 'ring_buffer'];
  const spec: Array<Omit<Feature, 'available' | 'missing'>> = [
    { name: 'Process tracking (exec/exit)', needs: [...base, 'syscall_tracepoints'] },
    { name: 'Protocol tracing (socket syscalls)', needs: [...base, 'syscall_tracepoints', 'task_storage'], optional: ['kprobes'] },
    { name: 'TLS plaintext (OpenSSL, Go)', needs: [...base, 'syscall_tracepoints', 'task_storage', 'uprobes'] },
    { name: 'CPU profiler', needs: [...base, 'perf_events'] },
    { name: 'bpftrace scripts', needs: ['privileges', 'bpftrace'] },
    { name: 'Dynamic logging (Go uprobes)', needs: [...base, 'uprobes'] },
  ];
  return spec.map((f) => {
    const missing = f.needs.filter((id) => !ok.has(id));
    return { ...f, available: missing.length === 0, missing };
  });
}

/** The agent can run when every required check passes. */
export function agentCanRun(checks: Check[]): boolean {
  return checks.every((c) => !c.required || c.ok);
}

export function kernelRelease(): string {
  return release();
}
