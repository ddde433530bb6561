// Process selection with the real kernel filter: real processes traced or not by executable glob
// and by listening port, in the same run; a process exec'ing into an excluded program stops being
// traced. The agent runs in this process with --pid of it (so the probes, which see the whole
// machine, report only this test's children), and the rules on top.
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { SpanRecord } from '../../src/model/span.js';
import { attr, startTestAgent } from '../helpers/agent.js';
import { startNginx } from '../helpers/nginx.js';
import { freePort, waitForPort } from '../helpers/procs.js';
import { run } from '../helpers/spawn.js';

const pidOf = (s: SpanRecord): number => Number(s.resource.attributes['process.pid']);
const pathOf = (s: SpanRecord): string => String(attr(s, 'url.path'));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const dir = mkdtempSync(join(tmpdir(), 'lantern-selection-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
// A client under a name the rules exclude: a copy of python3 (a copy, not a link: /proc/<pid>/exe names the file).
const excludedPython = join(dir, 'lantern-excl-py');
copyFileSync('/usr/bin/python3', excludedPython);
// Fetches a URL after 0.2 s (an exec'd program is judged while it runs); a 404 is an answer too.
const GET = (url: string): string[] => ['-c', `import urllib.request as u, urllib.error as e, time\ntime.sleep(0.2)\ntry: u.urlopen(${JSON.stringify(url)}).read()\nexcept e.HTTPError: pass`];

function config(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

t.test('exe glob: an excluded client makes no spans while an included one does; exec into an excluded program stops tracing', async (t) => {
  const agent = await startTestAgent({ collectors: 'sockets,process', configFile: config('exe.yaml', 'selection:\n  exclude:\n    - exe: "lantern-excl-*"\n') });
  t.teardown(() => agent.stop());
  const nginx = await startNginx();
  t.teardown(() => nginx.stop());
  const base = `http://127.0.0.1:${nginx.port}`;

  const included = await run('python3', GET(`${base}/included`));
  const excluded = await run(excludedPython, GET(`${base}/excluded`));
  t.equal(included.code, 0, 'python3 fetched');
  t.equal(excluded.code, 0, 'lantern-excl-py fetched');
  // sh runs curl (a child: included), then becomes lantern-excl-py itself (same pid, excluded).
  const sh = spawn('sh', ['-c', `curl -s ${base}/before >/dev/null; exec ${excludedPython} "$@"`, 'sh', ...GET(`${base}/after`)], { stdio: 'ignore' });
  await new Promise((r) => sh.once('exit', r));

  const served = await agent.waitForSpans((s) => s.kind === 'server' && ['/included', '/excluded', '/before', '/after'].includes(pathOf(s)), 4);
  t.same(served.map(pathOf).sort(), ['/after', '/before', '/excluded', '/included'], 'nginx (included) served all four requests, as its spans say');
  const clients = await agent.waitForSpans((s) => s.kind === 'client' && ['/included', '/before'].includes(pathOf(s)), 2);
  t.same(clients.map(pathOf).sort(), ['/before', '/included'], 'client spans of the included python3 and curl');
  await sleep(1000);
  const leaked = agent.spans.filter((s) => s.kind === 'client' && ['/excluded', '/after'].includes(pathOf(s)));
  t.same(leaked.map((s) => `${pathOf(s)} pid ${pidOf(s)}`), [], 'no client span from lantern-excl-py, started as itself or exec\'d into from sh');
  t.notOk(agent.spans.some((s) => pidOf(s) === sh.pid && pathOf(s) === '/after'), 'nothing from sh\'s pid after its exec');
  const summary = await agent.stop();
  t.ok((summary.pipeline.selection_processes_excluded ?? 0) >= 1 || (summary.pipeline.selection_evaluations ?? 0) > 0, 'selection self-metrics reported');
  t.ok(summary.pipeline.selection_evaluations! > 0, `processes judged: ${summary.pipeline.selection_evaluations}`);
});

t.test('listening port: a server on an excluded port makes no spans, one on another port does (same run)', async (t) => {
  const portA = await freePort();
  const agent = await startTestAgent({ collectors: 'sockets', configFile: config('port.yaml', `selection:\n  rescan_seconds: 0.3\n  exclude:\n    - port: ${portA}\n`) });
  t.teardown(() => agent.stop());
  const nginx = await startNginx();
  t.teardown(() => nginx.stop());
  const py = spawn('python3', ['-m', 'http.server', '--bind', '127.0.0.1', String(portA)], { cwd: dir, stdio: 'ignore' });
  t.teardown(() => py.kill());
  await waitForPort(portA);
  await sleep(800); // a rescan sees the new listener
  t.equal((await run('curl', ['-s', '-o', '/dev/null', `http://127.0.0.1:${portA}/a`])).code, 0, 'python http.server answered');
  t.equal((await run('curl', ['-s', '-o', '/dev/null', `http://127.0.0.1:${nginx.port}/b`])).code, 0, 'nginx answered');
  const b = await agent.waitForSpans((s) => s.kind === 'server' && pathOf(s) === '/b', 1);
  t.equal(b.length, 1, 'nginx (not on the excluded port) traced');
  const clients = await agent.waitForSpans((s) => s.kind === 'client' && ['/a', '/b'].includes(pathOf(s)), 2);
  t.equal(clients.length, 2, 'curl (listens on nothing) traced for both requests');
  await sleep(500);
  t.same(agent.spans.filter((s) => s.kind === 'server' && pathOf(s) === '/a').map(pidOf), [], `no server span from the server listening on ${portA} (pid ${py.pid})`);
});

t.test('include by listening port: only the server listening there is traced, clients and another server not', async (t) => {
  const nginx = await startNginx();
  t.teardown(() => nginx.stop());
  // Started before the agent: in scope by pid, like a server already running on a node.
  const agent = await startTestAgent({ pids: nginx.pids, collectors: 'sockets',
    configFile: config('include-port.yaml', `selection:\n  rescan_seconds: 0.3\n  include:\n    - port: ${nginx.port}\n`) });
  t.teardown(() => agent.stop());
  const other = await startNginx();
  t.teardown(() => other.stop());
  await sleep(800);
  t.equal((await run('curl', ['-s', '-o', '/dev/null', `http://127.0.0.1:${other.port}/other`])).code, 0, 'the other nginx answered');
  // Run with this process (and so the agent) blocked: curl execs and exits before the agent reads
  // its exec record, and is judged by the comm in it.
  t.equal(spawnSync('curl', ['-s', '-o', '/dev/null', `http://127.0.0.1:${nginx.port}/mine`]).status, 0, 'nginx answered (curl gone before the agent looked)');
  const mine = await agent.waitForSpans((s) => s.kind === 'server' && pathOf(s) === '/mine', 1);
  t.ok(mine.length === 1 && nginx.pids.includes(pidOf(mine[0]!)), `nginx listening on ${nginx.port} traced`);
  await sleep(1000);
  t.same(agent.spans.filter((s) => s.kind === 'client').map((s) => `${pathOf(s)} pid ${pidOf(s)} ${String(s.resource.attributes['process.executable.name'])}`), [], 'curl listens on no port: not traced');
  t.same(agent.spans.filter((s) => s.kind === 'server' && pathOf(s) === '/other').map(pidOf), [], `the nginx on port ${other.port} is not traced`);
});
