// TLS attributes of a connection whose plaintext came from a TLS library (semantic conventions,
// "tls.*"): the protocol and, when the library told, its version. Added to every protocol's spans.
import type { ConnectionInfo } from '../model/connection.js';
import type { Attributes } from '../model/span.js';

export function tlsAttributes(connection: ConnectionInfo): Attributes {
  if (connection.tls === undefined) return {};
  const a: Attributes = { 'tls.protocol.name': 'tls' };
  if (connection.tls.version !== undefined) a['tls.protocol.version'] = connection.tls.version;
  return a;
}
