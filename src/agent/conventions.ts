// The configuration's say in what leaves: the `http` section (header capture, routes, forwarded
// client addresses) and the `redaction` section's names, as the options of the semantic conventions
// and of the command-line redaction.
import type { AgentConfig } from '../config/schema.js';
import { type Redaction, redaction } from '../semconv/redaction.js';
import type { ConventionOptions } from '../semconv/registry.js';
import { routeTable } from '../semconv/routes.js';

export function redactionOf(config: AgentConfig): Redaction {
  return redaction({ queryParams: config.redaction.queryParams, headers: config.redaction.headers });
}

export function conventionOptions(config: AgentConfig, rules: Redaction = redactionOf(config)): ConventionOptions {
  const { http } = config;
  const opts: ConventionOptions = { redaction: rules, trustForwardedFor: http.trustForwardedFor };
  if (http.captureRequestHeaders.length > 0) opts.captureRequestHeaders = http.captureRequestHeaders;
  if (http.captureResponseHeaders.length > 0) opts.captureResponseHeaders = http.captureResponseHeaders;
  if (http.routes.length > 0) opts.routes = routeTable(http.routes);
  return opts;
}
