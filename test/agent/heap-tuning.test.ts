// The agent sets V8's heap growth at run time unless told otherwise (its effect on RSS and CPU is
// measured in benchmarks/, "Memory under load").
import t from 'tap';
import { DEFAULT_HEAP_GROWING_PERCENT, tuneHeapForAgent } from '../../src/agent/heap-tuning.js';

t.test('the agent sets its heap growth, unless node was given one or the environment says otherwise', async (t) => {
  t.equal(tuneHeapForAgent([], {}), DEFAULT_HEAP_GROWING_PERCENT, 'by default');
  t.equal(tuneHeapForAgent(['--heap-growing-percent=200'], {}), null, 'a flag given to node is left alone');
  t.equal(tuneHeapForAgent(['--heap_growing_percent=200'], { LANTERN_HEAP_GROWING_PERCENT: '30' }), null, 'underscore spelling too');
  t.equal(tuneHeapForAgent([], { LANTERN_HEAP_GROWING_PERCENT: '30' }), 30, 'LANTERN_HEAP_GROWING_PERCENT');
  t.equal(tuneHeapForAgent([], { LANTERN_HEAP_GROWING_PERCENT: '0' }), null, '0: V8 keeps its own policy');
  t.equal(tuneHeapForAgent([], { LANTERN_HEAP_GROWING_PERCENT: 'lots' }), null, 'not a number: V8 keeps its own policy');
  t.equal(tuneHeapForAgent(['--max-semi-space-size=8'], {}), DEFAULT_HEAP_GROWING_PERCENT, 'other flags do not count');
  tuneHeapForAgent([], {}); // leave this process as the agent would be
});
