// The small pure pieces: /proc/kallsyms parsing and lookup, JIT perf map lines (appended in
// pieces, overlapping entries, bounds), /proc/<pid>/maps regions, NSpid, the bounded LRU.
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parseProcMaps } from '../../src/metadata/proc.js';
import { KernelSymbols } from '../../src/symbols/kallsyms.js';
import { BoundedLru } from '../../src/symbols/lru.js';
import { PerfMap, parsePerfMapLine } from '../../src/symbols/perf-map.js';
import { classify, executableRegions, findRegion, namespacePid } from '../../src/symbols/process-view.js';

const KALLSYMS = [
  'ffffffff81000000 T _stext',
  'ffffffff81000000 T _text',
  'ffffffff81001000 t do_one_initcall',
  'ffffffff81002000 D some_data',
  'ffffffff81003000 W weak_fn',
  'ffffffff81004000 T last_vmlinux_fn',
  'ffffffffc0a00000 t ext4_fill_super\t[ext4]',
  'ffffffffc0a00400 t ext4_sync_fs\t[ext4]',
  'ffffffffc0b00000 t bpf_prog_6deef7357e7b4530_sd_fw_egress\t[bpf]',
  'garbage line',
  '',
].join('\n');

t.test('kallsyms: text symbols, modules in brackets, gaps', async (t) => {
  const k = KernelSymbols.parse(KALLSYMS);
  t.ok(k.usable);
  t.equal(k.count, 8, 'text symbols only (T t W), garbage skipped');
  t.same(k.lookup(0xffffffff81001010n), { name: 'do_one_initcall', module: '[kernel]', offset: 0x10 });
  t.equal(k.lookup(0xffffffff81002010n)?.name, 'do_one_initcall', 'data symbols do not cut functions');
  t.equal(k.lookup(0xffffffff81003001n)?.name, 'weak_fn');
  t.same(k.lookup(0xffffffffc0a00404n), { name: 'ext4_sync_fs', module: '[ext4]', offset: 4 });
  t.equal(k.lookup(0xffffffffc0b00010n)?.module, '[bpf]');
  t.equal(k.lookup(0xffffffff80000000n), undefined, 'below the kernel');
  t.equal(k.lookup(0xffffffff91000000n), undefined, 'far past a symbol: a gap, not a 256 MB function');
  t.ok(['_stext', '_text'].includes(k.lookup(0xffffffff81000004n)!.name));
});

t.test('kallsyms read without privileges: every address zero, nothing resolves', async (t) => {
  const k = KernelSymbols.parse(KALLSYMS.replace(/^[0-9a-f]{16}/gm, '0000000000000000'));
  t.equal(k.usable, false);
  t.equal(k.lookup(0xffffffff81001010n), undefined);
  t.equal(KernelSymbols.parse('').usable, false);
});

const HOST_KALLSYMS = ((): string | undefined => {
  try {
    return readFileSync('/proc/kallsyms', 'utf8');
  } catch {
    return undefined;
  }
})();

t.test('kallsyms read in chunks: a line across a chunk boundary, the last line without its newline', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-kallsyms-'));
  const file = join(dir, 'kallsyms');
  // 300 KiB of lines before the symbols: the first chunk (256 KiB) ends inside one of them.
  const filler = Array.from({ length: 6000 }, (_, i) => `ffffffff8${String(i).padStart(7, '0')} D data_${'x'.repeat(30)}_${i}`).join('\n');
  writeFileSync(file, `${filler}\n${KALLSYMS.trimEnd()}\nffffffffc0c00000 t last_fn\t[last]`);
  const k = KernelSymbols.read(file);
  t.equal(k.count, 9, 'the eight text symbols and the last line');
  t.same(k.lookup(0xffffffffc0a00404n), { name: 'ext4_sync_fs', module: '[ext4]', offset: 4 });
  t.same(k.lookup(0xffffffffc0c00001n), { name: 'last_fn', module: '[last]', offset: 1 });
  t.equal(k.lookup(0xffffffff81002010n)?.name, 'do_one_initcall', 'data symbols do not cut functions');
  t.throws(() => KernelSymbols.read(join(dir, 'absent')), { code: 'ENOENT' });
});

t.test('kallsyms: this host\'s file, read in chunks, against a line-by-line reading of its text', { skip: HOST_KALLSYMS === undefined && 'no /proc/kallsyms' }, async (t) => {
  const text = HOST_KALLSYMS!;
  // The text read once, as a file: /proc/kallsyms changes as BPF programs come and go.
  const file = join(mkdtempSync(join(tmpdir(), 'lantern-kallsyms-')), 'kallsyms');
  writeFileSync(file, text);
  const k = KernelSymbols.read(file);
  // The reference: every t/T/w/W line, by address in file order; a lookup finds the last of equals.
  const last = new Map<bigint, { name: string; module: string }>();
  let count = 0;
  for (const line of text.split('\n')) {
    const m = /^([0-9a-fA-F]{1,16}) ([tTwW]) ([^\t]+)(?:\t(.*))?$/.exec(line);
    if (!m) continue;
    count++;
    const mod = m[4]?.trim() ?? '';
    last.set(BigInt(`0x${m[1]}`), { name: m[3]!, module: mod === '' ? '[kernel]' : mod.startsWith('[') ? mod : `[${mod}]` });
  }
  t.equal(k.count, count, `${count} text symbols`);
  if (!k.usable) {
    t.comment('addresses hidden (no CAP_SYSLOG): lookups not compared');
    return;
  }
  let compared = 0;
  let wrong = 0;
  let i = 0;
  for (const [addr, want] of last) {
    if (addr === 0n || i++ % 37 !== 0) continue;
    compared++;
    const hit = k.lookup(addr + 1n);
    if (hit?.name !== want.name || hit.module !== want.module || hit.offset !== 1) {
      if (wrong++ < 3) t.comment(`0x${addr.toString(16)}: got ${JSON.stringify(hit)}, want ${JSON.stringify(want)}`);
    }
  }
  t.ok(compared > 100, `${compared} addresses compared`);
  t.equal(wrong, 0, 'each resolves to its symbol and module');
});

t.test('perf map lines', async (t) => {
  t.same(parsePerfMapLine('7f3a2c004000 40 JS:*hotFunction /tmp/x.js:3:20'), { start: 0x7f3a2c004000, size: 0x40, name: 'JS:*hotFunction /tmp/x.js:3:20' });
  t.same(parsePerfMapLine('0x1000 0x10 py::f:/a.py'), { start: 0x1000, size: 0x10, name: 'py::f:/a.py' });
  t.equal(parsePerfMapLine('1000 0 zero-sized'), undefined);
  t.equal(parsePerfMapLine('zz 10 x'), undefined);
  t.equal(parsePerfMapLine('1000 10'), undefined, 'a name is required');
});

t.test('perf map: appended in pieces, newest entry wins, bounded', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-perfmap-'));
  const file = join(dir, 'perf-1.map');
  const map = new PerfMap(file, { maxEntries: 4 });
  t.equal(map.refresh(), false, 'not there yet');
  writeFileSync(file, '1000 100 first\n2000 10 second\n30');
  t.equal(map.refresh(), true);
  t.equal(map.lookup(0x1050), 'first');
  t.equal(map.lookup(0x2005), 'second');
  t.equal(map.lookup(0x3005), undefined, 'a line without its newline waits');
  appendFileSync(file, '00 10 third\n1040 20 moved-over-first\n');
  map.refresh();
  t.equal(map.lookup(0x3005), 'third', 'the split line is joined');
  t.equal(map.lookup(0x1050), 'moved-over-first', 'a later entry over the same addresses wins');
  t.equal(map.lookup(0x1070), 'first');
  appendFileSync(file, '5000 10 one-too-many\n');
  map.refresh();
  t.equal(map.lookup(0x5005), undefined, 'beyond maxEntries');
  t.equal(map.truncated, 1);
  // The JIT restarted (file recreated, smaller): read from the start again.
  writeFileSync(file, '9000 10 fresh\n');
  map.refresh();
  t.equal(map.lookup(0x9005), 'fresh');
  t.equal(map.lookup(0x2005), undefined);
  t.ok(map.byteEstimate() > 0);
});

const MAPS = `55d0c5a00000-55d0c5a01000 r--p 00000000 fe:00 1234                       /usr/bin/prog with space
55d0c5a01000-55d0c5a02000 r-xp 00001000 fe:00 1234                       /usr/bin/prog with space
7f0000000000-7f0000010000 r-xp 00000000 00:00 0
7f0000100000-7f0000200000 r-xp 00002000 fe:00 99                         /usr/lib/old.so (deleted)
7ffd1c3fe000-7ffd1c400000 r-xp 00000000 00:00 0                          [vdso]
7ffd1c500000-7ffd1c600000 rwxp 00000000 00:00 0                          [anon:v8]
7ffd1c700000-7ffd1c800000 rw-p 00000000 00:00 0                          [heap]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
`;

t.test('executable regions of /proc/<pid>/maps', async (t) => {
  const regions = executableRegions(parseProcMaps(MAPS));
  t.same(regions.map((r) => [r.path, r.kind]), [
    ['/usr/bin/prog with space', 'file'],
    ['', 'anon'],
    ['/usr/lib/old.so', 'file'],
    ['[vdso]', 'vdso'],
    ['[anon:v8]', 'anon'],
  ], 'non-executable and [vsyscall] (above 2^53) left out');
  t.equal(regions[2]!.deleted, true);
  t.equal(regions[0]!.offset, 0x1000);
  t.equal(findRegion(regions, 0x55d0c5a01010)?.path, '/usr/bin/prog with space');
  t.equal(findRegion(regions, 0x7f0000100000)?.path, '/usr/lib/old.so');
  t.equal(findRegion(regions, 0x7f0000200000), undefined, 'end is exclusive');
  t.equal(findRegion(regions, 1), undefined);
  t.equal(classify('memfd:doublemapper (deleted)'), 'anon');
  t.equal(classify('[stack]'), 'special');
  t.equal(namespacePid('Name:\tx\nNSpid:\t4242\t17\nX: 1\n'), 17, 'the innermost pid');
  t.equal(namespacePid('NSpid:\t4242\n'), 4242);
  t.equal(namespacePid('Name: x\n'), undefined);
});

t.test('bounded LRU: count, bytes, resize, eviction order', async (t) => {
  const evicted: string[] = [];
  const lru = new BoundedLru<string, number>(3, 100, (k) => evicted.push(k));
  lru.set('a', 1, 10);
  lru.set('b', 2, 10);
  lru.set('c', 3, 10);
  lru.get('a');
  lru.set('d', 4, 10);
  t.same(evicted, ['b'], 'least recently used first');
  lru.resize('d', 85);
  t.same(evicted, ['b', 'c'], 'growing an entry evicts others to fit');
  t.equal(lru.bytes, 95);
  lru.set('huge', 5, 500);
  t.equal(lru.peek('huge'), 5, 'an entry larger than the budget alone is kept');
  t.equal(lru.size, 1);
  t.ok(lru.delete('huge'));
  t.equal(lru.bytes, 0);
});
