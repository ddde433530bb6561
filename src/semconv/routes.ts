// http.route from route templates the user names (`http.routes` in the configuration): a passive
// observer never sees the server's router, so the templates say which paths are one route. The
// conventions want the template, never the raw path (its ids would make spans and metrics unbounded).
//
// A template is a path of segments: a literal segment matches itself exactly, `{name}` or `:name`
// matches any one non-empty segment, and `*` as the last segment matches the rest of the path (one
// or more segments). The first template that matches wins; http.route is the template as written.

export interface RouteTable {
  /** The first template matching this path (no query), or undefined. */
  match(path: string): string | undefined;
}

const PARAM = /^(?:\{[A-Za-z_][A-Za-z0-9_]*\}|:[A-Za-z_][A-Za-z0-9_]*)$/;

/** Why a template cannot be used, or null when it is fine. */
export function routeTemplateProblem(template: string): string | null {
  if (!template.startsWith('/')) return 'a route starts with "/"';
  if (/[?#\s]/.test(template)) return 'a route is a path: no query, fragment or spaces';
  const segments = template.split('/').slice(1);
  for (const [i, s] of segments.entries()) {
    if (s === '*' && i !== segments.length - 1) return '"*" matches the rest of the path: it must be the last segment';
    if ((s.includes('{') || s.includes('}') || s.startsWith(':')) && !PARAM.test(s)) {
      return `"${s}" is not a parameter: write {name} or :name as a whole segment`;
    }
  }
  return null;
}

function templateRegExp(template: string): RegExp {
  const segments = template.split('/').slice(1).map((s) => (s === '*' ? '.+' : PARAM.test(s) ? '[^/]+' : s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  return new RegExp(`^/${segments.join('/')}$`);
}

/** Templates checked with routeTemplateProblem first (the configuration does). */
export function routeTable(templates: readonly string[]): RouteTable {
  const compiled = templates.map((t) => ({ template: t, re: templateRegExp(t) }));
  return {
    match(path) {
      for (const c of compiled) if (c.re.test(path)) return c.template;
      return undefined;
    },
  };
}
