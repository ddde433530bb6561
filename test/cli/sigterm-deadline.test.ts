// SIGTERM with a backend that hangs (a TCP server that accepts and never answers): the agent detaches
// every probe and flushes within --shutdown-timeout, the spans it held reach the file sink, and no
// BPF program, link or uprobe of it is left (the kernel's lists, as sigkill-cleanup.test.ts reads them).
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { existing, held } from '../helpers/bpf-held.js';
import { startCli } from '../helpers/cli.js';
import { startNginx } from '../helpers/nginx.js';


/** uprobe_events lines libbpf created for this pid (legacy uprobes are named libbpf_<pid>_…). */
function uprobeEvents(pid: number): string[] {
  try {
    return readFileSync('/sys/kernel/tracing/uprobe_events', 'utf8').split('\n').filter((l) => l.includes(`libbpf_${pid}_`));
  } catch {
    return [];
  }
}

// Detaching alone took ~3.2 s here (47 links, TLS uprobes among them: the kernel's work, measured
// by the agent's "collector stopped" log line): the deadline must leave room for it.
const DEADLINE_S = 5;
const REQUESTS = 40;

t.test('SIGTERM with a hanging backend: exit within the deadline, spans in the file, nothing left attached', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-term-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // Accepts, reads, never answers: no HTTP/2 settings, no response, no close.
  const sockets: Socket[] = [];
  const hang = createServer((s) => {
    sockets.push(s);
    s.on('data', () => {});
  });
  hang.listen(0, '127.0.0.1');
  await once(hang, 'listening');
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    hang.close();
  });
  const port = (hang.address() as { port: number }).port;
  const nginx = await startNginx();
  t.teardown(() => nginx.stop());
  const file = join(dir, 'otlp.jsonl');
  writeFileSync(join(dir, 'lantern.yaml'), `server: { token_file: ${join(dir, 'token')} }\n`);
  const agent = startCli(['run', '--config', join(dir, 'lantern.yaml'), '--port', '0', '--collectors', 'sockets,tls,process',
    ...nginx.pids.flatMap((p) => ['--pid', String(p)]), '--otlp-endpoint', `http://127.0.0.1:${port}`, '--otlp-file', file,
    '--shutdown-timeout', String(DEADLINE_S), '--log-format', 'json'], {
    // The backend's own timeout far beyond the deadline: only the deadline can end the export.
    env: { OTEL_EXPORTER_OTLP_TIMEOUT: '120000', OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `http://127.0.0.1:${port}/v1/metrics` },
  });
  t.teardown(() => agent.child.kill('SIGKILL'));
  await agent.waitForStderr('exporting over OTLP', 60_000);
  await new Promise((r) => setTimeout(r, 1500)); // socket tracing is live about a second after start
  const pid = agent.child.pid as number;
  const progs = held(pid, 'prog');
  const links = held(pid, 'link');
  t.ok(progs.length >= 5, `the agent holds programs (${progs.length})`);
  t.ok(links.length >= 5, `and links (${links.length})`);

  let ok = 0;
  for (let i = 0; i < REQUESTS; i++) {
    const res = await fetch(`http://127.0.0.1:${nginx.port}/status?i=${i}`);
    if (res.status === 200) ok++;
    await res.text();
  }
  t.equal(ok, REQUESTS, 'nginx answered every request');
  // Spans are built about 300 ms after their exchange (client/server linking): then SIGTERM while
  // the first gRPC export hangs and the file's batch waits for its one-second delay.
  const connected = Date.now() + 5000;
  while (sockets.length === 0 && Date.now() < connected) await new Promise((r) => setTimeout(r, 50));
  t.ok(sockets.length >= 1, 'the agent connected to the hanging backend (its export hangs)');
  const before = Date.now();
  agent.child.kill('SIGTERM');
  const end = await agent.done;
  const took = Date.now() - before;
  t.ok(took <= DEADLINE_S * 1000 + 1500, `exited ${took} ms after SIGTERM (deadline ${DEADLINE_S} s + 1.5 s margin)`);
  t.equal(end.code, 0, 'clean exit');
  if (took > DEADLINE_S * 1000 + 1500) t.comment(end.stderr.split('\n').filter((l) => !l.includes('"summary"')).join('\n'));

  const spans = readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').flatMap((l) => {
    const req = JSON.parse(l) as { resourceSpans?: Array<{ scopeSpans?: Array<{ spans?: Array<{ name: string; attributes?: Array<{ key: string; value: { stringValue?: string } }> }> }> }> };
    return (req.resourceSpans ?? []).flatMap((rs) => (rs.scopeSpans ?? []).flatMap((ss) => ss.spans ?? []));
  });
  const ours = new Set(spans.map((s) => s.attributes?.find((a) => a.key === 'url.query')?.value.stringValue).filter((q) => q?.startsWith('i=')));
  t.equal(ours.size, REQUESTS, `every request's span is in the file sink (${ours.size} of ${REQUESTS})`);
  const stopped = end.stderr.split('\n').filter((l) => l.includes('"stopped"')).map((l) => JSON.parse(l) as { summary: { export: Record<string, number> } })[0];
  const ex = stopped?.summary.export ?? {};
  t.equal(ex['traces.exported'], 0, 'nothing acknowledged by the hanging backend');
  t.ok(ex['traces.queued']! + ex['traces.dropped.shutdown']! > 0, `what it never took is counted (queued ${ex['traces.queued']}, dropped at shutdown ${ex['traces.dropped.shutdown']})`);

  const until = Date.now() + 5000;
  const left = (): string[] => {
    const p = existing('prog');
    const l = existing('link');
    return [...progs.filter((id) => p.has(id)).map((id) => `prog ${id}`), ...links.filter((id) => l.has(id)).map((id) => `link ${id}`), ...uprobeEvents(pid)];
  };
  while (left().length > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
  t.same(left(), [], 'no program, link or uprobe of the agent is left');
});
