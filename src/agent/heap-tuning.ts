// V8 heap sizing for the long-running agent. Under load the agent allocates ~8 KB per exchange of
// which a small share outlives a young-generation GC (what is in flight at that moment) and is
// promoted; V8 then lets the old generation grow to up to ~4× what survived the last full GC before
// collecting again: 90-110 MiB of heap around a live set of 20-40 MiB at 10k req/s.
// LANTERN_HEAP_GROWING_PERCENT=50 (growth 1.5×) keeps the heap near 60-70 MiB, but measured on a
// busy 2-CPU host (benchmarks/RESULTS.md, "Memory under load") it cost 0-60 % more agent CPU per
// exchange, most when the agent was already behind, and peak RSS was not reliably lower then: so it
// is a knob, off by default. V8 reads the flag at every heap-limit computation, so setting it at run
// time takes effect.
import v8 from 'node:v8';

/** Whether node was given V8 flag `name` (with or without `no-`, in dash or underscore spelling) itself. */
function givenToNode(execArgv: readonly string[], name: string): boolean {
  const underscored = name.replaceAll('-', '_');
  return execArgv.some((a) => a.includes(name) || a.includes(underscored));
}

/**
 * Sets --heap-growing-percent from LANTERN_HEAP_GROWING_PERCENT (1-1000) unless node was given the
 * flag itself. Returns the percentage set, or null when V8 keeps its own policy.
 */
export function tuneHeapForAgent(execArgv: readonly string[] = process.execArgv, env: NodeJS.ProcessEnv = process.env): number | null {
  if (givenToNode(execArgv, 'heap-growing-percent')) return null;
  const asked = env.LANTERN_HEAP_GROWING_PERCENT;
  if (asked === undefined || asked === '') return null;
  const percent = Number(asked);
  if (!Number.isInteger(percent) || percent <= 0 || percent > 1000) return null;
  v8.setFlagsFromString(`--heap-growing-percent=${percent}`);
  return percent;
}

/**
 * Turns off V8's allocation-site pretenuring unless node was given the flag itself; returns whether
 * it did. V8 allocates an object literal's later objects straight in the old generation once most
 * of them survived one young-generation GC, and keeps deciding so, as objects allocated there
 * never tell it otherwise. Nearly all the agent allocates lives for one exchange; a moment with
 * many in flight (a burst, a stall) is enough for a site to be pretenured for the rest of the run:
 * measured at 10k requests/s (every process traced), 23 sites were, among them the span's, the
 * HTTP message's and the data event's, and ~1.6 MB of them went to the old generation at every
 * young-generation GC, garbage for the next full GC (heap 20 → 80 MB between two of them).
 * Without it they die young. V8 reads the flag when it digests the feedback, so setting it at run
 * time takes effect (test/agent/heap-tuning.test.ts).
 */
export function stopPretenuring(execArgv: readonly string[] = process.execArgv): boolean {
  if (givenToNode(execArgv, 'allocation-site-pretenuring')) return false;
  v8.setFlagsFromString('--no-allocation-site-pretenuring');
  return true;
}
