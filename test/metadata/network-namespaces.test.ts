// Processes in network namespaces of their own, through the real kernel: a client and a server in
// two namespaces joined by a veth pair (`ip netns`, as a container runtime's CNI would join a pod to
// the node), traced with the addresses each sees — the veth's — and, for the server also in a
// container-shaped cgroup, its container.id. Namespaces (and with them the veth) are removed after,
// whatever happened.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import t from 'tap';
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

t.test('client and server in two network namespaces: each span has the peer\'s veth address and port; the server its container.id', async (t) => {
  const tag = String(process.pid % 100_000);
  const [nsClient, nsServer] = [`lantern-c-${tag}`, `lantern-s-${tag}`];
  const octet = process.pid % 250;
  const [clientIp, serverIp] = [`10.201.${octet}.1`, `10.201.${octet}.2`];
  t.teardown(async () => {
    // Deleting a namespace deletes the veth end in it, and so the pair.
    await run('ip', ['netns', 'del', nsClient]);
    await run('ip', ['netns', 'del', nsServer]);
  });
  await ip('netns', 'add', nsClient);
  await ip('netns', 'add', nsServer);
  await ip('link', 'add', `lc${tag}`, 'netns', nsClient, 'type', 'veth', 'peer', 'name', `ls${tag}`, 'netns', nsServer);
  for (const [ns, dev, addr] of [[nsClient, `lc${tag}`, clientIp], [nsServer, `ls${tag}`, serverIp]] as const) {
    await ip('-n', ns, 'addr', 'add', `${addr}/24`, 'dev', dev);
    await ip('-n', ns, 'link', 'set', dev, 'up');
    await ip('-n', ns, 'link', 'set', 'lo', 'up');
  }

  const agent = await startTestAgent();
  t.teardown(() => agent.stop());

  const id = randomContainerId();
  const cg = v2 !== null ? makeCgroup(v2, [`lantern-netns-${process.pid}.slice`, `docker-${id}.scope`]) : null;
  const port = 8080; // the namespace is the server's own: any port is free there
  const server = spawn('sh', ['-c', `read go; exec ip netns exec ${nsServer} python3 ${serverScript} ${port}`], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.teardown(async () => {
    server.kill('SIGKILL');
    if (server.exitCode === null && server.signalCode === null) await once(server, 'exit');
    await cg?.remove();
  });
  cg?.add(server.pid!);
  server.stdin!.end('go\n');
  await new Promise<void>((resolve, reject) => {
    server.stdout!.on('data', (d: Buffer) => (d.toString().includes('ready') ? resolve() : undefined));
    server.once('exit', (c) => reject(new Error(`the server exited (${c})`)));
  });

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
