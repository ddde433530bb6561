// Numbers of the MySQL / MariaDB client/server protocol, each with where it is defined.
//   MySQL:   https://dev.mysql.com/doc/dev/mysql-server/latest/PAGE_PROTOCOL.html
//   MariaDB: https://mariadb.com/kb/en/clientserver-protocol/

/** Packet header: int<3> payload length, int<1> sequence id ("MySQL Packets"). */
export const HEADER_SIZE = 4;
/** A payload of this length continues in the next packet ("Sending More Than 16Mb"). */
export const MAX_PACKET_PAYLOAD = 0xffffff;

/** Initial Handshake Packet: protocol version 10 (v9 is pre-4.1 and not supported). */
export const HANDSHAKE_V10 = 10;

// Capability flags (group__group__cs__capabilities__flags). The server announces its own in the
// greeting; the client answers with the ones it uses, and the connection follows the client's.
export const CLIENT_LONG_PASSWORD = 0x1; // MariaDB: CLIENT_MYSQL; a MariaDB server clears it to announce extended capabilities
export const CLIENT_CONNECT_WITH_DB = 0x8;
export const CLIENT_COMPRESS = 0x20;
export const CLIENT_LOCAL_FILES = 0x80;
export const CLIENT_PROTOCOL_41 = 0x200;
export const CLIENT_SSL = 0x800;
export const CLIENT_SECURE_CONNECTION = 0x8000;
export const CLIENT_MULTI_STATEMENTS = 0x10000;
export const CLIENT_MULTI_RESULTS = 0x20000;
export const CLIENT_PLUGIN_AUTH = 0x80000;
export const CLIENT_CONNECT_ATTRS = 0x100000;
export const CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA = 0x200000;
export const CLIENT_SESSION_TRACK = 0x800000;
export const CLIENT_DEPRECATE_EOF = 0x1000000;
export const CLIENT_OPTIONAL_RESULTSET_METADATA = 0x2000000;
export const CLIENT_ZSTD_COMPRESSION_ALGORITHM = 0x4000000;
export const CLIENT_QUERY_ATTRIBUTES = 0x8000000;

// MariaDB extended capabilities: the upper 32 bits, in the last 4 reserved bytes of the greeting
// and of HandshakeResponse41 (https://mariadb.com/kb/en/connection/#capabilities).
export const MARIADB_CLIENT_PROGRESS = 0x1;
export const MARIADB_CLIENT_COM_MULTI = 0x2;
export const MARIADB_CLIENT_STMT_BULK_OPERATIONS = 0x4;
export const MARIADB_CLIENT_EXTENDED_METADATA = 0x8;
export const MARIADB_CLIENT_CACHE_METADATA = 0x10;

// Server status flags (SERVER_STATUS_flags_enum), in OK and EOF packets.
export const SERVER_MORE_RESULTS_EXISTS = 0x8;
export const SERVER_STATUS_CURSOR_EXISTS = 0x40;
export const SERVER_SESSION_STATE_CHANGED = 0x4000;

/** Session state change type carrying the new default schema (enum_session_state_type). */
export const SESSION_TRACK_SCHEMA = 1;

// First byte of a server packet ("Generic Response Packets").
export const OK_HEADER = 0x00;
export const EOF_HEADER = 0xfe;
export const ERR_HEADER = 0xff;
/** LOCAL INFILE request in answer to COM_QUERY: the client sends the file next. */
export const LOCAL_INFILE_HEADER = 0xfb;
/** AuthMoreData (caching_sha2_password, sha256_password...) during authentication. */
export const AUTH_MORE_DATA_HEADER = 0x01;
/** MariaDB: an ERR_Packet with this code is a progress report, not the end of the command. */
export const PROGRESS_REPORT_CODE = 0xffff;

/** Commands ("Text Protocol", "Prepared Statements", "Utility Commands"), and what follows each. */
export const COM_SLEEP = 0x00;
export const COM_QUIT = 0x01;
export const COM_INIT_DB = 0x02;
export const COM_QUERY = 0x03;
export const COM_FIELD_LIST = 0x04;
export const COM_CREATE_DB = 0x05;
export const COM_DROP_DB = 0x06;
export const COM_REFRESH = 0x07;
export const COM_SHUTDOWN = 0x08;
export const COM_STATISTICS = 0x09;
export const COM_PROCESS_INFO = 0x0a;
export const COM_CONNECT = 0x0b;
export const COM_PROCESS_KILL = 0x0c;
export const COM_DEBUG = 0x0d;
export const COM_PING = 0x0e;
export const COM_TIME = 0x0f;
export const COM_DELAYED_INSERT = 0x10;
export const COM_CHANGE_USER = 0x11;
export const COM_BINLOG_DUMP = 0x12;
export const COM_TABLE_DUMP = 0x13;
export const COM_CONNECT_OUT = 0x14;
export const COM_REGISTER_SLAVE = 0x15;
export const COM_STMT_PREPARE = 0x16;
export const COM_STMT_EXECUTE = 0x17;
export const COM_STMT_SEND_LONG_DATA = 0x18;
export const COM_STMT_CLOSE = 0x19;
export const COM_STMT_RESET = 0x1a;
export const COM_SET_OPTION = 0x1b;
export const COM_STMT_FETCH = 0x1c;
export const COM_DAEMON = 0x1d;
export const COM_BINLOG_DUMP_GTID = 0x1e;
export const COM_RESET_CONNECTION = 0x1f;
export const COM_CLONE = 0x20;
export const COM_SUBSCRIBE_GROUP_REPLICATION_STREAM = 0x21;
/** MariaDB: COM_STMT_BULK_EXECUTE (MARIADB_CLIENT_STMT_BULK_OPERATIONS). */
export const COM_STMT_BULK_EXECUTE = 0xfa;
/** MariaDB 10.2-10.5: several commands in one packet. Not followed. */
export const COM_MULTI = 0xfe;

/** MariaDB: COM_STMT_EXECUTE with this id runs the statement prepared last on the connection. */
export const LAST_PREPARED_STATEMENT = 0xffffffff;

/** How the server answers a command, i.e. how the response parser must read it. */
export type ResponseShape =
  | 'none' // no response at all (COM_QUIT, COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA)
  | 'status' // one OK, ERR or EOF packet
  | 'resultset' // OK, ERR, LOCAL INFILE, or result sets (text or binary rows)
  | 'rows' // rows and a terminator (COM_STMT_FETCH)
  | 'prepare' // COM_STMT_PREPARE_OK and the parameter / column definitions
  | 'fields' // column definitions up to EOF (COM_FIELD_LIST)
  | 'text' // one packet of text (COM_STATISTICS)
  | 'auth' // an authentication exchange (COM_CHANGE_USER)
  | 'stream'; // replication or clone streams: the connection is no longer request/response

export interface CommandInfo {
  name: string;
  shape: ResponseShape;
  /** Bounds on the payload length (command byte included), for resynchronisation. */
  minLength: number;
  maxLength: number;
}

const ANY = 0xffffffff;

const COMMANDS = new Map<number, CommandInfo>([
  [COM_SLEEP, { name: 'COM_SLEEP', shape: 'status', minLength: 1, maxLength: 1 }],
  [COM_QUIT, { name: 'COM_QUIT', shape: 'none', minLength: 1, maxLength: 1 }],
  [COM_INIT_DB, { name: 'COM_INIT_DB', shape: 'status', minLength: 1, maxLength: 1024 }],
  [COM_QUERY, { name: 'COM_QUERY', shape: 'resultset', minLength: 1, maxLength: ANY }],
  [COM_FIELD_LIST, { name: 'COM_FIELD_LIST', shape: 'fields', minLength: 2, maxLength: 4096 }],
  [COM_CREATE_DB, { name: 'COM_CREATE_DB', shape: 'status', minLength: 1, maxLength: 1024 }],
  [COM_DROP_DB, { name: 'COM_DROP_DB', shape: 'status', minLength: 1, maxLength: 1024 }],
  [COM_REFRESH, { name: 'COM_REFRESH', shape: 'status', minLength: 2, maxLength: 2 }],
  [COM_SHUTDOWN, { name: 'COM_SHUTDOWN', shape: 'status', minLength: 1, maxLength: 2 }],
  [COM_STATISTICS, { name: 'COM_STATISTICS', shape: 'text', minLength: 1, maxLength: 1 }],
  [COM_PROCESS_INFO, { name: 'COM_PROCESS_INFO', shape: 'resultset', minLength: 1, maxLength: 1 }],
  [COM_CONNECT, { name: 'COM_CONNECT', shape: 'status', minLength: 1, maxLength: 1 }],
  [COM_PROCESS_KILL, { name: 'COM_PROCESS_KILL', shape: 'status', minLength: 5, maxLength: 5 }],
  [COM_DEBUG, { name: 'COM_DEBUG', shape: 'status', minLength: 1, maxLength: 1 }],
  [COM_PING, { name: 'COM_PING', shape: 'status', minLength: 1, maxLength: 1 }],
  [COM_TIME, { name: 'COM_TIME', shape: 'status', minLength: 1, maxLength: 1 }],
  [COM_DELAYED_INSERT, { name: 'COM_DELAYED_INSERT', shape: 'status', minLength: 1, maxLength: 1 }],
  [COM_CHANGE_USER, { name: 'COM_CHANGE_USER', shape: 'auth', minLength: 2, maxLength: 65_536 }],
  [COM_BINLOG_DUMP, { name: 'COM_BINLOG_DUMP', shape: 'stream', minLength: 11, maxLength: 4096 }],
  [COM_TABLE_DUMP, { name: 'COM_TABLE_DUMP', shape: 'stream', minLength: 1, maxLength: 1024 }],
  [COM_CONNECT_OUT, { name: 'COM_CONNECT_OUT', shape: 'status', minLength: 1, maxLength: 1 }],
  [COM_REGISTER_SLAVE, { name: 'COM_REGISTER_SLAVE', shape: 'status', minLength: 1, maxLength: 4096 }],
  [COM_STMT_PREPARE, { name: 'COM_STMT_PREPARE', shape: 'prepare', minLength: 1, maxLength: ANY }],
  [COM_STMT_EXECUTE, { name: 'COM_STMT_EXECUTE', shape: 'resultset', minLength: 10, maxLength: ANY }],
  [COM_STMT_SEND_LONG_DATA, { name: 'COM_STMT_SEND_LONG_DATA', shape: 'none', minLength: 7, maxLength: ANY }],
  [COM_STMT_CLOSE, { name: 'COM_STMT_CLOSE', shape: 'none', minLength: 5, maxLength: 5 }],
  [COM_STMT_RESET, { name: 'COM_STMT_RESET', shape: 'status', minLength: 5, maxLength: 5 }],
  [COM_SET_OPTION, { name: 'COM_SET_OPTION', shape: 'status', minLength: 3, maxLength: 3 }],
  [COM_STMT_FETCH, { name: 'COM_STMT_FETCH', shape: 'rows', minLength: 9, maxLength: 9 }],
  [COM_DAEMON, { name: 'COM_DAEMON', shape: 'status', minLength: 1, maxLength: 1 }],
  [COM_BINLOG_DUMP_GTID, { name: 'COM_BINLOG_DUMP_GTID', shape: 'stream', minLength: 1, maxLength: ANY }],
  [COM_RESET_CONNECTION, { name: 'COM_RESET_CONNECTION', shape: 'status', minLength: 1, maxLength: 1 }],
  [COM_CLONE, { name: 'COM_CLONE', shape: 'stream', minLength: 1, maxLength: ANY }],
  [COM_SUBSCRIBE_GROUP_REPLICATION_STREAM, { name: 'COM_SUBSCRIBE_GROUP_REPLICATION_STREAM', shape: 'stream', minLength: 1, maxLength: ANY }],
  [COM_STMT_BULK_EXECUTE, { name: 'COM_STMT_BULK_EXECUTE', shape: 'resultset', minLength: 7, maxLength: ANY }],
  [COM_MULTI, { name: 'COM_MULTI', shape: 'stream', minLength: 2, maxLength: ANY }],
]);

/** What is known of a command byte; undefined for bytes that are no command. */
export function commandInfo(code: number): CommandInfo | undefined {
  return COMMANDS.get(code);
}
