// One resource per traced process: its attributes (the record's own over the base ones) and, made on
// first use and kept with it, what each export needs: the SDK Resource for the metric exporters
// (they group by the identity of the Resource object, so every record of one ResourceRecord.key
// must get the very same object; the SDK's one-resource-per-provider model is bypassed this way)
// and the encoded OTLP Resource message for the span encoders (encoded once per process, not per
// batch). Bounded LRU: processes come and go, their resources must go too.
import type { Attributes as SdkAttributes } from '@opentelemetry/api';
import { type Resource, resourceFromAttributes } from '@opentelemetry/resources';
import type { Attributes, ResourceRecord } from '../model/span.js';

/** A process's resource as the exporters use it. */
export class ResourceEntry {
  #sdk: Resource | null = null;
  /** Encodings made by the span encoders, by encoding name. */
  readonly #encoded = new Map<string, Uint8Array>();

  constructor(readonly key: string, readonly source: Attributes, readonly attributes: Attributes) {}

  /**
   * Whether `other` is the same resource: this very entry, or one made again for the same process
   * after an eviction or a metadata change that came back (the exporters' batches then hold both).
   */
  sameAs(other: ResourceEntry): boolean {
    return other === this || (other.key === this.key && sameAttributes(other.attributes, this.attributes));
  }

  /** This resource in the encoding `name`, made by `encode` the first time it is asked for. */
  encoding(name: string, encode: (attributes: Attributes) => Uint8Array): Uint8Array {
    let bytes = this.#encoded.get(name);
    if (bytes === undefined) this.#encoded.set(name, (bytes = encode(this.attributes)));
    return bytes;
  }

  get sdk(): Resource {
    return (this.#sdk ??= resourceFromAttributes(this.attributes as SdkAttributes));
  }
}

export interface ResourceCacheStats {
  size: number;
  created: number;
  evicted: number;
}

export class ResourceCache {
  readonly #max: number;
  readonly #base: Attributes;
  #entries = new Map<string, ResourceEntry>();
  #created = 0;
  #evicted = 0;

  /** `base` attributes (host.name, OTEL_RESOURCE_ATTRIBUTES) go under each record's own. */
  constructor(max: number, base: Attributes = {}) {
    this.#max = Math.max(1, max);
    this.#base = base;
  }

  /** The SDK Resource of a record's process (metric export). */
  get(record: ResourceRecord): Resource {
    return this.entry(record).sdk;
  }

  entry(record: ResourceRecord): ResourceEntry {
    const hit = this.#entries.get(record.key);
    if (hit !== undefined) {
      this.#entries.delete(record.key); // most recently used goes last
      if (hit.source === record.attributes || sameAttributes(hit.source, record.attributes)) {
        this.#entries.set(record.key, hit);
        return hit;
      }
      // The process's metadata changed (service name resolved, pod known): a new resource.
    }
    const attrs: Attributes = { ...this.#base, ...record.attributes };
    // Every resource needs a service.name; the SDK's default when nothing better is known.
    if (attrs['service.name'] === undefined) attrs['service.name'] = 'unknown_service';
    const entry = new ResourceEntry(record.key, record.attributes, attrs);
    this.#entries.set(record.key, entry);
    this.#created++;
    if (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
      this.#evicted++;
    }
    return entry;
  }

  stats(): ResourceCacheStats {
    return { size: this.#entries.size, created: this.#created, evicted: this.#evicted };
  }
}

function sameAttributes(a: Attributes, b: Attributes): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) {
    const x = a[k];
    const y = b[k];
    if (Array.isArray(x) && Array.isArray(y)) {
      if (x.length !== y.length || x.some((v, i) => v !== y[i])) return false;
    } else if (x !== y) return false;
  }
  return true;
}
