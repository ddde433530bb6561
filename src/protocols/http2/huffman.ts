// The HPACK Huffman code (RFC 7541 §5.2, Appendix B): a canonical code over the 256 octets and EOS.
//
// Decoding walks the code tree four bits at a time, as nghttp2 does: a table built once at load
// gives, for each internal node and nibble, the node reached, the octet completed on the way (at
// most one: no code is shorter than 5 bits) and whether EOS was crossed. A string is valid when it
// ends on a code boundary or inside a prefix of EOS of at most 7 bits (§5.2: padding is the most
// significant bits of EOS; longer padding, or an EOS symbol, is a decoding error).

/**
 * RFC 7541 Appendix B, in symbol order: code (aligned to the least significant bit), length in
 * bits. Symbol 256 is EOS. Transcribed from the RFC's table; test/protocols/http2/huffman.test.ts
 * checks that it is a complete prefix code and reproduces the RFC's encoded examples.
 */
// prettier-ignore
export const HUFFMAN_TABLE: readonly number[] = [
  0x1ff8, 13, 0x7fffd8, 23, 0xfffffe2, 28, 0xfffffe3, 28, 0xfffffe4, 28, 0xfffffe5, 28, 0xfffffe6, 28, 0xfffffe7, 28,
  0xfffffe8, 28, 0xffffea, 24, 0x3ffffffc, 30, 0xfffffe9, 28, 0xfffffea, 28, 0x3ffffffd, 30, 0xfffffeb, 28, 0xfffffec, 28,
  0xfffffed, 28, 0xfffffee, 28, 0xfffffef, 28, 0xffffff0, 28, 0xffffff1, 28, 0xffffff2, 28, 0x3ffffffe, 30, 0xffffff3, 28,
  0xffffff4, 28, 0xffffff5, 28, 0xffffff6, 28, 0xffffff7, 28, 0xffffff8, 28, 0xffffff9, 28, 0xffffffa, 28, 0xffffffb, 28,
  0x14, 6, 0x3f8, 10, 0x3f9, 10, 0xffa, 12, 0x1ff9, 13, 0x15, 6, 0xf8, 8, 0x7fa, 11,
  0x3fa, 10, 0x3fb, 10, 0xf9, 8, 0x7fb, 11, 0xfa, 8, 0x16, 6, 0x17, 6, 0x18, 6,
  0x0, 5, 0x1, 5, 0x2, 5, 0x19, 6, 0x1a, 6, 0x1b, 6, 0x1c, 6, 0x1d, 6,
  0x1e, 6, 0x1f, 6, 0x5c, 7, 0xfb, 8, 0x7ffc, 15, 0x20, 6, 0xffb, 12, 0x3fc, 10,
  0x1ffa, 13, 0x21, 6, 0x5d, 7, 0x5e, 7, 0x5f, 7, 0x60, 7, 0x61, 7, 0x62, 7,
  0x63, 7, 0x64, 7, 0x65, 7, 0x66, 7, 0x67, 7, 0x68, 7, 0x69, 7, 0x6a, 7,
  0x6b, 7, 0x6c, 7, 0x6d, 7, 0x6e, 7, 0x6f, 7, 0x70, 7, 0x71, 7, 0x72, 7,
  0xfc, 8, 0x73, 7, 0xfd, 8, 0x1ffb, 13, 0x7fff0, 19, 0x1ffc, 13, 0x3ffc, 14, 0x22, 6,
  0x7ffd, 15, 0x3, 5, 0x23, 6, 0x4, 5, 0x24, 6, 0x5, 5, 0x25, 6, 0x26, 6,
  0x27, 6, 0x6, 5, 0x74, 7, 0x75, 7, 0x28, 6, 0x29, 6, 0x2a, 6, 0x7, 5,
  0x2b, 6, 0x76, 7, 0x2c, 6, 0x8, 5, 0x9, 5, 0x2d, 6, 0x77, 7, 0x78, 7,
  0x79, 7, 0x7a, 7, 0x7b, 7, 0x7ffe, 15, 0x7fc, 11, 0x3ffd, 14, 0x1ffd, 13, 0xffffffc, 28,
  0xfffe6, 20, 0x3fffd2, 22, 0xfffe7, 20, 0xfffe8, 20, 0x3fffd3, 22, 0x3fffd4, 22, 0x3fffd5, 22, 0x7fffd9, 23,
  0x3fffd6, 22, 0x7fffda, 23, 0x7fffdb, 23, 0x7fffdc, 23, 0x7fffdd, 23, 0x7fffde, 23, 0xffffeb, 24, 0x7fffdf, 23,
  0xffffec, 24, 0xffffed, 24, 0x3fffd7, 22, 0x7fffe0, 23, 0xffffee, 24, 0x7fffe1, 23, 0x7fffe2, 23, 0x7fffe3, 23,
  0x7fffe4, 23, 0x1fffdc, 21, 0x3fffd8, 22, 0x7fffe5, 23, 0x3fffd9, 22, 0x7fffe6, 23, 0x7fffe7, 23, 0xffffef, 24,
  0x3fffda, 22, 0x1fffdd, 21, 0xfffe9, 20, 0x3fffdb, 22, 0x3fffdc, 22, 0x7fffe8, 23, 0x7fffe9, 23, 0x1fffde, 21,
  0x7fffea, 23, 0x3fffdd, 22, 0x3fffde, 22, 0xfffff0, 24, 0x1fffdf, 21, 0x3fffdf, 22, 0x7fffeb, 23, 0x7fffec, 23,
  0x1fffe0, 21, 0x1fffe1, 21, 0x3fffe0, 22, 0x1fffe2, 21, 0x7fffed, 23, 0x3fffe1, 22, 0x7fffee, 23, 0x7fffef, 23,
  0xfffea, 20, 0x3fffe2, 22, 0x3fffe3, 22, 0x3fffe4, 22, 0x7ffff0, 23, 0x3fffe5, 22, 0x3fffe6, 22, 0x7ffff1, 23,
  0x3ffffe0, 26, 0x3ffffe1, 26, 0xfffeb, 20, 0x7fff1, 19, 0x3fffe7, 22, 0x7ffff2, 23, 0x3fffe8, 22, 0x1ffffec, 25,
  0x3ffffe2, 26, 0x3ffffe3, 26, 0x3ffffe4, 26, 0x7ffffde, 27, 0x7ffffdf, 27, 0x3ffffe5, 26, 0xfffff1, 24, 0x1ffffed, 25,
  0x7fff2, 19, 0x1fffe3, 21, 0x3ffffe6, 26, 0x7ffffe0, 27, 0x7ffffe1, 27, 0x3ffffe7, 26, 0x7ffffe2, 27, 0xfffff2, 24,
  0x1fffe4, 21, 0x1fffe5, 21, 0x3ffffe8, 26, 0x3ffffe9, 26, 0xffffffd, 28, 0x7ffffe3, 27, 0x7ffffe4, 27, 0x7ffffe5, 27,
  0xfffec, 20, 0xfffff3, 24, 0xfffed, 20, 0x1fffe6, 21, 0x3fffe9, 22, 0x1fffe7, 21, 0x1fffe8, 21, 0x7ffff3, 23,
  0x3fffea, 22, 0x3fffeb, 22, 0x1ffffee, 25, 0x1ffffef, 25, 0xfffff4, 24, 0xfffff5, 24, 0x3ffffea, 26, 0x7ffff4, 23,
  0x3ffffeb, 26, 0x7ffffe6, 27, 0x3ffffec, 26, 0x3ffffed, 26, 0x7ffffe7, 27, 0x7ffffe8, 27, 0x7ffffe9, 27, 0x7ffffea, 27,
  0x7ffffeb, 27, 0xffffffe, 28, 0x7ffffec, 27, 0x7ffffed, 27, 0x7ffffee, 27, 0x7ffffef, 27, 0x7fffff0, 27, 0x3ffffee, 26,
  0x3fffffff, 30,
];

export const EOS = 256;

/** Internal nodes of the code tree (257 leaves → 256 internal nodes). */
const NODES = 256;
/** Per (node, nibble): next node << 16 | flags << 9 | symbol. */
const TRANSITIONS = new Uint32Array(NODES * 16);
/** The node is a prefix of EOS (all ones) at most 7 bits deep: a valid place to end. */
const ACCEPTS = new Uint8Array(NODES);
const EMITS = 1 << 9;
const FAILS = 1 << 10;

function buildTables(): void {
  // The tree: children of internal node n at kids[2n], kids[2n+1]; a leaf is stored as -(symbol+1).
  const kids = new Int32Array(NODES * 2);
  let next = 1; // node 0 is the root
  for (let sym = 0; sym <= EOS; sym++) {
    const code = HUFFMAN_TABLE[sym * 2]!;
    const len = HUFFMAN_TABLE[sym * 2 + 1]!;
    let node = 0;
    for (let b = len - 1; b >= 0; b--) {
      const slot = node * 2 + ((code >>> b) & 1);
      if (b === 0) {
        kids[slot] = -(sym + 1);
      } else {
        if (kids[slot] === 0) kids[slot] = next++;
        node = kids[slot]!;
      }
    }
  }
  // Nodes on the all-ones path (prefixes of EOS) no deeper than 7 bits accept the end of input.
  let node = 0;
  for (let depth = 0; depth <= 7; depth++) {
    ACCEPTS[node] = 1;
    node = kids[node * 2 + 1]!;
  }
  for (let n = 0; n < NODES; n++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let cur = n;
      let flags = 0;
      let sym = 0;
      for (let b = 3; b >= 0; b--) {
        const child = kids[cur * 2 + ((nibble >>> b) & 1)]!;
        if (child < 0) {
          const s = -child - 1;
          if (s === EOS) flags |= FAILS;
          else {
            flags |= EMITS;
            sym = s;
          }
          cur = 0;
        } else cur = child;
      }
      TRANSITIONS[n * 16 + nibble] = (cur << 16) | flags | sym;
    }
  }
}
buildTables();

/**
 * Decodes `src[from..to)` into `out` (which must hold at least (to - from) * 8 / 5 bytes).
 * Returns the number of octets written, or -1 when the string is not valid Huffman code.
 */
export function huffmanDecode(src: Uint8Array, from: number, to: number, out: Uint8Array): number {
  let node = 0;
  let n = 0;
  for (let i = from; i < to; i++) {
    const byte = src[i]!;
    let t = TRANSITIONS[node * 16 + (byte >>> 4)]!;
    if ((t & FAILS) !== 0) return -1;
    if ((t & EMITS) !== 0) out[n++] = t & 0xff;
    node = t >>> 16;
    t = TRANSITIONS[node * 16 + (byte & 0x0f)]!;
    if ((t & FAILS) !== 0) return -1;
    if ((t & EMITS) !== 0) out[n++] = t & 0xff;
    node = t >>> 16;
  }
  return ACCEPTS[node] === 1 ? n : -1;
}

/** Upper bound of the decoded length of `encodedLength` octets (the shortest code is 5 bits). */
export function huffmanDecodedBound(encodedLength: number): number {
  return Math.ceil((encodedLength * 8) / 5);
}

/** Encodes octets with the HPACK Huffman code, padding with the most significant bits of EOS. */
export function huffmanEncode(src: Uint8Array): Uint8Array {
  let bits = 0;
  for (const b of src) bits += HUFFMAN_TABLE[b * 2 + 1]!;
  const out = new Uint8Array(Math.ceil(bits / 8));
  let acc = 0; // pending bits, at most 7 + 30 < 53: safe in a double
  let pending = 0;
  let n = 0;
  for (const b of src) {
    const len = HUFFMAN_TABLE[b * 2 + 1]!;
    acc = acc * 2 ** len + HUFFMAN_TABLE[b * 2]!;
    pending += len;
    while (pending >= 8) {
      pending -= 8;
      out[n++] = Math.floor(acc / 2 ** pending) & 0xff;
      acc %= 2 ** pending;
    }
  }
  if (pending > 0) out[n] = ((acc << (8 - pending)) | (0xff >>> pending)) & 0xff;
  return out;
}
