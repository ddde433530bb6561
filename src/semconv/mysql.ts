// MySQL / MariaDB exchanges → spans and db.client.operation.duration, following the OTel database
// semantic conventions (https://opentelemetry.io/docs/specs/semconv/database/database-spans/,
// .../database/mysql/, .../database/mariadb/, .../database/database-metrics/). Pure: no clock,
// no I/O; ids come from the caller.
//
// Privacy: db.query.text is always sanitized (every literal becomes `?`, comments are dropped), the
// raw text never leaves. No user name, password or row value is exported.
//
// Decisions the conventions leave open:
// - db.operation.name and db.collection.name come from the query text, the only source an agent
//   watching the wire has. The conventions advise against parsing a collection from text in systems
//   with multi-table queries; Lantern sets it only when the statement names exactly one table
//   (see mysql-sql.ts) and otherwise leaves it out.
// - Commands that carry no SQL are named by the protocol: "PING", "INIT_DB", "STMT_CLOSE"...;
//   COM_STMT_PREPARE is "PREPARE" with the statement's collection; COM_STMT_EXECUTE takes the
//   operation of the statement it runs ("EXECUTE" when its PREPARE was not seen).
// - SERVER spans (the database's own end of the connection) carry the same attributes; the
//   conventions define only CLIENT spans, and db.client.operation.duration only for clients.
// - No response before the connection closed: status Error, error.type "response_missing". A
//   response whose end was lost: status Unset (its outcome is unknown), no row count.
// - db.response.returned_rows is set when result sets came back complete.
import type { MysqlExchange } from '../model/mysql.js';
import type { Attributes, HistogramPoint, ResourceRecord, SpanKind, SpanRecord } from '../model/span.js';
import { type IdSource, randomIds } from './ids.js';
import { newSpanRecord } from './span-record.js';
import { sanitizeMysqlQuery, summarizeMysqlQuery } from './mysql-sql.js';
import { redactQuoted } from './redaction.js';

export const DB_CLIENT_DURATION = 'db.client.operation.duration';
/** error.type of a command whose response never came. */
export const RESPONSE_MISSING = 'response_missing';
/** Longest db.query.text exported (the sanitized text is cut, marked with "..."). */
const MAX_QUERY_TEXT = 4096;

interface MysqlView {
  kind: SpanKind;
  system: 'mysql' | 'mariadb';
  operation?: string;
  collection?: string;
  procedure?: string;
  namespace?: string;
  queryText?: string;
  statusCode?: string;
  errorType?: string;
  server?: { host: string; port?: number };
}

function spanKind(ex: MysqlExchange): SpanKind {
  return ex.connection.role === 'server' ? 'server' : ex.connection.role === 'client' ? 'client' : 'internal';
}

/** COM_PING → "PING", COM_STMT_CLOSE → "STMT_CLOSE". */
function commandOperation(command: string): string {
  return command.startsWith('COM_') ? command.slice(4) : command;
}

function view(ex: MysqlExchange): MysqlView {
  const kind = spanKind(ex);
  const v: MysqlView = { kind, system: ex.flavor === 'mariadb' ? 'mariadb' : 'mysql' };
  if (ex.query !== undefined && ex.query !== '') {
    const summary = summarizeMysqlQuery(ex.query);
    let text = sanitizeMysqlQuery(ex.query);
    if (ex.queryTruncated === true || text.length > MAX_QUERY_TEXT) text = `${text.slice(0, MAX_QUERY_TEXT)}...`;
    v.queryText = text;
    if (ex.command === 'COM_STMT_PREPARE') v.operation = 'PREPARE';
    else if (ex.command === 'COM_QUERY' || ex.command === 'COM_STMT_EXECUTE') v.operation = summary.operation;
    else v.operation = commandOperation(ex.command);
    if (summary.collection !== undefined) v.collection = summary.collection;
    if (summary.procedure !== undefined && v.operation === 'CALL') v.procedure = summary.procedure;
  } else if (ex.command !== 'COM_QUERY') {
    v.operation = ex.command === 'COM_STMT_EXECUTE' ? 'EXECUTE' : commandOperation(ex.command);
  }
  if (ex.database !== undefined && ex.database !== '') v.namespace = ex.database;
  if (ex.error !== undefined) {
    v.statusCode = String(ex.error.code);
    v.errorType = v.statusCode;
  } else if (ex.outcome === 'missing') {
    v.errorType = RESPONSE_MISSING;
  }
  const end = kind === 'client' ? ex.connection.remote : ex.connection.local;
  if (end.address !== '') v.server = ex.connection.family === 'unix' || end.port <= 0 ? { host: end.address } : { host: end.address, port: end.port };
  return v;
}

function spanName(v: MysqlView): string {
  const target = v.collection ?? v.procedure;
  if (v.operation !== undefined) return target !== undefined ? `${v.operation} ${target}` : v.operation;
  return v.system;
}

/** A finished command as one span. */
export function mysqlExchangeToSpan(ex: MysqlExchange, resource: ResourceRecord, ids: IdSource = randomIds): SpanRecord {
  const v = view(ex);
  const { connection } = ex;
  const a: Attributes = { 'db.system.name': v.system };
  if (v.namespace !== undefined) a['db.namespace'] = v.namespace;
  if (v.operation !== undefined) a['db.operation.name'] = v.operation;
  if (v.collection !== undefined) a['db.collection.name'] = v.collection;
  if (v.procedure !== undefined) a['db.stored_procedure.name'] = v.procedure;
  if (v.queryText !== undefined) a['db.query.text'] = v.queryText;
  if (v.statusCode !== undefined) a['db.response.status_code'] = v.statusCode;
  if (v.errorType !== undefined) a['error.type'] = v.errorType;
  if (ex.outcome === 'ok' && ex.rows !== undefined) a['db.response.returned_rows'] = ex.rows;
  if (v.server !== undefined) {
    a['server.address'] = v.server.host;
    if (v.server.port !== undefined) a['server.port'] = v.server.port;
  }
  if (connection.remote.address !== '') {
    a['network.peer.address'] = connection.remote.address;
    if (connection.family !== 'unix' && connection.remote.port > 0) a['network.peer.port'] = connection.remote.port;
  }
  if (v.kind === 'server' && connection.remote.address !== '') a['client.address'] = connection.remote.address;
  a['network.transport'] = connection.family === 'unix' ? 'unix' : 'tcp';
  if (connection.family === 'ipv4' || connection.family === 'ipv6') a['network.type'] = connection.family;

  return newSpanRecord(ids, null, spanName(v), v.kind, ex.startNs, ex.endNs, a,
    // The description is the server's message (SQLSTATE first) with its quoted values redacted:
    // "Duplicate entry '?' for key '?'" says what failed without the data that failed.
    v.errorType === undefined ? { code: 'unset' }
      : ex.error !== undefined ? { code: 'error', message: `${ex.error.sqlState !== undefined ? `${ex.error.sqlState}: ` : ''}${redactQuoted(ex.error.message)}` }
      : { code: 'error', message: 'no response before the connection closed or the command was evicted' },
    resource);
}

/** db.client.operation.duration for CLIENT spans; nothing for the server's end. */
export function mysqlExchangeToMetrics(ex: MysqlExchange, resource: ResourceRecord): HistogramPoint[] {
  const v = view(ex);
  if (v.kind !== 'client') return [];
  // Only bounded-cardinality attributes: no query text, no peer address.
  const a: Attributes = { 'db.system.name': v.system };
  if (v.namespace !== undefined) a['db.namespace'] = v.namespace;
  if (v.operation !== undefined) a['db.operation.name'] = v.operation;
  if (v.collection !== undefined) a['db.collection.name'] = v.collection;
  if (v.procedure !== undefined) a['db.stored_procedure.name'] = v.procedure;
  if (v.statusCode !== undefined) a['db.response.status_code'] = v.statusCode;
  if (v.errorType !== undefined) a['error.type'] = v.errorType;
  if (v.server !== undefined) {
    a['server.address'] = v.server.host;
    if (v.server.port !== undefined) a['server.port'] = v.server.port;
  }
  const seconds = ex.endNs > ex.startNs ? Number(ex.endNs - ex.startNs) / 1e9 : 0;
  return [{
    name: DB_CLIENT_DURATION,
    unit: 's',
    description: 'Duration of database client operations.',
    value: seconds,
    attributes: a,
    resource,
    timeUnixNano: ex.endNs,
  }];
}

/**
 * Names the command identically on the client's and the server's end of one connection (with the
 * 4-tuple): commands are answered in order, so the ordinal tells them apart (the registry's
 * linkOrdinal); the command, the statement id and the start of the query text as both ends captured
 * it guard against ordinals that drifted apart (a command one end did not capture).
 */
export function mysqlLinkId(ex: MysqlExchange): string {
  return `${ex.command} ${ex.statementId ?? ''} ${(ex.query ?? '').slice(0, 64)}`;
}
