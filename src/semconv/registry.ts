// Every exchange type's semantic conventions, by protocol. A protocol adds one entry here and one
// in protocols/registry.ts; the pipeline and the linker stay protocol-blind.
import type { Exchange } from '../model/exchange.js';
import type { HistogramPoint, ResourceRecord, SpanRecord } from '../model/span.js';
import { dnsExchangeToMetrics, dnsExchangeToSpan } from './dns.js';
import { type HttpSemconvOptions, httpExchangeToMetrics, httpExchangeToSpan, httpLinkId } from './http.js';
import { http2ExchangeToMetrics, http2ExchangeToSpan, http2LinkId } from './http2.js';
import type { IdSource } from './ids.js';
import { mysqlExchangeToMetrics, mysqlExchangeToSpan, mysqlLinkId } from './mysql.js';
import { type PeerName, namePeerInPoints, namePeerInSpan } from './peer-name.js';
import { postgresExchangeToMetrics, postgresExchangeToSpan, postgresLinkId } from './postgres.js';
import { redisExchangeToMetrics, redisExchangeToSpan, redisLinkId } from './redis.js';

export interface ExchangeConventions<E extends Exchange> {
  toSpan(ex: E, resource: ResourceRecord, ids: IdSource): SpanRecord;
  toMetrics(ex: E, resource: ResourceRecord): HistogramPoint[];
  /**
   * What names this request identically on both ends of a connection on this host (with the
   * connection's 4-tuple; with linkOrdinal, or the exchange's ordinal in it, when order is what tells
   * requests apart), to link client and server spans; null when the protocol cannot tell.
   */
  linkId(ex: E): string | null;
  /** The request's place on its connection, when order tells requests apart and linkId leaves it out. */
  linkOrdinal?(ex: E): number;
}

type ConventionTable = { [P in Exchange['protocol']]: ExchangeConventions<Extract<Exchange, { protocol: P }>> };

/** The conventions of an exchange, by its protocol. */
export type ConventionsFor = <E extends Exchange>(ex: E) => ExchangeConventions<E>;

/**
 * What the configuration decides: HTTP header capture, route templates, whether forwarded client
 * addresses count, and which names are secrets (HTTP/1, HTTP/2 and gRPC alike); and, for every
 * protocol, names for peer IPs (peer-name.ts: a client's server.address taken from its socket).
 */
export type ConventionOptions = Omit<HttpSemconvOptions, 'scheme'> & { peerName?: PeerName };

/** The table for one set of options, built once (the agent's wiring does, from its configuration). */
export function createConventions(opts: ConventionOptions = {}): ConventionsFor {
  const { peerName, ...httpOpts } = opts;
  const http: HttpSemconvOptions = Object.freeze(httpOpts);
  const table: ConventionTable = {
    http1: {
      toSpan: (ex, resource, ids) => httpExchangeToSpan(ex, resource, ids, http),
      toMetrics: (ex, resource) => httpExchangeToMetrics(ex, resource, http),
      // Requests on one connection are answered in order: the ordinal tells them apart, the method
      // and target guard against ends that numbered them differently.
      linkId: httpLinkId,
      linkOrdinal: (ex) => ex.ordinal,
    },
    dns: {
      toSpan: (ex, resource, ids) => dnsExchangeToSpan(ex, resource, ids),
      toMetrics: (ex, resource) => dnsExchangeToMetrics(ex, resource),
      // A name server's socket serves every client: the query id and question name the query.
      linkId: (ex) => `${ex.query.id} ${ex.query.questions[0]?.name ?? ''} ${ex.query.questions[0]?.type ?? 0}`,
    },
    // Commands and operations on one connection are answered in order, as HTTP/1's requests.
    redis: { toSpan: redisExchangeToSpan, toMetrics: redisExchangeToMetrics, linkId: redisLinkId, linkOrdinal: (ex) => ex.ordinal },
    http2: {
      toSpan: (ex, resource, ids) => http2ExchangeToSpan(ex, resource, ids, http),
      toMetrics: (ex, resource) => http2ExchangeToMetrics(ex, resource, http),
      linkId: http2LinkId,
    },
    mysql: { toSpan: mysqlExchangeToSpan, toMetrics: mysqlExchangeToMetrics, linkId: mysqlLinkId, linkOrdinal: (ex) => ex.ordinal },
    postgresql: { toSpan: postgresExchangeToSpan, toMetrics: postgresExchangeToMetrics, linkId: postgresLinkId, linkOrdinal: (ex) => ex.ordinal },
  };
  if (peerName !== undefined) {
    const byName = table as unknown as Record<string, ExchangeConventions<Exchange>>;
    for (const p of Object.keys(byName)) byName[p] = withPeerNames(byName[p]!, peerName);
  }
  return <E extends Exchange>(ex: E) => table[ex.protocol] as unknown as ExchangeConventions<E>;
}

/** A protocol's conventions, with a client's server.address from its socket named by peerName. */
function withPeerNames<E extends Exchange>(c: ExchangeConventions<E>, peerName: PeerName): ExchangeConventions<E> {
  return {
    toSpan: (ex, resource, ids) => namePeerInSpan(ex, c.toSpan(ex, resource, ids), peerName),
    toMetrics: (ex, resource) => namePeerInPoints(ex, c.toMetrics(ex, resource), peerName),
    linkId: c.linkId,
    ...(c.linkOrdinal !== undefined ? { linkOrdinal: c.linkOrdinal } : {}),
  };
}

/** The defaults: no header captured, no routes, the built-in secret names. */
export const conventionsFor: ConventionsFor = createConventions();
