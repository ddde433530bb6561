// DNS through the real kernel path: dnsmasq on loopback, dig (UDP and TCP), and getaddrinfo from a
// program whose resolv.conf (in its own mount namespace) names that dnsmasq.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { SpanRecord } from '../../src/model/span.js';
import { attr, startTestAgent } from '../helpers/agent.js';
import { startDnsmasq } from '../helpers/dnsmasq.js';
import { run } from '../helpers/spawn.js';

const isDns = (s: SpanRecord): boolean => s.name.startsWith('DNS ');

// DNS is recognised by its port, 53: each dnsmasq gets a loopback address of its own on port 53.
const loopback = (n: number): string => `127.0.0.${n}`;

t.test('dig over UDP and TCP against dnsmasq', async (t) => {
  const port = 53;
  const dns = await startDnsmasq(loopback(76), port, { 'lantern.test': '10.1.2.3', 'nope.test': '' });
  t.teardown(() => dns.stop());
  const agent = await startTestAgent({ pids: [dns.pid] });
  t.teardown(() => agent.stop());
  const at = `@${dns.address}`;
  const a = await run('dig', ['+short', '+tries=1', '+time=2', '-p', String(port), at, 'lantern.test', 'A']);
  t.equal(a.stdout.trim(), '10.1.2.3', a.stderr);
  const nx = await run('dig', ['+tries=1', '+time=2', '-p', String(port), at, 'nope.test', 'A']);
  t.match(nx.stdout, /NXDOMAIN/);
  const tcp = await run('dig', ['+short', '+tcp', '+tries=1', '+time=2', '-p', String(port), at, 'lantern.test', 'A']);
  t.equal(tcp.stdout.trim(), '10.1.2.3');
  const client = await agent.waitForSpans((s) => isDns(s) && s.kind === 'client', 3);
  const server = await agent.waitForSpans((s) => isDns(s) && s.kind === 'server' && s.resource.attributes['process.pid'] === dns.pid, 3);
  t.equal(client.length, 3, 'three lookups by dig');
  t.equal(server.length, 3, 'three answered by dnsmasq');
  const ok = client.find((s) => attr(s, 'dns.question.name') === 'lantern.test' && attr(s, 'network.transport') === 'udp');
  t.equal(ok?.name, 'DNS A');
  t.same(attr(ok, 'dns.answers'), ['10.1.2.3']);
  t.equal(attr(ok, 'server.port'), port);
  t.equal(attr(ok, 'server.address'), dns.address);
  t.equal(ok?.status.code, 'unset');
  const failed = client.find((s) => attr(s, 'dns.question.name') === 'nope.test');
  t.equal(failed?.status.code, 'error');
  t.equal(attr(failed, 'error.type'), 'NXDOMAIN');
  t.ok(client.some((s) => attr(s, 'network.transport') === 'tcp'), 'the TCP lookup too');
  const okServer = server.find((s) => attr(s, 'dns.question.name') === 'lantern.test' && attr(s, 'network.transport') === 'udp');
  t.equal(okServer?.parentSpanId, ok?.spanId, 'dnsmasq\'s span is the child of dig\'s');
  const lookups = agent.histograms.filter((p) => p.name === 'dns.lookup.duration');
  t.equal(lookups.length, 3, 'dns.lookup.duration for each client lookup');
});

t.test('getaddrinfo from a program resolving through dnsmasq', async (t) => {
  // The C library resolver talks to port 53: dnsmasq listens on a loopback address of its own.
  const address = loopback(77);
  const dns = await startDnsmasq(address, 53, { 'svc.lantern.test': '10.9.8.7' });
  t.teardown(() => dns.stop());
  const dir = mkdtempSync(join(tmpdir(), 'lantern-dns-'));
  writeFileSync(join(dir, 'resolv.conf'), `nameserver ${address}\noptions attempts:1 timeout:2\n`);
  const agent = await startTestAgent({ pids: [dns.pid] });
  t.teardown(() => agent.stop());
  const py = 'import socket; print(sorted({a[4][0] for a in socket.getaddrinfo("svc.lantern.test", 80, socket.AF_INET)}))';
  const r = await run('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', `mount --bind ${dir}/resolv.conf /etc/resolv.conf && exec python3 -c '${py}'`]);
  t.equal(r.stdout.trim(), "['10.9.8.7']", r.stderr);
  const spans = await agent.waitForSpans((s) => isDns(s) && s.kind === 'client' && attr(s, 'dns.question.name') === 'svc.lantern.test', 1);
  t.ok(spans.length >= 1, 'the resolver\'s lookup from inside python is a client span');
  t.match(String(spans[0]?.resource.attributes['process.executable.name']), /^python3/, 'the resolving process is python');
  t.same(attr(spans[0], 'dns.answers'), ['10.9.8.7']);
});
