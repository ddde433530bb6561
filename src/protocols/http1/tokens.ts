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

/**
 * Request targets seen lately, one string per text. Both ends of a request traced on this host parse
 * its target out of two heads: two strings of one text, and V8 compares such strings character by
 * character in its runtime, where one string compares by identity. The span linker's link id
 * (semconv/http.ts httpLinkId) compared the client's target with the server's at every exchange:
 * ~1.5 % of the JS thread under keep-alive traffic with both ends traced. A target is looked up
 * only when its head is parsed: a head that repeats its connection's last one is the parser's memo's.
 */
const sharedTargets = new Map<string, string>();
/** Emptied when full: traffic whose every target differs (ids in paths) only churns it. */
const MAX_SHARED_TARGETS = 4096;
/**
 * A target is a slice of its head's text, which it keeps alive: only targets of heads this short
 * are kept in the table (4 MiB at most), and a copy of each would cost traffic whose targets never
 * repeat more than the comparisons it saves.
 */
const MAX_SHARED_HEAD_TEXT = 1024;

/** The target `text[from..to)`, as the string shared by every head that spells it while it is in the table. */
export function sharedTarget(text: string, from: number, to: number): string {
  const target = text.slice(from, to);
  if (text.length > MAX_SHARED_HEAD_TEXT) return target;
  const shared = sharedTargets.get(target);
  if (shared !== undefined) return shared;
  if (sharedTargets.size >= MAX_SHARED_TARGETS) sharedTargets.clear();
  sharedTargets.set(target, target);
  return target;
}
