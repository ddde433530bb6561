// The shape of errors thrown by libbpf-ts. Codes are stable; messages are for people.

/** Codes set by the native addon. */
export type LibbpfErrorCode =
  | 'LIBBPF_ERR_OPEN'
  | 'LIBBPF_ERR_LOAD'
  | 'LIBBPF_ERR_CLOSED'
  | 'LIBBPF_ERR_NO_PROGRAM'
  | 'LIBBPF_ERR_NO_MAP'
  | 'LIBBPF_ERR_NO_BTF'
  | 'LIBBPF_ERR_NO_GLOBAL'
  | 'LIBBPF_ERR_GLOBAL_SIZE'
  | 'LIBBPF_ERR_GLOBAL'
  | 'LIBBPF_ERR_MAP_RESIZE'
  | 'LIBBPF_ERR_MAP_REUSE'
  | 'LIBBPF_ERR_AUTOLOAD'
  | 'LIBBPF_ERR_ATTACH'
  | 'LIBBPF_ERR_MAP_LOOKUP'
  | 'LIBBPF_ERR_MAP_UPDATE'
  | 'LIBBPF_ERR_MAP_DELETE'
  | 'LIBBPF_ERR_MAP_ITERATE'
  | 'LIBBPF_ERR_MAP_BATCH'
  | 'LIBBPF_ERR_RINGBUF'
  | 'LIBBPF_ERR_PERF_EVENT'
  | 'LIBBPF_ERR_UNKNOWN_TYPE'
  | 'LIBBPF_ERR_PROBE';

export interface LibbpfError extends Error {
  code: LibbpfErrorCode;
  /** The errno libbpf or the kernel returned (positive), 0 when none applies. */
  errno: number;
  /** libbpf's own messages printed during the failing call. */
  libbpfLog: string;
  /** The kernel verifier's log when a program was rejected. */
  verifierLog?: string;
}

export function isLibbpfError(e: unknown): e is LibbpfError {
  const code: unknown = e instanceof Error ? (e as Error & { code?: unknown }).code : undefined;
  return typeof code === 'string' && code.startsWith('LIBBPF_ERR_');
}
