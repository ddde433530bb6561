// DNS exchanges as spans and the dns.lookup.duration metric.
//
// The conventions define no DNS span; Lantern names it `DNS {QTYPE}` (low cardinality: the
// queried name is an attribute, never part of the name), CLIENT on the resolver's side and SERVER
// on the name server's. Attributes: dns.question.name and dns.answers from the conventions;
// dns.question.type and dns.response_code are Lantern's (lantern namespace would hide them from
// every backend's DNS views, so the dns.* spelling is kept and documented here).
import type { DnsExchange } from '../model/dns.js';
import type { Attributes, HistogramPoint, ResourceRecord, SpanKind, SpanRecord } from '../model/span.js';
import { QTYPE_NAMES, RCODE_NAMES } from '../protocols/dns/message.js';
import type { IdSource } from './ids.js';
import { newSpanRecord } from './span-record.js';

export const DNS_LOOKUP_DURATION = 'dns.lookup.duration';

function qtype(t: number): string {
  return QTYPE_NAMES[t] ?? `TYPE${t}`;
}

function errorType(ex: DnsExchange): string | undefined {
  if (ex.response === null) return 'timeout';
  return ex.response.rcode === 0 ? undefined : RCODE_NAMES[ex.response.rcode] ?? `RCODE${ex.response.rcode}`;
}

function kind(ex: DnsExchange): SpanKind {
  return ex.connection.role === 'server' ? 'server' : ex.connection.role === 'client' ? 'client' : 'internal';
}

function attributes(ex: DnsExchange): Attributes {
  const q = ex.query.questions[0];
  const a: Attributes = {};
  if (q !== undefined) {
    a['dns.question.name'] = q.name;
    a['dns.question.type'] = qtype(q.type);
  }
  const server = ex.connection.role === 'server' ? ex.connection.local : ex.connection.remote;
  if (server.address !== '') a['server.address'] = server.address;
  if (server.port !== 0) a['server.port'] = server.port;
  if (ex.connection.remote.address !== '') {
    a['network.peer.address'] = ex.connection.remote.address;
    a['network.peer.port'] = ex.connection.remote.port;
  }
  a['network.transport'] = ex.connection.transport === 'tcp' ? 'tcp' : 'udp';
  if (ex.response !== null) {
    a['dns.response_code'] = RCODE_NAMES[ex.response.rcode] ?? String(ex.response.rcode);
    const answers = ex.response.answers.filter((x) => x.data !== '').map((x) => x.data);
    if (answers.length > 0) a['dns.answers'] = answers;
  }
  const err = errorType(ex);
  if (err !== undefined) a['error.type'] = err;
  return a;
}

export function dnsExchangeToSpan(ex: DnsExchange, resource: ResourceRecord, ids: IdSource): SpanRecord {
  const q = ex.query.questions[0];
  const err = errorType(ex);
  return newSpanRecord(ids, null, `DNS ${q !== undefined ? qtype(q.type) : 'query'}`, kind(ex), ex.query.timeNs,
    ex.response?.timeNs ?? ex.query.timeNs, attributes(ex), err !== undefined ? { code: 'error', message: err } : { code: 'unset' }, resource);
}

/** dns.lookup.duration, on the resolver's side only (it is a client metric). */
export function dnsExchangeToMetrics(ex: DnsExchange, resource: ResourceRecord): HistogramPoint[] {
  if (ex.connection.role !== 'client' || ex.response === null) return [];
  const q = ex.query.questions[0];
  const attrs: Attributes = {};
  if (q !== undefined) attrs['dns.question.name'] = q.name;
  const err = errorType(ex);
  if (err !== undefined) attrs['error.type'] = err;
  return [{
    name: DNS_LOOKUP_DURATION, unit: 's', description: 'Duration of DNS lookups, as seen on the resolving process\'s socket',
    value: Number(ex.response.timeNs - ex.query.timeNs) / 1e9, attributes: attrs, resource, timeUnixNano: ex.response.timeNs,
  }];
}
