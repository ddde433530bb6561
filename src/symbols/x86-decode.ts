// An x86-64 instruction-length decoder: enough of the encoding to walk compiled code from a function's
// entry to its end one instruction at a time and find every near RET at an instruction boundary (a
// 0xC3 byte inside another instruction's displacement or immediate is not a return). Go's uprobes on
// crypto/tls need this because uretprobes corrupt Go stacks: the agent probes each RET instead.
//
// Covers 64-bit mode only: legacy prefixes, REX, the one-byte map, 0F, 0F38, 0F3A, 3DNow! (0F 0F),
// VEX (C4/C5), EVEX (62, maps 1/2/3/5/6), AMD XOP (8F with map ≥ 8); ModRM, SIB, displacement and
// immediate sizes. Reference: Intel SDM vol. 2, ch. 2 (instruction format) and appendix A (opcode
// maps). Checked against `objdump -d` over whole Go binaries and a sample of node (test/symbols/x86-decode.test.ts).
// Not covered (an X86DecodeError names them): APX REX2 (D5) and EVEX map 4, opcodes invalid in 64-bit mode.

export class X86DecodeError extends Error {
  constructor(
    message: string,
    /** Offset of the instruction that failed, within the buffer given. */
    readonly offset: number,
    /** Up to 16 bytes from `offset`, as hex: the evidence. */
    readonly bytes: string,
  ) {
    super(`${message} at +0x${offset.toString(16)} (${bytes})`);
    this.name = 'X86DecodeError';
  }
}

export interface X86Instruction {
  /** Offset of the first byte (prefixes included) within the buffer. */
  offset: number;
  length: number;
  /** A near return: C3 or C2 imm16 (prefixes allowed, e.g. `F3 C3`). */
  ret: boolean;
}

/** The architectural limit: longer encodings fault (#UD / #GP). */
export const X86_MAX_INSTRUCTION_LENGTH = 15;

// Operand-shape flags per opcode.
const M = 1; // has a ModRM byte (and maybe SIB + displacement)
const I8 = 2; // imm8 / rel8
const IZ = 4; // imm16 with 66, else imm32 (also rel32: the 66 form does not occur in compiled code)
const I16 = 8; // imm16 (RET imm16)
const IV = 16; // imm16 / imm32 / imm64 with REX.W (MOV r, imm)
const ENTER = 32; // imm16 + imm8
const MOFFS = 64; // 8-byte address, 4 with 67
const GRP3 = 128; // F6/F7: immediate only for /0 and /1 (TEST)
const REG_ONLY = 256; // MOV to/from CR/DR: the ModRM mod field is ignored (always a register)
const I8X2 = 512; // two imm8 (AMD EXTRQ/INSERTQ with 66/F2 0F 78)
const BAD = 1024; // invalid in 64-bit mode
const I32 = 2048; // imm32 regardless of prefixes (XOP map A)

/** The one-byte opcode map (SDM vol. 2 table A-2), 64-bit mode. Prefixes and escapes are handled before. */
const ONE_BYTE = ((): Uint16Array => {
  const t = new Uint16Array(256);
  // ALU blocks 00-3F: op r/m,r (4 forms with ModRM), AL,imm8, eAX,immz; 06/07/0E/16/17/1E/1F/27/2F/37/3F invalid.
  for (let base = 0; base < 0x40; base += 8) {
    t[base] = t[base + 1] = t[base + 2] = t[base + 3] = M;
    t[base + 4] = I8;
    t[base + 5] = IZ;
    t[base + 6] = t[base + 7] = BAD;
  }
  // 26/2E/36/3E are segment prefixes and 0F the escape (handled before this table is consulted).
  t[0x63] = M; // MOVSXD
  t[0x60] = t[0x61] = BAD;
  t[0x68] = IZ;
  t[0x69] = M | IZ;
  t[0x6a] = I8;
  t[0x6b] = M | I8;
  for (let o = 0x70; o <= 0x7f; o++) t[o] = I8; // Jcc rel8
  t[0x80] = M | I8;
  t[0x81] = M | IZ;
  t[0x82] = BAD;
  t[0x83] = M | I8;
  for (let o = 0x84; o <= 0x8f; o++) t[o] = M;
  t[0x9a] = BAD;
  t[0xa0] = t[0xa1] = t[0xa2] = t[0xa3] = MOFFS;
  t[0xa8] = I8;
  t[0xa9] = IZ;
  for (let o = 0xb0; o <= 0xb7; o++) t[o] = I8;
  for (let o = 0xb8; o <= 0xbf; o++) t[o] = IV;
  t[0xc0] = t[0xc1] = M | I8;
  t[0xc2] = I16;
  t[0xc6] = M | I8; // includes XABORT imm8
  t[0xc7] = M | IZ; // includes XBEGIN rel32
  t[0xc8] = ENTER;
  t[0xca] = I16;
  t[0xcd] = I8;
  t[0xce] = BAD;
  t[0xd0] = t[0xd1] = t[0xd2] = t[0xd3] = M;
  t[0xd4] = t[0xd5] = t[0xd6] = BAD; // D5 would be APX REX2
  for (let o = 0xd8; o <= 0xdf; o++) t[o] = M; // x87
  for (let o = 0xe0; o <= 0xe7; o++) t[o] = I8; // LOOPcc/JrCXZ rel8, IN/OUT imm8
  t[0xe8] = t[0xe9] = IZ;
  t[0xea] = BAD;
  t[0xeb] = I8;
  t[0xf6] = M | GRP3;
  t[0xf7] = M | GRP3;
  t[0xfe] = t[0xff] = M;
  return t;
})();

/** The two-byte map 0F xx (SDM table A-3). 0F 38 / 0F 3A / 0F 0F are handled before. */
const TWO_BYTE = ((): Uint16Array => {
  const t = new Uint16Array(256).fill(M);
  t[0x04] = t[0x0a] = t[0x0c] = BAD;
  for (const o of [0x05, 0x06, 0x07, 0x08, 0x09, 0x0b, 0x0e]) t[o] = 0;
  for (let o = 0x20; o <= 0x23; o++) t[o] = M | REG_ONLY;
  for (let o = 0x24; o <= 0x27; o++) t[o] = BAD;
  for (let o = 0x30; o <= 0x35; o++) t[o] = 0;
  t[0x36] = BAD;
  t[0x37] = 0; // GETSEC
  for (let o = 0x39; o <= 0x3f; o++) t[o] = BAD;
  for (let o = 0x70; o <= 0x73; o++) t[o] = M | I8;
  t[0x77] = 0; // EMMS
  t[0x7a] = t[0x7b] = BAD;
  for (let o = 0x80; o <= 0x8f; o++) t[o] = IZ; // Jcc rel32
  t[0xa0] = t[0xa1] = t[0xa2] = 0;
  t[0xa4] = t[0xac] = M | I8; // SHLD/SHRD imm8
  // A6/A7 with F3: VIA PadLock (XSHA*, XCRYPT*), register-form ModRM.
  t[0xa8] = t[0xa9] = t[0xaa] = 0;
  t[0xba] = M | I8;
  t[0xc2] = t[0xc4] = t[0xc5] = t[0xc6] = M | I8;
  for (let o = 0xc8; o <= 0xcf; o++) t[o] = 0; // BSWAP
  return t;
})();

/** VEX/EVEX map 1 opcodes that carry an imm8 (the same instructions as in legacy 0F with imm8). */
function map1HasImm8(op: number): boolean {
  return (op >= 0x70 && op <= 0x73) || op === 0xc2 || op === 0xc4 || op === 0xc5 || op === 0xc6;
}

function hex(code: Uint8Array, offset: number): string {
  return Buffer.from(code.subarray(offset, Math.min(code.length, offset + 16))).toString('hex');
}

/**
 * Decodes the length of the instruction at `offset`, not reading at or past `end` (default: the
 * buffer's end). Throws X86DecodeError for truncated, over-long or invalid encodings.
 */
export function decodeX86(code: Uint8Array, offset: number, end = code.length): X86Instruction {
  const limit = Math.min(end, code.length, offset + X86_MAX_INSTRUCTION_LENGTH);
  const fail = (why: string): never => {
    throw new X86DecodeError(why, offset, hex(code, offset));
  };
  if (!Number.isInteger(offset) || offset < 0 || offset >= Math.min(end, code.length)) fail('offset outside the code');
  let i = offset;
  const byte = (): number => {
    if (i >= limit) fail(i - offset >= X86_MAX_INSTRUCTION_LENGTH ? 'instruction longer than 15 bytes' : 'truncated instruction');
    return code[i++]!;
  };

  let opsize16 = false;
  let addr32 = false;
  let rep = 0; // the last of F2/F3 (a mandatory prefix for some SSE forms)
  let rexW = false;
  let b = byte();
  for (;;) {
    if (b === 0x66) opsize16 = true;
    else if (b === 0x67) addr32 = true;
    else if (b === 0xf2 || b === 0xf3) rep = b;
    else if (b === 0xf0 || b === 0x2e || b === 0x36 || b === 0x3e || b === 0x26 || b === 0x64 || b === 0x65) {
      // LOCK and segment overrides: no effect on length.
    } else if (b >= 0x40 && b <= 0x4f) {
      // REX counts only when the opcode follows it directly. One followed by another prefix is
      // meaningless; objdump shows it as an instruction of its own and so do we (compilers never
      // emit it; it appears when data sits in .text).
      const next = byte();
      if (isLegacyPrefix(next) || (next >= 0x40 && next <= 0x4f)) return { offset, length: i - 1 - offset, ret: false };
      rexW = (b & 8) !== 0;
      b = next;
      break;
    } else break;
    b = byte();
    rexW = false;
  }

  let flags: number;
  let ret = false;
  if (b === 0xc4 || b === 0xc5 || b === 0x62 || (b === 0x8f && i < limit && (code[i]! & 0x1f) >= 8)) {
    // VEX, EVEX and XOP: the prefix names the opcode map; every instruction but VZEROUPPER/VZEROALL has ModRM.
    let map: number;
    if (b === 0xc5) {
      byte();
      map = 1;
    } else if (b === 0xc4) {
      map = byte() & 0x1f;
      byte();
      if (map < 1 || map > 3) fail(`VEX map ${map} is reserved`);
    } else if (b === 0x62) {
      map = byte() & 0x07;
      const p1 = byte();
      byte();
      if ((p1 & 0x04) === 0) fail('EVEX P1 bit 2 must be 1');
      if (map === 0 || map === 4 || map === 7) fail(`EVEX map ${map} not supported`);
    } else {
      map = byte() & 0x1f;
      byte();
      if (map > 0x0a) fail(`XOP map ${map} is reserved`);
    }
    const op = byte();
    if (b === 0x8f) flags = M | (map === 8 ? I8 : map === 0x0a ? I32 : 0);
    else if (map === 1) flags = b !== 0x62 && op === 0x77 ? 0 : M | (map1HasImm8(op) ? I8 : 0);
    else if (map === 3) flags = M | I8;
    else flags = M;
  } else if (b === 0x0f) {
    const op = byte();
    if (op === 0x38) {
      byte();
      flags = M;
    } else if (op === 0x3a) {
      byte();
      flags = M | I8;
    } else if (op === 0x0f) {
      flags = M | I8; // 3DNow!: the imm8 is the opcode suffix
    } else {
      flags = TWO_BYTE[op]!;
      if (op === 0x78 && (opsize16 || rep === 0xf2)) flags = M | I8X2;
    }
  } else {
    flags = ONE_BYTE[b]!;
    ret = b === 0xc3 || b === 0xc2;
  }
  if (flags & BAD) fail('opcode invalid in 64-bit mode');

  if (flags & M) {
    const modrm = byte();
    const mod = modrm >> 6;
    const rm = modrm & 7;
    if (mod !== 3 && !(flags & REG_ONLY)) {
      // 32- and 64-bit addressing share one layout (16-bit addressing does not exist in 64-bit mode).
      let disp = mod === 1 ? 1 : mod === 2 ? 4 : 0;
      if (rm === 4) {
        const sib = byte();
        if (mod === 0 && (sib & 7) === 5) disp = 4;
      } else if (mod === 0 && rm === 5) disp = 4; // RIP-relative
      i += disp;
    }
    if (flags & GRP3 && ((modrm >> 3) & 7) < 2) flags |= b === 0xf6 ? I8 : IZ;
  }
  if (flags & I8) i += 1;
  if (flags & I8X2) i += 2;
  if (flags & I16) i += 2;
  if (flags & I32) i += 4;
  if (flags & IZ) i += opsize16 && !rexW ? 2 : 4;
  if (flags & IV) i += rexW ? 8 : opsize16 ? 2 : 4;
  if (flags & ENTER) i += 3;
  if (flags & MOFFS) i += addr32 ? 4 : 8;
  if (i > limit) fail(i - offset > X86_MAX_INSTRUCTION_LENGTH ? 'instruction longer than 15 bytes' : 'truncated instruction');
  return { offset, length: i - offset, ret };
}

function isLegacyPrefix(b: number): boolean {
  return b === 0x66 || b === 0x67 || b === 0xf0 || b === 0xf2 || b === 0xf3 || b === 0x2e || b === 0x36 || b === 0x3e || b === 0x26 || b === 0x64 || b === 0x65;
}

/** Every instruction from `start` to `end` (default: the whole buffer); the last must end exactly at `end`. */
export function decodeX86Range(code: Uint8Array, start = 0, end = code.length): X86Instruction[] {
  const out: X86Instruction[] = [];
  let off = start;
  while (off < end) {
    const insn = decodeX86(code, off, end);
    out.push(insn);
    off += insn.length;
  }
  return out;
}

/** Offsets (within `code`) of the near RET instructions of one function's code. */
export function x86ReturnOffsets(code: Uint8Array): number[] {
  return decodeX86Range(code).filter((i) => i.ret).map((i) => i.offset);
}
