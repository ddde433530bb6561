// The seam between "what to send" and "how it gets there". Queueing and retrying wrap a Transport;
// a Transport never throws or rejects: failure is a value that says whether trying again can help.

export type SendResult =
  | { ok: true }
  | {
    ok: false;
    /** Trying the same batch again later can succeed (backend down, throttled, timed out). */
    retryable: boolean;
    error: Error;
    /** The backend asked for this delay (Retry-After, gRPC RetryInfo). */
    retryAfterMs?: number;
    /** Given up because the exporter is shutting down, not because the backend refused. */
    aborted?: boolean;
    /** Not sent, but kept in the disk buffer for a later replay: neither exported nor dropped. */
    spilled?: boolean;
  };

export interface Transport<T> {
  send(batch: T): Promise<SendResult>;
  shutdown(): Promise<void>;
}

export function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}
