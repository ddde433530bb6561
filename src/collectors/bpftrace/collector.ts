// The bpftrace collector: the agent's scripts (from the probes directory, the control API and
// `lantern bpftrace`), their printf lines as log records into the agent's sink, their maps as
// metric series read at every metrics export. No BPF of its own: bpftrace loads the programs.
import { baseAttributes } from '../../agent/resource.js';
import type { MetricSeries } from '../../model/metric.js';
import type { ResourceRecord } from '../../model/span.js';
import type { Collector, CollectorContext } from '../collector.js';
import { ProbesDirectory } from '../probes-dir.js';
import { DEFAULT_SCRIPT_LIMITS, type Script, type ScriptState } from './script.js';
import { BpftraceScripts } from './scripts.js';

export class BpftraceCollector implements Collector {
  readonly name = 'bpftrace';
  #scripts: BpftraceScripts | null = null;
  #dir: ProbesDirectory | null = null;

  /** The scripts, for the control API and `lantern bpftrace`; null before start. */
  get scripts(): BpftraceScripts | null {
    return this.#scripts;
  }

  async start(ctx: CollectorContext): Promise<void> {
    const c = ctx.config.bpftrace;
    const log = ctx.log.child({ component: 'bpftrace' });
    const hostResource: ResourceRecord = { key: 'bpftrace:host', attributes: { ...baseAttributes(ctx.config), 'service.name': 'bpftrace' } };
    this.#scripts = new BpftraceScripts({
      limits: { ...DEFAULT_SCRIPT_LIMITS, binary: c.binary, maxLinesPerSecond: c.maxLinesPerSecond, maxLineBytes: c.maxLineBytes, runawaySeconds: c.runawaySeconds },
      emit: (record) => ctx.sink.put({ type: 'log', log: record }),
      processResource: (pid) => ctx.metadata.resource(pid),
      hostResource,
      toWallNs: (ns) => ctx.clock.toWallNs(ns),
      onStateChange: (s, previous) => logStateChange(log, s, previous),
    }, { maxScripts: c.maxScripts });
    const dir = ctx.config.probesDir;
    if (dir !== undefined) {
      const scripts = this.#scripts;
      this.#dir = new ProbesDirectory(dir, {
        pattern: /^([A-Za-z0-9][A-Za-z0-9._-]{0,62})\.bt$/,
        kind: 'bpftrace script',
        start: async (name, source) => {
          const status = await scripts.add({ name, source, origin: 'directory' });
          // A script bpftrace refuses stays listed as failed (its state logged): not retried until its file changes.
          if (status.state !== 'failed') log.info('bpftrace script from the probes directory', { script: name, dir, state: status.state });
        },
        stop: (name, reason) => scripts.remove(name, reason),
      }, log);
      await this.#dir.start();
      log.info('watching the probes directory for bpftrace scripts', { dir });
    }
  }

  async stop(): Promise<void> {
    this.#dir?.stop();
    await this.#scripts?.close();
  }

  stats(): Record<string, number> {
    return this.#scripts?.stats() ?? {};
  }

  metricSeries(nowNs: bigint): MetricSeries[] {
    return this.#scripts?.metricSeries(nowNs) ?? [];
  }
}

function logStateChange(log: CollectorContext['log'], s: Script, previous: ScriptState): void {
  const st = s.status();
  const fields = { script: st.name, origin: st.origin, state: st.state, previous, ...(st.reason !== undefined ? { reason: st.reason } : {}), ...(st.probes !== undefined ? { probes: st.probes } : {}) };
  if (st.state === 'failed') log.warn('bpftrace script failed', { ...fields, restarts: st.stats.restarts });
  else if (st.state !== 'starting') log.info(`bpftrace script ${st.state}`, fields);
}
