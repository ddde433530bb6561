// The flame graph RESULTS.md keeps of the agent's hot path: samples folded into stacks, then drawn.
import t from 'tap';
import type { CpuProfile } from '../../benchmarks/cpu-profile.js';
import { flameGraphSvg, foldedStacks } from '../../benchmarks/flame-graph.js';

const frame = (id: number, functionName: string, children: number[] = [], url = ''): CpuProfile['nodes'][number] =>
  ({ id, callFrame: { functionName, url, lineNumber: id }, children });

// (root) → main → { parse → scan, encode<T> }, and (idle), (garbage collector) beside main.
const profile: CpuProfile = {
  nodes: [
    frame(1, '(root)', [2, 6, 7]),
    frame(2, 'main', [3, 5], 'file:///x/dist/src/main.js'),
    frame(3, 'parse', [4], 'file:///x/dist/src/p.js'),
    frame(4, 'scan;fast', [], 'file:///x/dist/src/p.js'),
    frame(5, 'encode<T>', [], 'file:///x/node_modules/lib/e.js'),
    frame(6, '(idle)'),
    frame(7, '(garbage collector)'),
  ],
  // One sample per 1000 µs from 1000: the window 1500-9500 takes samples 2-9.
  samples: [4, 4, 4, 3, 5, 6, 6, 7, 2, 4],
  startTime: 0,
  timeDeltas: Array.from({ length: 10 }, () => 1000),
};

t.test('busy samples of the window folded into stacks, outermost first', async (t) => {
  const folded = foldedStacks(profile, 1500, 9500);
  t.same(Object.fromEntries(folded), {
    'main dist/src/main.js:3;parse dist/src/p.js:4;scan,fast dist/src/p.js:5': 2,
    'main dist/src/main.js:3;parse dist/src/p.js:4': 1,
    'main dist/src/main.js:3;encode<T> node_modules/lib/e.js:6': 1,
    '(garbage collector)': 1,
    'main dist/src/main.js:3': 1,
  }, 'idle samples and those outside the window left out; ";" in a name does not split it');
});

t.test('each frame as wide as its samples, named in its tooltip', async (t) => {
  const folded = foldedStacks(profile, 1500, 9500);
  const svg = flameGraphSvg(folded, { title: 'a <test>', width: 620 });
  t.match(svg, /^<\?xml/);
  t.match(svg, /a &#60;test&#62;/, 'the title escaped');
  const rects = [...svg.matchAll(/<title>([^<]*)<\/title><rect x="([\d.]+)" y="(\d+)" width="([\d.]+)"/g)]
    .map((m) => ({ tip: m[1]!, x: Number(m[2]), y: Number(m[3]), w: Number(m[4]) }));
  const of = (name: string) => rects.find((r) => r.tip.startsWith(name))!;
  t.equal(rects.length, 6, 'all, main, parse, scan, encode, the collector');
  t.equal(of('all').w, 600, 'the root spans the width (6 samples)');
  t.equal(of('main ').w, 500, '5 of 6');
  t.equal(of('parse').w, 300);
  t.equal(of('scan,fast').w, 200);
  t.equal(of('encode&#60;T&#62;').w, 100, 'names escaped in tooltips');
  t.ok(of('parse').y < of('main ').y && of('main ').y < of('all').y, 'callees above their callers');
  t.match(of('main ').tip, /\(5 samples, 83\.33 %\)/);
  t.ok(of('parse').x >= of('main ').x && of('parse').x + of('parse').w <= of('main ').x + of('main ').w + 1e-9, 'inside the caller');
});

t.test('frames narrower than the minimum width are left out with their callees', async (t) => {
  const folded = new Map([['a;b', 1], ['c', 999]]);
  const svg = flameGraphSvg(folded, { title: 'x', width: 1020, minWidth: 2 });
  t.notMatch(svg, /<title>a /, 'a (1 pixel) left out');
  t.notMatch(svg, /<title>b /, 'and b above it');
  t.match(svg, /<title>c \(999 samples/);
});
