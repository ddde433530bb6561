// arm64 returns: every instruction is one aligned little-endian 32-bit word, so a function's RETs are
// found by reading each word. RET Xn is 1101011 0010 11111 000000 nnnnn 00000 (Arm ARM C6.2 "RET");
// Go always returns through the link register (RET = 0xd65f03c0), other compilers may name another
// register, so any Xn counts.

const RET_MASK = 0xfffffc1f;
const RET_BITS = 0xd65f0000;

/** Offsets (within `code`, multiples of 4) of the RET instructions of one function's code. */
export function arm64ReturnOffsets(code: Uint8Array): number[] {
  const out: number[] = [];
  const view = new DataView(code.buffer, code.byteOffset, code.byteLength);
  for (let off = 0; off + 4 <= code.length; off += 4) {
    if (((view.getUint32(off, true) & RET_MASK) >>> 0) === RET_BITS) out.push(off);
  }
  return out;
}
