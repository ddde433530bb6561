// A BpftraceScripts over the real bpftrace for tests, collecting what the scripts emit.
import type { Test } from 'tap';
import { BpftraceScripts } from '../../../src/collectors/bpftrace/scripts.js';
import { DEFAULT_SCRIPT_LIMITS, type ScriptLimits, type ScriptSpec, type ScriptState, type ScriptStatus } from '../../../src/collectors/bpftrace/script.js';
import { KernelClock } from '../../../src/model/clock.js';
import type { LogRecordData } from '../../../src/model/log.js';

export interface TestScripts {
  scripts: BpftraceScripts;
  records: LogRecordData[];
  transitions: Array<{ name: string; from: ScriptState; to: ScriptState; reason?: string }>;
  /** Polls until `check` holds (or `ms` pass), returning its last value. */
  until<T>(check: () => T, ms?: number): Promise<T>;
}

export function testScripts(limits: Partial<ScriptLimits> = {}, maxScripts = 8): TestScripts {
  const clock = new KernelClock();
  const records: LogRecordData[] = [];
  const transitions: TestScripts['transitions'] = [];
  const scripts = new BpftraceScripts({
    limits: { ...DEFAULT_SCRIPT_LIMITS, restartDelayMs: { first: 300, max: 1000 }, ...limits },
    emit: (r) => records.push(r),
    processResource: (pid) => ({ key: `pid:${pid}`, attributes: { 'service.name': `proc-${pid}`, 'process.pid': pid } }),
    hostResource: { key: 'host', attributes: { 'service.name': 'bpftrace' } },
    toWallNs: (ns) => clock.toWallNs(ns),
    onStateChange: (s, from) => {
      const st = s.status();
      transitions.push({ name: st.name, from, to: st.state, ...(st.reason !== undefined ? { reason: st.reason } : {}) });
    },
  }, { maxScripts });
  return {
    scripts, records, transitions,
    async until<T>(check: () => T, ms = 15_000): Promise<T> {
      const end = Date.now() + ms;
      let v = check();
      while (!v && Date.now() < end) {
        await new Promise((r) => setTimeout(r, 50));
        v = check();
      }
      return v;
    },
  };
}

export function stateOf(t: TestScripts, name: string): ScriptStatus | undefined {
  return t.scripts.get(name)?.status;
}

/** Whether a process is alive (signal 0). */
export function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A fresh registry (closed when the test ends) with one script started by the API: it must run. */
export async function runningScript(t: Test, spec: Omit<ScriptSpec, 'origin'>, limits: Partial<ScriptLimits> = {}): Promise<{ s: TestScripts; status: ScriptStatus }> {
  const s = testScripts(limits);
  t.teardown(() => s.scripts.close());
  const status = await s.scripts.add({ ...spec, origin: 'api' });
  t.equal(status.state, 'running', status.reason ?? '');
  return { s, status };
}
