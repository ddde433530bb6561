// What counts as a secret, in one place: the names of query parameters, headers, flags and
// KEY=value arguments whose values are credentials, and how a query string, a URL or a server's
// message loses them. What the agent exports (url.query, url.full, captured headers,
// process.command_args, status descriptions) carries REDACTED (or '?') instead.
//
// A name is secret by its words ("X-Amz-Signature" → x amz signature, "AWSAccessKeyId" → aws access
// key id, "apiKey" → api key): one of them says token, secret, password/passwd/pwd/pass/pw,
// credential(s)/creds, signature/sig, auth (not author/authority), session/sessid/sid, cookie,
// bearer, jwt, otp, hmac, verifier, or key (alone, or api/access/private/... key). Not when its last
// word only qualifies it — the value is then where or what kind the secret is, not the secret:
// token_type, key_size, password_file, session_timeout, auth_method. The name `code` on its own is
// secret too: the OAuth 2.0 authorization code of a redirect (RFC 6749 §4.1.2), a credential until
// it is used; `?code=US` losing its value costs little. The semantic conventions' own list
// (AWSAccessKeyId, Signature, sig, X-Goog-Signature) is covered. Names from the configuration
// (`redaction.query_params`, `redaction.headers`) are added as they are, case-insensitive.
//
// Values are judged by their shape too, whatever their name (looksLikeSecret): a JWT (eyJ….….),
// an HTTP credential ("Bearer …", "Basic …"), a key with a well-known prefix (AWS AKIA/ASIA…, GitHub
// ghp_/github_pat_…, Slack xox?-…, Stripe sk_live_…, GitLab glpat-…), or a long token mixing upper
// case, lower case and digits (20+ characters of base64/base64url) — the query values of url.query
// and url.full, captured header values and command-line arguments lose them. Hex strings and UUIDs
// are not taken for secrets (ids, hashes, commit names are hex): name them in the configuration.

export const REDACTED = 'REDACTED';

/** "X-Amz-Signature" → [x, amz, signature]; "AWSAccessKeyId" → [aws, access, key, id]. */
export function nameWords(name: string): string[] {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase().split(/[^a-z0-9]+/).filter((w) => w !== '');
}

const SECRET_WORDS = new Set(['key', 'sig', 'pass', 'pw', 'pwd', 'sid', 'jwt', 'otp', 'hmac', 'bearer', 'creds', 'verifier']);
const SECRET_STEMS = /token|secret|passw|passphrase|credential|signature|session|sessid|cookie|auth(?!or(?!i[sz]))|(?:api|access|private|signing|master|client|license|subscription|encryption|account)key/;
/** Last words that make the value a property of the secret, not the secret. */
const QUALIFIERS = new Set([
  'file', 'path', 'dir', 'stdin', 'prompt', 'type', 'method', 'mode', 'size', 'length', 'len', 'min', 'max', 'timeout', 'ttl',
  'url', 'uri', 'endpoint', 'name', 'header', 'algorithm', 'alg', 'version',
]);

/** A parameter, flag or variable name whose value is a credential (see the top of this file). */
export function isSecretName(name: string): boolean {
  const words = nameWords(name);
  const last = words.at(-1);
  if (last === undefined) return false;
  if (words.length === 1 && last === 'code') return true;
  if (words.length > 1 && QUALIFIERS.has(last)) return false;
  return words.some((w) => SECRET_WORDS.has(w) || SECRET_STEMS.test(w));
}

const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const isLower = (c: number): boolean => c >= 97 && c <= 122;
const isUpper = (c: number): boolean => c >= 65 && c <= 90;
const KEY_PREFIXES = /^(?:(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_\w{20,}|xox[abpors]-[A-Za-z0-9-]{10,}|[sr]k_live_[A-Za-z0-9]{16,}|glpat-[A-Za-z0-9_-]{20,})/;
const MIN_TOKEN = 20;

/** A value shaped like a credential, whatever it is called (see the top of this file). */
export function looksLikeSecret(value: string): boolean {
  const v = value.trim();
  if (v.length < 16) return false;
  if (v.startsWith('eyJ') && /^eyJ[\w-]{4,}\.[\w-]{4,}\./.test(v)) return true;
  if (/^(?:bearer|basic|token|digest)\s+\S{8,}/i.test(v)) return true;
  if (KEY_PREFIXES.test(v)) return true;
  if (v.length < MIN_TOKEN) return false;
  let upper = 0;
  let lower = 0;
  let digits = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (isDigit(c)) digits++;
    else if (isUpper(c)) upper++;
    else if (isLower(c)) lower++;
    // base64 (+ / =), base64url (- _) and . ~ of tokens; anything else (spaces, ':', '@') is text
    else if (c !== 43 && c !== 47 && c !== 61 && c !== 45 && c !== 95 && c !== 46 && c !== 126) return false;
  }
  // A path (/opt/App2/Lib64/x86_64) mixes kinds too: with '/', only a 20-character run is a token.
  if (v.includes('/') && !/[A-Za-z0-9+]{20}/.test(v)) return false;
  return upper >= 2 && lower >= 2 && digits >= 2;
}

/** A query value, percent-decoded when it can be ("Bearer%20x", "Bearer+x"). */
function decodedValue(raw: string): string {
  if (!raw.includes('%') && !raw.includes('+')) return raw;
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return raw;
  }
}

/** Which names carry secrets: the built-in rule and the configuration's names. */
export interface Redaction {
  queryParam(name: string): boolean;
  header(name: string): boolean;
}

export interface RedactionNames {
  /** More query parameters whose values stay on the host (exact names, any case). */
  queryParams?: readonly string[];
  /** More headers whose values are REDACTED when captured (exact names, any case). */
  headers?: readonly string[];
}

export function redaction(extra: RedactionNames = {}): Redaction {
  const params = new Set((extra.queryParams ?? []).map((n) => n.toLowerCase()));
  const headers = new Set((extra.headers ?? []).map((n) => n.toLowerCase()));
  return {
    queryParam: (name) => isSecretName(name) || params.has(name.toLowerCase()),
    header: (name) => isSecretName(name) || headers.has(name.toLowerCase()),
  };
}

export const DEFAULT_REDACTION: Redaction = redaction();

/**
 * `a=1&token=x` → `a=1&token=REDACTED`: secret parameters keep their name, lose their value; so do
 * values shaped like secrets (`state=eyJ…`, `q=Bearer%20…`).
 */
export function redactQuery(query: string, rules: Redaction = DEFAULT_REDACTION): string {
  return query.split('&').map((pair) => {
    const eq = pair.indexOf('=');
    if (eq < 0) return pair;
    let key = pair.slice(0, eq);
    try {
      key = decodeURIComponent(key.replace(/\+/g, ' '));
    } catch {
      // keep the raw key
    }
    return rules.queryParam(key) || looksLikeSecret(decodedValue(pair.slice(eq + 1))) ? `${pair.slice(0, eq)}=${REDACTED}` : pair;
  }).join('&');
}

// scheme://[userinfo@]authority[path][?query][#fragment] inside any text, up to whitespace. The
// userinfo may hold any character but '/' and '@' (passwords are often not percent-encoded).
const URL_IN_TEXT = /\b([a-z][a-z0-9+.-]*:\/\/)(?:([^\s/@]*)@)?([^\s?#]*)(?:\?([^\s#]*))?/gi;

/**
 * Every URL in a text: a password in its userinfo becomes REDACTED (the user name stays: it names
 * the account, not the key), and so does a user name alone in an http(s) URL (`https://<token>@github.com`
 * is how tokens are passed there; other schemes put a plain user name there); secret query
 * parameters lose their values.
 */
export function redactUrls(text: string, rules: Redaction = DEFAULT_REDACTION): string {
  if (!text.includes('://')) return text;
  return text.replace(URL_IN_TEXT, (_m, scheme: string, userinfo: string | undefined, rest: string, query: string | undefined) => {
    let user = '';
    if (userinfo !== undefined) {
      const colon = userinfo.indexOf(':');
      if (colon >= 0) user = `${userinfo.slice(0, colon)}:${REDACTED}@`;
      else user = /^https?:\/\/$/i.test(scheme) && userinfo !== '' ? `${REDACTED}@` : `${userinfo}@`;
    }
    return `${scheme}${user}${rest}${query !== undefined ? `?${redactQuery(query, rules)}` : ''}`;
  });
}

/** `Authorization: Bearer x` → `Authorization: REDACTED` when the name is sensitive; anything else as it is. */
export function redactHeaderLine(line: string, rules: Redaction = DEFAULT_REDACTION): string {
  const m = /^(\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*:\s*)(.+)$/s.exec(line);
  return m !== null && rules.header(m[2]!) ? `${m[1]!}${REDACTED}` : line;
}

/**
 * Quoted values in a server's message become '?' ("Duplicate entry '?' for key '?'"). A quote opens
 * only after a non-word character and closes only before one, so apostrophes ("doesn't") stay; a
 * message cut short inside quotes is redacted to its end.
 */
export function redactQuoted(message: string): string {
  return message.replace(/(^|[^\p{L}\p{N}_])(['"])(?:(?!\2)[^\\]|\\.|\2(?=[\p{L}\p{N}_]))*(?:\2|$)/gu, (_m, before: string, q: string) => `${before}${q}?${q}`);
}
