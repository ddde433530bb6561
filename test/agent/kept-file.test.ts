// The kept-open reader of /proc files, the byte parser of /proc/stat's CPU lines and PSI's `some total`
// (src/agent/kept-file.ts), against files written here and this host's own /proc/stat.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { KeptFile, idleTicksOf, psiSomeTotalOf } from '../../src/agent/kept-file.js';

const bytes = (s: string): Uint8Array => Buffer.from(s, 'latin1');

t.test('idleTicksOf: idle + iowait of the CPUs asked for, from the per-CPU lines only', async (t) => {
  const stat = 'cpu  4705 150 1120 16250 520 0 30 0 0 0\ncpu0 2000 75 560 8125 260 0 15 0 0 0\ncpu1 2705 75 560 8000 200 0 15 0 0 0\n' +
    'cpu10 1 1 1 125 60 0 0 0 0 0\nintr 123 4 5 6\nctxt 99\nbtime 1\n';
  t.equal(idleTicksOf(bytes(stat), new Set([0, 10])), 8125 + 260 + 125 + 60, 'cpu0 and cpu10 (two digits); the total line is no CPU');
  t.equal(idleTicksOf(bytes(stat), new Set([1])), 8200);
  t.equal(idleTicksOf(bytes(stat), new Set([2])), 0, 'a CPU not listed: nothing');
  t.equal(idleTicksOf(bytes('cpu0 1 2 3 4\n'), new Set([0])), 4, 'an old kernel without iowait: idle alone');
  t.equal(idleTicksOf(bytes('cpu0 1 2 3 40 5'), new Set([0])), 45, 'no newline at the end');
  t.equal(idleTicksOf(bytes(''), new Set([0])), 0, 'empty');
  t.equal(idleTicksOf(bytes('intr 1 2\ncpu0 1 2 3 40 5\n'), new Set([0])), 0, 'CPU lines come first: none after another line');
});

t.test('psiSomeTotalOf: the `some` line\'s total, NaN without one', async (t) => {
  const psi = 'some avg10=3.07 avg60=12.19 avg300=8.73 total=8361387968\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n';
  t.equal(psiSomeTotalOf(bytes(psi)), 8361387968);
  t.equal(psiSomeTotalOf(bytes('some total=0')), 0, 'zero, no newline at the end');
  t.ok(Number.isNaN(psiSomeTotalOf(bytes('full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n'))), 'no `some` line');
  t.ok(Number.isNaN(psiSomeTotalOf(bytes('some avg10=3.07\nfull total=5\n'))), 'no total on the `some` line: not the next line\'s');
  t.ok(Number.isNaN(psiSomeTotalOf(bytes('some total=x\n'))), 'a total that is no number');
  t.ok(Number.isNaN(psiSomeTotalOf(bytes(''))), 'empty');
});

t.test('idleTicksOf agrees with a regular-expression parse of this host\'s /proc/stat', async (t) => {
  const text = readFileSync('/proc/stat', 'latin1');
  const cpus = new Set<number>();
  let expected = 0;
  for (const m of text.matchAll(/^cpu(\d+) \d+ \d+ \d+ (\d+) (\d+)/gm)) {
    cpus.add(Number(m[1]));
    expected += Number(m[2]) + Number(m[3]);
  }
  t.ok(cpus.size > 0, `${cpus.size} CPUs`);
  // Read once: the counters move between two reads.
  t.equal(idleTicksOf(bytes(text), cpus), expected);
});

t.test('KeptFile: reads the file as it is now, longer than its buffer too, and reopens after a failure', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-kept-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'f');
  writeFileSync(path, 'first');
  const f = new KeptFile(path);
  t.teardown(() => f.close());
  t.equal(Buffer.from(f.read()).toString(), 'first');
  writeFileSync(path, 'second, longer');
  t.equal(Buffer.from(f.read()).toString(), 'second, longer', 'read again from its start');
  const long = 'x'.repeat(10_000);
  writeFileSync(path, long);
  t.equal(Buffer.from(f.read()).toString(), long, 'past 4 KiB: read whole');
  rmSync(path);
  t.equal(Buffer.from(f.read()).toString(), long, 'removed: the open file is still read');
  f.close();
  t.throws(() => f.read(), 'closed and gone: the next read throws');
  writeFileSync(path, 'back');
  t.equal(Buffer.from(f.read()).toString(), 'back', 'there again: opened again');
});
