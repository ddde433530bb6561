// Processes in network namespaces of their own, through the real kernel: a client and a server in
// two namespaces joined by a veth pair (`ip netns`, as a container runtime's CNI would join a pod to
// the node), traced with the addresses each sees — the veth's — and, for the server also in a
// container-shaped cgroup, its container.id. Namespaces (and with them the veth) are removed after,
// whatever happened.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import type { SpanRecord } from '../../src/model/span.js';
import { attr, startTestAgent } from '../helpers/agent.js';
import { cgroupV2Mount, makeCgroup, randomContainerId } from '../helpers/cgroups.js';
import { run } from '../helpers/spawn.js';

const v2 = cgroupV2Mount();
const pidOf = (s: SpanRecord): number => Number(s.resource.attributes['process.pid']);

// Answers after 300 ms (the client lives on while the agent reads its /proc); says "ready" once bound.
const serverScript = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../../../test/fixtures/slow-http-server.py' : '../fixtures/slow-http-server.py', import.meta.url));

async function ip(...args: string[]): Promise<void> {
  const r = await run('ip', args);
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
}

/** A network namespace with its loopback up, deleted after the test (and with it a veth end in it). */
async function netns(t: Test, name: string): Promise<void> {
  t.teardown(() => run('ip', ['netns', 'del', name]));
  await ip('netns', 'add', name);
  await ip('-n', name, 'link', 'set', 'lo', 'up');
}

/** The slow server in namespace `ns`, once it listens; `place` is told its pid before it starts. */
async function serverIn(t: Test, ns: string, port: number, place: (pid: number) => void = () => undefined): Promise<ChildProcess> {
  const server = spawn('sh', ['-c', `read go; exec ip netns exec ${ns} python3 ${serverScript} ${port}`], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.teardown(async () => {
    server.kill('SIGKILL');
    if (server.exitCode === null && server.signalCode === null) await once(server, 'exit');
  });
  place(server.pid!);
  server.stdin!.end('go\n');
  await new Promise<void>((resolve, reject) => {
    server.stdout!.on('data', (d: Buffer) => (d.toString().includes('ready') ? resolve() : undefined));
    server.once('exit', (c) => reject(new Error(`the server exited (${c})`)));
  });
  return server;
}

t.test('client and server in two network namespaces: each span has the peer\'s veth address and port; the server its container.id', async (t) => {
  const tag = String(process.pid % 100_000);
  const [nsClient, nsServer] = [`lantern-c-${tag}`, `lantern-s-${tag}`];
  const octet = process.pid % 250;
  const [clientIp, serverIp] = [`10.201.${octet}.1`, `10.201.${octet}.2`];
  await netns(t, nsClient);
  await netns(t, nsServer);
  await ip('link', 'add', `lc${tag}`, 'netns', nsClient, 'type', 'veth', 'peer', 'name', `ls${tag}`, 'netns', nsServer);
  for (const [ns, dev, addr] of [[nsClient, `lc${tag}`, clientIp], [nsServer, `ls${tag}`, serverIp]] as const) {
    await ip('-n', ns, 'addr', 'add', `${addr}/24`, 'dev', dev);
    await ip('-n', ns, 'link', 'set', dev, 'up');
  }

  const agent = await startTestAgent();
  t.teardown(() => agent.stop());

  const id = randomContainerId();
  const cg = v2 !== null ? makeCgroup(v2, [`lantern-netns-${process.pid}.slice`, `docker-${id}.scope`]) : null;
  const port = 8080; // the namespace is the server's own: any port is free there
  t.teardown(() => cg?.remove());
  const server = await serverIn(t, nsServer, port, (pid) => cg?.add(pid));

  // curl's own port, from a range: the server span's peer port is one of these.
  const client = spawn('ip', ['netns', 'exec', nsClient, 'curl', '-s', '-o', '/dev/null', '--local-port', '42100-42199', `http://${serverIp}:${port}/across`], { stdio: 'inherit' });
  const [code] = await once(client, 'exit');
  t.equal(code, 0, 'curl reached the server across the veth pair');

  const [c] = await agent.waitForSpans((s) => s.kind === 'client' && pidOf(s) === client.pid, 1);
  const [s] = await agent.waitForSpans((s) => s.kind === 'server' && pidOf(s) === server.pid && attr(s, 'url.path') === '/across', 1);
  t.match(c?.attributes, { 'network.peer.address': serverIp, 'network.peer.port': port, 'server.address': serverIp, 'server.port': port }, 'client: the server\'s veth address');
  t.match(s?.attributes, { 'network.peer.address': clientIp, 'client.address': clientIp }, 'server: the client\'s veth address');
  const peerPort = Number(attr(s, 'network.peer.port'));
  t.ok(peerPort >= 42100 && peerPort <= 42199, `server: the client's port, from curl's range (${peerPort})`);
  t.match(c?.resource.attributes, { 'service.name': 'curl' });
  t.equal(c?.resource.attributes['container.id'], undefined, 'the client is in no container');
  t.match(s?.resource.attributes, { 'process.executable.name': /^python/ });
  if (cg !== null) t.match(s?.resource.attributes, { 'container.id': id, 'container.runtime.name': 'docker' }, 'the server: its container');
});

// GET /same from local port 42000 to 127.0.0.1:8080 over the namespace's loopback, reading the answer
// after argv[1] seconds: the same addresses in two namespaces.
const SAME_ADDRESSES = `import socket, sys, time
s = socket.socket()
s.bind(('127.0.0.1', 42000))
s.connect(('127.0.0.1', 8080))
s.sendall(b'GET /same HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n')
time.sleep(float(sys.argv[1]))
while s.recv(65536):
    pass`;

t.test('the same loopback addresses in two namespaces: a server span is joined to its own client span only', async (t) => {
  const tag = String(process.pid % 100_000);
  const spaces = [`lantern-a-${tag}`, `lantern-b-${tag}`];
  for (const ns of spaces) await netns(t, ns);
  const agent = await startTestAgent();
  t.teardown(() => agent.stop());
  const servers = await Promise.all(spaces.map((ns) => serverIn(t, ns, 8080)));
  // a's server answers at 0.3 s, a's client reads at 1.3 s; b's request goes 0.1 s later and is read at once:
  // a's server span, then b's (server and client), then a's client.
  const clients = spaces.map((ns, i) => spawn('ip', ['netns', 'exec', ns, 'python3', '-c', SAME_ADDRESSES, i === 0 ? '1' : '0'], { stdio: 'inherit' }));
  await new Promise((r) => setTimeout(r, 100));
  const codes = await Promise.all(clients.map((c) => once(c, 'exit')));
  t.same(codes.map(([c]) => c), [0, 0], 'both clients got their answers');
  const spans = await agent.waitForSpans((s) => attr(s, 'url.path') === '/same', 4);
  for (const i of [0, 1]) {
    const server = spans.find((s) => s.kind === 'server' && pidOf(s) === servers[i]!.pid);
    const client = spans.find((s) => s.kind === 'client' && pidOf(s) === clients[i]!.pid);
    const other = spans.find((s) => s.kind === 'client' && pidOf(s) === clients[1 - i]!.pid);
    t.ok(server && client && other, `namespace ${spaces[i]}: its spans`);
    t.not(server?.parentSpanId, other?.spanId, `${spaces[i]}'s server span is not the child of the other namespace's client`);
    // b's client reads at once, within the linker's window (a's reads a second after its server span left).
    if (i === 1) t.equal(server?.parentSpanId, client?.spanId, `${spaces[i]}'s server span is the child of its own client's span`);
  }
});
