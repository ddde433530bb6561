// The agent's own counters leave as OTLP metrics (lantern.agent.stat) next to the HTTP histograms.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startTestAgent } from '../helpers/agent.js';
import { run, startPrintingPort } from '../helpers/spawn.js';
import { repoRoot } from '../helpers/cli.js';

t.test('self-metrics and duration histograms in the OTLP file at stop', async (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'lantern-self-')), 'otlp.jsonl');
  const backend = await startPrintingPort(process.execPath, [join(repoRoot, 'test/fixtures/http-backend.mjs')]);
  t.teardown(() => backend.stop());
  const agent = await startTestAgent({ pids: [backend.child.pid!], otlpFile: file });
  await run('curl', ['-s', `http://127.0.0.1:${backend.port}/hello`]);
  await agent.waitForSpans((s) => s.kind === 'server', 1);
  await agent.stop();
  const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const metrics = lines.flatMap((l) => ((l.resourceMetrics ?? []) as Array<{ resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> }; scopeMetrics: Array<{ metrics: Array<{ name: string; gauge?: { dataPoints: Array<{ attributes: Array<{ value: { stringValue: string } }>; asDouble?: number }> } }> }> }>));
  const self = metrics.find((rm) => rm.resource.attributes.some((a) => a.key === 'service.name' && a.value.stringValue === 'lantern'));
  t.ok(self, 'a resource for the agent itself');
  const stat = self?.scopeMetrics[0]?.metrics.find((m) => m.name === 'lantern.agent.stat');
  const names = new Set(stat?.gauge?.dataPoints.map((p) => p.attributes[0]?.value.stringValue));
  for (const n of ['collectors.sockets.records_in', 'collectors.sockets.kernel_lost_ringbuf_full', 'collectors.sockets.tracker_http1_parseErrors', 'pipeline.spans_out']) {
    t.ok(names.has(n), `self-metric ${n}`);
  }
  t.ok([...names].some((n) => n?.startsWith('export.file.traces.')), 'export counters too');
  const histogramNames = metrics.flatMap((rm) => rm.scopeMetrics.flatMap((s) => s.metrics.map((m) => m.name)));
  t.ok(histogramNames.includes('http.server.request.duration'), 'server duration histogram');
  t.ok(histogramNames.includes('http.client.request.duration'), 'client duration histogram');
});
