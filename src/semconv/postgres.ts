// PostgreSQL exchanges → spans and db.client.operation.duration, following the stable database
// conventions (https://opentelemetry.io/docs/specs/semconv/db/database-spans/, …/db/postgresql/,
// …/db/database-metrics/). Pure: no clock, no I/O; ids come from the caller.
//
// Decisions the conventions leave to the instrumentation (they ask it to document them):
// - db.namespace is the database named in the StartupMessage (the user name when the client named
//   none, as the server does). The schema half of `{database}|{schema}` would need a query.
// - db.query.text is always sanitized: every literal becomes `?` and comments are dropped. A query
//   written with $n placeholders and no literals comes out unchanged, as the conventions want for
//   parameterized text. Parameter values (Bind) are never captured.
// - db.operation.name, db.collection.name and db.query.summary are parsed from the text (Lantern
//   sees only the wire, no higher-level API): the operation is the statement's command word; the
//   collection is set only when the statement names exactly one table and reads from no
//   subquery or function; the summary lists operations and targets in order. A multi-statement
//   Query is a batch: `BATCH <op>` when all statements share the operation, else `BATCH`.
// - A Parse…Sync group that only prepared a statement (drivers prepare once, then Bind/Execute):
//   db.operation.name PREPARE, summary `PREPARE <summary of the statement>`.
// - error.type is the SQLSTATE of the ErrorResponse (the conventions: "SHOULD match
//   db.response.status_code"); `response_missing` when the connection ended before the answer.
//   db.response.status_code is also set for a WARNING notice (class 01), without an error.
//   The span status description is the server's primary message (cut at 256 characters) with its
//   quoted values replaced by '?' (`invalid input syntax for type integer: "?"`: PostgreSQL quotes
//   the literal it failed on, which may be a secret), but not the names it quotes after the kind
//   of object they name (`relation "missing" does not exist`, `constraint "users_pkey"`); error
//   details (D) and hints, which may quote row values, are never captured.
// - SERVER spans for the PostgreSQL backend's side of the connection carry the same attributes.
// - db.client.operation.duration only for CLIENT spans that were answered (a partial capture's
//   duration is not a measurement). The conventions define no server-side database metric, and
//   counting the backend's view too would double every operation in client dashboards.
// - A sqlcommenter comment `traceparent='…'` in the query joins the span to the caller's trace, as
//   the header does for HTTP.
import type { PostgresExchange } from '../model/postgres.js';
import type { Attributes, HistogramPoint, ResourceRecord, SpanKind, SpanRecord } from '../model/span.js';
import { tagCommand } from '../protocols/postgres/messages.js';
import { type QueryInfo, analyzeSql, sanitizeSql, tokenize } from '../protocols/postgres/sql.js';
import type { IdSource } from './ids.js';
import { newSpanRecord } from './span-record.js';
import { parseTraceparent } from './traceparent.js';

export const DB_CLIENT_OPERATION_DURATION = 'db.client.operation.duration';
export const RESPONSE_MISSING = 'response_missing';
const DB_SYSTEM = 'postgresql';
const MAX_STATUS_MESSAGE = 256;

interface Analysis {
  text: string;
  info: QueryInfo;
}

/** Statements repeat (prepared, or the same query in a loop): analyze each text once. */
const CACHE_SIZE = 512;
const MAX_CACHED_TEXT = 4096;
const cache = new Map<string, Analysis>();

/** A word naming what kind of object the quoted text after it is: an identifier, kept. */
const NAMED_KIND = /\b(?:relation|column|table|constraint|index|schema|function|procedure|type|database|role|user|sequence|view|operator|extension|trigger|cursor|statement|savepoint|parameter|collation|domain|policy|publication|subscription|tablespace|server|attribute|key)\s*$/i;
const QUOTED = /"(?:[^"]|"")*(?:"|$)|'(?:[^']|'')*(?:'|$)/g;

/** The server's message with quoted values as '?' and quoted names kept (see the top of this file). */
export function redactPgMessage(message: string): string {
  return message.replace(QUOTED, (q: string, offset: number) =>
    (q[0] === '"' && q.length > 1 && q.endsWith('"') && NAMED_KIND.test(message.slice(Math.max(0, offset - 40), offset)) ? q : `${q[0]!}?${q[0]!}`));
}

export function analyzeQuery(query: string): Analysis {
  const hit = cache.get(query);
  if (hit !== undefined) {
    cache.delete(query);
    cache.set(query, hit);
    return hit;
  }
  const tokens = tokenize(query);
  const a: Analysis = { text: sanitizeSql(query, tokens), info: analyzeSql(query, tokens) };
  if (query.length <= MAX_CACHED_TEXT) {
    cache.set(query, a);
    if (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value as string);
  }
  return a;
}

function kind(ex: PostgresExchange): SpanKind {
  return ex.connection.role === 'server' ? 'server' : ex.connection.role === 'client' ? 'client' : 'internal';
}

/** What spans and metrics share, computed once per exchange. */
interface DbView {
  kind: SpanKind;
  operation: string | null;
  collection: string | null;
  procedure: string | null;
  summary: string | null;
  text: string | null;
  batchSize: number | null;
  traceparent: string | null;
  statusCode: string | null;
  errorType: string | null;
  namespace: string | null;
  serverAddress: string | null;
  serverPort: number | null;
}

function view(ex: PostgresExchange): DbView {
  const k = kind(ex);
  const a = ex.query !== null ? analyzeQuery(ex.query) : null;
  const info = a?.info ?? null;
  let operation = info?.operation ?? null;
  let summary = info?.summary ?? null;
  if (operation === null && ex.commandTags[0] !== undefined) operation = tagCommand(ex.commandTags[0]).split(' ')[0] ?? null; // text unknown
  if (ex.mode === 'prepare') {
    operation = 'PREPARE';
    summary = summary !== null ? `PREPARE ${summary}`.slice(0, 255) : 'PREPARE';
  }
  const server = k === 'server' ? ex.connection.local : ex.connection.remote;
  const errorType = ex.error !== null ? (ex.error.sqlstate !== '' ? ex.error.sqlstate : '_OTHER') : ex.outcome === 'unanswered' ? RESPONSE_MISSING : null;
  return {
    kind: k,
    operation,
    collection: info?.collection ?? null,
    procedure: info?.procedure ?? null,
    summary,
    text: a?.text ?? null,
    batchSize: info?.batchSize ?? null,
    traceparent: info?.traceparent ?? null,
    statusCode: ex.error?.sqlstate || ex.warning?.sqlstate || null,
    errorType,
    namespace: ex.database,
    serverAddress: server.address !== '' ? server.address : null,
    serverPort: ex.connection.family !== 'unix' && server.port > 0 ? server.port : null,
  };
}

/** `{db.query.summary}`, else `{db.operation.name} {target}`, else `{target}`, else `postgresql`. */
function spanName(v: DbView): string {
  if (v.summary !== null && v.summary !== '') return v.summary;
  const target = v.collection ?? v.procedure ?? v.namespace ??
    (v.serverAddress !== null ? (v.serverPort !== null ? `${v.serverAddress}:${v.serverPort}` : v.serverAddress) : null);
  if (v.operation !== null) return target !== null ? `${v.operation} ${target}` : v.operation;
  return target ?? DB_SYSTEM;
}

export function postgresExchangeToSpan(ex: PostgresExchange, resource: ResourceRecord, ids: IdSource): SpanRecord {
  const v = view(ex);
  const { connection } = ex;
  const a: Attributes = { 'db.system.name': DB_SYSTEM };
  if (v.namespace !== null) a['db.namespace'] = v.namespace;
  if (v.operation !== null) a['db.operation.name'] = v.operation;
  if (v.collection !== null) a['db.collection.name'] = v.collection;
  if (v.procedure !== null) a['db.stored_procedure.name'] = v.procedure;
  if (v.summary !== null) a['db.query.summary'] = v.summary;
  if (v.text !== null) a['db.query.text'] = v.text;
  if (v.batchSize !== null) a['db.operation.batch.size'] = v.batchSize;
  if (v.statusCode !== null) a['db.response.status_code'] = v.statusCode;
  if (v.errorType !== null) a['error.type'] = v.errorType;
  if (v.serverAddress !== null) a['server.address'] = v.serverAddress;
  if (v.serverPort !== null) a['server.port'] = v.serverPort;
  if (connection.remote.address !== '') {
    a['network.peer.address'] = connection.remote.address;
    if (connection.family !== 'unix' && connection.remote.port > 0) a['network.peer.port'] = connection.remote.port;
  }
  a['network.transport'] = connection.family === 'unix' ? 'unix' : 'tcp';

  const parent = v.traceparent !== null ? parseTraceparent(v.traceparent) : null;
  return newSpanRecord(ids, parent, spanName(v), v.kind, ex.startNs, ex.endNs, a,
    v.errorType === null ? { code: 'unset' }
      : ex.error !== null ? { code: 'error', message: redactPgMessage(ex.error.message.slice(0, MAX_STATUS_MESSAGE)) }
      : { code: 'error', message: 'no response before the connection closed' },
    resource);
}

/** db.client.operation.duration (seconds), for answered CLIENT operations only. */
export function postgresExchangeToMetrics(ex: PostgresExchange, resource: ResourceRecord): HistogramPoint[] {
  if (ex.connection.role !== 'client' || ex.outcome !== 'complete') return [];
  const v = view(ex);
  // Bounded cardinality: the summary, never the query text.
  const a: Attributes = { 'db.system.name': DB_SYSTEM };
  if (v.namespace !== null) a['db.namespace'] = v.namespace;
  if (v.operation !== null) a['db.operation.name'] = v.operation;
  if (v.collection !== null) a['db.collection.name'] = v.collection;
  if (v.summary !== null) a['db.query.summary'] = v.summary;
  if (v.statusCode !== null) a['db.response.status_code'] = v.statusCode;
  if (v.errorType !== null) a['error.type'] = v.errorType;
  if (v.serverAddress !== null) a['server.address'] = v.serverAddress;
  if (v.serverPort !== null) a['server.port'] = v.serverPort;
  return [{
    name: DB_CLIENT_OPERATION_DURATION,
    unit: 's',
    description: 'Duration of database client operations.',
    value: ex.endNs > ex.startNs ? Number(ex.endNs - ex.startNs) / 1e9 : 0,
    attributes: a,
    resource,
    timeUnixNano: ex.endNs,
  }];
}

/**
 * Both ends of one connection see the same requests in the same order: the ordinal names the
 * operation (the registry's linkOrdinal), the mode and the statement guard against counting
 * differences.
 */
export function postgresLinkId(ex: PostgresExchange): string {
  return `${ex.mode} ${ex.statement ?? ''} ${ex.query?.length ?? -1}`;
}
