// SpanTagIndex: thread tags (connection generation, time of the read that began a request) → the
// server span that read began, for every protocol; HTTP/2 reads inside an open stream; the 32-bit
// wrap of the microsecond clock; expiry; route and method labels.
import t from 'tap';
import { MATCH_US, SHORT_US, SpanTagIndex, spanTag } from '../../src/agent/span-tags.js';
import type { Exchange } from '../../src/model/exchange.js';
import type { SpanRecord } from '../../src/model/span.js';
import { joinAsChild, traceIdFromHex } from '../../src/model/span-ids.js';
import { withIds } from '../helpers/span-ids.js';

const OFFSET = 1_700_000_000_000_000_000n; // wall − monotonic

function exchange(generation: number, pid = 10): Exchange {
  const a = { address: '127.0.0.1', port: 8080 };
  const b = { address: '127.0.0.1', port: 40000 };
  return {
    protocol: 'redis',
    connection: { pid, fd: 5, generation, role: 'server', family: 'ipv4', transport: 'tcp', local: a, remote: b },
  } as unknown as Exchange;
}

let n = 0;
/** A server span from `startUs` to `endUs` (monotonic µs). */
function span(startUs: number, endUs: number, attributes: Record<string, string> = {}, kind: SpanRecord['kind'] = 'server'): SpanRecord {
  n++;
  return withIds({
    traceId: `${'a'.repeat(16)}${n.toString(16).padStart(16, '0')}`, spanId: n.toString(16).padStart(16, '0'), name: `op ${n}`, kind,
    startTimeUnixNano: OFFSET + BigInt(startUs) * 1000n, endTimeUnixNano: OFFSET + BigInt(endUs) * 1000n,
    attributes, status: { code: 'unset' }, resource: { key: 'k', attributes: {} },
  });
}

t.test('a tag resolves to the span its read began, on its connection only', async (t) => {
  const idx = new SpanTagIndex({ clockOffsetNs: OFFSET });
  const base = 5_000_000_000; // µs since boot
  // Back-to-back requests 30 µs apart on one connection (a fast Redis client), another connection beside.
  const spans = [0, 1, 2, 3].map((i) => span(base + i * 60, base + i * 60 + 30, i === 2 ? { 'http.route': '/users/{id}' } : {}));
  for (const s of spans) idx.note(exchange(7), s);
  const other = span(base + 60, base + 90);
  idx.note(exchange(8), other);
  for (const [i, s] of spans.entries()) {
    // The tag is taken a few µs before the event that times the span's start.
    t.equal(idx.resolve(10, spanTag(7, base + i * 60 - 3))?.spanId, s.spanId, `request ${i}`);
  }
  t.equal(idx.resolve(10, spanTag(8, base + 57))?.spanId, other.spanId, 'the other connection');
  t.same(idx.resolve(10, spanTag(7, base + 120)), { traceId: spans[2]!.traceId, spanId: spans[2]!.spanId, spanName: 'op 3', httpRoute: '/users/{id}' });
  t.equal(idx.resolve(11, spanTag(7, base)), undefined, 'another pid');
  t.equal(idx.resolve(10, spanTag(7, base - 10 * MATCH_US)), undefined, 'a read that began no span (a login) resolves to nothing');
  t.equal(idx.resolve(10, spanTag(7, base + 10_000)), undefined, 'nor one after every span ended');
});

t.test('a read just after a span ended is not that span\'s: the next request, not yet built, waits for its own', async (t) => {
  const idx = new SpanTagIndex({ clockOffsetNs: OFFSET });
  const base = 6_000_000_000;
  // Unary gRPC calls one after another on one HTTP/2 connection: the next call's HEADERS are read
  // 200 µs after the previous call ended, and its handler runs 500 ms before its span is built.
  const first = span(base, base + 500_000);
  idx.note(exchange(9), first);
  const nextRead = base + 500_200;
  t.equal(idx.resolve(10, spanTag(9, nextRead)), undefined, 'unresolved while the next call runs (the builder waits for it)');
  const next = span(nextRead + 3, nextRead + 500_000);
  idx.note(exchange(9), next);
  t.equal(idx.resolve(10, spanTag(9, nextRead))?.spanId, next.spanId, 'its own span once built');
});

t.test('a request read right after the previous exchange is not that exchange\'s, though it started within MATCH_US', async (t) => {
  const idx = new SpanTagIndex({ clockOffsetNs: OFFSET });
  const base = 7_000_000_000;
  // redis-cli: AUTH answered in 80 µs, EVAL read 300 µs after AUTH's read; the script runs for a
  // second, and a drain resolves its samples before its span is built.
  const auth = span(base, base + 80);
  idx.note(exchange(4), auth);
  const evalRead = base + 300;
  t.ok(evalRead - base < MATCH_US, 'the AUTH began within MATCH_US of the EVAL\'s read');
  t.equal(idx.resolve(10, spanTag(4, evalRead)), undefined, 'unresolved while the EVAL runs (the builder waits for it)');
  t.equal(idx.resolve(10, spanTag(4, base - 3))?.spanId, auth.spanId, 'the AUTH\'s own tag still finds it');
  const evalSpan = span(evalRead + 3, evalRead + 1_000_000);
  idx.note(exchange(4), evalSpan);
  t.equal(idx.resolve(10, spanTag(4, evalRead))?.spanId, evalSpan.spanId, 'its own span once built');
});

t.test('HTTP/2: a read inside open streams stands for the latest one open', async (t) => {
  const idx = new SpanTagIndex({ clockOffsetNs: OFFSET });
  const base = 9_000_000;
  const s1 = span(base, base + 50_000, { 'rpc.method': 'Echo' });
  const s3 = span(base + 10_000, base + 20_000, { 'rpc.method': 'Burn' });
  idx.note(exchange(3), s3); // completes first
  idx.note(exchange(3), s1);
  t.same(idx.resolve(10, spanTag(3, base + 15_000))?.rpcMethod, 'Burn', 'both open: the later stream');
  t.equal(idx.resolve(10, spanTag(3, base + 30_000))?.spanId, s1.spanId, 'stream 3 done: stream 1');
  t.equal(idx.resolve(10, spanTag(3, base + 10_002))?.spanId, s3.spanId, 'the read that opened stream 3');
});

t.test('the 32-bit microsecond clock wraps every 71 minutes', async (t) => {
  const idx = new SpanTagIndex({ clockOffsetNs: OFFSET });
  const wrap = 2 ** 32;
  const before = span(3 * wrap - 100, 3 * wrap - 50);
  const after = span(3 * wrap + 100, 3 * wrap + 150);
  idx.note(exchange(2 ** 32 + 5), before);
  idx.note(exchange(2 ** 32 + 5), after);
  t.equal(idx.resolve(10, spanTag(5, 3 * wrap - 101))?.spanId, before.spanId, 'generation kept to 32 bits, as the kernel does');
  t.equal(idx.resolve(10, spanTag(5, 3 * wrap + 99))?.spanId, after.spanId);
});

t.test('only server spans; entries expire by age and by count', async (t) => {
  let now = 0;
  const idx = new SpanTagIndex({ clockOffsetNs: OFFSET, retentionMs: 1000, max: 3 }, () => now);
  idx.note(exchange(1), span(100, 200, {}, 'client'));
  t.equal(idx.size, 0);
  for (let i = 0; i < 5; i++) idx.note(exchange(1), span(1000 * i, 1000 * i + 10));
  t.equal(idx.size, 3, 'at most max');
  t.equal(idx.resolve(10, spanTag(1, 0)), undefined, 'the oldest went first');
  t.ok(idx.resolve(10, spanTag(1, 4000)));
  now = 5000;
  t.equal(idx.resolve(10, spanTag(1, 4000)), undefined, 'and all after retentionMs');
  t.equal(idx.size, 0);
});

t.test('when full, short spans go before long ones: a burst of fast requests keeps the slow one that holds samples', async (t) => {
  let now = 0;
  const idx = new SpanTagIndex({ clockOffsetNs: OFFSET, retentionMs: 1000, max: 4 }, () => now);
  const base = 9_000_000_000;
  idx.note(exchange(3), span(base, base + 50_000)); // an EVAL of a busy Lua loop: 50 ms
  for (let i = 1; i <= 20; i++) idx.note(exchange(4), span(base + 50_000 + i * 100, base + 50_000 + i * 100 + SHORT_US - 1));
  t.equal(idx.size, 4, 'at most max');
  t.ok(idx.resolve(10, spanTag(3, base)), 'the long span, older than every short one, is still there');
  t.equal(idx.resolve(10, spanTag(4, base + 50_000 + 100)), undefined, 'the oldest short spans went');
  t.ok(idx.resolve(10, spanTag(4, base + 50_000 + 2000)), 'the newest short spans stayed');
  for (let i = 0; i < 4; i++) idx.note(exchange(5 + i), span(base + 60_000 + i * 20_000, base + 60_000 + i * 20_000 + 10_000));
  t.equal(idx.size, 4, 'long spans beyond max: the oldest of them goes, once no short one is left');
  t.equal(idx.resolve(10, spanTag(3, base)), undefined);
  now = 5000;
  t.equal(idx.resolve(10, spanTag(8, base + 120_000)), undefined, 'long spans expire by age too');
  t.equal(idx.size, 0);
});

t.test('an entry reads its span until the linker releases it, then keeps only the labels', async (t) => {
  const idx = new SpanTagIndex({ clockOffsetNs: OFFSET });
  const base = 7_000_000_000;
  const s = span(base, base + 40, { 'http.route': '/orders' });
  const client = span(base - 100, base + 100, {}, 'client');
  idx.note(exchange(4), s);
  // The linker makes the server span its client span's child (a new trace id) before releasing it.
  joinAsChild(s, client);
  t.equal(idx.resolve(10, spanTag(4, base - 3))?.traceId, client.traceId, 'linked before release: the new trace id');
  idx.settle([client, s]);
  // Nothing writes a released span; if anything did, the index no longer looks at it.
  traceIdFromHex(s, 'f'.repeat(32));
  s.attributes['http.route'] = '/changed';
  t.same(idx.resolve(10, spanTag(4, base - 3)), { traceId: client.traceId, spanId: s.spanId, spanName: s.name, httpRoute: '/orders' }, 'settled: the labels as released');
  idx.settle([s]);
  t.equal(idx.size, 1, 'settling twice changes nothing');
});
