// A SIGKILLed agent leaves nothing attached: every BPF program and link it held (socket tracer, TLS
// uprobes, process events, profiler perf events, dynlog, bpftrace's own) is gone once it is gone,
// as the kernel's lists say (bpftool). Nothing is pinned, and bpftrace dies with the agent.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { existing, held } from '../helpers/bpf-held.js';
import { startCli } from '../helpers/cli.js';


function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

t.test('SIGKILL: every program and link of the agent (and of its bpftrace) is released', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-kill-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'ticks.bt'), 'interval:s:1 { @ticks = count(); }\n');
  const agent = startCli(['run', '--port', '0', '--collectors', 'sockets,tls,process,profiler,bpftrace,dynlog', '--probes-dir', dir, '--log-level', 'info']);
  t.teardown(() => agent.child.kill('SIGKILL'));
  await agent.waitForStderr(/bpftrace script running/, 60_000);
  const lantern = agent.child.pid as number;
  const children = execFileSync('ps', ['-o', 'pid=', '--ppid', String(lantern)], { encoding: 'utf8' }).split('\n').map((l) => Number(l.trim())).filter((n) => n > 0);
  t.ok(children.length >= 1, 'bpftrace runs under the agent');
  const pids = [lantern, ...children];
  const progs = [...new Set(pids.flatMap((p) => held(p, 'prog')))];
  const links = [...new Set(pids.flatMap((p) => held(p, 'link')))];
  t.ok(progs.length >= 10, `the agent and its bpftrace hold programs (${progs.length})`);
  t.ok(links.length >= 5, `and links (${links.length})`);

  agent.child.kill('SIGKILL');
  await agent.done;
  const end = Date.now() + 10_000;
  const left = (): string[] => {
    const p = existing('prog');
    const l = existing('link');
    return [...progs.filter((id) => p.has(id)).map((id) => `prog ${id}`), ...links.filter((id) => l.has(id)).map((id) => `link ${id}`),
      ...children.filter(alive).map((pid) => `process ${pid}`)];
  };
  while (left().length > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 200));
  t.same(left(), [], 'no program, link or child process of the agent is left');
});
