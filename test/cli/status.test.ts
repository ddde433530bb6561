// `lantern status` (the CLI as a child process) against a real agent started here: the figures
// printed for people and as JSON agree with the agent's summary(); a wrong or missing token, no
// agent, something else at the address and bad options each fail with their own message.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { AgentSummary } from '../../src/agent/agent.js';
import { startTestAgent } from '../helpers/agent.js';
import { repoRoot, runCli } from '../helpers/cli.js';
import { run, startPrintingPort } from '../helpers/spawn.js';
import { freePorts } from '../helpers/tool-process.js';

const TOKEN = 'status-test-token-0123456789';
// An empty $LANTERN_TOKEN counts as none: the test's own environment must not give one.
const NO_TOKEN_ENV = { LANTERN_TOKEN: '' };

t.test('lantern status against a running agent', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-status-'));
  const configFile = join(dir, 'lantern.yaml');
  writeFileSync(configFile, `server:\n  token: ${TOKEN}\n`);
  const backend = await startPrintingPort(process.execPath, [join(repoRoot, 'test/fixtures/http-backend.mjs')]);
  t.teardown(() => backend.stop());
  const agent = await startTestAgent({ pids: [backend.child.pid!], collectors: 'sockets,process', otlpFile: join(dir, 'otlp.jsonl'), configFile });
  t.teardown(() => agent.stop());
  const url = agent.agent.controlUrl;
  if (url === null) throw new Error(`the control API did not start: ${agent.log.join('')}`);
  for (let i = 0; i < 3; i++) await run('curl', ['-s', `http://127.0.0.1:${backend.port}/hello`]);
  await agent.waitForSpans((s) => s.kind === 'server', 3);

  t.test('for people: headline, collectors, records, spans, export queues', async (t) => {
    const r = await runCli(['status', '--url', url, '--token', TOKEN], { env: NO_TOKEN_ENV });
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stderr, '');
    const summary = agent.agent.summary();
    const lines = r.stdout.split('\n');
    t.match(lines[0], new RegExp(`^Lantern agent at ${url}, up \\d+s, CPU \\d+\\.\\d\\d s \\(\\d+\\.\\d% of a core on average\\), RSS \\d+\\.\\d MiB, \\d+ open fds$`));
    t.match(r.stdout, /\ncollector +events in +bytes in +lost +errors +BPF attached\n/);
    const row = (name: string): string[] => lines.find((l) => l.startsWith(`${name} `))?.trim().split(/\s{2,}/) ?? [];
    const sockets = summary.collectors.sockets!;
    t.equal(row('sockets')[5], String(sockets.bpf_attachments), 'sockets: BPF programs attached, as in summary()');
    t.ok(Number(row('sockets')[1]) >= 6, `sockets: events in (${row('sockets')[1]})`);
    t.match(row('sockets')[2], /^\d+(\.\d)? (B|KiB)$/, 'sockets: bytes in');
    t.same(row('process').slice(2), ['-', '0', '0', String(summary.collectors.process!.bpf_attachments)], 'process: no bytes, nothing lost');
    t.match(r.stdout, /\nrecords: .*exchange\.http1 \d+/);
    t.match(r.stdout, /\nspans: \d+ out, 0 shed \(100% exported\), \d+ held for linking, 0 build failures\n/);
    t.match(r.stdout, /\nexport to +accepted +exported +queued +dropped +retries\n/);
    t.match(row('file.traces'), [/^file\.traces$/, /^\d+$/, /^\d+$/, /^\d+$/, '0', '-']);
  });

  t.test('--json: the figures as the API serves them, token from $LANTERN_TOKEN', async (t) => {
    const r = await runCli(['status', '--url', url, '--json'], { env: { LANTERN_TOKEN: TOKEN } });
    t.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout) as AgentSummary;
    t.same(Object.keys(s).sort(), ['collectors', 'export', 'pipeline', 'process', 'records']);
    const now = agent.agent.summary();
    t.equal(s.process.start_time_seconds, now.process.start_time_seconds);
    t.equal(s.collectors.process?.bpf_attachments, now.collectors.process?.bpf_attachments);
    t.ok((s.records['exchange.http1'] ?? 0) >= 6, 'the exchanges of the traffic');
    t.ok((s.process.resident_memory_bytes ?? 0) > 0 && (s.process.cpu_seconds ?? 0) > 0);
  });

  t.test('a wrong token, or none', async (t) => {
    const wrong = await runCli(['status', '--url', url, '--token', 'not-the-token'], { env: NO_TOKEN_ENV });
    t.equal(wrong.code, 1);
    t.equal(wrong.stdout, '');
    t.match(wrong.stderr, `lantern status: the agent at ${url} refused the token: give the one in its token file (--token-file, default /run/lantern/token) or its server.token with --token or $LANTERN_TOKEN [LANTERN_ERR_TOKEN]`);
    // No token file either (the host's /run/lantern/token may be another agent's).
    const noFile = join(dir, 'no-such-token');
    const none = await runCli(['status', '--url', url, '--token-file', noFile], { env: NO_TOKEN_ENV });
    t.equal(none.code, 1);
    t.match(none.stderr, `the agent at ${url} wants its bearer token: no token file at ${noFile} (the agent's server.token_file: --token-file); or give it with --token or $LANTERN_TOKEN`);
    const unreadable = await runCli(['status', '--url', url, '--token-file', dir], { env: NO_TOKEN_ENV });
    t.equal(unreadable.code, 1);
    t.match(unreadable.stderr, `cannot read the agent's token file ${dir}: EISDIR`);
  });

  t.test('the token from the file the agent wrote (as root reads it), never from its log', async (t) => {
    if (agent.tokenFile === undefined) throw new Error('the test agent writes a token file');
    t.notOk(agent.log.join('').includes(TOKEN), 'the agent did not log its token');
    const r = await runCli(['status', '--url', url, '--token-file', agent.tokenFile, '--json'], { env: NO_TOKEN_ENV });
    t.equal(r.code, 0, r.stderr);
    t.ok((JSON.parse(r.stdout) as AgentSummary).collectors.sockets !== undefined);
  });

  t.test('something else at the address', async (t) => {
    // The test backend answers "ok" to every path.
    const r = await runCli(['status', '--url', `http://127.0.0.1:${backend.port}`, '--token', TOKEN], { env: NO_TOKEN_ENV });
    t.equal(r.code, 1);
    t.match(r.stderr, `http://127.0.0.1:${backend.port}/api/stats answered 200 with ok\n: is that a Lantern agent's control API? [LANTERN_ERR_NO_AGENT]`);
  });
});

t.test('no agent answers', async (t) => {
  const [port] = await freePorts(1);
  const r = await runCli(['status', '--url', `http://127.0.0.1:${port}`, '--token', TOKEN]);
  t.equal(r.code, 1);
  t.equal(r.stdout, '');
  t.match(r.stderr, `lantern status: no agent answers at http://127.0.0.1:${port} (ECONNREFUSED): is \`lantern run\` running there? Point --url at its control API [LANTERN_ERR_NO_AGENT]`);
});

t.test('usage errors', async (t) => {
  const url = await runCli(['status', '--url', 'localhost:4590']);
  t.equal(url.code, 2);
  t.match(url.stderr, '--url localhost:4590: expected an http:// address (e.g. http://127.0.0.1:4590) [LANTERN_ERR_USAGE]');
  const bogus = await runCli(['status', '--bogus']);
  t.equal(bogus.code, 2);
  t.match(bogus.stderr, /Unknown option '--bogus'/);
});
