// Feature probes answer from the kernel: the helpers this machine's kernel (6.x) gives tracepoint
// programs, one it gives none, and names libbpf does not know.
import t from 'tap';
import { BpfHelper, helperSupported, mapTypeSupported, programTypeSupported } from '../src/index.js';
import { requireBpf } from './require-bpf.js';

requireBpf(t);

t.test('helpers a tracepoint program may call on this kernel', async (t) => {
  t.equal(helperSupported('tracepoint', BpfHelper.task_storage_get), true, 'task storage (5.12+)');
  t.equal(helperSupported('tracepoint', BpfHelper.get_current_task_btf), true, 'the BTF task pointer (5.11+)');
  t.equal(mapTypeSupported('task_storage'), true);
  t.equal(programTypeSupported('tracepoint'), true);
});

t.test('a helper number past every kernel\'s list is not supported', async (t) => {
  t.equal(helperSupported('tracepoint', 100_000), false);
});

t.test('an unknown program type throws', async (t) => {
  t.throws(() => helperSupported('no_such_type', BpfHelper.task_storage_get), /unknown program type/);
});
