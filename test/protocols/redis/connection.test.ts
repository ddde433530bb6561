// RedisConnection: conversations as redis-cli, redis-benchmark and client libraries hold them with
// redis-server, in both roles; each also fed with every step split at every offset, which must not
// change the exchanges.
import t from 'tap';
import type { ConnectionRole } from '../../../src/model/connection.js';
import type { RedisExchange } from '../../../src/model/redis.js';
import { RedisConnection, type RedisConnectionOptions, type RedisPairingStats } from '../../../src/protocols/redis/connection.js';
import { looksLikeRedisRequest, looksLikeRedisResponse } from '../../../src/protocols/redis/detect.js';
import {
  NULL2, NULL3, array, bulk, cmd, confirmation, connection, describe, err, int, json, map, message, push, simple,
} from './wire.js';

type Step = [side: 'q' | 'r', bytes: string] | [side: 'gap-q' | 'gap-r', bytes: number] | ['close'];

interface Run {
  exchanges: RedisExchange[];
  stats: Record<string, number>;
  conn: RedisConnection;
}

/** Feeds the steps (each at its own time), each split at `split` when given. */
function play(steps: Step[], opts: { split?: number; role?: ConnectionRole; conn?: RedisConnectionOptions } = {}): Run {
  const conn = new RedisConnection(connection(opts.role ?? 'client'), opts.conn);
  let time = 1000n;
  const exchanges: RedisExchange[] = [];
  for (const step of steps) {
    time += 10n;
    if (step[0] === 'close') conn.close(time);
    else if (step[0] === 'gap-q' || step[0] === 'gap-r') conn.gap(step[0] === 'gap-q' ? 'request' : 'response', step[1] as number, time);
    else {
      const side = step[0] === 'q' ? 'request' : 'response';
      const bytes = Buffer.from(step[1] as string, 'latin1');
      const k = opts.split === undefined ? bytes.length : Math.min(opts.split, bytes.length);
      conn.data(side, bytes.subarray(0, k), time);
      if (k < bytes.length) conn.data(side, bytes.subarray(k), time + 1n);
    }
    exchanges.push(...conn.drain());
  }
  return { exchanges, stats: conn.stats(), conn };
}

interface Case {
  name: string;
  steps: Step[];
  expect: string[];
  role?: ConnectionRole;
  stats?: Partial<RedisPairingStats> & Record<string, number>;
  conn?: RedisConnectionOptions;
}

const AUTH = cmd('AUTH', 'rd-Secr3t-pw');
const cases: Case[] = [
  {
    name: 'redis-cli: AUTH, SELECT 2, SET, GET, INCR on a string',
    steps: [['q', AUTH], ['r', simple('OK')], ['q', cmd('SELECT', '2')], ['r', simple('OK')], ['q', cmd('SET', 'k', 'v')], ['r', simple('OK')],
      ['q', cmd('GET', 'k')], ['r', bulk('v')], ['q', cmd('INCR', 'k')], ['r', err('ERR value is not an integer or out of range')],
      ['q', cmd('LPUSH', 'k', 'a')], ['r', err('WRONGTYPE Operation against a key holding the wrong kind of value')], ['q', cmd('GET', 'nope')], ['r', NULL2]],
    expect: ['#0 AUTH/1 → simple-string db=0 resp2', '#1 SELECT/1 → simple-string db=2 resp2', '#2 SET/2 → simple-string db=2 resp2',
      '#3 GET/1 → bulk-string db=2 resp2', '#4 INCR/1 → error:ERR db=2 resp2', '#5 LPUSH/2 → error:WRONGTYPE db=2 resp2', '#6 GET/1 → null db=2 resp2'],
    stats: { exchanges: 7, parseErrors: 0, orphanReplies: 0 },
  },
  {
    name: 'the server\'s side of the same',
    role: 'server',
    steps: [['q', AUTH], ['r', simple('OK')], ['q', cmd('SELECT', '15')], ['r', simple('OK')], ['q', cmd('GET', 'k')], ['r', NULL2]],
    expect: ['#0 AUTH/1 → simple-string db=0 resp2', '#1 SELECT/1 → simple-string db=15 resp2', '#2 GET/1 → null db=15 resp2'],
  },
  {
    name: 'a failed SELECT changes nothing',
    steps: [['q', cmd('SELECT', '99')], ['r', err('ERR DB index is out of range')], ['q', cmd('GET', 'k')], ['r', NULL2]],
    expect: ['#0 SELECT/1 → error:ERR db=0 resp2', '#1 GET/1 → null db=0 resp2'],
  },
  {
    name: 'pipelining (redis-benchmark -P 4): FIFO, every command pipelined',
    steps: [['q', AUTH + cmd('SET', 'a', '1') + cmd('SET', 'b', '2') + cmd('GET', 'a')], ['r', simple('OK') + simple('OK') + simple('OK')], ['r', bulk('1')],
      ['q', cmd('PING')], ['r', simple('PONG')]],
    expect: ['#0 AUTH/1 → simple-string db=0 resp2 pipelined', '#1 SET/2 → simple-string db=0 resp2 pipelined', '#2 SET/2 → simple-string db=0 resp2 pipelined',
      '#3 GET/1 → bulk-string db=0 resp2 pipelined', '#4 PING/0 → simple-string db=0 resp2'],
  },
  {
    name: 'pipelined SELECT applies to the commands after it',
    steps: [['q', cmd('SET', 'a', '1') + cmd('SELECT', '3') + cmd('GET', 'a')], ['r', simple('OK') + simple('OK') + NULL2]],
    expect: ['#0 SET/2 → simple-string db=0 resp2 pipelined', '#1 SELECT/1 → simple-string db=3 resp2 pipelined', '#2 GET/1 → null db=3 resp2 pipelined'],
  },
  {
    name: 'HELLO 3 switches to RESP3; RESP3 replies; pushes between replies are not replies',
    steps: [['q', cmd('HELLO', '3', 'AUTH', 'default', 'rd-Secr3t-pw')], ['r', map([bulk('server'), bulk('redis')], [bulk('proto'), int(3)])],
      ['q', cmd('CLIENT', 'TRACKING', 'on')], ['r', simple('OK')], ['q', cmd('GET', 'k')], ['r', push(bulk('invalidate'), array(bulk('k'))) + NULL3],
      ['q', cmd('HGETALL', 'h')], ['r', map([bulk('f'), bulk('v')])], ['q', cmd('EXISTS', 'k')], ['r', '#f\r\n'], ['q', cmd('INCRBYFLOAT', 'f', '1.5')], ['r', ',1.5\r\n']],
    expect: ['#0 HELLO/4 → map db=0 resp3', '#1 CLIENT TRACKING/2 → simple-string db=0 resp3', '#2 GET/1 → null db=0 resp3', '#3 HGETALL/1 → map db=0 resp3',
      '#4 EXISTS/1 → boolean db=0 resp3', '#5 INCRBYFLOAT/2 → double db=0 resp3'],
    stats: { pushes: 1, pushMessages: 0 },
  },
  {
    name: 'HELLO 3 refused: still RESP2',
    steps: [['q', cmd('HELLO', '3')], ['r', err('NOPROTO unsupported protocol version')], ['q', cmd('PING')], ['r', simple('PONG')]],
    expect: ['#0 HELLO/1 → error:NOPROTO db=0 resp2', '#1 PING/0 → simple-string db=0 resp2'],
  },
  {
    name: 'RESP2 pub/sub: confirmations end SUBSCRIBE, messages are pushes, PING answered, UNSUBSCRIBE',
    steps: [['q', cmd('SUBSCRIBE', 'news', 'sport')], ['r', confirmation('subscribe', 'news', 1)], ['r', confirmation('subscribe', 'sport', 2) + message('news', 'hello')],
      ['r', message('sport', 'goal') + message('news', '*3\r\n$3\r\nSET\r\n')], ['q', cmd('PING')], ['r', array(bulk('pong'), bulk(''))],
      ['q', cmd('UNSUBSCRIBE')], ['r', confirmation('unsubscribe', 'news', 1) + message('sport', 'late') + confirmation('unsubscribe', 'sport', 0)],
      ['q', cmd('GET', 'k')], ['r', array(bulk('message'), bulk('x'), bulk('y'))]],
    expect: ['#0 SUBSCRIBE/2 → array db=0 resp2 confirmations=2', '#1 PING/0 → array db=0 resp2', '#2 UNSUBSCRIBE/0 → array db=0 resp2 confirmations=1',
      '#3 GET/1 → array db=0 resp2'],
    stats: { pushes: 5, pushMessages: 4, confirmations: 3, orphanReplies: 0 },
  },
  {
    name: 'PSUBSCRIBE and pmessage',
    steps: [['q', cmd('PSUBSCRIBE', 'n*')], ['r', confirmation('psubscribe', 'n*', 1)], ['r', array(bulk('pmessage'), bulk('n*'), bulk('news'), bulk('x'))],
      ['q', cmd('PUNSUBSCRIBE', 'n*')], ['r', confirmation('punsubscribe', 'n*', 0)]],
    expect: ['#0 PSUBSCRIBE/1 → array db=0 resp2 confirmations=1', '#1 PUNSUBSCRIBE/1 → array db=0 resp2 confirmations=1'],
    stats: { pushMessages: 1 },
  },
  {
    name: 'RESP3 pub/sub: confirmations and messages are pushes, other replies interleave',
    steps: [['q', cmd('HELLO', '3')], ['r', map([bulk('proto'), int(3)])], ['q', cmd('SUBSCRIBE', 'a') + cmd('GET', 'k')],
      ['r', confirmation('subscribe', 'a', 1, true) + message('a', 'm1', true) + bulk('v') + message('a', 'm2', true)]],
    expect: ['#0 HELLO/1 → map db=0 resp3', '#1 SUBSCRIBE/1 → push db=0 resp3 pipelined confirmations=1', '#2 GET/1 → bulk-string db=0 resp3 pipelined'],
    stats: { pushes: 2, pushMessages: 2 },
  },
  {
    name: 'SUBSCRIBE without channels: the error ends it',
    steps: [['q', cmd('SUBSCRIBE')], ['r', err("ERR wrong number of arguments for 'subscribe' command")]],
    expect: ['#0 SUBSCRIBE/0 → error:ERR db=0 resp2 confirmations=0'],
  },
  {
    name: 'an LRANGE that looks like a confirmation is a reply',
    steps: [['q', cmd('LRANGE', 'l', '0', '-1')], ['r', array(bulk('subscribe'), bulk('x'), bulk('1'))], ['q', cmd('LRANGE', 'm', '0', '-1')],
      ['r', array(bulk('message'), bulk('x'), bulk('y'))]],
    expect: ['#0 LRANGE/3 → array db=0 resp2', '#1 LRANGE/3 → array db=0 resp2'],
    stats: { pushes: 0 },
  },
  {
    name: 'MULTI/EXEC: QUEUED replies, SELECT takes effect at EXEC',
    steps: [['q', cmd('MULTI')], ['r', simple('OK')], ['q', cmd('SELECT', '4')], ['r', simple('QUEUED')], ['q', cmd('INCR', 'n')], ['r', simple('QUEUED')],
      ['q', cmd('EXEC')], ['r', array(simple('OK'), int(1))], ['q', cmd('GET', 'n')], ['r', bulk('1')]],
    expect: ['#0 MULTI/0 → simple-string db=0 resp2 tx', '#1 SELECT/1 → simple-string db=0 resp2 tx', '#2 INCR/1 → simple-string db=0 resp2 tx',
      '#3 EXEC/0 → array db=4 resp2 tx', '#4 GET/1 → bulk-string db=4 resp2'],
  },
  {
    name: 'MULTI/DISCARD and a failed EXEC drop the queued SELECT',
    steps: [['q', cmd('MULTI') + cmd('SELECT', '4') + cmd('DISCARD')], ['r', simple('OK') + simple('QUEUED') + simple('OK')],
      ['q', cmd('MULTI') + cmd('SELECT', '5') + cmd('EXEC')], ['r', simple('OK') + simple('QUEUED') + '*-1\r\n'], ['q', cmd('PING')], ['r', simple('PONG')]],
    expect: ['#0 MULTI/0 → simple-string db=0 resp2 pipelined tx', '#1 SELECT/1 → simple-string db=0 resp2 pipelined tx', '#2 DISCARD/0 → simple-string db=0 resp2 pipelined tx',
      '#3 MULTI/0 → simple-string db=0 resp2 pipelined tx', '#4 SELECT/1 → simple-string db=0 resp2 pipelined tx', '#5 EXEC/0 → null db=0 resp2 pipelined tx',
      '#6 PING/0 → simple-string db=0 resp2'],
  },
  {
    name: 'inline commands (telnet, redis-cli in a pipe)',
    steps: [['q', 'PING\r\n'], ['r', simple('PONG')], ['q', 'SET k "a b"\r\nGET k\r\n'], ['r', simple('OK') + bulk('a b')], ['q', 'select 1\n'], ['r', simple('OK')],
      ['q', 'GET k\r\n'], ['r', NULL2]],
    expect: ['#0 PING/0 → simple-string db=0 resp2 inline', '#1 SET/2 → simple-string db=0 resp2 pipelined inline', '#2 GET/1 → bulk-string db=0 resp2 pipelined inline',
      '#3 SELECT/1 → simple-string db=1 resp2 inline', '#4 GET/1 → null db=1 resp2 inline'],
    stats: { inline: 5 },
  },
  {
    name: 'container commands carry their subcommand; unknown ones do not',
    steps: [['q', cmd('client', 'setname', 'app') + cmd('CONFIG', 'GET', 'save') + cmd('CONFIG', 'rd-Secr3t-pw') + cmd('rd-Secr3t-pw', 'x') + cmd('JSON.GET', 'doc', '$')],
      ['r', simple('OK') + array(bulk('save'), bulk('')) + err("ERR unknown subcommand 'rd-Secr3t-pw'. Try CONFIG HELP.") + err("ERR unknown command 'rd-Secr3t-pw', with args beginning with: 'x' ") + bulk('[1]')]],
    expect: ['#0 CLIENT SETNAME/2 → simple-string db=0 resp2 pipelined', '#1 CONFIG GET/2 → array db=0 resp2 pipelined', '#2 CONFIG/1 → error:ERR db=0 resp2 pipelined',
      '#3 _OTHER/1 → error:ERR db=0 resp2 pipelined', '#4 JSON.GET/2 → bulk-string db=0 resp2 pipelined'],
  },
  {
    name: 'CLIENT REPLY OFF / ON / SKIP: unanswered commands are not paired with later replies',
    steps: [['q', cmd('CLIENT', 'REPLY', 'OFF')], ['q', cmd('SET', 'a', '1')], ['q', cmd('CLIENT', 'REPLY', 'ON')], ['r', simple('OK')],
      ['q', cmd('CLIENT', 'REPLY', 'SKIP') + cmd('SET', 'b', '2') + cmd('GET', 'b')], ['r', bulk('2')]],
    expect: ['#0 CLIENT REPLY/2 → (suppressed) db=0 resp2', '#1 SET/2 → (suppressed) db=0 resp2', '#2 CLIENT REPLY/2 → simple-string db=0 resp2',
      '#3 CLIENT REPLY/2 → (suppressed) db=0 resp2', '#4 SET/2 → (suppressed) db=0 resp2', '#5 GET/1 → bulk-string db=0 resp2'],
    stats: { suppressed: 4 },
  },
  {
    name: 'RESET brings back database 0, RESP2, no subscriptions',
    steps: [['q', cmd('HELLO', '3')], ['r', map()], ['q', cmd('SELECT', '7')], ['r', simple('OK')], ['q', cmd('RESET')], ['r', simple('RESET')], ['q', cmd('GET', 'k')], ['r', NULL2]],
    expect: ['#0 HELLO/1 → map db=0 resp3', '#1 SELECT/1 → simple-string db=7 resp3', '#2 RESET/0 → simple-string db=0 resp2', '#3 GET/1 → null db=0 resp2'],
  },
  {
    name: 'MONITOR: its lines are not replies',
    steps: [['q', cmd('MONITOR')], ['r', simple('OK')], ['r', simple('1700000000.1 [0 127.0.0.1:5000] "AUTH" "(redacted)"') + simple('1700000000.2 [0 127.0.0.1:5000] "SET" "k" "v"')],
      ['q', cmd('QUIT')], ['r', simple('OK')], ['close']],
    expect: ['#0 MONITOR/0 → simple-string db=0 resp2', '#1 QUIT/0 → simple-string db=0 resp2'],
    stats: { pushes: 2 },
  },
  {
    name: 'replies before any command (capture began late) are orphans',
    steps: [['r', simple('OK') + bulk('x')], ['q', cmd('PING')], ['r', simple('PONG')]],
    expect: ['#0 PING/0 → simple-string db=0 resp2'],
    stats: { orphanReplies: 2 },
  },
  {
    name: 'close: awaited commands are unanswered; a SUBSCRIBE with some confirmations ends with them',
    steps: [['q', cmd('SUBSCRIBE', 'a', 'b')], ['r', confirmation('subscribe', 'a', 1)], ['close']],
    expect: ['#0 SUBSCRIBE/2 → array db=0 resp2 confirmations=1'],
  },
  {
    name: 'close with commands in flight',
    steps: [['q', cmd('BLPOP', 'q', '0') + cmd('GET', 'k')], ['close']],
    expect: ['#0 BLPOP/2 → (closed) db=0 resp2 pipelined', '#1 GET/1 → (closed) db=0 resp2 pipelined'],
    stats: { unanswered: 2 },
  },
  {
    name: 'a value beyond the capture bound: the gap is stepped over',
    steps: [['q', `*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$40000\r\n${'v'.repeat(16_000)}`], ['gap-q', 24_002], ['r', simple('OK')], ['q', cmd('GET', 'k')],
      ['r', `$40000\r\n${'v'.repeat(16_000)}`], ['gap-r', 24_002], ['q', cmd('PING')], ['r', simple('PONG')]],
    expect: ['#0 SET/2 → simple-string db=0 resp2', '#1 GET/1 → bulk-string db=0 resp2', '#2 PING/0 → simple-string db=0 resp2'],
    stats: { gapsInStep: 2, desyncs: 0 },
  },
  {
    name: 'replies lost in a gap: the awaited commands are lost, the next quiet command pairs again',
    steps: [['q', cmd('GET', 'a') + cmd('GET', 'b') + cmd('GET', 'c')], ['r', bulk('1')], ['gap-r', 50], ['r', 'x\r\n+OK\r\n*3\r\n'],
      ['q', cmd('GET', 'd')], ['r', bulk('4')], ['q', cmd('GET', 'e')], ['r', bulk('5')]],
    // The tail of the lost replies parses as an orphan and an unfinished array; GET d, sent after
    // every reply byte, starts the reply reader afresh.
    expect: ['#0 GET/1 → bulk-string db=0 resp2 pipelined', '#1 GET/1 → (lost) db=0 resp2 pipelined', '#2 GET/1 → (lost) db=0 resp2 pipelined',
      '#3 GET/1 → bulk-string db=0 resp2', '#4 GET/1 → bulk-string db=0 resp2'],
    stats: { lost: 2, desyncs: 1, orphanReplies: 1, requestsDropped: 0 },
  },
  {
    name: 'after a reply gap, a command sent before the rest of a reply came: the leftover is malformed, then quiet',
    steps: [['q', cmd('GET', 'a')], ['gap-r', 50], ['r', '$3\r\nab'], ['q', cmd('GET', 'b')], ['r', 'c\r\n' + bulk('2')], ['q', cmd('GET', 'c')], ['r', bulk('3')]],
    expect: ['#0 GET/1 → (lost) db=0 resp2', '#1 GET/1 → (lost) db=0 resp2', '#2 GET/1 → bulk-string db=0 resp2'],
    stats: { requestsDropped: 0, orphanReplies: 1, parseErrors: 1, desyncs: 2 },
  },
  {
    name: 'commands lost in a gap: commands before it keep their replies; unpaired until quiet',
    steps: [['q', cmd('GET', 'a')], ['gap-q', 100], ['q', cmd('GET', 'b')], ['r', bulk('1') + bulk('lost') + bulk('2')], ['q', cmd('GET', 'c')], ['r', bulk('3')]],
    expect: ['#0 GET/1 → bulk-string db=0 resp2', '#2 GET/1 → bulk-string db=0 resp2'],
    stats: { desyncs: 1, requestsDropped: 1, orphanReplies: 2 },
  },
  {
    name: 'a malformed reply loses the awaited commands',
    steps: [['q', cmd('GET', 'a') + cmd('GET', 'b')], ['r', '@garbage\r\n' + bulk('2')], ['q', cmd('GET', 'c')], ['r', bulk('3')], ['q', cmd('GET', 'd')], ['r', bulk('4')]],
    expect: ['#0 GET/1 → (lost) db=0 resp2 pipelined', '#1 GET/1 → (lost) db=0 resp2 pipelined', '#2 GET/1 → bulk-string db=0 resp2', '#3 GET/1 → bulk-string db=0 resp2'],
    stats: { lost: 2, parseErrors: 1 },
  },
  {
    name: 'too many awaited: the oldest is evicted and its reply, when it comes, dropped',
    conn: { maxOutstanding: 2 },
    steps: [['q', cmd('GET', 'a') + cmd('GET', 'b') + cmd('GET', 'c')], ['r', bulk('1') + bulk('2') + bulk('3')]],
    expect: ['#0 GET/1 → (evicted) db=0 resp2 pipelined', '#1 GET/1 → bulk-string db=0 resp2 pipelined', '#2 GET/1 → bulk-string db=0 resp2 pipelined'],
    stats: { evicted: 1, orphanReplies: 1 },
  },
];

const summarize = (r: Run): string[] => r.exchanges.map(describe);

for (const c of cases) {
  t.test(c.name, async (t) => {
    const whole = play(c.steps, { role: c.role, conn: c.conn });
    t.same(summarize(whole), c.expect, 'exchanges');
    for (const [k, v] of Object.entries(c.stats ?? {})) t.equal(whole.stats[k], v, `stats.${k}`);
    t.equal(whole.stats.internalErrors, 0);
    const longest = Math.max(...c.steps.map((s) => (typeof s[1] === 'string' ? s[1].length : 0)));
    if (longest <= 2000) {
      for (let k = 1; k < longest; k++) {
        const split = summarize(play(c.steps, { split: k, role: c.role, conn: c.conn }));
        if (json(split) !== json(c.expect)) {
          t.same(split, c.expect, `every step split at ${k}`);
          break;
        }
      }
    }
  });
}

t.test('times: a command from its first byte to its reply\'s last', async (t) => {
  const conn = new RedisConnection(connection());
  conn.data('request', Buffer.from(cmd('GET', 'k')), 100n);
  conn.data('response', Buffer.from('$5\r\nhe'), 200n);
  conn.data('response', Buffer.from('llo\r\n'), 300n);
  const [e] = conn.drain();
  t.equal(e?.command.startNs, 100n);
  t.equal(e?.reply?.startNs, 200n);
  t.equal(e?.reply?.endNs, 300n);
  t.equal(e?.reply?.length, 5);
});

t.test('a reply that began before its command is not its reply', async (t) => {
  const conn = new RedisConnection(connection());
  conn.data('request', Buffer.from(cmd('GET', 'k')), 500n);
  conn.data('response', Buffer.from(bulk('old')), 400n);
  conn.data('response', Buffer.from(bulk('new')), 600n);
  const [e] = conn.drain();
  t.equal(e?.reply?.startNs, 600n);
  t.equal(conn.stats().orphanReplies, 1);
});

t.test('no argument is kept: passwords never reach an exchange or a counter', async (t) => {
  const secret = 'rd-Secr3t-pw';
  const r = play([
    ['q', cmd('AUTH', secret)], ['r', simple('OK')], ['q', cmd('AUTH', 'default', secret)], ['r', simple('OK')],
    ['q', cmd('HELLO', '3', 'AUTH', 'default', secret, 'SETNAME', 'x')], ['r', map()], ['q', `AUTH ${secret}\r\n`], ['r', err('WRONGPASS invalid username-password pair')],
    ['q', cmd('ACL', 'SETUSER', 'bob', `>${secret}`)], ['r', simple('OK')], ['q', cmd('CONFIG', 'SET', 'requirepass', secret)], ['r', simple('OK')],
    ['q', cmd(secret)], ['r', err(`ERR unknown command '${secret}', with args beginning with: `)],
  ]);
  t.equal(r.exchanges.length, 7);
  t.notMatch(json(r.exchanges.map((e) => ({ ...e, reply: e.reply === null ? null : { ...e.reply, errorMessage: '' } }))), secret);
  t.notMatch(json(r.stats), secret);
  t.same(r.exchanges.map((e) => e.command.name), ['AUTH', 'AUTH', 'HELLO', 'AUTH', 'ACL SETUSER', 'CONFIG SET', '_OTHER']);
});

t.test('role inference for connections found mid-life', async (t) => {
  const yes = (s: string): boolean => looksLikeRedisRequest(Buffer.from(s, 'latin1'));
  const reply = (s: string): boolean => looksLikeRedisResponse(Buffer.from(s, 'latin1'));
  t.ok(yes(cmd('GET', 'k')), 'a command');
  t.ok(yes(cmd('get', 'k')), 'lower case');
  t.ok(yes('*3\r\n$3\r\nSE'), 'cut before the name ends: the shape decides');
  t.ok(yes('PING\r\n'), 'inline');
  t.notOk(yes(array(bulk('a'), bulk('b'))), 'LRANGE reply: an array of bulk strings that names no command');
  t.notOk(yes('+OK\r\n'));
  t.notOk(yes('hullo world\r\n'), 'not a command');
  for (const r of ['+OK\r\n', '-ERR x\r\n', ':1\r\n', bulk('v'), '$-1\r\n', '*-1\r\n', array(bulk('a')), '_\r\n', '#t\r\n', ',1.5\r\n', '%1\r\n', '~2\r\n', '>3\r\n', '|1\r\n', '!3\r\nERR\r\n', '=7\r\ntxt:abc\r\n', '(123\r\n', '$?\r\n']) {
    t.ok(reply(r), `reply ${JSON.stringify(r.slice(0, 12))}`);
  }
  for (const r of [cmd('SET', 'k', 'v'), 'GET k\r\n', ':x\r\n', '-err lower\r\n', '#x\r\n', 'x', '']) t.notOk(reply(r), `not a reply ${JSON.stringify(r.slice(0, 12))}`);
});
