// One bpftrace script under supervision: started, watched, restarted with backoff when bpftrace
// dies under it, stopped at its time to live or on request. Its printf lines become log records,
// its maps metric series; its state and recent output are there for users to see.
//
//   starting ──attached──▶ running ──exit()──▶ stopped
//      │                      │ crashed / killed
//      ▼                      ▼
//    failed (compile or     failed ──backoff──▶ starting …
//    attach error: final)
import type { LogRecordData } from '../../model/log.js';
import { SEVERITY } from '../../model/log.js';
import type { MetricSeries } from '../../model/metric.js';
import type { ResourceRecord } from '../../model/span.js';
import { BpftraceProcess, type BpftraceExit } from './bpftrace-process.js';
import { MapMetrics } from './map-metrics.js';
import { type BpftraceMessage, parseOutputLine } from './output.js';
import { type PreparedScript, applyParams } from './params.js';
import { parsePrintfFields } from './printf-fields.js';
import { type MarkedScript, type ScriptInfo, analyzeScript, unmarkErrors, withReadyMarker } from './script-info.js';

export type ScriptOrigin = 'api' | 'directory' | 'command';
export type ScriptState = 'starting' | 'running' | 'failed' | 'stopped';

export interface ScriptSpec {
  /** Unique among the agent's scripts: letters, digits, '.', '_', '-'. */
  name: string;
  source: string;
  /** Stopped after this long (seconds); none: until removed. */
  ttlSeconds?: number;
  params?: Record<string, string>;
  origin: ScriptOrigin;
}

export interface ScriptLimits {
  binary: string;
  /** printf lines per second turned into records; the rest are dropped and counted. */
  maxLinesPerSecond: number;
  /** Longest printf line kept whole (longer: truncated, counted). */
  maxLineBytes: number;
  /** Longest JSON message read from bpftrace (a printed map is one line). */
  maxMessageBytes: number;
  /** Over the line rate this many seconds in a row: the script is stopped as a runaway. */
  runawaySeconds: number;
  /** Restart delays after bpftrace dies: doubling from the first to the last. */
  restartDelayMs: { first: number; max: number };
  /** How long bpftrace has to stop after SIGINT before SIGKILL. */
  stopTimeoutMs: number;
}

export const DEFAULT_SCRIPT_LIMITS: ScriptLimits = {
  binary: 'bpftrace',
  maxLinesPerSecond: 1000,
  maxLineBytes: 4096,
  maxMessageBytes: 4 << 20,
  runawaySeconds: 10,
  restartDelayMs: { first: 1000, max: 60_000 },
  stopTimeoutMs: 3000,
};

/** What a script needs from the agent. */
export interface ScriptContext {
  limits: ScriptLimits;
  emit(record: LogRecordData): void;
  /** The traced process's resource, for lines that carry a pid. */
  processResource(pid: number): ResourceRecord;
  /** Host-wide records (no pid): the node's resource. */
  hostResource: ResourceRecord;
  /** bpf_ktime_get_ns (bpftrace's nsecs) → epoch ns. */
  toWallNs(monotonicNs: bigint): bigint;
  onStateChange(script: Script, previous: ScriptState): void;
  now?(): bigint;
}

export interface ScriptStats {
  lines: number;
  lines_dropped_rate: number;
  lines_truncated: number;
  messages_oversized: number;
  messages_unparsed: number;
  map_prints: number;
  lost_events: number;
  restarts: number;
}

export interface ScriptStatus {
  name: string;
  origin: ScriptOrigin;
  state: ScriptState;
  /** Why it failed or stopped, bpftrace's own message included. */
  reason?: string;
  pid?: number;
  probes?: number;
  startedAt: string;
  expiresAt?: string;
  stats: ScriptStats;
}

export interface OutputLine {
  time: string;
  text: string;
}

const RECENT_LINES = 100;
/** Printed by the BEGIN probe Lantern adds: the script's probes are all attached. */
const READY_MARKER = 'lantern:probes-attached';
/** A run that stayed up this long was healthy: the next restart waits the first delay again. */
const HEALTHY_RUN_MS = 60_000;
/** How often SIGINT is sent again while bpftrace has not stopped. */
const SIGINT_AGAIN_MS = 500;
const DAY_NS = 86_400_000_000_000n;

export class Script {
  readonly info: ScriptInfo;
  readonly #metrics: MapMetrics;
  readonly #recent: OutputLine[] = [];
  readonly #startedAt = new Date();
  #state: ScriptState = 'starting';
  #reason: string | undefined;
  #process: BpftraceProcess | null = null;
  #probes: number | undefined;
  /** The source bpftrace runs: the user's, with Lantern's ready marker. */
  #marked: MarkedScript | null = null;
  #stopping = false;
  #runStartedAt = 0;
  #restartDelay: number;
  #restartTimer: NodeJS.Timeout | null = null;
  #ttlTimer: NodeJS.Timeout | null = null;
  #expiresAt: Date | undefined;
  #attachedOnce = false;
  #firstOutcome: Array<(s: ScriptStatus) => void> = [];
  readonly #rate = { second: 0, lines: 0, overSeconds: 0, overThisSecond: false };
  readonly #s: ScriptStats = { lines: 0, lines_dropped_rate: 0, lines_truncated: 0, messages_oversized: 0, messages_unparsed: 0, map_prints: 0, lost_events: 0, restarts: 0 };

  /** The source with its parameters applied, or why they cannot be. */
  readonly #prepared: PreparedScript | { error: string };

  constructor(readonly spec: ScriptSpec, private readonly ctx: ScriptContext) {
    this.#prepared = applyParams(spec.source, spec.params ?? {});
    this.info = analyzeScript('error' in this.#prepared ? spec.source : this.#prepared.source);
    this.#metrics = new MapMetrics(spec.name, this.info);
    this.#restartDelay = ctx.limits.restartDelayMs.first;
  }

  get state(): ScriptState {
    return this.#state;
  }

  /** Failed, with a restart scheduled. */
  get restarting(): boolean {
    return this.#restartTimer !== null;
  }

  /** Starts bpftrace; resolves once the probes are attached, or with the failure (compile error …). */
  start(): Promise<ScriptStatus> {
    const outcome = new Promise<ScriptStatus>((resolve) => this.#firstOutcome.push(resolve));
    this.#launch();
    return outcome;
  }

  /**
   * The time to live counts from when the probes are first live: bpftrace's compile and attach
   * take a second or more on a busy node, and a script stopped before its probes ever fired
   * would have lived none of its time.
   */
  #startTtl(): void {
    if (this.spec.ttlSeconds === undefined || this.#ttlTimer !== null) return;
    this.#expiresAt = new Date(Date.now() + this.spec.ttlSeconds * 1000);
    this.#ttlTimer = setTimeout(() => void this.stop(`time to live of ${this.spec.ttlSeconds}s expired`), this.spec.ttlSeconds * 1000);
    this.#ttlTimer.unref();
  }

  /** Detaches (SIGINT: bpftrace prints its maps on the way out), SIGKILL past the timeout. */
  async stop(reason = 'stopped'): Promise<void> {
    if (this.#stopping) {
      await this.#process?.exited;
      return;
    }
    this.#stopping = true;
    this.#clearTimers();
    const p = this.#process;
    if (p === null) {
      // A failed script keeps its state and reason (waiting for a restart or not): that is what happened.
      if (this.#state !== 'failed') this.#setState('stopped', reason);
      return;
    }
    this.#reason = reason;
    p.kill('SIGINT');
    // A SIGINT can go unanswered (seen in about 1 stop in 8 on a busy host, right after the
    // script started: bpftrace neither printed its maps nor exited): it is sent again, so that the
    // maps still come out, before SIGKILL ends it without them.
    const again = setInterval(() => p.kill('SIGINT'), SIGINT_AGAIN_MS);
    const killer = setTimeout(() => p.kill('SIGKILL'), this.ctx.limits.stopTimeoutMs);
    await p.exited;
    clearInterval(again);
    clearTimeout(killer);
  }

  status(): ScriptStatus {
    return {
      name: this.spec.name,
      origin: this.spec.origin,
      state: this.#state,
      ...(this.#reason !== undefined ? { reason: this.#reason } : {}),
      ...(this.#process?.pid !== undefined ? { pid: this.#process.pid } : {}),
      ...(this.#probes !== undefined ? { probes: this.#probes } : {}),
      startedAt: this.#startedAt.toISOString(),
      ...(this.#expiresAt !== undefined ? { expiresAt: this.#expiresAt.toISOString() } : {}),
      stats: { ...this.#s, ...this.#metricStats() },
    };
  }

  recentOutput(): OutputLine[] {
    return [...this.#recent];
  }

  metricSeries(nowNs: bigint): MetricSeries[] {
    return this.#metrics.series(this.ctx.hostResource, nowNs);
  }

  #metricStats(): Record<string, number> {
    const m = this.#metrics.stats();
    return { map_series: m.series, map_series_dropped: m.seriesDropped, map_values_not_numeric: m.valuesNotNumeric };
  }

  #launch(): void {
    this.#restartTimer = null;
    const prepared = this.#prepared;
    if ('error' in prepared) {
      this.#fail(prepared.error, false);
      return;
    }
    this.#setState('starting');
    this.#runStartedAt = Date.now();
    const marked = withReadyMarker(prepared.source, READY_MARKER);
    this.#marked = marked;
    const p = new BpftraceProcess({
      binary: this.ctx.limits.binary,
      source: marked.source,
      positional: prepared.positional,
      maxLineBytes: this.ctx.limits.maxMessageBytes,
      onLine: (line) => this.#onLine(line),
      onOversizedLine: () => this.#s.messages_oversized++,
    });
    this.#process = p;
    void p.exited.then((exit) => this.#onExit(p, exit));
  }

  #onExit(p: BpftraceProcess, exit: BpftraceExit): void {
    if (this.#process !== p) return;
    this.#process = null;
    const attached = this.#state === 'running';
    if (this.#stopping) {
      this.#setState('stopped', this.#reason);
      return;
    }
    if (attached && exit.code === 0) {
      this.#clearTimers();
      this.#setState('stopped', 'the script exited');
      return;
    }
    const how = exit.signal !== null ? `bpftrace was killed by ${exit.signal}` : `bpftrace exited with code ${exit.code}`;
    const message = exit.stderr !== '' ? `${how}: ${this.#namedErrors(exit.stderr)}` : how;
    // A script that never attached has an error bpftrace will report again: final. One that ran
    // before and died (killed, crashed, a probe gone) is restarted, later each time it fails.
    this.#fail(message, this.#attachedOnce);
  }

  #fail(message: string, restart: boolean): void {
    this.#setState('failed', message);
    if (!restart) {
      this.#clearTimers();
      return;
    }
    if (Date.now() - this.#runStartedAt >= HEALTHY_RUN_MS) this.#restartDelay = this.ctx.limits.restartDelayMs.first;
    const delay = this.#restartDelay;
    this.#restartDelay = Math.min(this.#restartDelay * 2, this.ctx.limits.restartDelayMs.max);
    this.#s.restarts++;
    this.#restartTimer = setTimeout(() => this.#launch(), delay);
    this.#restartTimer.unref();
  }

  /** bpftrace's errors about the user's script: without Lantern's marker, named as users know it
   * (bpftrace reads it from stdin and calls it that). */
  #namedErrors(stderr: string): string {
    const own = this.#marked !== null ? unmarkErrors(stderr, this.#marked) : stderr;
    return own.replace(/^stdin:/gm, `${this.spec.name}:`);
  }

  #onLine(line: string): void {
    const msg = parseOutputLine(line);
    if (msg === null) {
      this.#s.messages_unparsed++;
      return;
    }
    this.#handle(msg, line);
  }

  #handle(msg: BpftraceMessage, raw: string): void {
    const now = this.#now();
    switch (msg.type) {
      case 'attached':
        this.#probes = msg.probes - (this.#marked?.addedProbes ?? 0);
        return;
      case 'printf':
        if (msg.text === `${READY_MARKER}\n`) {
          if (!this.#attachedOnce) this.#startTtl();
          this.#attachedOnce = true;
          this.#setState('running');
        } else this.#printText(msg.text, now);
        return;
      case 'text':
        this.#printText(msg.text, now);
        return;
      case 'lost':
        this.#s.lost_events += msg.events;
        return;
      default:
        this.#s.map_prints++;
        this.#remember(raw.length > this.ctx.limits.maxLineBytes ? `${raw.slice(0, this.ctx.limits.maxLineBytes)}…` : raw);
        this.#metrics.update(msg, now);
    }
  }

  #printText(text: string, now: bigint): void {
    for (const line of text.split('\n')) if (line.trim() !== '') this.#printLine(line, now);
  }

  #printLine(text: string, now: bigint): void {
    if (!this.#withinRate()) return;
    this.#s.lines++;
    let line = text;
    if (Buffer.byteLength(line) > this.ctx.limits.maxLineBytes) {
      line = Buffer.from(line).subarray(0, this.ctx.limits.maxLineBytes).toString('utf8');
      this.#s.lines_truncated++;
    }
    this.#remember(line);
    const attributes = parsePrintfFields(line, this.info.fields);
    const pid = attributes.pid;
    const time = this.#eventTime(attributes.time_, now);
    attributes['bpftrace.script'] = this.spec.name;
    this.ctx.emit({
      timeUnixNano: time,
      observedTimeUnixNano: now,
      severity: SEVERITY.info,
      body: line,
      attributes,
      resource: typeof pid === 'number' && pid > 0 ? this.ctx.processResource(pid) : this.ctx.hostResource,
    });
  }

  /** Pixie's `time_` field (bpftrace's nsecs, boot-relative) as the record's time, when plausible. */
  #eventTime(v: unknown, now: bigint): bigint {
    if (typeof v !== 'number' && typeof v !== 'string') return now;
    let ns: bigint;
    try {
      ns = this.ctx.toWallNs(BigInt(v));
    } catch {
      return now;
    }
    return ns > now - DAY_NS && ns < now + DAY_NS ? ns : now;
  }

  /** The line rate limit; seconds spent over it in a row make the script a runaway. */
  #withinRate(): boolean {
    const second = Math.floor(Date.now() / 1000);
    const r = this.#rate;
    if (second !== r.second) {
      r.overSeconds = r.overThisSecond && second === r.second + 1 ? r.overSeconds + 1 : 0;
      r.second = second;
      r.lines = 0;
      r.overThisSecond = false;
    }
    if (++r.lines <= this.ctx.limits.maxLinesPerSecond) return true;
    this.#s.lines_dropped_rate++;
    if (!r.overThisSecond) {
      r.overThisSecond = true;
      if (r.overSeconds + 1 >= this.ctx.limits.runawaySeconds && !this.#stopping) {
        void this.stop(`runaway: over ${this.ctx.limits.maxLinesPerSecond} lines/s for ${this.ctx.limits.runawaySeconds} s (${this.#s.lines_dropped_rate} lines dropped)`)
          .then(() => this.#setState('failed', this.#reason));
      }
    }
    return false;
  }

  #remember(text: string): void {
    this.#recent.push({ time: new Date().toISOString(), text });
    if (this.#recent.length > RECENT_LINES) this.#recent.shift();
  }

  #setState(state: ScriptState, reason?: string): void {
    const previous = this.#state;
    this.#state = state;
    this.#reason = state === 'running' || state === 'starting' ? undefined : reason;
    if (state !== 'starting') {
      const waiting = this.#firstOutcome;
      this.#firstOutcome = [];
      for (const resolve of waiting) resolve(this.status());
    }
    if (previous !== state || reason !== undefined) this.ctx.onStateChange(this, previous);
  }

  #clearTimers(): void {
    if (this.#ttlTimer !== null) clearTimeout(this.#ttlTimer);
    if (this.#restartTimer !== null) clearTimeout(this.#restartTimer);
    this.#ttlTimer = null;
    this.#restartTimer = null;
  }

  #now(): bigint {
    return this.ctx.now?.() ?? BigInt(Date.now()) * 1_000_000n;
  }
}
