// The Prometheus text exposition (0.0.4) and the mapping of the agent's figures onto it, checked by
// Prometheus' own Python client parser: escaping, types, one sample per series.
import t from 'tap';
import { isLevel, LEVELS, selfMetricFamilies } from '../../src/export/prometheus-self-metrics.js';
import { encodePrometheusText, type PrometheusFamily } from '../../src/export/prometheus-text.js';
import { parsePrometheusText } from '../helpers/prometheus-parser.js';

t.test('label values and HELP text with backslashes, quotes and line feeds come back as written', async (t) => {
  const nasty = ['plain', 'back\\slash', 'a "quoted" word', 'two\nlines', '\\n is not a line feed', 'ünïcödé ✓', '', '}{,='];
  const families: PrometheusFamily[] = [
    { name: 'lantern_test_total', type: 'counter', help: 'help with \\ and\na line feed', samples: nasty.map((v, i) => ({ labels: { value: v, i: String(i) }, value: i })) },
    { name: 'lantern_test_level', type: 'gauge', help: 'levels', samples: [{ labels: {}, value: 0.125 }, { labels: { x: 'y' }, value: -3 }, { labels: { x: 'big' }, value: 2 ** 53 }] },
  ];
  const text = encodePrometheusText(families);
  t.ok(text.endsWith('\n'), 'the last line ends with a line feed');
  const parsed = await parsePrometheusText(text);
  t.same(parsed.map((f) => [f.name, f.type, f.help]), [['lantern_test', 'counter', 'help with \\ and\na line feed'], ['lantern_test_level', 'gauge', 'levels']]);
  t.same(parsed[0]?.samples.map((s) => [s.name, s.labels.value, s.value]), nasty.map((v, i) => ['lantern_test_total', v, i]));
  t.same(parsed[1]?.samples.map((s) => s.value), [0.125, -3, 2 ** 53]);
});

t.test('values that are not finite are left out; invalid names are refused', async (t) => {
  const text = encodePrometheusText([{ name: 'a', type: 'gauge', help: 'h', samples: [{ labels: {}, value: Number.NaN }, { labels: { k: 'v' }, value: Infinity }, { labels: { k: 'w' }, value: 1 }] }]);
  t.equal(text, '# HELP a h\n# TYPE a gauge\na{k="w"} 1\n');
  t.equal(encodePrometheusText([]), '', 'nothing at all for no family');
  t.throws(() => encodePrometheusText([{ name: 'lantern.stat', type: 'gauge', help: '', samples: [] }]), /invalid Prometheus metric name/);
  t.throws(() => encodePrometheusText([{ name: 'a', type: 'gauge', help: '', samples: [{ labels: { 'a-b': 'v' }, value: 1 }] }]), /invalid Prometheus label name/);
  t.throws(() => encodePrometheusText([{ name: 'a', type: 'gauge', help: '', samples: [{ labels: { __name__: 'v' }, value: 1 }] }]), /invalid Prometheus label name/, 'reserved');
});

t.test('the mapping: counters unless LEVELS names the figure, labels for collector and stat', async (t) => {
  const figures = {
    'records.exchange.http1': 7,
    'collectors.sockets.records_in': 120,
    'collectors.sockets.tracker_connections': 3,
    'collectors.sockets.bpf_attachments': 31,
    'collectors.sockets.tracker_http1_parseErrors': 1,
    'collectors.bpftrace.scripts_running': 2,
    'collectors.bpftrace.bpf_attachments': 4,
    'pipeline.spans_out': 9,
    'pipeline.span_share_percent': 100,
    'export.traces.accepted': 9,
    'export.traces.queued': 2,
    'export.file.traces.queued': 0,
    'export.traces.dropped.queue_full': 1,
    'process.cpu_seconds': 1.5,
    'process.resident_memory_bytes': 1 << 26,
    'process.start_time_seconds': 1_700_000_000.25,
    'process.open_fds': 40,
  };
  t.ok(isLevel('export.file.traces.queued') && isLevel('collectors.dynlog.probes') && !isLevel('collectors.dynlog.calls') && !isLevel('process.cpu_seconds'));
  const parsed = await parsePrometheusText(encodePrometheusText(selfMetricFamilies(figures)));
  const byName = new Map(parsed.map((f) => [f.name, f]));
  const sample = (family: string, labels: Record<string, string>): number | undefined =>
    byName.get(family)?.samples.find((s) => JSON.stringify(s.labels) === JSON.stringify(labels))?.value;
  t.same(parsed.map((f) => [f.name, f.type]), [
    ['lantern_records', 'counter'], ['lantern_collector_events', 'counter'], ['lantern_collector_level', 'gauge'], ['lantern_bpf_attachments', 'gauge'],
    ['lantern_pipeline_events', 'counter'], ['lantern_pipeline_level', 'gauge'], ['lantern_export_events', 'counter'], ['lantern_export_level', 'gauge'],
    ['process_cpu_seconds', 'counter'], ['process_resident_memory_bytes', 'gauge'], ['process_start_time_seconds', 'gauge'], ['process_open_fds', 'gauge'],
  ]);
  t.equal(sample('lantern_records', { type: 'exchange.http1' }), 7);
  t.equal(sample('lantern_collector_events', { collector: 'sockets', stat: 'records_in' }), 120);
  t.equal(sample('lantern_collector_events', { collector: 'sockets', stat: 'tracker_http1_parseErrors' }), 1);
  t.equal(sample('lantern_collector_level', { collector: 'sockets', stat: 'tracker_connections' }), 3);
  t.equal(sample('lantern_collector_level', { collector: 'bpftrace', stat: 'scripts_running' }), 2);
  t.equal(sample('lantern_bpf_attachments', { collector: 'bpftrace' }), 4);
  t.equal(sample('lantern_export_level', { stat: 'file.traces.queued' }), 0);
  t.equal(sample('lantern_export_events', { stat: 'traces.dropped.queue_full' }), 1);
  t.equal(sample('process_start_time_seconds', {}), 1_700_000_000.25);
  t.equal(parsed.reduce((n, f) => n + f.samples.length, 0), Object.keys(figures).length, 'one sample per figure');
  t.ok(Object.values(LEVELS).every((l) => l.length > 0));
});
