// Configuration: precedence flags > OTEL_* > YAML > defaults, and precise errors.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadConfig } from '../../src/config/load.js';
import { isLocalMode } from '../../src/config/schema.js';
import { parseKeyValueList } from '../../src/config/validate.js';
import { conventionOptions, redactionOf } from '../../src/agent/conventions.js';
import { redactArgs } from '../../src/metadata/command-line.js';
import type { HttpExchange } from '../../src/model/http.js';
import type { SpanRecord } from '../../src/model/span.js';
import { randomIds } from '../../src/semconv/ids.js';
import { createConventions } from '../../src/semconv/registry.js';
import { headerPairs } from '../../src/model/header-pairs.js';

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
  t.match(err.message, `${file}: server.host: listening on 0.0.0.0 needs server.tls (cert_file, key_file): the control API is served in the clear on loopback only`);
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
  t.match(err.message, `${bad}: spans.sample: unknown setting (known: max_per_second, max_cpu_percent, contended_cpu_percent)`);
  t.match(err.message, 'command line: --max-spans-per-second: expected a whole number');
});

t.test('CPU budget: file, flag, and precise errors', async (t) => {
  t.equal(loadConfig({}, {}).spans.maxCpuPercent, 0, 'no limit by default');
  const file = yamlFile('spans:\n  max_cpu_percent: 25\n');
  t.equal(loadConfig({ config: file }, {}).spans.maxCpuPercent, 25);
  t.equal(loadConfig({ config: file, maxCpuPercent: '12.5' }, {}).spans.maxCpuPercent, 12.5, 'the flag wins');
  const bad = yamlFile('spans:\n  max_cpu_percent: -1\n');
  const err = t.throws(() => loadConfig({ config: bad, maxCpuPercent: 'half' }, {})) as Error;
  t.match(err.message, `${bad}: spans.max_cpu_percent: expected a percentage of one core (0: no limit; 50: half a core), got -1`);
  t.match(err.message, 'command line: --max-cpu-percent: expected a percentage of one core');
});

t.test('contended CPU budget: 10 % of a core by default, file, flag, and precise errors', async (t) => {
  t.equal(loadConfig({}, {}).spans.contendedCpuPercent, 10, 'a tenth of a core once the host has none to spare');
  const file = yamlFile('spans:\n  contended_cpu_percent: 0\n');
  t.equal(loadConfig({ config: file }, {}).spans.contendedCpuPercent, 0, '0: no limit');
  t.equal(loadConfig({ config: file, contendedCpuPercent: '25' }, {}).spans.contendedCpuPercent, 25, 'the flag wins');
  const bad = yamlFile('spans:\n  contended_cpu_percent: lots\n');
  const err = t.throws(() => loadConfig({ config: bad, contendedCpuPercent: '-3' }, {})) as Error;
  t.match(err.message, `${bad}: spans.contended_cpu_percent: expected a percentage of one core (0: no limit; 50: half a core), got "lots"`);
  t.match(err.message, 'command line: --contended-cpu-percent: expected a percentage of one core');
});

t.test('nice: idle by default, file, flag, and precise errors', async (t) => {
  t.equal(loadConfig({}, {}).nice, 'idle', 'SCHED_IDLE while keeping up by default');
  const file = yamlFile('nice: 19\n');
  t.equal(loadConfig({ config: file }, {}).nice, 19);
  t.equal(loadConfig({ config: file, nice: '0' }, {}).nice, 0, 'the flag wins; 0 leaves the priority as started');
  const err = t.throws(() => loadConfig({ config: yamlFile('nice: -5\n'), nice: '20' }, {})) as Error;
  t.match(err.message, ': nice: expected a nice value from 0 (as started) to 19, or idle (SCHED_IDLE), got -5');
  t.match(err.message, 'command line: --nice: expected a nice value from 0 (as started) to 19, or idle (SCHED_IDLE), got "20"');
  t.equal(loadConfig({ config: yamlFile('nice: idle\n') }, {}).nice, 'idle', 'idle: SCHED_IDLE while keeping up');
  t.equal(loadConfig({ nice: 'idle' }, {}).nice, 'idle', 'the flag too');
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

t.test('http and redaction: defaults, the YAML, problems named; the agent\'s conventions follow them', async (t) => {
  const d = loadConfig({}, {});
  t.same(d.http, {
    captureRequestHeaders: [], captureResponseHeaders: [], trustForwardedFor: true, routes: [],
    urlTemplates: true, urlTemplateLimit: 200, urlTemplatePatterns: {}, routeHeuristic: false,
  });
  t.same(d.redaction, { queryParams: [], headers: [] });
  const file = yamlFile([
    'http:',
    '  capture_request_headers: [X-Request-Id, Authorization, x-tenant, x-request-id]',
    '  capture_response_headers: [content-type]',
    '  trust_forwarded_for: false',
    '  routes: ["/users/{id}", "/static/*"]',
    '  url_template_limit: 2',
    '  url_template_patterns: { sku: "SKU-[A-Z0-9]+" }',
    '  route_heuristic: true',
    'redaction:',
    '  query_params: [email]',
    '  headers: [X-Tenant]',
    '',
  ].join('\n'));
  const c = loadConfig({ config: file }, {});
  t.same(c.http, {
    captureRequestHeaders: ['x-request-id', 'authorization', 'x-tenant'], captureResponseHeaders: ['content-type'], trustForwardedFor: false,
    routes: ['/users/{id}', '/static/*'], urlTemplates: true, urlTemplateLimit: 2, urlTemplatePatterns: { sku: 'SKU-[A-Z0-9]+' }, routeHeuristic: true,
  });
  t.same(c.redaction, { queryParams: ['email'], headers: ['x-tenant'] });

  // What the agent builds from it: a server span with captured headers, the route, the configured redaction.
  const conventions = createConventions(conventionOptions(c));
  const ex: HttpExchange = {
    protocol: 'http1', ordinal: 0,
    connection: { pid: 1, fd: 3, generation: 1, role: 'server', family: 'ipv4', transport: 'tcp', local: { address: '10.0.0.1', port: 80 }, remote: { address: '10.0.0.9', port: 5000 } },
    request: {
      kind: 'request', method: 'GET', target: '/users/42?email=a%40b.c&token=t0k&tab=1', version: '1.1', bodySize: 0, bodyPrefix: new Uint8Array(), startNs: 1n, endNs: 2n,
      headers: headerPairs([['host', 'shop'], ['x-request-id', 'r-1'], ['authorization', 'Bearer b34r3r'], ['x-tenant', 'acme'], ['x-forwarded-for', '203.0.113.7']]),
    },
    response: {
      kind: 'response', statusCode: 200, reason: 'OK', version: '1.1', headers: headerPairs([['content-type', 'text/html']]), bodySize: 0, bodyPrefix: new Uint8Array(),
      startNs: 3n, endNs: 4n, interim: false, endedByClose: false,
    },
  };
  const span = conventions(ex).toSpan(ex, { key: 'r', attributes: {} }, randomIds);
  t.equal(span.name, 'GET /users/{id}');
  t.match(span.attributes, {
    'http.route': '/users/{id}', 'url.query': 'email=REDACTED&token=REDACTED&tab=1', 'client.address': '10.0.0.9',
    'http.request.header.x-request-id': ['r-1'], 'http.request.header.authorization': ['REDACTED'], 'http.request.header.x-tenant': ['REDACTED'],
    'http.response.header.content-type': ['text/html'],
  });
  t.equal(conventions(ex).toMetrics(ex, { key: 'r', attributes: {} })[0]?.attributes['http.route'], '/users/{id}');
  t.notOk('url.template' in span.attributes, 'a configured route needs no guess');
  // No route matches: the guessed template, the configured pattern first, the heuristic's http.route and name, the limit of 2.
  const guessed = (target: string): SpanRecord => conventions({ ...ex, request: { ...ex.request, target } }).toSpan({ ...ex, request: { ...ex.request, target } }, { key: 'r', attributes: {} }, randomIds);
  const sku = guessed('/items/SKU-9X2/reviews/77');
  t.equal(sku.attributes['url.template'], '/items/{sku}/reviews/{id}');
  t.equal(sku.attributes['http.route'], '/items/{sku}/reviews/{id}', 'route_heuristic: the guess is http.route too');
  t.equal(sku.name, 'GET /items/{sku}/reviews/{id}');
  t.equal(guessed('/orders/5').attributes['url.template'], '/orders/{id}');
  t.equal(guessed('/carts/5').attributes['url.template'], '/{other}', 'a third template is past the limit');
  t.equal(guessed('/orders/6').attributes['url.template'], '/orders/{id}', 'a template already held stays');
  t.equal(createConventions(conventionOptions(d))(ex).toSpan(ex, { key: 'r', attributes: {} }, randomIds).attributes['client.address'], '203.0.113.7',
    'by default the forwarded address');
  t.same(redactArgs(['curl', '-H', 'X-Tenant: acme', 'https://x/?email=a@b.c'], redactionOf(c)), ['curl', '-H', 'X-Tenant: REDACTED', 'https://x/?email=REDACTED'],
    'command lines too');

  const bad = yamlFile([
    'http:',
    '  capture_request_headers: [ok, "bad header", 7]',
    '  capture_response_headers: content-type',
    '  trust_forwarded_for: maybe',
    '  routes: [users, "/a/*/b", "/x/{id"]',
    '  route: /x',
    '  url_template_limit: 0',
    '  url_template_patterns: { "a b": x, sku: "(" }',
    '  route_heuristic: 1',
    'redaction:',
    '  query_params: ["a=b", ""]',
    '  headers: ["x:y"]',
    '  cookies: []',
    '',
  ].join('\n'));
  const err = t.throws(() => loadConfig({ config: bad }, {})) as Error;
  for (const m of [
    'http.capture_request_headers[1]: expected a header name', 'http.capture_request_headers[2]: expected a string, got 7',
    'http.capture_response_headers: expected a list', 'http.trust_forwarded_for: expected true or false, got "maybe"',
    'http.routes[0]: "users": a route starts with "/"', 'http.routes[1]: "/a/*/b": "*" matches the rest of the path', 'http.routes[2]: "/x/{id": "{id" is not a parameter',
    'http.route: unknown setting (known: capture_request_headers, capture_response_headers, trust_forwarded_for, routes, url_templates, url_template_limit, url_template_patterns, route_heuristic)',
    'http.url_template_limit: expected a whole number from 1 to 100000, got 0', 'http.url_template_patterns.a b: "a b": a placeholder name is letters',
    'http.url_template_patterns.sku: not a regular expression', 'http.route_heuristic: expected true or false, got 1',
    'redaction.query_params[0]: expected a query parameter name', 'redaction.query_params[1]: expected a query parameter name',
    'redaction.headers[0]: expected a header name', 'redaction.cookies: unknown setting (known: query_params, headers)',
  ]) t.match(err.message, `${bad}: ${m}`);
});

t.test('server.token_file: /run/lantern/token by default, an absolute path when set', async (t) => {
  t.equal(loadConfig({}, {}).server.tokenFile, '/run/lantern/token');
  t.equal(loadConfig({ config: yamlFile('server:\n  token_file: /var/lib/lantern/token\n') }, {}).server.tokenFile, '/var/lib/lantern/token');
  for (const v of ['token', '""', '/run/lantern/', '7']) {
    const file = yamlFile(`server:\n  token_file: ${v}\n`);
    t.throws(() => loadConfig({ config: file }, {}), { message: new RegExp(`server\\.token_file: expected an absolute file path such as /run/lantern/token`) }, v);
  }
});
