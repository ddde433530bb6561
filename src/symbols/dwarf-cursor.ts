// A bounded reader over one DWARF section: fixed-size little-endian integers, LEB128, C strings.
// Every read checks the bound it was given, so a corrupt length or offset becomes a DwarfError that
// names the section and offset instead of a read past the end.

export class DwarfError extends Error {
  constructor(
    message: string,
    /** The section being read (`.debug_info`, …). */
    readonly section: string,
    /** Offset within that section where reading failed. */
    readonly offset: number,
    options?: { cause?: unknown },
  ) {
    super(`${section}+0x${offset.toString(16)}: ${message}`, options);
    this.name = 'DwarfError';
  }
}

/** LEB128 values are decoded as numbers up to 2^53; larger ones (64-bit constants) as bigints. */
export type DwarfInt = number | bigint;

const LEB_MAX_BYTES = 10; // 64 bits need at most 10 groups of 7

export class DwarfCursor {
  /**
   * The section offset of `buf`'s first byte: 0 when `buf` is the whole section; else `buf` is a
   * window of it (eh-frame.ts reads .eh_frame so), moved by whoever reads through the cursor.
   */
  base = 0;

  constructor(
    public buf: Buffer,
    public pos: number,
    /** Exclusive bound: no read reaches it. */
    public end: number,
    readonly section: string,
  ) {
    if (end > buf.length) this.end = buf.length;
  }

  error(message: string, at = this.pos): DwarfError {
    return new DwarfError(message, this.section, this.base + at);
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number): number {
    const at = this.pos;
    if (n < 0 || at + n > this.end) throw this.error(`needs ${n} bytes, ${Math.max(0, this.end - at)} left`);
    this.pos = at + n;
    return at;
  }

  u8(): number {
    const at = this.pos;
    if (at >= this.end) throw this.error(`needs 1 bytes, 0 left`);
    this.pos = at + 1;
    return this.buf[at]!;
  }

  u16(): number {
    return this.buf.readUInt16LE(this.need(2));
  }

  u24(): number {
    const at = this.need(3);
    return this.buf[at]! | (this.buf[at + 1]! << 8) | (this.buf[at + 2]! << 16);
  }

  u32(): number {
    return this.buf.readUInt32LE(this.need(4));
  }

  /** A 64-bit value as a number when it fits in 2^53, else a bigint. */
  u64(): DwarfInt {
    const v = this.buf.readBigUInt64LE(this.need(8));
    return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }

  u64Big(): bigint {
    return this.buf.readBigUInt64LE(this.need(8));
  }

  /** A 64-bit offset or length that must fit in a number (it indexes a buffer). */
  u64Offset(): number {
    const v = this.u64();
    if (typeof v === 'bigint') throw this.error(`offset ${v} too large`, this.pos - 8);
    return v;
  }

  /** An unsigned value of `size` bytes (1, 2, 4 or 8): addresses, offsets. */
  uN(size: number): number {
    switch (size) {
      case 1: return this.u8();
      case 2: return this.u16();
      case 4: return this.u32();
      case 8: return this.u64Offset();
      default: throw this.error(`unsupported size ${size}`);
    }
  }

  uleb(): DwarfInt {
    // Most values in CFA programs and DWARF attributes fit in one byte: no loop for them.
    const at = this.pos;
    if (at < this.end) {
      const b = this.buf[at]!;
      if (b < 0x80) {
        this.pos = at + 1;
        return b;
      }
    }
    return this.ulebLong();
  }

  private ulebLong(): DwarfInt {
    const start = this.pos;
    let result = 0;
    let scale = 1; // 2 ** (7 * i), kept as a product: no Math.pow per byte
    let big: bigint | undefined;
    for (let i = 0; i < LEB_MAX_BYTES; i++) {
      const b = this.u8();
      const low = b & 0x7f;
      if (big === undefined && i < 7) {
        result += low * scale;
        scale *= 128;
      } else {
        big ??= BigInt(result);
        big |= BigInt(low) << BigInt(7 * i);
      }
      if ((b & 0x80) === 0) {
        if (big === undefined) return result;
        big = BigInt.asUintN(64, big);
        return big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
      }
    }
    throw this.error('LEB128 longer than 10 bytes', start);
  }

  /** An unsigned LEB128 that must be a number (a count, index or length). */
  ulebNumber(): number {
    const at = this.pos;
    const v = this.uleb();
    if (typeof v === 'bigint') throw this.error(`value ${v} too large`, at);
    return v;
  }

  sleb(): DwarfInt {
    // Up to 7 bytes (49 bits) a number holds exactly: no bigint (the long form builds one for every value).
    const start = this.pos;
    let value = 0;
    let scale = 1;
    for (let at = start; at < this.end && at < start + 7; at++) {
      const b = this.buf[at]!;
      value += (b & 0x7f) * scale;
      scale *= 128;
      if ((b & 0x80) === 0) {
        this.pos = at + 1;
        return b & 0x40 ? value - scale : value;
      }
    }
    return this.slebLong();
  }

  private slebLong(): DwarfInt {
    const start = this.pos;
    let big = 0n;
    for (let i = 0; i < LEB_MAX_BYTES; i++) {
      const b = this.u8();
      big |= BigInt(b & 0x7f) << BigInt(7 * i);
      if ((b & 0x80) === 0) {
        if (b & 0x40) big -= 1n << BigInt(7 * (i + 1));
        big = BigInt.asIntN(64, big);
        return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
      }
    }
    throw this.error('LEB128 longer than 10 bytes', start);
  }

  cstring(): string {
    const start = this.pos;
    const nul = this.buf.indexOf(0, start);
    if (nul < 0 || nul >= this.end) throw this.error('unterminated string', start);
    this.pos = nul + 1;
    return this.buf.toString('utf8', start, nul);
  }

  /** Skips a C string without decoding it. */
  skipCstring(): void {
    const nul = this.buf.indexOf(0, this.pos);
    if (nul < 0 || nul >= this.end) throw this.error('unterminated string');
    this.pos = nul + 1;
  }

  bytes(n: number): Buffer {
    const at = this.need(n);
    return this.buf.subarray(at, at + n);
  }

  skip(n: number): void {
    this.need(n);
  }
}

/** A NUL-terminated string at `offset` of a string section (.debug_str, .debug_line_str). */
export function stringAt(buf: Buffer | undefined, section: string, offset: number): string {
  if (!buf) throw new DwarfError('section missing', section, offset);
  if (!Number.isSafeInteger(offset) || offset < 0 || offset >= buf.length) throw new DwarfError('string offset outside the section', section, offset);
  const nul = buf.indexOf(0, offset);
  if (nul < 0) throw new DwarfError('unterminated string', section, offset);
  return buf.toString('utf8', offset, nul);
}
