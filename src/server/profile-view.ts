// The latest profile of each service and kind (CPU, off-CPU), kept for the control API: as JSON (top
// functions and folded stacks, merged over pids and threads) and as pprof for download. Bounded: one
// profile per service and kind, at most `maxServices` of them and `maxSamples` distinct samples in
// all (the least recently updated are dropped first).
import { frameName, encodePprofGzip } from '../export/pprof.js';
import { type ProfileKind, type ProfileRecord, profileKind, sampleNanos, totalSamples } from '../model/profile.js';

export interface ProfileSummary {
  service: string;
  type: ProfileKind;
  start: string;
  end: string;
  /** CPU samples, or off-CPU blocks. */
  samples: number;
  /** Off-CPU: nanoseconds blocked in all. */
  nanoseconds?: number;
}

export interface FunctionCost {
  function: string;
  module: string;
  /** Samples (CPU) or nanoseconds blocked (off-CPU) with this function at the leaf. */
  self: number;
  /** The same with this function anywhere on the stack. */
  total: number;
}

export interface ProfileJson extends ProfileSummary {
  frequencyHz: number;
  periodNanos: number;
  /** By self samples, most first. */
  functions: FunctionCost[];
  /** Root first, merged over labels, heaviest first; `count` in the unit of FunctionCost. */
  stacks: Array<{ frames: string[]; count: number }>;
}

const iso = (ns: bigint): string => new Date(Number(ns / 1_000_000n)).toISOString();
const keyOf = (service: string, kind: ProfileKind): string => `${kind}\0${service}`;

export class ProfileView {
  readonly #latest = new Map<string, ProfileRecord>();
  #samples = 0;

  constructor(private readonly maxServices = 1000, private readonly maxSamples = 200_000) {}

  put(p: ProfileRecord): void {
    const k = keyOf(p.service, profileKind(p));
    this.#drop(k);
    this.#latest.set(k, p);
    this.#samples += p.samples.length;
    while (this.#latest.size > 1 && (this.#latest.size > this.maxServices || this.#samples > this.maxSamples)) {
      const oldest = this.#latest.keys().next().value;
      if (oldest === undefined) break;
      this.#drop(oldest);
    }
  }

  #drop(key: string): void {
    const old = this.#latest.get(key);
    if (old === undefined) return;
    this.#samples -= old.samples.length;
    this.#latest.delete(key);
  }

  services(): ProfileSummary[] {
    return [...this.#latest.values()].map(summary).sort((a, b) => a.service.localeCompare(b.service) || a.type.localeCompare(b.type));
  }

  json(service: string, limits: { functions?: number; stacks?: number } = {}, kind: ProfileKind = 'cpu'): ProfileJson | undefined {
    const p = this.#latest.get(keyOf(service, kind));
    if (p === undefined) return undefined;
    // CPU time as samples (as pprof's top shows it), off-CPU time in nanoseconds (blocks vary in length).
    const weight = kind === 'cpu' ? (s: ProfileRecord['samples'][number]): number => s.count : (s: ProfileRecord['samples'][number]): number => sampleNanos(s, 0);
    const fns = new Map<string, FunctionCost>();
    const stacks = new Map<string, { frames: string[]; count: number }>();
    for (const s of p.samples) {
      const w = weight(s);
      const names = s.frames.map(frameName);
      const seen = new Set<string>();
      s.frames.forEach((f, i) => {
        const name = names[i] ?? '';
        let c = fns.get(name);
        if (c === undefined) fns.set(name, (c = { function: name, module: f.module, self: 0, total: 0 }));
        if (i === 0) c.self += w;
        if (!seen.has(name)) {
          seen.add(name);
          c.total += w;
        }
      });
      const rootFirst = [...names].reverse();
      const k = rootFirst.join(';');
      const st = stacks.get(k);
      if (st === undefined) stacks.set(k, { frames: rootFirst, count: w });
      else st.count += w;
    }
    return {
      ...summary(p),
      frequencyHz: p.frequencyHz,
      periodNanos: p.periodNanos,
      functions: [...fns.values()].sort((a, b) => b.self - a.self || b.total - a.total).slice(0, limits.functions ?? 100),
      stacks: [...stacks.values()].sort((a, b) => b.count - a.count).slice(0, limits.stacks ?? 1000),
    };
  }

  async pprof(service: string, kind: ProfileKind = 'cpu'): Promise<Buffer | undefined> {
    const p = this.#latest.get(keyOf(service, kind));
    return p === undefined ? undefined : encodePprofGzip(p);
  }
}

function summary(p: ProfileRecord): ProfileSummary {
  const out: ProfileSummary = { service: p.service, type: profileKind(p), start: iso(p.startTimeUnixNano), end: iso(p.endTimeUnixNano), samples: totalSamples(p) };
  if (out.type !== 'cpu') out.nanoseconds = p.samples.reduce((n, s) => n + sampleNanos(s, 0), 0);
  return out;
}
