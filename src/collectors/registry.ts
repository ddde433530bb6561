// Collectors this build provides. Names known to the config but absent here are refused with a
// clear "not available yet" at start.
import type { AgentConfig, CollectorName } from '../config/schema.js';
import { protocolHandlers } from '../protocols/registry.js';
import { BpftraceCollector } from './bpftrace/collector.js';
import type { Collector } from './collector.js';
import { DynlogCollector } from './dynlog/collector.js';
import { ProcessCollector } from './process/collector.js';
import { ProfilerCollector } from './profiler/collector.js';
import { SocketsCollector } from './sockets/collector.js';

const FACTORIES: Partial<Record<CollectorName, (config: AgentConfig) => Collector | null>> = {
  bpftrace: () => new BpftraceCollector(),
  dynlog: () => new DynlogCollector(),
  process: () => new ProcessCollector(),
  profiler: () => new ProfilerCollector(),
  sockets: (config) => new SocketsCollector({ handlers: protocolHandlers(), ...(config.collectors.includes('tls') ? { tls: {} } : {}) }),
  // TLS plaintext runs inside the sockets collector: its probes share the connection table.
  tls: () => null,
};

export function availableCollectors(): CollectorName[] {
  return Object.keys(FACTORIES) as CollectorName[];
}

export function createCollector(name: CollectorName, config: AgentConfig): Collector | null {
  return FACTORIES[name]?.(config) ?? null;
}
