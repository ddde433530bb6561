// Log records through the TelemetryExporter into a real OpenTelemetry Collector, over OTLP/gRPC,
// OTLP/HTTP protobuf and OTLP/HTTP JSON, configured only by the OTEL_* variables, read back from
// the Collector's file exporter: what arrives is what the Collector decoded, typed as sent.
// Needs the Collector from `bash scripts/build-test-tools.sh`; without it this fails (never skips).
import t, { type Test } from 'tap';
import { loadConfig } from '../../src/config/load.js';
import { TelemetryExporter } from '../../src/export/telemetry-exporter.js';
import { SEVERITY } from '../../src/model/log.js';
import { T0, logRecord, memoryLogger, resourceOf } from '../export/fixtures.js';
import { type Otelcol, startOtelcol } from '../helpers/otelcol.js';

let collector: Otelcol;
t.before(async () => {
  collector = await startOtelcol();
});
t.teardown(() => collector?.stop());

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN_ID = '00f067aa0ba902b7';

/**
 * Exports three records of two processes with the configuration `env` gives, which must send them
 * to `url` over `protocol`, and reads them back.
 */
async function roundTrip(t: Test, protocol: string, url: string, env: NodeJS.ProcessEnv): Promise<void> {
  const { log, lines } = memoryLogger();
  const config = loadConfig({}, env);
  const exporter = new TelemetryExporter(config, log, null, {
    spanQueue: { capacity: 100, maxBatch: 10, delayMs: 10 },
    baseResourceAttributes: { 'host.name': 'node-1', 'deployment.environment': 'e2e' },
  });
  t.equal(exporter.describe().logs, `${url} (OTLP/${protocol})`, 'the URL and protocol the variables say');
  const shop = resourceOf('shop', 101);
  const cart = { key: 'pid:202:1', attributes: { 'service.name': 'cart', 'process.pid': 202, 'process.command_args': ['cart', '--port=80'] } };
  const marker = { 'test.protocol': protocol };
  exporter.exportLogs([
    logRecord(shop, 0, { attributes: { ...marker, 'process.pid': 4242, ratio: 0.5, ok: true, args: ['a', 'b'], big: 2 ** 40 } }),
    logRecord(cart, 1, { severity: SEVERITY.error, eventName: 'bpftrace.printf', body: 17, attributes: { ...marker }, traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: 1 }),
    logRecord(shop, 2, { severity: SEVERITY.warn, eventName: undefined, body: ['x', 'y'], attributes: { ...marker, neg: -3 }, timeUnixNano: 0n }),
  ]);
  await exporter.forceFlush(10_000);
  const got = await collector.waitForLogs((l) => JSON.stringify(l.attributes['test.protocol']) === JSON.stringify({ stringValue: protocol }), 3);
  await exporter.shutdown(2000);
  t.equal(exporter.stats()['logs.exported'], 3, 'three records exported');
  t.notOk(lines.some((l) => l.includes('export failed')), 'no export failure');

  const [first, second, third] = [0, 1, 2].map((i) => got.find((l) => l.record.observedTimeUnixNano === String(T0 + BigInt(i) * 1_000_000n + 5_000n)));
  t.ok(first && second && third, 'each record arrived once, by its observed time');
  if (!first || !second || !third) return;
  t.same(first.attributes, {
    'test.protocol': { stringValue: protocol },
    'process.pid': { intValue: '4242' },
    ratio: { doubleValue: 0.5 },
    ok: { boolValue: true },
    args: { arrayValue: { values: [{ stringValue: 'a' }, { stringValue: 'b' }] } },
    big: { intValue: String(2 ** 40) },
  }, 'attributes typed as sent: ints stay ints, doubles, bools, arrays');
  t.equal(first.record.timeUnixNano, String(T0), 'event time to the nanosecond');
  t.equal(first.record.severityNumber, 9);
  t.equal(first.record.severityText, 'INFO');
  t.equal(first.record.eventName, 'process.exec');
  t.same(first.record.body, { stringValue: 'record 0' });
  t.notOk(first.record.traceId, 'no trace id when none was given');
  t.same(first.resource, {
    'host.name': { stringValue: 'node-1' }, 'deployment.environment': { stringValue: 'e2e' },
    'service.name': { stringValue: 'shop' }, 'process.pid': { intValue: '101' },
  }, 'resource: base attributes under the process\'s own');
  t.same(first.scope, { name: 'lantern', version: '0.1.0' });

  t.same(second.record.body, { intValue: '17' }, 'a body of another type than string');
  t.equal(second.record.eventName, 'bpftrace.printf');
  t.equal(second.record.severityNumber, 17);
  t.equal(second.record.severityText, 'ERROR');
  t.equal(second.record.traceId, TRACE_ID);
  t.equal(second.record.spanId, SPAN_ID);
  t.equal(second.record.flags, 1);
  t.same(second.resource['process.command_args'], { arrayValue: { values: [{ stringValue: 'cart' }, { stringValue: '--port=80' }] } });

  t.same(third.record.body, { arrayValue: { values: [{ stringValue: 'x' }, { stringValue: 'y' }] } });
  t.notOk(third.record.eventName, 'a plain log record: no event name');
  t.equal(third.record.severityNumber, 13);
  t.notOk(third.record.timeUnixNano !== undefined && third.record.timeUnixNano !== '0', 'unknown event time stays unknown');
  t.same(third.attributes.neg, { intValue: '-3' });
  const groups = collector.requests().flatMap((r) => r.resourceLogs ?? []).filter((rl) => JSON.stringify(rl).includes(`"stringValue":"${protocol}"`));
  t.equal(groups.length, 2, 'one ResourceLogs per process');
}

t.test('OTLP/gRPC: the base endpoint as it is', async (t) => {
  await roundTrip(t, 'grpc', collector.grpcEndpoint, { OTEL_EXPORTER_OTLP_ENDPOINT: collector.grpcEndpoint });
});

t.test('OTLP/HTTP protobuf: the base endpoint + v1/logs, OTEL_EXPORTER_OTLP_PROTOCOL', async (t) => {
  await roundTrip(t, 'http/protobuf', `${collector.httpEndpoint}/v1/logs`, { OTEL_EXPORTER_OTLP_ENDPOINT: collector.httpEndpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' });
});

t.test('OTLP/HTTP JSON: OTEL_EXPORTER_OTLP_LOGS_ENDPOINT as it is, OTEL_EXPORTER_OTLP_LOGS_PROTOCOL and _HEADERS', async (t) => {
  await roundTrip(t, 'http/json', `${collector.httpEndpoint}/v1/logs`, {
    OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9', // not used by logs: the per-signal endpoint wins
    OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: `${collector.httpEndpoint}/v1/logs`,
    OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: 'http/json',
    OTEL_EXPORTER_OTLP_LOGS_HEADERS: 'x-tenant=e2e',
  });
});
