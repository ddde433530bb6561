// The kernel's CPU lists (/sys/devices/system/cpu/online, Cpus_allowed_list): ranges and singles,
// comma-separated, a newline at the end.
import { availableParallelism } from 'node:os';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { onlineCpus, parseCpuList } from '../src/index.js';

t.test('ranges and single CPUs, in order', async (t) => {
  t.same(parseCpuList('0-3\n'), [0, 1, 2, 3]);
  t.same(parseCpuList('0,2-3,7'), [0, 2, 3, 7]);
  t.same(parseCpuList('5'), [5]);
  t.same(parseCpuList('4-4'), [4]);
  t.same(parseCpuList(''), [], 'none');
  t.same(parseCpuList('1,,2'), [1, 2], 'an empty part is nothing');
});

t.test('what is not a CPU list is refused, not guessed', async (t) => {
  for (const bad of ['a', '3-1', '1-x', '-', '1.5', '0-', '-1', '1-2-3']) t.throws(() => parseCpuList(bad), /bad CPU list/, JSON.stringify(bad));
});

t.test('the online CPUs: this machine\'s, as the kernel lists them', async (t) => {
  const cpus = onlineCpus();
  t.same(cpus, parseCpuList(readFileSync('/sys/devices/system/cpu/online', 'utf8')));
  t.ok(cpus.length >= availableParallelism(), `${cpus.length} online, ${availableParallelism()} this process may use`);
});
