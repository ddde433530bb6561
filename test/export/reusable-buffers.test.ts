import t from 'tap';
import { ReusableBuffers } from '../../src/export/reusable-buffers.js';

t.test('a copy holds the bytes, and its buffer serves the next body once released', (t) => {
  const pool = new ReusableBuffers(2, 1 << 20);
  const a = pool.copyOf(Buffer.from('first body'));
  t.equal(a.toString(), 'first body');
  t.equal(a.buffer.byteLength, 64 * 1024, 'sizes start at 64 KiB');
  const b = pool.copyOf(Buffer.from('second'));
  t.not(b.buffer, a.buffer, 'a body in use is never handed out again');
  pool.release(a);
  const c = pool.copyOf(Buffer.from('third'));
  t.equal(c.buffer, a.buffer, 'the released buffer is reused');
  t.equal(c.toString(), 'third');
  t.equal(b.toString(), 'second', 'the body still in use is untouched');
  t.end();
});

t.test('sizes go up in powers of two; buffers too small or too large are not reused', (t) => {
  const pool = new ReusableBuffers(4, 256 * 1024);
  const big = pool.copyOf(Buffer.alloc(200 * 1024, 1));
  t.equal(big.buffer.byteLength, 256 * 1024);
  pool.release(big);
  const small = pool.copyOf(Buffer.alloc(10));
  t.equal(small.buffer, big.buffer, 'a larger spare serves a smaller body');
  pool.release(small);
  const huge = pool.copyOf(Buffer.alloc(300 * 1024, 2));
  t.not(huge.buffer, big.buffer, 'a spare too small for the body is not used');
  t.equal(huge.buffer.byteLength, 512 * 1024);
  pool.release(huge); // over maxSpareBytes: let go
  const again = pool.copyOf(Buffer.alloc(300 * 1024));
  t.not(again.buffer, huge.buffer, 'a buffer over the largest kept was not kept');
  t.end();
});

t.test('at most maxSpare buffers are kept', (t) => {
  const pool = new ReusableBuffers(1, 1 << 20);
  const a = pool.copyOf(Buffer.from('a'));
  const b = pool.copyOf(Buffer.from('b'));
  pool.release(a);
  pool.release(b); // the pool is full: b is let go
  const c = pool.copyOf(Buffer.from('c'));
  const d = pool.copyOf(Buffer.from('d'));
  t.equal(c.buffer, a.buffer);
  t.not(d.buffer, b.buffer);
  t.end();
});
