// Kernel records' zero-terminated fields read as Buffer's UTF-8 decoding reads them.
import t from 'tap';
import { cString } from '../../src/collectors/c-string.js';

const reference = (bytes: Uint8Array): string => {
  const end = bytes.indexOf(0);
  return Buffer.from(bytes.subarray(0, end < 0 ? bytes.length : end)).toString('utf8');
};

t.test('ASCII, UTF-8 and invalid bytes, with and without a NUL, read as Buffer decodes them', async (t) => {
  const cases = [
    Buffer.from('nginx\0\0\0\0\0\0\0\0\0\0\0'),
    Buffer.from('exactly16bytes!!'),
    Buffer.from('\0after-nul'),
    Buffer.from('grüße\0x'),
    Buffer.from([0xff, 0xfe, 0x41, 0xc3, 0, 0x42]),
    Buffer.from([0xe2, 0x82]),
    new Uint8Array(0),
  ];
  for (const c of cases) t.equal(cString(c), reference(c), JSON.stringify([...c]));
  t.equal(cString(Buffer.from('nginx\0worker')), 'nginx');
});

t.test('random fields of 16 and 256 bytes read as Buffer decodes them', async (t) => {
  let seed = 7;
  const next = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) >>> 16;
  let mismatches = 0;
  for (let i = 0; i < 4000; i++) {
    const bytes = new Uint8Array(i % 2 === 0 ? 16 : 256);
    // Mostly printable ASCII, now and then a byte of any value (NUL, UTF-8 lead or continuation).
    for (let k = 0; k < bytes.length; k++) bytes[k] = next() % 8 === 0 ? next() & 0xff : 0x20 + (next() % 95);
    if (cString(bytes) !== reference(bytes)) mismatches++;
  }
  t.equal(mismatches, 0);
});
