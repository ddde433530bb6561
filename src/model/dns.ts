// DNS queries and their answers, as the DNS session pairs them.
import type { ConnectionInfo } from './connection.js';

export interface DnsQuestion {
  name: string;
  /** Numeric QTYPE (1 A, 28 AAAA, 5 CNAME, ...). */
  type: number;
  class: number;
}

export interface DnsAnswer {
  name: string;
  type: number;
  ttl: number;
  /** Textual data for A/AAAA/CNAME/PTR/NS; empty for other types. */
  data: string;
}

export interface DnsMessage {
  id: number;
  isResponse: boolean;
  opcode: number;
  /** RCODE (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, ...). */
  rcode: number;
  truncated: boolean;
  questions: DnsQuestion[];
  answers: DnsAnswer[];
  /** Answers present in the message beyond what was decoded (bounded decoding). */
  answersNotDecoded: number;
  size: number;
  timeNs: bigint;
}

export interface DnsExchange {
  protocol: 'dns';
  /** For datagram sockets, `remote` is the peer of this query (unconnected sockets change peers). */
  connection: ConnectionInfo;
  ordinal: number;
  query: DnsMessage;
  /** null when no answer came before the connection closed or the query expired. */
  response: DnsMessage | null;
}
