// End to end: function probes from the probes directory (NAME.yaml, the ConfigMap shape) and from
// the control API, on a Go program started afterwards; each call leaves as a lantern.function.call
// log record over OTLP/gRPC to a real OpenTelemetry Collector, typed. Probes come and go: removed
// by the API, by their time to live, by deleting their file. The agent traces this test's
// descendants only.
import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parse as parseYaml } from 'yaml';
import { parseProbeSpec } from '../../src/collectors/dynlog/spec.js';
import { startTestAgent } from '../helpers/agent.js';
import { type ReceivedLog, startOtelcol } from '../helpers/otelcol.js';
import { startTarget, targetBinary } from '../collectors/dynlog/target.js';

t.test('the function probes of deploy/probes-configmap.yaml are valid', async (t) => {
  const data = (parseYaml(readFileSync('deploy/probes-configmap.yaml', 'utf8')) as { data: Record<string, string> }).data;
  const probes = Object.entries(data).filter(([file]) => file.endsWith('.yaml'));
  t.ok(probes.length > 0, 'the ConfigMap has function probes');
  for (const [file, text] of probes) t.match(parseProbeSpec(file.replace(/\.yaml$/, ''), parseYaml(text)), { function: /^main\./ }, file);
});

t.test('function probes from a file and the API, calls at the Collector', async (t) => {
  const binary = targetBinary();
  const collector = await startOtelcol();
  t.teardown(() => collector.stop());
  const dir = mkdtempSync(join(tmpdir(), 'lantern-fprobes-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'greet.yaml'), `function: main.Greet\nbinary: ${binary}\nreturns: true\nargs: [name]\n`);
  writeFileSync(join(dir, 'broken.yaml'), 'function: main.Nope\nbinary: /bin/true\n');
  const configFile = join(dir, 'lantern.yml');
  writeFileSync(configFile, `probes_dir: ${dir}\n`);
  const agent = await startTestAgent({ collectors: 'dynlog', configFile, env: { OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: collector.grpcEndpoint } });
  t.teardown(() => agent.stop());
  const dynlog = agent.agent.dynlog!;
  t.same(dynlog.list().map((p) => p.name), ['greet'], 'the file\'s probe runs');
  t.match(agent.log.join('\n'), /function probe from the probes directory not started.*broken.*not a Go program/, 'a refused file is reported, the others run');

  const api = /local view and control API.*url=(\S+).*token_file=(\S+)/.exec(agent.log.join('\n'));
  t.ok(api, 'the control API is up');
  // The token is in the file the log names (as `lantern status` reads it), never in the log.
  const [url, token] = [api?.[1] as string, readFileSync(api?.[2] as string, 'utf8').trim()];
  t.equal(token, agent.agent.controlToken);
  t.notOk(agent.log.join('\n').includes(token), 'the token is not logged');
  const post = (body: unknown, auth = true): Promise<Response> => fetch(`${url}/api/dynlog/probes`, {
    method: 'POST', headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body),
  });
  t.equal((await post({ function: 'main.Add', binary, returns: true }, false)).status, 401, 'no token, no probe');
  const added = await post({ name: 'add', function: 'main.Add', binary, returns: true });
  t.equal(added.status, 201, await added.clone().text());
  const missing = await post({ function: 'main.Lgin', binary });
  t.equal(missing.status, 422);
  t.match(((await missing.json()) as { error: string }).error, /main\.Lgin is not a function.*did you mean main\.\(\*Server\)\.Login/);
  t.equal((await post({ name: 'sum', function: 'main.Sum', binary, returns: true, ttlSeconds: 1 })).status, 201);

  const target = await startTarget(binary);
  t.teardown(() => target.stop());
  for (const s of ['ints', 'string', 'slice']) await target.run(s);
  const ofFn = (fn: string) => (l: ReceivedLog): boolean => JSON.stringify(l.attributes['code.function.name']) === JSON.stringify({ stringValue: fn });
  const [add] = await collector.waitForLogs(ofFn('main.Add'), 1, 15_000);
  t.equal(add?.record.eventName, 'lantern.function.call');
  t.same([add?.attributes['lantern.arg.a'], add?.attributes['lantern.arg.b'], add?.attributes['lantern.return.0']],
    [{ intValue: '2' }, { intValue: '40' }, { intValue: '42' }], 'ints arrive as ints');
  t.same(add?.resource['process.pid'], { intValue: String(target.pid) });
  const greets = await collector.waitForLogs(ofFn('main.Greet'), 2, 15_000);
  t.same(greets.map((g) => g.attributes['lantern.return.0']), [{ stringValue: 'hello gopher' }, { stringValue: 'HELLO GOPHER' }]);
  t.notOk('lantern.arg.loud' in (greets[0]?.attributes ?? {}), 'only the expressions asked for');
  const [sum] = await collector.waitForLogs(ofFn('main.Sum'), 1, 15_000);
  t.same(sum?.attributes['lantern.arg.xs'], { arrayValue: { values: [{ intValue: '1' }, { intValue: '2' }, { intValue: '3' }, { intValue: '4' }] } }, 'a slice of ints as an array of ints');

  // Probes go: by the API, by their time to live, by their file.
  t.equal((await fetch(`${url}/api/dynlog/probes/add`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } })).status, 200);
  await new Promise((r) => setTimeout(r, 1200));
  t.notOk(dynlog.list().some((p) => p.name === 'sum'), 'the TTL removed sum');
  unlinkSync(join(dir, 'greet.yaml'));
  const end = Date.now() + 10_000;
  while (dynlog.list().length > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  t.same(dynlog.list(), [], 'removing the file removed its probe');
  const before = dynlog.stats().calls;
  for (const s of ['ints', 'string', 'slice']) await target.run(s);
  await new Promise((r) => setTimeout(r, 500));
  t.equal(dynlog.stats().calls, before, 'no calls logged once every probe is gone');
});
