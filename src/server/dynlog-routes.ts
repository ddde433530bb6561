// The control API's function probes (dynamic logging):
//   GET    /api/dynlog/probes          every probe: function, binary, arguments, calls logged
//   POST   /api/dynlog/probes          {name?, function, binary | pid, args?, returns?, bound?,
//                                      maxPerSecond?, ttlSeconds?} → 201, or 422 with why not
//                                      (function not found and close names, inlined, no DWARF, …)
//   DELETE /api/dynlog/probes/:name    remove it
// Behind the server's bearer token like every route.
import type { FastifyInstance } from 'fastify';
import { DynlogError } from '../collectors/dynlog/analyze.js';
import type { DynlogCollector } from '../collectors/dynlog/collector.js';
import { ProbeSpecError, parseProbeSpec } from '../collectors/dynlog/spec.js';
import { isLanternError } from '../errors.js';

export function registerDynlogRoutes(app: FastifyInstance, dynlog: () => DynlogCollector | null): void {
  const unavailable = { error: 'the dynlog collector is not running (add dynlog to --collectors)' };
  app.get('/api/dynlog/probes', async (_req, reply) => {
    const d = dynlog();
    return d === null ? reply.code(503).send(unavailable) : { probes: d.list() };
  });
  app.post<{ Body: unknown }>('/api/dynlog/probes', async (req, reply) => {
    const d = dynlog();
    if (d === null) return reply.code(503).send(unavailable);
    try {
      return reply.code(201).send({ probe: d.add(parseProbeSpec(undefined, req.body)) });
    } catch (e) {
      if (e instanceof ProbeSpecError) return reply.code(400).send({ error: e.message });
      if (e instanceof DynlogError) return reply.code(422).send({ error: e.message, reason: e.reason });
      if (isLanternError(e)) return reply.code(e.code === 'LANTERN_ERR_USAGE' ? 409 : 422).send({ error: e.message });
      throw e;
    }
  });
  app.delete<{ Params: { name: string } }>('/api/dynlog/probes/:name', async (req, reply) => {
    const d = dynlog();
    if (d === null) return reply.code(503).send(unavailable);
    return d.remove(req.params.name) ? { removed: req.params.name } : reply.code(404).send({ error: `no probe named ${req.params.name}` });
  });
}
