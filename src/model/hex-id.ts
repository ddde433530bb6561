// W3C trace-context ids (lowercase hex: a trace id's 32 digits, a span id's 16) checked char by char,
// for ids read as text: the traceparent fields of requests (semconv/traceparent.ts), a span's ids
// given as text (model/span-ids.ts), and the records checked before encoding (log records, profile
// labels; export/proto-writer.ts decodes their ids).

/**
 * A char code's value as a lowercase hex digit (0-15), or 0xff for any other code below 128. A
 * table, not `c <= 0x39 ? c - 0x30 : c - 0x57`: random ids are half digits, half letters, and that
 * branch mispredicted on every other char (decoding a span's three ids took ~400 ns, ~160 with the
 * table; node 20 on this VM).
 */
const HEX_VALUE = new Uint8Array(128).fill(0xff);
for (let i = 0; i < 16; i++) HEX_VALUE['0123456789abcdef'.charCodeAt(i)] = i;

/**
 * A char code's part in checking an id: its value as a lowercase hex digit, with a bit above the
 * digit's four when it is none (0xff from the table, or a code of 128 or more). OR-ed over an id's
 * chars, no branch per char (one, mispredicted on random ids, cost twice the table), the result is
 * below 16 for lowercase hex, and 0 for all zeros (hexIdValid).
 */
export function hexCheck(c: number): number {
  return HEX_VALUE[c & 0x7f]! | ((c >> 7) << 4);
}

/** Whether an id whose chars' hexCheck OR to `check` is lowercase hex (and, with `nonZero`, not all zeros). */
export function hexIdValid(check: number, nonZero: boolean): boolean {
  return check < 16 && (!nonZero || check !== 0);
}

/** Whether `id` is lowercase hex of `length` characters; `nonZero`: and not all zeros (hexCheck). */
export function isHexId(id: string, length: number, nonZero: boolean): boolean {
  if (id.length !== length) return false;
  let check = 0;
  for (let i = 0; i < length; i++) check |= hexCheck(id.charCodeAt(i));
  return hexIdValid(check, nonZero);
}

/** An id the encoders can write: lowercase hex of `length` characters, not all zeros (W3C: invalid). */
export function validId(id: string, length: number): boolean {
  return isHexId(id, length, true);
}
