// Redis commands and replies as the RESP parser frames them, and exchanges as the connection pairs
// them. No key, value or credential is kept: a command is its name and how many arguments it had.
import type { ConnectionInfo } from './connection.js';

export interface RedisCommand {
  /**
   * Upper-cased command name; container commands with their subcommand ("CLIENT SETNAME",
   * "CONFIG GET"); "_OTHER" when the name is not a known Redis or module command (whatever was in
   * the command position is not kept: it may be anything, a password typed by mistake included).
   */
  name: string;
  /** Arguments after the command name (the subcommand counts as one). */
  argumentCount: number;
  /** Sent as an inline command ("PING\r\n") rather than a RESP array. */
  inline: boolean;
  /** Wall-clock ns of the syscall that carried the first / last byte of the command. */
  startNs: bigint;
  endNs: bigint;
}

/** RESP2 and RESP3 reply types (https://github.com/redis/redis-specifications/blob/master/protocol/RESP3.md). */
export type RedisReplyType =
  | 'simple-string' // +
  | 'error' // -
  | 'integer' // :
  | 'bulk-string' // $ (RESP3 "blob string")
  | 'array' // *
  | 'null' // _ , and RESP2's $-1 / *-1
  | 'double' // ,
  | 'boolean' // #
  | 'big-number' // (
  | 'blob-error' // !
  | 'verbatim-string' // =
  | 'map' // %
  | 'set' // ~
  | 'push'; // >

export interface RedisReply {
  type: RedisReplyType;
  /** Error replies ('-', '!'): the first word, by convention the error code ("ERR", "WRONGTYPE"). */
  errorPrefix?: string;
  /** Error replies: the message, at most 128 bytes of it (it may quote the command's arguments). */
  errorMessage?: string;
  /** Aggregates: elements at the top level (pairs for maps); bulk strings: length; -1 for RESP2 nulls. */
  length?: number;
  /** Wall-clock ns of the syscall that carried the first / last byte of the reply. */
  startNs: bigint;
  endNs: bigint;
}

/** Why an exchange has no reply. */
export type RedisMissingReply =
  /** The connection closed (or was given up) with the command unanswered. */
  | 'closed'
  /** The reply was lost in a capture gap: the command was very likely answered. */
  | 'lost'
  /** Too many commands awaited replies; the oldest was reported without waiting for its reply. */
  | 'evicted'
  /** The client asked for no reply (CLIENT REPLY OFF / SKIP). */
  | 'suppressed';

export interface RedisExchange {
  protocol: 'redis';
  connection: ConnectionInfo;
  /** 0-based position of the command on its connection (pairs client and server spans). */
  ordinal: number;
  command: RedisCommand;
  /**
   * The reply; for (P|S)(UN)SUBSCRIBE the last of the confirmations (one per channel) with startNs
   * of the first. null with `missing` saying why.
   */
  reply: RedisReply | null;
  missing?: RedisMissingReply;
  /**
   * The database index the command ran against: SELECT's (and RESET's) effects as seen on this
   * connection, 0 until then; for SELECT itself, the index it selected when it succeeded.
   */
  database: number;
  /** The protocol the connection spoke when the reply came: 3 after a successful HELLO 3. */
  respVersion: 2 | 3;
  /** Sent while earlier commands on the connection still awaited their replies, or followed by one. */
  pipelined: boolean;
  /** Sent inside MULTI … EXEC/DISCARD (EXEC and DISCARD included; the reply is then "QUEUED"). */
  transaction: boolean;
  /** (P|S)(UN)SUBSCRIBE: the confirmations received. */
  confirmations?: number;
}
