// Header access for the semantic-convention mapping, and the redaction rule for header capture.
//
// Lantern sees every header in plaintext. Only the few that http.ts and grpc.ts list leave the agent
// (Host, User-Agent, the trace context, a forwarded client address, gRPC's status): Authorization,
// Cookie, API keys and the like never do. Capturing more is opt-in, per header name
// (http.capture_request_headers / capture_response_headers), and even then credentials are
// replaced by REDACTED, and so is a value shaped like one (a JWT, "Bearer …": redaction.ts).
import type { HeaderFields } from '../model/http.js';
import { DEFAULT_REDACTION, REDACTED, type Redaction, looksLikeSecret } from './redaction.js';

/** A header that carries credentials or session state, by its name (see redaction.ts). */
export function isSensitiveHeader(name: string, rules: Redaction = DEFAULT_REDACTION): boolean {
  return rules.header(name);
}

/**
 * `http.request.header.<name>` / `http.response.header.<name>` attributes (string arrays, one element
 * per header line) for the named headers only; sensitive ones carry REDACTED instead of their value.
 */
export function capturedHeaderAttributes(
  headers: HeaderFields, names: readonly string[], prefix: 'http.request.header.' | 'http.response.header.', rules: Redaction = DEFAULT_REDACTION,
): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const raw of names) {
    const name = raw.toLowerCase();
    const values = headers.getAll(name);
    if (values.length === 0) continue;
    out[prefix + name] = rules.header(name) ? values.map(() => REDACTED) : values.map((v) => (looksLikeSecret(v) ? REDACTED : v));
  }
  return out;
}
