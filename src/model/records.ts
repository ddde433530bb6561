// Everything a collector may produce. Exporters accept these and nothing collector-specific.
import type { Exchange } from './exchange.js';
import type { LogRecordData } from './log.js';
import type { ProcessEvent } from './process.js';
import type { ProfileRecord } from './profile.js';

export type AgentRecord =
  | { type: 'process'; event: ProcessEvent }
  | { type: 'exchange'; exchange: Exchange }
  | { type: 'profile'; profile: ProfileRecord }
  /** A log record a collector made itself (bpftrace output). */
  | { type: 'log'; log: LogRecordData };

/** Where collectors put their records. Must not throw and must not block. */
export interface RecordSink {
  put(record: AgentRecord): void;
}
