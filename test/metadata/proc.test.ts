// /proc parsing: environ, cmdline, cgroup container ids, stat start time (command-line secrets: command-line.test.ts).
import t from 'tap';
import { ProcessMetadata } from '../../src/metadata/process-metadata.js';
import { containerIdFromCgroup, parseCmdline, parseEnviron, serviceNameFromEnv, startTimeFromStat } from '../../src/metadata/proc.js';

const ID = 'a'.repeat(12) + '0123456789abcdef'.repeat(3) + 'b'.repeat(4);

t.test('service name from the process environment', async (t) => {
  t.equal(serviceNameFromEnv(parseEnviron('A=1\0OTEL_SERVICE_NAME=checkout\0')), 'checkout');
  t.equal(serviceNameFromEnv(parseEnviron('OTEL_RESOURCE_ATTRIBUTES=team=x,service.name=cart%20api\0')), 'cart api');
  t.equal(serviceNameFromEnv(parseEnviron('OTEL_SERVICE_NAME=\0PATH=/bin\0')), null);
  t.equal(serviceNameFromEnv(parseEnviron('')), null);
});

t.test('cmdline and stat', async (t) => {
  t.same(parseCmdline('nginx: worker process\0'), ['nginx: worker process']);
  t.same(parseCmdline('nginx: worker process\0\0\0\0'), ['nginx: worker process'], 'a rewritten title leaves NULs behind');
  t.same(parseCmdline('/usr/bin/python3\0-m\0http.server\0'), ['/usr/bin/python3', '-m', 'http.server']);
  t.equal(startTimeFromStat('123 (we ird) name) S 1 123 123 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10'), '987654');
  t.equal(startTimeFromStat('garbage'), null);
});

t.test('container ids from cgroup paths of common runtimes', async (t) => {
  t.equal(containerIdFromCgroup(`0::/system.slice/docker-${ID}.scope\n`), ID);
  t.equal(containerIdFromCgroup(`0::/kubepods.slice/kubepods-pod1.slice/cri-containerd-${ID}.scope`), ID);
  t.equal(containerIdFromCgroup(`12:pids:/docker/${ID}\n`), ID);
  t.equal(containerIdFromCgroup(`0::/machine.slice/libpod-${ID}.scope/container`), ID);
  t.equal(containerIdFromCgroup('0::/user.slice/user-0.slice/session-1.scope\n'), null);
});

t.test('a live process: this one', async (t) => {
  const md = new ProcessMetadata({ base: { 'host.name': 'h' } });
  const r = md.resource(process.pid);
  t.equal(r.attributes['process.pid'], process.pid);
  t.equal(r.attributes['host.name'], 'h');
  t.equal(r.attributes['process.executable.name'], 'node');
  t.equal(r.attributes['service.name'], process.env.OTEL_SERVICE_NAME ?? 'node');
  t.ok(Array.isArray(r.attributes['process.command_args']));
  t.match(r.key, new RegExp(`^${process.pid}:\\d+:[0-9a-f]{12}$`), 'pid, start time, digest of the attributes');
  t.equal(md.resource(process.pid), r, 'cached');
  const gone = md.resource(4_194_000);
  t.equal(gone.attributes['service.name'], 'pid-4194000', 'a vanished process still gets a resource');
  t.equal(md.stats().unreadable, 1);
});
