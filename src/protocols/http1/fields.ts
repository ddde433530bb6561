// The field lines of an HTTP/1 head (RFC 9112 §5), checked whole but kept as the head's text and
// four offsets per field. A head's fields were once a [name, value] array and two strings each, for
// the conventions to read four or five of them (Host, User-Agent, the trace context, a forwarding
// header, configured captures) and the parser three (framing): now a name is compared in place and
// a value is sliced from the text when it is read.
import type { HeaderFields, HeaderList } from '../../model/http.js';
import { TCHAR } from './detect.js';
import { knownFieldName } from './tokens.js';

const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;

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

  get(name: string): string | undefined {
    for (let k = 0, n = this.length; k < n; k++) if (this.nameIs(k, name)) return this.value(k);
    return undefined;
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
 * The field lines of `text` from `from` on (CRLF between lines, none after the last), or null when
 * one is malformed. RFC 9112 §5: field-line = field-name ":" OWS field-value OWS, no whitespace
 * before the colon (§5.1); obs-fold continuation lines are joined with one SP (§5.2). CR, LF or NUL
 * inside a line is invalid (RFC 9110 §5.5).
 */
export function parseFields(text: string, from: number): HeadFields | null {
  const n = text.length;
  if (text.indexOf('\0', from) >= 0) return null;
  const at: number[] = [];
  let folded: Array<string | undefined> | null = null;
  let i = from;
  while (i < n) {
    let eol = text.indexOf('\r', i);
    if (eol < 0) eol = n;
    else if (text.charCodeAt(eol + 1) !== LF) return null;
    const lf = text.indexOf('\n', i);
    if (lf >= 0 && lf !== eol + 1) return null;
    const fold = isOws(text.charCodeAt(i));
    let a = i;
    if (fold) {
      if (at.length === 0) return null; // §2.2: whitespace before the first field line
    } else {
      while (a < eol && TCHAR[text.charCodeAt(a)] === 1) a++;
      if (a === i || a === eol || text.charCodeAt(a) !== COLON) return null;
      at.push(i, a, 0, 0);
      a++;
    }
    let b = eol;
    while (a < b && isOws(text.charCodeAt(a))) a++;
    while (b > a && isOws(text.charCodeAt(b - 1))) b--;
    const f = at.length - 4;
    if (!fold) {
      at[f + 2] = a;
      at[f + 3] = b;
    } else if (a < b) {
      folded ??= [];
      const before = folded[f >>> 2] ?? text.slice(at[f + 2], at[f + 3]);
      const more = text.slice(a, b);
      folded[f >>> 2] = before === '' ? more : `${before} ${more}`;
    }
    i = eol + 2;
  }
  return at.length === 0 ? NO_FIELDS : new HeadFields(text, at, folded);
}
