// The `profiler:` section of the configuration file: defaults, every setting, every mistake named.
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadConfig } from '../../src/config/load.js';

const dir = mkdtempSync(join(tmpdir(), 'lantern-profiler-config-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

t.test('defaults', async (t) => {
  t.same(loadConfig({}, {}).profiler, {
    frequencyHz: 99, intervalSeconds: 10, stackMapEntries: 16384, maxSamples: 20000, includeIdle: false,
    otlp: { enabled: false, protocol: 'grpc' },
    offCpu: { enabled: false, minBlockMs: 1, sampleEvery: 1 }, unwind: 'auto', unwindTableRows: 1 << 20,
  });
});

t.test('OTLP profiles: the file section, the OTEL_* variables, the endpoint they resolve to', async (t) => {
  const { resolveProfileExport } = await import('../../src/export/otlp-endpoints.js');
  const c = loadConfig({ config: file('otlp.yaml', 'profiler:\n  otlp:\n    enabled: true\n    protocol: http/protobuf\n') },
    { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_EXPORTER_OTLP_HEADERS: 'x-team=a' });
  t.same(c.profiler.otlp, { enabled: true, protocol: 'http/protobuf' });
  t.same(resolveProfileExport(c.profiler.otlp, c.otlp), { url: 'http://collector:4318/v1development/profiles', protocol: 'http/protobuf',
    headers: { 'x-team': 'a' }, timeoutMs: c.otlp.timeoutMs, warnings: [] }, 'the base endpoint + v1development/profiles');
  const env = loadConfig({}, { OTEL_EXPORTER_OTLP_PROFILES_ENDPOINT: 'http://collector:4317' });
  t.same(env.profiler.otlp, { enabled: true, endpoint: 'http://collector:4317', protocol: 'grpc' }, 'the endpoint variable turns them on');
  t.equal(resolveProfileExport(env.profiler.otlp, env.otlp)?.url, 'http://collector:4317');
  t.equal(resolveProfileExport(loadConfig({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317' }).profiler.otlp, env.otlp), null, 'off by default');
  const err = t.throws(() => loadConfig({ config: file('otlp-bad.yaml', 'profiler:\n  otlp:\n    enabled: 1\n    protocol: http/json\n    endpoint: nope\n    url: x\n') }, {})) as Error;
  for (const m of [/profiler\.otlp\.enabled: expected true or false/, /profiler\.otlp\.protocol: expected grpc or http\/protobuf/,
    /profiler\.otlp\.endpoint/, /profiler\.otlp\.url: unknown setting/]) t.match(err.message, m);
});

t.test('every setting', async (t) => {
  const c = loadConfig({ config: file('all.yaml', `
profiler:
  frequency: 49
  interval: 2.5
  stack_map_entries: 65536
  max_samples: 5000
  include_idle: true
  output_dir: /var/lib/lantern/profiles
  pyroscope:
    url: https://pyroscope.example:4040/
    username: lantern
    password: pw
    tenant_id: team-a
    timeout: 3000
  off_cpu:
    enabled: true
    min_block: 0.5
    sample_every: 4
  unwind: auto
  unwind_table_rows: 262144
`) }, {});
  t.same(c.profiler, {
    frequencyHz: 49, intervalSeconds: 2.5, stackMapEntries: 65536, maxSamples: 5000, includeIdle: true,
    otlp: { enabled: false, protocol: 'grpc' },
    offCpu: { enabled: true, minBlockMs: 0.5, sampleEvery: 4 }, unwind: 'auto', unwindTableRows: 262144,
    outputDir: '/var/lib/lantern/profiles',
    pyroscope: { url: 'https://pyroscope.example:4040/', basicAuth: { username: 'lantern', password: 'pw' }, tenantId: 'team-a', timeoutMs: 3000 },
  });
  const bearer = loadConfig({ config: file('bearer.yaml', 'profiler:\n  pyroscope:\n    url: http://p:4040\n    bearer_token: tok\n') }, {});
  t.same(bearer.profiler.pyroscope, { url: 'http://p:4040', bearerToken: 'tok', timeoutMs: 10000 });
});

t.test('mistakes are all reported, each with its setting', async (t) => {
  const err = t.throws(() => loadConfig({ config: file('bad.yaml', `
profiler:
  frequency: 0
  interval: 0.1
  stack_map_entries: 100
  max_samples: lots
  include_idle: "yes"
  output_dir: ""
  sampling: 1
  pyroscope:
    url: pyroscope:4040
  off_cpu:
    enabled: 1
    min_block: -1
    sample_every: 0.5
    min_time: 3
  unwind: dwarf
  unwind_table_rows: 10
`) }, {})) as Error;
  for (const m of [
    /profiler\.frequency: expected a whole number from 1 to 10000, got 0/,
    /profiler\.interval: expected at least 0.5 seconds, got 0.1/,
    /profiler\.stack_map_entries: expected at least 1024, got 100/,
    /profiler\.max_samples: expected a whole number/,
    /profiler\.include_idle: expected true or false/,
    /profiler\.output_dir: expected a directory path/,
    /profiler\.sampling: unknown setting/,
    /profiler\.pyroscope\.url: expected an http:\/\/ or https:\/\/ URL/,
    /profiler\.off_cpu\.enabled: expected true or false, got 1/,
    /profiler\.off_cpu\.min_block: expected milliseconds from 0 to 60000, got -1/,
    /profiler\.off_cpu\.sample_every: expected a whole number from 1 to 1000000, got 0.5/,
    /profiler\.off_cpu\.min_time: unknown setting \(known: enabled, min_block, sample_every\)/,
    /profiler\.unwind: expected one of frame_pointers, auto, cfi, got "dwarf"/,
    /profiler\.unwind_table_rows: expected at least 1024, got 10/,
  ]) t.match(err.message, m);
  const notMapping = t.throws(() => loadConfig({ config: file('offcpu.yaml', 'profiler:\n  off_cpu: true\n') }, {})) as Error;
  t.match(notMapping.message, /profiler\.off_cpu: expected a mapping, got true/);
  const zero = loadConfig({ config: file('zero.yaml', 'profiler:\n  off_cpu:\n    enabled: true\n    min_block: 0\n') }, {});
  t.same(zero.profiler.offCpu, { enabled: true, minBlockMs: 0, sampleEvery: 1 }, 'min_block 0: every block');
  const auth = t.throws(() => loadConfig({ config: file('auth.yaml', 'profiler:\n  pyroscope:\n    url: http://p\n    username: u\n    password: p\n    bearer_token: t\n') }, {})) as Error;
  t.match(auth.message, /either a bearer token or username\/password, not both/);
  const half = t.throws(() => loadConfig({ config: file('half.yaml', 'profiler:\n  pyroscope:\n    url: http://p\n    username: u\n') }, {})) as Error;
  t.match(half.message, /basic auth needs both username and password/);
});
