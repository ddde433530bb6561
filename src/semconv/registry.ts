// Every exchange type's semantic conventions, by protocol. A protocol adds one entry here and one
// in protocols/registry.ts; the pipeline and the linker stay protocol-blind.
import type { Exchange } from '../model/exchange.js';
import type { HistogramPoint, ResourceRecord, SpanRecord } from '../model/span.js';
import { dnsExchangeToMetrics, dnsExchangeToSpan } from './dns.js';
import { httpExchangeToMetrics, httpExchangeToSpan } from './http.js';
import { http2ExchangeToMetrics, http2ExchangeToSpan, http2LinkId } from './http2.js';
import type { IdSource } from './ids.js';
import { mysqlExchangeToMetrics, mysqlExchangeToSpan, mysqlLinkId } from './mysql.js';
import { postgresExchangeToMetrics, postgresExchangeToSpan, postgresLinkId } from './postgres.js';
import { redisExchangeToMetrics, redisExchangeToSpan, redisLinkId } from './redis.js';

export interface ExchangeConventions<E extends Exchange> {
  toSpan(ex: E, resource: ResourceRecord, ids: IdSource): SpanRecord;
  toMetrics(ex: E, resource: ResourceRecord): HistogramPoint[];
  /**
   * What names this request identically on both ends of a connection on this host (with the
   * connection's 4-tuple; include the exchange's ordinal when order is what tells requests apart),
   * to link client and server spans; null when the protocol cannot tell.
   */
  linkId(ex: E): string | null;
}

type ConventionTable = { [P in Exchange['protocol']]: ExchangeConventions<Extract<Exchange, { protocol: P }>> };

const CONVENTIONS: ConventionTable = {
  http1: {
    toSpan: (ex, resource, ids) => httpExchangeToSpan(ex, resource, ids),
    toMetrics: (ex, resource) => httpExchangeToMetrics(ex, resource),
    // Requests on one connection are answered in order: the ordinal tells them apart.
    linkId: (ex) => `#${ex.ordinal} ${ex.request.method} ${ex.request.target}`,
  },
  dns: {
    toSpan: (ex, resource, ids) => dnsExchangeToSpan(ex, resource, ids),
    toMetrics: (ex, resource) => dnsExchangeToMetrics(ex, resource),
    // A name server's socket serves every client: the query id and question name the query.
    linkId: (ex) => `${ex.query.id} ${ex.query.questions[0]?.name ?? ''} ${ex.query.questions[0]?.type ?? 0}`,
  },
  redis: { toSpan: redisExchangeToSpan, toMetrics: redisExchangeToMetrics, linkId: redisLinkId },
  http2: { toSpan: http2ExchangeToSpan, toMetrics: http2ExchangeToMetrics, linkId: http2LinkId },
  mysql: { toSpan: mysqlExchangeToSpan, toMetrics: mysqlExchangeToMetrics, linkId: mysqlLinkId },
  postgresql: { toSpan: postgresExchangeToSpan, toMetrics: postgresExchangeToMetrics, linkId: postgresLinkId },
};

export function conventionsFor<E extends Exchange>(ex: E): ExchangeConventions<E> {
  return CONVENTIONS[ex.protocol] as unknown as ExchangeConventions<E>;
}
