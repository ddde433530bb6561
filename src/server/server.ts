// The agent's HTTP API, on loopback (or over HTTPS on another address, server.tls): the local view (recent spans, per-service RED, recent logs),
// self-stats (JSON, and Prometheus' text format at /metrics), profiles, the bpftrace scripts
// (bpftrace-routes.ts), function probes (dynlog-routes.ts) and process selection's decisions.
// Every route but /healthz needs the bearer token: what the agent saw may be sensitive, and a
// Prometheus scrape sends one as easily (its `authorization` setting).
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { BpftraceScripts } from '../collectors/bpftrace/scripts.js';
import type { ServerConfig } from '../config/schema.js';
import { registerBpftraceRoutes } from './bpftrace-routes.js';
import { registerDynlogRoutes } from './dynlog-routes.js';
import { PROMETHEUS_CONTENT_TYPE } from '../export/prometheus-text.js';
import type { DynlogCollector } from '../collectors/dynlog/collector.js';
import type { LocalView } from './local-view.js';
import type { ProfileView } from './profile-view.js';
import type { ProfileKind } from '../model/profile.js';
import type { RecentLogs } from './recent-logs.js';
import type { SelectionListing } from '../selection/process-selection.js';

export interface ControlServer {
  url: string;
  token: string;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

function tokenMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(header?.startsWith('Bearer ') === true ? header.slice(7) : '');
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

/** What the API serves beside the spans and stats, each when the agent has it. */
export interface ControlSources {
  profiles?: ProfileView;
  logs?: RecentLogs;
  /** The bpftrace collector's scripts (null while it is not running). */
  bpftrace?: () => BpftraceScripts | null;
  /** The function probes of dynamic logging (null while the collector is not running). */
  dynlog?: () => DynlogCollector | null;
  /** The self-stats as a Prometheus exposition (GET /metrics). */
  prometheus?: () => string;
  /** Process selection's decisions (GET /api/selection). */
  selection?: (filter: { traced?: boolean; limit: number }) => SelectionListing;
}

export async function startControlServer(config: ServerConfig, view: LocalView, stats: () => Record<string, unknown>, sources: ControlSources = {}): Promise<ControlServer> {
  const token = config.token ?? randomBytes(24).toString('base64url');
  // The configuration refuses a non-loopback address without TLS; this refuses it again here, for
  // callers that build a ServerConfig themselves.
  if (config.tls === undefined && !LOOPBACK.has(config.host)) throw new Error(`control API: ${config.host} is not loopback and no TLS is configured`);
  // Loaded here, after the collectors started (agent.ts): its ~45 ms of module loading no longer
  // delays tracing at start-up.
  const { default: Fastify } = await import('fastify');
  const app = (config.tls !== undefined
    ? Fastify({ logger: false, https: { cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile) } })
    : Fastify({ logger: false })) as unknown as FastifyInstance;
  app.addHook('onRequest', async (req, reply) => {
    if (req.url === '/healthz') return;
    if (!tokenMatches(req.headers.authorization, token)) {
      await reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'missing or wrong bearer token' });
    }
  });
  app.get('/healthz', async () => ({ ok: true }));
  app.get<{ Querystring: { service?: string; limit?: string } }>('/api/spans', async (req) => {
    const limit = Math.min(1000, Math.max(1, Number(req.query.limit ?? 100) || 100));
    return { spans: view.spans({ service: req.query.service, limit }) };
  });
  app.get('/api/services', async () => ({ services: view.services() }));
  app.get('/api/stats', async () => stats());
  const { profiles, logs, bpftrace, dynlog, prometheus, selection } = sources;
  if (prometheus !== undefined) app.get('/metrics', async (_req, reply) => reply.header('content-type', PROMETHEUS_CONTENT_TYPE).send(prometheus()));
  if (logs !== undefined) {
    app.get<{ Querystring: { service?: string; script?: string; event?: string; limit?: string } }>('/api/logs', async (req) => {
      const limit = Math.min(1000, Math.max(1, Number(req.query.limit ?? 100) || 100));
      return { logs: logs.list({ service: req.query.service, script: req.query.script, eventName: req.query.event, limit }) };
    });
  }
  if (selection !== undefined) {
    // Every process judged, with the rule that decided; ?traced=true|false for one side only.
    app.get<{ Querystring: { traced?: string; limit?: string } }>('/api/selection', async (req, reply) => {
      const { traced } = req.query;
      if (traced !== undefined && traced !== 'true' && traced !== 'false') return reply.code(400).send({ error: 'traced is true or false' });
      const limit = Math.min(100_000, Math.max(1, Number(req.query.limit ?? 1000) || 1000));
      return selection({ ...(traced !== undefined ? { traced: traced === 'true' } : {}), limit });
    });
  }
  if (profiles !== undefined) registerProfileRoutes(app, profiles);
  if (bpftrace !== undefined) registerBpftraceRoutes(app, bpftrace);
  if (dynlog !== undefined) registerDynlogRoutes(app, dynlog);
  const address = await app.listen({ host: config.host, port: config.port });
  return { url: address, token, close: () => app.close() };
}

/**
 * The latest profile per service: `/api/profiles` lists them, `/api/profiles/:service` is the JSON
 * summary (top functions, folded stacks), `/api/profiles/:service/pprof` the .pb.gz download; CPU
 * profiles unless `?type=off_cpu`.
 */
function registerProfileRoutes(app: FastifyInstance, profiles: ProfileView): void {
  type Query = { type?: string; functions?: string; stacks?: string };
  const kindOf = (t: string | undefined): ProfileKind | undefined => (t === undefined || t === 'cpu' ? 'cpu' : t === 'off_cpu' ? 'off_cpu' : undefined);
  const missing = (service: string, kind: ProfileKind): { error: string } => ({ error: `no ${kind} profile for service ${service}` });
  app.get('/api/profiles', async () => ({ profiles: profiles.services() }));
  app.get<{ Params: { service: string }; Querystring: Query }>('/api/profiles/:service', async (req, reply) => {
    const kind = kindOf(req.query.type);
    if (kind === undefined) return reply.code(400).send({ error: 'type is cpu or off_cpu' });
    const limit = (v: string | undefined, d: number): number => Math.min(10_000, Math.max(1, Number(v ?? d) || d));
    const p = profiles.json(req.params.service, { functions: limit(req.query.functions, 100), stacks: limit(req.query.stacks, 1000) }, kind);
    if (p === undefined) return reply.code(404).send(missing(req.params.service, kind));
    return p;
  });
  app.get<{ Params: { service: string }; Querystring: Query }>('/api/profiles/:service/pprof', async (req, reply) => {
    const kind = kindOf(req.query.type);
    if (kind === undefined) return reply.code(400).send({ error: 'type is cpu or off_cpu' });
    const gz = await profiles.pprof(req.params.service, kind);
    if (gz === undefined) return reply.code(404).send(missing(req.params.service, kind));
    const file = `${req.params.service.replace(/[^A-Za-z0-9._-]/g, '_')}${kind === 'cpu' ? '' : `-${kind}`}.pb.gz`;
    return reply.header('content-type', 'application/octet-stream').header('content-disposition', `attachment; filename="${file}"`).send(gz);
  });
}
