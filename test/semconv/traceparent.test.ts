// W3C Trace Context parsing (https://www.w3.org/TR/trace-context/), strict: invalid means absent.
import t from 'tap';
import { parseTraceparent, parseTracestate, traceContextFromHeaders } from '../../src/semconv/traceparent.js';
import { headerPairs } from '../../src/model/header-pairs.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
const VALID = `00-${TRACE}-${PARENT}-01`;

t.test('a valid version-00 header', async (t) => {
  t.same(parseTraceparent(VALID), { version: '00', traceId: TRACE, parentId: PARENT, traceFlags: 1 });
  t.same(parseTraceparent(`00-${TRACE}-${PARENT}-00`)?.traceFlags, 0, 'unsampled is still a context');
  t.same(parseTraceparent(`00-${TRACE}-${PARENT}-ff`)?.traceFlags, 255, 'unknown flag bits are kept');
  t.same(parseTraceparent(` \t${VALID} `)?.traceId, TRACE, 'optional whitespace around the value');
});

t.test('invalid headers are ignored', async (t) => {
  const cases: Array<[string, string]> = [
    ['', 'empty'],
    [VALID.slice(0, 54), 'one character short'],
    [`${VALID}-`, 'version 00 with a trailing dash'],
    [`${VALID}-what-the-future-will-be-like`, 'version 00 with extra fields'],
    [`00-${TRACE.toUpperCase()}-${PARENT}-01`, 'uppercase trace-id'],
    [`00-${TRACE}-${PARENT.toUpperCase()}-01`, 'uppercase parent-id'],
    [`00-${TRACE}-${PARENT}-0A`, 'uppercase flags'],
    [`0A-${TRACE}-${PARENT}-01`, 'uppercase version'],
    [`ff-${TRACE}-${PARENT}-01`, 'version ff is forbidden'],
    [`0x-${TRACE}-${PARENT}-01`, 'non-hex version'],
    [`00-${'0'.repeat(32)}-${PARENT}-01`, 'all-zero trace-id'],
    [`00-${TRACE}-${'0'.repeat(16)}-01`, 'all-zero parent-id'],
    [`00-${TRACE.slice(0, 31)}g-${PARENT}-01`, 'non-hex in trace-id'],
    [`00-${TRACE}-${PARENT.slice(0, 15)}z-01`, 'non-hex in parent-id'],
    [`00-${TRACE}-${PARENT}-0g`, 'non-hex flags'],
    [`00_${TRACE}_${PARENT}_01`, 'wrong separators'],
    [`00-${TRACE}0-${PARENT.slice(1)}-01`, 'misplaced dash'],
    [`cc-${TRACE}-${PARENT}-01x`, 'higher version: flags not followed by a dash'],
    [`cc-${TRACE}-${PARENT}`, 'higher version, too short'],
  ];
  for (const [value, why] of cases) t.equal(parseTraceparent(value), null, why);
});

t.test('a higher version is parsed as far as version 00 goes', async (t) => {
  t.same(parseTraceparent(`cc-${TRACE}-${PARENT}-01`), { version: 'cc', traceId: TRACE, parentId: PARENT, traceFlags: 1 });
  t.same(parseTraceparent(`cc-${TRACE}-${PARENT}-01-what-the-future-will-be-like`)?.parentId, PARENT);
});

t.test('tracestate: normalized, joined across header lines, dropped whole when malformed', async (t) => {
  t.equal(parseTracestate(['rojo=00f067aa0ba902b7,congo=t61rcWkgMzE']), 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE');
  t.equal(parseTracestate(['rojo=1 ,  congo=2', 'a@b=3']), 'rojo=1,congo=2,a@b=3', 'OWS trimmed, lines joined, tenant@system key');
  t.equal(parseTracestate(['rojo=1,,  ,congo=2']), 'rojo=1,congo=2', 'empty members are ignored');
  t.equal(parseTracestate([]), null);
  t.equal(parseTracestate(['  ']), null);
  t.equal(parseTracestate(['Rojo=1']), null, 'uppercase key');
  t.equal(parseTracestate(['rojo=1,rojo=2']), null, 'duplicate key');
  t.equal(parseTracestate(['rojo']), null, 'no value');
  t.equal(parseTracestate(['rojo=a=b']), null, '"=" in a value');
  t.equal(parseTracestate(['1abc=x']), null, 'simple key must start with a letter');
  t.equal(parseTracestate([Array.from({ length: 32 }, (_, i) => `k${i}=v`).join(',')])?.split(',').length, 32, '32 members');
  t.equal(parseTracestate([Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(',')]), null, 'more than 32 members');
  t.equal(parseTracestate([`k=${'v'.repeat(256)}`]), `k=${'v'.repeat(256)}`, '256-character value');
  t.equal(parseTracestate([`k=${'v'.repeat(257)}`]), null, 'value too long');
});

t.test('trace context from request headers', async (t) => {
  t.same(traceContextFromHeaders(headerPairs([['host', 'x'], ['traceparent', VALID], ['tracestate', 'rojo=1']])), {
    parent: { version: '00', traceId: TRACE, parentId: PARENT, traceFlags: 1 }, traceState: 'rojo=1',
  });
  t.same(traceContextFromHeaders(headerPairs([['traceparent', VALID], ['tracestate', 'BAD']])), {
    parent: { version: '00', traceId: TRACE, parentId: PARENT, traceFlags: 1 },
  }, 'a bad tracestate does not invalidate traceparent');
  t.equal(traceContextFromHeaders(headerPairs([['traceparent', VALID], ['traceparent', VALID]])), null, 'two traceparent headers');
  t.equal(traceContextFromHeaders(headerPairs([['tracestate', 'rojo=1']])), null, 'tracestate alone is no context');
  t.equal(traceContextFromHeaders(headerPairs([['traceparent', 'garbage'], ['tracestate', 'rojo=1']])), null);
  t.equal(traceContextFromHeaders(headerPairs([])), null);
});
