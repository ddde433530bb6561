// DNS on one socket: datagrams (UDP, one message each) or a stream of 2-byte length-prefixed
// messages (TCP, RFC 1035 §4.2.2). Queries are matched to responses by id and question, not by
// order: resolvers send A and AAAA together and answers come back in any order.
import type { ConnectionInfo } from '../../model/connection.js';
import type { DnsExchange, DnsMessage } from '../../model/dns.js';
import type { MessageSide, ProtocolHandler, ProtocolSession } from '../session.js';
import { decodeDnsMessage, looksLikeDnsQuery, looksLikeDnsResponse } from './message.js';

const MAX_PENDING = 256;
const MAX_TCP_BUFFER = 64 * 1024 + 2;

function key(m: DnsMessage): string {
  const q = m.questions[0];
  return `${m.id}|${q?.name.toLowerCase() ?? ''}|${q?.type ?? 0}`;
}

export class DnsSession implements ProtocolSession {
  #pending = new Map<string, { query: DnsMessage; connection: ConnectionInfo }>();
  #done: DnsExchange[] = [];
  #ordinal = 0;
  #tcp: Record<MessageSide, Uint8Array> = { request: new Uint8Array(0), response: new Uint8Array(0) };
  #s = { queries: 0, responses: 0, malformed: 0, unmatched: 0, evicted: 0, gaps: 0 };

  constructor(private readonly connection: ConnectionInfo) {}

  data(side: MessageSide, bytes: Uint8Array, timeNs: bigint): void {
    if (this.connection.transport === 'tcp') this.#stream(side, bytes, timeNs);
    else this.#message(side, bytes, timeNs);
  }

  #stream(side: MessageSide, bytes: Uint8Array, timeNs: bigint): void {
    let buf = this.#tcp[side].length === 0 ? bytes : Buffer.concat([this.#tcp[side], bytes]);
    while (buf.length >= 2) {
      const len = (buf[0]! << 8) | buf[1]!;
      if (buf.length < 2 + len) break;
      this.#message(side, buf.subarray(2, 2 + len), timeNs);
      buf = buf.subarray(2 + len);
    }
    // Bounded: one maximal message and its length prefix.
    if (buf.length > MAX_TCP_BUFFER) {
      this.#s.malformed++;
      buf = new Uint8Array(0);
    }
    this.#tcp[side] = Uint8Array.from(buf);
  }

  #message(side: MessageSide, bytes: Uint8Array, timeNs: bigint): void {
    const m = decodeDnsMessage(bytes, timeNs);
    if (m === null || m.isResponse !== (side === 'response')) {
      this.#s.malformed++;
      return;
    }
    if (!m.isResponse) {
      this.#s.queries++;
      if (this.#pending.size >= MAX_PENDING) {
        const oldest = this.#pending.keys().next().value;
        if (oldest !== undefined) this.#expire(oldest);
        this.#s.evicted++;
      }
      // The peer of this datagram, now: an unconnected socket asks many servers.
      this.#pending.set(key(m), { query: m, connection: { ...this.connection, remote: { ...this.connection.remote }, local: { ...this.connection.local } } });
      return;
    }
    this.#s.responses++;
    const k = key(m);
    const p = this.#pending.get(k);
    if (p === undefined) {
      this.#s.unmatched++;
      return;
    }
    this.#pending.delete(k);
    this.#done.push({ protocol: 'dns', connection: p.connection, ordinal: this.#ordinal++, query: p.query, response: m });
  }

  #expire(k: string): void {
    const p = this.#pending.get(k);
    if (p === undefined) return;
    this.#pending.delete(k);
    this.#done.push({ protocol: 'dns', connection: p.connection, ordinal: this.#ordinal++, query: p.query, response: null });
  }

  gap(side: MessageSide): void {
    // A lost datagram loses one message; a TCP gap loses the framing until the next message.
    this.#s.gaps++;
    if (this.connection.transport === 'tcp') this.#tcp[side] = new Uint8Array(0);
  }

  close(): void {
    for (const k of [...this.#pending.keys()]) this.#expire(k);
  }

  drain(): DnsExchange[] {
    const out = this.#done;
    this.#done = [];
    return out;
  }

  stats(): Record<string, number> {
    return { ...this.#s, pending: this.#pending.size };
  }
}

/** DNS for the connection tracker. kernelId is PROTO_DNS in bpf/include/sockets.h. */
export const dnsHandler: ProtocolHandler = {
  name: 'dns',
  kernelId: 6,
  // TCP messages start with a length prefix; datagrams with the header.
  looksLikeRequest: (b) => looksLikeDnsQuery(b) || looksLikeDnsQuery(b.subarray(2)),
  looksLikeResponse: (b) => looksLikeDnsResponse(b) || looksLikeDnsResponse(b.subarray(2)),
  open: (connection) => new DnsSession(connection),
};
