// Counters shared by the symbol readers: each reader counts its own fallbacks, the Symbolizer
// reports them all through stats(). Names are snake_case, like the rest of the agent's counters.

export class Counters {
  private readonly values = new Map<string, number>();

  inc(name: string, by = 1): void {
    this.values.set(name, (this.values.get(name) ?? 0) + by);
  }

  get(name: string): number {
    return this.values.get(name) ?? 0;
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries(this.values);
  }
}
