// A cursor over one packet payload with the protocol's basic types ("Basic Data Types":
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_data_types.html).
//
// Captures are truncated, so every read is bounds-checked. A read past the end never throws and
// never looks beyond the payload: it returns a neutral value (0, "", an empty array) and sets
// `failed`, which stays set. Message parsers read straight through and check `failed` once.

const EMPTY = new Uint8Array(0);
const utf8 = new TextDecoder('utf-8', { fatal: false });

export class PacketReader {
  pos: number;
  /** A read ran past the end or met an invalid encoding; every value since is meaningless. */
  failed = false;

  constructor(
    readonly bytes: Uint8Array,
    start = 0,
    readonly end = bytes.length,
  ) {
    this.pos = start;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  get atEnd(): boolean {
    return this.pos >= this.end;
  }

  /** Marks the reader failed when fewer than `n` bytes remain; true when they are there. */
  private has(n: number): boolean {
    if (this.failed) return false;
    if (n < 0 || this.pos + n > this.end) {
      this.failed = true;
      return false;
    }
    return true;
  }

  u8(): number {
    if (!this.has(1)) return 0;
    return this.bytes[this.pos++]!;
  }

  /** The next byte without consuming it; -1 at the end (not a failure). */
  peek(): number {
    return !this.failed && this.pos < this.end ? this.bytes[this.pos]! : -1;
  }

  u16(): number {
    if (!this.has(2)) return 0;
    const b = this.bytes;
    const p = this.pos;
    this.pos += 2;
    return b[p]! | (b[p + 1]! << 8);
  }

  u24(): number {
    if (!this.has(3)) return 0;
    const b = this.bytes;
    const p = this.pos;
    this.pos += 3;
    return b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16);
  }

  u32(): number {
    if (!this.has(4)) return 0;
    const b = this.bytes;
    const p = this.pos;
    this.pos += 4;
    return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16)) + b[p + 3]! * 0x1000000;
  }

  /** int<8> as a number: exact up to 2^53, approximate above (row counts never get there). */
  u64(): number {
    const lo = this.u32();
    const hi = this.u32();
    return hi * 0x1_0000_0000 + lo;
  }

  /**
   * int<lenenc>: < 0xfb is the value, 0xfc/0xfd/0xfe prefix 2/3/8 bytes. 0xfb (NULL in a row) and
   * 0xff are not integers: failure.
   */
  lenenc(): number {
    const first = this.u8();
    if (this.failed) return 0;
    if (first < 0xfb) return first;
    if (first === 0xfc) return this.u16();
    if (first === 0xfd) return this.u24();
    if (first === 0xfe) return this.u64();
    this.failed = true;
    return 0;
  }

  /** `n` bytes as a view into the payload (no copy). */
  bytesView(n: number): Uint8Array {
    if (!this.has(n)) return EMPTY;
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  skip(n: number): void {
    if (this.has(n)) this.pos += n;
  }

  /** string<fix>. */
  string(n: number): string {
    const v = this.bytesView(n);
    return v.length === 0 ? '' : utf8.decode(v);
  }

  /** string<NUL>: fails when no NUL comes before the end. */
  cstring(): string {
    if (this.failed) return '';
    const b = this.bytes;
    let i = this.pos;
    while (i < this.end && b[i] !== 0) i++;
    if (i >= this.end) {
      this.failed = true;
      return '';
    }
    const s = i === this.pos ? '' : utf8.decode(b.subarray(this.pos, i));
    this.pos = i + 1;
    return s;
  }

  /** string<NUL> skipped without decoding. */
  skipCstring(): void {
    if (this.failed) return;
    const b = this.bytes;
    let i = this.pos;
    while (i < this.end && b[i] !== 0) i++;
    if (i >= this.end) this.failed = true;
    else this.pos = i + 1;
  }

  /** string<lenenc>. */
  lenencString(): string {
    const n = this.lenenc();
    return this.failed ? '' : this.string(n);
  }

  /** string<lenenc> skipped. */
  skipLenencString(): void {
    const n = this.lenenc();
    if (!this.failed) this.skip(n);
  }

  /** string<EOF>: the rest of the payload. */
  rest(): string {
    if (this.failed || this.pos >= this.end) return '';
    const s = utf8.decode(this.bytes.subarray(this.pos, this.end));
    this.pos = this.end;
    return s;
  }
}
