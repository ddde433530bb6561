// OTLP/JSON encoding (the protobuf JSON mapping: lowerCamelCase fields, 64-bit ints as strings,
// ids as hex) of Lantern's records, as the Collector's file exporter writes them.
import type { ProcessEvent } from '../model/process.js';
import { exitCode, exitSignal } from '../model/process.js';

export type AnyValue = { stringValue: string } | { intValue: string } | { boolValue: boolean } | { doubleValue: number };
export interface KeyValue {
  key: string;
  value: AnyValue;
}

export function attr(key: string, v: string | number | boolean): KeyValue {
  if (typeof v === 'string') return { key, value: { stringValue: v } };
  if (typeof v === 'boolean') return { key, value: { boolValue: v } };
  return { key, value: Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v } };
}

export function attributesToKeyValues(attrs: Record<string, string | number | boolean | string[]>): KeyValue[] {
  return Object.entries(attrs).map(([k, v]) => (Array.isArray(v) ? attr(k, v.join(' ')) : attr(k, v)));
}

export interface LogRecordJson {
  timeUnixNano: string;
  observedTimeUnixNano: string;
  severityNumber: number;
  severityText: string;
  eventName?: string;
  body: AnyValue;
  attributes: KeyValue[];
}

export interface ResourceLogsJson {
  resource: { attributes: KeyValue[] };
  scopeLogs: Array<{ scope: { name: string; version: string }; logRecords: LogRecordJson[] }>;
}

export const SCOPE = { name: 'lantern', version: '0.1.0' };
const SEVERITY_INFO = 9;

/** A process exec or exit as an OTel event (log record with an event name). */
export function processEventToLog(e: ProcessEvent, observedNs: bigint): LogRecordJson {
  const attributes = [attr('process.pid', e.pid), attr('process.parent_pid', e.ppid), attr('process.executable.name', e.comm)];
  let body: string;
  if (e.kind === 'exec') {
    attributes.push(attr('process.executable.path', e.filename));
    body = `exec ${e.filename} (pid ${e.pid})`;
  } else {
    const code = exitCode(e.status);
    const sig = exitSignal(e.status);
    if (code !== null) attributes.push(attr('process.exit.code', code));
    if (sig !== null) attributes.push(attr('process.exit.signal', sig));
    body = `exit ${e.comm} (pid ${e.pid}) ${code !== null ? `code ${code}` : `signal ${sig}`}`;
  }
  return {
    timeUnixNano: e.timeUnixNano.toString(),
    observedTimeUnixNano: observedNs.toString(),
    severityNumber: SEVERITY_INFO,
    severityText: 'INFO',
    eventName: e.kind === 'exec' ? 'process.exec' : 'process.exit',
    body: { stringValue: body },
    attributes,
  };
}
