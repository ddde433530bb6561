// Header access for the semantic-convention mapping, and the redaction rule for header capture.
//
// Lantern sees every header in plaintext. By default no header value leaves the agent except Host
// (as server.address/server.port/url.full) and User-Agent (as user_agent.original): Authorization,
// Cookie, API keys and the like are never exported. Capturing more is opt-in, per header name, and
// even then credentials are replaced by REDACTED.
import type { HeaderList } from '../model/http.js';

/** Every value of one header, in order (names in a HeaderList are already lower case). */
export function headerValues(headers: HeaderList, name: string): string[] {
  const out: string[] = [];
  for (const [n, v] of headers) if (n === name) out.push(v);
  return out;
}

/** The first value of a header, or undefined. */
export function firstHeader(headers: HeaderList, name: string): string | undefined {
  for (const [n, v] of headers) if (n === name) return v;
  return undefined;
}

/** Headers that carry credentials or session state, by name. */
const SENSITIVE = new Set([
  'authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'set-cookie2', 'x-api-key', 'api-key', 'apikey',
  'x-auth-token', 'x-access-token', 'x-refresh-token', 'x-csrf-token', 'x-xsrf-token', 'x-amz-security-token',
  'x-goog-api-key', 'x-session-id', 'x-vault-token', 'private-token', 'x-registry-auth',
]);
/** And anything whose name says it is one (x-my-secret, x-service-token, ...). */
const SENSITIVE_PATTERN = /auth|token|secret|passw|api-?key|session|cookie|signature|credential/;

export const REDACTED = 'REDACTED';

export function isSensitiveHeader(name: string): boolean {
  const n = name.toLowerCase();
  return SENSITIVE.has(n) || SENSITIVE_PATTERN.test(n);
}

/**
 * `http.request.header.<name>` / `http.response.header.<name>` attributes (string arrays, one element
 * per header line) for the named headers only; sensitive ones carry REDACTED instead of their value.
 */
export function capturedHeaderAttributes(
  headers: HeaderList, names: readonly string[], prefix: 'http.request.header.' | 'http.response.header.',
): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const raw of names) {
    const name = raw.toLowerCase();
    const values = headerValues(headers, name);
    if (values.length === 0) continue;
    out[prefix + name] = isSensitiveHeader(name) ? values.map(() => REDACTED) : values;
  }
  return out;
}
