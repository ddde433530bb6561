// Where profiles go: each ProfileRecord is encoded once (pprof, gzipped) and handed to the outputs
// configured — a directory of .pb.gz files, Pyroscope — and to the local view; with OTLP profiles
// on, also encoded as an ExportProfilesServiceRequest (otlp-profiles.ts) and sent. Losses are counted;
// the record sink never throws and never blocks.
import type { Logger } from '../log.js';
import { PROFILE_LABELS, type ProfileRecord, profileKind, totalSamples } from '../model/profile.js';
import type { AgentRecord, RecordSink } from '../model/records.js';
import type { ProfileView } from '../server/profile-view.js';
import { encodePprofGzip } from './pprof.js';
import { PprofFiles } from './pprof-files.js';
import { PyroscopeClient, type PyroscopeOptions } from './pyroscope.js';
import { type ProfileResourceOf, encodeProfilesRequest } from './otlp-profiles.js';
import type { Transport } from './transport.js';

/** OTLP profiles: an encoded ExportProfilesServiceRequest per profile, sent once (no retry: the next interval brings a new one). */
export interface ProfileOtlpOptions {
  /** For the start-up log. */
  url: string;
  transport: Transport<Uint8Array>;
  resourceOf: ProfileResourceOf;
}

export interface ProfileExporterOptions {
  outputDir?: string;
  maxFilesPerService?: number;
  pyroscope?: Omit<PyroscopeOptions, 'onStatus'>;
  view?: ProfileView;
  otlp?: ProfileOtlpOptions;
  log: Logger;
  /** Profiles being encoded or written at once; more are dropped and counted. Default 64. */
  maxPending?: number;
}

/** The container id shared by every sample, if there is exactly one. */
function soleContainer(p: ProfileRecord): string | undefined {
  let id: string | undefined;
  for (const s of p.samples) {
    const c = s.labels[PROFILE_LABELS.containerId];
    if (c === undefined || (id !== undefined && c !== id)) return undefined;
    id = c;
  }
  return id;
}

export class ProfileExporter implements RecordSink {
  readonly #o: ProfileExporterOptions;
  readonly #files: PprofFiles | null;
  readonly #pyroscope: PyroscopeClient | null;
  readonly #pending = new Set<Promise<void>>();
  readonly #stats = { profiles_in: 0, samples_in: 0, encoded_bytes: 0, encode_failures: 0, dropped_backlog: 0,
    otlp_sent: 0, otlp_sent_bytes: 0, otlp_failed: 0 };
  #otlpHealthy = true;

  constructor(opts: ProfileExporterOptions) {
    this.#o = opts;
    const log = opts.log;
    this.#files = opts.outputDir === undefined ? null : new PprofFiles({
      dir: opts.outputDir,
      maxFilesPerService: opts.maxFilesPerService,
      onStatus: (ok, detail) => (ok ? log.info('profiles: writing files again', { file: detail })
        : log.warn('profiles: cannot write profile files (counted, retried with the next profile)', { dir: opts.outputDir, error: detail })),
    });
    this.#pyroscope = opts.pyroscope === undefined ? null : new PyroscopeClient({
      ...opts.pyroscope,
      onStatus: (ok, detail) => (ok ? log.info('profiles: Pyroscope reachable again', { url: opts.pyroscope?.url })
        : log.warn('profiles: Pyroscope push failed (profiles dropped and counted until it answers)', { url: opts.pyroscope?.url, error: detail })),
    });
  }

  /** Where profiles go, for the start-up log. */
  describe(): Record<string, string> {
    const out: Record<string, string> = {};
    if (this.#files !== null) out.dir = this.#files.dir;
    if (this.#o.pyroscope !== undefined) out.pyroscope = this.#o.pyroscope.url;
    if (this.#o.view !== undefined) out.view = '/api/profiles';
    if (this.#o.otlp !== undefined) out.otlp = this.#o.otlp.url;
    return out;
  }

  put(record: AgentRecord): void {
    if (record.type !== 'profile') return;
    const p = record.profile;
    this.#stats.profiles_in++;
    this.#stats.samples_in += totalSamples(p);
    this.#o.view?.put(p);
    if (this.#files === null && this.#pyroscope === null && this.#o.otlp === undefined) return;
    if (this.#pending.size >= (this.#o.maxPending ?? 64)) {
      this.#stats.dropped_backlog++;
      return;
    }
    const job = this.#export(p).finally(() => this.#pending.delete(job));
    this.#pending.add(job);
  }

  async #export(p: ProfileRecord): Promise<void> {
    if (this.#o.otlp !== undefined) await Promise.all([this.#sendOtlp(p, this.#o.otlp), this.#exportPprof(p)]);
    else await this.#exportPprof(p);
  }

  async #sendOtlp(p: ProfileRecord, otlp: ProfileOtlpOptions): Promise<void> {
    let body: Uint8Array;
    try {
      body = encodeProfilesRequest([p], otlp.resourceOf);
    } catch (e) {
      this.#stats.encode_failures++;
      if (this.#stats.encode_failures === 1) this.#o.log.warn('profiles: a profile could not be encoded (counted)', { service: p.service, error: String(e) });
      return;
    }
    const r = await otlp.transport.send(body);
    if (r.ok) {
      this.#stats.otlp_sent++;
      this.#stats.otlp_sent_bytes += body.length;
    } else {
      this.#stats.otlp_failed++;
    }
    if (r.ok === this.#otlpHealthy) return;
    this.#otlpHealthy = r.ok;
    if (r.ok) this.#o.log.info('profiles: OTLP endpoint accepts profiles again', { url: otlp.url });
    else this.#o.log.warn('profiles: OTLP export failed (profiles dropped and counted until it answers)', { url: otlp.url, error: r.error.message });
  }

  async #exportPprof(p: ProfileRecord): Promise<void> {
    if (this.#files === null && this.#pyroscope === null) return;
    let gz: Buffer;
    try {
      gz = await encodePprofGzip(p);
    } catch (e) {
      this.#stats.encode_failures++;
      if (this.#stats.encode_failures === 1) this.#o.log.warn('profiles: a profile could not be encoded (counted)', { service: p.service, error: String(e) });
      return;
    }
    this.#stats.encoded_bytes += gz.length;
    const container = soleContainer(p);
    const kind = profileKind(p);
    this.#pyroscope?.push({
      service: p.service,
      kind,
      labels: container !== undefined ? { container_id: container } : {},
      fromUnixNano: p.startTimeUnixNano,
      untilUnixNano: p.endTimeUnixNano,
      sampleRateHz: p.frequencyHz,
      body: gz,
    });
    // <service>-off_cpu-<time>-<seq>.pb.gz beside the CPU files, kept apart from them.
    await this.#files?.write(kind === 'cpu' ? p.service : `${p.service}-${kind}`, p.endTimeUnixNano, gz);
  }

  /** Waits (bounded) for what is being encoded, written and pushed. */
  async close(timeoutMs = 5000): Promise<void> {
    const timer = new Promise<void>((r) => setTimeout(r, timeoutMs).unref());
    await Promise.race([Promise.allSettled([...this.#pending]), timer]);
    await this.#pyroscope?.close(timeoutMs);
    await this.#o.otlp?.transport.shutdown();
  }

  stats(): Record<string, number> {
    const out: Record<string, number> = { ...this.#stats };
    for (const [k, v] of Object.entries(this.#files?.stats() ?? {})) out[`files_${k}`] = v;
    for (const [k, v] of Object.entries(this.#pyroscope?.stats() ?? {})) out[`pyroscope_${k}`] = v;
    return out;
  }
}
