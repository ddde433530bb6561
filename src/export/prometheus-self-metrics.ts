// The agent's own figures (flattenSummary: "collectors.sockets.records_in" → n) as Prometheus
// families for GET /metrics. The same figures leave over OTLP as the gauge lantern.agent.stat
// (metric-data.ts); here each gets a Prometheus type:
//
//   records.<type>            lantern_records_total{type}                      counter
//   collectors.<c>.<stat>     lantern_collector_events_total{collector,stat}   counter
//                             lantern_collector_level{collector,stat}          gauge (LEVELS)
//   collectors.<c>.bpf_attachments  lantern_bpf_attachments{collector}         gauge
//   <section>.<stat>          lantern_<section>_events_total{stat}             counter
//   (pipeline, export, …)     lantern_<section>_level{stat}                    gauge (LEVELS)
//   process.<figure>          process_cpu_seconds_total, process_resident_memory_bytes,
//                             process_start_time_seconds, process_open_fds     (Prometheus' names)
//   process.<other>           lantern_process_events_total{stat}               counter (memory releases)
//
// A figure is a counter unless LEVELS names it: counters only grow while the agent runs (they start
// again from zero with the agent, which Prometheus' rate() takes as a reset).
import type { PrometheusFamily, PrometheusType } from './prometheus-text.js';

/**
 * The figures that go up and down, per section; every other figure is a counter. "*.queued" matches
 * any name ending in ".queued". A collector's figure is named without the collector.
 */
export const LEVELS: Readonly<Record<string, readonly string[]>> = {
  collectors: [
    'bpf_attachments', // every collector: BPF programs attached now
    'tracker_connections', 'tls_files', 'tls_links', 'kernel_shed_percent', // sockets: connections tracked, TLS files probed, their uprobes, share shed in the kernel
    'records_lag_ms', 'records_lag_max_ms', // sockets: how late the latest batch of records was handled, and the latest since start
    'probes', 'calls_open', // dynlog: function probes, calls waiting for their return
    'scripts_starting', 'scripts_running', 'scripts_failed', 'scripts_stopped', 'map_series', // bpftrace: scripts per state, map series kept
    'last_drain_ms', 'max_drain_ms', // profiler: how long reading the kernel's counts took
    'symbols_pids', 'symbols_modules', 'symbols_module_bytes', 'symbols_kallsyms_symbols', // profiler: symbol caches
  ],
  pipeline: ['spans_held', 'spans_shed_remembered', 'span_share_percent', 'cpu_budget_share_percent', 'cpu_used_percent', 'metadata_cached', 'k8s_pods', 'k8s_services', 'k8s_owners', 'url_templates'], // k8s_*: pods, Services, owners kept; url.template values held
  export: ['*.queued', '*.arena_spare_slabs', 'histograms.series', 'resources.cached', 'profiles_pyroscope_in_flight'],
  process: ['resident_memory_bytes', 'start_time_seconds', 'open_fds', 'heap_used_bytes', 'heap_total_bytes', 'external_memory_bytes', 'cpu_nice', 'cpu_sched_idle', 'cpu_contended'],
};

/** Prometheus' standard process metrics (https://prometheus.io/docs/instrumenting/writing_clientlibs/#process-metrics). */
const PROCESS: Readonly<Record<string, { name: string; help: string }>> = {
  cpu_seconds: { name: 'process_cpu_seconds_total', help: 'Total user and system CPU time spent in seconds.' },
  resident_memory_bytes: { name: 'process_resident_memory_bytes', help: 'Resident memory size in bytes.' },
  start_time_seconds: { name: 'process_start_time_seconds', help: 'Start time of the process since unix epoch in seconds.' },
  open_fds: { name: 'process_open_fds', help: 'Number of open file descriptors.' },
  // prom-client's names for Node's heap figures.
  heap_used_bytes: { name: 'nodejs_heap_size_used_bytes', help: 'Process heap size used from Node.js in bytes.' },
  heap_total_bytes: { name: 'nodejs_heap_size_total_bytes', help: 'Process heap size from Node.js in bytes.' },
  external_memory_bytes: { name: 'nodejs_external_memory_bytes', help: 'Node.js external memory size in bytes.' },
};

const SECTION_HELP: Readonly<Record<string, { counter: string; gauge: string }>> = {
  pipeline: {
    counter: 'Lantern span pipeline counts: spans built, linked, kept and shed, build failures, processes unreadable.',
    gauge: 'Lantern span pipeline levels: spans held for linking, share of spans exported (percent), processes cached.',
  },
  process: {
    counter: 'Lantern process counts beyond the standard ones: releases of free C heap memory to the kernel, their time and the bytes they gave back.',
    gauge: 'Lantern process levels.',
  },
  export: {
    counter: 'Lantern exporter counts per destination (traces, logs, metrics, file.*): items accepted, exported, dropped by reason, attempts, retries.',
    gauge: 'Lantern exporter levels: items queued per destination, histogram series, resources cached.',
  },
};

export function isLevel(flatName: string): boolean {
  const [section = '', ...rest] = flatName.split('.');
  const stat = (section === 'collectors' ? rest.slice(1) : rest).join('.');
  return (LEVELS[section] ?? []).some((l) => (l.startsWith('*') ? stat.endsWith(l.slice(1)) : stat === l));
}

/** The figures as families, in the order they first appear; one sample per figure. */
export function selfMetricFamilies(figures: Record<string, number>): PrometheusFamily[] {
  const families = new Map<string, PrometheusFamily>();
  const add = (name: string, type: PrometheusType, help: string, labels: Record<string, string>, value: number): void => {
    let f = families.get(name);
    if (f === undefined) families.set(name, (f = { name, type, help, samples: [] }));
    f.samples.push({ labels, value });
  };
  for (const [flat, value] of Object.entries(figures)) {
    const [section = '', ...rest] = flat.split('.');
    const level = isLevel(flat);
    if (section === 'records') {
      add('lantern_records_total', 'counter', 'Records the collectors produced, by type (exchange.<protocol>, process.exec, process.exit, profile, log).', { type: rest.join('.') }, value);
    } else if (section === 'collectors' && rest.length >= 2) {
      const [collector = '', ...statParts] = rest;
      const stat = statParts.join('.');
      if (stat === 'bpf_attachments') {
        add('lantern_bpf_attachments', 'gauge', 'BPF programs a collector has attached now (tracepoints, kprobes, uprobes, perf events; bpftrace: the probes of its running scripts).', { collector }, value);
      } else if (level) {
        add('lantern_collector_level', 'gauge', 'Lantern collector levels now: connections tracked, probes, scripts per state, symbol caches; stat names the level.', { collector, stat }, value);
      } else {
        add('lantern_collector_events_total', 'counter', 'Lantern collector counts: events and bytes in, losses per stage (kernel, queue to JavaScript), parse errors; stat names the count.', { collector, stat }, value);
      }
    } else if (section === 'process' && PROCESS[rest.join('.')] !== undefined) {
      const p = PROCESS[rest.join('.')]!;
      add(p.name, level ? 'gauge' : 'counter', p.help, {}, value);
    } else {
      const base = `lantern_${section.replace(/[^a-zA-Z0-9_]/g, '_')}`;
      const help = SECTION_HELP[section] ?? { counter: `Lantern ${section} counts.`, gauge: `Lantern ${section} levels.` };
      if (level) add(`${base}_level`, 'gauge', help.gauge, { stat: rest.join('.') }, value);
      else add(`${base}_events_total`, 'counter', help.counter, { stat: rest.join('.') }, value);
    }
  }
  return [...families.values()];
}
