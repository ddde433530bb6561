// Watch lines from chunks split anywhere, bounded.
import t from 'tap';
import { LineSplitter } from '../../../src/metadata/k8s/line-splitter.js';

const text = '{"type":"ADDED","object":{"n":"é✓"}}\n{"type":"BOOKMARK"}\n\n{"x":1}\n';
const expected = ['{"type":"ADDED","object":{"n":"é✓"}}', '{"type":"BOOKMARK"}', '{"x":1}'];

t.test('the same lines at every split offset (multi-byte characters included)', async (t) => {
  const bytes = Buffer.from(text);
  const wrong: string[] = [];
  for (let i = 0; i <= bytes.length; i++) {
    for (const j of [i, Math.min(bytes.length, i + 1), Math.min(bytes.length, i + 7)]) {
      const s = new LineSplitter(1024);
      const lines = [...s.feed(bytes.subarray(0, i)), ...s.feed(bytes.subarray(i, j)), ...s.feed(bytes.subarray(j))];
      if (JSON.stringify(lines) !== JSON.stringify(expected)) wrong.push(`split at ${i}/${j}: ${JSON.stringify(lines)}`);
    }
  }
  t.same(wrong, [], `${bytes.length + 1} offsets, each with three second splits`);
});

t.test('a line over the bound is dropped to its newline and counted; the next one is whole', async (t) => {
  const s = new LineSplitter(16);
  const long = 'x'.repeat(40);
  const lines = [...s.feed(Buffer.from(`ok\n${long.slice(0, 10)}`)), ...s.feed(Buffer.from(long.slice(10))), ...s.feed(Buffer.from('\nafter\n'))];
  t.same(lines, ['ok', 'after']);
  t.equal(s.tooLong, 1);
  t.same(s.feed(Buffer.from(`${'y'.repeat(16)}\n`)), ['y'.repeat(16)], 'exactly the bound is kept');
});
