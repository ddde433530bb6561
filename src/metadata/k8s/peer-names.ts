// Names for peer addresses: a Service's cluster IP is `<name>.<namespace>.svc` (the DNS name a
// client inside the cluster would have used, https://kubernetes.io/docs/concepts/services-networking/dns-pod-service/),
// a pod's IP the pod's name. Services come from a cluster-wide watch (any pod may call any
// Service); pods from this node's pod store — a pod IP on another node stays an IP.
import type { ServiceRecord } from './objects.js';
import type { ReflectorHandler } from './reflector.js';

/** A v4 address on a dual-stack socket reads "::ffff:10.96.0.1": the Service knows "10.96.0.1". */
export function plainIp(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

export class ServiceIndex implements ReflectorHandler<ServiceRecord> {
  readonly #services = new Map<string, ServiceRecord>();
  readonly #byIp = new Map<string, string>();
  #dropped = 0;

  /** Bounded: a large cluster has tens of thousands of Services; past `max`, new ones are counted, not kept. */
  constructor(private readonly max = 50_000) {}

  replace(items: ServiceRecord[]): void {
    this.#services.clear();
    this.#byIp.clear();
    for (const s of items) this.upsert(s);
  }

  upsert(s: ServiceRecord): void {
    const old = this.#services.get(s.uid);
    if (old === undefined && this.#services.size >= this.max) {
      this.#dropped++;
      return;
    }
    if (old !== undefined) this.#unindex(old);
    this.#services.set(s.uid, s);
    const name = `${s.name}.${s.namespace}.svc`;
    for (const ip of s.clusterIPs) this.#byIp.set(ip, name);
  }

  remove(s: ServiceRecord): void {
    const old = this.#services.get(s.uid);
    if (old === undefined) return;
    this.#unindex(old);
    this.#services.delete(s.uid);
  }

  /** `name.namespace.svc` of the Service with this cluster IP. */
  name(ip: string): string | undefined {
    return this.#byIp.get(plainIp(ip));
  }

  stats(): { services: number; services_dropped: number } {
    return { services: this.#services.size, services_dropped: this.#dropped };
  }

  #unindex(s: ServiceRecord): void {
    const name = `${s.name}.${s.namespace}.svc`;
    for (const ip of s.clusterIPs) if (this.#byIp.get(ip) === name) this.#byIp.delete(ip);
  }
}
