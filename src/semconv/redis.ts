// Redis exchanges → spans and db.client.operation.duration, following the OTel semantic conventions
// for Redis (https://opentelemetry.io/docs/specs/semconv/db/redis/) and database spans and metrics
// (…/db/database-spans/, …/db/database-metrics/). Pure: no clock, no I/O; ids come from the caller.
//
// Privacy: no key, value or credential leaves. db.query.text is the command with every argument
// replaced by "?" ("SET ? ?", "CLIENT SETNAME ?"): the conventions' "parameterized" form; the
// agent never keeps the arguments to begin with (see protocols/redis/commands.ts), so AUTH and
// HELLO … AUTH passwords cannot appear. An error's message may quote arguments ("ERR unknown
// command 'x', with args beginning with: 'y'"): the span status carries it with every quoted part
// replaced by '?'.
//
// Decisions the conventions leave open:
// - db.operation.name is the command name upper-cased; for container commands the subcommand is
//   part of it ("CLIENT SETNAME", "CONFIG GET"), as redis-server itself names them in COMMAND
//   DOCS and ACL categories, and the span is named after it. A name that is not a known command
//   is not exported: no db.operation.name, db.query.text, and the span is named "redis" (the
//   conventions' fallback `{db.system.name}`).
// - The agent sees both ends: a client's socket gives CLIENT spans (the conventions' kind), the
//   server's socket SERVER spans with the same attributes; the span linker makes redis-server's
//   span the child of the client's. Role unknown: INTERNAL. db.client.operation.duration is
//   recorded for CLIENT spans only (there is no database server metric).
// - db.namespace: the database index, "0" until a SELECT succeeds on the connection. It is known
//   only from the commands seen: a connection that existed before the agent started and had
//   selected another database reports "0" until its next SELECT (the tracker does not tell a
//   session whether it saw the connection from its start).
// - Errors: db.response.status_code and error.type are the error code (the reply's first word,
//   "ERR", "WRONGTYPE"); a reply without such a code has error.type "_OTHER".
// - No reply: closed (or given up) before it came → error.type "response_missing", status Error.
//   A reply lost in a capture gap, a command evicted while awaiting, or CLIENT REPLY OFF/SKIP:
//   the outcome is unknown, not an error: status Unset, lantern.redis.reply says which, and no
//   duration is recorded (there is none to measure). A span without a reply ends with its
//   command's last byte.
// - Pub/sub deliveries are not exchanges (see protocols/redis/connection.ts).
import type { RedisExchange } from '../model/redis.js';
import type { Attributes, HistogramPoint, ResourceRecord, SpanKind, SpanRecord } from '../model/span.js';
import { OTHER_COMMAND } from '../protocols/redis/commands.js';
import { type IdSource, randomIds } from './ids.js';
import { newSpanRecord } from './span-record.js';

export const DB_CLIENT_OPERATION_DURATION = 'db.client.operation.duration';
/** error.type of an exchange whose reply never came (as for HTTP). */
export const RESPONSE_MISSING = 'response_missing';
/** error.type of an error reply without a recognisable code. */
export const OTHER_ERROR = '_OTHER';
/** Query text placeholders beyond this many are summarised ("MSET ? ? … (+998 more)"). */
const MAX_PLACEHOLDERS = 32;
/** Longest status message exported. */
const MAX_STATUS_MESSAGE = 128;

/** db.query.text: the command with each argument replaced by "?". */
export function redisQueryText(ex: RedisExchange): string | undefined {
  const { name, argumentCount } = ex.command;
  if (name === OTHER_COMMAND) return undefined;
  const nameWords = name.split(' ').length;
  const placeholders = Math.max(0, argumentCount - (nameWords - 1));
  const shown = Math.min(placeholders, MAX_PLACEHOLDERS);
  let text = name + ' ?'.repeat(shown);
  if (placeholders > shown) text += ` … (+${placeholders - shown} more)`;
  return text;
}

/** Error messages quote arguments in single quotes: those parts become '?'. */
export function redactErrorMessage(message: string): string {
  return message.replace(/'[^']*'?/g, "'?'").slice(0, MAX_STATUS_MESSAGE);
}

function spanKind(ex: RedisExchange): SpanKind {
  return ex.connection.role === 'server' ? 'server' : ex.connection.role === 'client' ? 'client' : 'internal';
}

function errorType(ex: RedisExchange): string | undefined {
  const r = ex.reply;
  if (r === null) return ex.missing === 'closed' ? RESPONSE_MISSING : undefined;
  if (r.type !== 'error' && r.type !== 'blob-error') return undefined;
  return r.errorPrefix ?? OTHER_ERROR;
}

/** server.address/port: the socket's server end (the conventions' server, without a host name). */
function serverEnd(ex: RedisExchange): { address: string; port?: number } | undefined {
  const { connection: c } = ex;
  const end = c.role === 'server' ? c.local : c.remote;
  if (c.role === 'unknown' || end.address === '') return undefined;
  return c.family === 'unix' || end.port <= 0 ? { address: end.address } : { address: end.address, port: end.port };
}

/** A finished Redis exchange as one span. */
export function redisExchangeToSpan(ex: RedisExchange, resource: ResourceRecord, ids: IdSource = randomIds): SpanRecord {
  const { command, reply, connection } = ex;
  const known = command.name !== OTHER_COMMAND;
  const err = errorType(ex);
  const a: Attributes = { 'db.system.name': 'redis' };
  if (known) {
    a['db.operation.name'] = command.name;
    a['db.query.text'] = redisQueryText(ex)!;
  }
  a['db.namespace'] = String(ex.database);
  if (reply !== null && err !== undefined && reply.errorPrefix !== undefined) a['db.response.status_code'] = reply.errorPrefix;
  if (err !== undefined) a['error.type'] = err;
  const server = serverEnd(ex);
  if (server !== undefined) {
    a['server.address'] = server.address;
    if (server.port !== undefined) a['server.port'] = server.port;
  }
  if (connection.remote.address !== '') {
    a['network.peer.address'] = connection.remote.address;
    if (connection.family !== 'unix' && connection.remote.port > 0) a['network.peer.port'] = connection.remote.port;
  }
  a['network.transport'] = connection.family === 'unix' ? 'unix' : 'tcp';
  if (connection.family === 'ipv4' || connection.family === 'ipv6') a['network.type'] = connection.family;
  a['network.protocol.name'] = 'resp';
  a['network.protocol.version'] = String(ex.respVersion);
  if (ex.missing !== undefined && ex.missing !== 'closed') a['lantern.redis.reply'] = ex.missing;
  if (ex.pipelined) a['lantern.redis.pipelined'] = true;
  if (ex.transaction) a['lantern.redis.transaction'] = true;

  const startNs = command.startNs;
  const endNs = reply?.endNs ?? command.endNs;
  let status: SpanRecord['status'] = { code: 'unset' };
  if (err !== undefined) {
    status = reply === null
      ? { code: 'error', message: 'no reply before the connection closed' }
      : { code: 'error', message: redactErrorMessage(reply.errorMessage ?? '') };
  }
  return newSpanRecord(ids, null, known ? command.name : 'redis', spanKind(ex), startNs, endNs, a, status, resource);
}

/** db.client.operation.duration of a CLIENT exchange that got its reply (or closed without one). */
export function redisExchangeToMetrics(ex: RedisExchange, resource: ResourceRecord): HistogramPoint[] {
  if (ex.connection.role !== 'client') return [];
  if (ex.reply === null && ex.missing !== 'closed') return [];
  const err = errorType(ex);
  // Bounded cardinality only: the command name, never the query text or the peer's port.
  const a: Attributes = { 'db.system.name': 'redis', 'db.namespace': String(ex.database) };
  if (ex.command.name !== OTHER_COMMAND) a['db.operation.name'] = ex.command.name;
  const server = serverEnd(ex);
  if (server !== undefined) {
    a['server.address'] = server.address;
    if (server.port !== undefined) a['server.port'] = server.port;
  }
  if (ex.reply?.errorPrefix !== undefined && err !== undefined) a['db.response.status_code'] = ex.reply.errorPrefix;
  if (err !== undefined) a['error.type'] = err;
  const endNs = ex.reply?.endNs ?? ex.command.endNs;
  const seconds = endNs > ex.command.startNs ? Number(endNs - ex.command.startNs) / 1e9 : 0;
  return [{
    name: DB_CLIENT_OPERATION_DURATION,
    unit: 's',
    description: 'Duration of database client operations.',
    value: seconds,
    attributes: a,
    resource,
    timeUnixNano: endNs,
  }];
}

/**
 * Names the command identically on the client's and the server's socket, besides its position on
 * the connection (replies come in order: the registry's linkOrdinal): its name and argument count.
 */
export function redisLinkId(ex: RedisExchange): string {
  return `${ex.command.name} ${ex.command.argumentCount}`;
}
