// A traced connection as user space knows it: whose it is, which end, and the two addresses.

export interface Endpoint {
  /** Textual IP ("127.0.0.1", "::1") or a unix socket path; "" when unknown. */
  address: string;
  port: number;
}

/** Identity of one connection: a pid reuses fds, so the generation tells reuses apart. */
export interface ConnectionKey {
  pid: number;
  fd: number;
  generation: number;
}

export type ConnectionRole = 'client' | 'server' | 'unknown';

export interface ConnectionInfo extends ConnectionKey {
  /** Thread group id of the process owning the socket (== pid). */
  role: ConnectionRole;
  family: 'ipv4' | 'ipv6' | 'unix' | 'unknown';
  transport: 'tcp' | 'udp' | 'unknown';
  local: Endpoint;
  remote: Endpoint;
  /** The socket's network namespace (inode number), when the kernel told it. */
  netns?: number;
  /** Set when the payload is plaintext taken from a TLS library: the wire carried ciphertext. */
  tls?: TlsInfo;
  /**
   * linkPart's memo (link-part.ts): the connection's "client>server" once it has one. Only a TCP
   * connection's whose role is known is kept, and neither its ends nor its role change after, so a
   * copy of the info (`{ ...info, role }`) may carry it.
   */
  linkPartMemo?: string;
}

export interface TlsInfo {
  /** "1.2", "1.3" (tls.protocol.version); absent when the library did not tell. */
  version?: string;
}

/** Payload direction as seen by the process owning the socket. */
export type Direction = 'egress' | 'ingress';
