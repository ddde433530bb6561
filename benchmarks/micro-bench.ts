// What the parser micro-benchmarks share: the --runs option, timed runs after an untimed warm-up,
// rates, the per-workload table and the RESULTS.md section around each benchmark's own description.
import { parseArgs } from 'node:util';
import { int, machine, median } from './stats.js';

export interface Timed {
  ms: number;
  /** Bytes fed, both directions. */
  bytes: number;
  exchanges: number;
}

export const mbps = (r: Pick<Timed, 'ms' | 'bytes'>): number => r.bytes / 1e6 / (r.ms / 1000);
export const perSecond = (r: Timed): number => r.exchanges / (r.ms / 1000);

/** `--runs N` (default 5): timed runs per workload. */
export function runsOption(): number {
  const { values } = parseArgs({ options: { runs: { type: 'string' } } });
  const runs = Number(values.runs ?? 5);
  if (!(runs >= 1)) throw new RangeError('--runs must be positive');
  return runs;
}

/**
 * One untimed run (JIT, allocations), then `runs` timed ones; `check` throws when a run did not
 * parse what it was fed (a fast wrong parser is no result).
 */
export function timedRuns<R extends Timed>(name: string, runs: number, warmUp: () => unknown, run: () => R, check: (r: R) => void = () => undefined): R[] {
  warmUp();
  const results: R[] = [];
  for (let i = 0; i < runs; i++) {
    const r = run();
    check(r);
    console.error(`${name} run ${i + 1}: ${int(mbps(r))} MB/s, ${int(perSecond(r))} exchanges/s`);
    results.push(r);
  }
  return results;
}

export interface WorkloadRow {
  name: string;
  bytesPerExchange: number;
  /** Syscalls (or reads) per exchange, as printed. */
  callsPerExchange: string;
  runs: Timed[];
}

/** Medians per workload; `extraRows` are appended as they are (a benchmark's own lines). */
export function workloadTable(rows: WorkloadRow[], callsHeader = 'Syscalls per exchange', extraRows: string[] = []): string {
  const out = [`| Workload | Bytes per exchange | ${callsHeader} | MB/s | Exchanges/s | ns per exchange |`, '|---|---:|---:|---:|---:|---:|'];
  for (const w of rows) {
    const rate = median(w.runs.map(perSecond));
    out.push(`| ${w.name} | ${int(w.bytesPerExchange)} | ${w.callsPerExchange} | ${int(median(w.runs.map(mbps)))} | ${int(rate)} | ${int(1e9 / rate)} |`);
  }
  return [...out, ...extraRows].join('\n');
}

/** "- name: 123 MB/s, 125 MB/s, …" per workload. */
export function perRunLines(rows: Array<{ name: string; runs: Timed[] }>): string[] {
  return rows.map(({ name, runs }) => `- ${name}: ${runs.map((r) => `${int(mbps(r))} MB/s`).join(', ')}`);
}

export interface SectionParts {
  section: string;
  command: string;
  /** What is measured, as the lines of a paragraph. */
  description: string[];
  table: string;
  runs: number;
  perRun: string[];
}

/** The RESULTS.md section: heading, command, date, machine, description, table, runs. */
export function microSection(p: SectionParts): string {
  return [
    p.section,
    '',
    `Command: \`${p.command}\` (after \`npx tsc -p tsconfig.json\`)  `,
    `Date: ${new Date().toISOString().slice(0, 10)}  `,
    `Machine: ${machine()}`,
    '',
    ...p.description,
    '',
    p.table,
    '',
    `Medians of ${p.runs} timed runs after one untimed warm-up run per workload. Per run:`,
    '',
    ...p.perRun,
    '',
  ].join('\n');
}

/** A buffer cut into `size`-byte pieces, as reads of that size return it. */
export function split(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size));
  return out;
}
