// End to end: the agent's process collector turns a child's exec and exit into OTel events, and
// they leave over the network (OTLP/gRPC, configured by OTEL_EXPORTER_OTLP_LOGS_ENDPOINT alone) to
// a real OpenTelemetry Collector, read back from its file exporter. The probes see the whole
// machine: the agent traces this process and its descendants, and the assertions keep to the pid
// of the child this test starts.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import t from 'tap';
import { startTestAgent } from '../helpers/agent.js';
import { startOtelcol } from '../helpers/otelcol.js';

t.test('a child\'s process.exec and process.exit reach the Collector over OTLP/gRPC', async (t) => {
  const collector = await startOtelcol();
  t.teardown(() => collector.stop());
  const agent = await startTestAgent({ collectors: 'process', env: { OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: collector.grpcEndpoint } });
  let stopped = false;
  t.teardown(async () => {
    if (!stopped) await agent.stop();
  });
  t.match(agent.log.join('\n'), /exporting over OTLP.*logs/, 'the agent says where logs go');

  const child = spawn('/bin/sh', ['-c', 'exit 7'], { stdio: 'ignore' });
  const pid = child.pid!;
  const [code] = await once(child, 'exit');
  t.equal(code, 7);
  const ofChild = (l: { attributes: Record<string, unknown> }): boolean => JSON.stringify(l.attributes['process.pid']) === JSON.stringify({ intValue: String(pid) });
  // Sent within the log queue's delay (one second), while the agent runs.
  const got = await collector.waitForLogs(ofChild, 2, 15_000);
  stopped = true;
  const summary = await agent.stop();

  const exec = got.find((l) => l.record.eventName === 'process.exec');
  const exit = got.find((l) => l.record.eventName === 'process.exit');
  t.ok(exec, 'process.exec arrived');
  t.ok(exit, 'process.exit arrived');
  t.same(exec?.attributes['process.executable.path'], { stringValue: '/bin/sh' });
  t.same(exec?.attributes['process.parent_pid'], { intValue: String(process.pid) }, 'the parent is this test');
  t.same(exit?.attributes['process.exit.code'], { intValue: '7' }, 'the exit code, an int');
  t.match(exit?.record.body, { stringValue: `exit sh (pid ${pid}) code 7` });
  t.equal(exit?.record.severityText, 'INFO');
  t.same(exit?.resource['service.name'], { stringValue: 'sh' });
  t.same(exit?.resource['process.pid'], { intValue: String(pid) });
  t.ok(exit?.resource['host.name'], 'host.name on the resource');
  const now = BigInt(Date.now()) * 1_000_000n;
  t.ok(BigInt(exec?.record.timeUnixNano ?? '0') > now - 60_000_000_000n, 'kernel time converted to wall clock');
  t.ok(summary.export.log_records! >= 2, `the summary counts what left (${summary.export.log_records})`);
  t.equal(summary.export.log_records_dropped, 0);
  t.equal(summary.export['logs.dropped.retries_exhausted'], 0);
});
