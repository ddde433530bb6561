// Property tests with a seeded PRNG (xorshift32; a failure names its seed). Whatever arrives —
// random bytes, RESP-looking soup, valid conversations cut anywhere, truncated, mutated, nested
// deeper than allowed or announcing absurd lengths — no exception escapes (the last-resort guard
// never fires), what is held stays bounded, every command parsed is accounted for, and the
// exchanges never depend on where the chunks were cut.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import t, { type Test } from 'tap';
import type { RedisExchange } from '../../../src/model/redis.js';
import { RedisConnection } from '../../../src/protocols/redis/connection.js';
import { MAX_PART, MAX_TEXT, RespReader, type RespSide } from '../../../src/protocols/redis/resp.js';
import { bulk, cmd, connection, describe, json } from './wire.js';
import { XorShift32 } from '../../helpers/prng.js';

const SEEDS = Array.from({ length: 40 }, (_, i) => 0x7ed15000 + i * 7919);
const MAX_OUTSTANDING = 64;

// --- valid conversations -------------------------------------------------------------------------

const COMMANDS = ['GET', 'SET', 'DEL', 'INCR', 'LPUSH', 'LRANGE', 'HSET', 'HGETALL', 'EXPIRE', 'PING', 'ECHO', 'MGET', 'ZADD', 'XADD', 'EVAL'];

function value(r: XorShift32): string {
  switch (r.int(4)) {
    case 0: return '';
    case 1: return r.latin1(r.int(40)); // binary, CRLF and RESP bytes included
    case 2: return cmd('SET', 'k', 'v'); // a command inside a value
    default: return 'x'.repeat(r.int(3000));
  }
}

function command(r: XorShift32): string {
  const name = r.pick(COMMANDS);
  const args = Array.from({ length: r.int(6) }, () => value(r));
  if (r.chance(0.1)) return `${name.toLowerCase()} ${args.map((_, i) => `a${i}`).join(' ')}\r\n`; // inline
  return cmd(r.chance(0.3) ? name.toLowerCase() : name, ...args);
}

/** A RESP2/RESP3 value of any type (no top-level push: pushes are added apart). */
function reply(r: XorShift32, depth = 0): string {
  const kind = r.int(depth > 3 ? 11 : 17);
  switch (kind) {
    case 0: return `+${r.pick(['OK', 'PONG', 'QUEUED', 'a b c'])}\r\n`;
    case 1: return `-${r.pick(['ERR bad', 'WRONGTYPE Operation against a key', 'NOSCRIPT x', 'ERR'])}\r\n`;
    case 2: return `:${r.int(2 ** 31) - 2 ** 30}\r\n`;
    case 3: return bulk(value(r));
    case 4: return r.pick(['$-1\r\n', '*-1\r\n', '_\r\n']);
    case 5: return r.pick([',3.14\r\n', ',-inf\r\n', ',1e-7\r\n', '#t\r\n', '#f\r\n', '(12345678901234567890123\r\n']);
    case 6: { const v = r.latin1(r.int(30)); return `!${v.length}\r\n${v}\r\n`; }
    case 7: { const v = `txt:${r.latin1(r.int(30))}`; return `=${v.length}\r\n${v}\r\n`; }
    case 8: { const parts = Array.from({ length: r.int(4) }, () => r.latin1(1 + r.int(10))); return `$?\r\n${parts.map((p) => `;${p.length}\r\n${p}\r\n`).join('')};0\r\n`; }
    case 9: return '*0\r\n';
    case 10: return '%0\r\n';
    default: {
      const n = r.int(5);
      const type = r.pick(['*', '~', '%', '*?', '%?']);
      const items = Array.from({ length: n }, () => (type.startsWith('%') ? `+k\r\n${reply(r, depth + 1)}` : reply(r, depth + 1)));
      if (n > 0 && r.chance(0.2)) items.splice(r.int(n), 0, `|1\r\n+ttl\r\n:${r.int(100)}\r\n`); // an attribute before an element
      if (type === '%') return `%${n}\r\n${items.join('')}`;
      if (type === '%?') return `%?\r\n${items.join('')}.\r\n`;
      if (type === '*?') return `*?\r\n${items.join('')}.\r\n`;
      return `${type}${n}\r\n${items.join('')}`;
    }
  }
}

interface Conversation {
  /** Batches: commands written together, then their replies (with pushes between). */
  batches: Array<{ commands: string; replies: string; count: number }>;
  commands: number;
  pushes: number;
}

function conversation(r: XorShift32): Conversation {
  const batches: Conversation['batches'] = [];
  let commands = 0;
  let pushes = 0;
  for (let b = 1 + r.int(8); b > 0; b--) {
    const count = 1 + (r.chance(0.4) ? r.int(16) : 0);
    let q = '';
    let a = '';
    for (let i = 0; i < count; i++) {
      q += command(r);
      if (r.chance(0.1)) {
        a += `>3\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n_\r\n`; // RESP3 client-side caching push
        pushes++;
      }
      a += r.chance(0.05) ? `|1\r\n+key-popularity\r\n,0.5\r\n${reply(r)}` : reply(r);
    }
    if (r.chance(0.2)) q += '\r\n'; // an empty inline line: nothing
    batches.push({ commands: q, replies: a, count });
    commands += count;
  }
  return { batches, commands, pushes };
}

/** Cuts `s` into random pieces (at most 5 per string, as syscalls and kernel pieces would). */
function cut(r: XorShift32, s: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < s.length) {
    const n = r.chance(0.3) ? s.length - i : 1 + r.int(Math.max(1, s.length - i));
    out.push(s.slice(i, i + n));
    i += n;
  }
  return out;
}

function playConversation(c: Conversation, r: XorShift32 | null, role: 'client' | 'server' = 'client'): { exchanges: RedisExchange[]; conn: RedisConnection } {
  const conn = new RedisConnection(connection(role), { maxOutstanding: MAX_OUTSTANDING });
  let time = 1n;
  const exchanges: RedisExchange[] = [];
  for (const b of c.batches) {
    for (const piece of r === null ? [b.commands] : cut(r, b.commands)) conn.data('request', Buffer.from(piece, 'latin1'), time++);
    for (const piece of r === null ? [b.replies] : cut(r, b.replies)) conn.data('response', Buffer.from(piece, 'latin1'), time++);
    exchanges.push(...conn.drain());
  }
  conn.close(time);
  exchanges.push(...conn.drain());
  return { exchanges, conn };
}

const shape = (xs: RedisExchange[]): string[] => xs.map(describe);

t.test('valid conversations: every command paired, whatever the cuts', async (t) => {
  for (const seed of SEEDS) {
    const r = new XorShift32(seed);
    const c = conversation(r);
    const whole = playConversation(c, null);
    const st = whole.conn.stats();
    if (whole.exchanges.length !== c.commands || st.parseErrors !== 0 || st.orphanReplies !== 0 || whole.exchanges.some((e) => e.reply === null)) {
      t.fail(`seed ${seed}: ${whole.exchanges.length} exchanges of ${c.commands}, ${st.parseErrors} parse errors, ${st.orphanReplies} orphans`);
      continue;
    }
    t.equal(st.pushes, c.pushes, `seed ${seed}: pushes counted`);
    for (let k = 0; k < 3; k++) {
      const split = playConversation(c, r);
      if (json(shape(split.exchanges)) !== json(shape(whole.exchanges))) t.same(shape(split.exchanges), shape(whole.exchanges), `seed ${seed}: cut ${k}`);
    }
    const server = playConversation(c, r, 'server');
    t.equal(server.exchanges.length, c.commands, `seed ${seed}: the server's side too`);
  }
});

t.test('truncated conversations: no exception, every parsed command accounted for', async (t) => {
  for (const seed of SEEDS) {
    const r = new XorShift32(seed ^ 0x55);
    const c = conversation(r);
    const stream: Array<['request' | 'response', string]> = c.batches.flatMap((b) => [['request', b.commands], ['response', b.replies]] as Array<['request' | 'response', string]>);
    const total = stream.reduce((n, [, s]) => n + s.length, 0);
    let stop = r.int(total);
    const conn = new RedisConnection(connection(), { maxOutstanding: MAX_OUTSTANDING });
    let time = 1n;
    for (const [side, s] of stream) {
      if (stop <= 0) break;
      conn.data(side, Buffer.from(s.slice(0, stop), 'latin1'), time++);
      stop -= s.length;
    }
    conn.close(time);
    const exchanges = conn.drain();
    const st = conn.stats();
    t.equal(st.internalErrors, 0, `seed ${seed}`);
    t.equal(exchanges.length, st.commands! - st.requestsDropped!, `seed ${seed}: reported = parsed - dropped`);
    t.ok(exchanges.length <= c.commands, `seed ${seed}`);
  }
});

function soup(r: XorShift32, n: number): string {
  const tokens = ['*', '$', '+', '-', ':', '%', '~', '>', '|', '_', ',', '#', '(', '!', '=', ';', '.', '?', '\r\n', '\r', '\n', '-1', '0', '1', '3', '12',
    '99999999999999', 'OK', 'GET', 'subscribe', 'message', ' ', '"', "'", '\\'];
  let s = '';
  while (s.length < n) s += r.chance(0.1) ? r.latin1(1 + r.int(8)) : r.pick(tokens);
  return s;
}

function assertBounded(t: Test, conn: RedisConnection, seed: number): void {
  const st = conn.stats();
  t.equal(st.internalErrors, 0, `seed ${seed}: no internal error`);
  t.ok(conn.outstanding <= MAX_OUTSTANDING, `seed ${seed}: outstanding bounded (${conn.outstanding})`);
}

t.test('random bytes and RESP soup, both sides: no exception, bounded', async (t) => {
  for (const seed of SEEDS) {
    const r = new XorShift32(seed ^ 0xabc);
    const conn = new RedisConnection(connection(), { maxOutstanding: MAX_OUTSTANDING });
    let time = 1n;
    for (let i = 0; i < 60; i++) {
      const side = r.chance(0.5) ? 'request' : 'response';
      const data = r.chance(0.5) ? r.latin1(1 + r.int(3000)) : soup(r, 1 + r.int(3000));
      conn.data(side, Buffer.from(data, 'latin1'), time++);
      if (r.chance(0.1)) conn.gap(side, 1 + r.int(20_000), time++);
      for (const e of conn.drain()) {
        if (e.command.name.length > 32 + 1 + 32) t.fail(`seed ${seed}: command name unbounded`);
      }
    }
    assertBounded(t, conn, seed);
    conn.close(time);
    const left = conn.drain();
    t.equal(conn.outstanding, 0, `seed ${seed}: nothing left after close (${left.length} reported)`);
  }
});

t.test('readers: what is kept per message is bounded', async (t) => {
  for (const seed of SEEDS.slice(0, 20)) {
    for (const side of ['request', 'response'] as RespSide[]) {
      const r = new XorShift32(seed ^ (side === 'request' ? 1 : 2));
      const reader = new RespReader(side, { keep: () => true });
      for (let i = 0; i < 40; i++) {
        reader.feed(Buffer.from(soup(r, 1 + r.int(2000)), 'latin1'), BigInt(i));
        for (const m of reader.take()) {
          if (m.parts.length > 8 || m.parts.some((p) => p !== undefined && p.length > MAX_PART) || m.text.length > MAX_TEXT) t.fail(`seed ${seed}: kept too much`);
        }
        if (reader.openAggregates > 64) t.fail(`seed ${seed}: nesting unbounded`);
      }
      t.equal(reader.stats().internalErrors, 0, `seed ${seed} ${side}`);
    }
  }
});

t.test('mutated conversations: no exception; a quiet command afterwards pairs again', async (t) => {
  let recovered = 0;
  for (const seed of SEEDS) {
    const r = new XorShift32(seed ^ 0x1234);
    const c = conversation(r);
    for (const b of c.batches) {
      for (const key of ['commands', 'replies'] as const) {
        let s = b[key];
        for (let k = 1 + r.int(3); k > 0 && s.length > 0; k--) {
          const at = r.int(s.length);
          s = s.slice(0, at) + String.fromCharCode(r.next() & 0xff) + s.slice(at + (r.chance(0.3) ? 0 : 1));
        }
        b[key] = s;
      }
    }
    // Then a quiet tail: each PING sent after the previous reply.
    c.batches.push(...Array.from({ length: 4 }, () => ({ commands: cmd('PING'), replies: '+PONG\r\n', count: 1 })));
    const { exchanges, conn } = playConversation(c, r);
    const st = conn.stats();
    t.equal(st.internalErrors, 0, `seed ${seed}`);
    t.equal(exchanges.length, st.commands! - st.requestsDropped!, `seed ${seed}: every parsed command accounted for`);
    const last = exchanges[exchanges.length - 1];
    if (last !== undefined && last.command.name === 'PING' && last.reply?.type === 'simple-string') recovered++;
  }
  // A mutated length can swallow the rest ("$5" → "$9999…"): not every stream can recover.
  t.ok(recovered >= SEEDS.length * 0.6, `recovered in ${recovered} of ${SEEDS.length}`);
});

t.test('deep nesting and absurd lengths', async (t) => {
  const deep = new RespReader('response');
  deep.feed(Buffer.from('*1\r\n'.repeat(100_000)), 1n);
  t.ok(deep.openAggregates <= 64, 'nesting bounded');
  t.equal(deep.lastError()?.reason, 'too-deep');
  deep.feed(Buffer.from('\r\n+OK\r\n'), 2n);
  t.same(deep.take().filter((m) => m.type !== -1).map((m) => m.text), ['OK'], 'and on afterwards');

  const huge = new RedisConnection(connection());
  huge.data('request', Buffer.from(cmd('GET', 'k')), 1n);
  huge.data('response', Buffer.from('$1099511627775\r\n'), 2n);
  for (let i = 0; i < 200; i++) huge.data('response', Buffer.alloc(65536, 0x61), BigInt(3 + i));
  huge.gap('response', 1_000_000, 500n);
  t.equal(huge.stats().internalErrors, 0);
  t.equal(huge.outstanding, 1, 'still reading that body: nothing paired yet');
  for (const big of ['*99999999999999999999\r\n', '$-2\r\n', '*-5\r\n', ':99999999999999999999999\r\n', `(${'9'.repeat(5000)}\r\n`, `+${'x'.repeat(5 * 1024 * 1024)}\r\n`]) {
    const rd = new RespReader('response');
    rd.feed(Buffer.from(big + '+OK\r\n'), 1n);
    t.ok(rd.stats().parseErrors >= 1, `${JSON.stringify(big.slice(0, 12))}: refused`);
    t.equal(rd.stats().internalErrors, 0);
  }
});

t.test('memory: megabytes of soup leave nothing behind', async (t) => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const r = new XorShift32(0xfeed);
  const chunks = Array.from({ length: 64 }, () => Buffer.from(r.chance(0.5) ? soup(r, 64 * 1024) : r.latin1(64 * 1024), 'latin1'));
  const conn = new RedisConnection(connection(), { maxOutstanding: MAX_OUTSTANDING });
  gc();
  const before = process.memoryUsage().heapUsed;
  let time = 1n;
  for (let round = 0; round < 4; round++) {
    for (const c of chunks) {
      conn.data(r.chance(0.5) ? 'request' : 'response', c, time++);
      conn.drain();
    }
  }
  gc();
  const grown = process.memoryUsage().heapUsed - before;
  t.ok(grown < 8 * 1024 * 1024, `heap grew ${Math.round(grown / 1024)} KiB after 16 MiB`);
  t.equal(conn.stats().internalErrors, 0);
});
