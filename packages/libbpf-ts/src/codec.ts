// Codecs turn JS values into the fixed-size bytes a map holds and back.

export interface Codec<T> {
  readonly size: number;
  encode(value: T): Buffer;
  decode(bytes: Buffer): T;
}

function fixed<T>(size: number, write: (b: Buffer, v: T) => void, read: (b: Buffer) => T): Codec<T> {
  return {
    size,
    encode(value) {
      const b = Buffer.alloc(size);
      write(b, value);
      return b;
    },
    decode: read,
  };
}

export const u8 = fixed<number>(1, (b, v) => b.writeUInt8(v), (b) => b.readUInt8(0));
export const u16 = fixed<number>(2, (b, v) => b.writeUInt16LE(v), (b) => b.readUInt16LE(0));
export const u32 = fixed<number>(4, (b, v) => b.writeUInt32LE(v), (b) => b.readUInt32LE(0));
export const i32 = fixed<number>(4, (b, v) => b.writeInt32LE(v), (b) => b.readInt32LE(0));
export const u64 = fixed<bigint>(8, (b, v) => b.writeBigUInt64LE(v), (b) => b.readBigUInt64LE(0));
export const i64 = fixed<bigint>(8, (b, v) => b.writeBigInt64LE(v), (b) => b.readBigInt64LE(0));

/** Raw bytes of exactly `size` (shorter input is zero-padded, longer is an error). */
export function bytes(size: number): Codec<Buffer> {
  return {
    size,
    encode(value) {
      if (value.length > size) throw new RangeError(`value of ${value.length} bytes exceeds ${size}`);
      const b = Buffer.alloc(size);
      value.copy(b);
      return b;
    },
    decode: (b) => Buffer.from(b),
  };
}

/** A zero-terminated string in a fixed-size field (comm[16], say). */
export function cstring(size: number): Codec<string> {
  return {
    size,
    encode(value) {
      const b = Buffer.alloc(size);
      b.write(value.slice(0, size - 1), 'utf8');
      return b;
    },
    decode(b) {
      const end = b.indexOf(0);
      return b.toString('utf8', 0, end < 0 ? b.length : end);
    },
  };
}
