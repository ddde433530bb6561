// V8's .cpuprofile (node --cpu-prof) as the agent's benchmarks read it: the samples taken in a
// window of time in which the JS thread was busy, and a readable name per frame.

export interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
export interface CpuProfile { nodes: ProfileNode[]; samples: number[]; startTime: number; timeDeltas: number[] }

/** The node ids of the samples taken between `fromUs` and `toUs` (CLOCK_MONOTONIC µs) in which the thread was not idle. */
export function busySamples(profile: CpuProfile, fromUs: number, toUs: number): number[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const out: number[] = [];
  let at = profile.startTime;
  for (const [i, id] of profile.samples.entries()) {
    at += profile.timeDeltas[i] ?? 0;
    if (at < fromUs || at > toUs || byId.get(id)?.callFrame.functionName === '(idle)') continue;
    out.push(id);
  }
  return out;
}

/** "name dist/src/…/file.js:line", the file shortened to where it is under dist/ or node_modules/. */
export function frameName(f: ProfileNode['callFrame']): string {
  const file = f.url.replace(/^.*\/(dist|node_modules)\//, '$1/');
  return file === '' ? (f.functionName || '(anonymous)') : `${f.functionName || '(anonymous)'} ${file}:${f.lineNumber + 1}`;
}
