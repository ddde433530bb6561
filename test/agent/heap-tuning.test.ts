// LANTERN_HEAP_GROWING_PERCENT sets V8's heap growth at run time (its effect on RSS and CPU is
// measured in benchmarks/, "Memory under load").
import t from 'tap';
import { tuneHeapForAgent } from '../../src/agent/heap-tuning.js';

t.test('the heap growth comes from LANTERN_HEAP_GROWING_PERCENT, unless node was given the flag', async (t) => {
  t.equal(tuneHeapForAgent([], {}), null, 'by default V8 keeps its own policy');
  t.equal(tuneHeapForAgent([], { LANTERN_HEAP_GROWING_PERCENT: '50' }), 50, 'LANTERN_HEAP_GROWING_PERCENT');
  t.equal(tuneHeapForAgent(['--heap-growing-percent=200'], { LANTERN_HEAP_GROWING_PERCENT: '50' }), null, 'a flag given to node wins');
  t.equal(tuneHeapForAgent(['--heap_growing_percent=200'], { LANTERN_HEAP_GROWING_PERCENT: '50' }), null, 'underscore spelling too');
  t.equal(tuneHeapForAgent([], { LANTERN_HEAP_GROWING_PERCENT: '0' }), null, '0: V8 keeps its own policy');
  t.equal(tuneHeapForAgent([], { LANTERN_HEAP_GROWING_PERCENT: 'lots' }), null, 'not a number: ignored');
  t.equal(tuneHeapForAgent(['--max-semi-space-size=8'], { LANTERN_HEAP_GROWING_PERCENT: '50' }), 50, 'other flags do not count');
});
