// The configuration's say in what leaves: the `http` section (header capture, routes, forwarded
// client addresses) and the `redaction` section's names, as the options of the semantic conventions
// and of the command-line redaction.
import type { AgentConfig } from '../config/schema.js';
import { type Redaction, redaction } from '../semconv/redaction.js';
import type { ConventionOptions } from '../semconv/registry.js';
import { routeTable } from '../semconv/routes.js';
import { type UrlTemplater, urlTemplater } from '../semconv/url-template.js';

export function redactionOf(config: AgentConfig): Redaction {
  return redaction({ queryParams: config.redaction.queryParams, headers: config.redaction.headers });
}

/** The `http` section's url.template guessing, or undefined when `http.url_templates` is false. */
export function urlTemplaterOf(config: AgentConfig): UrlTemplater | undefined {
  const { http } = config;
  if (!http.urlTemplates) return undefined;
  // Anchored: a pattern names a whole segment.
  const patterns = Object.entries(http.urlTemplatePatterns).map(([name, re]) => ({ name, pattern: new RegExp(`^(?:${re})$`) }));
  return urlTemplater({ limit: http.urlTemplateLimit, patterns });
}

export function conventionOptions(config: AgentConfig, rules: Redaction = redactionOf(config), templates: UrlTemplater | undefined = urlTemplaterOf(config)): ConventionOptions {
  const { http } = config;
  const opts: ConventionOptions = { redaction: rules, trustForwardedFor: http.trustForwardedFor };
  if (templates !== undefined) opts.urlTemplates = templates;
  if (http.routeHeuristic) opts.routeHeuristic = true;
  if (http.captureRequestHeaders.length > 0) opts.captureRequestHeaders = http.captureRequestHeaders;
  if (http.captureResponseHeaders.length > 0) opts.captureResponseHeaders = http.captureResponseHeaders;
  if (http.routes.length > 0) opts.routes = routeTable(http.routes);
  return opts;
}
