// PostgreSQL exchanges as the PostgreSQL session builds them: one per simple Query (up to its
// ReadyForQuery, however many statements the string holds), one per extended-protocol Execute, and
// one per Parse…Sync group that prepared a statement without executing it.
//
// Never here: passwords (PasswordMessage and the SASL/GSS exchanges are not even copied by the
// framer), Bind parameter values, row contents, COPY data, error details (D) or hints.
import type { ConnectionInfo } from './connection.js';

export type PostgresMode =
  /** A Query message ('Q'). */
  | 'simple'
  /** Execute ('E') of a portal bound from a statement (Parse/Bind/Describe/Execute/Sync). */
  | 'extended'
  /** Parse (+ Describe) + Sync without an Execute: a statement prepared for later. */
  | 'prepare';

export interface PostgresError {
  /** SQLSTATE, e.g. "42P01" (undefined_table). */
  sqlstate: string;
  /** Non-localized severity: ERROR, FATAL, PANIC (WARNING for a warning notice). */
  severity: string;
  /** The primary message (M), at most 512 bytes. May quote a value of the query. */
  message: string;
}

export interface PostgresCopy {
  /** CopyInResponse ('G': client → server), CopyOutResponse ('H'), CopyBothResponse ('W'). */
  direction: 'in' | 'out' | 'both';
  /** CopyData payload bytes in either direction (bytes lost in a gap included by their count). */
  bytes: number;
  messages: number;
}

export interface PostgresExchange {
  protocol: 'postgresql';
  connection: ConnectionInfo;
  /** 0-based position among the connection's operations in request order (pairs client and server spans). */
  ordinal: number;
  mode: PostgresMode;
  /** Query text as sent (simple) or as parsed for the statement (extended); null when unknown
   * (the Parse was not seen). Raw: the semantic conventions sanitize it. At most 8 KiB. */
  query: string | null;
  /** The text is the beginning of a longer query. */
  queryTruncated: boolean;
  /** Prepared statement name ('' the unnamed statement); null for simple queries. */
  statement: string | null;
  /** Portal name ('' the unnamed portal); null for simple queries and prepare-only groups. */
  portal: string | null;
  /** Parameter values bound (Bind), or parameter types declared (Parse, prepare-only). */
  parameterCount: number | null;
  /** CommandComplete tags, in order (at most 16 kept; `statements` counts all). */
  commandTags: string[];
  /** Statements that completed (CommandComplete or EmptyQueryResponse). */
  statements: number;
  /** DataRow messages received. */
  rows: number;
  /** Rows the last command tag reports (INSERT/UPDATE/DELETE/MERGE/SELECT/COPY/FETCH/MOVE). */
  rowsAffected: number | null;
  copy: PostgresCopy | null;
  /** ErrorResponse that ended the operation. */
  error: PostgresError | null;
  /** A NoticeResponse of severity WARNING received during the operation. */
  warning: PostgresError | null;
  /** Execute stopped at its row limit (PortalSuspended): more rows remain in the portal. */
  suspended: boolean;
  /**
   * complete: answered; unanswered: the connection ended first; partial: response bytes were lost
   * in a gap, so counts are lower bounds and the end time is the last response byte seen.
   */
  outcome: 'complete' | 'unanswered' | 'partial';
  /** From the StartupMessage (database defaults to the user name when the client sent none). */
  database: string | null;
  user: string | null;
  /** ReadyForQuery's transaction status after the operation: I idle, T in a transaction, E failed.
   * null for an Execute, which ends at its CommandComplete, before the Sync's ReadyForQuery. */
  transactionStatus: 'I' | 'T' | 'E' | null;
  /** First request byte / last response byte (wall clock ns). */
  startNs: bigint;
  endNs: bigint;
}
