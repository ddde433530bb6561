// Can this process load BPF programs? Root, or the capabilities the kernel checks since 5.8.

/** Capability bit numbers from linux/capability.h. */
export const CAP = { SYS_NICE: 23, SYS_ADMIN: 21, PERFMON: 38, BPF: 39 } as const;

/** Parses CapEff from /proc/<pid>/status text. */
export function effectiveCapabilities(statusText: string): bigint {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(statusText);
  return m?.[1] !== undefined ? BigInt(`0x${m[1]}`) : 0n;
}

export function hasCapability(caps: bigint, bit: number): boolean {
  return (caps & (1n << BigInt(bit))) !== 0n;
}

export interface PrivilegeReport {
  uid: number;
  canLoadBpf: boolean;
  detail: string;
}

export function privilegeReport(statusText: string, uid: number): PrivilegeReport {
  const caps = effectiveCapabilities(statusText);
  const admin = hasCapability(caps, CAP.SYS_ADMIN);
  const bpf = hasCapability(caps, CAP.BPF) && hasCapability(caps, CAP.PERFMON);
  if (admin) return { uid, canLoadBpf: true, detail: uid === 0 ? 'root (CAP_SYS_ADMIN)' : 'CAP_SYS_ADMIN' };
  if (bpf) return { uid, canLoadBpf: true, detail: 'CAP_BPF + CAP_PERFMON' };
  return {
    uid,
    canLoadBpf: false,
    detail: `uid ${uid} without CAP_BPF+CAP_PERFMON or CAP_SYS_ADMIN: run as root (sudo) or grant those capabilities`,
  };
}
