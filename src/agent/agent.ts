// The agent's wiring: collectors → records → exporters, started and stopped in one place.
import type { AgentConfig, CollectorName } from '../config/schema.js';
import { isLocalMode } from '../config/schema.js';
import { LanternError } from '../errors.js';
import type { Collector } from '../collectors/collector.js';
import { availableCollectors, createCollector } from '../collectors/registry.js';
import { SupervisedCollector, type SupervisorBackoff } from './collector-supervisor.js';
import { OtlpFileWriter } from '../export/otlp-file.js';
import { ProfileExporter } from '../export/pprof-exporter.js';
import { DEFAULT_EXPORTER_OPTIONS, TelemetryExporter, type TelemetryExporterOptions } from '../export/telemetry-exporter.js';
import type { Logger } from '../log.js';
import { ProcessMetadata } from '../metadata/process-metadata.js';
import { KernelClock } from '../model/clock.js';
import type { AgentRecord, RecordSink } from '../model/records.js';
import { LocalView } from '../server/local-view.js';
import { ProfileView } from '../server/profile-view.js';
import { processEventToLogRecord } from '../semconv/process.js';
import { type ControlServer, startControlServer } from '../server/server.js';
import { BpftraceCollector } from '../collectors/bpftrace/collector.js';
import type { BpftraceScripts } from '../collectors/bpftrace/scripts.js';
import { DynlogCollector } from '../collectors/dynlog/collector.js';
import { seriesToResourceMetrics } from '../export/metric-data.js';
import { selfMetricFamilies } from '../export/prometheus-self-metrics.js';
import { encodePrometheusText } from '../export/prometheus-text.js';
import type { LogRecordData } from '../model/log.js';
import type { MetricSeries } from '../model/metric.js';
import { RecentLogs } from '../server/recent-logs.js';
import { IDLE_SERVICE, KERNEL_SERVICE, ProfilerCollector } from '../collectors/profiler/collector.js';
import { GRPC_EXPORT_METHOD, GrpcExportTransport } from '../export/otlp-exporters.js';
import { resolveProfileExport } from '../export/otlp-endpoints.js';
import { HttpExportTransport } from '../export/otlp-http-transport.js';
import type { ProfileOtlpOptions } from '../export/pprof-exporter.js';
import type { ProfileResourceOf } from '../export/otlp-profiles.js';
import { SocketsCollector } from '../collectors/sockets/collector.js';
import { ExchangePipeline, type TelemetrySink } from './exchange-pipeline.js';
import { SpanShedder } from './span-shedder.js';
import { SpanTagIndex } from './span-tags.js';
import { FreeMemoryReleaser } from './memory-release.js';
import { OldSpaceBound } from './old-space-bound.js';
import { FollowedConnections } from '../model/link-part.js';
import { preflight } from './preflight.js';
import { baseAttributes } from './resource.js';
import type { UrlTemplater } from '../semconv/url-template.js';
import { conventionOptions, redactionOf, urlTemplaterOf } from './conventions.js';
import { createConventions } from '../semconv/registry.js';
import { removeTokenFile, writeTokenFile } from '../server/token-file.js';
import { ownProcessFigures } from './own-process.js';
import { IdleGuard } from 'libbpf-ts';
import { CpuPriority, canRaisePriority } from './cpu-priority.js';
import { kubernetesMetadata } from './kubernetes.js';
import type { KubernetesMetadata } from '../metadata/k8s/kubernetes-metadata.js';
import { ProcessSelection } from '../selection/process-selection.js';

export interface AgentSummary {
  records: Record<string, number>;
  collectors: Record<string, Record<string, number>>;
  pipeline: Record<string, number>;
  export: Record<string, number>;
  /** The agent's own process: CPU, memory, open descriptors (own-process.ts). */
  process: Record<string, number>;
}

/**
 * The file's queue this full (local mode) is the agent behind on its own export: taken as the JS
 * thread's pressure by the CPU priority (see reportPressure in start()).
 */
const FILE_BEHIND = 0.5;

/** Counts records per type for the summaries, then passes them on. */
class RecordFanout implements RecordSink {
  /**
   * A counter per "exchange.http1" and the like, found by kind within its type: a string made per
   * record was hashed per record, and a count kept in an object under that string was a megamorphic
   * load and store per record.
   */
  readonly #counters = new Map<string, { n: number }>();
  readonly #byKind = { process: new Map<string, { n: number }>(), exchange: new Map<string, { n: number }>() };
  constructor(private readonly next: RecordSink[]) {}

  /** Records passed on, by "type.kind" (or type alone). */
  get counts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [key, c] of this.#counters) out[key] = c.n;
    return out;
  }

  put(record: AgentRecord): void {
    this.#counterOf(record).n++;
    for (const n of this.next) n.put(record);
  }

  #counterOf(record: AgentRecord): { n: number } {
    if (record.type !== 'process' && record.type !== 'exchange') return this.#counter(record.type);
    const kind = record.type === 'process' ? record.event.kind : record.exchange.protocol;
    const byKind = this.#byKind[record.type];
    let counter = byKind.get(kind);
    if (counter === undefined) byKind.set(kind, (counter = this.#counter(`${record.type}.${kind}`)));
    return counter;
  }

  #counter(key: string): { n: number } {
    let c = this.#counters.get(key);
    if (c === undefined) this.#counters.set(key, (c = { n: 0 }));
    return c;
  }
}

/**
 * Process selection's user-space half: an exec is judged before anything after it, and records of a
 * process it excludes go no further (those of the moment between its exec and the kernel map's update).
 */
class SelectedRecords implements RecordSink {
  constructor(private readonly selection: ProcessSelection, private readonly next: RecordSink) {}
  put(record: AgentRecord): void {
    const pid = record.type === 'exchange' ? record.exchange.connection.pid : record.type === 'process' ? record.event.pid : null;
    if (record.type === 'process' && record.event.kind === 'exec') this.selection.onExec(record.event.pid, record.event.comm);
    if (pid !== null && !this.selection.traced(pid)) this.selection.noteDropped();
    else this.next.put(record);
    if (record.type === 'process' && record.event.kind === 'exit') this.selection.onExit(record.event.pid);
  }
}

/** "collectors.sockets.records_in" → n: the summary as flat counters for self-metrics. */
export function flattenSummary(s: AgentSummary): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(s.records)) out[`records.${k}`] = v;
  for (const [c, stats] of Object.entries(s.collectors)) for (const [k, v] of Object.entries(stats)) out[`collectors.${c}.${k}`] = v;
  for (const [k, v] of Object.entries(s.pipeline)) out[`pipeline.${k}`] = v;
  for (const [k, v] of Object.entries(s.export)) out[`export.${k}`] = v;
  for (const [k, v] of Object.entries(s.process)) out[`process.${k}`] = v;
  return out;
}

/** What tests (and embedders) may change in the agent's wiring. */
export interface AgentOptions {
  /** Makes a collector by name (default: the registry's); null: not in this build. */
  createCollector?: (name: string, config: AgentConfig) => Collector | null;
  supervisorBackoff?: Partial<SupervisorBackoff>;
}

/** The exporter's limits from the `export` section. */
function exporterOptions(config: AgentConfig): Partial<TelemetryExporterOptions> {
  const q = config.export.queueSize;
  const d = DEFAULT_EXPORTER_OPTIONS.spanQueue;
  // A queue_size raised past the default raises the bound of bytes in proportion.
  const capacityBytes = Math.max(d.capacityBytes!, Math.ceil((q / d.capacity) * d.capacityBytes!));
  return {
    spanQueue: { ...d, capacity: q, capacityBytes, maxBatch: Math.min(d.maxBatch, q) },
    shutdownTimeoutMs: config.export.shutdownTimeoutMs,
    ...(config.export.diskBuffer !== undefined ? { diskBuffer: config.export.diskBuffer } : {}),
  };
}

/** Waits for `p`, but not past `deadline` (epoch ms); `late` is told when the deadline came first. */
async function untilDeadline(p: Promise<unknown>, deadline: number, late?: () => void): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const ended = await Promise.race([
    p.then(() => true, () => true),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now())))),
  ]);
  clearTimeout(timer);
  if (!ended) late?.();
}

/** OTLP profiles, when `profiler.otlp` (or OTEL_EXPORTER_OTLP_PROFILES_ENDPOINT) turns them on. */
function profileOtlp(config: AgentConfig, log: Logger, resourceOf: ProfileResourceOf): { otlp?: ProfileOtlpOptions } {
  const r = resolveProfileExport(config.profiler.otlp, config.otlp);
  if (r === null) return {};
  for (const w of r.warnings) log.warn(w);
  const transport = r.protocol === 'grpc' ? new GrpcExportTransport(r, GRPC_EXPORT_METHOD.profiles, log) : new HttpExportTransport(r);
  return { otlp: { url: r.url, transport, resourceOf } };
}

export class Agent {
  /** Every configured collector, each restarted with backoff when it fails. */
  #supervised: SupervisedCollector[] = [];
  #file: OtlpFileWriter | null = null;
  /** Process exec/exit events → OTel events. */
  readonly #logs: RecordSink;
  readonly #fanout: RecordFanout;
  readonly #selected: SelectedRecords;
  /** Which processes are traced: the `selection` rules and --pid, for every collector. */
  readonly #selection: ProcessSelection;
  readonly #metadata: ProcessMetadata;
  /** Pods of this node and the cluster's Services, when Kubernetes is there (kubernetes.ts). */
  readonly #k8s: KubernetesMetadata | null;
  readonly #pipeline: ExchangePipeline;
  /** TCP connections the socket tracker follows, for the span linker: shared by every tracker the sockets collector (re)starts. */
  readonly #followed = new FollowedConnections();
  readonly #exporter: TelemetryExporter;
  readonly #view = new LocalView();
  readonly #profileView = new ProfileView();
  readonly #profiles: ProfileExporter;
  readonly #extraSinks: TelemetrySink[] = [];
  readonly #recentLogs = new RecentLogs();
  /** Kept at hand: asked once per span whether any function is probed. */
  #dynlog: DynlogCollector | null = null;
  readonly #logListeners: Array<(record: LogRecordData) => void> = [];
  /** Which server span a thread tag stands for, for the profiler's span labels. */
  readonly #spanTags: SpanTagIndex;
  /** Gives free memory back at a steady pace: the exporter's unused spares, then the C allocator's. */
  readonly #memory = new FreeMemoryReleaser(() => this.#exporter.releaseSpares());
  /** Keeps V8's old generation near its live size under load (made at start: it turns on --expose-gc). */
  #oldSpace: OldSpaceBound | null = null;
  /** Kernel timestamps → wall clock, for every collector; the span tags convert back with it. */
  readonly #clock = new KernelClock();
  /** Which spans are exported when there are more than the agent can afford (metrics never shed). */
  readonly #shedder: SpanShedder;
  /** Yields the CPU to applications while the agent keeps up (config `nice`: idle by default; 0: off). */
  readonly #priority: CpuPriority | null;
  /** With `nice: idle`: takes the agent's threads back when CPU-bound work starves them. */
  readonly #idleGuard: IdleGuard | null;
  #server: ControlServer | null = null;
  #summaryTimer: NodeJS.Timeout | null = null;
  #stopped: AgentSummary | null = null;
  /** url.template guessing, per resource up to its limit (its counts go in the pipeline's summary). */
  readonly #urlTemplates: UrlTemplater | undefined;

  constructor(
    private readonly config: AgentConfig,
    private readonly log: Logger,
    private readonly options: AgentOptions = {},
  ) {
    const base = baseAttributes(config);
    // The configuration's secret names apply to command lines and spans alike.
    const redaction = redactionOf(config);
    this.#urlTemplates = urlTemplaterOf(config);
    this.#k8s = kubernetesMetadata(config, log);
    const k8s = this.#k8s;
    this.#metadata = new ProcessMetadata({ base, redaction, ...(k8s !== null ? { pods: k8s } : {}) });
    this.#selection = new ProcessSelection({ selection: config.selection, pids: config.pids, log, ...(k8s !== null ? { pods: k8s.pods } : {}) });
    if (config.otlp.file !== undefined) this.#file = new OtlpFileWriter(config.otlp.file);
    // ProcessMetadata already puts the base attributes on every resource.
    this.#exporter = new TelemetryExporter(config, log, this.#file, { baseResourceAttributes: {}, ...exporterOptions(config) });
    this.#logs = {
      put: (r) => {
        if (r.type === 'log') this.#emitLog(r.log);
        else if (r.type === 'process') this.#emitLog(processEventToLogRecord(r.event, this.#metadata.eventResource(r.event), BigInt(Date.now()) * 1_000_000n));
      },
    };
    // Maps of bpftrace scripts (and any collector's own series) leave with every metrics export.
    this.#exporter.addMetricSource(() => seriesToResourceMetrics(this.metricSeries(), (r) => this.#exporter.resource(r)));
    // The local view is not a sink: it gets spans as they are built, and counts shed ones too (below).
    const sinks: TelemetrySink[] = [
      { spans: (s) => this.#exporter.exportSpans(s), histograms: (p) => this.#exporter.recordHistograms(p) },
      { spans: (s) => this.#extraSinks.forEach((x) => x.spans(s)), histograms: (p) => this.#extraSinks.forEach((x) => x.histograms(p)) },
    ];
    // Kept for two profiler intervals: the profiler resolves tags when it drains, after the samples.
    this.#spanTags = new SpanTagIndex({ retentionMs: 2 * config.profiler.intervalSeconds * 1000 + 10_000, clockOffsetNs: this.#clock.offsetNs });
    // Span tags (which exchange a thread serves) for span-aware profiles, and for function calls
    // while a function is probed (dynlog runs by default, mostly without probes: no cost then).
    const profiling = config.collectors.includes('sockets') && config.collectors.includes('profiler');
    const tagging = config.collectors.includes('sockets') && config.collectors.includes('dynlog');
    this.#shedder = new SpanShedder({ maxPerSecond: config.spans.maxPerSecond, maxCpuPercent: config.spans.maxCpuPercent, contendedCpuPercent: config.spans.contendedCpuPercent });
    // Under SCHED_IDLE the agent cannot see for itself that it is starved: its guard watches. Without
    // CAP_SYS_NICE it never yields (it could not come back), and needs none.
    this.#idleGuard = config.nice === 'idle' && canRaisePriority() ? new IdleGuard() : null;
    this.#priority = config.nice === 'idle' || config.nice > 0
      ? new CpuPriority({
        nice: config.nice,
        ...(this.#idleGuard !== null ? { guard: this.#idleGuard } : {}),
        onChange: (yielding, change, reason) => log.info(yielding ? 'cpu priority: yielding to applications' : 'cpu priority: back to full share', { reason, ...change }),
        // Back for want of CPU, or tasks waiting for one at its full share: what the agent takes now
        // is the applications', its spans held to a budget.
        onContended: (contended, reason, ownCores) => {
          this.#shedder.contended(contended, ownCores);
          if (config.spans.contendedCpuPercent <= 0) return;
          if (contended) log.info('cpu priority: the host has no CPU to spare, spans held to the contended CPU budget', { contended_cpu_percent: config.spans.contendedCpuPercent, reason });
          else log.info('cpu priority: contended CPU budget lifted', { reason });
        },
      })
      : null;
    this.#pipeline = new ExchangePipeline({
      metadata: this.#metadata, sinks, shedder: this.#shedder, followed: this.#followed, conventions: createConventions({ ...conventionOptions(config, redaction, this.#urlTemplates), ...(k8s !== null ? { peerName: (ip: string) => k8s.peerName(ip) } : {}) }),
      onSpan: (ex, span) => {
        this.#view.addSpan(span);
        if (profiling || (tagging && this.#dynlog?.probing === true)) this.#spanTags.note(ex, span);
      },
      onReleased: (spans) => this.#spanTags.settle(spans),
      // Shed spans still count in the local view's RED (profiles point only at exported spans).
      onShed: (_ex, points, span) => (span !== null ? this.#view.countSpan(span) : this.#view.countPoints(points)),
    });
    this.#exporter.setSelfMetrics(
      { key: `lantern:${process.pid}`, attributes: { ...base, 'service.name': config.serviceName, 'process.pid': process.pid, 'process.executable.name': 'lantern' } },
      () => flattenSummary(this.summary()),
    );
    this.#profiles = new ProfileExporter({ outputDir: config.profiler.outputDir, pyroscope: config.profiler.pyroscope, view: this.#profileView, log,
      ...profileOtlp(config, log, (pid, service) => (pid === 0 || service === IDLE_SERVICE || service === KERNEL_SERVICE
        ? { 'service.name': service } : this.#metadata.resource(pid).attributes)) });
    this.#fanout = new RecordFanout([this.#logs, this.#pipeline, this.#profiles]);
    this.#selected = new SelectedRecords(this.#selection, this.#fanout);
  }

  #emitLog(record: LogRecordData): void {
    this.#exporter.exportLogs([record]);
    this.#recentLogs.add(record);
    for (const l of this.#logListeners) l(record);
  }

  /** Receives every log record too (`lantern bpftrace` prints them). */
  onLog(listener: (record: LogRecordData) => void): void {
    this.#logListeners.push(listener);
  }

  /** The collectors running now (one that failed is back once its restart succeeds). */
  get #collectors(): Collector[] {
    return this.#supervised.flatMap((s) => s.collector ?? []);
  }

  /** The bpftrace collector's scripts, null when it does not run. */
  get bpftraceScripts(): BpftraceScripts | null {
    return this.#collectors.find((c): c is BpftraceCollector => c instanceof BpftraceCollector)?.scripts ?? null;
  }

  /** The dynlog collector (functions of Go programs logged call by call), null when it does not run. */
  get dynlog(): DynlogCollector | null {
    return this.#dynlog;
  }

  /**
   * The series collectors keep themselves (bpftrace maps), as of now. Also of collectors that have
   * stopped: the final metrics export and `lantern bpftrace` read the maps bpftrace printed at exit.
   */
  metricSeries(): MetricSeries[] {
    const now = BigInt(Date.now()) * 1_000_000n;
    return this.#supervised.flatMap((s) => s.latest?.metricSeries?.(now) ?? []);
  }

  /** Receives every span and metric point too (tests, embedding). */
  addTelemetrySink(sink: TelemetrySink): void {
    this.#extraSinks.push(sink);
  }

  get localView(): LocalView {
    return this.#view;
  }

  /** The latest CPU profile per service (profiler collector). */
  get profileView(): ProfileView {
    return this.#profileView;
  }

  /** Where the control API listens (http://127.0.0.1:4590), null while it is not serving. */
  get controlUrl(): string | null {
    return this.#server?.url ?? null;
  }

  /** The control API's bearer token (in-process callers; others read server.token_file), null while it is not serving. */
  get controlToken(): string | null {
    return this.#server?.token ?? null;
  }

  async start(): Promise<void> {
    const missing = this.config.collectors.filter((c) => !availableCollectors().includes(c));
    if (missing.length > 0) {
      throw new LanternError('LANTERN_ERR_NOT_AVAILABLE',
        `collector${missing.length > 1 ? 's' : ''} ${missing.join(', ')} not available yet (this build has: ${availableCollectors().join(', ')})`);
    }
    preflight(this.log);
    // Before the collectors: the pod list is in by the time most processes are first read.
    this.#k8s?.start();
    // Every process judged before the first BPF object loads: the objects start with the decisions.
    this.#selection.start();
    const ctx = {
      config: this.config, log: this.log, clock: this.#clock, sink: this.#selected, metadata: this.#metadata, selection: this.#selection,
      reportPressure: (p: number, lost?: boolean, lagMs?: number) => {
        // The tighter of the two backlogs: towards the JS thread, and from it towards the exporters.
        const exported = this.#exporter.spanExportBacklog();
        const pressure = Math.max(p, exported.pressure);
        this.#shedder.reportPressure(pressure, lost);
        // Less the spans kept and not yet in the queues (in the linker, or released after the last
        // batch): several batches may come in one turn, each told the room the first one found.
        this.#shedder.exportRoom(exported.room - this.#pipeline.spansOnTheirWay);
        // The file's backlog past half its queue is the agent's own work falling behind too:
        // yielding, it comes back for it before the shedder (averaging) sheds for it. Under
        // SCHED_IDLE beside nginx at 50k req/s and a Go load tool, the file's queue filled to
        // 0.65-0.88 at the load's onset and 0.2-2 % of the spans were shed while the JS thread's own
        // queue stayed under a fifth; at --nice 0, none. Below half, the queue holds the next batch
        // as it fills (4,096 spans, a quarter of it: at a steady 10k spans/s, every 0.4 s).
        this.#priority?.reportPressure(exported.pressure >= FILE_BEHIND ? pressure : p, lost, lagMs);
      },
      spanShare: () => this.#shedder.share,
      spanShareNow: () => this.#shedder.shareNow,
      offeredInKernel: (n: number) => this.#shedder.offeredInKernel(n),
      followedConnections: this.#followed,
      ...(this.#idleGuard !== null ? { watchRing: (ring: { readonly fd: number }) => this.#idleGuard!.watchRing(ring) } : {}),
    };
    // The profiler starts first, then dynlog: the socket tracer tags serving threads in the map of
    // the first of them (which the other reuses), so both must be loaded before it.
    const rank = (n: string): number => (n === 'profiler' ? 0 : n === 'dynlog' ? 1 : 2);
    const names = [...this.config.collectors].sort((a, b) => rank(a) - rank(b));
    const create = this.options.createCollector ?? createCollector;
    let started = 0;
    for (const name of names) {
      let first = create(name as CollectorName, this.config);
      if (first === null) continue; // tls: part of sockets
      const s = new SupervisedCollector({
        name, ctx, log: this.log, ...(this.options.supervisorBackoff !== undefined ? { backoff: this.options.supervisorBackoff } : {}),
        create: () => {
          const c = first ?? create(name as CollectorName, this.config) as Collector;
          first = null;
          return c;
        },
        prepare: (c) => this.#wireSpanTags(c),
        started: (c) => {
          if (c instanceof DynlogCollector) this.#dynlog = c;
        },
      });
      this.#supervised.push(s);
      if (await s.start()) started++;
    }
    // Not one collector could start (no privileges, no BTF...): nothing would ever be traced.
    if (started === 0 && this.#supervised.length > 0) {
      const why = this.#supervised.map((s) => `collector ${s.name}: ${s.lastError ?? 'failed'}`).join('; ');
      await this.stop();
      throw new LanternError('LANTERN_ERR_COLLECTOR', why);
    }
    const where = this.config.pids.length > 0 ? `pids ${this.config.pids.join(', ')} and their descendants` : 'every process';
    const sel = this.config.selection;
    this.log.info(`tracing ${where} (agent pid ${process.pid} excluded)`, {
      include_rules: sel.include.length, exclude_rules: sel.exclude.length, default_excludes: sel.defaultExcludes, ...this.#selection.stats(),
    });
    await this.#startServer();
    // Start-up's garbage (the first scans of every process, BPF objects and BTF loaded) given back
    // now rather than at the first periodic release, which a load starting at once would overlap.
    this.#memory.releaseNow();
    this.#memory.start();
    this.#oldSpace ??= new OldSpaceBound();
    this.#oldSpace.start();
    // Start-up's work is done (what remains of it goes on in the background): from now on the agent's
    // CPU counts against spans.max_cpu_percent (and while contended, spans.contended_cpu_percent).
    this.#shedder.armCpuBudget();
    // Yielding the CPU begins once start-up is over: under SCHED_IDLE beside CPU-bound neighbours the
    // agent got no CPU to start at all (its BPF objects not loaded 30 s later).
    if (this.#priority !== null && !this.#priority.start()) this.log.info('cpu priority: not yielding (no nicer value than the start\'s, or no CAP_SYS_NICE to come back)', { nice: this.config.nice });
    if (isLocalMode(this.config)) {
      this.log.info('local mode: no OTLP endpoint configured (set --otlp-endpoint or OTEL_EXPORTER_OTLP_ENDPOINT to export)');
      this.#summaryTimer = setInterval(() => this.#printSummary(), 10_000).unref();
    } else {
      this.log.info('exporting over OTLP', this.#exporter.describe());
    }
    if (this.#file !== null) this.log.info('writing OTLP JSON lines', { file: this.#file.path });
    if (this.config.collectors.includes('profiler')) this.log.info('CPU profiles', this.#profiles.describe());
  }

  /**
   * Span-aware profiles and function calls: samples and calls of a thread serving a request (any
   * protocol with server spans) get that request's span ids. One `thread_tags` map: the profiler's, else dynlog's.
   */
  #wireSpanTags(c: Collector): void {
    const profiler = this.#collectors.find((x): x is ProfilerCollector => x instanceof ProfilerCollector);
    const dynlog = this.#dynlog;
    const tags = profiler?.spanTagMaps() ?? dynlog?.spanTagMaps() ?? null;
    if (c instanceof DynlogCollector) {
      const shared = profiler?.spanTagMaps() ?? null;
      if (shared !== null) c.shareSpanTagMaps(shared);
      c.setSpanTagResolver(this.#spanTags);
    }
    if (tags === null || !(c instanceof SocketsCollector)) return;
    c.shareSpanTagMaps(tags);
    profiler?.setSpanTagResolver(this.#spanTags);
  }

  async #startServer(): Promise<void> {
    try {
      this.#server = await startControlServer(this.config.server, this.#view, () => ({ ...this.summary() }),
        { profiles: this.#profileView, logs: this.#recentLogs, bpftrace: () => this.bpftraceScripts, dynlog: () => this.dynlog,
          selection: (filter) => this.#selection.list(filter),
          prometheus: () => encodePrometheusText(selfMetricFamilies(flattenSummary(this.summary()))) });
      // The token is never logged (logs are collected and shipped): clients read it from a file only root can.
      const tokenFile = this.config.server.tokenFile;
      if (tokenFile === undefined) this.log.info('local view and control API', { url: this.#server.url });
      else {
        try {
          writeTokenFile(tokenFile, this.#server.token);
          this.log.info('local view and control API', { url: this.#server.url, token_file: tokenFile });
        } catch (e) {
          this.log.warn('local view and control API: token file not written (set server.token_file, or server.token to know the token)',
            { url: this.#server.url, token_file: tokenFile, error: (e as Error).message });
        }
      }
    } catch (e) {
      // The agent is useful without its API (a port clash must not stop tracing).
      this.log.warn('control API not started', { error: (e as Error).message });
    }
  }

  #printSummary(): void {
    const lines = this.#view.summaryLines();
    if (lines.length === 0) this.log.info('no spans yet', { records: this.#fanout.counts });
    for (const line of lines) this.log.info(line);
  }

  /** Detach every probe, deliver what is in flight, flush the exporters. Safe to call twice. */
  /**
   * Detach every probe, deliver what is in flight, flush the exporters, all within the shutdown
   * deadline (export.shutdown_timeout): what the backend has not taken by then is dropped and
   * counted (or written to the disk buffer). Safe to call twice.
   */
  async stop(): Promise<AgentSummary> {
    if (this.#stopped !== null) return this.#stopped;
    const deadline = Date.now() + this.config.export.shutdownTimeoutMs;
    if (this.#summaryTimer !== null) clearInterval(this.#summaryTimer);
    this.#summaryTimer = null;
    this.#memory.stop();
    this.#oldSpace?.stop();
    // The full share for the rest: the shutdown's deadline must not wait for idle CPU.
    this.#priority?.stop();
    // Probes first, and all of them: a collector whose stop hangs must not keep the others attached.
    const stopping = new Set(this.#supervised.map((s) => s.name));
    await untilDeadline(Promise.all(this.#supervised.map((s) => s.stop().finally(() => stopping.delete(s.name)))), deadline, () =>
      this.log.warn('collectors did not stop within the shutdown deadline', { collectors: [...stopping] }));
    this.#pipeline.flush();
    this.#selection.stop();
    await untilDeadline(Promise.all([this.#k8s?.stop(), this.#profiles.close()]), deadline);
    // What is left of the deadline, at least half a second for what the file sink holds.
    await this.#exporter.shutdown(Math.max(500, deadline - Date.now()));
    await this.#file?.close();
    await this.#server?.close();
    if (this.#server !== null && this.config.server.tokenFile !== undefined) {
      try {
        removeTokenFile(this.config.server.tokenFile, this.#server.token);
      } catch (e) {
        this.log.warn('token file not removed', { token_file: this.config.server.tokenFile, error: (e as Error).message });
      }
    }
    this.#stopped = this.summary();
    this.#idleGuard?.close();
    if (isLocalMode(this.config)) this.#printSummary();
    return this.#stopped;
  }

  summary(): AgentSummary {
    if (this.#stopped !== null) return this.#stopped;
    const logs = this.#exporter.logTotals();
    return {
      records: this.#fanout.counts,
      collectors: Object.fromEntries(this.#supervised.map((s) => [s.name, s.stats()])),
      pipeline: { ...this.#pipeline.stats(), ...this.#urlTemplates?.stats(), ...Object.fromEntries(Object.entries(this.#metadata.stats()).map(([k, v]) => [`metadata_${k}`, v])),
        ...Object.fromEntries(Object.entries(this.#k8s?.stats() ?? {}).map(([k, v]) => [`k8s_${k}`, v])),
        ...Object.fromEntries(Object.entries(this.#selection.stats()).map(([k, v]) => [`selection_${k}`, v])),
        view_spans_not_listed: this.#view.sampledOut },
      export: { log_records: logs.exported, log_records_dropped: logs.dropped, ...this.#exporter.stats(),
        ...Object.fromEntries(Object.entries(this.#profiles.stats()).map(([k, v]) => [`profiles_${k}`, v])) },
      process: { ...ownProcessFigures(), ...this.#memory.stats(), ...this.#oldSpace?.stats(), ...this.#priority?.stats() },
    };
  }
}
