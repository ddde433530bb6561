// What the running kernel offers, asked of the kernel itself.
import { existsSync } from 'node:fs';
import { native } from './native.js';

/** True when the kernel can load programs of this libbpf type name ("kprobe", "tracing", ...). */
export function programTypeSupported(type: string): boolean {
  return native.probeProgramType(type);
}

/** BPF helpers by name (their BPF_FUNC_* numbers in the kernel's uapi, which never change). */
export const BpfHelper = {
  task_storage_get: 156,
  get_current_task_btf: 158,
} as const;

/** True when programs of this libbpf type name may call `helper` (a BpfHelper number) on this kernel. */
export function helperSupported(programType: string, helper: number): boolean {
  return native.probeHelper(programType, helper);
}

/** True when the kernel can create maps of this libbpf type name ("ringbuf", "lru_hash", ...). */
export function mapTypeSupported(type: string): boolean {
  return native.probeMapType(type);
}

/**
 * Kprobes need more than the program type: the kernel must be built with them, which shows as the
 * kprobe PMU or tracefs's kprobe_events.
 */
export function kprobesAvailable(tracefs = '/sys/kernel/tracing'): boolean {
  return existsSync('/sys/bus/event_source/devices/kprobe/type') || existsSync(`${tracefs}/kprobe_events`);
}

export function uprobesAvailable(tracefs = '/sys/kernel/tracing'): boolean {
  return existsSync('/sys/bus/event_source/devices/uprobe/type') || existsSync(`${tracefs}/uprobe_events`);
}

export function libbpfVersion(): string {
  return native.libbpfVersion();
}

export function possibleCpus(): number {
  return native.possibleCpus();
}
