// What every benchmark reports with: medians, readable integers, the machine it ran on.
import os from 'node:os';

/** Median of the numbers that are not NaN (NaN when none are). */
export function median(xs: readonly number[]): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
}

/** 12,345 (an em dash for NaN). */
export function int(n: number): string {
  return Number.isNaN(n) ? '—' : Math.round(n).toLocaleString('en-US');
}

/** CPUs this process may use, CPU model, kernel and Node versions. */
export function machine(): string {
  const model = os.cpus()[0]?.model ?? 'unknown CPU';
  return `${os.availableParallelism()} CPUs (nproc), ${model}, Linux ${os.release()}, Node ${process.version}`;
}
