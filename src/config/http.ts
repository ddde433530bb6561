// The `http` and `redaction` sections: what HTTP spans carry beyond the defaults (captured headers,
// routes, the forwarded client address) and the names whose values never leave the host.
import { routeTemplateProblem } from '../semconv/routes.js';
import type { HttpConfig, RedactionConfig } from './schema.js';
import { type Problems, describe } from './validate.js';

/** RFC 9110 §5.1: a field name is a token. */
const FIELD_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HTTP_KEYS = ['capture_request_headers', 'capture_response_headers', 'trust_forwarded_for', 'routes'];
const REDACTION_KEYS = ['query_params', 'headers'];

/** A list of strings each passing `check` (an error message, or null); undefined when not a list. */
function stringList(v: unknown, source: string, path: string, problems: Problems, check: (s: string) => string | null): string[] | undefined {
  if (!Array.isArray(v)) {
    problems.add(source, path, `expected a list, got ${describe(v)}`);
    return undefined;
  }
  const out: string[] = [];
  for (const [i, item] of v.entries()) {
    const why = typeof item === 'string' ? check(item) : `expected a string, got ${describe(item)}`;
    if (why !== null) problems.add(source, `${path}[${i}]`, why);
    else out.push(item as string);
  }
  return out;
}

function headerName(s: string): string | null {
  return FIELD_NAME.test(s) ? null : `expected a header name (letters, digits, "-" and the like), got ${JSON.stringify(s)}`;
}

/** Header names are case-insensitive: kept lower case, once each. */
const headerNames = (names: string[]): string[] => [...new Set(names.map((n) => n.toLowerCase()))];

export function applyHttpFile(c: HttpConfig, o: Record<string, unknown> | undefined, source: string, problems: Problems): void {
  if (!o) return;
  for (const k of Object.keys(o)) if (!HTTP_KEYS.includes(k)) problems.add(source, `http.${k}`, `unknown setting (known: ${HTTP_KEYS.join(', ')})`);
  for (const [key, field] of [['capture_request_headers', 'captureRequestHeaders'], ['capture_response_headers', 'captureResponseHeaders']] as const) {
    if (o[key] === undefined) continue;
    const names = stringList(o[key], source, `http.${key}`, problems, headerName);
    if (names) c[field] = headerNames(names);
  }
  if (o.trust_forwarded_for !== undefined) {
    if (typeof o.trust_forwarded_for === 'boolean') c.trustForwardedFor = o.trust_forwarded_for;
    else problems.add(source, 'http.trust_forwarded_for', `expected true or false, got ${describe(o.trust_forwarded_for)}`);
  }
  if (o.routes !== undefined) {
    const routes = stringList(o.routes, source, 'http.routes', problems, (s) => {
      const why = routeTemplateProblem(s);
      return why === null ? null : `${JSON.stringify(s)}: ${why}`;
    });
    if (routes) c.routes = routes;
  }
}

export function applyRedactionFile(c: RedactionConfig, o: Record<string, unknown> | undefined, source: string, problems: Problems): void {
  if (!o) return;
  for (const k of Object.keys(o)) if (!REDACTION_KEYS.includes(k)) problems.add(source, `redaction.${k}`, `unknown setting (known: ${REDACTION_KEYS.join(', ')})`);
  if (o.query_params !== undefined) {
    const names = stringList(o.query_params, source, 'redaction.query_params', problems,
      (s) => (s !== '' && !/[&=#\s]/.test(s) ? null : `expected a query parameter name (no "&", "=", "#" or spaces), got ${JSON.stringify(s)}`));
    if (names) c.queryParams = names;
  }
  if (o.headers !== undefined) {
    const names = stringList(o.headers, source, 'redaction.headers', problems, headerName);
    if (names) c.headers = headerNames(names);
  }
}
