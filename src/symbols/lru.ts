// A cache bounded by entry count and by an estimate of the bytes its values hold. Values can grow
// after insertion (a module's symbol table loads on first use): `resize` re-charges them.

export class BoundedLru<K, V> {
  private readonly map = new Map<K, { value: V; bytes: number }>();
  private total = 0;

  constructor(
    private readonly maxEntries: number,
    private readonly maxBytes: number,
    private readonly onEvict: (key: K, value: V) => void = () => undefined,
  ) {}

  get size(): number {
    return this.map.size;
  }

  get bytes(): number {
    return this.total;
  }

  /** The value, marked most recently used. */
  get(key: K): V | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    this.map.delete(key);
    this.map.set(key, e);
    return e.value;
  }

  peek(key: K): V | undefined {
    return this.map.get(key)?.value;
  }

  set(key: K, value: V, bytes: number): void {
    const old = this.map.get(key);
    if (old) {
      this.total -= old.bytes;
      this.map.delete(key);
    }
    this.map.set(key, { value, bytes });
    this.total += bytes;
    this.evict(key);
  }

  /** Updates the byte charge of `key` (evicting others if the cache is now over budget). */
  resize(key: K, bytes: number): void {
    const e = this.map.get(key);
    if (!e) return;
    this.total += bytes - e.bytes;
    e.bytes = bytes;
    this.evict(key);
  }

  delete(key: K): boolean {
    const e = this.map.get(key);
    if (!e) return false;
    this.map.delete(key);
    this.total -= e.bytes;
    return true;
  }

  values(): IterableIterator<V> {
    return [...this.map.values()].map((e) => e.value)[Symbol.iterator]();
  }

  /** Drops least recently used entries until within bounds; `keep` (just added) goes last of all. */
  private evict(keep: K): void {
    for (const [k, e] of this.map) {
      if (this.map.size <= this.maxEntries && this.total <= this.maxBytes) return;
      if (k === keep && this.map.size > 1) continue;
      if (k === keep && this.map.size <= this.maxEntries) return; // alone and over bytes: keep it
      this.map.delete(k);
      this.total -= e.bytes;
      this.onEvict(k, e.value);
    }
  }
}
