// LANTERN_HEAP_GROWING_PERCENT sets V8's heap growth at run time (its effect on RSS and CPU is
// measured in benchmarks/, "Memory under load"); allocation-site pretenuring is turned off; the
// launcher gives node the options V8 reads only at start (the young generation's size).
import { spawnSync } from 'node:child_process';
import t from 'tap';
import { LAUNCHER_NODE_OPTIONS, launcherNodeOptions, missingLauncherOptions, stopPretenuring, tuneHeapForAgent } from '../../src/agent/heap-tuning.js';
import { lanternNodeOptions } from '../helpers/cli.js';

t.test('the heap growth comes from LANTERN_HEAP_GROWING_PERCENT, unless node was given the flag', async (t) => {
  t.equal(tuneHeapForAgent([], {}), null, 'by default V8 keeps its own policy');
  t.equal(tuneHeapForAgent([], { LANTERN_HEAP_GROWING_PERCENT: '50' }), 50, 'LANTERN_HEAP_GROWING_PERCENT');
  t.equal(tuneHeapForAgent(['--heap-growing-percent=200'], { LANTERN_HEAP_GROWING_PERCENT: '50' }), null, 'a flag given to node wins');
  t.equal(tuneHeapForAgent(['--heap_growing_percent=200'], { LANTERN_HEAP_GROWING_PERCENT: '50' }), null, 'underscore spelling too');
  t.equal(tuneHeapForAgent([], { LANTERN_HEAP_GROWING_PERCENT: '0' }), null, '0: V8 keeps its own policy');
  t.equal(tuneHeapForAgent([], { LANTERN_HEAP_GROWING_PERCENT: 'lots' }), null, 'not a number: ignored');
  t.equal(tuneHeapForAgent(['--max-semi-space-size=8'], { LANTERN_HEAP_GROWING_PERCENT: '50' }), 50, 'other flags do not count');
});

t.test('allocation-site pretenuring is turned off at run time, unless node was given the flag', async (t) => {
  t.equal(stopPretenuring(['--allocation-site-pretenuring']), false, 'a flag given to node wins');
  t.equal(stopPretenuring(['--no-allocation_site_pretenuring']), false, 'underscore spelling too');
  // A child that keeps most objects of one site alive through young-generation GCs, which makes V8
  // weigh pretenuring that site (whether it then does is a close call); with the flag turned off at
  // run time, as `lantern run` does, it does not even weigh it.
  const script = (off: boolean): string => `
    import { stopPretenuring } from ${JSON.stringify(new URL('../../src/agent/heap-tuning.js', import.meta.url).href)};
    if (${off}) stopPretenuring();
    let keep = [];
    const make = (i) => ({ i, a: [i, i + 1] });
    for (let round = 0; round < 200; round++) {
      for (let i = 0; i < 20000; i++) keep.push(make(i));
      if (keep.length > 400000) keep = keep.slice(200000);
    }`;
  const decisions = (off: boolean): number => {
    // Without the test runner's options (its loader, coverage); single-threaded, so V8's GC timing,
    // and so its decision, is the same every run.
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    delete env.NODE_V8_COVERAGE;
    const r = spawnSync(process.execPath, ['--single-threaded', '--trace-pretenuring-statistics', '--input-type=module', '-e', script(off)], { encoding: 'utf8', env, maxBuffer: 64 << 20 });
    t.equal(r.status, 0, r.stderr);
    // V8's digest of the feedback: a line per allocation site, each ending in its decision.
    return (r.stdout.match(/pretenuring: AllocationSite/g) ?? []).length;
  };
  t.ok(decisions(false) > 0, 'V8 weighs pretenuring such a site by default');
  t.equal(decisions(true), 0, 'not once the agent turned it off');
});

t.test('the launcher\'s #! line gives node its options; which of them node was started without', async (t) => {
  t.same(launcherNodeOptions('#!/usr/bin/env -S node --max-semi-space-size=8 --stack-size=2000\nrest'), ['--max-semi-space-size=8', '--stack-size=2000']);
  t.same(launcherNodeOptions('#!/usr/bin/env -S node\n'), [], 'none');
  t.same(launcherNodeOptions('#!/usr/bin/env node\n'), [], 'a plain #! line');
  t.same(launcherNodeOptions('console.log(1)\n'), [], 'no #! line');
  t.same(launcherNodeOptions(''), [], 'empty');
  t.same(launcherNodeOptions('#!/usr/bin/env -S python3 -u\n'), [], 'not node');
  t.same(lanternNodeOptions, LAUNCHER_NODE_OPTIONS, 'bin/lantern.js gives node LAUNCHER_NODE_OPTIONS');
  t.same(missingLauncherOptions([], ''), ['--max-semi-space-size=8'], 'node started without them');
  t.same(missingLauncherOptions(['--max-semi-space-size=8'], ''), [], 'given by the launcher');
  t.same(missingLauncherOptions(['--max-semi-space-size=16'], ''), [], 'a value of the user\'s own counts as given');
  t.same(missingLauncherOptions([], '--require x --max_semi_space_size=4'), [], 'in NODE_OPTIONS, underscore spelling');
});
