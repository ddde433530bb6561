// One small parser per message of the MySQL / MariaDB protocol, each over a packet payload that
// may have been cut short by the capture. A parser returns the message or MALFORMED, never throws
// and never reads past the payload (see reader.ts). Authentication data is skipped, never decoded
// nor kept.
import {
  CLIENT_CONNECT_WITH_DB,
  CLIENT_LONG_PASSWORD,
  CLIENT_PLUGIN_AUTH,
  CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA,
  CLIENT_DEPRECATE_EOF,
  CLIENT_PROTOCOL_41,
  CLIENT_QUERY_ATTRIBUTES,
  CLIENT_SECURE_CONNECTION,
  CLIENT_SESSION_TRACK,
  CLIENT_SSL,
  COM_CHANGE_USER,
  COM_INIT_DB,
  COM_QUERY,
  COM_STMT_BULK_EXECUTE,
  COM_STMT_CLOSE,
  COM_STMT_EXECUTE,
  COM_STMT_FETCH,
  COM_STMT_PREPARE,
  COM_STMT_RESET,
  COM_STMT_SEND_LONG_DATA,
  EOF_HEADER,
  ERR_HEADER,
  HANDSHAKE_V10,
  MAX_PACKET_PAYLOAD,
  OK_HEADER,
  SERVER_SESSION_STATE_CHANGED,
  SESSION_TRACK_SCHEMA,
} from './constants.js';
import { PacketReader } from './reader.js';

export const MALFORMED = Symbol('malformed');
export type Malformed = typeof MALFORMED;

// --- connection phase ---------------------------------------------------------------------------

/** Initial Handshake Packet, protocol version 10 (page_protocol_connection_phase_packets_protocol_handshake_v10). */
export interface HandshakeV10 {
  serverVersion: string;
  connectionId: number;
  /** Lower and upper capability flags. */
  capabilities: number;
  /** MariaDB extended capabilities (0 unless the server cleared CLIENT_MYSQL to announce them). */
  extendedCapabilities: number;
  authPlugin?: string;
}

export function parseHandshakeV10(payload: Uint8Array): HandshakeV10 | Malformed {
  const r = new PacketReader(payload);
  if (r.u8() !== HANDSHAKE_V10) return MALFORMED;
  const serverVersion = r.cstring();
  const connectionId = r.u32();
  r.skip(8); // auth-plugin-data-part-1 (the scramble)
  r.skip(1); // filler
  let capabilities = r.u16();
  if (r.failed) return MALFORMED;
  const hs: HandshakeV10 = { serverVersion, connectionId, capabilities, extendedCapabilities: 0 };
  if (r.atEnd) return hs; // a pre-4.1 style greeting ends here
  r.skip(1); // character set
  r.skip(2); // status flags
  capabilities |= r.u16() * 0x10000;
  const authDataLength = r.u8();
  r.skip(6); // reserved
  const ext = r.u32(); // MariaDB: extended capabilities; MySQL: reserved (zero)
  if (r.failed) return MALFORMED;
  hs.capabilities = capabilities >>> 0;
  if ((capabilities & CLIENT_LONG_PASSWORD) === 0) hs.extendedCapabilities = ext;
  if ((capabilities & CLIENT_SECURE_CONNECTION) !== 0) r.skip(Math.max(13, authDataLength - 8)); // part 2 of the scramble
  if ((capabilities & CLIENT_PLUGIN_AUTH) !== 0 && !r.failed && !r.atEnd) {
    // Some servers omit the final NUL (Bug#59453): read to the end then.
    const save = r.pos;
    const plugin = r.cstring();
    if (!r.failed) hs.authPlugin = plugin;
    else {
      const tail = new PacketReader(payload, save);
      hs.authPlugin = tail.rest();
    }
  }
  return hs;
}

/** SSLRequest: the client's capabilities with CLIENT_SSL, then the TLS handshake. 32 bytes. */
export function isSslRequest(payload: Uint8Array, length: number): boolean {
  if (length !== 32 || payload.length < 4) return false;
  const flags = new PacketReader(payload).u32();
  return (flags & CLIENT_SSL) !== 0;
}

/** HandshakeResponse41 (or 320), reduced to what tracing needs: never the auth response. */
export interface HandshakeResponse {
  capabilities: number;
  extendedCapabilities: number;
  user: string;
  database?: string;
  authPlugin?: string;
}

export function parseHandshakeResponse(payload: Uint8Array): HandshakeResponse | Malformed {
  const r = new PacketReader(payload);
  const low = r.u16();
  if (r.failed) return MALFORMED;
  if ((low & CLIENT_PROTOCOL_41) === 0) {
    // HandshakeResponse320: int<2> flags, int<3> max packet, user<NUL>, auth-response.
    r.skip(3);
    const user = r.cstring();
    if (r.failed) return MALFORMED;
    return { capabilities: low, extendedCapabilities: 0, user };
  }
  const capabilities = (low + r.u16() * 0x10000) >>> 0;
  r.skip(4); // max packet size
  r.skip(1); // character set
  r.skip(19); // filler
  const ext = r.u32(); // MariaDB extended capabilities, zero filler otherwise
  const user = r.cstring();
  if (r.failed) return MALFORMED;
  const out: HandshakeResponse = {
    capabilities,
    extendedCapabilities: (capabilities & CLIENT_LONG_PASSWORD) === 0 ? ext : 0,
    user,
  };
  // The auth response is skipped unread.
  if ((capabilities & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA) !== 0) r.skipLenencString();
  else if ((capabilities & CLIENT_SECURE_CONNECTION) !== 0) r.skip(r.u8());
  else r.skipCstring();
  if ((capabilities & CLIENT_CONNECT_WITH_DB) !== 0) {
    const db = r.cstring();
    if (!r.failed && db !== '') out.database = db;
  }
  if ((capabilities & CLIENT_PLUGIN_AUTH) !== 0) {
    const plugin = r.cstring();
    if (!r.failed) out.authPlugin = plugin;
  }
  // Connection attributes (CLIENT_CONNECT_ATTRS) follow; nothing in them is needed.
  return out;
}

// --- generic responses --------------------------------------------------------------------------

export interface OkPacket {
  affectedRows: number;
  lastInsertId: number;
  status: number;
  warnings: number;
  /** SESSION_TRACK_SCHEMA: the default database changed (USE, COM_INIT_DB, CHANGE_USER). */
  schema?: string;
}

/**
 * OK_Packet (header 0x00), or a 0xFE packet ending a result set or a command: with
 * CLIENT_DEPRECATE_EOF an OK_Packet with the 0xFE header (7 bytes or more), otherwise an EOF_Packet
 * (int<2> warnings, int<2> status — the other order), read into the same shape.
 */
export function parseOk(payload: Uint8Array, caps: number): OkPacket | Malformed {
  const r = new PacketReader(payload);
  const header = r.u8();
  if (header !== OK_HEADER && header !== EOF_HEADER) return MALFORMED;
  if (header === EOF_HEADER && (isEofPacket(header, payload.length) || (caps & CLIENT_DEPRECATE_EOF) === 0)) {
    if (r.remaining < 4) return r.atEnd ? { affectedRows: 0, lastInsertId: 0, status: 0, warnings: 0 } : MALFORMED; // pre-4.1: 0xFE alone
    const warnings = r.u16();
    const status = r.u16();
    return { affectedRows: 0, lastInsertId: 0, status, warnings };
  }
  const ok: OkPacket = { affectedRows: r.lenenc(), lastInsertId: r.lenenc(), status: 0, warnings: 0 };
  if ((caps & CLIENT_PROTOCOL_41) !== 0) {
    ok.status = r.u16();
    ok.warnings = r.u16();
  }
  if (r.failed) return MALFORMED;
  if ((caps & CLIENT_SESSION_TRACK) !== 0 && (ok.status & SERVER_SESSION_STATE_CHANGED) !== 0 && !r.atEnd) {
    r.skipLenencString(); // info
    const len = r.lenenc();
    if (!r.failed) readSessionState(new PacketReader(payload, r.pos, Math.min(r.end, r.pos + len)), ok);
  }
  return ok;
}

/** Session state information: entries of int<1> type, string<lenenc> data (only the schema is read). */
function readSessionState(s: PacketReader, ok: OkPacket): void {
  while (!s.atEnd && !s.failed) {
    const type = s.u8();
    const data = s.lenenc();
    if (s.failed) return;
    if (type === SESSION_TRACK_SCHEMA) {
      const schema = new PacketReader(s.bytes, s.pos, Math.min(s.end, s.pos + data)).lenencString();
      if (schema !== '') ok.schema = schema;
    }
    s.skip(data);
  }
}

/** EOF_Packet: 0xFE, int<2> warnings, int<2> status: 5 bytes (an OK_Packet is at least 7). */
export function isEofPacket(first: number, length: number): boolean {
  return first === EOF_HEADER && length < 7;
}

/**
 * Ends a result set: an EOF_Packet, or an OK_Packet with the 0xFE header. A text row can begin
 * with 0xFE only when its first value is 16 MiB or longer, so a shorter packet is never a row.
 */
export function isResultSetEnd(first: number, length: number): boolean {
  return first === EOF_HEADER && length < MAX_PACKET_PAYLOAD;
}

export interface ErrPacket {
  code: number;
  sqlState?: string;
  message: string;
}

/** Longest error message kept (MYSQL_ERRMSG_SIZE is 512). */
const MAX_ERROR_MESSAGE = 512;

/** ERR_Packet: 0xFF, int<2> code, ['#', string[5] state], string<EOF> message. */
export function parseErr(payload: Uint8Array): ErrPacket | Malformed {
  const r = new PacketReader(payload);
  if (r.u8() !== ERR_HEADER) return MALFORMED;
  const code = r.u16();
  if (r.failed) return MALFORMED;
  const err: ErrPacket = { code, message: '' };
  if (r.peek() === 0x23 /* '#' */ && r.remaining >= 6) {
    r.skip(1);
    err.sqlState = r.string(5);
  }
  const message = r.rest();
  err.message = message.length > MAX_ERROR_MESSAGE ? message.slice(0, MAX_ERROR_MESSAGE) : message;
  return err;
}

// --- prepared statements ------------------------------------------------------------------------

/** COM_STMT_PREPARE_OK: 0x00, int<4> id, int<2> columns, int<2> params, filler, int<2> warnings. */
export interface PrepareOk {
  statementId: number;
  numColumns: number;
  numParams: number;
  warnings: number;
  /** CLIENT_OPTIONAL_RESULTSET_METADATA: false when the definitions are not sent. */
  metadataFollows: boolean;
}

export function parsePrepareOk(payload: Uint8Array): PrepareOk | Malformed {
  const r = new PacketReader(payload);
  if (r.u8() !== OK_HEADER) return MALFORMED;
  const statementId = r.u32();
  const numColumns = r.u16();
  const numParams = r.u16();
  r.skip(1);
  if (r.failed) return MALFORMED;
  const warnings = r.remaining >= 2 ? r.u16() : 0;
  const metadataFollows = r.remaining >= 1 ? r.u8() !== 0 : true;
  return { statementId, numColumns, numParams, warnings, metadataFollows };
}

/**
 * Column count packet of a result set: int<lenenc> count, then with MariaDB's
 * MARIADB_CLIENT_CACHE_METADATA or MySQL's CLIENT_OPTIONAL_RESULTSET_METADATA one byte saying
 * whether the column definitions follow. The byte is read when the payload has it.
 */
export function parseColumnCount(payload: Uint8Array): { count: number; metadataFollows: boolean } | Malformed {
  const r = new PacketReader(payload);
  const count = r.lenenc();
  if (r.failed || count === 0 || count > 0xffff) return MALFORMED;
  const metadataFollows = r.remaining >= 1 ? r.u8() !== 0 : true;
  if (!r.atEnd) return MALFORMED;
  return { count, metadataFollows };
}

/** Column Definition 41 begins with string<lenenc> catalog, always "def". */
export function isColumnDefinition(payload: Uint8Array): boolean {
  return payload.length >= 4 && payload[0] === 3 && payload[1] === 0x64 && payload[2] === 0x65 && payload[3] === 0x66;
}

// --- commands -----------------------------------------------------------------------------------

export interface Command {
  code: number;
  /** Query text (COM_QUERY, COM_STMT_PREPARE), schema (COM_INIT_DB), user (COM_CHANGE_USER). */
  text?: string;
  /** The payload was longer than what the capture kept: `text` is its beginning. */
  textTruncated?: boolean;
  statementId?: number;
  /** COM_CHANGE_USER: the database to switch to. */
  database?: string;
  /** COM_STMT_EXECUTE: flags (cursor type). */
  flags?: number;
}

/**
 * A command packet (sequence 0). `complete` is false when the payload was longer than the kept
 * head; fixed fields must then still be inside it, text becomes a prefix.
 */
export function parseCommand(payload: Uint8Array, complete: boolean, caps: number): Command | Malformed {
  const r = new PacketReader(payload);
  const code = r.u8();
  if (r.failed) return MALFORMED;
  const cmd: Command = { code };
  switch (code) {
    case COM_QUERY: {
      if ((caps & CLIENT_QUERY_ATTRIBUTES) !== 0 && !skipQueryAttributes(r)) return MALFORMED;
      cmd.text = r.rest();
      if (!complete) cmd.textTruncated = true;
      return cmd;
    }
    case COM_STMT_PREPARE:
    case COM_INIT_DB:
      cmd.text = r.rest();
      if (!complete) cmd.textTruncated = true;
      return cmd;
    case COM_STMT_EXECUTE:
      cmd.statementId = r.u32();
      cmd.flags = r.u8();
      return r.failed ? MALFORMED : cmd;
    case COM_STMT_CLOSE:
    case COM_STMT_RESET:
    case COM_STMT_FETCH:
    case COM_STMT_SEND_LONG_DATA:
    case COM_STMT_BULK_EXECUTE:
      cmd.statementId = r.u32();
      return r.failed ? MALFORMED : cmd;
    case COM_CHANGE_USER: {
      // user<NUL>, auth response (skipped unread), database<NUL>, ...
      cmd.text = r.cstring();
      if ((caps & CLIENT_SECURE_CONNECTION) !== 0) r.skip(r.u8());
      else r.skipCstring();
      const db = r.cstring();
      if (r.failed) return { code, ...(cmd.text !== '' ? { text: cmd.text } : {}) };
      if (db !== '') cmd.database = db;
      return cmd;
    }
    default:
      return cmd;
  }
}

/**
 * COM_QUERY with CLIENT_QUERY_ATTRIBUTES (MySQL 8.0.23+): int<lenenc> parameter count, int<lenenc>
 * parameter set count (1), and when there are parameters a NULL bitmap, the new-params-bound flag,
 * each parameter's type and name, and the values in the binary protocol's encoding.
 */
function skipQueryAttributes(r: PacketReader): boolean {
  const count = r.lenenc();
  r.lenenc(); // parameter set count, always 1
  if (r.failed) return false;
  if (count === 0) return true;
  if (count > 4096) return false;
  const nullBitmap = r.bytesView((count + 7) >> 3);
  const bound = r.u8();
  if (r.failed || bound !== 1) return false;
  const types: number[] = [];
  for (let i = 0; i < count && !r.failed; i++) {
    types.push(r.u16() & 0xff);
    r.skipLenencString(); // parameter name
  }
  for (let i = 0; i < count && !r.failed; i++) {
    if (((nullBitmap[i >> 3] ?? 0) & (1 << (i & 7))) !== 0) continue;
    skipBinaryValue(r, types[i]!);
  }
  return !r.failed;
}

/** A value in the binary protocol ("Binary Protocol Value"), by column type. */
export function skipBinaryValue(r: PacketReader, type: number): void {
  switch (type) {
    case 0x06: // NULL
      return;
    case 0x01: // TINY
      r.skip(1);
      return;
    case 0x02: // SHORT
    case 0x0d: // YEAR
      r.skip(2);
      return;
    case 0x03: // LONG
    case 0x09: // INT24
    case 0x04: // FLOAT
      r.skip(4);
      return;
    case 0x08: // LONGLONG
    case 0x05: // DOUBLE
      r.skip(8);
      return;
    case 0x07: // TIMESTAMP
    case 0x0a: // DATE
    case 0x0b: // TIME
    case 0x0c: // DATETIME
      r.skip(r.u8());
      return;
    default: // strings, decimals, blobs, JSON, BIT, ENUM, SET, GEOMETRY: string<lenenc>
      r.skipLenencString();
  }
}
