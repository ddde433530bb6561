// Peer names through the semantic conventions' one hook (semconv/peer-name.ts via createConventions):
// a client span to a Service's cluster IP says `name.namespace.svc`, to a pod IP the pod's name —
// only when server.address came from the socket; a Host header's name stays, server spans stay.
import t from 'tap';
import type { ConnectionInfo } from '../../../src/model/connection.js';
import type { HttpExchange } from '../../../src/model/http.js';
import { RandomIdSource } from '../../../src/semconv/ids.js';
import { createConventions } from '../../../src/semconv/registry.js';
import { ServiceIndex } from '../../../src/metadata/k8s/peer-names.js';
import { serviceFromJson } from '../../../src/metadata/k8s/objects.js';
import { fixture } from './fixtures.js';
import { headerPairs } from '../../../src/model/header-pairs.js';

const resource = { key: 'r', attributes: { 'service.name': 'frontend' } };
const T0 = 1_700_000_000_000_000_000n;

function exchange(role: 'client' | 'server', remote: string, headers: Array<[string, string]>): HttpExchange {
  const connection: ConnectionInfo = {
    pid: 1, fd: 3, generation: 1, role, family: remote.includes(':') && !remote.startsWith('::ffff:') ? 'ipv6' : 'ipv4', transport: 'tcp',
    local: { address: '10.244.1.23', port: role === 'client' ? 40000 : 8080 }, remote: { address: remote, port: role === 'client' ? 80 : 40001 },
  };
  return {
    protocol: 'http1', connection, ordinal: 0,
    request: { kind: 'request', method: 'GET', target: '/cart', version: '1.1', headers: headerPairs(headers), bodySize: 0, bodyPrefix: new Uint8Array(), startNs: T0, endNs: T0 + 1000n },
    response: { kind: 'response', statusCode: 200, reason: 'OK', version: '1.1', headers: headerPairs([]), bodySize: 0, bodyPrefix: new Uint8Array(),
      startNs: T0 + 2000n, endNs: T0 + 3000n, interim: false, endedByClose: false },
  };
}

const services = new ServiceIndex();
services.upsert(serviceFromJson(fixture('service-checkout'))!);
const peerName = (ip: string): string | undefined => services.name(ip) ?? (ip === '10.244.2.7' ? 'cart-5f6d8-abcde' : undefined);
const named = createConventions({ peerName });
const plain = createConventions();
const span = (c: typeof named, ex: HttpExchange) => c(ex).toSpan(ex, resource, new RandomIdSource());

t.test('a client span whose server is the socket\'s Service IP: the Service\'s name, in the span and its metric', async (t) => {
  const ex = exchange('client', '10.96.45.12', []); // HTTP/1.0-style: no Host header
  t.equal(span(plain, ex).attributes['server.address'], '10.96.45.12', 'without the hook: the IP, as before');
  const s = span(named, ex);
  t.equal(s.attributes['server.address'], 'checkout.shop.svc');
  t.equal(s.attributes['network.peer.address'], '10.96.45.12', 'the socket\'s peer stays the IP');
  t.match(s.attributes['url.full'], /^http:\/\/10\.96\.45\.12(:80)?\/cart$/, 'url.full is what the client asked for');
  const [point] = named(ex).toMetrics(ex, resource);
  t.equal(point?.attributes['server.address'], 'checkout.shop.svc');
  t.equal(span(named, exchange('client', '::ffff:10.96.45.12', [])).attributes['server.address'], 'checkout.shop.svc', 'v4 on a dual-stack socket');
});

t.test('a pod IP: the pod\'s name; an unknown IP stays', async (t) => {
  t.equal(span(named, exchange('client', '10.244.2.7', [])).attributes['server.address'], 'cart-5f6d8-abcde');
  t.equal(span(named, exchange('client', '10.0.9.9', [])).attributes['server.address'], '10.0.9.9');
});

t.test('a Host header naming the server wins; server spans are not renamed', async (t) => {
  t.equal(span(named, exchange('client', '10.96.45.12', [['host', 'checkout']])).attributes['server.address'], 'checkout', 'the name the client used');
  t.equal(span(named, exchange('client', '10.96.45.12', [['host', 'api.example.com:8443']])).attributes['server.address'], 'api.example.com');
  const server = span(named, exchange('server', '10.96.45.12', []));
  t.equal(server.attributes['server.address'], '10.244.1.23', 'a server span\'s server is its own socket');
  t.equal(server.attributes['client.address'], '10.96.45.12');
});
