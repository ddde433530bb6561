// The dynlog collector: functions of running Go programs logged call by call. One BPF object for
// every probe (bpf/dynlog.bpf.c); each function gets uprobes on its entry and every RET of its
// binary (uprobes follow the file, so processes started later are traced too), with its capture
// plans in dl_plans under the attachments' cookies. Each call becomes one log record,
// `lantern.function.call`, with the arguments and results typed, its duration and goroutine.
import { realpathSync } from 'node:fs';
import { type BpfMap, type BpfObject, type Link, RingBufferConsumer, codec } from 'libbpf-ts';
import type { SpanTagResolver } from '../profiler/span-tags.js';
import { LanternError } from '../../errors.js';
import { SEVERITY, type LogRecordData } from '../../model/log.js';
import type { AttributeValue } from '../../model/span.js';
import { loadLanternObject, readCounters } from '../bpf-object.js';
import { type Collector, type CollectorContext, filterSettings } from '../collector.js';
import { LinkCloser } from '../link-closer.js';
import { type FunctionProbe, analyzeFunction } from './analyze.js';
import { type Call, CallPairer } from './calls.js';
import { decodeDynlogEvent, decodeValue } from './decode.js';
import { PLAN_BYTES, encodePlan } from './layout.js';
import { MAX_BOUND } from './plan.js';
import { parseProbeSpec } from './spec.js';
import { ProbesDirectory } from '../probes-dir.js';
import { type SpanTagMaps, reuseSpanTagMaps, setSpanTagging, spanTagMapsOf } from '../span-tag-maps.js';
import { parse as parseYaml } from 'yaml';

export interface FunctionProbeSpec {
  /** Unique name (default: the function's). */
  name?: string;
  /** The program: a binary path (every process running it), or a process (and its descendants). */
  binary?: string;
  pid?: number;
  function: string;
  /** Expressions over the arguments; default: every argument. */
  args?: string[];
  returns?: boolean;
  /** Bytes kept per string or slice (default 256, at most 512). */
  bound?: number;
  /** Calls logged per second; the excess is counted (default 1000). */
  maxPerSecond?: number;
  /** Removed after this long (seconds). */
  ttlSeconds?: number;
}

export interface FunctionProbeStatus {
  name: string;
  function: string;
  binary: string;
  goVersion: string;
  returnSites: number;
  arguments: string[];
  results: string[];
  calls: number;
  droppedRate: number;
  expiresAt?: string;
}

interface ActiveProbe {
  id: number;
  name: string;
  spec: FunctionProbeSpec;
  fn: FunctionProbe;
  links: Link[];
  cookies: bigint[];
  bucket: { second: number; n: number };
  calls: number;
  droppedRate: number;
  ttl: NodeJS.Timeout | null;
  expiresAt?: Date;
}

interface AwaitingSpan {
  record: LogRecordData;
  pid: number;
  tag: bigint;
  until: number;
}

const CTR_SLOTS = 4;
/** How long a call made while serving an exchange waits for that exchange's span. */
const SPAN_WAIT_MS = 3000;
const MAX_AWAITING_SPAN = 4096;

export class DynlogCollector implements Collector {
  readonly name = 'dynlog';
  #ctx: CollectorContext | null = null;
  #obj: BpfObject | null = null;
  #consumer: RingBufferConsumer | null = null;
  #filterLinks: Link[] = [];
  readonly #closer = new LinkCloser();
  #dir: ProbesDirectory | null = null;
  #sharedTags: SpanTagMaps | null = null;
  #spanTags: SpanTagResolver | undefined;
  /** Calls whose thread served an exchange whose span is not built yet (it ends after the call). */
  #awaitingSpan: AwaitingSpan[] = [];
  #spanTimer: NodeJS.Timeout | null = null;
  readonly #probes = new Map<number, ActiveProbe>();
  readonly #pairer = new CallPairer();
  #nextId = 1;
  /** Totals over every probe, removed ones included. */
  #s = { records: 0, malformed: 0, unknownProbe: 0, calls: 0, droppedRate: 0, callsInSpan: 0, spanUnresolved: 0 };
  #final: Record<string, number> | null = null;

  /** Before start: the profiler's span tag maps, to read the same tags the socket tracer writes. */
  shareSpanTagMaps(maps: SpanTagMaps): void {
    this.#sharedTags = maps;
  }

  /** This object's span tag maps (its own when no profiler shared them), for the socket tracer; null before start. */
  spanTagMaps(): SpanTagMaps | null {
    return this.#obj === null ? null : spanTagMapsOf(this.#obj);
  }

  /** Which span a (pid, tag) became: calls made while serving an exchange get its trace and span ids. */
  setSpanTagResolver(resolver: SpanTagResolver | undefined): void {
    this.#spanTags = resolver;
  }

  async start(ctx: CollectorContext): Promise<void> {
    this.#ctx = ctx;
    const obj = loadLanternObject('dynlog', filterSettings(ctx), (o) => {
      if (this.#sharedTags !== null) reuseSpanTagMaps(o, this.#sharedTags);
    });
    this.#obj = obj;
    this.#filterLinks = obj.programs().filter((p) => p.name.startsWith('filter_')).map((p) => p.attach());
    this.#consumer = new RingBufferConsumer([obj.map('dynlog_events')], {
      // bpf/dynlog.bpf.c submits with wake-ups: no sweep of a quiet ring every 10 ms (as process's).
      pollMs: 1000,
      onBatch: (batch) => batch.forEach((view, off, len) => this.#record(view, off, len)),
      onError: (e) => ctx.log.warn('dynlog: record handling failed', { error: String(e) }),
    });
    const dir = ctx.config.probesDir;
    if (dir !== undefined) {
      this.#dir = new ProbesDirectory(dir, {
        pattern: /^([A-Za-z0-9][A-Za-z0-9._-]{0,62})\.ya?ml$/,
        kind: 'function probe',
        start: async (name, text) => {
          this.add(parseProbeSpec(name, parseYaml(text)));
        },
        stop: async (name) => {
          this.remove(name);
        },
      }, ctx.log);
      await this.#dir.start();
    }
  }

  /** Whether any function is probed now. */
  get probing(): boolean {
    return this.#probes.size > 0;
  }

  /** Probes a function; throws a DynlogError (analysis) or LanternError (attach) saying why not. */
  add(spec: FunctionProbeSpec): FunctionProbeStatus {
    const obj = this.#obj;
    const ctx = this.#ctx;
    if (obj === null || ctx === null) throw new LanternError('LANTERN_ERR_NOT_AVAILABLE', 'the dynlog collector is not running');
    const binary = spec.binary ?? (spec.pid !== undefined ? exeOf(spec.pid) : undefined);
    if (binary === undefined) throw new LanternError('LANTERN_ERR_USAGE', 'give the program: --binary PATH or --pid PID');
    const name = spec.name ?? spec.function;
    if ([...this.#probes.values()].some((p) => p.name === name)) throw new LanternError('LANTERN_ERR_USAGE', `a probe named ${name} exists already`);
    const bound = Math.min(MAX_BOUND, Math.max(1, spec.bound ?? 256));
    const fn = analyzeFunction(binary, spec.function, { ...(spec.args !== undefined ? { args: spec.args } : {}), returns: spec.returns === true, bound });
    const id = this.#nextId++;
    const plans = obj.map('dl_plans', codec.u64, codec.bytes(PLAN_BYTES));
    const entryCookie = BigInt(id) << 1n;
    const returnCookie = entryCookie | 1n;
    plans.set(entryCookie, encodePlan({ probeId: id, isReturn: false, goidOffset: fn.goidOffset, captures: fn.entry.flatMap((v) => v.captures) }));
    plans.set(returnCookie, encodePlan({ probeId: id, isReturn: true, goidOffset: fn.goidOffset, captures: fn.returns.flatMap((v) => v.captures) }));
    const prog = obj.program('dynlog_probe');
    const links: Link[] = [];
    try {
      // Never uretprobes on Go: the runtime moves goroutine stacks, and a hijacked return address breaks it.
      links.push(prog.attachUprobe({ binaryPath: binary, offset: fn.entryOffset, cookie: entryCookie }));
      for (const off of fn.returnOffsets) links.push(prog.attachUprobe({ binaryPath: binary, offset: off, cookie: returnCookie }));
    } catch (e) {
      for (const l of links) l.close();
      plans.delete(entryCookie);
      plans.delete(returnCookie);
      throw new LanternError('LANTERN_ERR_COLLECTOR', `${spec.function} in ${binary}: ${(e as Error).message}`, { cause: e });
    }
    const probe: ActiveProbe = { id, name, spec, fn, links, cookies: [entryCookie, returnCookie], bucket: { second: 0, n: 0 }, calls: 0, droppedRate: 0, ttl: null };
    if (spec.ttlSeconds !== undefined) {
      probe.expiresAt = new Date(Date.now() + spec.ttlSeconds * 1000);
      probe.ttl = setTimeout(() => {
        if (this.remove(name)) ctx.log.info('function probe removed: its time to live expired', { probe: name, ttlSeconds: spec.ttlSeconds });
      }, spec.ttlSeconds * 1000);
      probe.ttl.unref();
    }
    this.#probes.set(id, probe);
    this.#tagWhileProbing();
    ctx.log.info('function probed', { probe: name, function: spec.function, binary, returnSites: fn.returnOffsets.length, arguments: fn.entry.map((v) => v.attribute) });
    return this.#status(probe);
  }

  remove(name: string): boolean {
    const p = [...this.#probes.values()].find((x) => x.name === name);
    if (p === undefined) return false;
    this.#detach(p);
    return true;
  }

  list(): FunctionProbeStatus[] {
    return [...this.#probes.values()].map((p) => this.#status(p));
  }

  async stop(): Promise<void> {
    this.#dir?.stop();
    for (const p of this.#probes.values()) this.#detach(p);
    this.#closer.close(this.#filterLinks);
    this.#filterLinks = [];
    await this.#closer.settled();
    await this.#consumer?.closeAndFlush();
    this.#retrySpans(true);
    this.#final = this.stats();
    this.#obj?.close();
    this.#obj = null;
  }

  stats(): Record<string, number> {
    if (this.#final !== null) return this.#final;
    const k = this.#obj !== null ? safeCounters(this.#obj) : [];
    const c = this.#consumer?.stats();
    return {
      probes: this.#probes.size, bpf_attachments: [...this.#probes.values()].reduce((n, p) => n + p.links.length, 0), kernel_hits: Number(k[0] ?? 0n), kernel_no_plan: Number(k[1] ?? 0n), lost_ringbuf_full: Number(k[2] ?? 0n),
      read_failures: Number(k[3] ?? 0n), lost_js_queue_full: c?.droppedRecords ?? 0, records_in: this.#s.records, records_malformed: this.#s.malformed,
      calls: this.#s.calls, calls_dropped_rate: this.#s.droppedRate, calls_unknown_probe: this.#s.unknownProbe,
      calls_in_span: this.#s.callsInSpan, calls_span_unresolved: this.#s.spanUnresolved, returns_unmatched: this.#pairer.stats.unmatchedReturns, entries_evicted: this.#pairer.stats.evictedEntries,
      calls_open: this.#pairer.open,
    };
  }

  #detach(p: ActiveProbe): void {
    if (p.ttl !== null) clearTimeout(p.ttl);
    // Its plans go once none of its probes can fire any more (a probe without a plan is counted).
    const cookies = p.cookies;
    this.#closer.close(p.links, () => {
      const plans = this.#obj?.map('dl_plans', codec.u64, codec.bytes(PLAN_BYTES));
      for (const c of cookies) plans?.delete(c);
    });
    p.links = [];
    this.#probes.delete(p.id);
    this.#tagWhileProbing();
  }

  /**
   * Span tags written while a function is probed, when this object owns the maps (no profiler, which
   * reads them always): its calls are what read them then (bpf/include/span_tags.h span_tags_on).
   */
  #tagWhileProbing(): void {
    if (this.#obj === null || this.#sharedTags !== null) return;
    setSpanTagging(spanTagMapsOf(this.#obj), this.#probes.size > 0);
  }

  #record(view: DataView, off: number, len: number): void {
    this.#s.records++;
    const e = decodeDynlogEvent(view, off, len);
    if (e === null) {
      this.#s.malformed++;
      return;
    }
    const call = this.#pairer.add(e);
    if (call === null) return;
    const p = this.#probes.get(e.probeId);
    if (p === undefined) {
      this.#s.unknownProbe++;
      return;
    }
    if (!withinRate(p)) {
      this.#s.droppedRate++;
      return;
    }
    p.calls++;
    this.#s.calls++;
    const record = this.#callRecord(p, call);
    if (call.entry.spanTag !== 0n && this.#spanTags !== undefined && !this.#withSpan(record, call.entry.pid, call.entry.spanTag)) {
      // The exchange's span is built when its response is done, after this call returned.
      this.#awaitingSpan.push({ record, pid: call.entry.pid, tag: call.entry.spanTag, until: Date.now() + SPAN_WAIT_MS });
      if (this.#awaitingSpan.length > MAX_AWAITING_SPAN) this.#emit(this.#awaitingSpan.shift()!.record);
      this.#spanTimer ??= setInterval(() => this.#retrySpans(false), 100).unref();
      return;
    }
    this.#emit(record);
  }

  #emit(record: LogRecordData): void {
    this.#ctx?.sink.put({ type: 'log', log: record });
  }

  /** Sets the record's trace and span ids when the tag's span is known. */
  #withSpan(record: LogRecordData, pid: number, tag: bigint): boolean {
    const ref = this.#spanTags?.resolve(pid, tag);
    if (ref === undefined) return false;
    record.traceId = ref.traceId;
    record.spanId = ref.spanId;
    record.traceFlags = 1;
    this.#s.callsInSpan++;
    return true;
  }

  /** Calls whose span is now known leave with its ids; past the wait (or when stopping), without. */
  #retrySpans(all: boolean): void {
    const now = Date.now();
    const still: AwaitingSpan[] = [];
    for (const w of this.#awaitingSpan) {
      if (this.#withSpan(w.record, w.pid, w.tag)) this.#emit(w.record);
      else if (all || now >= w.until) {
        this.#s.spanUnresolved++;
        this.#emit(w.record);
      } else still.push(w);
    }
    this.#awaitingSpan = still;
    if (still.length === 0 && this.#spanTimer !== null) {
      clearInterval(this.#spanTimer);
      this.#spanTimer = null;
    }
  }

  #callRecord(p: ActiveProbe, call: Call): LogRecordData {
    const ctx = this.#ctx!;
    const typeName = (address: bigint): string | undefined => p.fn.typeNames.get(address);
    const attributes: Record<string, AttributeValue> = { 'code.function.name': p.fn.function };
    let slot = 0;
    for (const v of p.fn.entry) {
      Object.assign(attributes, decodeValue(v, call.entry.slots.slice(slot, slot + v.captures.length), typeName));
      slot += v.captures.length;
    }
    slot = 0;
    for (const v of p.fn.returns) {
      Object.assign(attributes, decodeValue(v, call.exit.slots.slice(slot, slot + v.captures.length), typeName));
      slot += v.captures.length;
    }
    const durationNs = call.exit.tsNs - call.entry.tsNs;
    attributes['lantern.call.duration_ns'] = Number(durationNs);
    attributes['lantern.goroutine.id'] = Number(call.entry.goid);
    attributes['thread.id'] = call.entry.tid;
    if (call.exit.tid !== call.entry.tid) attributes['lantern.return.thread.id'] = call.exit.tid;
    attributes['lantern.probe'] = p.name;
    const now = BigInt(Date.now()) * 1_000_000n;
    return {
      timeUnixNano: ctx.clock.toWallNs(call.entry.tsNs), observedTimeUnixNano: now, severity: SEVERITY.info,
      eventName: 'lantern.function.call', body: callText(p, attributes, durationNs), attributes, resource: ctx.metadata.resource(call.entry.pid),
    };
  }

  #status(p: ActiveProbe): FunctionProbeStatus {
    return {
      name: p.name, function: p.fn.function, binary: p.fn.binary, goVersion: p.fn.goVersion, returnSites: p.fn.returnOffsets.length,
      arguments: p.fn.entry.map((v) => v.attribute), results: p.fn.returns.map((v) => v.attribute), calls: p.calls, droppedRate: p.droppedRate,
      ...(p.expiresAt !== undefined ? { expiresAt: p.expiresAt.toISOString() } : {}),
    };
  }
}

/** "main.Add(a=2, b=40) → 42 (3.1µs)": the record's body, for people reading logs. */
function callText(p: ActiveProbe, a: Record<string, AttributeValue>, durationNs: bigint): string {
  const args = p.fn.entry.map((v) => `${v.attribute.slice('lantern.arg.'.length)}=${show(a[v.attribute])}`).join(', ');
  const results = p.fn.returns.map((v) => show(a[v.attribute])).join(', ');
  const us = Number(durationNs) / 1000;
  return `${p.fn.function}(${args})${p.fn.returns.length > 0 ? ` → ${results}` : ''} (${us < 1000 ? `${us.toFixed(1)}µs` : `${(us / 1000).toFixed(2)}ms`})`;
}

function show(v: AttributeValue | undefined): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}…` : v);
  if (Array.isArray(v)) return `[${v.join(' ')}]`;
  return String(v);
}

function withinRate(p: ActiveProbe): boolean {
  const second = Math.floor(Date.now() / 1000);
  if (second !== p.bucket.second) p.bucket = { second, n: 0 };
  if (++p.bucket.n <= (p.spec.maxPerSecond ?? 1000)) return true;
  p.droppedRate++;
  return false;
}

function exeOf(pid: number): string {
  try {
    return realpathSync(`/proc/${pid}/exe`);
  } catch (e) {
    throw new LanternError('LANTERN_ERR_USAGE', `process ${pid}: ${(e as Error).message}`);
  }
}

function safeCounters(obj: BpfObject): bigint[] {
  try {
    return readCounters(obj, CTR_SLOTS);
  } catch {
    return [];
  }
}
