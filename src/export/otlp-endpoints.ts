// Where each signal goes, from AgentConfig.otlp (which already holds the resolved OTEL_* variables),
// by the OTLP exporter specification
// (https://opentelemetry.io/docs/specs/otel/protocol/exporter/#endpoint-urls-for-otlphttp):
// a per-signal endpoint is used as it is; the base endpoint is used as it is for gRPC and gets
// "v1/<signal>" appended for HTTP.
import type { OtlpConfig, OtlpProtocol, ProfilesOtlpConfig } from '../config/schema.js';

export interface ResolvedExport {
  url: string;
  protocol: OtlpProtocol;
  headers: Record<string, string>;
  timeoutMs: number;
  /** Settings that could not be honoured, for the log. */
  warnings: string[];
}

/** Traces go over OTLP/gRPC (the only trace protocol built so far). */
export function resolveTraceExport(otlp: OtlpConfig): ResolvedExport | null {
  const s = otlp.traces;
  const url = s.endpoint ?? otlp.endpoint;
  if (url === undefined) return null;
  const warnings: string[] = [];
  if (s.protocol !== 'grpc') warnings.push(`OTLP traces over ${s.protocol} are not supported yet: sending them over grpc to ${url}`);
  return { url, protocol: 'grpc', headers: { ...s.headers }, timeoutMs: otlp.timeoutMs, warnings };
}

/** Metrics go over OTLP/HTTP, protobuf or JSON (gRPC not built yet: http/protobuf instead). */
export function resolveMetricExport(otlp: OtlpConfig): ResolvedExport | null {
  const s = otlp.metrics;
  let url = s.endpoint;
  if (url === undefined && otlp.endpoint !== undefined) url = appendSignalPath(otlp.endpoint, 'v1/metrics');
  if (url === undefined) return null;
  const warnings: string[] = [];
  let protocol = s.protocol;
  if (protocol === 'grpc') {
    warnings.push(`OTLP metrics over grpc are not supported yet: sending them over http/protobuf to ${url}`);
    protocol = 'http/protobuf';
  }
  if (portOf(url) === '4317') {
    warnings.push(`metrics are sent over OTLP/HTTP to ${url}, but 4317 is the OTLP/gRPC port (OTLP/HTTP listens on 4318): set OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`);
  }
  return { url, protocol, headers: { ...s.headers }, timeoutMs: otlp.timeoutMs, warnings };
}

/**
 * Logs over any OTLP protocol: gRPC (the base endpoint as it is), http/protobuf or http/json (the
 * base endpoint + "v1/logs"); OTEL_EXPORTER_OTLP_LOGS_ENDPOINT as it is for all three.
 */
export function resolveLogExport(otlp: OtlpConfig): ResolvedExport | null {
  const s = otlp.logs;
  const base = otlp.endpoint;
  const url = s.endpoint ?? (base === undefined ? undefined : s.protocol === 'grpc' ? base : appendSignalPath(base, 'v1/logs'));
  if (url === undefined) return null;
  const warnings: string[] = [];
  // The default ports of the OTLP receivers (https://opentelemetry.io/docs/specs/otlp/): a likely mix-up.
  const port = portOf(url);
  if (s.protocol === 'grpc' && port === '4318') {
    warnings.push(`logs are sent over OTLP/gRPC to ${url}, but 4318 is the OTLP/HTTP port (OTLP/gRPC listens on 4317): set OTEL_EXPORTER_OTLP_LOGS_PROTOCOL or the endpoint`);
  } else if (s.protocol !== 'grpc' && port === '4317') {
    warnings.push(`logs are sent over OTLP/HTTP to ${url}, but 4317 is the OTLP/gRPC port (OTLP/HTTP listens on 4318): set OTEL_EXPORTER_OTLP_LOGS_ENDPOINT or the protocol`);
  }
  return { url, protocol: s.protocol, headers: { ...s.headers }, timeoutMs: otlp.timeoutMs, warnings };
}

/**
 * OTLP profiles (profiles/v1development), when enabled: their own endpoint as it is, else the base
 * endpoint (gRPC: as it is; HTTP: + "v1development/profiles", the Collector's path). Headers: the
 * base OTEL_EXPORTER_OTLP_HEADERS (those every signal got).
 */
export function resolveProfileExport(p: ProfilesOtlpConfig, otlp: OtlpConfig): ResolvedExport | null {
  if (!p.enabled) return null;
  const base = otlp.endpoint;
  const url = p.endpoint ?? (base === undefined ? undefined : p.protocol === 'grpc' ? base : appendSignalPath(base, 'v1development/profiles'));
  if (url === undefined) return null;
  const common: Record<string, string> = {};
  // What the three signals share came from OTEL_EXPORTER_OTLP_HEADERS.
  for (const [k, v] of Object.entries(otlp.traces.headers)) if (otlp.logs.headers[k] === v && otlp.metrics.headers[k] === v) common[k] = v;
  return { url, protocol: p.protocol, headers: common, timeoutMs: otlp.timeoutMs, warnings: [] };
}

export function appendSignalPath(base: string, path: string): string {
  return base.endsWith('/') ? base + path : `${base}/${path}`;
}

function portOf(url: string): string | undefined {
  try {
    return new URL(url).port;
  } catch {
    return undefined;
  }
}
