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

/**
 * V8 options node must be given before it starts, which `bin/lantern.js` passes in its `#!` line
 * (`#!/usr/bin/env -S node …`): the only way to set them, as V8 sizes its heap's spaces when the
 * isolate is made and ignores them at run time.
 *
 * --max-semi-space-size=8: V8's young generation at 8 MiB semi-spaces instead of node's 16. Under
 * load the agent allocates fast enough for V8 to grow them to their maximum and keep them; at 8 MiB
 * the peak RSS is 14-16 MiB lower at 10-60k req/s. Measured in session 22 it cost 8-15 % more agent
 * CPU per exchange (more scavenges, more of what was in flight promoted) and was left off; with the
 * spans encoded straight to bytes and less allocated per exchange, the same comparison in December
 * 2026 found no CPU cost with keep-alive connections, and between none and ~6 % with a connection
 * per request (RESULTS.md, "Under load: … max-semi-space-size=8" and "Under load, a connection per
 * request: … max-semi-space-size=16").
 */
export const LAUNCHER_NODE_OPTIONS: readonly string[] = ['--max-semi-space-size=8'];

/** The node options of a launcher script's `#!/usr/bin/env -S node OPTIONS` line ([] for any other first line). */
export function launcherNodeOptions(script: string): string[] {
  const end = script.indexOf('\n');
  const first = end < 0 ? script : script.slice(0, end);
  const m = /^#!\/usr\/bin\/env -S node((?:[ \t]+\S+)*)[ \t]*$/.exec(first);
  return m === null ? [] : m[1]!.trim().split(/[ \t]+/).filter((a) => a !== '');
}

/** Which of LAUNCHER_NODE_OPTIONS node was started without (by name, in its arguments or NODE_OPTIONS). */
export function missingLauncherOptions(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): string[] {
  const given = [...execArgv, ...nodeOptions.split(/\s+/)];
  return LAUNCHER_NODE_OPTIONS.filter((option) => !givenToNode(given, /^--([^=]+)/.exec(option)![1]!));
}

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
