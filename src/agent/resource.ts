// Resource attributes shared by everything this agent exports.
import { hostname } from 'node:os';
import type { AgentConfig } from '../config/schema.js';
import type { Attributes } from '../model/span.js';

export function baseAttributes(config: AgentConfig): Attributes {
  return { 'host.name': hostname(), ...config.resourceAttributes };
}
