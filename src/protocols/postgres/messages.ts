// PostgreSQL frontend/backend protocol 3.0 messages: the codes, and one small parser per message
// Lantern reads. Formats: https://www.postgresql.org/docs/current/protocol-message-formats.html
// (cited as "§formats" below); flows: https://www.postgresql.org/docs/current/protocol-flow.html.
//
// A parser takes the body (what follows the Int32 length) as the framer captured it and returns a
// value or the reason it could not: never a throw. Messages whose content Lantern never needs are
// not parsed at all; the password family ('p': PasswordMessage, SASLInitialResponse, SASLResponse,
// GSSResponse) is not even captured by the framer (see session.ts).
import { PgReader, type ReadFailure, int32At } from './reader.js';

const code = (c: string): number => c.charCodeAt(0);

/** Frontend (client → server) message codes, §formats. */
export const FE = {
  BIND: code('B'),
  CLOSE: code('C'),
  COPY_DATA: code('d'),
  COPY_DONE: code('c'),
  COPY_FAIL: code('f'),
  DESCRIBE: code('D'),
  EXECUTE: code('E'),
  FLUSH: code('H'),
  FUNCTION_CALL: code('F'),
  PARSE: code('P'),
  /** PasswordMessage, SASLInitialResponse, SASLResponse and GSSResponse share this code. */
  PASSWORD: code('p'),
  QUERY: code('Q'),
  SYNC: code('S'),
  TERMINATE: code('X'),
} as const;

/** Backend (server → client) message codes, §formats. */
export const BE = {
  AUTHENTICATION: code('R'),
  BACKEND_KEY_DATA: code('K'),
  BIND_COMPLETE: code('2'),
  CLOSE_COMPLETE: code('3'),
  COMMAND_COMPLETE: code('C'),
  COPY_IN_RESPONSE: code('G'),
  COPY_OUT_RESPONSE: code('H'),
  COPY_BOTH_RESPONSE: code('W'),
  COPY_DATA: code('d'),
  COPY_DONE: code('c'),
  DATA_ROW: code('D'),
  EMPTY_QUERY_RESPONSE: code('I'),
  ERROR_RESPONSE: code('E'),
  FUNCTION_CALL_RESPONSE: code('V'),
  NEGOTIATE_PROTOCOL_VERSION: code('v'),
  NO_DATA: code('n'),
  NOTICE_RESPONSE: code('N'),
  NOTIFICATION_RESPONSE: code('A'),
  PARAMETER_DESCRIPTION: code('t'),
  PARAMETER_STATUS: code('S'),
  PARSE_COMPLETE: code('1'),
  PORTAL_SUSPENDED: code('s'),
  READY_FOR_QUERY: code('Z'),
  ROW_DESCRIPTION: code('T'),
} as const;

/**
 * Request codes of the startup-phase messages, which have no type byte: Int32 length, Int32 code
 * (§formats StartupMessage, SSLRequest, GSSENCRequest, CancelRequest).
 */
export const STARTUP_CODE = {
  /** Protocol 3.0 = major 3 in the high 16 bits; 3.2 (PostgreSQL 18) is 196610. */
  PROTOCOL_3: 3 << 16,
  SSL_REQUEST: 80877103,
  GSSENC_REQUEST: 80877104,
  CANCEL_REQUEST: 80877102,
} as const;

/** PostgreSQL refuses a startup packet longer than this (MAX_STARTUP_PACKET_LENGTH). */
export const MAX_STARTUP_LENGTH = 10000;

export type Parsed<T> = { ok: true; value: T } | { ok: false; failure: ReadFailure };

function result<T>(r: PgReader, value: T): Parsed<T> {
  return r.failure === null ? { ok: true, value } : { ok: false, failure: r.failure };
}

// --- validity of a header, shared by the framer (in step and while resynchronising) -----------------

/** Bodies of these are empty (Int32 length 4 and nothing else). */
const FE_EMPTY = new Set<number>([FE.SYNC, FE.FLUSH, FE.COPY_DONE, FE.TERMINATE]);
const BE_EMPTY = new Set<number>([BE.PARSE_COMPLETE, BE.BIND_COMPLETE, BE.CLOSE_COMPLETE, BE.NO_DATA, BE.EMPTY_QUERY_RESPONSE, BE.PORTAL_SUSPENDED, BE.COPY_DONE]);

/**
 * Smallest body each message can have (the length field counts itself, so length = 4 + body):
 * e.g. Execute = String portal (>= 1) + Int32 maxRows. -1 marks codes that do not exist.
 */
const FE_MIN_BODY = new Int32Array(256).fill(-1);
const BE_MIN_BODY = new Int32Array(256).fill(-1);
for (const c of FE_EMPTY) FE_MIN_BODY[c] = 0;
FE_MIN_BODY[FE.BIND] = 1 + 1 + 2 + 2 + 2;
FE_MIN_BODY[FE.CLOSE] = 1 + 1;
FE_MIN_BODY[FE.COPY_DATA] = 0;
FE_MIN_BODY[FE.COPY_FAIL] = 1;
FE_MIN_BODY[FE.DESCRIBE] = 1 + 1;
FE_MIN_BODY[FE.EXECUTE] = 1 + 4;
FE_MIN_BODY[FE.FUNCTION_CALL] = 4 + 2 + 2 + 2;
FE_MIN_BODY[FE.PARSE] = 1 + 1 + 2;
FE_MIN_BODY[FE.PASSWORD] = 0;
FE_MIN_BODY[FE.QUERY] = 1;
for (const c of BE_EMPTY) BE_MIN_BODY[c] = 0;
BE_MIN_BODY[BE.AUTHENTICATION] = 4;
BE_MIN_BODY[BE.BACKEND_KEY_DATA] = 8;
BE_MIN_BODY[BE.COMMAND_COMPLETE] = 1;
BE_MIN_BODY[BE.COPY_IN_RESPONSE] = 3;
BE_MIN_BODY[BE.COPY_OUT_RESPONSE] = 3;
BE_MIN_BODY[BE.COPY_BOTH_RESPONSE] = 3;
BE_MIN_BODY[BE.COPY_DATA] = 0;
BE_MIN_BODY[BE.DATA_ROW] = 2;
BE_MIN_BODY[BE.ERROR_RESPONSE] = 1;
BE_MIN_BODY[BE.FUNCTION_CALL_RESPONSE] = 4;
BE_MIN_BODY[BE.NEGOTIATE_PROTOCOL_VERSION] = 8;
BE_MIN_BODY[BE.NOTICE_RESPONSE] = 1;
BE_MIN_BODY[BE.NOTIFICATION_RESPONSE] = 4 + 1 + 1;
BE_MIN_BODY[BE.PARAMETER_DESCRIPTION] = 2;
BE_MIN_BODY[BE.PARAMETER_STATUS] = 2;
BE_MIN_BODY[BE.READY_FOR_QUERY] = 1;
BE_MIN_BODY[BE.ROW_DESCRIPTION] = 2;

/** Largest body the server accepts or sends (PostgreSQL caps a message at 1 GB: MaxAllocSize). */
export const MAX_BODY = 0x3fffffff;

/**
 * Could `type` with this Int32 length field start a message on this side? Messages with no body
 * must say so exactly, ReadyForQuery is 5 bytes, every other length is at least the body minimum.
 */
export function plausibleHeader(side: 'request' | 'response', type: number, lengthField: number): boolean {
  const min = (side === 'request' ? FE_MIN_BODY : BE_MIN_BODY)[type] ?? -1;
  if (min < 0) return false;
  const body = lengthField - 4;
  if (body < min || body > MAX_BODY) return false;
  if (side === 'request' ? FE_EMPTY.has(type) : BE_EMPTY.has(type)) return body === 0;
  if (side === 'response' && type === BE.READY_FOR_QUERY) return body === 1;
  return true;
}

/** ReadyForQuery's transaction status byte: Idle, in Transaction, failed transaction (Error). */
export function isTransactionStatus(b: number): boolean {
  return b === 0x49 || b === 0x54 || b === 0x45;
}

// --- startup phase ---------------------------------------------------------------------------------

export type StartupMessage =
  | { kind: 'startup'; protocol: number; parameters: Map<string, string> }
  | { kind: 'ssl' }
  | { kind: 'gssenc' }
  | { kind: 'cancel' }
  | { kind: 'unknown'; code: number };

/** Parameters of a StartupMessage worth keeping; nothing else is decoded. */
const STARTUP_PARAMETERS = new Set(['user', 'database', 'application_name', 'replication']);
const MAX_STARTUP_PARAMETERS = 64;

/** The body of an untyped startup-phase message (after its Int32 length): Int32 code, then data. */
export function parseStartup(body: Uint8Array, declaredLength = body.length): Parsed<StartupMessage> {
  const r = new PgReader(body, declaredLength);
  const c = r.int32();
  if (r.failure !== null) return { ok: false, failure: r.failure };
  if (c === STARTUP_CODE.SSL_REQUEST) return { ok: true, value: { kind: 'ssl' } };
  if (c === STARTUP_CODE.GSSENC_REQUEST) return { ok: true, value: { kind: 'gssenc' } };
  if (c === STARTUP_CODE.CANCEL_REQUEST) return { ok: true, value: { kind: 'cancel' } };
  if (c >>> 16 !== 3) return { ok: true, value: { kind: 'unknown', code: c } };
  // Pairs of String name, String value, ended by an empty name.
  const parameters = new Map<string, string>();
  for (let i = 0; i < MAX_STARTUP_PARAMETERS; i++) {
    const name = r.cstring(256);
    if (r.failure !== null || name === '') break;
    const value = r.cstring(1024);
    if (r.failure !== null) break;
    if (STARTUP_PARAMETERS.has(name)) parameters.set(name, value);
  }
  return result(r, { kind: 'startup', protocol: c, parameters });
}

/** Does a request stream start with a startup-phase message (what the kernel classifies on)? */
export function looksLikeStartup(b: Uint8Array): boolean {
  if (b.length < 8) return false;
  const len = int32At(b, 0);
  if (len < 8 || len > MAX_STARTUP_LENGTH) return false;
  const c = int32At(b, 4);
  if (c === STARTUP_CODE.SSL_REQUEST || c === STARTUP_CODE.GSSENC_REQUEST) return len === 8;
  // CancelRequest: process id and a secret key (4 bytes before protocol 3.2, up to 256 after).
  if (c === STARTUP_CODE.CANCEL_REQUEST) return len >= 12 && len <= 8 + 4 + 256;
  // StartupMessage: at least the empty name that ends its parameter list.
  return c >>> 16 === 3 && (c & 0xffff) <= 2 && len >= 9;
}

// --- frontend messages -----------------------------------------------------------------------------

export interface QueryText {
  text: string;
  /** The capture (or `maxBytes`) ended before the query did: `text` is its beginning. */
  truncated: boolean;
}

/** Query: String query (§formats "Query"). */
export function parseQuery(body: Uint8Array, declaredLength: number, maxBytes: number): Parsed<QueryText> {
  const r = new PgReader(body, declaredLength);
  const q = r.cstringPrefix(maxBytes);
  return result(r, { text: q.text, truncated: q.cut });
}

export interface ParseMessage {
  /** Prepared statement name; '' is the unnamed statement. */
  name: string;
  query: QueryText;
  /** Parameter data types the client specified (may be fewer than the query's parameters). */
  parameterTypes: number | null;
}

/** Parse: String name, String query, Int16 n, Int32[n] parameter type oids. */
export function parseParse(body: Uint8Array, declaredLength: number, maxBytes: number): Parsed<ParseMessage> {
  const r = new PgReader(body, declaredLength);
  const name = r.cstring(256);
  if (r.failure !== null) return { ok: false, failure: r.failure };
  const q = r.cstringPrefix(maxBytes);
  if (r.failure !== null) return { ok: false, failure: r.failure };
  let parameterTypes: number | null = null;
  if (!q.cut) {
    const n = r.int16();
    parameterTypes = r.failure === null ? n : null;
  }
  return { ok: true, value: { name, query: { text: q.text, truncated: q.cut }, parameterTypes } };
}

export interface BindMessage {
  portal: string;
  statement: string;
  /** Number of parameter values; null when the capture ended before the count. */
  parameters: number | null;
}

/**
 * Bind: String portal, String statement, Int16 n + Int16[n] parameter format codes, Int16 number
 * of parameter values, then the values (never read: they are the application's data).
 */
export function parseBind(body: Uint8Array, declaredLength: number): Parsed<BindMessage> {
  const r = new PgReader(body, declaredLength);
  const portal = r.cstring(256);
  const statement = r.cstring(256);
  if (r.failure !== null) return { ok: false, failure: r.failure };
  const formats = r.int16();
  if (formats < 0) return { ok: false, failure: 'malformed' };
  r.skip(2 * formats);
  const n = r.int16();
  if (r.failure === 'malformed' || n < 0) return { ok: false, failure: 'malformed' };
  return { ok: true, value: { portal, statement, parameters: r.failure === null ? n : null } };
}

export interface TargetMessage {
  /** 'S' a prepared statement, 'P' a portal. */
  target: 'S' | 'P';
  name: string;
}

/** Describe and Close: Byte1 'S' or 'P', String name. */
export function parseTarget(body: Uint8Array, declaredLength: number): Parsed<TargetMessage> {
  const r = new PgReader(body, declaredLength);
  const t = r.byte();
  const name = r.cstring(256);
  if (r.failure !== null) return { ok: false, failure: r.failure };
  if (t !== 0x53 && t !== 0x50) return { ok: false, failure: 'malformed' };
  return { ok: true, value: { target: t === 0x53 ? 'S' : 'P', name } };
}

export interface ExecuteMessage {
  portal: string;
  /** 0 = no limit. */
  maxRows: number;
}

/** Execute: String portal, Int32 maximum rows. */
export function parseExecute(body: Uint8Array, declaredLength: number): Parsed<ExecuteMessage> {
  const r = new PgReader(body, declaredLength);
  const portal = r.cstring(256);
  const maxRows = r.int32();
  return result(r, { portal, maxRows });
}

// --- backend messages ------------------------------------------------------------------------------

export interface ErrorFields {
  /** V (non-localized severity, 9.6+), else S (localized): ERROR, FATAL, PANIC, WARNING, NOTICE... */
  severity: string;
  /** C: the SQLSTATE code (Appendix A "PostgreSQL Error Codes"). */
  sqlstate: string;
  /** M: the primary message, cut at 512 bytes. Detail (D) and other fields, which can quote row
   * values, are not kept. */
  message: string;
}

const MAX_ERROR_FIELDS = 32;

/** ErrorResponse and NoticeResponse: (Byte1 field type, String value)*, ended by a zero byte. */
export function parseErrorFields(body: Uint8Array, declaredLength: number): Parsed<ErrorFields> {
  const r = new PgReader(body, declaredLength);
  let severity = '';
  let localized = '';
  let sqlstate = '';
  let message = '';
  for (let i = 0; i < MAX_ERROR_FIELDS; i++) {
    const field = r.byte();
    if (r.failure !== null || field === 0) break;
    switch (field) {
      case 0x56: severity = r.cstring(16); break; // V
      case 0x53: localized = r.cstring(32); break; // S
      case 0x43: sqlstate = r.cstring(8); break; // C
      case 0x4d: message = r.cstring(512); break; // M
      default: r.cstring(0); // other fields: skipped without decoding
    }
  }
  // A cut body still carries what came first (S, V, C, M lead in every server version).
  if (r.failure === 'malformed' && sqlstate === '') return { ok: false, failure: 'malformed' };
  return { ok: true, value: { severity: severity || localized, sqlstate, message } };
}

/** CommandComplete: String command tag ("SELECT 5", "INSERT 0 1", "CREATE TABLE"). */
export function parseCommandComplete(body: Uint8Array, declaredLength: number): Parsed<string> {
  const r = new PgReader(body, declaredLength);
  const tag = r.cstring(64);
  return result(r, tag);
}

/** ReadyForQuery: Byte1 transaction status ('I', 'T' or 'E'). */
export function parseReadyForQuery(body: Uint8Array, declaredLength: number): Parsed<'I' | 'T' | 'E'> {
  const r = new PgReader(body, declaredLength);
  const s = r.byte();
  if (r.failure !== null) return { ok: false, failure: r.failure };
  if (!isTransactionStatus(s)) return { ok: false, failure: 'malformed' };
  return { ok: true, value: String.fromCharCode(s) as 'I' | 'T' | 'E' };
}

/**
 * Authentication*: Int32 code (0 Ok, 2 KerberosV5, 3 CleartextPassword, 5 MD5Password, 7 GSS,
 * 8 GSSContinue, 9 SSPI, 10 SASL, 11 SASLContinue, 12 SASLFinal), then data never read.
 */
export function parseAuthentication(body: Uint8Array, declaredLength: number): Parsed<number> {
  const r = new PgReader(body, declaredLength);
  const c = r.int32();
  return result(r, c);
}

export const AUTH_METHODS: Readonly<Record<number, string>> = {
  0: 'ok', 2: 'kerberos', 3: 'cleartext', 5: 'md5', 7: 'gss', 8: 'gss', 9: 'sspi', 10: 'sasl', 11: 'sasl', 12: 'sasl',
};

/** ParameterStatus: String name, String value. */
export function parseParameterStatus(body: Uint8Array, declaredLength: number): Parsed<{ name: string; value: string }> {
  const r = new PgReader(body, declaredLength);
  const name = r.cstring(64);
  const value = r.cstring(256);
  return result(r, { name, value });
}

/** Rows affected or returned, from a command tag: "INSERT oid n", "SELECT n", "UPDATE n", ... */
export function tagRows(tag: string): number | null {
  const sp = tag.lastIndexOf(' ');
  if (sp < 0) return null;
  const n = tag.slice(sp + 1);
  if (!/^\d{1,15}$/.test(n)) return null;
  const verb = tag.slice(0, tag.indexOf(' '));
  return ['INSERT', 'DELETE', 'UPDATE', 'MERGE', 'SELECT', 'MOVE', 'FETCH', 'COPY'].includes(verb) ? Number(n) : null;
}

/** The command of a tag without its counts: "INSERT 0 1" → "INSERT", "CREATE TABLE" stays. */
export function tagCommand(tag: string): string {
  return tag.replace(/( \d+)+$/, '');
}
