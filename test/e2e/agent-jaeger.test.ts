// End to end: `lantern run` (the real CLI) traces nginx and curl and exports the spans over OTLP
// gRPC to a real Jaeger; asserted through Jaeger's query API.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startCli } from '../helpers/cli.js';
import { startJaeger } from '../helpers/jaeger.js';
import { startNginx } from '../helpers/nginx.js';

t.test('nginx and curl spans reach Jaeger with their attributes, services and parentage', async (t) => {
  const jaeger = await startJaeger();
  t.teardown(() => jaeger.stop());
  const nginx = await startNginx();
  t.teardown(() => nginx.stop());
  // A shell that will run curl when told: its pid is given to the agent, curl is its descendant.
  const shell = spawn('bash', ['-c', 'read line; eval "$line"'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const file = join(mkdtempSync(join(tmpdir(), 'lantern-e2e-')), 'otlp.jsonl');
  const agent = startCli(['run', '--pid', String(shell.pid), ...nginx.pids.flatMap((p) => ['--pid', String(p)]),
    '--otlp-endpoint', jaeger.otlpGrpcEndpoint, '--otlp-file', file, '--port', '0'],
  { env: { OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=e2e' } });
  t.teardown(() => agent.child.kill('SIGKILL'));
  await agent.waitForStderr('exporting over OTLP');
  const url = `http://127.0.0.1:${nginx.port}`;
  shell.stdin.end(`curl -s -o /dev/null -o /dev/null -H 'Authorization: Bearer e2e-secret' '${url}/index.html?q=1' '${url}/nope'\n`);
  await once(shell, 'exit');
  await new Promise((r) => setTimeout(r, 1000)); // linker window and batch delay
  agent.child.kill('SIGTERM');
  const result = await agent.done;
  t.equal(result.code, 0, result.stderr);

  const traces = await jaeger.waitForTraces('nginx', (ts) => ts.flatMap((x) => x.spans).filter((s) => s.process.serviceName === 'nginx').length >= 2, 15_000);
  const spans = traces.flatMap((x) => x.spans);
  const server = spans.filter((s) => s.process.serviceName === 'nginx');
  const index = server.find((s) => s.tags['url.path'] === '/index.html');
  const nope = server.find((s) => s.tags['url.path'] === '/nope');
  t.equal(index?.operationName, 'GET');
  t.equal(index?.tags['span.kind'], 'server');
  t.equal(index?.tags['http.response.status_code'], 200);
  t.equal(index?.tags['url.query'], 'q=1');
  t.equal(index?.tags['server.port'], nginx.port);
  t.equal(nope?.tags['http.response.status_code'], 404);
  t.equal(index?.process.tags['process.executable.name'], 'nginx');
  t.equal(index?.process.tags['deployment.environment'], 'e2e', 'OTEL_RESOURCE_ATTRIBUTES on every resource');
  t.ok(index?.process.tags['host.name'], 'host.name');
  t.ok(nginx.pids.includes(Number(index?.process.tags['process.pid'])), 'process.pid is an nginx pid');
  const curl = spans.filter((s) => s.process.serviceName === 'curl');
  t.equal(curl.length, 2, 'the curl client spans are in the same traces');
  const curlIndex = curl.find((s) => s.tags['url.path'] === '/index.html');
  t.equal(curlIndex?.tags['span.kind'], 'client');
  t.equal(curlIndex?.tags['url.full'], `${url}/index.html?q=1`);
  t.same(index?.references.map((r) => [r.refType, r.spanID]), [['CHILD_OF', curlIndex?.spanID]], 'nginx span is the child of the curl span');
  t.equal((await jaeger.services()).includes('curl'), true);
  const everything = JSON.stringify(spans) + readFileSync(file, 'utf8');
  t.notMatch(everything, /e2e-secret/, 'the Authorization header never left the host');
  t.match(readFileSync(file, 'utf8'), /"resourceSpans"/, '--otlp-file has the same spans as OTLP JSON');
});

t.test('tracing every process: the receiver\'s side of the agent\'s own exports is not traced', async (t) => {
  const jaeger = await startJaeger();
  t.teardown(() => jaeger.stop());
  const nginx = await startNginx();
  t.teardown(() => nginx.stop());
  const file = join(mkdtempSync(join(tmpdir(), 'lantern-e2e-')), 'otlp.jsonl');
  // No --pid: every process, Jaeger's gRPC server included.
  const agent = startCli(['run', '--otlp-endpoint', jaeger.otlpGrpcEndpoint, '--otlp-file', file, '--port', '0']);
  t.teardown(() => agent.child.kill('SIGKILL'));
  await agent.waitForStderr('exporting over OTLP');
  const url = `http://127.0.0.1:${nginx.port}/index.html?selfcheck=1`;
  // Several export rounds (the span batch delay is one second) while traffic is traced.
  for (let i = 0; i < 4; i++) {
    const curl = spawn('curl', ['-s', '-o', '/dev/null', url, url], { stdio: 'ignore' });
    await once(curl, 'exit');
    await new Promise((r) => setTimeout(r, 1200));
  }
  agent.child.kill('SIGTERM');
  const result = await agent.done;
  t.equal(result.code, 0, result.stderr);
  const services = new Map<string, number>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.includes('"resourceSpans"')) continue;
    const req = JSON.parse(line) as { resourceSpans: Array<{ resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> }; scopeSpans: Array<{ spans: unknown[] }> }> };
    for (const rs of req.resourceSpans) {
      const name = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
      services.set(name, (services.get(name) ?? 0) + rs.scopeSpans.reduce((n, s) => n + s.spans.length, 0));
    }
  }
  t.ok((services.get('nginx') ?? 0) >= 8, `nginx server spans exported (${JSON.stringify([...services])})`);
  t.ok((await jaeger.services()).includes('nginx'), 'and received by Jaeger');
  const receiver = [...services.keys()].filter((s) => s.startsWith('jaeger'));
  t.same(receiver, [], 'no span of the receiver serving the agent\'s exports');
});
