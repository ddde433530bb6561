// The field lines of an HTTP/1 head (RFC 9112 §5), checked whole but kept as the head's text and
// four offsets per field. A head's fields were once a [name, value] array and two strings each, for
// the conventions to read four or five of them (Host, User-Agent, the trace context, a forwarding
// header, configured captures) and the parser three (framing): now a name is compared in place and
// a value is sliced from the text when it is read.
import type { HeaderFields, HeaderList } from '../../model/http.js';
import { TCHAR } from './detect.js';
import { knownFieldName } from './tokens.js';

const NUL = 0x00;
const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;

/** Names whose values one HeadFields remembers (the conventions ask for ~6; captured headers add theirs). */
const MAX_REMEMBERED = 16;

export const isOws = (c: number): boolean => c === SP || c === HTAB;

export class HeadFields implements HeaderFields {
  /**
   * `at`: per field, where its name starts, where it ends (its colon), and where its value starts and
   * ends once OWS is trimmed, in `text`. `folded`: by field, the value of a field continued by obs-fold
   * lines (RFC 9112 §5.2), already joined; null when no field is (nearly always).
   */
  constructor(
    private readonly text: string,
    private readonly at: readonly number[],
    private readonly folded: ReadonlyArray<string | undefined> | null,
  ) {}

  get length(): number {
    return this.at.length >>> 2;
  }

  /**
   * Field `k` is called `name` (lower case). Field names hold tchars only (checked by parseFields),
   * among which only A–Z have another case (RFC 9110 §5.1, §5.6.2).
   */
  nameIs(k: number, name: string): boolean {
    const from = this.at[4 * k]!;
    if (this.at[4 * k + 1]! - from !== name.length) return false;
    for (let j = 0; j < name.length; j++) {
      let c = this.text.charCodeAt(from + j);
      if (c <= 0x5a && c >= 0x41) c |= 0x20;
      if (c !== name.charCodeAt(j)) return false;
    }
    return true;
  }

  /** Field `k`'s name, lower case. */
  name(k: number): string {
    const from = this.at[4 * k]!;
    const to = this.at[4 * k + 1]!;
    return knownFieldName(this.text, from, to) ?? this.text.slice(from, to).toLowerCase();
  }

  /** Field `k`'s value as sent, without the OWS around it. */
  value(k: number): string {
    return this.folded?.[k] ?? this.text.slice(this.at[4 * k + 2], this.at[4 * k + 3]);
  }

  /**
   * Names asked of `get` and what it found for each (null: no such field), one after the other, for
   * at most MAX_REMEMBERED names. A session's repeated heads share one HeadFields (the parser's head
   * memo), and the conventions ask each exchange's for the same few names (Host twice, User-Agent,
   * the trace context, forwarding): a scan of every field name and a value sliced per name and
   * exchange, and values that are new strings each time where the conventions compare them with the
   * last exchange's. The names are the callers' constants, found by identity in a scan of a few: a
   * Map's hashed look-up cost more.
   */
  #found: Array<string | null> | null = null;

  get(name: string): string | undefined {
    const found = this.#found;
    if (found !== null) {
      for (let i = 0; i < found.length; i += 2) if (found[i] === name) return found[i + 1] ?? undefined;
    }
    let value: string | null = null;
    for (let k = 0, n = this.length; k < n; k++) {
      if (this.nameIs(k, name)) {
        value = this.value(k);
        break;
      }
    }
    const remembered = (this.#found ??= []);
    if (remembered.length < 2 * MAX_REMEMBERED) remembered.push(name, value);
    return value ?? undefined;
  }

  getAll(name: string): string[] {
    const out: string[] = [];
    for (let k = 0, n = this.length; k < n; k++) if (this.nameIs(k, name)) out.push(this.value(k));
    return out;
  }

  *[Symbol.iterator](): Iterator<[name: string, value: string]> {
    for (let k = 0, n = this.length; k < n; k++) yield [this.name(k), this.value(k)];
  }

  /** As [name, value] pairs, in logs and test output. */
  toJSON(): HeaderList {
    return [...this];
  }
}

/** The fields of a head that has none. */
export const NO_FIELDS = new HeadFields('', [], null);

/**
 * The field lines of `text` from `from` to `to` (CRLF between lines, none after the last), or null
 * when one is malformed. RFC 9112 §5: field-line = field-name ":" OWS field-value OWS, no whitespace
 * before the colon (§5.1); obs-fold continuation lines are joined with one SP (§5.2). CR, LF or NUL
 * inside a line is invalid (RFC 9110 §5.5).
 *
 * The checks read `bytes`, where the head's octets are (`text` is their latin1 decoding: character
 * i of `text` is `bytes[base + i]`): a byte of a Uint8Array costs a few instructions, a character
 * of a string and a `String.prototype.indexOf` per line for CR and again for LF cost more (~25 %
 * of this function, counted under valgrind). `text` is kept for the values and names read later.
 */
export function parseFields(text: string, from: number, bytes: Uint8Array = Buffer.from(text, 'latin1'), base = 0, to = text.length): HeadFields | null {
  const end = base + to;
  const tchar = TCHAR; // an imported binding is loaded again at each use, a local once
  const at: number[] = [];
  let folded: Array<string | undefined> | null = null;
  let i = base + from;
  while (i < end) {
    let c = bytes[i]!;
    const fold = isOws(c);
    let a = i;
    if (fold) {
      if (at.length === 0) return null; // §2.2: whitespace before the first field line
    } else {
      // CR, LF and NUL are not tchars: the name stops before any of them.
      while (tchar[c] === 1 && ++a < end) c = bytes[a]!;
      if (a === i || a === end || c !== COLON) return null;
      at.push(i - base, a - base, 0, 0);
      a++;
    }
    // The value runs to the line's CR, which a LF must follow; no LF or NUL before it.
    let eol = a;
    while (eol < end && (c = bytes[eol]!) !== CR) {
      if (c === LF || c === NUL) return null;
      eol++;
    }
    // A CR as the last octet has no LF after it (whatever follows `text` in `bytes`).
    if (eol < end && (eol + 1 === end || bytes[eol + 1] !== LF)) return null;
    let b = eol;
    while (a < b && isOws(bytes[a]!)) a++;
    while (b > a && isOws(bytes[b - 1]!)) b--;
    const f = at.length - 4;
    if (!fold) {
      at[f + 2] = a - base;
      at[f + 3] = b - base;
    } else if (a < b) {
      folded ??= [];
      const before = folded[f >>> 2] ?? text.slice(at[f + 2], at[f + 3]);
      const more = text.slice(a - base, b - base);
      folded[f >>> 2] = before === '' ? more : `${before} ${more}`;
    }
    i = eol + 2;
  }
  return at.length === 0 ? NO_FIELDS : new HeadFields(text, at, folded);
}
