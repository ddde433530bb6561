// DwarfCursor's LEB128 readers (DWARF 5 §7.6) against a plain bigint decoding of the same bytes:
// every one- and two-byte sequence, values around each 7-bit boundary, random sequences up to 11
// bytes, and every truncation — the one-byte (uleb) and up-to-7-byte (sleb) fast paths must give
// exactly what the general decoding gives, numbers and bigints alike, and fail where it fails.
import t, { type Test } from 'tap';
import { DwarfCursor, DwarfError, type DwarfInt } from '../../src/symbols/dwarf-cursor.js';

/** The spec's decoding: 7 bits a byte, low first, to 64 bits; a number when it is a safe integer. */
function reference(bytes: readonly number[], signed: boolean): { value: DwarfInt; length: number } | 'error' {
  let v = 0n;
  for (let i = 0; i < Math.min(bytes.length, 10); i++) {
    const b = bytes[i]!;
    v |= BigInt(b & 0x7f) << BigInt(7 * i);
    if ((b & 0x80) === 0) {
      if (signed && b & 0x40) v -= 1n << BigInt(7 * (i + 1));
      v = signed ? BigInt.asIntN(64, v) : BigInt.asUintN(64, v);
      const safe = v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER);
      return { value: safe ? Number(v) : v, length: i + 1 };
    }
  }
  return 'error';
}

function decode(bytes: readonly number[], signed: boolean): { value: DwarfInt; length: number } | 'error' {
  // Bytes after the end of the cursor's range, to show a read never goes past it.
  const c = new DwarfCursor(Buffer.from([...bytes, 0x00, 0x00]), 0, bytes.length, '.test');
  try {
    const value = signed ? c.sleb() : c.uleb();
    return { value, length: c.pos };
  } catch (e) {
    if (e instanceof DwarfError) return 'error';
    throw e;
  }
}

function encode(v: bigint, signed: boolean): number[] {
  const out: number[] = [];
  for (;;) {
    const low = Number(v & 0x7fn);
    v >>= 7n;
    const done = signed ? (v === 0n && (low & 0x40) === 0) || (v === -1n && (low & 0x40) !== 0) : v === 0n;
    out.push(done ? low : low | 0x80);
    if (done) return out;
  }
}

function check(t: Test, cases: Iterable<number[]>): void {
  let n = 0;
  const bad: string[] = [];
  for (const bytes of cases) {
    for (const signed of [false, true]) {
      n++;
      const want = reference(bytes, signed);
      const got = decode(bytes, signed);
      if (JSON.stringify(got, (_, x) => (typeof x === 'bigint' ? `${x}n` : x)) !== JSON.stringify(want, (_, x) => (typeof x === 'bigint' ? `${x}n` : x))) {
        bad.push(`${signed ? 'sleb' : 'uleb'} [${bytes.map((b) => b.toString(16)).join(' ')}]: ${String(got === 'error' ? got : got.value)}, want ${String(want === 'error' ? want : want.value)}`);
      }
    }
  }
  t.same(bad.slice(0, 10), [], `${n} decodings, ${bad.length} different`);
}

t.test('every one- and two-byte sequence, and each truncated', async (t) => {
  const cases: number[][] = [[]];
  for (let a = 0; a < 256; a++) {
    cases.push([a]);
    for (let b = 0; b < 256; b++) cases.push([a, b]);
  }
  check(t, cases);
});

t.test('values around every 7-bit boundary up to 64 bits, and their truncations', async (t) => {
  const cases: number[][] = [];
  for (let bits = 0; bits <= 64; bits++) {
    for (const d of [-2n, -1n, 0n, 1n]) {
      for (const v of [(1n << BigInt(bits)) + d, -(1n << BigInt(bits)) + d]) {
        for (const signed of [false, true]) {
          if (!signed && v < 0n) continue;
          const bytes = encode(v, signed);
          for (let n = 0; n <= bytes.length; n++) cases.push(bytes.slice(0, n));
          // The same value padded with redundant continuation bytes (legal, up to 10 bytes).
          if (bytes.length < 10) cases.push([...bytes.slice(0, -1), bytes.at(-1)! | 0x80, signed && v < 0n ? 0x7f : 0x00]);
        }
      }
    }
  }
  check(t, cases);
});

t.test('random sequences of 1 to 11 bytes', async (t) => {
  let seed = 0x2545f491;
  const rand = (): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return seed >>> 0;
  };
  const cases: number[][] = [];
  for (let i = 0; i < 50_000; i++) {
    const len = 1 + (rand() % 11);
    const bytes = Array.from({ length: len }, () => rand() & 0xff);
    // Mostly continuation bytes, so that long values are common.
    for (let j = 0; j < len - 1; j++) if (rand() % 4 !== 0) bytes[j] = bytes[j]! | 0x80;
    cases.push(bytes);
  }
  check(t, cases);
});
