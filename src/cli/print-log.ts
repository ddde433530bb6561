// How the foreground commands (`lantern bpftrace`, `lantern trace-func`) show the log records they
// make: the body as a line, or with --json the whole record as a JSON line (times as strings).
import type { LogRecordData } from '../model/log.js';

export function printLogRecord(json: boolean): (r: LogRecordData) => void {
  return (r) => console.log(json ? JSON.stringify({ ...r, timeUnixNano: String(r.timeUnixNano), observedTimeUnixNano: String(r.observedTimeUnixNano) }) : String(r.body ?? ''));
}
