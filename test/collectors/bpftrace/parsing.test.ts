// The pure parts of the bpftrace collector: what a script says about its output, bpftrace's JSON
// messages, printf lines as typed attributes, maps as metric series, parameters. Messages are the
// ones bpftrace 0.17 printed for the same scripts (see the inline comments).
import t from 'tap';
import { MapMetrics } from '../../../src/collectors/bpftrace/map-metrics.js';
import { parseOutputLine } from '../../../src/collectors/bpftrace/output.js';
import { applyParams } from '../../../src/collectors/bpftrace/params.js';
import { parsePrintfFields } from '../../../src/collectors/bpftrace/printf-fields.js';
import { analyzeScript, unmarkErrors, withReadyMarker } from '../../../src/collectors/bpftrace/script-info.js';
import type { MetricSeries } from '../../../src/model/metric.js';
import { XorShift32 } from '../../helpers/prng.js';

const SCRIPT = `
// counts per process
tracepoint:syscalls:sys_enter_getppid /pid == $1/ {
  @calls[pid, comm] = count();      /* tuple key */
  @bytes = sum(args->__syscall_nr);
  @lat = avg(5); @lo = min(1); @hi = max(9); @st = stats(4);
  @h = hist(100);
  @l = lhist(25, 0, 100, 10);
  @files[str(args->filename)] = count();
  @start[tid] = nsecs;
  printf("pid=%d comm=%s lat_us=%d hex=%x\\n", pid, comm, 3, 255);
  printf("time_:%llu pid:%u name:%s\\n", nsecs, pid, comm);
}
interval:s:5 { print(@calls); clear(@bytes); }
`;

t.test('analyzeScript: printf field types and map kinds, keys, lhist bounds, resets', async (t) => {
  const info = analyzeScript(SCRIPT);
  t.same(Object.fromEntries(info.fields), { pid: 'int', comm: 'string', lat_us: 'int', hex: 'string', time_: 'int', name: 'string' });
  t.same(info.maps.get('calls'), { kind: 'count', keys: ['pid', 'comm'], resets: false });
  t.same(info.maps.get('bytes'), { kind: 'sum', keys: [], resets: true });
  t.equal(info.maps.get('lat')?.kind, 'avg');
  t.equal(info.maps.get('st')?.kind, 'stats');
  t.equal(info.maps.get('h')?.kind, 'hist');
  t.same(info.maps.get('l'), { kind: 'lhist', keys: [], linear: { min: 0, max: 100, step: 10 }, resets: false });
  t.same(info.maps.get('files')?.keys, ['filename']);
  t.equal(info.maps.get('start')?.kind, 'value');
});

t.test('analyzeScript ignores commented-out code and never throws on garbage', async (t) => {
  const info = analyzeScript('// @x = count();\n/* printf("a=%d", 1); */ BEGIN { @y = hist(1); }');
  t.notOk(info.maps.has('x'));
  t.equal(info.fields.size, 0);
  t.equal(info.maps.get('y')?.kind, 'hist');
  const rng = new XorShift32(7);
  for (let i = 0; i < 2000; i++) {
    const src = Array.from({ length: rng.int(80) }, () => rng.pick(['@', 'x', '[', ']', '(', ')', '=', ' ', 'count', 'lhist', ',', '1', '"', 'printf', '%d', '/*', '//', '\n'])).join('');
    analyzeScript(src);
  }
  t.pass('2000 random scripts analysed without an exception');
});

t.test('parseOutputLine: every message shape bpftrace 0.17 prints', async (t) => {
  t.same(parseOutputLine('{"type": "attached_probes", "data": {"probes": 2}}'), { type: 'attached', probes: 2 });
  t.same(parseOutputLine('{"type": "printf", "data": "pid=1 comm=bash\\n"}'), { type: 'printf', text: 'pid=1 comm=bash\n' });
  const keyed = parseOutputLine('{"type": "map", "data": {"@calls": {"12294,python3": 1, "12223,bash": 3}}}');
  t.same(keyed, { type: 'map', name: 'calls', value: { keyed: new Map([['12294,python3', 1], ['12223,bash', 3]]) } });
  t.same(parseOutputLine('{"type": "map", "data": {"@x": 42}}'), { type: 'map', name: 'x', value: { scalar: 42 } });
  t.same(parseOutputLine('{"type": "map", "data": {"@": 7}}'), { type: 'map', name: '', value: { scalar: 7 } });
  t.same(parseOutputLine('{"type": "stats", "data": {"@a": 5}}'), { type: 'stats', name: 'a', value: { scalar: 5 } });
  t.same(parseOutputLine('{"type": "stats", "data": {"@st": {"count": 147, "average": 4, "total": 588}}}'),
    { type: 'stats', name: 'st', value: { scalar: { count: 147, average: 4, total: 588 } } });
  t.same(parseOutputLine('{"type": "hist", "data": {"@h": [{"max": -1, "count": 1}, {"min": 0, "max": 0, "count": 1}, {"min": 100, "count": 2}]}}'),
    { type: 'hist', name: 'h', value: { scalar: [{ max: -1, count: 1 }, { min: 0, max: 0, count: 1 }, { min: 100, count: 2 }] } });
  t.same(parseOutputLine('{"type": "hist", "data": {"@hk": {"bash": [{"min": 512, "max": 1023, "count": 144}]}}}'),
    { type: 'hist', name: 'hk', value: { keyed: new Map([['bash', [{ min: 512, max: 1023, count: 144 }]]]) } });
  t.same(parseOutputLine('{"type": "lost_events", "data": {"events": 12}}'), { type: 'lost', events: 12 });
  for (const bad of ['', 'not json', '[]', '{"type": 3}', '{"type": "printf", "data": 5}', '{"type": "map", "data": {"@a": 1, "@b": 2}}', '{"type": "hist", "data": {"@h": [{"min": 1}]}}', 'null', '{"type": "unknown"}']) {
    t.equal(parseOutputLine(bad), null, `refused: ${bad}`);
  }
});

t.test('parseOutputLine is total on random and mutated input', async (t) => {
  const rng = new XorShift32(11);
  const seeds = ['{"type": "map", "data": {"@calls": {"1,a": 1}}}', '{"type": "hist", "data": {"@h": [{"min": 0, "max": 0, "count": 1}]}}', '{"type": "stats", "data": {"@st": {"count": 1, "average": 4, "total": 4}}}'];
  for (let i = 0; i < 5000; i++) {
    const s = rng.pick(seeds).split('');
    for (let k = rng.int(4); k >= 0; k--) s[rng.int(s.length)] = rng.pick(['{', '}', '"', '1', '[', ']', ',', ':', 'x', '-']);
    parseOutputLine(s.join(''));
  }
  t.pass('no exception on 5000 mutated messages');
});

t.test('parsePrintfFields: key=value and Pixie key:value, typed by the script, text with spaces kept', async (t) => {
  const fields = analyzeScript(SCRIPT).fields;
  t.same(parsePrintfFields('pid=1234 comm=5678 lat_us=42 hex=ff', fields), { pid: 1234, comm: '5678', lat_us: 42, hex: 'ff' });
  t.same(parsePrintfFields('time_:123456789 pid:77 name:my worker', fields), { time_: 123456789, pid: 77, name: 'my worker' });
  // Unknown formats: typed by the value, values end at spaces, free text stays only in the body.
  t.same(parsePrintfFields('Tracing syscalls, hit Ctrl-C', new Map()), {});
  t.same(parsePrintfFields('ms=1.5 ok=yes n=-3 big=123456789012345678901 url=http://x:80/?a=b', new Map()),
    { ms: 1.5, ok: 'yes', n: -3, big: '123456789012345678901', url: 'http://x:80/?a=b' });
  t.same(parsePrintfFields('bpftrace.script=x', new Map()), { 'field.bpftrace.script': 'x' });
});

t.test('applyParams: positional to bpftrace, named substituted, unsafe values refused', async (t) => {
  t.same(applyParams('BEGIN { printf("%d", $1); }', { 1: '500' }), { source: 'BEGIN { printf("%d", $1); }', positional: ['500'] });
  t.same(applyParams('/comm == "${name}"/', { name: 'nginx' }), { source: '/comm == "nginx"/', positional: [] });
  t.match(applyParams('/comm == "${name}"/', { name: 'x"; system("rm' }), { error: /may hold only/ });
  t.match(applyParams('${port}', {}), { error: /port/ });
  t.match(applyParams('$2', { 2: 'x' }), { error: /parameter 1 missing/ });
  t.match(applyParams('x', { 'a b': 'x' }), { error: /parameter name/ });
});

const NS = (s: number): bigint => BigInt(s) * 1_000_000_000n;
const host = { key: 'host', attributes: { 'service.name': 'bpftrace' } };
function byName(series: MetricSeries[]): Record<string, MetricSeries[]> {
  const out: Record<string, MetricSeries[]> = {};
  for (const s of series) (out[s.name] ??= []).push(s);
  return out;
}
function update(m: MapMetrics, line: string, at: number): void {
  const msg = parseOutputLine(line);
  if (msg === null || (msg.type !== 'map' && msg.type !== 'stats' && msg.type !== 'hist')) throw new Error(`not a map message: ${line}`);
  m.update(msg, NS(at));
}

t.test('MapMetrics: count() is a monotonic sum per tuple key, reset when the map empties', async (t) => {
  const m = new MapMetrics('my-script', analyzeScript(SCRIPT));
  update(m, '{"type": "map", "data": {"@calls": {"12294,python3": 1, "12223,bash": 3}}}', 1);
  update(m, '{"type": "map", "data": {"@calls": {"12294,python3": 4, "12223,bash": 3}}}', 2);
  let s = byName(m.series(host, NS(3)))['bpftrace.my_script.calls'] ?? [];
  t.same(s.map((x) => [x.attributes, x.value, x.startTimeUnixNano]), [
    [{ pid: 12294, comm: 'python3' }, { kind: 'sum', monotonic: true, value: 4 }, NS(1)],
    [{ pid: 12223, comm: 'bash' }, { kind: 'sum', monotonic: true, value: 3 }, NS(1)],
  ]);
  update(m, '{"type": "map", "data": {"@calls": {"12294,python3": 2}}}', 4); // deleted and counted again
  s = byName(m.series(host, NS(5)))['bpftrace.my_script.calls'] ?? [];
  t.same(s[0]?.value, { kind: 'sum', monotonic: true, value: 2 });
  t.equal(s[0]?.startTimeUnixNano, NS(4), 'a value going down starts the series again');
});

t.test('MapMetrics: a map the script clears adds up its prints', async (t) => {
  const m = new MapMetrics('s', analyzeScript(SCRIPT));
  update(m, '{"type": "map", "data": {"@bytes": 10}}', 1);
  update(m, '{"type": "map", "data": {"@bytes": 5}}', 2);
  t.same(byName(m.series(host, NS(3)))['bpftrace.s.bytes']?.[0]?.value, { kind: 'sum', monotonic: true, value: 15 });
});

t.test('MapMetrics: gauges for avg/min/max/plain values, stats() as three gauges', async (t) => {
  const m = new MapMetrics('s', analyzeScript(SCRIPT));
  update(m, '{"type": "stats", "data": {"@lat": 5}}', 1);
  update(m, '{"type": "map", "data": {"@hi": 9}}', 1);
  update(m, '{"type": "map", "data": {"@x": 42}}', 1);
  update(m, '{"type": "stats", "data": {"@st": {"count": 147, "average": 4, "total": 588}}}', 1);
  const s = byName(m.series(host, NS(2)));
  t.same(s['bpftrace.s.lat']?.[0]?.value, { kind: 'gauge', value: 5 });
  t.same(s['bpftrace.s.hi']?.[0]?.value, { kind: 'gauge', value: 9 });
  t.same(s['bpftrace.s.x']?.[0]?.value, { kind: 'gauge', value: 42 });
  t.same([s['bpftrace.s.st.count']?.[0]?.value, s['bpftrace.s.st.average']?.[0]?.value, s['bpftrace.s.st.total']?.[0]?.value],
    [{ kind: 'gauge', value: 147 }, { kind: 'gauge', value: 4 }, { kind: 'gauge', value: 588 }]);
});

t.test('MapMetrics: hist() buckets are powers of two, bounds grow only at the top', async (t) => {
  const m = new MapMetrics('s', analyzeScript(SCRIPT));
  update(m, '{"type": "hist", "data": {"@h": [{"max": -1, "count": 1}, {"min": 0, "max": 0, "count": 1}, {"min": 1, "max": 1, "count": 0}, {"min": 2, "max": 3, "count": 0}, {"min": 4, "max": 7, "count": 1}]}}', 1);
  let h = byName(m.series(host, NS(2)))['bpftrace.s.h']?.[0]?.value;
  t.same(h, { kind: 'histogram', bounds: [-1, 0, 1, 3, 7], counts: [1, 1, 0, 0, 1, 0], count: 3 });
  update(m, '{"type": "hist", "data": {"@h": [{"max": -1, "count": 1}, {"min": 0, "max": 0, "count": 1}, {"min": 1, "max": 1, "count": 0}, {"min": 2, "max": 3, "count": 0}, {"min": 4, "max": 7, "count": 1}, {"min": 8, "max": 15, "count": 0}, {"min": 16, "max": 31, "count": 2}]}}', 2);
  h = byName(m.series(host, NS(3)))['bpftrace.s.h']?.[0]?.value;
  t.same(h, { kind: 'histogram', bounds: [-1, 0, 1, 3, 7, 15, 31], counts: [1, 1, 0, 0, 1, 0, 2, 0], count: 5 });
});

t.test('MapMetrics: lhist() uses the script\'s own bounds, below and above the range included', async (t) => {
  const m = new MapMetrics('s', analyzeScript(SCRIPT));
  update(m, '{"type": "hist", "data": {"@l": [{"max": -1, "count": 1}, {"min": 0, "max": 9, "count": 0}, {"min": 10, "max": 19, "count": 0}, {"min": 20, "max": 29, "count": 3}, {"min": 30, "max": 39, "count": 0}, {"min": 40, "max": 49, "count": 0}, {"min": 50, "max": 59, "count": 0}, {"min": 60, "max": 69, "count": 0}, {"min": 70, "max": 79, "count": 0}, {"min": 80, "max": 89, "count": 0}, {"min": 90, "max": 99, "count": 0}, {"min": 100, "count": 1}]}}', 1);
  const h = byName(m.series(host, NS(2)))['bpftrace.s.l']?.[0]?.value;
  t.same(h, { kind: 'histogram', bounds: [-1, 9, 19, 29, 39, 49, 59, 69, 79, 89, 99], counts: [1, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 1], count: 5 });
});

t.test('MapMetrics: keyed histograms, non-numeric values counted, series bounded', async (t) => {
  const m = new MapMetrics('s', analyzeScript('BEGIN { @hk[comm] = hist(1); @names[pid] = comm; @c[pid] = count(); }'), 3);
  update(m, '{"type": "hist", "data": {"@hk": {"python3": [{"min": 512, "max": 1023, "count": 3}], "bash": [{"min": 512, "max": 1023, "count": 144}]}}}', 1);
  update(m, '{"type": "map", "data": {"@names": {"1": "bash"}}}', 1);
  update(m, '{"type": "map", "data": {"@c": {"1": 1, "2": 1}}}', 1);
  const s = byName(m.series(host, NS(2)));
  t.same(s['bpftrace.s.hk']?.map((x) => [x.attributes, x.value.kind === 'histogram' ? x.value.count : -1]), [[{ comm: 'python3' }, 3], [{ comm: 'bash' }, 144]]);
  t.same(m.stats(), { series: 3, seriesDropped: 1, valuesNotNumeric: 1 });
});

t.test('withReadyMarker/unmarkErrors: the marker goes into BEGIN on its line and out of bpftrace\'s errors', async (t) => {
  const none = withReadyMarker('tracepoint:a:b { }', 'M');
  t.equal(none.addedProbes, 1);
  t.match(none.source, /^tracepoint:a:b \{ \}\nBEGIN \{ printf\("M\\n"\); \}\n$/);
  const src = '// BEGIN { in a comment\nBEGIN {\n  @x = count(;\n}';
  const marked = withReadyMarker(src, 'M');
  t.equal(marked.addedProbes, 0);
  t.equal(marked.source.split('\n').length, src.split('\n').length, 'no line added: bpftrace\'s line numbers stay the user\'s');
  t.equal(marked.source.split('\n')[1], 'BEGIN { printf("M\\n");');
  const one = withReadyMarker('BEGIN { @x = count( }', 'lantern:probes-attached');
  const shift = (one.inserted?.text ?? '').length;
  // What bpftrace printed for the marked script (its line quoted, a ~ under the column).
  const stderr = `stdin:1:${21 + shift}-${22 + shift}: ERROR: syntax error, unexpected }\n${one.source}\n${' '.repeat(20 + shift)}~\n`;
  t.equal(unmarkErrors(stderr, one), 'stdin:1:21-22: ERROR: syntax error, unexpected }\nBEGIN { @x = count( }\n                    ~\n', 'what bpftrace says of the unmarked script');
  t.equal(unmarkErrors('stdin:2:3-4: ERROR: x', one), 'stdin:2:3-4: ERROR: x', 'other lines untouched');
});
