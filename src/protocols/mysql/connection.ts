// One MySQL / MariaDB connection: a packet framer per direction and the state machine that joins
// them ("Connection Lifecycle", https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_lifecycle.html).
//
//   greeting (server, Initial Handshake v10) → HandshakeResponse41 or SSLRequest (client)
//   → authentication (AuthSwitchRequest / AuthMoreData / client data) → OK or ERR
//   → commands: the client sends one (sequence 0), the server answers it (sequences 1, 2, ...).
//
// The protocol is request/response: each response answers the oldest command still waiting (a
// client may pipeline, responses keep the order). A response packet that began before the command
// it would answer belongs to a command that was not captured, and is dropped. Packets of one side
// that arrive before what they depend on from the other side (the greeting, the command) wait in a
// small bounded queue.
//
// What is not followed, and why:
// - TLS (the client's SSLRequest): the rest is ciphertext. Counted in `tls`.
// - Compression (CLIENT_COMPRESS / CLIENT_ZSTD_COMPRESSION_ALGORITHM): another framing. `compressed`.
// - Replication and clone streams (COM_BINLOG_DUMP...): not request/response. `unsupportedCommands`.
// Kernel side, a connection is recognised by the server's greeting: only connections whose
// greeting was captured are traced at all.
import type { ConnectionInfo } from '../../model/connection.js';
import type { MysqlExchange, MysqlFlavor, MysqlOutcome } from '../../model/mysql.js';
import type { MessageSide, ProtocolHandler, ProtocolSession } from '../session.js';
import {
  CLIENT_COMPRESS,
  CLIENT_DEPRECATE_EOF,
  CLIENT_PLUGIN_AUTH,
  CLIENT_PROTOCOL_41,
  CLIENT_SECURE_CONNECTION,
  CLIENT_ZSTD_COMPRESSION_ALGORITHM,
  COM_CHANGE_USER,
  COM_INIT_DB,
  COM_QUERY,
  COM_QUIT,
  COM_RESET_CONNECTION,
  COM_STMT_CLOSE,
  COM_STMT_EXECUTE,
  COM_STMT_FETCH,
  COM_STMT_PREPARE,
  ERR_HEADER,
  EOF_HEADER,
  LAST_PREPARED_STATEMENT,
  OK_HEADER,
  AUTH_MORE_DATA_HEADER,
  type CommandInfo,
  commandInfo,
} from './constants.js';
import { looksLikeMysqlCommand, looksLikeMysqlGreeting, looksLikeResponseStart } from './detect.js';
import { type FramerStats, type MysqlPacket, PacketFramer } from './framer.js';
import { MALFORMED, type Command, isSslRequest, parseCommand, parseHandshakeResponse, parseHandshakeV10, parseOk } from './messages.js';
import { ResponseParser, type ResponseSummary } from './response.js';
import { StatementCache } from './statements.js';
import { useStatementDatabase } from './use-statement.js';

export interface MysqlConnectionOptions {
  /** Command payload bytes kept (the query text bound). Default 8 KiB. */
  maxQueryBytes?: number;
  /** Prepared statements remembered per connection. Default 256. */
  maxStatements?: number;
  /** Commands awaiting a response; beyond, the oldest is given up (outcome missing). Default 64. */
  maxOutstanding?: number;
  /** Packets of one side held until the other side catches up. Default 256. */
  maxQueued?: number;
}

export type MysqlConnectionStats = {
  /** Commands seen (COM_QUIT included). */
  commands: number;
  exchanges: number;
  /** Responses that were an ERR_Packet. */
  errors: number;
  /** Commands whose response never came (connection closed, evicted). */
  unanswered: number;
  /** Responses whose end was lost (gap, malformed bytes). */
  incomplete: number;
  /** Malformed packets: a command or a response that made no sense. */
  parseErrors: number;
  /** Response packets answering no captured command. Dropped. */
  orphanPackets: number;
  /** Request packets that are no command (authentication data, LOCAL INFILE contents). */
  continuationPackets: number;
  /** Commands given up because too many were outstanding (also in unanswered). */
  evicted: number;
  /** Packets dropped because a side's queue was full. */
  queueOverflow: number;
  /** A direction found stuck inside a packet it should have finished (misframed): resynchronised. */
  stalls: number;
  /** Connections that switched to TLS, or to compression: nothing more is parsed. */
  tls: number;
  compressed: number;
  /** Authentication that ended with an ERR (the server closes the connection). */
  authFailures: number;
  /** Replication / clone streams and other commands that end request/response. */
  unsupportedCommands: number;
  /** COM_STMT_EXECUTE of a statement whose PREPARE was not seen (or was forgotten). */
  unknownStatements: number;
  statementsEvicted: number;
  /** Framing, both directions. */
  packets: number;
  bytes: number;
  gapBytes: number;
  syncLosses: number;
  resyncs: number;
  skippedBytes: number;
  truncated: number;
  /** Exceptions caught by the last-resort guard (a bug if ever non-zero). */
  internalErrors: number;
};

const DEFAULT_MAX_QUERY = 8 * 1024;
const DEFAULT_MAX_STATEMENTS = 256;
const DEFAULT_MAX_OUTSTANDING = 64;
const DEFAULT_MAX_QUEUED = 256;
/** Server packets are small but for rows (counted, not read): an ERR message is at most 512 bytes. */
const RESPONSE_HEAD = 1024;
/** Capabilities assumed when the handshake was not seen: what every current client sets. */
const ASSUMED_CAPS = CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH | CLIENT_DEPRECATE_EOF;

// Phases of the connection.
const GREETING = 0; // waiting for the server's Initial Handshake
const LOGIN = 1; // waiting for the client's HandshakeResponse (or SSLRequest)
const AUTH = 2; // authentication exchange until OK / ERR
const COMMAND = 3;
const OPAQUE = 4; // TLS, compression, a stream, a failed login: nothing more is parsed

interface PendingCommand {
  /** Position on the connection, given when the command is read (responses may end out of order). */
  ordinal: number;
  cmd: Command;
  info: CommandInfo;
  startNs: bigint;
  endNs: bigint;
  database?: string;
  user?: string;
  query?: string;
  queryTruncated?: boolean;
  parser: ResponseParser | null;
}

/** A packet held in a queue (its head copied) or a loss of sync marker. */
type Queued = MysqlPacket | LossMarker;

/** A direction lost its packet boundaries at `timeNs`, in the middle of a packet begun at `partialSince`. */
interface LossMarker {
  lost: true;
  timeNs: bigint;
  partialSince: bigint | null;
}

function copyPacket(p: MysqlPacket): MysqlPacket {
  return { ...p, head: p.head.slice() };
}

export class MysqlConnection implements ProtocolSession {
  private readonly requests: PacketFramer;
  private readonly responses: PacketFramer;
  private phase = GREETING;
  /** SSLRequest seen: the login continues inside TLS. */
  private awaitingTls = false;
  private caps = 0;
  private serverCaps = 0;
  private serverVersion: string | undefined;
  private flavor: MysqlFlavor | undefined;
  private user: string | undefined;
  private database: string | undefined;
  private readonly statements: StatementCache;
  private outstanding: PendingCommand[] = [];
  private requestQueue: Queued[] = [];
  private responseQueue: Queued[] = [];
  private done: MysqlExchange[] = [];
  private nextOrdinal = 0;
  private closed = false;
  private pumping = false;
  private pipelining = false;
  private readonly maxOutstanding: number;
  private readonly maxQueued: number;
  private readonly counters = {
    commands: 0, exchanges: 0, errors: 0, unanswered: 0, incomplete: 0, parseErrors: 0, orphanPackets: 0,
    continuationPackets: 0, evicted: 0, queueOverflow: 0, tls: 0, compressed: 0, authFailures: 0, stalls: 0,
    unsupportedCommands: 0, unknownStatements: 0, internalErrors: 0,
  };

  constructor(
    readonly connection: ConnectionInfo,
    opts: MysqlConnectionOptions = {},
  ) {
    this.statements = new StatementCache(Math.max(1, opts.maxStatements ?? DEFAULT_MAX_STATEMENTS));
    this.maxOutstanding = Math.max(1, opts.maxOutstanding ?? DEFAULT_MAX_OUTSTANDING);
    this.maxQueued = Math.max(1, opts.maxQueued ?? DEFAULT_MAX_QUEUED);
    this.requests = new PacketFramer({
      maxHead: Math.max(64, opts.maxQueryBytes ?? DEFAULT_MAX_QUERY),
      resyncCandidate: (seq, length, first) => seq === 0 && looksLikeMysqlCommand(length, first),
      onPacket: (p) => this.onPacket('request', p),
    });
    this.responses = new PacketFramer({
      maxHead: RESPONSE_HEAD,
      resyncCandidate: (seq, length, first) => seq === 1 && looksLikeResponseStart(length, first),
      onPacket: (p) => this.onPacket('response', p),
    });
  }

  // --- ProtocolSession ----------------------------------------------------------------------------

  data(side: MessageSide, bytes: Uint8Array, timeNs: bigint): void {
    if (this.closed) return;
    this.guard(() => (side === 'request' ? this.requests : this.responses).feed(bytes, timeNs));
  }

  gap(side: MessageSide, bytes: number, timeNs: bigint): void {
    if (this.closed) return;
    this.guard(() => {
      const framer = side === 'request' ? this.requests : this.responses;
      const wasLost = framer.lost;
      const partialSince = framer.partialSince;
      framer.gap(bytes, timeNs);
      if (framer.lost && !wasLost) this.onSyncLost(side, timeNs, partialSince);
    });
  }

  close(timeNs: bigint): void {
    if (this.closed) return;
    this.guard(() => {
      this.requests.finish();
      this.responses.finish();
      this.pump();
      // What still waits for a response will not get one.
      for (const c of this.outstanding) this.finish(c, c.parser?.started === true ? 'incomplete' : 'missing', timeNs);
      this.outstanding = [];
      this.requestQueue = [];
      this.responseQueue = [];
    });
    this.closed = true;
  }

  drain(): MysqlExchange[] {
    const out = this.done;
    if (out.length > 0) this.done = [];
    return out;
  }

  stats(): MysqlConnectionStats {
    const q = this.requests.stats();
    const r = this.responses.stats();
    const framing = { ...q };
    for (const k of Object.keys(q) as Array<keyof FramerStats>) framing[k] = q[k] + r[k];
    return { ...this.counters, statementsEvicted: this.statements.evicted, ...framing };
  }

  /** Statements remembered, commands waiting, packets queued and bytes held: for memory-bound tests. */
  get held(): { statements: number; outstanding: number; queued: number; bytes: number } {
    let bytes = this.requests.heldBytes + this.responses.heldBytes;
    for (const q of [this.requestQueue, this.responseQueue]) for (const p of q) if (!('lost' in p)) bytes += p.head.length;
    return { statements: this.statements.size, outstanding: this.outstanding.length, queued: this.requestQueue.length + this.responseQueue.length, bytes };
  }

  // --- packets ------------------------------------------------------------------------------------

  private guard(f: () => void): void {
    try {
      f();
    } catch {
      // Last resort: a bug must not take the agent down. Start over from a clean search.
      this.counters.internalErrors++;
      this.outstanding = [];
      this.requestQueue = [];
      this.responseQueue = [];
      this.requests.resync();
      this.responses.resync();
    }
  }

  private onPacket(side: MessageSide, p: MysqlPacket): void {
    const queue = side === 'request' ? this.requestQueue : this.responseQueue;
    // The common case: nothing waits ahead of it, and it can be handled now (no copy).
    if (queue.length === 0 && (side === 'request' ? this.takeRequest(p) : this.takeResponse(p))) {
      this.pump();
      return;
    }
    this.enqueue(queue, copyPacket(p));
    this.pump();
  }

  private enqueue(queue: Queued[], item: Queued): void {
    queue.push(item);
    if (queue.length > this.maxQueued) {
      queue.shift();
      this.counters.queueOverflow++;
    }
  }

  private onSyncLost(side: MessageSide, timeNs: bigint, partialSince: bigint | null): void {
    const queue = side === 'request' ? this.requestQueue : this.responseQueue;
    this.enqueue(queue, { lost: true, timeNs, partialSince });
    this.pump();
  }

  /** Handles what the queues hold, in order, as far as the other side allows. */
  private pump(): void {
    if (this.pumping) return; // the running loop will see what was queued
    this.pumping = true;
    try {
      this.pumpQueues();
    } finally {
      this.pumping = false;
    }
  }

  private pumpQueues(): void {
    for (let progress = true; progress;) {
      progress = false;
      while (this.requestQueue.length > 0 && this.takeRequest(this.requestQueue[0]!)) {
        this.requestQueue.shift();
        progress = true;
      }
      while (this.responseQueue.length > 0 && this.takeResponse(this.responseQueue[0]!)) {
        this.responseQueue.shift();
        progress = true;
      }
    }
  }

  /** A client packet (or loss marker): true when handled, false when it must wait. */
  private takeRequest(p: Queued): boolean {
    if ('lost' in p) {
      // The client's handshake or authentication data went missing: carry on with commands.
      if (this.phase === LOGIN || this.phase === AUTH) this.enterCommands();
      return this.phase !== GREETING;
    }
    switch (this.phase) {
      case GREETING:
        return false;
      case LOGIN:
        this.login(p);
        return true;
      case AUTH:
        if (p.seq === 0) return false; // a command: after the server's OK
        this.counters.continuationPackets++; // authentication data: never read
        return true;
      case COMMAND:
        if (p.seq !== 0) {
          // LOCAL INFILE contents, authentication data of COM_CHANGE_USER.
          this.counters.continuationPackets++;
          return true;
        }
        this.command(p);
        return true;
      default:
        return true;
    }
  }

  /** A server packet (or loss marker): true when handled, false when it must wait. */
  private takeResponse(p: Queued): boolean {
    if ('lost' in p) return this.responseLost(p);
    switch (this.phase) {
      case GREETING:
        if (this.greeting(p)) return true;
        return this.commandResponse(p); // joined after the greeting: maybe a response
      case LOGIN:
        // The server speaks before the client answered the greeting only to refuse it.
        if (p.length > 0 && p.head[0] === ERR_HEADER) {
          this.counters.authFailures++;
          this.stopParsing();
          return true;
        }
        return false;
      case AUTH:
        this.authResponse(p);
        return true;
      case COMMAND:
        return this.commandResponse(p);
      default:
        return true;
    }
  }

  // --- connection phase ---------------------------------------------------------------------------

  /** The server's first packet; false when it is no greeting and is left to the command phase. */
  private greeting(p: MysqlPacket): boolean {
    const hs = p.seq === 0 ? parseHandshakeV10(p.head) : MALFORMED;
    if (hs === MALFORMED) {
      if (p.seq === 0 && p.length > 0 && p.head[0] === ERR_HEADER) {
        // "Too many connections", "Host is blocked": the server refuses before the handshake.
        this.stopParsing();
        return true;
      }
      // Not a greeting: the connection was joined later. Assume a modern client.
      this.counters.parseErrors++;
      this.enterCommands();
      return false;
    }
    this.serverCaps = hs.capabilities;
    const mariadb = /mariadb/i.test(hs.serverVersion);
    this.flavor = mariadb ? 'mariadb' : 'mysql';
    // MariaDB 10.x announces itself as "5.5.5-10.11.6-MariaDB" for old replication clients.
    this.serverVersion = mariadb ? hs.serverVersion.replace(/^5\.5\.5-/, '') : hs.serverVersion;
    this.phase = LOGIN;
    return true;
  }

  private login(p: MysqlPacket): void {
    if (isSslRequest(p.head, p.length)) {
      // The TLS handshake follows: nothing to parse until (unless) the capture delivers plaintext.
      this.counters.tls++;
      this.stopParsing();
      this.awaitingTls = true;
      return;
    }
    const hr = parseHandshakeResponse(p.head);
    if (hr === MALFORMED) {
      this.counters.parseErrors++;
      this.phase = AUTH;
      this.caps = this.serverCaps & ASSUMED_CAPS;
      return;
    }
    // The server follows the client's flags (it only sets what the server offered).
    this.caps = hr.capabilities;
    this.user = hr.user;
    if (hr.database !== undefined) this.database = hr.database;
    this.phase = AUTH;
  }

  private authResponse(p: MysqlPacket): void {
    const first = p.length === 0 ? -1 : p.head[0]!;
    if (first === OK_HEADER) {
      const ok = parseOk(p.head, this.caps);
      if (ok !== MALFORMED && ok.schema !== undefined) this.database = ok.schema;
      if ((this.caps & (CLIENT_COMPRESS | CLIENT_ZSTD_COMPRESSION_ALGORITHM)) !== 0) {
        this.counters.compressed++;
        this.stopParsing();
        return;
      }
      this.phase = COMMAND;
      return;
    }
    if (first === ERR_HEADER) {
      this.counters.authFailures++;
      this.stopParsing();
      return;
    }
    if (first === EOF_HEADER || first === AUTH_MORE_DATA_HEADER) return; // the exchange goes on
    this.counters.parseErrors++;
    this.enterCommands();
  }

  private enterCommands(): void {
    if (this.phase === OPAQUE) return;
    if (this.caps === 0) this.caps = ASSUMED_CAPS;
    this.phase = COMMAND;
  }

  /** After SSLRequest, the plaintext from the TLS probes carries the HandshakeResponse: log in again. */
  resumeOverTls(): boolean {
    if (!this.awaitingTls) return false;
    this.awaitingTls = false;
    this.requests.restart();
    this.responses.restart();
    this.phase = LOGIN;
    return true;
  }

  private stopParsing(): void {
    this.phase = OPAQUE;
    this.requests.stop();
    this.responses.stop();
    this.requestQueue = [];
    this.responseQueue = [];
  }

  // --- command phase ------------------------------------------------------------------------------

  private command(p: MysqlPacket): void {
    const info = p.length > 0 ? commandInfo(p.head[0]!) : undefined;
    const cmd = info === undefined ? MALFORMED : parseCommand(p.head, p.complete, this.caps);
    if (info === undefined || cmd === MALFORMED) {
      this.counters.parseErrors++;
      this.requests.resync();
      return;
    }
    this.counters.commands++;
    this.checkResponseFraming(p.startNs);
    if (cmd.code === COM_QUIT) return; // the connection ends; not an operation of its own
    if (info.shape === 'stream') {
      this.counters.unsupportedCommands++;
      this.stopParsing();
      return;
    }
    if (this.responses.lost && !this.pipelining) {
      // Responses are being searched for: those of earlier commands went by unseen (a client that
      // does not pipeline sends only once answered). Left waiting, they would take later answers.
      for (const old of this.outstanding.splice(0)) this.finish(old, old.parser?.started === true ? 'incomplete' : 'missing', p.startNs);
    } else if (this.outstanding.length > 0 && this.responses.partialSince === null) {
      // A command sent while an earlier one still awaits its response, with no response under way:
      // this client pipelines, so a response in progress at a new command proves nothing.
      this.pipelining = true;
    }
    const c: PendingCommand = { ordinal: this.nextOrdinal++, cmd, info, startNs: p.startNs, endNs: p.endNs, parser: null };
    if (this.database !== undefined) c.database = this.database;
    if (this.user !== undefined) c.user = this.user;
    if (cmd.code === COM_QUERY || cmd.code === COM_STMT_PREPARE) {
      c.query = cmd.text ?? '';
      if (cmd.textTruncated === true) c.queryTruncated = true;
    } else if (cmd.code === COM_INIT_DB) {
      if (cmd.text !== undefined && cmd.text !== '') c.database = cmd.text;
    } else if (cmd.statementId !== undefined) {
      const id = cmd.statementId === LAST_PREPARED_STATEMENT ? this.statements.lastId : cmd.statementId;
      const s = id === null ? undefined : this.statements.get(id);
      if (s !== undefined) {
        c.query = s.query;
        if (s.truncated) c.queryTruncated = true;
      } else if (cmd.code === COM_STMT_EXECUTE || cmd.code === COM_STMT_FETCH) {
        this.counters.unknownStatements++;
      }
      if (cmd.code === COM_STMT_CLOSE && id !== null) this.statements.delete(id);
    }
    if (info.shape === 'none') {
      this.finish(c, 'no_response', p.endNs);
      return;
    }
    const binary = cmd.code === COM_STMT_EXECUTE || cmd.code === COM_STMT_FETCH;
    c.parser = new ResponseParser(info.shape, this.caps, binary);
    this.outstanding.push(c);
    if (this.outstanding.length > this.maxOutstanding) {
      this.counters.evicted++;
      const old = this.outstanding.shift()!;
      this.finish(old, 'missing', old.endNs);
    }
  }

  /**
   * A command was sent at `sentNs` while a response packet that began earlier is still unfinished.
   * A client that does not pipeline reads a whole response before sending again, so the response
   * framing is wrong (a length read from the wrong place): search again. Not once the client was
   * seen to pipeline.
   */
  private checkResponseFraming(sentNs: bigint): void {
    const since = this.responses.partialSince;
    if (since === null || since >= sentNs || this.pipelining) return;
    this.counters.stalls++;
    this.responses.resync();
    this.onSyncLost('response', sentNs, since);
  }

  /** Likewise a response began while a command that began earlier is unfinished: no server does that. */
  private checkRequestFraming(p: MysqlPacket): void {
    const since = this.requests.partialSince;
    if (since === null || since >= p.startNs || this.outstanding.length > 0 || p.seq !== 1) return;
    this.counters.stalls++;
    this.requests.resync();
  }

  private commandResponse(p: MysqlPacket): boolean {
    const c = this.outstanding[0];
    if (c === undefined) {
      this.checkRequestFraming(p);
      return false; // its command may still be on its way
    }
    const parser = c.parser!;
    if (!parser.started && p.startNs < c.startNs) {
      // Began before the oldest waiting command was sent: answers one that was not captured.
      this.counters.orphanPackets++;
      return true;
    }
    if (!parser.started && p.seq !== 1) {
      // Not the start of a response: the rest of one whose command was lost.
      this.counters.orphanPackets++;
      return true;
    }
    const step = parser.feed(p);
    if (step === 'more') return true;
    this.outstanding.shift();
    if (step === 'malformed') {
      this.counters.parseErrors++;
      this.finish(c, 'incomplete', p.endNs);
      this.responses.resync();
      return true;
    }
    const s = parser.summary;
    this.finish(c, s.outcome, parser.endNs);
    return true;
  }

  /** The response direction lost its packet boundaries. */
  private responseLost({ timeNs, partialSince }: LossMarker): boolean {
    if (this.phase === GREETING || this.phase === LOGIN || this.phase === AUTH) {
      // The handshake's end is lost: carry on with commands (resynchronised response packets).
      this.enterCommands();
      return true;
    }
    // The command being answered has lost its response's end.
    const c = this.outstanding[0];
    if (c !== undefined && c.startNs < timeNs) {
      this.outstanding.shift();
      // Begun: a packet of it was read, or the packet cut short began after the command.
      const begun = c.parser?.started === true || (partialSince !== null && partialSince >= c.startNs);
      this.finish(c, begun ? 'incomplete' : 'missing', timeNs);
    }
    return true;
  }

  /** Reports the command (unless its response says otherwise, with what it carries). */
  private finish(c: PendingCommand, outcome: MysqlOutcome, endNs: bigint): void {
    const s = c.parser?.summary;
    const ex: MysqlExchange = {
      protocol: 'mysql',
      connection: this.connection,
      ordinal: c.ordinal,
      command: c.info.name,
      outcome,
      startNs: c.startNs,
      endNs: endNs < c.startNs ? c.endNs : endNs,
    };
    if (c.query !== undefined) ex.query = c.query;
    if (c.queryTruncated === true) ex.queryTruncated = true;
    if (c.cmd.statementId !== undefined) ex.statementId = c.cmd.statementId;
    if (c.database !== undefined) ex.database = c.database;
    if (c.user !== undefined) ex.user = c.user;
    if (this.serverVersion !== undefined) ex.serverVersion = this.serverVersion;
    if (this.flavor !== undefined) ex.flavor = this.flavor;
    if (s !== undefined && (outcome === 'ok' || outcome === 'error' || outcome === 'incomplete')) {
      if (s.resultSets > 0) {
        ex.rows = s.rows;
        ex.resultSets = s.resultSets;
      }
      if (s.affectedRows > 0) ex.affectedRows = s.affectedRows;
      if (s.warnings > 0) ex.warnings = s.warnings;
      if (s.error !== undefined) {
        ex.error = { code: s.error.code, message: s.error.message };
        if (s.error.sqlState !== undefined) ex.error.sqlState = s.error.sqlState;
      }
      if (s.prepared !== undefined) {
        ex.prepared = { numParams: s.prepared.numParams, numColumns: s.prepared.numColumns };
        ex.statementId ??= s.prepared.statementId;
      }
    }
    if (outcome === 'ok') this.applyEffects(c, s);
    if (outcome === 'error') this.counters.errors++;
    else if (outcome === 'missing') this.counters.unanswered++;
    else if (outcome === 'incomplete') this.counters.incomplete++;
    this.counters.exchanges++;
    this.done.push(ex);
  }

  /** What a successful command changes on the connection. */
  private applyEffects(c: PendingCommand, s: ResponseSummary | undefined): void {
    const code = c.cmd.code;
    if (s?.schema !== undefined) this.database = s.schema;
    else if (code === COM_INIT_DB && c.database !== undefined) this.database = c.database;
    else if (code === COM_QUERY && c.query !== undefined) {
      const db = useStatementDatabase(c.query);
      if (db !== null) this.database = db;
    }
    if (code === COM_STMT_PREPARE && s?.prepared !== undefined) {
      this.statements.add(s.prepared.statementId, {
        query: c.query ?? '', truncated: c.queryTruncated === true, numParams: s.prepared.numParams, numColumns: s.prepared.numColumns,
      });
    } else if (code === COM_RESET_CONNECTION) {
      this.statements.clear();
    } else if (code === COM_CHANGE_USER) {
      this.statements.clear();
      if (c.cmd.text !== undefined) this.user = c.cmd.text;
      this.database = s?.schema ?? c.cmd.database;
    }
  }
}

/** MySQL / MariaDB for the connection tracker. kernelId is PROTO_MYSQL in bpf/include/sockets.h. */
export const mysqlHandler: ProtocolHandler = {
  name: 'mysql',
  kernelId: 4,
  // The server's greeting is its first message: the side that sends it is the "response" side.
  looksLikeRequest: (bytes) => bytes.length >= 5 && bytes[3] === 0 && looksLikeMysqlCommand(bytes[0]! | (bytes[1]! << 8) | (bytes[2]! << 16), bytes[4]!) && !looksLikeMysqlGreeting(bytes),
  looksLikeResponse: looksLikeMysqlGreeting,
  open: (connection) => new MysqlConnection(connection),
};
