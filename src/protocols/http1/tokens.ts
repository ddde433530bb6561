// Common tokens of a message head (field names, methods), found in the head's text without making
// a string. Each method the parser slices would be a new short string per message, and so would each
// field name read out of a head (fields.ts), a capitalised one ("Content-Length") twice when
// lower-cased; spans and their exports then carry them. For the tokens here a constant is taken.
import { HTTP1_METHODS } from './detect.js';

/** Field names every HTTP/1 exchange is likely to carry, or that Lantern reads (framing, spans). */
export const FIELD_NAMES: readonly string[] = [
  'host', 'user-agent', 'accept', 'accept-encoding', 'accept-language', 'accept-charset', 'connection',
  'content-length', 'content-type', 'content-encoding', 'transfer-encoding', 'date', 'server', 'vary',
  'etag', 'last-modified', 'cache-control', 'pragma', 'expires', 'age', 'keep-alive', 'upgrade', 'expect',
  'traceparent', 'tracestate', 'forwarded', 'x-forwarded-for', 'x-forwarded-proto', 'x-request-id',
  'authorization', 'cookie', 'set-cookie', 'location', 'referer', 'origin', 'via', 'range', 'accept-ranges',
  'if-none-match', 'if-modified-since', 'content-security-policy', 'strict-transport-security',
];

/** Tokens by length: a token's length selects the few worth comparing. */
function byLength(tokens: readonly string[]): string[][] {
  const t: string[][] = [];
  for (const s of tokens) (t[s.length] ??= []).push(s);
  return t;
}

const NAMES_BY_LENGTH = byLength(FIELD_NAMES);
const METHODS_BY_LENGTH = byLength(HTTP1_METHODS);

/** The token of `table` that `text[from..to)` spells, each char OR-ed with `fold` first. */
function find(table: string[][], text: string, from: number, to: number, fold: number): string | undefined {
  const candidates = table[to - from];
  if (candidates === undefined) return undefined;
  for (let c = 0; c < candidates.length; c++) {
    const token = candidates[c]!;
    let j = 0;
    while (j < token.length && (text.charCodeAt(from + j) | fold) === token.charCodeAt(j)) j++;
    if (j === token.length) return token;
  }
  return undefined;
}

/**
 * The lower-case constant for the field name `text[from..to)`, or undefined when it is not one of
 * FIELD_NAMES. Field names are case-insensitive (RFC 9110 §5.1). The range must hold only tchars
 * (RFC 9110 §5.6.2): then `c | 0x20` lower-cases a letter and leaves '-' and digits as they are, and
 * no other tchar becomes a lower-case letter or '-'.
 */
export function knownFieldName(text: string, from: number, to: number): string | undefined {
  return find(NAMES_BY_LENGTH, text, from, to, 0x20);
}

/** The constant for the method `text[from..to)` (case-sensitive, RFC 9110 §9.1), or undefined. */
export function knownMethod(text: string, from: number, to: number): string | undefined {
  return find(METHODS_BY_LENGTH, text, from, to, 0);
}
