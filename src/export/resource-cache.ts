// One SDK Resource per traced process. The OTLP transformer groups spans and metrics into
// ResourceSpans by the identity of the Resource object, so every record of one ResourceRecord.key
// must get the very same object; the SDK's one-resource-per-provider model is bypassed this way.
// Bounded LRU: processes come and go, their resources must go too.
import type { Attributes as SdkAttributes } from '@opentelemetry/api';
import { type Resource, resourceFromAttributes } from '@opentelemetry/resources';
import type { Attributes, ResourceRecord } from '../model/span.js';

interface Entry {
  source: Attributes;
  resource: Resource;
}

export interface ResourceCacheStats {
  size: number;
  created: number;
  evicted: number;
}

export class ResourceCache {
  readonly #max: number;
  readonly #base: Attributes;
  #entries = new Map<string, Entry>();
  #created = 0;
  #evicted = 0;

  /** `base` attributes (host.name, OTEL_RESOURCE_ATTRIBUTES) go under each record's own. */
  constructor(max: number, base: Attributes = {}) {
    this.#max = Math.max(1, max);
    this.#base = base;
  }

  get(record: ResourceRecord): Resource {
    const hit = this.#entries.get(record.key);
    if (hit !== undefined) {
      this.#entries.delete(record.key); // most recently used goes last
      if (hit.source === record.attributes || sameAttributes(hit.source, record.attributes)) {
        this.#entries.set(record.key, hit);
        return hit.resource;
      }
      // The process's metadata changed (service name resolved, pod known): a new resource.
    }
    const attrs: SdkAttributes = { ...this.#base, ...record.attributes };
    // Every resource needs a service.name; the SDK's default when nothing better is known.
    if (attrs['service.name'] === undefined) attrs['service.name'] = 'unknown_service';
    const entry = { source: record.attributes, resource: resourceFromAttributes(attrs) };
    this.#entries.set(record.key, entry);
    this.#created++;
    if (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
      this.#evicted++;
    }
    return entry.resource;
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
