// Whether the agent reads pod metadata from the Kubernetes API: made only when Kubernetes is there
// (a pod's environment and service account) or configured; otherwise nothing changes and nothing
// is logged again.
import { hostname } from 'node:os';
import type { AgentConfig } from '../config/schema.js';
import { LanternError } from '../errors.js';
import type { Logger } from '../log.js';
import { resolveConnection } from '../metadata/k8s/connection.js';
import { KubernetesMetadata } from '../metadata/k8s/kubernetes-metadata.js';

/** The agent's Kubernetes metadata, or null when there is none to read (`kubernetes.enabled: true` then fails). */
export function kubernetesMetadata(config: AgentConfig, log: Logger, env: NodeJS.ProcessEnv = process.env): KubernetesMetadata | null {
  const found = resolveConnection(config.kubernetes, env, hostname());
  if ('off' in found) {
    if (config.kubernetes.enabled === true) {
      throw new LanternError('LANTERN_ERR_CONFIG', `kubernetes.enabled is true, but ${found.off}: set kubernetes.api_url (and token_file) or run in a pod`);
    }
    log.debug('kubernetes metadata off', { reason: found.off });
    return null;
  }
  const c = found.connection;
  log.info('kubernetes metadata: watching this node\'s pods and the cluster\'s services', { api: c.apiUrl, node: c.nodeName, from: c.source });
  return new KubernetesMetadata(c, log);
}
