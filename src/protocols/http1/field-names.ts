// Common field names, found in the head's text without making a string. Field names are
// case-insensitive (RFC 9110 §5.1) and the parser lower-cases them; most senders capitalise them
// ("Content-Length"), so each such name cost a slice and a lower-cased copy, two short strings per
// field line of every message. For the names here the parser takes the constant instead.

/** Names every HTTP/1 exchange is likely to carry, or that Lantern reads (framing, spans). */
export const FIELD_NAMES: readonly string[] = [
  'host', 'user-agent', 'accept', 'accept-encoding', 'accept-language', 'accept-charset', 'connection',
  'content-length', 'content-type', 'content-encoding', 'transfer-encoding', 'date', 'server', 'vary',
  'etag', 'last-modified', 'cache-control', 'pragma', 'expires', 'age', 'keep-alive', 'upgrade', 'expect',
  'traceparent', 'tracestate', 'forwarded', 'x-forwarded-for', 'x-forwarded-proto', 'x-request-id',
  'authorization', 'cookie', 'set-cookie', 'location', 'referer', 'origin', 'via', 'range', 'accept-ranges',
  'if-none-match', 'if-modified-since', 'content-security-policy', 'strict-transport-security',
];

/** The names by length: a field's length selects the few worth comparing. */
const BY_LENGTH: string[][] = [];
for (const n of FIELD_NAMES) (BY_LENGTH[n.length] ??= []).push(n);

/**
 * The lower-case constant for the field name `text[from..to)`, or undefined when it is not one of
 * FIELD_NAMES. The range must hold only tchars (RFC 9110 §5.6.2): then `c | 0x20` lower-cases a letter and
 * leaves '-' and digits as they are, and no other tchar becomes a lower-case letter or '-'.
 */
export function knownFieldName(text: string, from: number, to: number): string | undefined {
  const candidates = BY_LENGTH[to - from];
  if (candidates === undefined) return undefined;
  for (let c = 0; c < candidates.length; c++) {
    const name = candidates[c]!;
    let j = 0;
    while (j < name.length && (text.charCodeAt(from + j) | 0x20) === name.charCodeAt(j)) j++;
    if (j === name.length) return name;
  }
  return undefined;
}
