// Perf events for perf_event programs (sampling profilers), opened per CPU.
import { readFileSync } from 'node:fs';
import { type CookieOption, native } from './native.js';

/** PERF_TYPE_* */
export const PerfType = { HARDWARE: 0, SOFTWARE: 1, TRACEPOINT: 2, HW_CACHE: 3, RAW: 4, BREAKPOINT: 5 } as const;
/** PERF_COUNT_SW_* */
export const PerfSoftware = { CPU_CLOCK: 0, TASK_CLOCK: 1, PAGE_FAULTS: 2, CONTEXT_SWITCHES: 3 } as const;
/** PERF_COUNT_HW_* */
export const PerfHardware = { CPU_CYCLES: 0, INSTRUCTIONS: 1 } as const;

export interface PerfEventSpec {
  type: number;
  config: number;
  /** Samples per second (the kernel adjusts the period); exclusive with samplePeriod. */
  sampleFreq?: number;
  samplePeriod?: number;
}

export interface PerfEventOptions extends CookieOption {
  event: PerfEventSpec;
  /** Default: every online CPU. */
  cpus?: number[];
  /** Default -1: every process. */
  pid?: number;
}

const DIGITS = /^\d+$/;

/** Parses a kernel CPU list such as "0-3,6,8-9"; throws on anything else. */
export function parseCpuList(text: string): number[] {
  const out: number[] = [];
  for (const part of text.trim().split(',')) {
    if (part === '') continue;
    const [a, b, rest] = part.split('-');
    // Digits only: Number('') is 0, which made "-" and "0-" CPU 0.
    if (!DIGITS.test(a ?? '') || (b !== undefined && !DIGITS.test(b)) || rest !== undefined) throw new Error(`bad CPU list: ${text}`);
    const from = Number(a);
    const to = b === undefined ? from : Number(b);
    if (to < from) throw new Error(`bad CPU list: ${text}`);
    for (let c = from; c <= to; c++) out.push(c);
  }
  return out;
}

export function onlineCpus(): number[] {
  return parseCpuList(readFileSync('/sys/devices/system/cpu/online', 'utf8'));
}

/** Opens one perf event system-wide on `cpu` (or for `pid`); returns its fd. */
export function openPerfEvent(spec: PerfEventSpec, cpu: number, pid = -1): number {
  return native.perfEventOpen({ ...spec, cpu, pid });
}

export function closePerfEvent(fd: number): void {
  native.closeFd(fd);
}
