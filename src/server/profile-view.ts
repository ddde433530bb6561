// The latest CPU profile of each service, kept for the control API: as JSON (top functions and
// folded stacks, merged over pids and threads) and as pprof for download. Bounded: one profile per
// service, at most `maxServices` services and `maxSamples` distinct samples in all (the least
// recently updated services are dropped first).
import { frameName, encodePprofGzip } from '../export/pprof.js';
import { type ProfileRecord, totalSamples } from '../model/profile.js';

export interface ProfileSummary {
  service: string;
  start: string;
  end: string;
  samples: number;
}

export interface FunctionCost {
  function: string;
  module: string;
  /** Samples with this function at the leaf. */
  self: number;
  /** Samples with this function anywhere on the stack. */
  total: number;
}

export interface ProfileJson extends ProfileSummary {
  frequencyHz: number;
  periodNanos: number;
  /** By self samples, most first. */
  functions: FunctionCost[];
  /** Root first, merged over labels, most samples first. */
  stacks: Array<{ frames: string[]; count: number }>;
}

const iso = (ns: bigint): string => new Date(Number(ns / 1_000_000n)).toISOString();

export class ProfileView {
  readonly #latest = new Map<string, ProfileRecord>();
  #samples = 0;

  constructor(private readonly maxServices = 1000, private readonly maxSamples = 200_000) {}

  put(p: ProfileRecord): void {
    this.#drop(p.service);
    this.#latest.set(p.service, p);
    this.#samples += p.samples.length;
    while (this.#latest.size > 1 && (this.#latest.size > this.maxServices || this.#samples > this.maxSamples)) {
      const oldest = this.#latest.keys().next().value;
      if (oldest === undefined) break;
      this.#drop(oldest);
    }
  }

  #drop(service: string): void {
    const old = this.#latest.get(service);
    if (old === undefined) return;
    this.#samples -= old.samples.length;
    this.#latest.delete(service);
  }

  services(): ProfileSummary[] {
    return [...this.#latest.values()].map(summary).sort((a, b) => a.service.localeCompare(b.service));
  }

  json(service: string, limits: { functions?: number; stacks?: number } = {}): ProfileJson | undefined {
    const p = this.#latest.get(service);
    if (p === undefined) return undefined;
    const fns = new Map<string, FunctionCost>();
    const stacks = new Map<string, { frames: string[]; count: number }>();
    for (const s of p.samples) {
      const names = s.frames.map(frameName);
      const seen = new Set<string>();
      s.frames.forEach((f, i) => {
        const name = names[i] ?? '';
        let c = fns.get(name);
        if (c === undefined) fns.set(name, (c = { function: name, module: f.module, self: 0, total: 0 }));
        if (i === 0) c.self += s.count;
        if (!seen.has(name)) {
          seen.add(name);
          c.total += s.count;
        }
      });
      const rootFirst = [...names].reverse();
      const k = rootFirst.join(';');
      const st = stacks.get(k);
      if (st === undefined) stacks.set(k, { frames: rootFirst, count: s.count });
      else st.count += s.count;
    }
    return {
      ...summary(p),
      frequencyHz: p.frequencyHz,
      periodNanos: p.periodNanos,
      functions: [...fns.values()].sort((a, b) => b.self - a.self || b.total - a.total).slice(0, limits.functions ?? 100),
      stacks: [...stacks.values()].sort((a, b) => b.count - a.count).slice(0, limits.stacks ?? 1000),
    };
  }

  async pprof(service: string): Promise<Buffer | undefined> {
    const p = this.#latest.get(service);
    return p === undefined ? undefined : encodePprofGzip(p);
  }
}

function summary(p: ProfileRecord): ProfileSummary {
  return { service: p.service, start: iso(p.startTimeUnixNano), end: iso(p.endTimeUnixNano), samples: totalSamples(p) };
}
