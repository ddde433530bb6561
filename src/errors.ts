// Lantern's error codes, in one place. Each code is stable (scripts and tests match on it); the
// message says what failed and what to do about it.

export const ErrorCodes = {
  LANTERN_ERR_USAGE: 'bad command line',
  LANTERN_ERR_CONFIG: 'invalid configuration',
  LANTERN_ERR_CONFIG_FILE: 'configuration file unreadable',
  LANTERN_ERR_PRIVILEGES: 'not enough privileges to load BPF programs',
  LANTERN_ERR_HOST: 'this host lacks a kernel feature Lantern needs',
  LANTERN_ERR_MOUNT: 'a kernel filesystem could not be mounted',
  LANTERN_ERR_NOT_AVAILABLE: 'feature not available yet',
  LANTERN_ERR_BPF_OBJECT: 'a BPF object is missing or failed to load',
  LANTERN_ERR_COLLECTOR: 'a collector failed to start',
  LANTERN_ERR_PROFILER: 'the CPU profiler could not sample (perf events refused) or write its profile',
  LANTERN_ERR_NO_AGENT: 'no Lantern agent answers at the control API address',
  LANTERN_ERR_TOKEN: 'the agent refused the bearer token',
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class LanternError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'LanternError';
  }
}

export function isLanternError(e: unknown): e is LanternError {
  return e instanceof LanternError;
}
