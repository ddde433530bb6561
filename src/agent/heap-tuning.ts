// V8 heap sizing for the long-running agent. Under load the agent allocates ~8 KB per exchange of
// which a small share outlives a young-generation GC (what is in flight at that moment) and is
// promoted; V8 then lets the old generation grow to up to ~4× what survived the last full GC before
// collecting again: 90-110 MiB of heap around a live set of 20-40 MiB at 10k req/s. A growth factor
// of 1.5 keeps it near 60-70 MiB for a little more CPU (benchmarks/RESULTS.md, "Memory under load").
// V8 reads this flag at every heap-limit computation, so setting it at run time takes effect.
import v8 from 'node:v8';

export const DEFAULT_HEAP_GROWING_PERCENT = 50;

/**
 * Sets --heap-growing-percent unless node was given one; LANTERN_HEAP_GROWING_PERCENT overrides the
 * value (0: V8's own policy). Returns the percentage set, or null when V8 keeps its own.
 */
export function tuneHeapForAgent(execArgv: readonly string[] = process.execArgv, env: NodeJS.ProcessEnv = process.env): number | null {
  if (execArgv.some((a) => a.includes('heap-growing-percent') || a.includes('heap_growing_percent'))) return null;
  const asked = env.LANTERN_HEAP_GROWING_PERCENT;
  const percent = asked === undefined || asked === '' ? DEFAULT_HEAP_GROWING_PERCENT : Number(asked);
  if (!Number.isInteger(percent) || percent <= 0 || percent > 1000) return null;
  v8.setFlagsFromString(`--heap-growing-percent=${percent}`);
  return percent;
}
