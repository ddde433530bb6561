// Configuration: precedence flags > OTEL_* > YAML > defaults, and precise errors.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadConfig } from '../../src/config/load.js';
import { isLocalMode } from '../../src/config/schema.js';
import { parseKeyValueList } from '../../src/config/validate.js';

const dir = mkdtempSync(join(tmpdir(), 'lantern-config-'));
function yamlFile(text: string): string {
  const p = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(p, text);
  return p;
}

t.test('defaults: local mode, sockets and process collectors, loopback control API', async (t) => {
  const c = loadConfig({}, {});
  t.ok(isLocalMode(c));
  t.same(c.collectors, ['sockets', 'tls', 'process', 'bpftrace', 'dynlog']);
  t.same(c.pids, []);
  t.equal(c.server.host, '127.0.0.1');
  t.equal(c.otlp.traces.protocol, 'grpc');
});

t.test('OTEL_* variables are honoured', async (t) => {
  const c = loadConfig({}, {
    OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4317',
    OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://collector:4318/v1/metrics',
    OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20abc,x-tenant=t1',
    OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x-tenant=t2',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    OTEL_EXPORTER_OTLP_TIMEOUT: '5000',
    OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod,k8s.cluster.name=c1',
    OTEL_SERVICE_NAME: 'lantern-node-1',
  });
  t.notOk(isLocalMode(c));
  t.equal(c.otlp.endpoint, 'http://collector:4317');
  t.equal(c.otlp.metrics.endpoint, 'http://collector:4318/v1/metrics');
  t.same(c.otlp.logs.headers, { authorization: 'Bearer abc', 'x-tenant': 't1' });
  t.same(c.otlp.traces.headers, { authorization: 'Bearer abc', 'x-tenant': 't2' }, 'per-signal headers override');
  t.equal(c.otlp.traces.protocol, 'http/protobuf');
  t.equal(c.otlp.timeoutMs, 5000);
  t.same(c.resourceAttributes, { 'deployment.environment': 'prod', 'k8s.cluster.name': 'c1' });
  t.equal(c.serviceName, 'lantern-node-1');
});

t.test('OTEL_EXPORTER_OTLP_LOGS_* variables: endpoint, protocol and headers of logs alone', async (t) => {
  const logs = { OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: 'http://collector:4318/v1/logs', OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_LOGS_HEADERS: 'x-tenant=logs' };
  const c = loadConfig({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4317', ...logs });
  t.equal(c.otlp.logs.endpoint, 'http://collector:4318/v1/logs');
  t.equal(c.otlp.logs.protocol, 'http/json');
  t.same(c.otlp.logs.headers, { 'x-tenant': 'logs' });
  t.equal(c.otlp.traces.protocol, 'grpc', 'the other signals keep theirs');
  t.same(c.otlp.traces.headers, {});
  t.notOk(isLocalMode(loadConfig({}, { OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: 'http://collector:4317' })), 'a logs endpoint alone is not local mode');
  t.throws(() => loadConfig({}, { OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: 'udp' }), /OTEL_EXPORTER_OTLP_LOGS_PROTOCOL/);
});

t.test('precedence: flags over environment over file', async (t) => {
  const file = yamlFile('otlp:\n  endpoint: http://from-file:4317\n  file: /tmp/x.jsonl\npids: [10, 11]\nduration: 5\n');
  const fromFile = loadConfig({ config: file }, {});
  t.equal(fromFile.otlp.endpoint, 'http://from-file:4317');
  t.same(fromFile.pids, [10, 11]);
  t.equal(fromFile.durationSeconds, 5);
  const fromEnv = loadConfig({ config: file }, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://from-env:4317' });
  t.equal(fromEnv.otlp.endpoint, 'http://from-env:4317');
  const fromFlag = loadConfig({ config: file, otlpEndpoint: 'http://from-flag:4317', pids: ['7', '7', '8'], duration: '0.5' },
    { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://from-env:4317' });
  t.equal(fromFlag.otlp.endpoint, 'http://from-flag:4317');
  t.same(fromFlag.pids, [7, 8], 'duplicates collapse');
  t.equal(fromFlag.durationSeconds, 0.5);
  t.equal(fromFlag.otlp.file, '/tmp/x.jsonl', 'unset flags keep file values');
  t.equal(loadConfig({}, { LANTERN_CONFIG: file }).otlp.endpoint, 'http://from-file:4317', 'LANTERN_CONFIG names the file');
});

t.test('every problem is reported at once, with its source and setting', async (t) => {
  const file = yamlFile('pids: 12\ncolectors: [process]\notlp:\n  endpoint: ftp://x\n  protocol: carrier-pigeon\nserver:\n  host: 0.0.0.0\n');
  const err = t.throws(() => loadConfig({ config: file, duration: 'soon', collectors: 'process,gpu' }, { OTEL_EXPORTER_OTLP_TIMEOUT: '-3' })) as Error & { code: string };
  t.equal(err.code, 'LANTERN_ERR_CONFIG');
  t.match(err.message, `${file}: pids: expected a list, got 12`);
  t.match(err.message, `${file}: colectors: unknown setting`);
  t.match(err.message, `${file}: otlp.endpoint: expected an http:// or https:// URL such as http://localhost:4317, got "ftp://x"`);
  t.match(err.message, `${file}: otlp.protocol: expected one of grpc, http/protobuf, http/json, got "carrier-pigeon"`);
  t.match(err.message, `${file}: server.host: the control API listens on loopback only`);
  t.match(err.message, 'environment: OTEL_EXPORTER_OTLP_TIMEOUT: expected a whole number');
  t.match(err.message, 'command line: --duration: expected a positive number, got "soon"');
  t.match(err.message, 'command line: --collectors: unknown collector "gpu"');
});

t.test('unreadable and malformed files', async (t) => {
  t.throws(() => loadConfig({ config: join(dir, 'missing.yaml') }, {}), { code: 'LANTERN_ERR_CONFIG_FILE', message: /cannot read configuration file/ });
  t.throws(() => loadConfig({ config: yamlFile('a: [1,\n') }, {}), { code: 'LANTERN_ERR_CONFIG_FILE', message: /not valid YAML/ });
  t.throws(() => loadConfig({ config: yamlFile('- 1\n- 2\n') }, {}), { code: 'LANTERN_ERR_CONFIG', message: /expected a mapping of settings, got a list/ });
  t.same(loadConfig({ config: yamlFile('') }, {}).collectors, ['sockets', 'tls', 'process', 'bpftrace', 'dynlog'], 'an empty file is fine');
});

t.test('key=value lists', async (t) => {
  t.same(parseKeyValueList('a=1, b = two%2Cthree ,'), { a: '1', b: 'two,three' });
  t.match(parseKeyValueList('novalue'), /expected key=value pairs/);
  t.match(parseKeyValueList('a=%zz'), /not valid percent-encoding/);
});

t.test('span budget: file, flag, and precise errors', async (t) => {
  t.equal(loadConfig({}, {}).spans.maxPerSecond, 0, 'no limit by default');
  const file = yamlFile('spans:\n  max_per_second: 5000\n');
  t.equal(loadConfig({ config: file }, {}).spans.maxPerSecond, 5000);
  t.equal(loadConfig({ config: file, maxSpansPerSecond: '100' }, {}).spans.maxPerSecond, 100, 'the flag wins');
  const bad = yamlFile('spans:\n  max_per_second: -1\n  sample: 2\n');
  const err = t.throws(() => loadConfig({ config: bad, maxSpansPerSecond: 'lots' }, {})) as Error;
  t.match(err.message, `${bad}: spans.max_per_second: expected a whole number of spans per second (0: no limit), got -1`);
  t.match(err.message, `${bad}: spans.sample: unknown setting (known: max_per_second)`);
  t.match(err.message, 'command line: --max-spans-per-second: expected a whole number');
});

t.test('bpftrace and the probes directory: defaults, the YAML, --probes-dir over the file, problems named', async (t) => {
  const d = loadConfig({}, {});
  t.same(d.bpftrace, { binary: 'bpftrace', maxScripts: 16, maxLinesPerSecond: 1000, maxLineBytes: 4096, runawaySeconds: 10 });
  t.equal(d.probesDir, undefined);
  const file = yamlFile('probes_dir: /etc/lantern/probes.d\nbpftrace:\n  binary: /usr/local/bin/bpftrace\n  max_scripts: 4\n  max_lines_per_second: 50\n  max_line_bytes: 512\n  runaway_seconds: 3\n');
  const c = loadConfig({ config: file }, {});
  t.same(c.bpftrace, { binary: '/usr/local/bin/bpftrace', maxScripts: 4, maxLinesPerSecond: 50, maxLineBytes: 512, runawaySeconds: 3 });
  t.equal(c.probesDir, '/etc/lantern/probes.d');
  t.equal(loadConfig({ config: file, probesDir: '/tmp/p' }, {}).probesDir, '/tmp/p', 'the flag wins');
  const bad = yamlFile('probes_dir: ""\nbpftrace:\n  max_scripts: 0\n  scripts: []\n');
  const err = t.throws(() => loadConfig({ config: bad }, {})) as Error;
  t.match(err.message, `${bad}: bpftrace.max_scripts:`);
  t.match(err.message, `${bad}: probes_dir: expected a directory path`);
  t.match(err.message, `${bad}: bpftrace.scripts: unknown setting`);
});
