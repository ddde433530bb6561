// Resource attributes shared by everything this agent exports.
import { hostname } from 'node:os';
import type { AgentConfig } from '../config/schema.js';
import { type KeyValue, attr } from '../export/otlp-json.js';

export function baseResource(config: AgentConfig): KeyValue[] {
  const attrs: Record<string, string> = { 'host.name': hostname(), ...config.resourceAttributes };
  return Object.entries(attrs).map(([k, v]) => attr(k, v));
}
