// The agent's bpftrace scripts by name, whatever brought them (the control API, the probes
// directory, `lantern bpftrace`): bounded in number, each supervised on its own so one failing
// script never disturbs another. Finished scripts stay listed (their state and last output are
// what users come to read) until the name is reused or room is needed.
import type { MetricSeries } from '../../model/metric.js';
import { type OutputLine, Script, type ScriptContext, type ScriptSpec, type ScriptStatus } from './script.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const MAX_RETIRED = 64;

export class ScriptError extends Error {
  constructor(readonly kind: 'invalid' | 'exists' | 'limit' | 'not_found', message: string) {
    super(message);
  }
}

export interface ScriptsOptions {
  /** Scripts starting or running at once. */
  maxScripts: number;
  /** Finished scripts kept for their status. */
  maxFinished?: number;
}

export class BpftraceScripts {
  readonly #scripts = new Map<string, Script>();
  /** The last values of removed scripts' maps, exported once more (their final print). */
  readonly #retired = new Map<string, MetricSeries[]>();
  #closed = false;

  constructor(private readonly ctx: Omit<ScriptContext, 'onStateChange'> & { onStateChange?: ScriptContext['onStateChange'] }, private readonly o: ScriptsOptions) {}

  /**
   * Starts a script; resolves with its status once bpftrace has attached its probes or failed
   * (a script that does not compile comes back `failed` with bpftrace's message).
   */
  async add(spec: ScriptSpec): Promise<ScriptStatus> {
    if (this.#closed) throw new ScriptError('limit', 'the agent is stopping');
    if (!NAME.test(spec.name)) throw new ScriptError('invalid', `script name ${JSON.stringify(spec.name)}: 1-63 letters, digits, '.', '_' or '-', not starting with a punctuation mark`);
    if (spec.source.trim() === '') throw new ScriptError('invalid', `script ${spec.name} is empty`);
    if (spec.ttlSeconds !== undefined && !(spec.ttlSeconds > 0)) throw new ScriptError('invalid', 'ttlSeconds must be a positive number');
    const existing = this.#scripts.get(spec.name);
    if (existing !== undefined && isLive(existing)) throw new ScriptError('exists', `a script named ${spec.name} is ${existing.state}: stop it first`);
    if (this.live().length >= this.o.maxScripts) throw new ScriptError('limit', `${this.o.maxScripts} scripts are running already (the limit)`);
    this.#scripts.delete(spec.name);
    // The same name again starts its series again: the old run's last values would clash with them.
    this.#retired.delete(spec.name);
    this.#forgetOldFinished();
    const script = new Script(spec, { ...this.ctx, onStateChange: (s, prev) => this.ctx.onStateChange?.(s, prev) });
    this.#scripts.set(spec.name, script);
    return script.start();
  }

  /** Stops a script (its maps are printed and recorded on the way out); it stays listed as stopped. */
  async stop(name: string, reason = 'stopped by request'): Promise<ScriptStatus> {
    const s = this.#scripts.get(name);
    if (s === undefined) throw new ScriptError('not_found', `no script named ${name}`);
    await s.stop(reason);
    return s.status();
  }

  /** Stops a script and forgets it. */
  async remove(name: string, reason?: string): Promise<void> {
    await this.stop(name, reason);
    const s = this.#scripts.get(name);
    this.#scripts.delete(name);
    if (s !== undefined && this.#retired.size < MAX_RETIRED) this.#retired.set(name, s.metricSeries(BigInt(Date.now()) * 1_000_000n));
  }

  get(name: string): { status: ScriptStatus; output: OutputLine[]; source: string } | undefined {
    const s = this.#scripts.get(name);
    return s === undefined ? undefined : { status: s.status(), output: s.recentOutput(), source: s.spec.source };
  }

  spec(name: string): ScriptSpec | undefined {
    return this.#scripts.get(name)?.spec;
  }

  list(): ScriptStatus[] {
    return [...this.#scripts.values()].map((s) => s.status());
  }

  live(): Script[] {
    return [...this.#scripts.values()].filter(isLive);
  }

  /** Every script's map series; those of scripts removed since the last call once more, then no longer. */
  metricSeries(nowNs: bigint): MetricSeries[] {
    const retired = [...this.#retired.values()].flat();
    this.#retired.clear();
    return [...retired, ...[...this.#scripts.values()].flatMap((s) => s.metricSeries(nowNs))];
  }

  /**
   * Sums of every script's counters, how many scripts are in each state, and the probes the running
   * ones have attached (as bpftrace counts them: a wildcard probe counts once per match).
   */
  stats(): Record<string, number> {
    const out: Record<string, number> = { scripts_starting: 0, scripts_running: 0, scripts_failed: 0, scripts_stopped: 0, bpf_attachments: 0 };
    for (const s of this.#scripts.values()) {
      const st = s.status();
      out[`scripts_${st.state}`] = (out[`scripts_${st.state}`] ?? 0) + 1;
      if (st.state === 'running') out.bpf_attachments = (out.bpf_attachments ?? 0) + (st.probes ?? 0);
      for (const [k, v] of Object.entries(st.stats)) out[k] = (out[k] ?? 0) + v;
    }
    return out;
  }

  /** Stops every script: no bpftrace started by the agent outlives it. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#scripts.values()].map((s) => s.stop('the agent stopped')));
  }

  #forgetOldFinished(): void {
    const finished = [...this.#scripts.entries()].filter(([, s]) => !isLive(s));
    const max = this.o.maxFinished ?? 64;
    for (const [name] of finished.slice(0, Math.max(0, finished.length - max + 1))) this.#scripts.delete(name);
  }
}

/** Starting, running, or failed and waiting to be restarted: it holds (or will hold) probes. */
function isLive(s: Script): boolean {
  return s.state === 'starting' || s.state === 'running' || (s.state === 'failed' && s.restarting);
}
