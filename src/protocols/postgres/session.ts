// One PostgreSQL connection: a framer per direction and the pairing of requests with responses,
// the way the protocol defines it (https://www.postgresql.org/docs/current/protocol-flow.html):
//
// - the server answers messages in the order it received them: Parse → ParseComplete, Bind →
//   BindComplete, Describe → [ParameterDescription] RowDescription | NoData, Execute → DataRow* and
//   CommandComplete | EmptyQueryResponse | PortalSuspended (or a COPY sub-protocol), Close →
//   CloseComplete, Sync → ReadyForQuery; a Query → results of each statement then ReadyForQuery;
// - an ErrorResponse ends the operation it answers; in the extended protocol the server then skips
//   every message up to the next Sync (§"Extended Query": "discards messages until a Sync");
// - NoticeResponse, ParameterStatus and NotificationResponse can come at any time.
//
// So each request message pushes what it expects onto a FIFO and each response consumes from its
// head. Exchanges: one per Query (a multi-statement string is one), one per Execute (text from the
// statement its portal was bound from, remembered by name so a statement prepared long before still
// carries its text), one per Parse…Sync group that prepared without executing.
//
// Startup: database and user come from the StartupMessage. PasswordMessage and the SASL/GSS
// messages share the code 'p'; their bodies are never copied (capture 0), so no password or proof
// ever reaches this code. SSLRequest answered 'S' (GSSENCRequest 'G'): the rest is encrypted and
// only counted.
//
// Which connections: the kernel marks a connection PostgreSQL when its first captured bytes are a
// StartupMessage, SSLRequest, GSSENCRequest or CancelRequest (bpf/sockets.bpf.c infer_protocol).
// A connection already past its startup when the agent started begins with typed messages, which
// the kernel does not recognise: it is not traced. (The session itself can start on typed
// messages: see looksLikeTypedRequest.) A backend forked by the postmaster inherits the accepted
// socket and reads the startup packet itself, so the server side is seen as a connection of
// unknown role whose first request bytes give it the server role.
//
// Losses: a gap inside a body costs nothing but that body's bytes. A gap that loses message
// boundaries makes that direction's framer search for the next one; exchanges whose responses
// were lost end as `partial` when the client moves on, and after lost requests the responses are
// ignored up to the next ReadyForQuery (what they answered is unknown).
import type { ConnectionInfo } from '../../model/connection.js';
import type { PostgresCopy, PostgresError, PostgresExchange, PostgresMode } from '../../model/postgres.js';
import type { MessageSide, ProtocolHandler, ProtocolSession } from '../session.js';
import { ENCRYPTION_ANSWER, type PgFrame, PgFramer, STARTUP_FRAME } from './framer.js';
import {
  AUTH_METHODS, BE, FE, looksLikeStartup, parseAuthentication, parseBind, parseCommandComplete, parseErrorFields, parseExecute,
  parseParse, parseQuery, parseReadyForQuery, parseStartup, parseTarget, plausibleHeader, tagCommand, tagRows,
} from './messages.js';
import { int32At } from './reader.js';

export interface PostgresSessionOptions {
  /** Query text kept per query or statement (bytes). Default 8 KiB. */
  maxQueryBytes?: number;
  /** Prepared statements remembered per connection. Default 256. */
  maxStatements?: number;
  /** Total query text of remembered statements per connection (bytes). Default 256 KiB. */
  maxStatementBytes?: number;
  /** Responses expected and not received yet; beyond, the oldest are given up. Default 1024. */
  maxPending?: number;
}

export interface PostgresSessionStats {
  exchanges: number;
  queries: number;
  executes: number;
  prepares: number;
  errors: number;
  /** Authentication (or other startup) failures: ErrorResponse before the first ReadyForQuery. */
  startupErrors: number;
  /** Connections that switched to TLS or GSSAPI encryption after SSLRequest/GSSENCRequest. */
  encrypted: number;
  cancelRequests: number;
  /** Bind/Execute of a statement whose Parse was not seen (or was forgotten): no query text. */
  unknownStatements: number;
  statementsEvicted: number;
  /** Responses that matched nothing outstanding. */
  orphanResponses: number;
  /** Responses of a kind the head of the queue did not expect (the queue was realigned). */
  outOfOrder: number;
  /** Operations skipped by the server after an error (up to Sync): no exchange. */
  skippedAfterError: number;
  /** Operations dropped: lost requests, queue overflow, a group without Parse or Execute. */
  dropped: number;
  partial: number;
  unanswered: number;
  malformedMessages: number;
  truncatedQueries: number;
  // Framer counters, both directions summed.
  messages: number;
  bytes: number;
  gaps: number;
  gapBytes: number;
  resyncs: number;
  discarded: number;
  malformedHeaders: number;
  encryptedBytes: number;
}

const DEFAULT_MAX_QUERY = 8 * 1024;
const DEFAULT_MAX_STATEMENTS = 256;
const DEFAULT_MAX_STATEMENT_BYTES = 256 * 1024;
const DEFAULT_MAX_PENDING = 1024;
const MAX_PORTALS = 64;
const MAX_TAGS = 16;

/** Body bytes worth copying per request message type. */
function requestCapture(maxQuery: number): (type: number) => number {
  return (type) => {
    switch (type) {
      case STARTUP_FRAME: return 2048;
      case FE.QUERY: return maxQuery + 1;
      case FE.PARSE: return 256 + maxQuery + 3;
      case FE.BIND: return 1024;
      case FE.DESCRIBE:
      case FE.CLOSE:
      case FE.EXECUTE: return 300;
      // FE.PASSWORD ('p') above all: never copied. Nor CopyData, CopyFail, FunctionCall.
      default: return 0;
    }
  };
}

/** Body bytes worth copying per response message type. */
function responseCapture(type: number): number {
  switch (type) {
    case BE.ERROR_RESPONSE:
    case BE.NOTICE_RESPONSE: return 2048;
    case BE.COMMAND_COMPLETE: return 128;
    case BE.READY_FOR_QUERY: return 1;
    case BE.PARAMETER_STATUS: return 512;
    // Authentication: the Int32 method only (SASL data follows it and is never copied).
    case BE.AUTHENTICATION: return 4;
    case BE.COPY_IN_RESPONSE:
    case BE.COPY_OUT_RESPONSE:
    case BE.COPY_BOTH_RESPONSE: return 1;
    default: return 0; // DataRow, RowDescription, CopyData...: counted only
  }
}

/** An exchange under construction. */
interface Work {
  ordinal: number;
  mode: PostgresMode;
  query: string | null;
  queryTruncated: boolean;
  statement: string | null;
  portal: string | null;
  parameterCount: number | null;
  /** A Parse belongs to this operation (prepared without an Execute it is an exchange; an operation
   * that only described or closed is not). */
  parsed: boolean;
  bound: boolean;
  executed: boolean;
  tags: string[];
  statements: number;
  rows: number;
  rowsAffected: number | null;
  copy: PostgresCopy | null;
  error: PostgresError | null;
  warning: PostgresError | null;
  suspended: boolean;
  partial: boolean;
  done: boolean;
  startNs: bigint;
  /** Last response byte attributed to this work so far. */
  lastNs: bigint;
}

type ExpectKind = 'query' | 'parse' | 'bind' | 'describe-statement' | 'describe-portal' | 'execute' | 'close' | 'sync' | 'function';

interface Expect {
  kind: ExpectKind;
  work: Work | null;
  /** Sync: the statements its group parsed without executing (finished by its ReadyForQuery). */
  prepares?: Work[];
}

/** ReadyForQuery ends these; the others end at their own completion message. */
const isBoundary = (k: ExpectKind): boolean => k === 'query' || k === 'sync' || k === 'function';

interface Statement {
  text: string;
  truncated: boolean;
  parameterTypes: number | null;
}

export class PostgresSession implements ProtocolSession {
  readonly #requests: PgFramer;
  readonly #responses: PgFramer;
  readonly #maxQuery: number;
  readonly #maxStatements: number;
  readonly #maxStatementBytes: number;
  readonly #maxPending: number;

  #database: string | null = null;
  #user: string | null = null;
  /** The first ReadyForQuery arrived: startup (authentication included) is over. */
  #ready = false;
  #firstRequest = true;
  #closed = false;

  /** Prepared statements by name, least recently used first. */
  readonly #statements = new Map<string, Statement>();
  #statementBytes = 0;
  /** Portal → statement it was bound from. */
  readonly #portals = new Map<string, string>();

  #queue: Expect[] = [];
  /** The extended-protocol operation being assembled (up to its Execute or Sync). */
  #current: Work | null = null;
  /** Operations begun since the last Sync. */
  #group: Work[] = [];
  /** The server reported an error in the extended protocol and no Sync was seen yet. */
  #skipUntilSync = false;
  /** Requests were lost: responses up to the next ReadyForQuery answer unknown operations. */
  #awaitReady = false;
  /** Responses were lost since the last ReadyForQuery. */
  #responseLost = false;
  #lastResponseNs = 0n;
  #nextOrdinal = 0;
  #done: PostgresExchange[] = [];
  readonly #s = {
    exchanges: 0, queries: 0, executes: 0, prepares: 0, errors: 0, startupErrors: 0, encrypted: 0, cancelRequests: 0,
    unknownStatements: 0, statementsEvicted: 0, orphanResponses: 0, outOfOrder: 0, skippedAfterError: 0, dropped: 0,
    partial: 0, unanswered: 0, malformedMessages: 0, truncatedQueries: 0,
  };
  /** Authentication methods the server asked for (stats only). */
  readonly authMethods = new Set<string>();

  constructor(readonly connection: ConnectionInfo, opts: PostgresSessionOptions = {}) {
    this.#maxQuery = Math.max(16, opts.maxQueryBytes ?? DEFAULT_MAX_QUERY);
    this.#maxStatements = Math.max(1, opts.maxStatements ?? DEFAULT_MAX_STATEMENTS);
    this.#maxStatementBytes = Math.max(this.#maxQuery, opts.maxStatementBytes ?? DEFAULT_MAX_STATEMENT_BYTES);
    this.#maxPending = Math.max(8, opts.maxPending ?? DEFAULT_MAX_PENDING);
    this.#requests = new PgFramer({ side: 'request', capture: requestCapture(this.#maxQuery) });
    this.#responses = new PgFramer({ side: 'response', capture: responseCapture });
  }

  // --- ProtocolSession ----------------------------------------------------------------------------

  data(side: MessageSide, bytes: Uint8Array, timeNs: bigint): void {
    if (this.#closed) return;
    if (side === 'request') {
      if (this.#firstRequest) {
        this.#firstRequest = false;
        // Found mid-life: the stream starts with typed messages, not a startup packet.
        if (!looksLikeStartup(bytes) && looksLikeTypedRequest(bytes)) this.#startTyped();
      }
      this.#requests.feed(bytes, timeNs);
      for (const f of this.#requests.take()) this.#request(f);
    } else {
      this.#responses.feed(bytes, timeNs);
      for (const f of this.#responses.take()) this.#response(f);
    }
  }

  gap(side: MessageSide, bytes: number, timeNs: bigint): void {
    if (this.#closed) return;
    if (side === 'request') {
      const inStep = this.#requests.skip(bytes, timeNs);
      for (const f of this.#requests.take()) this.#request(f);
      if (!inStep) this.#requestsLost();
    } else {
      // COPY OUT data lost in the gap still counts as copied bytes.
      const head = this.#resultWork();
      if (head?.copy != null && head.copy.direction !== 'in') head.copy.bytes += bytes;
      const inStep = this.#responses.skip(bytes, timeNs);
      for (const f of this.#responses.take()) this.#response(f);
      if (!inStep) {
        this.#responseLost = true;
        for (const e of this.#queue) for (const w of e.prepares ?? (e.work !== null ? [e.work] : [])) w.partial = true;
        this.#lastResponseNs = timeNs;
      }
    }
  }

  close(timeNs: bigint): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const f of this.#requests.take()) this.#request(f);
    for (const f of this.#responses.take()) this.#response(f);
    // Whatever is still outstanding: answered in part (results seen) or not at all.
    for (const e of this.#queue) {
      for (const w of e.prepares ?? (e.work !== null ? [e.work] : [])) {
        if (w.done) continue;
        const answered = w.statements > 0 || w.rows > 0 || w.error !== null || w.copy !== null;
        this.#finish(w, answered ? 'partial' : 'unanswered', answered ? w.lastNs : timeNs, null);
      }
    }
    this.#queue = [];
    this.#current = null;
    this.#group = [];
  }

  drain(): PostgresExchange[] {
    const out = this.#done;
    if (out.length === 0) return [];
    this.#done = [];
    return out;
  }

  stats(): Record<string, number> {
    return { ...this.detailedStats() };
  }

  detailedStats(): PostgresSessionStats {
    const q = this.#requests.stats();
    const r = this.#responses.stats();
    return {
      ...this.#s,
      messages: q.messages + r.messages,
      bytes: q.bytes + r.bytes,
      gaps: q.gaps + r.gaps,
      gapBytes: q.gapBytes + r.gapBytes,
      resyncs: q.resyncs + r.resyncs,
      discarded: q.discarded + r.discarded,
      malformedHeaders: q.malformed + r.malformed,
      encryptedBytes: q.encrypted + r.encrypted,
    };
  }

  /** Bytes held for this connection (framers, statements, pending work): for memory-bound tests. */
  get heldBytes(): number {
    return this.#requests.heldBytes + this.#responses.heldBytes + this.#statementBytes + this.#queue.length * 64;
  }

  get pendingResponses(): number {
    return this.#queue.length;
  }

  // --- requests -----------------------------------------------------------------------------------

  /** The session was opened on a stream already past its startup (found mid-life). */
  #startTyped(): void {
    this.#requests.assumeTyped();
    this.#ready = true;
  }

  #request(f: PgFrame): void {
    if (f.type === STARTUP_FRAME) return this.#startup(f);
    if (this.#responseLost && this.#queue.length > 0 && f.type !== FE.COPY_DATA && f.type !== FE.COPY_DONE && f.type !== FE.COPY_FAIL) {
      // Responses were lost and the client moves on: what it waited for was answered in the gap.
      this.#flushPartial();
    }
    if (this.#skipUntilSync && f.type !== FE.SYNC && f.type !== FE.PASSWORD && f.type !== FE.TERMINATE) {
      this.#s.skippedAfterError++;
      return;
    }
    switch (f.type) {
      case FE.QUERY: return this.#query(f);
      case FE.PARSE: return this.#parse(f);
      case FE.BIND: return this.#bind(f);
      case FE.DESCRIBE: return this.#describe(f);
      case FE.EXECUTE: return this.#execute(f);
      case FE.CLOSE: return this.#closeMessage(f);
      case FE.SYNC: return this.#sync();
      case FE.FUNCTION_CALL: return this.#expect('function', null);
      case FE.COPY_DATA:
      case FE.COPY_DONE:
      case FE.COPY_FAIL: return this.#copyFromClient(f);
      default: return; // Flush, Terminate, PasswordMessage/SASL ('p', never read)
    }
  }

  #startup(f: PgFrame): void {
    const m = parseStartup(f.body, f.length);
    if (!m.ok) {
      this.#s.malformedMessages++;
      return;
    }
    const v = m.value;
    if (v.kind === 'ssl' || v.kind === 'gssenc') this.#responses.expectEncryptionAnswer();
    else if (v.kind === 'cancel') this.#s.cancelRequests++;
    else if (v.kind === 'startup') {
      this.#user = v.parameters.get('user') ?? null;
      // protocol-message-formats.html StartupMessage: "database: defaults to the user name".
      this.#database = v.parameters.get('database') ?? this.#user;
    }
  }

  #newWork(mode: PostgresMode, startNs: bigint): Work {
    return {
      ordinal: this.#nextOrdinal++, mode, query: null, queryTruncated: false, statement: null, portal: null, parameterCount: null,
      parsed: false, bound: false, executed: false, tags: [], statements: 0, rows: 0, rowsAffected: null, copy: null, error: null, warning: null,
      suspended: false, partial: false, done: false, startNs, lastNs: startNs,
    };
  }

  #expect(kind: ExpectKind, work: Work | null, prepares?: Work[]): void {
    this.#queue.push(prepares === undefined ? { kind, work } : { kind, work, prepares });
    if (this.#queue.length > this.#maxPending) {
      const e = this.#queue.shift()!;
      for (const w of e.prepares ?? (e.work !== null ? [e.work] : [])) {
        if (!w.done && !this.#queue.some((x) => x.work === w)) {
          w.done = true;
          this.#s.dropped++;
        }
      }
    }
  }

  #query(f: PgFrame): void {
    const m = parseQuery(f.body, f.length, this.#maxQuery);
    const w = this.#newWork('simple', f.startNs);
    if (m.ok) {
      w.query = m.value.text;
      w.queryTruncated = m.value.truncated;
    } else {
      this.#s.malformedMessages++;
    }
    this.#s.queries++;
    this.#expect('query', w);
  }

  /**
   * The extended operation a message belongs to: the current one, or a new one when `fresh` says
   * the message cannot continue it (a second Parse, a Bind of another statement). An operation left
   * behind without an Execute stays in the group: a prepare, if it parsed.
   */
  #work(startNs: bigint, fresh: (w: Work) => boolean = () => false): Work {
    if (this.#current === null || fresh(this.#current)) {
      this.#current = this.#newWork('extended', startNs);
      this.#group.push(this.#current);
      if (this.#group.length > this.#maxPending) this.#group.shift();
    }
    return this.#current;
  }

  #parse(f: PgFrame): void {
    const m = parseParse(f.body, f.length, this.#maxQuery);
    const w = this.#work(f.startNs, (c) => c.parsed || c.bound);
    if (!m.ok) {
      this.#s.malformedMessages++;
    } else {
      const { name, query, parameterTypes } = m.value;
      this.#remember(name, { text: query.text, truncated: query.truncated, parameterTypes });
      w.query = query.text;
      w.queryTruncated = query.truncated;
      w.statement = name;
      w.parameterCount = parameterTypes;
    }
    w.parsed = true;
    this.#expect('parse', w);
  }

  #remember(name: string, st: Statement): void {
    const old = this.#statements.get(name);
    if (old !== undefined) {
      this.#statementBytes -= old.text.length;
      this.#statements.delete(name);
    }
    this.#statements.set(name, st);
    this.#statementBytes += st.text.length;
    while (this.#statements.size > this.#maxStatements || this.#statementBytes > this.#maxStatementBytes) {
      const [oldest, s] = this.#statements.entries().next().value as [string, Statement];
      this.#statements.delete(oldest);
      this.#statementBytes -= s.text.length;
      this.#s.statementsEvicted++;
    }
  }

  /** The statement's text, refreshed as most recently used. */
  #lookup(name: string): Statement | undefined {
    const st = this.#statements.get(name);
    if (st !== undefined && name !== '') {
      this.#statements.delete(name);
      this.#statements.set(name, st);
    }
    return st;
  }

  #bind(f: PgFrame): void {
    const m = parseBind(f.body, f.length);
    const statementName = m.ok ? m.value.statement : null;
    // A statement parsed earlier in this group and not bound yet: its Parse begins this operation.
    const parsed = this.#group.find((g) => g.parsed && !g.bound && !g.executed && !g.done && g.statement === statementName);
    if (parsed !== undefined) this.#current = parsed;
    const w = this.#work(f.startNs, (c) => c.bound || (c.parsed && c.statement !== statementName));
    w.bound = true;
    if (!m.ok) {
      this.#s.malformedMessages++;
    } else {
      const { portal, statement, parameters } = m.value;
      w.statement = statement;
      w.portal = portal;
      w.parameterCount = parameters;
      if (!w.parsed) this.#fromStatement(w, statement);
      this.#portals.delete(portal);
      this.#portals.set(portal, statement);
      if (this.#portals.size > MAX_PORTALS) this.#portals.delete(this.#portals.keys().next().value as string);
    }
    this.#expect('bind', w);
  }

  #fromStatement(w: Work, statement: string): void {
    const st = this.#lookup(statement);
    if (st === undefined) {
      this.#s.unknownStatements++;
      return;
    }
    w.query = st.text;
    w.queryTruncated = st.truncated;
  }

  #describe(f: PgFrame): void {
    const m = parseTarget(f.body, f.length);
    const w = this.#work(f.startNs);
    if (!m.ok) {
      this.#s.malformedMessages++;
      this.#expect('describe-portal', w);
      return;
    }
    if (m.value.target === 'S' && w.query === null) {
      this.#fromStatement(w, m.value.name);
      w.statement = m.value.name;
    }
    this.#expect(m.value.target === 'S' ? 'describe-statement' : 'describe-portal', w);
  }

  #execute(f: PgFrame): void {
    const m = parseExecute(f.body, f.length);
    const w = this.#work(f.startNs);
    if (m.ok) {
      w.portal = m.value.portal;
      if (w.query === null) {
        // A portal bound earlier (Execute again after PortalSuspended): its statement's text.
        const statement = this.#portals.get(m.value.portal);
        if (statement !== undefined) {
          w.statement = statement;
          this.#fromStatement(w, statement);
        } else {
          this.#s.unknownStatements++;
        }
      }
    } else {
      this.#s.malformedMessages++;
    }
    w.executed = true;
    w.mode = 'extended';
    this.#s.executes++;
    this.#expect('execute', w);
    // The next message (pipelined, or a batch) begins another operation.
    this.#current = null;
  }

  #closeMessage(f: PgFrame): void {
    const m = parseTarget(f.body, f.length);
    if (m.ok) {
      if (m.value.target === 'S') {
        const st = this.#statements.get(m.value.name);
        if (st !== undefined) {
          this.#statements.delete(m.value.name);
          this.#statementBytes -= st.text.length;
        }
      } else {
        this.#portals.delete(m.value.name);
      }
    } else {
      this.#s.malformedMessages++;
    }
    this.#expect('close', null);
  }

  #sync(): void {
    this.#skipUntilSync = false;
    // What the group parsed without executing is a prepare; what only described or closed is not
    // an operation of its own.
    const prepares = this.#group.filter((w) => !w.executed && w.parsed && !w.done);
    for (const w of prepares) w.mode = 'prepare';
    this.#current = null;
    this.#group = [];
    this.#expect('sync', null, prepares);
  }

  #copyFromClient(f: PgFrame): void {
    const w = this.#queue.find((e) => e.work?.copy != null && e.work.copy.direction !== 'out')?.work;
    if (w?.copy == null) return;
    if (f.type === FE.COPY_DATA) {
      w.copy.bytes += f.length;
      w.copy.messages++;
    }
  }

  /** Request bytes were lost: the operations they held are unknown. */
  #requestsLost(): void {
    for (const e of this.#queue) {
      if (e.work !== null && !e.work.done) {
        e.work.done = true;
        this.#s.dropped++;
      }
    }
    if (this.#current !== null && !this.#current.done) this.#s.dropped++;
    this.#queue = [];
    this.#current = null;
    this.#group = [];
    this.#skipUntilSync = false;
    this.#awaitReady = true;
  }

  // --- responses ----------------------------------------------------------------------------------

  #response(f: PgFrame): void {
    this.#lastResponseNs = f.endNs;
    if (f.type === ENCRYPTION_ANSWER) {
      if (f.body[0] !== 0x4e) {
        this.#requests.enterOpaque();
        this.#s.encrypted++;
      }
      return;
    }
    if (this.#awaitReady) {
      if (f.type === BE.READY_FOR_QUERY) {
        this.#awaitReady = false;
        this.#ready = true;
      }
      this.#s.orphanResponses++;
      return;
    }
    switch (f.type) {
      case BE.READY_FOR_QUERY: return this.#readyForQuery(f);
      case BE.ERROR_RESPONSE: return this.#error(f);
      case BE.NOTICE_RESPONSE: return this.#notice(f);
      case BE.PARSE_COMPLETE: return void this.#pop('parse', f);
      case BE.BIND_COMPLETE: return void this.#pop('bind', f);
      case BE.CLOSE_COMPLETE: return void this.#pop('close', f);
      case BE.PARAMETER_DESCRIPTION: return;
      case BE.ROW_DESCRIPTION:
      case BE.NO_DATA: return this.#description(f);
      case BE.DATA_ROW: return this.#dataRow(f);
      case BE.COMMAND_COMPLETE:
      case BE.EMPTY_QUERY_RESPONSE:
      case BE.PORTAL_SUSPENDED: return this.#completion(f);
      case BE.COPY_IN_RESPONSE:
      case BE.COPY_OUT_RESPONSE:
      case BE.COPY_BOTH_RESPONSE: return this.#copyResponse(f);
      case BE.COPY_DATA: return this.#copyData(f);
      case BE.AUTHENTICATION: return this.#authentication(f);
      default: return; // CopyDone, ParameterStatus, BackendKeyData, Notification, FunctionCallResponse...
    }
  }

  #authentication(f: PgFrame): void {
    const m = parseAuthentication(f.body, f.length);
    if (m.ok) this.authMethods.add(AUTH_METHODS[m.value] ?? `code ${m.value}`);
  }

  /** The operation whose results are arriving: the first query or execute outstanding. */
  #resultWork(): Work | null {
    for (const e of this.#queue) {
      if (e.kind === 'query' || e.kind === 'execute') return e.work;
      if (e.kind === 'sync') return null;
    }
    return null;
  }

  /**
   * Consumes the expectation `kind` at the head. When the head is another kind, the server answered
   * something whose request we did not see in order: realign on the first `kind` before the next
   * boundary, dropping what precedes it.
   */
  #pop(kind: ExpectKind, f: PgFrame): Expect | null {
    const head = this.#queue[0];
    if (head?.kind === kind) {
      this.#queue.shift();
      if (head.work !== null) head.work.lastNs = f.endNs;
      return head;
    }
    let k = 0;
    while (k < this.#queue.length && this.#queue[k]!.kind !== kind && !isBoundary(this.#queue[k]!.kind)) k++;
    const found = this.#queue[k];
    if (found === undefined || found.kind !== kind) {
      this.#s.orphanResponses++;
      return null;
    }
    this.#s.outOfOrder++;
    this.#queue.splice(0, k + 1);
    if (found.work !== null) found.work.lastNs = f.endNs;
    return found;
  }

  #description(f: PgFrame): void {
    const head = this.#queue[0];
    // RowDescription also precedes the rows of each statement of a simple Query.
    if (head?.kind === 'query') return;
    if (head?.kind === 'describe-statement' || head?.kind === 'describe-portal') {
      this.#queue.shift();
      return;
    }
    if (f.type === BE.ROW_DESCRIPTION && head?.kind === 'execute') return;
    this.#pop('describe-portal', f);
  }

  #dataRow(f: PgFrame): void {
    const w = this.#resultWork();
    if (w === null) {
      this.#s.orphanResponses++;
      return;
    }
    w.rows++;
    w.lastNs = f.endNs;
  }

  #completion(f: PgFrame): void {
    let tag: string | null = null;
    if (f.type === BE.COMMAND_COMPLETE) {
      const m = parseCommandComplete(f.body, f.length);
      if (m.ok) tag = m.value;
      else this.#s.malformedMessages++;
    }
    const head = this.#queue[0];
    let e: Expect | null | undefined = head;
    if (head?.kind !== 'query' && head?.kind !== 'execute') {
      // Realign: the first operation with results before the next boundary.
      const k = this.#queue.findIndex((x) => x.kind === 'query' || x.kind === 'execute' || isBoundary(x.kind));
      e = k >= 0 && (this.#queue[k]!.kind === 'query' || this.#queue[k]!.kind === 'execute') ? this.#queue[k] : null;
      if (e == null) {
        this.#s.orphanResponses++;
        return;
      }
      this.#s.outOfOrder++;
      this.#queue.splice(0, k);
    }
    const w = e!.work!;
    w.lastNs = f.endNs;
    if (f.type === BE.PORTAL_SUSPENDED) w.suspended = true;
    else w.statements++;
    if (tag !== null) {
      if (w.tags.length < MAX_TAGS) w.tags.push(tag);
      w.rowsAffected = tagRows(tag);
    }
    // A Query's statements all end before its ReadyForQuery; an Execute ends here.
    if (e!.kind === 'execute') {
      this.#queue.shift();
      this.#finish(w, w.partial ? 'partial' : 'complete', f.endNs, null);
    }
  }

  #copyResponse(f: PgFrame): void {
    const w = this.#resultWork();
    if (w === null) {
      this.#s.orphanResponses++;
      return;
    }
    const direction = f.type === BE.COPY_IN_RESPONSE ? 'in' : f.type === BE.COPY_OUT_RESPONSE ? 'out' : 'both';
    w.copy = { direction, bytes: 0, messages: 0 };
    w.lastNs = f.endNs;
  }

  #copyData(f: PgFrame): void {
    const w = this.#resultWork();
    if (w?.copy == null) {
      this.#s.orphanResponses++;
      return;
    }
    w.copy.bytes += f.length;
    w.copy.messages++;
    w.lastNs = f.endNs;
  }

  #notice(f: PgFrame): void {
    const m = parseErrorFields(f.body, f.length);
    if (!m.ok || m.value.severity !== 'WARNING') return;
    const w = this.#resultWork() ?? this.#queue[0]?.work ?? null;
    if (w !== null && w.warning === null) w.warning = { sqlstate: m.value.sqlstate, severity: m.value.severity, message: m.value.message };
  }

  #error(f: PgFrame): void {
    const m = parseErrorFields(f.body, f.length);
    const err: PostgresError = m.ok
      ? { sqlstate: m.value.sqlstate, severity: m.value.severity, message: m.value.message }
      : { sqlstate: '', severity: 'ERROR', message: '' };
    if (!m.ok) this.#s.malformedMessages++;
    if (!this.#ready) {
      // Before the first ReadyForQuery: authentication failed (28P01, 28000) or the database is
      // missing (3D000). Not an operation; counted.
      this.#s.startupErrors++;
      return;
    }
    const head = this.#queue[0];
    if (head === undefined) {
      // E.g. FATAL 57P01 when an administrator terminates the backend.
      this.#s.orphanResponses++;
      return;
    }
    if (head.kind === 'query' || head.kind === 'function') {
      // The rest of the string is not executed; ReadyForQuery follows.
      if (head.work !== null) {
        head.work.error ??= err;
        head.work.lastNs = f.endNs;
      }
      return;
    }
    if (head.kind === 'sync') {
      // An error at Sync itself (a deferred constraint failing the implicit commit): the
      // operations of the group already ended; a statement it prepared takes it, else counted.
      const w = head.prepares?.at(-1);
      if (w !== undefined) {
        w.error ??= err;
        w.lastNs = f.endNs;
      } else {
        this.#s.orphanResponses++;
      }
      return;
    }
    // Extended protocol: the failing message's operation ends with the error; the server skips every
    // message up to the next Sync.
    const failed = head.work;
    let k = 0;
    while (k < this.#queue.length && this.#queue[k]!.kind !== 'sync') {
      const w = this.#queue[k]!.work;
      if (w !== null && w !== failed && !w.done) {
        w.done = true;
        this.#s.skippedAfterError++;
      }
      k++;
    }
    const sync = this.#queue[k];
    this.#queue.splice(0, k);
    if (sync === undefined) {
      // The Sync is still to come: what the client sends until then is skipped as it arrives.
      this.#skipUntilSync = true;
      for (const w of this.#group) {
        if (w !== failed && !w.done && !w.executed) {
          w.done = true;
          this.#s.skippedAfterError++;
        }
      }
      this.#current = null;
      this.#group = [];
    }
    if (failed !== null && !failed.done) {
      if (!failed.executed && failed.parsed) failed.mode = 'prepare';
      failed.error = err;
      this.#finish(failed, failed.partial ? 'partial' : 'complete', f.endNs, null);
    }
  }

  #readyForQuery(f: PgFrame): void {
    const m = parseReadyForQuery(f.body, f.length);
    const status = m.ok ? m.value : null;
    if (!m.ok) this.#s.malformedMessages++;
    if (!this.#ready) {
      this.#ready = true;
      if (this.#queue.length === 0) return;
    }
    // Everything up to the first boundary is answered.
    const k = this.#queue.findIndex((e) => isBoundary(e.kind));
    if (k < 0) {
      this.#s.orphanResponses++;
      this.#responseLost = false;
      return;
    }
    const answered = this.#queue.splice(0, k + 1);
    for (const e of answered) {
      for (const w of e.prepares ?? (e.work !== null ? [e.work] : [])) {
        if (!w.done) this.#finish(w, w.partial ? 'partial' : 'complete', f.endNs, status);
      }
    }
    this.#responseLost = false;
  }

  /** Responses were lost and the client sent more: finish what was outstanding, as partial. */
  #flushPartial(): void {
    for (const e of this.#queue) {
      for (const w of e.prepares ?? (e.work !== null ? [e.work] : [])) {
        if (!w.done) this.#finish(w, 'partial', w.lastNs > w.startNs ? w.lastNs : this.#lastResponseNs, null);
      }
    }
    this.#queue = [];
    this.#responseLost = false;
  }

  #finish(w: Work, outcome: PostgresExchange['outcome'], endNs: bigint, status: 'I' | 'T' | 'E' | null): void {
    if (w.done) return;
    w.done = true;
    if (w.mode === 'prepare') this.#s.prepares++;
    if (w.error !== null) this.#s.errors++;
    if (outcome === 'partial') this.#s.partial++;
    if (outcome === 'unanswered') this.#s.unanswered++;
    if (w.queryTruncated) this.#s.truncatedQueries++;
    this.#s.exchanges++;
    this.#done.push({
      protocol: 'postgresql',
      connection: this.connection,
      ordinal: w.ordinal,
      mode: w.mode,
      query: w.query,
      queryTruncated: w.queryTruncated,
      statement: w.mode === 'simple' ? null : w.statement,
      portal: w.mode === 'extended' ? w.portal : null,
      parameterCount: w.parameterCount,
      commandTags: w.tags,
      statements: w.statements,
      rows: w.rows,
      rowsAffected: w.rowsAffected,
      copy: w.copy,
      error: w.error,
      warning: w.warning,
      suspended: w.suspended,
      outcome,
      database: this.#database,
      user: this.#user,
      transactionStatus: status,
      startNs: w.startNs,
      endNs: endNs < w.startNs ? w.startNs : endNs,
    });
  }
}

/** A typed frontend message at the start of `b`: a request stream found after its startup. */
export function looksLikeTypedRequest(b: Uint8Array): boolean {
  if (b.length < 5) return false;
  const type = b[0]!;
  if (type !== FE.QUERY && type !== FE.PARSE && type !== FE.BIND && type !== FE.EXECUTE && type !== FE.SYNC && type !== FE.DESCRIBE) return false;
  if (!plausibleHeader('request', type, int32At(b, 1))) return false;
  // A Query's text is printable: reject binary that happens to start with 'Q'.
  if (type === FE.QUERY && b.length > 5) return b[5]! >= 0x09 && b[5]! !== 0x7f;
  return true;
}

/** Does a response stream start like a PostgreSQL server's answer (first bytes of a side)? */
export function looksLikePostgresResponse(b: Uint8Array): boolean {
  if (b.length === 1) return b[0] === 0x4e || b[0] === 0x53; // the answer to SSLRequest
  if (b.length < 5) return false;
  if ((b[0] === 0x4e || b[0] === 0x53) && b[1] === 0x52) return true; // 'N' then AuthenticationXXX
  const type = b[0]!;
  if (type !== BE.AUTHENTICATION && type !== BE.ERROR_RESPONSE && type !== BE.READY_FOR_QUERY && type !== BE.ROW_DESCRIPTION &&
    type !== BE.COMMAND_COMPLETE && type !== BE.PARSE_COMPLETE && type !== BE.BIND_COMPLETE && type !== BE.DATA_ROW) return false;
  return plausibleHeader('response', type, int32At(b, 1));
}

/** PostgreSQL for the connection tracker. kernelId is PROTO_POSTGRES in bpf/include/sockets.h. */
export const postgresHandler: ProtocolHandler = {
  name: 'postgresql',
  kernelId: 3,
  looksLikeRequest: (b) => looksLikeStartup(b) || looksLikeTypedRequest(b),
  looksLikeResponse: looksLikePostgresResponse,
  open: (connection) => new PostgresSession(connection),
};
