// Collectors this build provides. Names known to the config but absent here are refused with a
// clear "not available yet" at start.
import type { CollectorName } from '../config/schema.js';
import { protocolHandlers } from '../protocols/registry.js';
import type { Collector } from './collector.js';
import { ProcessCollector } from './process/collector.js';
import { SocketsCollector } from './sockets/collector.js';

const FACTORIES: Partial<Record<CollectorName, () => Collector>> = {
  process: () => new ProcessCollector(),
  sockets: () => new SocketsCollector({ handlers: protocolHandlers() }),
};

export function availableCollectors(): CollectorName[] {
  return Object.keys(FACTORIES) as CollectorName[];
}

export function createCollector(name: CollectorName): Collector | null {
  return FACTORIES[name]?.() ?? null;
}
