// Typed access to BPF maps: element operations, iteration and batch operations.
import { type Codec, bytes } from './codec.js';
import { native, type MapInfo } from './native.js';

/** BPF_ANY / BPF_NOEXIST / BPF_EXIST. */
export const UpdateFlags = { ANY: 0, NOEXIST: 1, EXIST: 2 } as const;

const PER_CPU_TYPES = new Set(['percpu_hash', 'percpu_array', 'lru_percpu_hash', 'percpu_cgroup_storage']);

/**
 * A map handle. Per-CPU maps get and set arrays with one value per possible CPU (the kernel pads
 * each to 8 bytes; that is handled here).
 */
export class BpfMap<K = Buffer, V = Buffer> {
  readonly name: string;
  readonly type: string;
  readonly fd: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly perCpu: boolean;
  readonly #key: Codec<K>;
  readonly #value: Codec<V>;
  readonly #slot: number;
  readonly #cpus: number;

  constructor(info: MapInfo, keyCodec?: Codec<K>, valueCodec?: Codec<V>) {
    this.name = info.name;
    this.type = info.type;
    this.fd = info.fd;
    this.keySize = info.keySize;
    this.valueSize = info.valueSize;
    this.maxEntries = info.maxEntries;
    this.perCpu = PER_CPU_TYPES.has(info.type);
    this.#key = keyCodec ?? (bytes(info.keySize) as unknown as Codec<K>);
    this.#value = valueCodec ?? (bytes(info.valueSize) as unknown as Codec<V>);
    if (this.#key.size !== info.keySize) throw new RangeError(`map ${info.name}: key codec is ${this.#key.size} bytes, map key is ${info.keySize}`);
    if (this.#value.size !== info.valueSize) throw new RangeError(`map ${info.name}: value codec is ${this.#value.size} bytes, map value is ${info.valueSize}`);
    this.#slot = (info.valueSize + 7) & ~7;
    this.#cpus = native.possibleCpus();
  }

  /** The same map seen through other codecs. */
  typed<K2, V2>(key: Codec<K2>, value: Codec<V2>): BpfMap<K2, V2> {
    return new BpfMap<K2, V2>(this.#info(), key, value);
  }

  #info(): MapInfo {
    return { name: this.name, type: this.type, fd: this.fd, keySize: this.keySize, valueSize: this.valueSize,
      maxEntries: this.maxEntries, flags: 0, internal: false };
  }

  #rawValueSize(): number {
    return this.perCpu ? this.#slot * this.#cpus : this.valueSize;
  }

  #splitPerCpu(raw: Buffer): V[] {
    const out: V[] = [];
    for (let c = 0; c < this.#cpus; c++) out.push(this.#value.decode(raw.subarray(c * this.#slot, c * this.#slot + this.valueSize)));
    return out;
  }

  #joinPerCpu(values: V[]): Buffer {
    if (values.length !== this.#cpus) throw new RangeError(`per-CPU map ${this.name} needs ${this.#cpus} values, got ${values.length}`);
    const raw = Buffer.alloc(this.#slot * this.#cpus);
    values.forEach((v, c) => this.#value.encode(v).copy(raw, c * this.#slot));
    return raw;
  }

  get(key: K): V | undefined {
    if (this.perCpu) throw new TypeError(`map ${this.name} is per-CPU: use getPerCpu`);
    const raw = native.map.lookup(this.fd, this.#key.encode(key), this.valueSize);
    return raw === null ? undefined : this.#value.decode(raw);
  }

  getPerCpu(key: K): V[] | undefined {
    const raw = native.map.lookup(this.fd, this.#key.encode(key), this.#rawValueSize());
    return raw === null ? undefined : this.#splitPerCpu(raw);
  }

  /**
   * A reader of one per-CPU u64 value (a counter) summed over the CPUs, 0n while the key is not
   * there. Its key is encoded once and its value read into a buffer kept for it: a read makes
   * nothing but its result, where getPerCpu makes the key's and the value's buffers and a value per
   * CPU (for counters read with every ring batch).
   */
  perCpuCounter(key: K): () => bigint {
    if (!this.perCpu || this.valueSize !== 8) throw new TypeError(`map ${this.name}: perCpuCounter needs a per-CPU map of u64 values`);
    const fd = this.fd;
    const k = this.#key.encode(key);
    const cpus = this.#cpus;
    const out = Buffer.alloc(8 * cpus);
    const view = new DataView(out.buffer, out.byteOffset, out.length);
    return () => {
      if (!native.map.lookupInto(fd, k, out)) return 0n;
      // Each half summed as a number (exact: cpus × 2^32 < 2^53), joined as a BigInt once.
      let lo = 0;
      let hi = 0;
      for (let c = 0; c < cpus; c++) {
        lo += view.getUint32(8 * c, true);
        hi += view.getUint32(8 * c + 4, true);
      }
      return hi === 0 ? BigInt(lo) : (BigInt(hi) << 32n) + BigInt(lo);
    };
  }

  set(key: K, value: V, flags: number = UpdateFlags.ANY): void {
    if (this.perCpu) throw new TypeError(`map ${this.name} is per-CPU: use setPerCpu`);
    native.map.update(this.fd, this.#key.encode(key), this.#value.encode(value), flags);
  }

  setPerCpu(key: K, values: V[], flags: number = UpdateFlags.ANY): void {
    native.map.update(this.fd, this.#key.encode(key), this.#joinPerCpu(values), flags);
  }

  /** Returns false when the key was not there. */
  delete(key: K): boolean {
    return native.map.delete(this.fd, this.#key.encode(key));
  }

  /** Pops an element (queue/stack maps: no key; hash maps: by key). */
  take(key?: K): V | undefined {
    const raw = native.map.lookupAndDelete(this.fd, key === undefined ? null : this.#key.encode(key), this.valueSize);
    return raw === null ? undefined : this.#value.decode(raw);
  }

  *keys(): IterableIterator<K> {
    let cur: Buffer | null = null;
    for (;;) {
      const next: Buffer | null = native.map.nextKey(this.fd, cur, this.keySize);
      if (next === null) return;
      yield this.#key.decode(next);
      cur = next;
    }
  }

  /** Element by element (one syscall per key and value); for large maps prefer `readBatch`. */
  *entries(): IterableIterator<[K, V]> {
    for (const k of this.keys()) {
      const v = this.get(k);
      if (v !== undefined) yield [k, v];
    }
  }

  /**
   * Reads the whole map with BPF_MAP_LOOKUP_BATCH (or LOOKUP_AND_DELETE_BATCH when `drain`),
   * `chunk` elements per syscall. Falls back to element-wise iteration where the kernel lacks batch
   * support for the map type.
   */
  readBatch(opts: { chunk?: number; drain?: boolean } = {}): Array<[K, V | V[]]> {
    const chunk = Math.max(1, Math.min(opts.chunk ?? 256, this.maxEntries));
    const valueSize = this.#rawValueSize();
    const out: Array<[K, V | V[]]> = [];
    let token: Buffer | null = null;
    for (;;) {
      const r = native.map.lookupBatch(this.fd, token, this.keySize, valueSize, chunk, opts.drain === true);
      for (let i = 0; i < r.count; i++) {
        const k = this.#key.decode(r.keys.subarray(i * this.keySize, (i + 1) * this.keySize));
        const raw = r.values.subarray(i * valueSize, (i + 1) * valueSize);
        out.push([k, this.perCpu ? this.#splitPerCpu(raw) : this.#value.decode(raw)]);
      }
      if (r.next === null) return out;
      token = r.next;
    }
  }

  /** BPF_MAP_UPDATE_BATCH; returns how many were written. */
  writeBatch(entries: Array<[K, V]>, flags: number = UpdateFlags.ANY): number {
    if (entries.length === 0) return 0;
    if (this.perCpu) throw new TypeError(`map ${this.name} is per-CPU: batch writes take one value per CPU`);
    const keys = Buffer.concat(entries.map(([k]) => this.#key.encode(k)));
    const values = Buffer.concat(entries.map(([, v]) => this.#value.encode(v)));
    return native.map.updateBatch(this.fd, keys, values, entries.length, flags);
  }

  /**
   * BPF_MAP_UPDATE_BATCH of `count` entries already encoded back to back (`keys`: count × keySize
   * bytes, `values`: count × valueSize): no per-entry encoding, for bulk loads of many small
   * values. Returns how many were written.
   */
  writeBatchRaw(keys: Buffer, values: Buffer, count: number, flags: number = UpdateFlags.ANY): number {
    if (count === 0) return 0;
    if (this.perCpu) throw new TypeError(`map ${this.name} is per-CPU: batch writes take one value per CPU`);
    if (keys.length !== count * this.keySize || values.length !== count * this.valueSize) {
      throw new RangeError(`map ${this.name}: ${count} entries need ${count * this.keySize} key and ${count * this.valueSize} value bytes, got ${keys.length} and ${values.length}`);
    }
    return native.map.updateBatch(this.fd, keys, values, count, flags);
  }

  /** BPF_MAP_DELETE_BATCH; returns how many were deleted. */
  deleteBatch(keys: K[]): number {
    if (keys.length === 0) return 0;
    return native.map.deleteBatch(this.fd, Buffer.concat(keys.map((k) => this.#key.encode(k))), keys.length);
  }
}
