// Prometheus' text exposition format, version 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/#text-format-details): per family one
// HELP line, one TYPE line, then all its samples together; the last line ends with a line feed.
// Bytes only, no I/O: the control API serves what this returns.

export type PrometheusType = 'counter' | 'gauge';

export interface PrometheusSample {
  labels: Record<string, string>;
  value: number;
}

export interface PrometheusFamily {
  /** For a counter, the name of its samples: ending in `_total`, as the TYPE line names it too. */
  name: string;
  help: string;
  type: PrometheusType;
  samples: PrometheusSample[];
}

/** What a scrape is answered with (the format's version is part of the type). */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
// Names beginning with __ are reserved for Prometheus itself.
const LABEL_NAME = /^(?!__)[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * The families as one exposition. Names are the caller's constants: an invalid one is a bug and
 * throws. Samples whose value is not finite are left out (the figures are counts and levels).
 */
export function encodePrometheusText(families: readonly PrometheusFamily[]): string {
  const lines: string[] = [];
  for (const f of families) {
    if (!METRIC_NAME.test(f.name)) throw new Error(`invalid Prometheus metric name ${JSON.stringify(f.name)}`);
    lines.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      if (Number.isFinite(s.value)) lines.push(`${f.name}${encodeLabels(s.labels)} ${String(s.value)}`);
    }
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

function encodeLabels(labels: Record<string, string>): string {
  const pairs = Object.entries(labels).map(([k, v]) => {
    if (!LABEL_NAME.test(k)) throw new Error(`invalid Prometheus label name ${JSON.stringify(k)}`);
    return `${k}="${escapeLabelValue(v)}"`;
  });
  return pairs.length === 0 ? '' : `{${pairs.join(',')}}`;
}

/** HELP text: backslash and line feed escaped. */
function escapeHelp(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** Label values: backslash, double quote and line feed escaped. */
function escapeLabelValue(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
