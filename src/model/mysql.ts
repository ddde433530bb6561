// MySQL / MariaDB commands and their responses, as the protocol session pairs them. No row data and
// no authentication data is ever part of a record; the query text is as sent (semconv sanitizes it
// before anything leaves the agent).
import type { ConnectionInfo } from './connection.js';

export type MysqlFlavor = 'mysql' | 'mariadb';

/**
 * How the command ended:
 * - ok: an OK or EOF packet, or complete result sets;
 * - error: an ERR_Packet (see `error`);
 * - no_response: the command has none (COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA);
 * - missing: no response came before the connection closed (or the command was evicted);
 * - incomplete: the response began, but its end was lost (a capture gap, bytes that made no sense).
 */
export type MysqlOutcome = 'ok' | 'error' | 'no_response' | 'missing' | 'incomplete';

export interface MysqlServerError {
  /** Server error number (1146 ER_NO_SUCH_TABLE). */
  code: number;
  /** SQLSTATE ("42S02"), when the server sent one. */
  sqlState?: string;
  message: string;
}

export interface MysqlExchange {
  protocol: 'mysql';
  connection: ConnectionInfo;
  /** 0-based position of this command on its connection (pairs client and server spans). */
  ordinal: number;
  /** Protocol command name: "COM_QUERY", "COM_STMT_EXECUTE", ... */
  command: string;
  /**
   * The SQL: COM_QUERY's text, COM_STMT_PREPARE's statement, and for COM_STMT_EXECUTE /
   * COM_STMT_FETCH / COM_STMT_RESET / COM_STMT_CLOSE the text of the statement prepared earlier on
   * this connection (absent when its PREPARE was not seen). Not sanitized here.
   */
  query?: string;
  /** `query` is the beginning of a longer text (the capture bound). */
  queryTruncated?: boolean;
  statementId?: number;
  /** Default database when the command was sent; COM_INIT_DB: the one it asks for. */
  database?: string;
  /** The account the connection authenticated as (never the credentials). */
  user?: string;
  /** From the server's greeting, without MariaDB's "5.5.5-" prefix. */
  serverVersion?: string;
  flavor?: MysqlFlavor;
  outcome: MysqlOutcome;
  error?: MysqlServerError;
  /** Rows returned by result sets (text and binary); absent when no result set came. */
  rows?: number;
  resultSets?: number;
  /** Rows changed, from OK packets (summed over multi-statement results). */
  affectedRows?: number;
  warnings?: number;
  /** COM_STMT_PREPARE: what the server said of the statement. */
  prepared?: { numParams: number; numColumns: number };
  /** Wall-clock ns: first byte of the command, last byte of the response (of the command if none). */
  startNs: bigint;
  endNs: bigint;
}
