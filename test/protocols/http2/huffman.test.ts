// The Huffman code (RFC 7541 Appendix B): the transcribed table is a complete prefix code, decodes
// the RFC's own examples (Appendix C.4, C.6), and rejects what §5.2 forbids.
import t from 'tap';
import { EOS, HUFFMAN_TABLE, huffmanDecode, huffmanDecodedBound, huffmanEncode } from '../../../src/protocols/http2/huffman.js';
import { prng } from './builder.js';

const decode = (hex: string): string | null => {
  const src = Buffer.from(hex.replace(/\s+/g, ''), 'hex');
  const out = Buffer.alloc(huffmanDecodedBound(src.length));
  const n = huffmanDecode(src, 0, src.length, out);
  return n < 0 ? null : out.toString('latin1', 0, n);
};

t.test('the table is a complete prefix code of 257 symbols', async (t) => {
  t.equal(HUFFMAN_TABLE.length, 257 * 2);
  const codes: string[] = [];
  let kraft = 0;
  for (let s = 0; s <= EOS; s++) {
    const code = HUFFMAN_TABLE[s * 2]!;
    const len = HUFFMAN_TABLE[s * 2 + 1]!;
    t.ok(len >= 5 && len <= 30, `symbol ${s}: length ${len}`);
    t.ok(code < 2 ** len, `symbol ${s}: code fits its length`);
    codes.push(code.toString(2).padStart(len, '0'));
    kraft += 2 ** -len;
  }
  t.equal(kraft, 1, 'Kraft sum is exactly 1: every bit string decodes');
  codes.sort();
  let prefixFree = true;
  for (let i = 1; i < codes.length; i++) if (codes[i]!.startsWith(codes[i - 1]!)) prefixFree = false;
  t.ok(prefixFree, 'no code is a prefix of another');
  t.equal(HUFFMAN_TABLE[EOS * 2], 0x3fffffff, 'EOS is 30 ones');
});

t.test('RFC 7541 Appendix C.4 and C.6 strings', async (t) => {
  const cases: Array<[string, string]> = [
    ['f1e3 c2e5 f23a 6ba0 ab90 f4ff', 'www.example.com'],
    ['a8eb 1064 9cbf', 'no-cache'],
    ['25a8 49e9 5ba9 7d7f', 'custom-key'],
    ['25a8 49e9 5bb8 e8b4 bf', 'custom-value'],
    ['6402', '302'],
    ['aec3 771a 4b', 'private'],
    ['d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff', 'Mon, 21 Oct 2013 20:13:21 GMT'],
    ['9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3', 'https://www.example.com'],
    ['640e ff', '307'],
    ['9bd9 ab', 'gzip'],
    ['94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07',
      'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'],
  ];
  for (const [hex, text] of cases) {
    t.equal(decode(hex), text, text);
    t.equal(Buffer.from(huffmanEncode(Buffer.from(text, 'latin1'))).toString('hex'), hex.replace(/\s+/g, ''), `encodes ${text}`);
  }
});

t.test('every octet round-trips; random strings round-trip', async (t) => {
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  t.same(decode(Buffer.from(huffmanEncode(all)).toString('hex')), all.toString('latin1'));
  const rnd = prng(7);
  for (let i = 0; i < 200; i++) {
    const s = Buffer.from(Array.from({ length: Math.floor(rnd() * 64) }, () => Math.floor(rnd() * 256)));
    t.equal(decode(Buffer.from(huffmanEncode(s)).toString('hex')), s.toString('latin1'));
  }
});

t.test('§5.2: padding longer than 7 bits, padding not of ones, and EOS are errors', async (t) => {
  t.equal(decode('ff'), null, '8 bits of ones: padding too long');
  t.equal(decode('ffff'), null);
  t.equal(decode('3fffffff'), null, 'EOS inside');
  t.equal(decode('f1e3c2e5f23a6ba0ab90f4fe'), null, 'last padding bit 0');
  t.equal(decode('00'), null, "'0' then 000 padding");
  t.equal(decode(''), '', 'empty string');
  t.equal(decode('07'), '0', "'0' (00000) + 111 padding");
});
