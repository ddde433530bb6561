// A reused pid through the real kernel: a traced process exits and another gets its pid — forced
// by writing the pid before it to /proc/sys/kernel/ns_last_pid and forking at once (proc(5); retried
// while some other process on the machine takes the pid first). The new process's spans carry its
// own service.name and command line, never the dead one's: when it is another program (an exec the
// socket tracer reports) and when it is the same program forked, without an exec, within the pid
// cache's revalidation window and with only the sockets collector (no exit events).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import type { SpanRecord } from '../../src/model/span.js';
import { attr, startTestAgent } from '../helpers/agent.js';
import { startPrintingPort } from '../helpers/spawn.js';

const fixture = (f: string): string => fileURLToPath(new URL(import.meta.url.includes('/dist/') ? `../../../test/fixtures/${f}` : `../fixtures/${f}`, import.meta.url));
const pidOf = (s: SpanRecord): number => Number(s.resource.attributes['process.pid']);

const backend = await startPrintingPort(process.execPath, [fixture('http-backend.mjs')]);
t.teardown(() => backend.stop());

/** One GET of `path` (answered after 300 ms), then 300 ms more: the agent reads /proc meanwhile. */
const REQUEST = `
sub request {
  my ($port, $path) = @_;
  my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port) or die "connect: $!";
  syswrite($s, "GET $path?delay=300 HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n");
  my $buf;
  1 while sysread($s, $buf, 65536) > 0;
  close($s);
  select(undef, undef, undef, 0.3);
}`;

/** perl that makes one request: the process whose pid is reused. */
const FIRST = `use IO::Socket::INET;${REQUEST}
request($ARGV[0], $ARGV[1]);`;

/**
 * Forks until a child gets pid ARGV[0]; that child execs wget (mode exec) or, still this perl,
 * makes the request itself (mode fork). Exits 3 when the pid could not be had.
 */
const REUSE = `use IO::Socket::INET;${REQUEST}
my ($target, $mode, $port, $path) = @ARGV;
for my $try (1 .. 500) {
  open(my $f, '>', '/proc/sys/kernel/ns_last_pid') or die "ns_last_pid: $!";
  print $f ($target - 1);
  close($f) or die "ns_last_pid: $!";
  my $pid = fork() // die "fork: $!";
  if ($pid == 0) {
    POSIX::_exit(0) if $$ != $target;
    if ($mode eq 'exec') { exec('wget', '-q', '-O', '/dev/null', "http://127.0.0.1:$port$path?delay=300") or die "exec: $!"; }
    request($port, $path);
    POSIX::_exit(0);
  }
  waitpid($pid, 0);
  if ($pid == $target) { exit($? >> 8); }
}
exit 3;`;

async function exited(child: ReturnType<typeof spawn>): Promise<number | null> {
  const [code] = await once(child, 'exit');
  return code as number | null;
}

for (const mode of ['exec', 'fork'] as const) {
  t.test(`a reused pid does not inherit the dead process's identity (${mode === 'exec' ? 'another program' : 'the same program, forked without exec'})`, async (t) => {
    const agent = await startTestAgent({ pids: [backend.child.pid!] });
    t.teardown(() => agent.stop());
    const first = spawn('perl', ['-e', FIRST, String(backend.port), '/first'], { stdio: ['ignore', 'ignore', 'inherit'] });
    const pid = first.pid!;
    t.equal(await exited(first), 0, 'the first process made its request');
    const [old] = await agent.waitForSpans((s) => s.kind === 'client' && pidOf(s) === pid && attr(s, 'url.path') === '/first', 1);
    t.match(old?.resource.attributes, { 'service.name': 'perl', 'process.command_args': ['perl', '-e', FIRST, String(backend.port), '/first'] }, 'the first: perl');

    const reuser = spawn('perl', ['-MPOSIX', '-e', REUSE, String(pid), mode, String(backend.port), '/second'], { stdio: ['ignore', 'ignore', 'inherit'] });
    const code = await exited(reuser);
    t.equal(code, 0, code === 3 ? `pid ${pid} was taken by another process of the machine before this test could take it` : `a new process with pid ${pid} made its request`);
    const [fresh] = await agent.waitForSpans((s) => s.kind === 'client' && pidOf(s) === pid && attr(s, 'url.path') === '/second', 1);
    t.ok(fresh, 'the new process\'s span');
    if (mode === 'exec') {
      t.match(fresh?.resource.attributes, { 'service.name': 'wget', 'process.executable.name': 'wget', 'process.command': 'wget' }, 'the new program');
      t.match(fresh?.resource.attributes['process.command_args'], ['wget', '-q', '-O', '/dev/null', `http://127.0.0.1:${backend.port}/second?delay=300`]);
    } else {
      t.match(fresh?.resource.attributes, { 'service.name': 'perl', 'process.command': 'perl' });
      t.same(fresh?.resource.attributes['process.command_args'], ['perl', '-MPOSIX', '-e', REUSE, String(pid), mode, String(backend.port), '/second'],
        'its own command line (its parent\'s, which it forked from), not the dead process\'s');
    }
    t.not(fresh?.resource.key, old?.resource.key, 'a resource of its own');
    t.not(fresh?.resource.key.split(':').slice(0, 2).join(':'), old?.resource.key.split(':').slice(0, 2).join(':'), 'another process (pid and start time)');
  });
}
