// server.address of client spans and metrics, named: a socket's peer IP becomes the name the
// environment knows it by (a Kubernetes Service's `name.namespace.svc`, a pod's name), the way a
// client that had used that name would have said it. The conventions want server.address to be
// "the domain name if available without reverse DNS lookup": a name from the agent's own API cache
// is that, a PTR query is not.
//
// One place for every protocol: after a protocol's conventions built the span, its server.address
// is renamed when it is the socket's peer address — that is, it came from the socket, not from a
// Host header or :authority naming a host (a Host header that is the same bare IP says no more
// than the socket, and is named too).
import type { Exchange } from '../model/exchange.js';
import type { Attributes, HistogramPoint, SpanRecord } from '../model/span.js';

export type PeerName = (ip: string) => string | undefined;

/** The attributes with server.address named, or the same object when there is nothing to name. */
function named(ex: Exchange, a: Attributes, peerName: PeerName): Attributes {
  const { connection } = ex;
  if (connection.role !== 'client' || connection.family === 'unix') return a;
  const address = a['server.address'];
  if (address === undefined || address !== connection.remote.address) return a;
  const name = peerName(address);
  // A copy: a protocol may share attribute objects between what it builds.
  return name === undefined ? a : { ...a, 'server.address': name };
}

export function namePeerInSpan(ex: Exchange, span: SpanRecord, peerName: PeerName): SpanRecord {
  span.attributes = named(ex, span.attributes, peerName);
  return span;
}

export function namePeerInPoints(ex: Exchange, points: HistogramPoint[], peerName: PeerName): HistogramPoint[] {
  for (const p of points) p.attributes = named(ex, p.attributes, peerName);
  return points;
}
