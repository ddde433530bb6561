// A flood of new processes and new connections, as fast as this machine makes them, with the agent
// tracing every process as it does by default: it must keep going, stay bounded, say what it could
// not follow, and trace the next ordinary request as if nothing had happened.
//
// The flood: a Python child that, for FLOOD_SECONDS, spawns /bin/true back to back on one thread
// (fork + exec + exit per process) while two threads open a new TCP connection to nginx per request
// (connect, GET, read the answer, close). What it made is counted by the flood itself.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startCli } from '../helpers/cli.js';
import { startNginx } from '../helpers/nginx.js';
import { lastHistogramCount } from '../helpers/otlp-lines.js';

const FLOOD_SECONDS = 12;
/** RSS the agent may add over its own at rest during the flood: its tables are bounded (tracker 16,384
 * connections, pid cache, export queues of 16,384 spans per destination), this is their sum with room. */
const MAX_RSS_GROWTH_MIB = 300;

const FLOOD = String.raw`
import os, socket, sys, threading, time
port, seconds = int(sys.argv[1]), float(sys.argv[2])
end = time.time() + seconds
counts = {'processes': 0, 'connections': 0, 'answers': 0}
def processes():
    while time.time() < end:
        pid = os.posix_spawn('/bin/true', ['true'], {})
        os.waitpid(pid, 0)
        counts['processes'] += 1
def connections():
    while time.time() < end:
        s = socket.create_connection(('127.0.0.1', port))
        s.sendall(b'GET /flood HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
        counts['connections'] += 1
        data = b''
        while True:
            chunk = s.recv(4096)
            if not chunk: break
            data += chunk
        s.close()
        if data.startswith(b'HTTP/1.1 200'): counts['answers'] += 1
threads = [threading.Thread(target=processes)] + [threading.Thread(target=connections) for _ in range(2)]
for th in threads: th.start()
for th in threads: th.join()
print(counts['processes'], counts['connections'], counts['answers'])
`;

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? 0 : Number(m[1]) / 1024;
}

t.test('new processes and connections as fast as the machine makes them: bounded, counted, still tracing', async (t) => {
  const nginx = await startNginx({ locations: 'location = /flood { return 200 "f\\n"; }\nlocation = /after { return 200 "a\\n"; }' });
  t.teardown(() => nginx.stop());
  const dir = mkdtempSync(join(tmpdir(), 'lantern-flood-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const spansFile = join(dir, 'otlp.jsonl');
  const agent = startCli(['run', '--port', '0', '--collectors', 'sockets,process', '--otlp-file', spansFile, '--log-format', 'json']);
  t.teardown(() => {
    if (agent.child.exitCode === null) agent.child.kill('SIGKILL');
  });
  await agent.waitForStderr('"msg":"writing OTLP JSON lines"', 30_000);
  const agentPid = agent.child.pid!;
  await new Promise((r) => setTimeout(r, 1000));
  const atRest = rssMiB(agentPid);

  let peak = atRest;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(agentPid))), 250);
  const flood = spawn('python3', ['-c', FLOOD, String(nginx.port), String(FLOOD_SECONDS)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  flood.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const [code] = await once(flood, 'exit');
  t.equal(code, 0, 'the flood ran to its end');
  const [processes, connections, answers] = out.trim().split(' ').map(Number) as [number, number, number];
  t.ok(processes > 500 && connections > 500, `the flood made ${processes} processes and ${connections} connections in ${FLOOD_SECONDS} s`);
  t.equal(answers, connections, 'nginx answered every connection');

  // After the flood, an ordinary request is traced as usual.
  await new Promise((r) => setTimeout(r, 2000));
  const curl = spawn('curl', ['-s', '-o', '/dev/null', `http://127.0.0.1:${nginx.port}/after`]);
  const curlPid = curl.pid!;
  await once(curl, 'exit');
  await new Promise((r) => setTimeout(r, 2500));
  clearInterval(sampler);
  t.equal(agent.child.exitCode, null, 'the agent is still running');
  t.ok(peak - atRest < MAX_RSS_GROWTH_MIB, `agent RSS ${atRest.toFixed(0)} MiB at rest, peak ${peak.toFixed(0)} MiB during the flood (bound: +${MAX_RSS_GROWTH_MIB})`);

  agent.child.kill('SIGTERM');
  const end = await agent.done;
  t.equal(end.code, 0, 'a clean stop after the flood');
  const stopped = end.stderr.split('\n').find((l) => l.includes('"msg":"stopped"'));
  t.ok(stopped !== undefined, 'the agent logged its final summary');
  const summary = (JSON.parse(stopped!) as { summary: { records: Record<string, number>; pipeline: Record<string, number>; export: Record<string, number>; collectors: Record<string, Record<string, number>> } }).summary;
  const sockets = summary.collectors['sockets'] ?? {};
  const proc = summary.collectors['process'] ?? {};

  // What it could follow and what it could not, both said: every exec the flood made reached the
  // process collector's kernel counter, and each one became a record unless a loss counter says why.
  t.ok((proc['kernel_exec'] ?? 0) >= processes, `kernel saw ${proc['kernel_exec']} execs (the flood made ${processes})`);
  const execRecords = summary.records['process.exec'] ?? 0;
  const processLost = (proc['lost_ringbuf_full'] ?? 0) + (proc['lost_js_queue_full'] ?? 0);
  t.ok(execRecords + processLost >= processes, `${execRecords} exec records + ${processLost} counted losses cover the flood's ${processes} processes`);
  // Both ends of every flood connection are traced (nginx's and the flood's): opens reach the kernel
  // counter, each exchange is a span unless a counted loss explains it.
  t.ok((sockets['kernel_conn_opens'] ?? 0) >= 2 * connections, `kernel announced ${sockets['kernel_conn_opens']} connections (the flood opened ${connections}, both ends traced)`);
  t.ok((sockets['tracker_connections'] ?? 0) <= 16_384, `connections tracked at the end: ${sockets['tracker_connections']}, within the tracker's bound`);

  const lines = readFileSync(spansFile, 'utf8').split('\n').filter((l) => l.includes('"resourceSpans"'));
  let floodSpans = 0;
  let curlSpan = false;
  for (const line of lines) {
    for (const rs of (JSON.parse(line) as { resourceSpans: Array<{ resource: { attributes: Array<{ key: string; value: { intValue?: string } }> }; scopeSpans: Array<{ spans: Array<{ kind: number; attributes: Array<{ key: string; value: { stringValue?: string } }> }> }> }> }).resourceSpans) {
      const pid = Number(rs.resource.attributes.find((a) => a.key === 'process.pid')?.value.intValue ?? 0);
      for (const ss of rs.scopeSpans) {
        for (const s of ss.spans) {
          const path = s.attributes.find((a) => a.key === 'url.path')?.value.stringValue;
          if (path === '/flood' && s.kind === 2 && nginx.pids.includes(pid)) floodSpans++;
          if (path === '/after' && s.kind === 3 && pid === curlPid) curlSpan = true;
        }
      }
    }
  }
  t.ok(curlSpan, 'curl\'s request after the flood is a CLIENT span with curl\'s resource');
  // Spans may be shed when the agent falls behind (whole requests, counted); the duration metrics
  // count every exchange all the same: nginx's http.server.request.duration, in the last metrics
  // export, counts each flood request and the one after, less only exchanges the parser lost and
  // counted (parse errors, gaps).
  const shed = summary.pipeline['spans_shed'] ?? 0;
  t.ok(floodSpans <= connections && floodSpans + shed >= connections,
    `nginx SERVER spans for the flood: ${floodSpans} of ${connections}; spans shed and counted: ${shed}`);
  const serverCount = lastHistogramCount(spansFile, 'http.server.request.duration', (pid) => nginx.pids.includes(pid));
  const parserLosses = (sockets['tracker_http1_parseErrors'] ?? 0) + (sockets['tracker_gaps'] ?? 0);
  t.ok(serverCount <= connections + 1 && serverCount >= connections + 1 - parserLosses,
    `nginx's request duration histogram counts ${serverCount} requests: the flood's ${connections} and one more, less at most ${parserLosses} the parser lost and counted`);
});
