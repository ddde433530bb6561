// Builds MySQL protocol bytes for tests, one function per message, each after its definition:
//   packets       https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_packets.html
//   handshake     .../page_protocol_connection_phase_packets_protocol_handshake_v10.html
//   response41    .../page_protocol_connection_phase_packets_protocol_handshake_response.html
//   OK/ERR/EOF    .../page_protocol_basic_ok_packet.html, ..._err_packet.html, ..._eof_packet.html
//   result sets   .../page_protocol_com_query_response_text_resultset.html
//   prepared      .../page_protocol_com_stmt_prepare.html, .../page_protocol_com_stmt_execute.html
//   MariaDB       https://mariadb.com/kb/en/clientserver-protocol/ (extended capabilities, cache metadata)
import * as C from '../../../src/protocols/mysql/constants.js';

/** Little-endian payload writer with the protocol's basic types. */
export class Payload {
  private readonly bytes: number[] = [];

  u8(v: number): this {
    this.bytes.push(v & 0xff);
    return this;
  }

  u16(v: number): this {
    return this.u8(v).u8(v >>> 8);
  }

  u24(v: number): this {
    return this.u16(v).u8(v >>> 16);
  }

  u32(v: number): this {
    return this.u16(v & 0xffff).u16(Math.floor(v / 0x10000));
  }

  u64(v: number): this {
    return this.u32(v % 0x1_0000_0000).u32(Math.floor(v / 0x1_0000_0000));
  }

  /** int<lenenc>. */
  lenenc(v: number): this {
    if (v < 0xfb) return this.u8(v);
    if (v < 0x10000) return this.u8(0xfc).u16(v);
    if (v < 0x1000000) return this.u8(0xfd).u24(v);
    return this.u8(0xfe).u64(v);
  }

  raw(b: Uint8Array | number[]): this {
    for (const x of b) this.bytes.push(x & 0xff);
    return this;
  }

  /** string<fix> / string<EOF>. */
  str(s: string): this {
    return this.raw(Buffer.from(s, 'utf8'));
  }

  /** string<NUL>. */
  cstr(s: string): this {
    return this.str(s).u8(0);
  }

  /** string<lenenc>. */
  lstr(s: string | Uint8Array): this {
    const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
    return this.lenenc(b.length).raw(b);
  }

  zeros(n: number): this {
    for (let i = 0; i < n; i++) this.bytes.push(0);
    return this;
  }

  build(): Buffer {
    return Buffer.from(this.bytes);
  }
}

/** One logical packet: split into 0xffffff-byte physical packets (and a shorter last one). */
export function packet(seq: number, payload: Uint8Array): Buffer {
  const parts: Buffer[] = [];
  let off = 0;
  let s = seq;
  for (;;) {
    const n = Math.min(C.MAX_PACKET_PAYLOAD, payload.length - off);
    const h = Buffer.alloc(4);
    h.writeUIntLE(n, 0, 3);
    h[3] = s & 0xff;
    parts.push(h, Buffer.from(payload.subarray(off, off + n)));
    off += n;
    s++;
    if (n < C.MAX_PACKET_PAYLOAD) break;
  }
  return Buffer.concat(parts);
}

// --- connection phase ---------------------------------------------------------------------------

export const MYSQL_SERVER_CAPS = 0xdfffffff & ~C.CLIENT_SSL & ~C.CLIENT_COMPRESS & ~C.CLIENT_ZSTD_COMPRESSION_ALGORITHM;
/** MariaDB clears CLIENT_MYSQL (bit 0) to announce extended capabilities. */
export const MARIADB_SERVER_CAPS = MYSQL_SERVER_CAPS & ~C.CLIENT_LONG_PASSWORD & ~C.CLIENT_QUERY_ATTRIBUTES & ~C.CLIENT_OPTIONAL_RESULTSET_METADATA;
export const MARIADB_EXT_CAPS = C.MARIADB_CLIENT_PROGRESS | C.MARIADB_CLIENT_STMT_BULK_OPERATIONS | C.MARIADB_CLIENT_EXTENDED_METADATA | C.MARIADB_CLIENT_CACHE_METADATA;

/** What a current client asks for (go-sql-driver/mysql 1.10, libmariadb 3.3). */
export const CLIENT_CAPS = C.CLIENT_LONG_PASSWORD | C.CLIENT_PROTOCOL_41 | C.CLIENT_SECURE_CONNECTION | C.CLIENT_PLUGIN_AUTH |
  C.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA | C.CLIENT_MULTI_RESULTS | C.CLIENT_MULTI_STATEMENTS | C.CLIENT_LOCAL_FILES |
  C.CLIENT_CONNECT_ATTRS | C.CLIENT_DEPRECATE_EOF | 0x4 /* LONG_FLAG */ | 0x2000 /* TRANSACTIONS */;

export interface GreetingOptions {
  version?: string;
  caps?: number;
  extCaps?: number;
  plugin?: string;
  connectionId?: number;
}

/** Initial Handshake v10 payload (sequence 0). */
export function greeting(o: GreetingOptions = {}): Buffer {
  const caps = o.caps ?? MYSQL_SERVER_CAPS;
  const p = new Payload()
    .u8(10)
    .cstr(o.version ?? '8.0.36')
    .u32(o.connectionId ?? 42)
    .raw([1, 2, 3, 4, 5, 6, 7, 8]) // auth-plugin-data-part-1
    .u8(0)
    .u16(caps & 0xffff)
    .u8(0x2d) // utf8mb4_general_ci
    .u16(0x0002) // SERVER_STATUS_AUTOCOMMIT
    .u16(caps >>> 16)
    .u8(21)
    .zeros(6)
    .u32((caps & C.CLIENT_LONG_PASSWORD) === 0 ? (o.extCaps ?? 0) : 0)
    .raw([9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 0]); // part 2: max(13, 21 - 8) bytes
  p.cstr(o.plugin ?? 'mysql_native_password');
  return p.build();
}

export interface ResponseOptions {
  caps?: number;
  extCaps?: number;
  user?: string;
  /** The auth response bytes (a scramble of the password; tests put the password itself here). */
  auth?: string;
  database?: string;
  plugin?: string;
  attrs?: Array<[string, string]>;
}

/** HandshakeResponse41 payload (sequence 1). */
export function handshakeResponse(o: ResponseOptions = {}): Buffer {
  let caps = o.caps ?? CLIENT_CAPS;
  if (o.database !== undefined) caps |= C.CLIENT_CONNECT_WITH_DB;
  const p = new Payload().u32(caps >>> 0).u32(16 * 1024 * 1024).u8(0x2d).zeros(19).u32(o.extCaps ?? 0).cstr(o.user ?? 'app');
  const auth = Buffer.from(o.auth ?? 'scrambled-secret', 'utf8');
  if ((caps & C.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA) !== 0) p.lstr(auth);
  else if ((caps & C.CLIENT_SECURE_CONNECTION) !== 0) p.u8(auth.length).raw(auth);
  else p.raw(auth).u8(0);
  if ((caps & C.CLIENT_CONNECT_WITH_DB) !== 0) p.cstr(o.database ?? '');
  if ((caps & C.CLIENT_PLUGIN_AUTH) !== 0) p.cstr(o.plugin ?? 'mysql_native_password');
  if ((caps & C.CLIENT_CONNECT_ATTRS) !== 0) {
    const attrs = new Payload();
    for (const [k, v] of o.attrs ?? [['_client_name', 'test'], ['_pid', '1234']]) attrs.lstr(k).lstr(v);
    const a = attrs.build();
    p.lenenc(a.length).raw(a);
  }
  return p.build();
}

/** SSLRequest: the first 32 bytes of a HandshakeResponse41 with CLIENT_SSL. */
export function sslRequest(caps = CLIENT_CAPS | C.CLIENT_SSL): Buffer {
  return new Payload().u32(caps >>> 0).u32(16 * 1024 * 1024).u8(0x2d).zeros(23).build();
}

/** AuthSwitchRequest: 0xFE, plugin name<NUL>, plugin data. */
export function authSwitch(plugin = 'mysql_native_password'): Buffer {
  return new Payload().u8(0xfe).cstr(plugin).raw([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 0]).build();
}

/** AuthMoreData: 0x01 then data (caching_sha2_password fast-auth success is 0x01 0x03). */
export function authMoreData(data: number[] = [3]): Buffer {
  return new Payload().u8(0x01).raw(data).build();
}

// --- generic responses --------------------------------------------------------------------------

export interface OkOptions {
  affectedRows?: number;
  lastInsertId?: number;
  status?: number;
  warnings?: number;
  info?: string;
  /** SESSION_TRACK_SCHEMA entry (needs CLIENT_SESSION_TRACK on the connection). */
  schema?: string;
  /** 0xFE: the OK that ends a result set with CLIENT_DEPRECATE_EOF. */
  header?: number;
  sessionTrack?: boolean;
}

export function ok(o: OkOptions = {}): Buffer {
  let status = o.status ?? 0x0002;
  if (o.schema !== undefined) status |= C.SERVER_SESSION_STATE_CHANGED;
  const p = new Payload().u8(o.header ?? 0x00).lenenc(o.affectedRows ?? 0).lenenc(o.lastInsertId ?? 0).u16(status).u16(o.warnings ?? 0);
  if (o.sessionTrack === true || o.schema !== undefined) {
    p.lstr(o.info ?? '');
    if (o.schema !== undefined) {
      const entry = new Payload().lstr(o.schema).build();
      const state = new Payload().u8(C.SESSION_TRACK_SCHEMA).lstr(entry).build();
      p.lstr(state);
    }
  } else if (o.info !== undefined) {
    p.str(o.info);
  }
  return p.build();
}

export function err(code: number, sqlState: string | null, message: string): Buffer {
  const p = new Payload().u8(0xff).u16(code);
  if (sqlState !== null) p.str('#').str(sqlState);
  return p.str(message).build();
}

/** MariaDB progress report: an ERR_Packet with code 0xFFFF. */
export function progress(stage: number, maxStage: number, permille: number, info: string): Buffer {
  return new Payload().u8(0xff).u16(0xffff).u8(stage).u8(maxStage).u24(permille).lstr(info).build();
}

export function eof(status = 0x0002, warnings = 0): Buffer {
  return new Payload().u8(0xfe).u16(warnings).u16(status).build();
}

// --- result sets --------------------------------------------------------------------------------

export function columnCount(n: number, metadataFollows?: boolean): Buffer {
  const p = new Payload().lenenc(n);
  if (metadataFollows !== undefined) p.u8(metadataFollows ? 1 : 0);
  return p.build();
}

/** Column Definition 41. */
export function columnDef(name: string, table = 't', type = 0xfd): Buffer {
  return new Payload().lstr('def').lstr('db').lstr(table).lstr(table).lstr(name).lstr(name)
    .lenenc(0x0c).u16(0x2d).u32(255).u8(type).u16(0).u8(0).u16(0).build();
}

/** A text row: each value string<lenenc>, NULL as 0xFB. */
export function textRow(values: Array<string | null>): Buffer {
  const p = new Payload();
  for (const v of values) {
    if (v === null) p.u8(0xfb);
    else p.lstr(v);
  }
  return p.build();
}

/** A binary row of string columns: 0x00, NULL bitmap (offset 2), values. */
export function binaryRow(values: Array<string | null>): Buffer {
  const bitmap = new Array<number>(Math.floor((values.length + 7 + 2) / 8)).fill(0);
  values.forEach((v, i) => {
    if (v === null) bitmap[(i + 2) >> 3]! |= 1 << ((i + 2) & 7);
  });
  const p = new Payload().u8(0).raw(bitmap);
  for (const v of values) if (v !== null) p.lstr(v);
  return p.build();
}

export interface ResultSetOptions {
  columns: string[];
  rows: Array<Array<string | null>>;
  deprecateEof: boolean;
  binary?: boolean;
  /** Status of the terminator (SERVER_MORE_RESULTS_EXISTS for another result to follow). */
  status?: number;
  /** MariaDB cache metadata / MySQL optional metadata: the byte after the column count. */
  metadataFollows?: boolean;
  firstSeq?: number;
}

/** The packets of one result set, sequence numbers from firstSeq (1), and the next sequence. */
export function resultSet(o: ResultSetOptions): { bytes: Buffer; nextSeq: number } {
  let seq = o.firstSeq ?? 1;
  const out: Buffer[] = [packet(seq++, columnCount(o.columns.length, o.metadataFollows))];
  if (o.metadataFollows !== false) for (const c of o.columns) out.push(packet(seq++, columnDef(c)));
  if (!o.deprecateEof) out.push(packet(seq++, eof()));
  for (const r of o.rows) out.push(packet(seq++, o.binary === true ? binaryRow(r) : textRow(r)));
  out.push(packet(seq++, o.deprecateEof ? ok({ header: 0xfe, status: o.status ?? 0x0002 }) : eof(o.status ?? 0x0002)));
  return { bytes: Buffer.concat(out), nextSeq: seq };
}

/** COM_STMT_PREPARE_OK and its definitions. */
export function prepareResponse(id: number, params: number, columns: string[], deprecateEof: boolean): Buffer {
  let seq = 1;
  const out: Buffer[] = [packet(seq++, new Payload().u8(0).u32(id).u16(columns.length).u16(params).u8(0).u16(0).build())];
  for (let i = 0; i < params; i++) out.push(packet(seq++, columnDef('?')));
  if (params > 0 && !deprecateEof) out.push(packet(seq++, eof()));
  for (const c of columns) out.push(packet(seq++, columnDef(c)));
  if (columns.length > 0 && !deprecateEof) out.push(packet(seq++, eof()));
  return Buffer.concat(out);
}

// --- commands (sequence 0) ----------------------------------------------------------------------

export function command(code: number, body: Payload = new Payload()): Buffer {
  return packet(0, Buffer.concat([Buffer.from([code]), body.build()]));
}

export const query = (sql: string): Buffer => command(C.COM_QUERY, new Payload().str(sql));
/** COM_QUERY with CLIENT_QUERY_ATTRIBUTES and no attributes: parameter count 0, set count 1. */
export const queryWithAttributes = (sql: string): Buffer => command(C.COM_QUERY, new Payload().lenenc(0).lenenc(1).str(sql));
export const initDb = (db: string): Buffer => command(C.COM_INIT_DB, new Payload().str(db));
export const ping = (): Buffer => command(C.COM_PING);
export const quit = (): Buffer => command(C.COM_QUIT);
export const statistics = (): Buffer => command(C.COM_STATISTICS);
export const stmtPrepare = (sql: string): Buffer => command(C.COM_STMT_PREPARE, new Payload().str(sql));
export const stmtClose = (id: number): Buffer => command(C.COM_STMT_CLOSE, new Payload().u32(id));
export const stmtReset = (id: number): Buffer => command(C.COM_STMT_RESET, new Payload().u32(id));
export const stmtFetch = (id: number, rows: number): Buffer => command(C.COM_STMT_FETCH, new Payload().u32(id).u32(rows));
export const resetConnection = (): Buffer => command(C.COM_RESET_CONNECTION);

/** COM_STMT_EXECUTE with string parameters (type MYSQL_TYPE_VAR_STRING), new-params-bound. */
export function stmtExecute(id: number, params: string[], flags = 0): Buffer {
  const p = new Payload().u32(id).u8(flags).u32(1);
  if (params.length > 0) {
    p.zeros((params.length + 7) >> 3).u8(1);
    for (let i = 0; i < params.length; i++) p.u16(0xfd);
    for (const v of params) p.lstr(v);
  }
  return command(C.COM_STMT_EXECUTE, p);
}

export function changeUser(user: string, auth: string, database: string): Buffer {
  return command(C.COM_CHANGE_USER, new Payload().cstr(user).u8(auth.length).str(auth).cstr(database).u16(0x2d).cstr('mysql_native_password'));
}

// --- conversations ------------------------------------------------------------------------------

/** One direction's bytes at one time; with `gap`, that many bytes were not captured instead. */
export interface WireEvent {
  side: 'request' | 'response';
  bytes: Buffer;
  timeNs: bigint;
  gap?: number;
}

/** A conversation in time order: alternate .server() / .client() calls, each one syscall. */
export class Conversation {
  readonly events: WireEvent[] = [];
  private t = 1_000_000n;

  server(...parts: Buffer[]): this {
    return this.push('response', Buffer.concat(parts));
  }

  client(...parts: Buffer[]): this {
    return this.push('request', Buffer.concat(parts));
  }

  /** `n` bytes of one side were not captured (the kernel's skip marker). */
  lose(side: 'request' | 'response', n: number): this {
    this.t += 1000n;
    this.events.push({ side, bytes: Buffer.alloc(0), timeNs: this.t, gap: n });
    return this;
  }

  private push(side: 'request' | 'response', bytes: Buffer): this {
    this.t += 1000n;
    this.events.push({ side, bytes, timeNs: this.t });
    return this;
  }

  /** All bytes of one side, concatenated. */
  side(side: 'request' | 'response'): Buffer {
    return Buffer.concat(this.events.filter((e) => e.side === side && e.gap === undefined).map((e) => e.bytes));
  }
}

/** Greeting, login and OK: the usual start of a conversation. */
export function login(c: Conversation, o: { deprecateEof?: boolean; mariadb?: boolean; database?: string; sessionTrack?: boolean; user?: string; auth?: string } = {}): Conversation {
  let caps = CLIENT_CAPS;
  if (o.deprecateEof === false) caps &= ~C.CLIENT_DEPRECATE_EOF;
  if (o.sessionTrack === true) caps |= C.CLIENT_SESSION_TRACK;
  if (o.mariadb === true) caps &= ~C.CLIENT_LONG_PASSWORD;
  const r: ResponseOptions = { caps, user: o.user ?? 'app', auth: o.auth ?? 'scrambled-secret' };
  if (o.database !== undefined) r.database = o.database;
  if (o.mariadb === true) r.extCaps = C.MARIADB_CLIENT_CACHE_METADATA | C.MARIADB_CLIENT_PROGRESS;
  return c
    .server(packet(0, o.mariadb === true ? greeting({ version: '5.5.5-10.11.6-MariaDB-0+deb12u1', caps: MARIADB_SERVER_CAPS, extCaps: MARIADB_EXT_CAPS }) : greeting()))
    .client(packet(1, handshakeResponse(r)))
    .server(packet(2, ok()));
}
