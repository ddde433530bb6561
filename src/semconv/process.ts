// Process exec and exit as OTel events (log records with an event name): process.exec and
// process.exit, with the process.* attributes of the semantic conventions (process.exit.signal is
// Lantern's, beside the conventions' process.exit.code) and a one-line body for plain log views.
import { SEVERITY, type LogRecordData } from '../model/log.js';
import { type ProcessEvent, exitCode, exitSignal } from '../model/process.js';
import type { Attributes, ResourceRecord } from '../model/span.js';

/** `resource`: the process's; `observedNs`: when the agent handled the event (epoch ns). */
export function processEventToLogRecord(e: ProcessEvent, resource: ResourceRecord, observedNs: bigint): LogRecordData {
  const attributes: Attributes = { 'process.pid': e.pid, 'process.parent_pid': e.ppid, 'process.executable.name': e.comm };
  let body: string;
  if (e.kind === 'exec') {
    attributes['process.executable.path'] = e.filename;
    body = `exec ${e.filename} (pid ${e.pid})`;
  } else {
    const code = exitCode(e.status);
    const sig = exitSignal(e.status);
    if (code !== null) attributes['process.exit.code'] = code;
    if (sig !== null) attributes['process.exit.signal'] = sig;
    body = `exit ${e.comm} (pid ${e.pid}) ${code !== null ? `code ${code}` : `signal ${sig}`}`;
  }
  return {
    timeUnixNano: e.timeUnixNano,
    observedTimeUnixNano: observedNs,
    severity: SEVERITY.info,
    eventName: e.kind === 'exec' ? 'process.exec' : 'process.exit',
    body,
    attributes,
    resource,
  };
}
