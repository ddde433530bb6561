// Every exchange type's semantic conventions, by protocol. A protocol adds one entry here and one
// in protocols/registry.ts; the pipeline and the linker stay protocol-blind.
import type { Exchange } from '../model/exchange.js';
import type { HistogramPoint, ResourceRecord, SpanRecord } from '../model/span.js';
import { httpExchangeToMetrics, httpExchangeToSpan } from './http.js';
import type { IdSource } from './ids.js';

export interface ExchangeConventions<E extends Exchange> {
  toSpan(ex: E, resource: ResourceRecord, ids: IdSource): SpanRecord;
  toMetrics(ex: E, resource: ResourceRecord): HistogramPoint[];
  /**
   * What names this request identically on both ends of a connection on this host (with the
   * connection's 4-tuple and the exchange's ordinal), to link client and server spans; null when
   * the protocol cannot tell.
   */
  linkId(ex: E): string | null;
}

type ConventionTable = { [P in Exchange['protocol']]: ExchangeConventions<Extract<Exchange, { protocol: P }>> };

const CONVENTIONS: ConventionTable = {
  http1: {
    toSpan: (ex, resource, ids) => httpExchangeToSpan(ex, resource, ids),
    toMetrics: (ex, resource) => httpExchangeToMetrics(ex, resource),
    linkId: (ex) => `${ex.request.method} ${ex.request.target}`,
  },
};

export function conventionsFor<E extends Exchange>(ex: E): ExchangeConventions<E> {
  return CONVENTIONS[ex.protocol] as unknown as ExchangeConventions<E>;
}
