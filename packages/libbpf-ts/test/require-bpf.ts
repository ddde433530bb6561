// BPF tests need root and a BPF-capable kernel. Where they are missing the tests fail, saying why:
// passing silently would hide that nothing was tested.
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';

/** libbpf finds tracepoint ids in tracefs; mount it the way the agent itself would. */
function ensureTracefs(): void {
  if (existsSync('/sys/kernel/tracing/events')) return;
  try {
    execFileSync('mount', ['-t', 'tracefs', 'nodev', '/sys/kernel/tracing'], { stdio: 'ignore' });
  } catch {
    // reported below
  }
}

export function bpfUnavailableReason(): string | null {
  if (process.getuid?.() !== 0) return 'BPF tests must run as root (they load programs into the kernel)';
  try {
    accessSync('/sys/kernel/btf/vmlinux', constants.R_OK);
  } catch {
    return 'the kernel has no BTF (/sys/kernel/btf/vmlinux): CO-RE programs cannot load';
  }
  ensureTracefs();
  try {
    accessSync('/sys/kernel/tracing/events/syscalls', constants.R_OK);
  } catch {
    return 'tracefs is not mounted at /sys/kernel/tracing (mount -t tracefs nodev /sys/kernel/tracing)';
  }
  return null;
}

export function requireBpf(t: { fail(msg: string): void; end?(): void }): void {
  const reason = bpfUnavailableReason();
  if (reason !== null) {
    t.fail(`cannot run BPF tests: ${reason}`);
    process.exitCode = 1;
    throw new Error(reason);
  }
}
