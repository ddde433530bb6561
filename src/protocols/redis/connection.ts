// One Redis connection: a RESP reader per direction, and the pairing of commands with replies.
//
// Redis answers the commands of a connection in the order they came, one reply each, so pairing
// is first in, first out, however many commands are pipelined. The exceptions are what this file
// is about (https://redis.io/docs/latest/develop/reference/protocol-spec/, …/interact/pubsub/):
// - Pushes are not replies. RESP3 marks them ('>'); in RESP2 a connection that subscribed receives
//   published messages as arrays ["message", channel, payload] / ["pmessage", pattern, channel,
//   payload] / ["smessage", …]. They are counted (stats `pushes`, `pushMessages`) and never become
//   exchanges: a delivery is not an operation of the client (it has no request, and a duration
//   from nothing), the publisher's PUBLISH is the operation, and a busy subscriber would turn
//   every message into a span. MONITOR's stream of command lines is counted the same way.
// - (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE are answered by one confirmation per channel or pattern; the
//   exchange ends at the last one. Without arguments, UNSUBSCRIBE's confirmations (one per
//   subscribed channel) cannot be counted in advance: the exchange ends at the first, the others
//   are counted as pushes.
// - CLIENT REPLY OFF / SKIP: the server stops answering (all commands / the next one).
// - State that changes what later exchanges report: SELECT (database index, applied at EXEC when
//   queued in MULTI), HELLO 3 (RESP3), RESET (all of it back to the start).
//
// Capture gaps. A gap inside a bulk body (a command or reply beyond the kernel's 16 KiB per
// syscall) is stepped over by the reader. Any other gap, and malformed bytes, leave the FIFO
// unknowable: replies may have been lost, or commands whose replies are still coming. Then,
// conservatively:
// - a gap in the replies reports every awaited command as `missing: 'lost'`;
// - a gap in the commands keeps the commands seen before it (their replies come first);
// and until the connection is quiet again — no command awaited, and a command sent after the last
// reply bytes seen — new commands are counted (`requestsDropped`) but not paired, and replies with
// nothing to answer are orphans. A client that waits for its replies (each command, or each
// pipelined batch) makes the connection quiet at its next send, and the reply reader starts
// afresh there. A client that sends while replies to commands lost in the gap are still coming
// (fully asynchronous pipelining) would get them paired with its new command: the one case this
// cannot tell.
import type { ConnectionInfo } from '../../model/connection.js';
import type { RedisCommand, RedisExchange, RedisMissingReply, RedisReply, RedisReplyType } from '../../model/redis.js';
import type { MessageSide, ProtocolHandler, ProtocolSession } from '../session.js';
import { MESSAGE_KINDS, OTHER_COMMAND, SUBSCRIBE_KINDS, isContainer, keepArgument, knownCommand, knownSubcommand } from './commands.js';
import { looksLikeRedisRequest, looksLikeRedisResponse } from './detect.js';
import { INLINE, LOST, RespReader, type RespMessage, type RespReaderStats } from './resp.js';

export interface RedisConnectionOptions {
  /** Commands awaiting a reply; beyond, the oldest is reported as `missing: 'evicted'`. Default 4096. */
  maxOutstanding?: number;
}

export interface RedisPairingStats {
  /** Commands parsed (inline ones included). */
  commands: number;
  /** Replies parsed (pushes not included). */
  replies: number;
  /** Exchanges reported with a reply. */
  exchanges: number;
  /** Exchanges reported without one, by reason. */
  unanswered: number;
  lost: number;
  evicted: number;
  suppressed: number;
  /** Replies with no command to answer (capture began late, after a gap, after an eviction). */
  orphanReplies: number;
  /** Commands seen while the pairing was out of step after a gap: counted, not reported. */
  requestsDropped: number;
  /** Gaps that lost the place in a direction (not those stepped over inside a bulk body). */
  desyncs: number;
  /** Out-of-band values: RESP3 pushes, RESP2 pub/sub deliveries, extra confirmations, MONITOR lines. */
  pushes: number;
  /** Among them, published messages delivered ("message", "pmessage", "smessage"). */
  pushMessages: number;
  /** (P|S)(UN)SUBSCRIBE confirmations paired with their command. */
  confirmations: number;
}

const DEFAULT_MAX_OUTSTANDING = 4096;
/** db indexes: redis.conf "databases" defaults to 16; anything that parses as a small integer. */
const DB_INDEX = /^\d{1,6}$/;
/** An error code: by convention the upper-case first word of the message ("ERR", "WRONGTYPE"). */
const ERROR_CODE = /^[A-Z][A-Z0-9_]{0,31}$/;

const REPLY_TYPES: Record<number, RedisReplyType> = {
  0x2b: 'simple-string', 0x2d: 'error', 0x3a: 'integer', 0x24: 'bulk-string', 0x2a: 'array', 0x5f: 'null',
  0x2c: 'double', 0x23: 'boolean', 0x28: 'big-number', 0x21: 'blob-error', 0x3d: 'verbatim-string',
  0x25: 'map', 0x7e: 'set', 0x3e: 'push',
};
const T_ARRAY = 0x2a;
const T_PUSH = 0x3e;
const T_SIMPLE = 0x2b;
const CONFIRMATION_KINDS = new Set(SUBSCRIBE_KINDS.values());

interface Awaiting {
  command: RedisCommand;
  ordinal: number;
  pipelined: boolean;
  transaction: boolean;
  /** The kept argument that matters after the reply (SELECT's index, HELLO's version). */
  argument: string | undefined;
  /** (P|S)(UN)SUBSCRIBE: the confirmation kind, how many are still awaited, how many came. */
  confirmKind: string | null;
  confirmLeft: number;
  confirmations: number;
  firstConfirmNs: bigint;
  lastConfirmation: RedisReply | null;
}

export class RedisConnection implements ProtocolSession {
  private readonly requests: RespReader;
  private readonly responses: RespReader;
  private readonly maxOutstanding: number;
  private queue: Awaiting[] = [];
  private done: RedisExchange[] = [];
  private nextOrdinal = 0;

  // What the connection's history says about the next exchanges.
  private database = 0;
  private respVersion: 2 | 3 = 2;
  /** RESP2 subscriptions (channels + patterns, shard channels), from the confirmations' counts. */
  private subscriptions = 0;
  private shardSubscriptions = 0;
  private monitoring = false;
  /** Request side: MULTI sent, EXEC/DISCARD not yet. */
  private multiOpen = false;
  /** SELECT queued in MULTI: takes effect when EXEC succeeds. */
  private queuedSelect: number | null = null;
  /** CLIENT REPLY: 'off' until ON; 'skip' for the next command. */
  private replyMode: 'on' | 'off' | 'skip' = 'on';

  /** Out of step after a gap: new commands are not paired until the connection is quiet. */
  private desync = false;
  /** Replies still owed to commands evicted unanswered: dropped as they come. */
  private owedToEvicted = 0;
  private lastReplyBytesNs: bigint | null = null;
  private closed = false;
  private readonly counters: RedisPairingStats = {
    commands: 0, replies: 0, exchanges: 0, unanswered: 0, lost: 0, evicted: 0, suppressed: 0, orphanReplies: 0,
    requestsDropped: 0, desyncs: 0, pushes: 0, pushMessages: 0, confirmations: 0,
  };

  constructor(
    readonly connection: ConnectionInfo,
    opts: RedisConnectionOptions = {},
  ) {
    this.maxOutstanding = Math.max(1, Math.floor(opts.maxOutstanding ?? DEFAULT_MAX_OUTSTANDING));
    this.requests = new RespReader('request', { keep: keepArgument });
    // Of a reply, only a confirmation's third element (the subscription count) is needed.
    this.responses = new RespReader('response', { keep: (index, parts) => index === 2 && CONFIRMATION_KINDS.has(parts[0] ?? '') });
  }

  // --- ProtocolSession -------------------------------------------------------------------------

  data(side: MessageSide, bytes: Uint8Array, timeNs: bigint): void {
    if (this.closed) return;
    if (side === 'request') {
      this.requests.feed(bytes, timeNs);
      for (const m of this.requests.take()) this.onCommand(m);
    } else {
      this.responses.feed(bytes, timeNs);
      this.lastReplyBytesNs = timeNs;
      for (const m of this.responses.take()) this.onReply(m);
    }
  }

  gap(side: MessageSide, bytes: number, timeNs: bigint): void {
    if (this.closed) return;
    if (side === 'request') {
      this.requests.skip(bytes, timeNs);
      for (const m of this.requests.take()) this.onCommand(m);
    } else {
      this.responses.skip(bytes, timeNs);
      if (timeNs > (this.lastReplyBytesNs ?? 0n)) this.lastReplyBytesNs = timeNs;
      for (const m of this.responses.take()) this.onReply(m);
    }
  }

  /**
   * A reader lost its place (a gap outside a bulk body, malformed bytes): whatever it was reading
   * is gone, and how many commands or replies went with it is unknown.
   */
  private lostPlace(side: MessageSide): void {
    this.counters.desyncs++;
    this.desync = true;
    if (side === 'response') {
      // Replies were lost: none of the awaited commands can be paired with confidence.
      for (const a of this.queue) this.finish(a, null, 'lost');
      this.queue = [];
      this.owedToEvicted = 0;
    }
  }

  close(timeNs: bigint): void {
    void timeNs;
    if (this.closed) return;
    this.closed = true;
    this.requests.finish();
    this.responses.finish();
    for (const a of this.queue) {
      if (a.lastConfirmation !== null) this.finish(a, a.lastConfirmation);
      else this.finish(a, null, 'closed');
    }
    this.queue = [];
  }

  drain(): RedisExchange[] {
    const out = this.done;
    if (out.length > 0) this.done = [];
    return out;
  }

  stats(): Record<string, number> {
    const { request: q, response: r, pairing } = this.detailedStats();
    const sums: Record<string, number> = {};
    for (const key of Object.keys(q) as Array<keyof RespReaderStats>) sums[key] = q[key] + r[key];
    return { ...sums, ...pairing };
  }

  detailedStats(): { request: RespReaderStats; response: RespReaderStats; pairing: RedisPairingStats } {
    return { request: this.requests.stats(), response: this.responses.stats(), pairing: { ...this.counters } };
  }

  /** Commands awaiting a reply. */
  get outstanding(): number {
    return this.queue.length;
  }

  // --- commands --------------------------------------------------------------------------------

  private onCommand(m: RespMessage): void {
    if (m.type === LOST) return this.lostPlace('request');
    this.counters.commands++;
    const ordinal = this.nextOrdinal++;
    if (this.desync) {
      // Quiet again: nothing awaited, and this command sent after the last reply bytes: whatever
      // replies come next answer it, so the reply reader starts there (what it was reading since
      // the gap answered nothing that is awaited).
      const quiet = this.queue.length === 0 && (this.lastReplyBytesNs === null || m.startNs > this.lastReplyBytesNs);
      if (!quiet) {
        this.counters.requestsDropped++;
        return;
      }
      this.responses.restart();
      this.desync = false;
    }
    const command = toCommand(m);
    const name = command.name;
    const a: Awaiting = {
      command,
      ordinal,
      pipelined: false,
      transaction: this.multiOpen || name === 'MULTI',
      argument: name === 'SELECT' || name === 'HELLO' ? m.parts[1] : undefined,
      confirmKind: null,
      confirmLeft: 0,
      confirmations: 0,
      firstConfirmNs: 0n,
      lastConfirmation: null,
    };
    if (name === 'MULTI') this.multiOpen = true;
    else if (name === 'EXEC' || name === 'DISCARD' || name === 'RESET') this.multiOpen = false;
    const kind = SUBSCRIBE_KINDS.get(name);
    if (kind !== undefined) {
      a.confirmKind = kind;
      a.confirmLeft = Math.max(1, command.argumentCount);
    }

    // CLIENT REPLY (https://redis.io/docs/latest/commands/client-reply/): OFF and SKIP are not
    // answered, nor is anything while OFF (but CLIENT REPLY ON), nor the command after a SKIP.
    const replyArg = name === 'CLIENT REPLY' ? (m.parts[2] ?? '').toUpperCase() : '';
    if (this.replyMode === 'off' && replyArg !== 'ON') return this.finish(a, null, 'suppressed');
    if (this.replyMode === 'skip') {
      this.replyMode = 'on';
      return this.finish(a, null, 'suppressed');
    }
    if (replyArg === 'OFF' || replyArg === 'SKIP') {
      this.replyMode = replyArg === 'OFF' ? 'off' : 'skip';
      return this.finish(a, null, 'suppressed');
    }
    if (replyArg === 'ON') this.replyMode = 'on';

    if (this.queue.length > 0) {
      a.pipelined = true;
      for (const q of this.queue) q.pipelined = true;
    }
    this.queue.push(a);
    if (this.queue.length > this.maxOutstanding) {
      // Its reply, when it comes, is the first one: dropped then rather than paired with the next.
      this.owedToEvicted++;
      this.finish(this.queue.shift()!, null, 'evicted');
    }
  }

  // --- replies ---------------------------------------------------------------------------------

  private onReply(m: RespMessage): void {
    if (m.type === LOST) return this.lostPlace('response');
    const head = m.parts[0];
    const front = this.queue[0];
    // Confirmations of (P|S)(UN)SUBSCRIBE: arrays in RESP2, pushes in RESP3.
    if ((m.type === T_ARRAY || m.type === T_PUSH) && m.length === 3 && head !== undefined && CONFIRMATION_KINDS.has(head)) {
      const subscribed = this.subscriptions > 0 || this.shardSubscriptions > 0;
      if (front !== undefined && front.confirmKind === head && front.confirmLeft > 0 && this.owedToEvicted === 0) {
        this.confirm(front, m, head);
        return;
      }
      if (m.type === T_PUSH || subscribed) {
        this.trackSubscriptions(head, m.parts[2]);
        this.counters.pushes++;
        return;
      }
    }
    if (m.type === T_PUSH) {
      this.counters.pushes++;
      if (head !== undefined && MESSAGE_KINDS.has(head)) this.counters.pushMessages++;
      return;
    }
    if (m.type === T_ARRAY && (this.subscriptions > 0 || this.shardSubscriptions > 0) && head !== undefined && MESSAGE_KINDS.has(head)
      && m.length === (head === 'pmessage' ? 4 : 3)) {
      this.counters.pushes++;
      this.counters.pushMessages++;
      return;
    }
    if (this.monitoring && m.type === T_SIMPLE && /^\d/.test(m.text)) {
      this.counters.pushes++;
      return;
    }

    this.counters.replies++;
    if (front === undefined || front.command.startNs > m.startNs) {
      // Nothing awaited, or the oldest command was sent after this reply began: it answers a
      // command that was not seen.
      this.counters.orphanReplies++;
      return;
    }
    if (this.owedToEvicted > 0) {
      this.owedToEvicted--;
      this.counters.orphanReplies++;
      return;
    }
    this.queue.shift();
    const reply = toReply(m);
    if (front.lastConfirmation !== null) {
      // An error after some confirmations (a bad channel in the middle): the exchange ends here.
      reply.startNs = front.firstConfirmNs;
    }
    this.applyEffects(front, reply, m.text);
    this.finish(front, reply);
  }

  private confirm(a: Awaiting, m: RespMessage, kind: string): void {
    this.counters.confirmations++;
    this.trackSubscriptions(kind, m.parts[2]);
    const reply = toReply(m);
    if (a.confirmations === 0) a.firstConfirmNs = reply.startNs;
    a.confirmations++;
    a.confirmLeft--;
    reply.startNs = a.firstConfirmNs;
    a.lastConfirmation = reply;
    if (a.confirmLeft === 0) {
      this.counters.replies++;
      this.queue.shift();
      this.finish(a, reply);
    }
  }

  /** A confirmation's third element is how many subscriptions the connection has left. */
  private trackSubscriptions(kind: string, count: string | undefined): void {
    const n = count !== undefined && /^\d{1,10}$/.test(count) ? Number(count) : null;
    if (n === null) return;
    if (kind === 'ssubscribe' || kind === 'sunsubscribe') this.shardSubscriptions = n;
    else this.subscriptions = n;
  }

  /** What a successful reply changes for the exchanges after it. */
  private applyEffects(a: Awaiting, reply: RedisReply, text: string): void {
    const name = a.command.name;
    const failed = reply.type === 'error' || reply.type === 'blob-error';
    if (failed) {
      if (name === 'EXEC') this.queuedSelect = null;
      return;
    }
    const queued = reply.type === 'simple-string' && text === 'QUEUED';
    switch (name) {
      case 'SELECT': {
        if (a.argument === undefined || !DB_INDEX.test(a.argument)) break;
        if (queued) this.queuedSelect = Number(a.argument);
        else this.database = Number(a.argument);
        break;
      }
      case 'EXEC':
        if (reply.type === 'array' && (reply.length ?? -1) >= 0 && this.queuedSelect !== null) this.database = this.queuedSelect;
        this.queuedSelect = null;
        break;
      case 'DISCARD':
        this.queuedSelect = null;
        break;
      case 'HELLO':
        if (a.argument === '2' || a.argument === '3') this.respVersion = a.argument === '3' ? 3 : 2;
        break;
      case 'RESET':
        this.database = 0;
        this.respVersion = 2;
        this.subscriptions = 0;
        this.shardSubscriptions = 0;
        this.monitoring = false;
        this.queuedSelect = null;
        this.replyMode = 'on';
        break;
      case 'MONITOR':
        this.monitoring = true;
        break;
      default:
    }
  }

  private finish(a: Awaiting, reply: RedisReply | null, missing?: RedisMissingReply): void {
    const ex: RedisExchange = {
      protocol: 'redis',
      connection: this.connection,
      ordinal: a.ordinal,
      command: a.command,
      reply,
      database: this.database,
      respVersion: this.respVersion,
      pipelined: a.pipelined,
      transaction: a.transaction,
    };
    if (a.confirmKind !== null) ex.confirmations = a.confirmations;
    if (reply === null) {
      ex.missing = missing ?? 'closed';
      if (ex.missing === 'closed') this.counters.unanswered++;
      else this.counters[ex.missing]++;
    } else {
      this.counters.exchanges++;
    }
    this.done.push(ex);
  }
}

/** The command as reported: a known name (with its subcommand), never what else was sent. */
export function toCommand(m: RespMessage): RedisCommand {
  const known = knownCommand(m.parts[0] ?? '');
  let name = known ?? OTHER_COMMAND;
  if (known !== null && isContainer(known)) {
    const sub = knownSubcommand(known, m.parts[1] ?? '');
    if (sub !== null) name = `${known} ${sub}`;
  }
  return { name, argumentCount: Math.max(0, m.length - 1), inline: m.type === INLINE, startNs: m.startNs, endNs: m.endNs };
}

export function toReply(m: RespMessage): RedisReply {
  const isNull = m.length === -1 && (m.type === 0x24 || m.type === T_ARRAY);
  const reply: RedisReply = { type: isNull ? 'null' : (REPLY_TYPES[m.type] ?? 'null'), startNs: m.startNs, endNs: m.endNs };
  if (reply.type === 'error' || reply.type === 'blob-error') {
    const space = m.text.indexOf(' ');
    const code = space < 0 ? m.text : m.text.slice(0, space);
    if (ERROR_CODE.test(code)) reply.errorPrefix = code;
    reply.errorMessage = m.text;
  } else if (!isNull && m.type !== 0x2b && m.type !== 0x3a && m.type !== 0x5f && m.type !== 0x2c && m.type !== 0x23 && m.type !== 0x28) {
    reply.length = m.length;
  }
  return reply;
}

/** Redis for the connection tracker. kernelId is PROTO_REDIS in bpf/include/sockets.h. */
export const redisHandler: ProtocolHandler = {
  name: 'redis',
  kernelId: 5,
  looksLikeRequest: looksLikeRedisRequest,
  looksLikeResponse: looksLikeRedisResponse,
  open: (connection) => new RedisConnection(connection),
};
