// Reading what the agent wrote to an OTLP JSON lines file (`--otlp-file`), for tests that run it as a user does.
import { readFileSync } from 'node:fs';

interface MetricsLine {
  resourceMetrics: Array<{
    resource: { attributes: Array<{ key: string; value: { intValue?: string } }> };
    scopeMetrics: Array<{ metrics: Array<{ name: string; histogram?: { dataPoints: Array<{ count: string }> } }> }>;
  }>;
}

/**
 * The measurements histogram `name` counted, over the resources whose `process.pid` `pid` accepts, in
 * the file's last metrics export that has any (cumulative temporality: the last export says it
 * all); -1 when none has.
 */
export function lastHistogramCount(file: string, name: string, pid: (pid: number) => boolean = () => true): number {
  let last = -1;
  for (const line of readFileSync(file, 'utf8').split('\n').filter((l) => l.includes('"resourceMetrics"'))) {
    let count = 0;
    for (const rm of (JSON.parse(line) as MetricsLine).resourceMetrics) {
      if (!pid(Number(rm.resource.attributes.find((a) => a.key === 'process.pid')?.value.intValue ?? 0))) continue;
      for (const sm of rm.scopeMetrics) {
        for (const m of sm.metrics) if (m.name === name) for (const dp of m.histogram?.dataPoints ?? []) count += Number(dp.count);
      }
    }
    if (count > 0) last = count;
  }
  return last;
}
