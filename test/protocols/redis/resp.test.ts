// RespReader: table-driven cases over RESP2 and RESP3 streams as redis-server and clients write
// them (https://github.com/redis/redis-specifications/tree/master/protocol), each also fed split at
// every byte offset and one byte at a time, which must change nothing but times.
import t from 'tap';
import { INLINE, LOST, RespReader, type RespErrorReason, type RespMessage, type RespReaderOptions, type RespReaderStats, type RespSide } from '../../../src/protocols/redis/resp.js';
import { bulk, cmd } from './wire.js';


/** One line per message: type, length, kept parts, text. */
function summary(m: RespMessage): string {
  if (m.type === LOST) return 'LOST';
  const type = m.type === INLINE ? 'inline' : String.fromCharCode(m.type);
  const parts = Array.from(m.parts, (p) => (p === undefined ? '-' : JSON.stringify(p))).join(',');
  return `${type} ${m.length}${parts === '' ? '' : ` [${parts}]`}${m.text === '' ? '' : ` ${JSON.stringify(m.text)}`}`;
}

interface Case {
  name: string;
  side: RespSide;
  stream: string;
  expect: string[];
  opts?: RespReaderOptions;
  stats?: Partial<RespReaderStats>;
  error?: RespErrorReason;
}

const keepAll: RespReaderOptions = { keep: () => true };

const cases: Case[] = [
  // --- commands ---
  { name: 'SET as redis-cli sends it', side: 'request', stream: cmd('SET', 'key', 'value'), expect: ['* 3 ["SET"]'], stats: { parseErrors: 0 } },
  { name: 'pipeline of GETs', side: 'request', stream: cmd('GET', 'a') + cmd('GET', 'b') + cmd('GET', 'c'), expect: ['* 2 ["GET"]', '* 2 ["GET"]', '* 2 ["GET"]'] },
  { name: 'arguments kept only by policy', side: 'request', stream: cmd('SELECT', '2') + cmd('AUTH', 'pw'), opts: { keep: (i, p) => i === 1 && p[0] === 'SELECT' }, expect: ['* 2 ["SELECT","2"]', '* 2 ["AUTH"]'] },
  { name: 'kept bytes are bounded (64)', side: 'request', stream: cmd('X'.repeat(100)), expect: [`* 1 ["${'X'.repeat(64)}"]`] },
  { name: 'binary-safe values with CRLF inside', side: 'request', stream: cmd('SET', 'k', 'a\r\n*1\r\n$4\r\nPING\r\n'), expect: ['* 3 ["SET"]'] },
  { name: 'empty bulk argument', side: 'request', stream: cmd('SET', 'k', ''), expect: ['* 3 ["SET"]'] },
  { name: 'empty and null arrays are no command', side: 'request', stream: `*0\r\n*-1\r\n${cmd('PING')}`, expect: ['* 1 ["PING"]'] },
  { name: 'inline command', side: 'request', stream: 'PING\r\n', expect: ['inline 1 ["PING"]'], stats: { inline: 1 } },
  { name: 'inline with LF only and extra spaces', side: 'request', stream: '  SET   k  v \n', expect: ['inline 3 ["SET"]'] },
  { name: 'inline quoted arguments', side: 'request', stream: 'SET "a b" \'c\\\'d\' "e\\"f"\r\n', opts: keepAll, expect: ['inline 4 ["SET","a b","c\'d","e\\"f"]'] },
  { name: 'empty inline lines are skipped', side: 'request', stream: '\r\n\n  \r\nPING\r\n', expect: ['inline 1 ["PING"]'] },
  { name: 'inline then RESP', side: 'request', stream: `PING\r\n${cmd('GET', 'x')}`, expect: ['inline 1 ["PING"]', '* 2 ["GET"]'] },
  { name: 'unbalanced quotes: error, then the next command', side: 'request', stream: `SET "a b\r\n${cmd('GET', 'x')}`, expect: ['LOST', '* 2 ["GET"]'], error: 'unbalanced-quotes', stats: { parseErrors: 1, resyncs: 1 } },
  { name: 'closing quote not followed by space', side: 'request', stream: `SET "a"b\r\n${cmd('PING')}`, expect: ['LOST', '* 1 ["PING"]'], error: 'unbalanced-quotes' },
  { name: 'nested array in a command', side: 'request', stream: `*2\r\n*1\r\n$1\r\na\r\n${cmd('PING')}`, expect: ['LOST', '* 1 ["PING"]'], error: 'bad-command', stats: { parseErrors: 1, resyncs: 1 } },
  { name: 'integer in a command', side: 'request', stream: `*2\r\n$3\r\nGET\r\n:1\r\n${cmd('PING')}`, expect: ['LOST', '* 1 ["PING"]'], error: 'bad-command' },
  { name: 'bad bulk length', side: 'request', stream: `*1\r\n$x\r\nPING\r\n${cmd('PING')}`, expect: ['LOST', '* 1 ["PING"]'], error: 'bad-length' },
  { name: 'bulk body not followed by CRLF', side: 'request', stream: `*1\r\n$4\r\nPINGX\r\n${cmd('PING')}`, expect: ['LOST', '* 1 ["PING"]'], error: 'bad-terminator' },
  { name: 'header line too long', side: 'request', stream: `*${'1'.repeat(80)}\r\n${cmd('PING')}`, expect: ['LOST', '* 1 ["PING"]'], error: 'line-too-long' },
  { name: 'array length above 2^32', side: 'request', stream: `*99999999999\r\n${cmd('PING')}`, expect: ['LOST', '* 1 ["PING"]'], error: 'length-too-large' },
  { name: 'bulk length above 2^40', side: 'request', stream: `*1\r\n$9999999999999\r\n${cmd('PING')}`, expect: ['LOST', '* 1 ["PING"]'], error: 'length-too-large' },
  { name: 'inline line beyond 64 KiB', side: 'request', stream: `SET ${'x'.repeat(70_000)}\r\n${cmd('PING')}`, expect: ['LOST', '* 1 ["PING"]'], error: 'inline-too-long' },

  // --- RESP2 replies ---
  { name: 'simple string', side: 'response', stream: '+OK\r\n', expect: ['+ 0 "OK"'] },
  { name: 'error', side: 'response', stream: '-WRONGTYPE Operation against a key holding the wrong kind of value\r\n', expect: ['- 0 "WRONGTYPE Operation against a key holding the wrong kind of value"'] },
  { name: 'error text bounded (128)', side: 'response', stream: `-ERR ${'e'.repeat(300)}\r\n`, expect: [`- 0 "ERR ${'e'.repeat(124)}"`] },
  { name: 'integers', side: 'response', stream: ':0\r\n:-12\r\n:9223372036854775807\r\n', expect: [': 0', ': 0', ': 0'] },
  { name: 'bulk and null bulk', side: 'response', stream: `${bulk('hello')}$-1\r\n$0\r\n\r\n`, expect: ['$ 5', '$ -1', '$ 0'] },
  { name: 'array of bulk strings (LRANGE)', side: 'response', stream: `*3\r\n${bulk('a')}${bulk('b')}${bulk('c')}`, expect: ['* 3 ["a"]'] },
  { name: 'null array, empty array', side: 'response', stream: '*-1\r\n*0\r\n', expect: ['* -1', '* 0'] },
  { name: 'nested arrays (XRANGE)', side: 'response', stream: `*1\r\n*2\r\n${bulk('1-0')}*2\r\n${bulk('f')}${bulk('v')}`, expect: ['* 1'] },
  { name: 'pub/sub message (RESP2)', side: 'response', stream: `*3\r\n${bulk('message')}${bulk('ch')}${bulk('hi')}`, expect: ['* 3 ["message"]'] },
  { name: 'subscribe confirmation keeps the count by policy', side: 'response', stream: `*3\r\n${bulk('subscribe')}${bulk('ch')}:1\r\n`, opts: { keep: (i) => i === 2 }, expect: ['* 3 ["subscribe",-,"1"]'] },
  { name: 'MONITOR line', side: 'response', stream: '+1700000000.123 [0 127.0.0.1:5000] "SET" "k" "v"\r\n', expect: ['+ 0 "1700000000.123 [0 127.0.0.1:5000] \\"SET\\" \\"k\\" \\"v\\""'] },

  // --- RESP3 replies ---
  { name: 'RESP3 scalars', side: 'response', stream: '_\r\n,3.14\r\n,-inf\r\n,1e10\r\n#t\r\n#f\r\n(3492890328409238509324850943850943825024385\r\n', expect: ['_ 0', ', 0', ', 0', ', 0', '# 0', '# 0', '( 0'] },
  { name: 'blob error', side: 'response', stream: '!21\r\nSYNTAX invalid syntax\r\n', expect: ['! 21 "SYNTAX invalid syntax"'] },
  { name: 'verbatim string', side: 'response', stream: '=15\r\ntxt:Some string\r\n', expect: ['= 15'] },
  { name: 'map (HELLO 3)', side: 'response', stream: `%2\r\n${bulk('server')}${bulk('redis')}${bulk('proto')}:3\r\n`, expect: ['% 2 ["server"]'] },
  { name: 'set', side: 'response', stream: '~3\r\n+orange\r\n+apple\r\n#t\r\n', expect: ['~ 3 ["orange"]'] },
  { name: 'push', side: 'response', stream: `>3\r\n${bulk('message')}${bulk('ch')}${bulk('hi')}`, expect: ['> 3 ["message"]'] },
  { name: 'attribute before a reply is not a value', side: 'response', stream: `|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n*2\r\n:2039123\r\n:9543892\r\n`, expect: ['* 2 ["2039123"]'], stats: { attributes: 1 } },
  { name: 'attribute inside an aggregate', side: 'response', stream: '*2\r\n:1\r\n|1\r\n+ttl\r\n:3600\r\n:2\r\n', expect: ['* 2 ["1"]'], stats: { attributes: 1 } },
  { name: 'streamed string', side: 'response', stream: '$?\r\n;4\r\nHell\r\n;5\r\no wor\r\n;1\r\nd\r\n;0\r\n+OK\r\n', expect: ['$ 10', '+ 0 "OK"'] },
  { name: 'streamed aggregates', side: 'response', stream: '*?\r\n:1\r\n:2\r\n:3\r\n.\r\n%?\r\n+a\r\n:1\r\n.\r\n~?\r\n.\r\n', expect: ['* 3 ["1"]', '% 2 ["a"]', '~ 0'] },
  { name: 'streamed string inside a streamed aggregate', side: 'response', stream: '*?\r\n$?\r\n;2\r\nab\r\n;0\r\n.\r\n', expect: ['* 1'] },
  { name: 'deep nesting within the bound', side: 'response', stream: `${'*1\r\n'.repeat(64)}:1\r\n`, expect: ['* 1'] },
  { name: 'nesting beyond the bound', side: 'response', stream: `${'*1\r\n'.repeat(65)}:1\r\n+OK\r\n`, expect: ['LOST', ': 0', '+ 0 "OK"'], error: 'too-deep' },
  { name: 'unknown type byte', side: 'response', stream: '@what\r\n+OK\r\n', expect: ['LOST', '+ 0 "OK"'], error: 'bad-type', stats: { parseErrors: 1 } },
  { name: 'bad integer', side: 'response', stream: ':12a\r\n+OK\r\n', expect: ['LOST', '+ 0 "OK"'], error: 'bad-line' },
  { name: 'bad boolean', side: 'response', stream: '#x\r\n+OK\r\n', expect: ['LOST', '+ 0 "OK"'], error: 'bad-line' },
  { name: 'bad double', side: 'response', stream: ',1.2.3\r\n+OK\r\n', expect: ['LOST', '+ 0 "OK"'], error: 'bad-line' },
  { name: 'CR without LF', side: 'response', stream: '+OK\rX\r\n+OK\r\n', expect: ['LOST', '+ 0 "OK"'], error: 'bad-terminator' },
  { name: '"." outside a streamed aggregate', side: 'response', stream: '*1\r\n.\r\n+OK\r\n', expect: ['LOST', '+ 0 "OK"'], error: 'bad-type' },
  { name: 'negative map length', side: 'response', stream: '%-1\r\n+OK\r\n', expect: ['LOST', '+ 0 "OK"'], error: 'bad-length' },
];

function feedAll(r: RespReader, chunks: string[], t0 = 1n): RespMessage[] {
  let time = t0;
  const out: RespMessage[] = [];
  for (const c of chunks) {
    r.feed(Buffer.from(c, 'latin1'), time++);
    out.push(...r.take());
  }
  return out;
}

for (const c of cases) {
  t.test(c.name, async (t) => {
    const whole = new RespReader(c.side, c.opts);
    const got = feedAll(whole, [c.stream]);
    t.same(got.map(summary), c.expect, 'whole stream');
    const st = whole.stats();
    if (c.stats) for (const [k, v] of Object.entries(c.stats)) t.equal(st[k as keyof RespReaderStats], v, `stats.${k}`);
    t.equal(st.internalErrors, 0, 'no internal error');
    if (c.error !== undefined) t.equal(whole.lastError()?.reason, c.error, 'error reason');
    else t.equal(st.parseErrors, 0, 'no parse error');
    // Split at every offset (two syscalls) and one byte at a time: the same messages.
    if (c.stream.length <= 2000) {
      for (let k = 1; k < c.stream.length; k++) {
        const r = new RespReader(c.side, c.opts);
        const split = feedAll(r, [c.stream.slice(0, k), c.stream.slice(k)]).map(summary);
        if (JSON.stringify(split) !== JSON.stringify(c.expect)) {
          t.same(split, c.expect, `split at ${k}`);
          break;
        }
      }
      const bytes = new RespReader(c.side, c.opts);
      t.same(feedAll(bytes, [...c.stream]).map(summary), c.expect, 'one byte at a time');
    }
  });
}

t.test('times: first byte\'s and last byte\'s syscalls', async (t) => {
  const r = new RespReader('response');
  r.feed(Buffer.from('*2\r\n$3\r\nfoo'), 10n);
  t.same(r.take(), []);
  r.feed(Buffer.from('\r\n:1\r\n+OK'), 20n);
  const [m] = r.take();
  t.equal(m?.startNs, 10n);
  t.equal(m?.endNs, 20n);
  r.feed(Buffer.from('\r\n'), 30n);
  const [ok] = r.take();
  t.equal(ok?.startNs, 20n);
  t.equal(ok?.endNs, 30n);
});

t.test('a gap inside a bulk body is stepped over', async (t) => {
  const value = 'v'.repeat(40_000);
  const stream = cmd('SET', 'k', value) + cmd('GET', 'k');
  const cut = stream.indexOf(value) + 16_000;
  const r = new RespReader('request');
  r.feed(Buffer.from(stream.slice(0, cut), 'latin1'), 1n);
  t.ok(r.skip(24_000, 2n), 'in step');
  r.feed(Buffer.from(stream.slice(cut + 24_000), 'latin1'), 3n);
  t.same(r.take().map(summary), ['* 3 ["SET"]', '* 2 ["GET"]']);
  t.equal(r.stats().gapsInStep, 1);
  // The gap may also swallow the body's CRLF.
  const r2 = new RespReader('response');
  r2.feed(Buffer.from('$10\r\n01234'), 1n);
  t.ok(r2.skip(7, 2n));
  r2.feed(Buffer.from('+OK\r\n'), 3n);
  t.same(r2.take().map(summary), ['$ 10', '+ 0 "OK"']);
  const r3 = new RespReader('response');
  r3.feed(Buffer.from('$10\r\n01234'), 1n);
  t.ok(r3.skip(6, 2n), 'up to the CR');
  r3.feed(Buffer.from('\n+OK\r\n'), 3n);
  t.same(r3.take().map(summary), ['$ 10', '+ 0 "OK"']);
});

t.test('a gap elsewhere loses the place: resync at the next chunk', async (t) => {
  const r = new RespReader('response');
  r.feed(Buffer.from('+OK\r\n$10\r\n01234'), 1n);
  t.notOk(r.skip(100, 2n), 'beyond the body: out of step');
  t.ok(r.resyncing);
  r.feed(Buffer.from('ab\r\n:1\r\n'), 3n); // the middle of something: not a type byte; after its LF, one
  r.feed(Buffer.from(':2\r\n'), 4n);
  t.same(r.take().map(summary), ['+ 0 "OK"', 'LOST', ': 0', ': 0']);
  const st = r.stats();
  t.equal(st.truncated, 1, 'the bulk in progress');
  t.equal(st.resyncs, 1);
  t.equal(st.parseErrors, 0, 'a gap is not a parse error');
  t.notOk(r.resyncing);

  const q = new RespReader('request');
  q.feed(Buffer.from(cmd('SET', 'k', 'v').slice(0, 6)), 1n);
  q.reset();
  // Commands found after a newline, inside a chunk.
  q.feed(Buffer.from(`lue\r\n${cmd('GET', 'a')}${cmd('GET', 'b')}`), 2n);
  t.same(q.take().map(summary), ['LOST', '* 2 ["GET"]', '* 2 ["GET"]']);
  t.equal(q.stats().resyncs, 1);
});

t.test('a resync candidate that fails is a miss, not a parse error', async (t) => {
  const r = new RespReader('request');
  r.reset();
  r.feed(Buffer.from('x\r\n*1\r\n:5\r\n'), 1n);
  r.feed(Buffer.from(cmd('PING')), 2n);
  t.same(r.take().map(summary), ['LOST', '* 1 ["PING"]'], 'one marker: where the place was lost');
  t.equal(r.stats().resyncMisses, 1);
  t.equal(r.stats().parseErrors, 0);
});

t.test('finish drops what is unfinished and ignores later bytes', async (t) => {
  const r = new RespReader('response');
  r.feed(Buffer.from('*2\r\n:1\r\n'), 1n);
  r.finish();
  r.feed(Buffer.from(':2\r\n+OK\r\n'), 2n);
  t.same(r.take(), []);
  t.equal(r.stats().truncated, 1);
  t.notOk(r.inStep);
});

t.test('huge announced lengths cost nothing until bytes come', async (t) => {
  const r = new RespReader('response');
  r.feed(Buffer.from(`*4294967295\r\n$1099511627776\r\n${'x'.repeat(1000)}`), 1n);
  t.same(r.take(), []);
  t.equal(r.openAggregates, 1);
  t.equal(r.stats().parseErrors, 0);
  t.notOk(r.inStep);
});
