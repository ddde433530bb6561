// The `http` and `redaction` sections: what HTTP spans carry beyond the defaults (captured headers,
// routes, the forwarded client address) and the names whose values never leave the host.
import { routeTemplateProblem } from '../semconv/routes.js';
import type { HttpConfig, RedactionConfig } from './schema.js';
import { type Problems, describe } from './validate.js';

/** RFC 9110 §5.1: a field name is a token. */
const FIELD_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HTTP_KEYS = ['capture_request_headers', 'capture_response_headers', 'trust_forwarded_for', 'routes', 'url_templates', 'url_template_limit', 'url_template_patterns', 'route_heuristic'];
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

function regexProblem(source: string): string | null {
  try {
    new RegExp(source);
    return null;
  } catch (e) {
    return `not a regular expression: ${(e as Error).message}`;
  }
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
  for (const [key, field] of [['trust_forwarded_for', 'trustForwardedFor'], ['url_templates', 'urlTemplates'], ['route_heuristic', 'routeHeuristic']] as const) {
    if (o[key] === undefined) continue;
    if (typeof o[key] === 'boolean') c[field] = o[key];
    else problems.add(source, `http.${key}`, `expected true or false, got ${describe(o[key])}`);
  }
  if (o.url_template_limit !== undefined) {
    const n = o.url_template_limit;
    if (typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 100_000) c.urlTemplateLimit = n;
    else problems.add(source, 'http.url_template_limit', `expected a whole number from 1 to 100000, got ${describe(n)}`);
  }
  if (o.url_template_patterns !== undefined) {
    const p = o.url_template_patterns;
    if (p === null || typeof p !== 'object' || Array.isArray(p)) {
      problems.add(source, 'http.url_template_patterns', `expected a mapping of placeholder name to regular expression, got ${describe(p)}`);
    } else {
      const out: Record<string, string> = {};
      for (const [name, re] of Object.entries(p as Record<string, unknown>)) {
        const why = !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? `"${name}": a placeholder name is letters, digits and "_"`
          : typeof re !== 'string' ? `expected a regular expression as a string, got ${describe(re)}` : regexProblem(re);
        if (why !== null) problems.add(source, `http.url_template_patterns.${name}`, why);
        else out[name] = re as string;
      }
      c.urlTemplatePatterns = out;
    }
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
