// A real OpenTelemetry Collector as the receiver of what Lantern sends: its own OTLP receiver
// (gRPC and HTTP) decodes every request, and the contrib file exporter writes what it received as
// OTLP JSON lines, which this helper reads back.
//
// The binary is the minimal distribution of test/e2e-tools/otelcol (OTLP receiver + file exporter),
// built by scripts/build-test-tools.sh into the tools cache as otelcol-<hash of its go.mod, go.sum
// and main.go> (LANTERN_OTELCOL_BIN points at another binary instead). A missing binary fails the
// test that asks for it, with the command that builds it.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './cli.js';
import { waitForPort } from './procs.js';
import { freePorts, requireBinary, retryOnPortClash, startToolProcess, toolsCache } from './tool-process.js';

const sourceDir = join(repoRoot, 'test', 'e2e-tools', 'otelcol');

/** Where the Collector binary is expected: $LANTERN_OTELCOL_BIN, else the tools cache. */
export function otelcolBinaryPath(): string {
  if (process.env.LANTERN_OTELCOL_BIN) return process.env.LANTERN_OTELCOL_BIN;
  // The name scripts/build-test-tools.sh gives it: sha256 of the three files one after the other.
  const hash = createHash('sha256');
  for (const f of ['go.mod', 'go.sum', 'main.go']) hash.update(readFileSync(join(sourceDir, f)));
  return join(toolsCache(), `otelcol-${hash.digest('hex').slice(0, 16)}`);
}

/** An AnyValue as the file exporter writes it (protobuf JSON mapping: int64 as a decimal string). */
export type AnyValueJson =
  | { stringValue: string } | { intValue: string } | { doubleValue: number } | { boolValue: boolean }
  | { arrayValue: { values?: AnyValueJson[] } } | { kvlistValue: { values?: KeyValueJson[] } } | { bytesValue: string }
  | { stringValueStrindex: number } | Record<string, never>;
export interface KeyValueJson {
  key: string;
  value: AnyValueJson;
}

export interface LogRecordJson {
  timeUnixNano?: string;
  observedTimeUnixNano?: string;
  severityNumber?: number;
  severityText?: string;
  body?: AnyValueJson;
  attributes?: KeyValueJson[];
  flags?: number;
  traceId?: string;
  spanId?: string;
  eventName?: string;
}

/** One log record as received, with its resource's and its own attributes by key (values as sent). */
export interface ReceivedLog {
  resource: Record<string, AnyValueJson>;
  scope: { name?: string; version?: string };
  record: LogRecordJson;
  attributes: Record<string, AnyValueJson>;
}

interface ExportRequestJson {
  resourceLogs?: Array<{
    resource?: { attributes?: KeyValueJson[] };
    scopeLogs?: Array<{ scope?: { name?: string; version?: string }; logRecords?: LogRecordJson[] }>;
  }>;
  resourceSpans?: Array<{ resource?: { attributes?: KeyValueJson[] }; scopeSpans?: Array<{ spans?: SpanJson[] }> }>;
  resourceMetrics?: unknown[];
  resourceProfiles?: Array<{ resource?: { attributes?: KeyValueJson[] }; scopeProfiles?: Array<{ scope?: { name?: string }; profiles?: ProfileJson[] }> }>;
  dictionary?: ProfilesDictionaryJson;
}

/** profiles/v1development as pprofile's JSON marshaler writes it (indices default to 0 when absent). */
export interface ProfileJson {
  sampleType?: { typeStrindex?: number; unitStrindex?: number };
  periodType?: { typeStrindex?: number; unitStrindex?: number };
  period?: string;
  timeUnixNano?: string;
  durationNano?: string;
  samples?: Array<{ stackIndex?: number; attributeIndices?: number[]; linkIndex?: number; values?: string[] }>;
}
export interface ProfilesDictionaryJson {
  mappingTable?: Array<{ filenameStrindex?: number }>;
  locationTable?: Array<{ mappingIndex?: number; address?: string; lines?: Array<{ functionIndex?: number }>; attributeIndices?: number[] }>;
  functionTable?: Array<{ nameStrindex?: number }>;
  linkTable?: Array<{ traceId?: string; spanId?: string }>;
  stringTable?: string[];
  attributeTable?: Array<{ keyStrindex?: number; value?: AnyValueJson }>;
  stackTable?: Array<{ locationIndices?: number[] }>;
}

/** One received sample, resolved through its request's dictionary. */
export interface ReceivedProfileSample {
  resource: Record<string, AnyValueJson>;
  sampleType: string;
  periodType: string;
  period: number;
  value: number;
  /** Function names, leaf first. */
  functions: string[];
  attributes: Record<string, AnyValueJson>;
  link?: { traceId: string; spanId: string };
}

export const byKey = (kvs: KeyValueJson[] | undefined): Record<string, AnyValueJson> => Object.fromEntries((kvs ?? []).map((kv) => [kv.key, kv.value]));

export interface SpanJson {
  traceId: string;
  spanId: string;
  name: string;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes?: KeyValueJson[];
}

export interface ReceivedSpan {
  resource: Record<string, AnyValueJson>;
  span: SpanJson;
}

export interface Otelcol {
  /** OTLP/gRPC receiver, e.g. "http://127.0.0.1:43170". */
  grpcEndpoint: string;
  /** OTLP/HTTP receiver base URL (POST /v1/logs, /v1/metrics, /v1/traces under it). */
  httpEndpoint: string;
  /** Every request the file exporter has written so far, parsed (one per line, any signal). */
  requests(): ExportRequestJson[];
  /** Every span received so far, with its resource's attributes. */
  spans(): ReceivedSpan[];
  /** Every log record received so far. */
  logs(): ReceivedLog[];
  /** Polls logs() until `count` records match; rejects after timeoutMs with what was received. */
  waitForLogs(match: (l: ReceivedLog) => boolean, count?: number, timeoutMs?: number): Promise<ReceivedLog[]>;
  /** Every profile sample received so far (needs `profiles: true`). */
  profileSamples(): ReceivedProfileSample[];
  /** What the Collector has written to stdout and stderr (its log) so far. */
  output(): string;
  stop(): Promise<void>;
  /** Stops it and returns every span it received: all it acknowledged, written out as it exited. */
  stopAndTakeSpans(): Promise<ReceivedSpan[]>;
}

function configYaml(grpcPort: number, httpPort: number, out: string, profiles: boolean): string {
  return `# Written by test/helpers/otelcol.ts: OTLP in on loopback ports, every signal out as OTLP JSON lines.
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:${grpcPort}
      http:
        endpoint: 127.0.0.1:${httpPort}
exporters:
  file:
    path: ${out}
    flush_interval: 100ms
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [file]
    metrics:
      receivers: [otlp]
      exporters: [file]
    traces:
      receivers: [otlp]
      exporters: [file]
${profiles ? '    profiles:\n      receivers: [otlp]\n      exporters: [file]\n' : ''}`;
}

export interface StartOtelcolOptions {
  startTimeoutMs?: number;
  /** Listen on these ports (a receiver started again where the agent sends): no retry on a clash. */
  ports?: { grpc: number; http: number };
  /** A profiles pipeline too (alpha: runs the Collector with --feature-gates=service.profilesSupport). */
  profiles?: boolean;
}

export async function startOtelcol(opts: StartOtelcolOptions = {}): Promise<Otelcol> {
  const bin = otelcolBinaryPath();
  requireBinary('OpenTelemetry Collector', bin);
  const profiles = opts.profiles === true;
  if (opts.ports !== undefined) return launch(bin, opts.startTimeoutMs ?? 30_000, profiles, opts.ports);
  return retryOnPortClash(() => launch(bin, opts.startTimeoutMs ?? 30_000, profiles));
}

async function launch(bin: string, startTimeoutMs: number, profiles: boolean, ports?: { grpc: number; http: number }): Promise<Otelcol> {
  const [grpcPort, httpPort] = ports !== undefined ? [ports.grpc, ports.http] : (await freePorts(2)) as [number, number];
  // The output file goes in the tool's own directory, which stop() removes: its path is known only
  // once the directory exists, so the config names it relative to the working directory.
  const collector = startToolProcess('OpenTelemetry Collector', bin, configYaml(grpcPort, httpPort, 'received.jsonl', profiles),
    (config) => ['--config', `file:${config}`, ...(profiles ? ['--feature-gates=service.profilesSupport'] : [])]);
  const out = join(collector.dir, 'received.jsonl');
  // The Collector says so once every pipeline runs; then both receivers accept connections.
  await collector.waitReady(async () => {
    if (!collector.output().includes('Everything is ready')) throw new Error('not ready yet');
    await waitForPort(grpcPort, 1000);
    await waitForPort(httpPort, 1000);
  }, startTimeoutMs);

  const requests = (): ExportRequestJson[] => {
    if (!existsSync(out)) return [];
    const text = readFileSync(out, 'utf8');
    // Only whole lines: the exporter may be writing the last one.
    return text.slice(0, text.lastIndexOf('\n') + 1).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as ExportRequestJson);
  };
  const logs = (): ReceivedLog[] => requests().flatMap((req) => (req.resourceLogs ?? []).flatMap((rl) => (rl.scopeLogs ?? []).flatMap((sl) =>
    (sl.logRecords ?? []).map((record) => ({ resource: byKey(rl.resource?.attributes), scope: sl.scope ?? {}, record, attributes: byKey(record.attributes) })))));
  const waitForLogs = async (match: (l: ReceivedLog) => boolean, count = 1, timeoutMs = 10_000): Promise<ReceivedLog[]> => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const found = logs().filter(match);
      if (found.length >= count) return found;
      if (Date.now() > until) {
        throw new Error(`the Collector received ${found.length} matching log record(s) of ${count} within ${timeoutMs} ms; ` +
          `all it received: ${JSON.stringify(logs().map((l) => l.record)).slice(0, 4000)}; its log:\n${collector.output().slice(-4000)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  const spans = (): ReceivedSpan[] => requests().flatMap((req) => (req.resourceSpans ?? []).flatMap((rs) => (rs.scopeSpans ?? []).flatMap((ss) =>
    (ss.spans ?? []).map((span) => ({ resource: byKey(rs.resource?.attributes), span })))));

  const profileSamples = (): ReceivedProfileSample[] => requests().flatMap((req) => {
    const d = req.dictionary ?? {};
    const str = (i: number | undefined): string => d.stringTable?.[i ?? 0] ?? '';
    // pdata moves the strings of profile requests into the dictionary, resource attributes' too
    // (keyStrindex, stringValueStrindex): back to plain values.
    const value = (v: AnyValueJson | undefined): AnyValueJson => (v !== undefined && 'stringValueStrindex' in v
      ? { stringValue: str((v as { stringValueStrindex?: number }).stringValueStrindex) } : v ?? {});
    const attrs = (ids: number[] | undefined): Record<string, AnyValueJson> => Object.fromEntries((ids ?? []).map((i) => {
      const a = d.attributeTable?.[i];
      return [str(a?.keyStrindex), value(a?.value)];
    }));
    const resource = (kvs: KeyValueJson[] | undefined): Record<string, AnyValueJson> => Object.fromEntries((kvs ?? []).map((kv) =>
      [kv.key ?? str((kv as { keyStrindex?: number }).keyStrindex), value(kv.value)]));
    return (req.resourceProfiles ?? []).flatMap((rp) => (rp.scopeProfiles ?? []).flatMap((sp) => (sp.profiles ?? []).flatMap((p) =>
      (p.samples ?? []).map((s) => {
        const stack = d.stackTable?.[s.stackIndex ?? 0]?.locationIndices ?? [];
        const functions = stack.map((l) => str(d.functionTable?.[d.locationTable?.[l]?.lines?.[0]?.functionIndex ?? 0]?.nameStrindex));
        const link = s.linkIndex !== undefined && s.linkIndex !== 0 ? d.linkTable?.[s.linkIndex] : undefined;
        const out: ReceivedProfileSample = {
          resource: resource(rp.resource?.attributes),
          sampleType: `${str(p.sampleType?.typeStrindex)}/${str(p.sampleType?.unitStrindex)}`,
          periodType: `${str(p.periodType?.typeStrindex)}/${str(p.periodType?.unitStrindex)}`,
          period: Number(p.period ?? 0),
          value: Number(s.values?.[0] ?? 0),
          functions,
          attributes: attrs(s.attributeIndices),
        };
        if (link !== undefined) out.link = { traceId: link.traceId ?? '', spanId: link.spanId ?? '' };
        return out;
      }))));
  });

  return {
    profileSamples,
    grpcEndpoint: `http://127.0.0.1:${grpcPort}`,
    spans,
    httpEndpoint: `http://127.0.0.1:${httpPort}`,
    requests,
    logs,
    waitForLogs,
    output: () => collector.output(),
    stop: () => collector.stop(),
    stopAndTakeSpans: async () => {
      let taken: ReceivedSpan[] = [];
      await collector.stop(() => (taken = spans()));
      return taken;
    },
  };
}
