// Opening (and immediately closing) one perf event proves sampling is allowed on this host:
// perf_event_paranoid, seccomp and container runtimes can each forbid it.
import { closePerfEvent, openPerfEvent, type PerfEventSpec } from 'libbpf-ts';

export function openAndClosePerfEvent(spec: PerfEventSpec, cpu: number): void {
  closePerfEvent(openPerfEvent(spec, cpu));
}
