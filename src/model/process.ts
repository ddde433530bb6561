// Process lifecycle records, as collectors hand them to exporters.

export interface ProcessExec {
  kind: 'exec';
  pid: number;
  ppid: number;
  comm: string;
  filename: string;
  /** Wall-clock time, ns since the epoch. */
  timeUnixNano: bigint;
}

export interface ProcessExit {
  kind: 'exit';
  pid: number;
  ppid: number;
  comm: string;
  /** The wait(2) status: exit code in bits 8-15, terminating signal in bits 0-6. */
  status: number;
  timeUnixNano: bigint;
}

export type ProcessEvent = ProcessExec | ProcessExit;

export function exitCode(status: number): number | null {
  return (status & 0x7f) === 0 ? (status >> 8) & 0xff : null;
}

export function exitSignal(status: number): number | null {
  const sig = status & 0x7f;
  return sig === 0 ? null : sig;
}
