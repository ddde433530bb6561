// The control API's bpftrace scripts:
//   GET    /api/bpftrace/scripts          every script and its state
//   POST   /api/bpftrace/scripts          {name, source, ttlSeconds?, params?} → 201 running, 422 with
//                                         bpftrace's error when it does not compile or attach
//   GET    /api/bpftrace/scripts/:name    state, recent output, source
//   DELETE /api/bpftrace/scripts/:name    stop it (it stays listed as stopped)
// Behind the server's bearer token like every route.
import type { FastifyInstance, FastifyReply } from 'fastify';
import { ScriptError, type BpftraceScripts } from '../collectors/bpftrace/scripts.js';

const STATUS_BY_KIND: Record<ScriptError['kind'], number> = { invalid: 400, exists: 409, limit: 429, not_found: 404 };
const MAX_SOURCE_BYTES = 256 * 1024;

interface AddBody {
  name?: unknown;
  source?: unknown;
  ttlSeconds?: unknown;
  params?: unknown;
}

export function registerBpftraceRoutes(app: FastifyInstance, scripts: () => BpftraceScripts | null): void {
  const need = async (reply: FastifyReply): Promise<BpftraceScripts | null> => {
    const s = scripts();
    if (s === null) await reply.code(503).send({ error: 'the bpftrace collector is not running (add bpftrace to --collectors)' });
    return s;
  };
  app.get('/api/bpftrace/scripts', async (_req, reply) => {
    const s = await need(reply);
    return s === null ? reply : { scripts: s.list() };
  });
  app.post<{ Body: AddBody }>('/api/bpftrace/scripts', { bodyLimit: MAX_SOURCE_BYTES + 4096 }, async (req, reply) => {
    const s = await need(reply);
    if (s === null) return reply;
    const b = req.body ?? {};
    const params = parseParams(b.params);
    if (typeof b.name !== 'string' || typeof b.source !== 'string' || typeof params === 'string' ||
      (b.ttlSeconds !== undefined && typeof b.ttlSeconds !== 'number')) {
      return reply.code(400).send({ error: typeof params === 'string' ? params : 'expected {"name": string, "source": string, "ttlSeconds"?: number, "params"?: {name: string}}' });
    }
    try {
      const status = await s.add({ name: b.name, source: b.source, origin: 'api', params, ...(b.ttlSeconds !== undefined ? { ttlSeconds: b.ttlSeconds } : {}) });
      // A script bpftrace refused is kept, failed, so its error can be read again.
      return reply.code(status.state === 'failed' ? 422 : 201).send(status.state === 'failed' ? { error: status.reason, script: status } : { script: status });
    } catch (e) {
      if (e instanceof ScriptError) return reply.code(STATUS_BY_KIND[e.kind]).send({ error: e.message });
      throw e;
    }
  });
  app.get<{ Params: { name: string } }>('/api/bpftrace/scripts/:name', async (req, reply) => {
    const s = await need(reply);
    if (s === null) return reply;
    const found = s.get(req.params.name);
    return found === undefined ? reply.code(404).send({ error: `no script named ${req.params.name}` }) : { script: found.status, output: found.output, source: found.source };
  });
  app.delete<{ Params: { name: string } }>('/api/bpftrace/scripts/:name', async (req, reply) => {
    const s = await need(reply);
    if (s === null) return reply;
    try {
      return { script: await s.stop(req.params.name) };
    } catch (e) {
      if (e instanceof ScriptError) return reply.code(STATUS_BY_KIND[e.kind]).send({ error: e.message });
      throw e;
    }
  });
}

function parseParams(v: unknown): Record<string, string> | string {
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'params: expected an object of name → value';
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== 'string' && typeof x !== 'number') return `params.${k}: expected a string or a number`;
    out[k] = String(x);
  }
  return out;
}
