// Process identity and container metadata through the real kernel path: processes in cgroups made
// like a container runtime's (cgroup v2 and, where the host has one, a v1 hierarchy) traced with
// their container.id; a process that execs into another program changes its service.name, with and
// without the process collector; Debian's redis-server (a symlink) is named redis-server.
// Spans are picked by the pids of the test's own children.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, readlinkSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import type { LogRecordData } from '../../src/model/log.js';
import type { SpanRecord } from '../../src/model/span.js';
import { attr, startTestAgent } from '../helpers/agent.js';
import { type TestCgroup, cgroupV1PidsMount, cgroupV2Mount, makeCgroup, randomContainerId } from '../helpers/cgroups.js';
import { startRedisServer } from '../helpers/redis.js';
import { startPrintingPort } from '../helpers/spawn.js';

const fixture = (f: string): string => fileURLToPath(new URL(import.meta.url.includes('/dist/') ? `../../../test/fixtures/${f}` : `../fixtures/${f}`, import.meta.url));
const pidOf = (s: SpanRecord): number => Number(s.resource.attributes['process.pid']);

const backend = await startPrintingPort(process.execPath, [fixture('http-backend.mjs')]);
t.teardown(() => backend.stop());
const url = (path: string): string => `http://127.0.0.1:${backend.port}${path}`;

/**
 * A shell that waits until it has been moved into `cg`, then execs curl (which stays in the
 * cgroup, as a container's processes do); resolves with its pid once it has exited. The server
 * answers after 300 ms: the agent reads /proc while the process lives (one that is gone by then is
 * named from the kernel's comm, without container).
 */
async function curlInCgroup(t: Test, cg: TestCgroup, path: string): Promise<number> {
  const child = spawn('sh', ['-c', `read go; exec curl -s -o /dev/null '${url(path)}?delay=300'`], { stdio: ['pipe', 'ignore', 'inherit'] });
  const exited = once(child, 'exit');
  cg.add(child.pid!);
  t.match(readFileSync(`/proc/${child.pid}/cgroup`, 'utf8'), `:${cg.path}\n`, `in ${cg.path}`);
  child.stdin.end('go\n');
  const [code] = await exited;
  t.equal(code, 0, 'curl succeeded');
  return child.pid!;
}

t.test('a process in a container\'s cgroup is traced with its container.id', async (t) => {
  const agent = await startTestAgent({ pids: [backend.child.pid!] });
  t.teardown(() => agent.stop());
  const v2 = cgroupV2Mount();
  const v1 = cgroupV1PidsMount();
  const slice = `lantern-test-${process.pid}.slice`;

  await t.test('cgroup v2, docker\'s systemd layout', { skip: v2 === null ? 'no cgroup v2 mount' : false }, async (t) => {
    const id = randomContainerId();
    const cg = makeCgroup(v2!, [slice, `docker-${id}.scope`]);
    t.teardown(() => cg.remove());
    const pid = await curlInCgroup(t, cg, '/docker-v2');
    const [span] = await agent.waitForSpans((s) => s.kind === 'client' && pidOf(s) === pid, 1);
    t.match(span?.resource.attributes, { 'container.id': id, 'container.runtime.name': 'docker', 'service.name': 'curl' });
    const [server] = await agent.waitForSpans((s) => s.kind === 'server' && attr(s, 'url.path') === '/docker-v2', 1);
    t.equal(server?.resource.attributes['container.id'], undefined, 'the server outside any container has none');
  });

  await t.test('cgroup v2, a Kubernetes pod with containerd (systemd driver)', { skip: v2 === null ? 'no cgroup v2 mount' : false }, async (t) => {
    const id = randomContainerId();
    const uid = '5a1d0c2e-7b3f-4e8a-9c6d-1f2e3a4b5c6d';
    const cg = makeCgroup(v2!, [slice, `kubepods-besteffort-pod${uid.replaceAll('-', '_')}.slice`, `cri-containerd-${id}.scope`]);
    t.teardown(() => cg.remove());
    const pid = await curlInCgroup(t, cg, '/pod-v2');
    const [span] = await agent.waitForSpans((s) => s.kind === 'client' && pidOf(s) === pid, 1);
    t.match(span?.resource.attributes, { 'container.id': id, 'container.runtime.name': 'containerd', 'k8s.pod.uid': uid });
  });

  await t.test('cgroup v1, the kubelet\'s cgroupfs layout', { skip: v1 === null ? 'no cgroup v1 hierarchy with the pids controller' : false }, async (t) => {
    const id = randomContainerId();
    const uid = '0f9e8d7c-6b5a-4f3e-8d2c-1b0a9f8e7d6c';
    const cg = makeCgroup(v1!, [`lantern-test-${process.pid}`, 'kubepods', 'burstable', `pod${uid}`, id]);
    t.teardown(() => cg.remove());
    const pid = await curlInCgroup(t, cg, '/pod-v1');
    const [span] = await agent.waitForSpans((s) => s.kind === 'client' && pidOf(s) === pid, 1);
    t.match(span?.resource.attributes, { 'container.id': id, 'k8s.pod.uid': uid });
    t.equal(span?.resource.attributes['container.runtime.name'], undefined, 'the path does not say which runtime');
  });
});

/**
 * perl makes an HTTP request, then execs curl for a second one: one pid, two programs. Each lives
 * on a little after its request's connect (perl sleeps before its exec, the server answers curl
 * after 300 ms), long enough for the agent to read /proc while it is still that program.
 */
async function perlThenCurl(): Promise<number> {
  const script = `use IO::Socket::INET;
my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => ${backend.port}) or die "connect: $!";
syswrite($s, "GET /before-exec HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n");
my $buf;
1 while sysread($s, $buf, 65536) > 0;
close($s);
select(undef, undef, undef, 0.3);
exec('curl', '-s', '-o', '/dev/null', '${url('/after-exec')}?delay=300') or die "exec: $!";`;
  const child = spawn('perl', ['-e', script], { stdio: ['ignore', 'ignore', 'inherit'] });
  const [code] = await once(child, 'exit');
  if (code !== 0) throw new Error(`perl/curl exited ${String(code)}`);
  return child.pid!;
}

for (const collectors of ['sockets', 'sockets,process']) {
  t.test(`a process that execs into another program gets the new service.name (collectors ${collectors})`, async (t) => {
    const agent = await startTestAgent({ pids: [backend.child.pid!], collectors });
    t.teardown(() => agent.stop());
    const logs: LogRecordData[] = [];
    agent.agent.onLog((l) => logs.push(l));
    const pid = await perlThenCurl();
    const spans = await agent.waitForSpans((s) => s.kind === 'client' && pidOf(s) === pid, 2);
    const before = spans.find((s) => attr(s, 'url.path') === '/before-exec');
    const after = spans.find((s) => attr(s, 'url.path') === '/after-exec');
    t.match(before?.resource.attributes, { 'service.name': 'perl', 'process.command': 'perl' }, 'before the exec: perl');
    t.match(after?.resource.attributes, { 'service.name': 'curl', 'process.executable.name': 'curl', 'process.command': 'curl' }, 'after: curl');
    t.match(after?.resource.attributes['process.command_args'], ['curl', '-s', '-o', '/dev/null', `${url('/after-exec')}?delay=300`]);
    t.not(before?.resource.key, after?.resource.key, 'two resources: metrics of the two programs stay apart');
    t.equal(before?.resource.key.split(':').slice(0, 2).join(':'), after?.resource.key.split(':').slice(0, 2).join(':'), 'one process (pid and start time)');
    if (collectors.includes('process')) {
      const until = Date.now() + 5000;
      const isExec = (l: LogRecordData): boolean => l.eventName === 'process.exec' && l.attributes['process.pid'] === pid;
      while (logs.filter(isExec).length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
      const names = logs.filter(isExec).map((l) => l.resource.attributes['service.name']);
      t.same(names, ['perl', 'curl'], 'the exec events: perl started, then curl');
    }
  });
}

t.test('Debian\'s redis-server, a symlink to another binary, is named as it was started', async (t) => {
  const server = await startRedisServer('identity-pw');
  t.teardown(() => server.stop());
  const agent = await startTestAgent({ pids: [server.pid] });
  t.teardown(() => agent.stop());
  const r = await server.cli(['PING']);
  t.match(r.stdout, /PONG/, r.stderr);
  const [span] = await agent.waitForSpans((s) => s.kind === 'server' && pidOf(s) === server.pid, 1);
  // Debian: /usr/bin/redis-server → redis-check-rdb. The executable attributes name the file mapped.
  const exe = readlinkSync(`/proc/${server.pid}/exe`);
  t.match(span?.resource.attributes, { 'service.name': 'redis-server', 'process.executable.name': basename(exe), 'process.executable.path': exe });
});
