// The `kubernetes` section: whether pod metadata is read from the Kubernetes API, and where that is.
// Without settings the agent looks for itself (in a pod: KUBERNETES_SERVICE_HOST and the service
// account's files, src/metadata/k8s/connection.ts).
import { isAbsolute } from 'node:path';
import type { Problems } from './validate.js';
import { asUrl, describe } from './validate.js';

export interface KubernetesConfig {
  /** auto: when in a pod or api_url is set; true: required (the agent does not start without it). */
  enabled: 'auto' | boolean;
  /** The API server (in a pod: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT). */
  apiUrl?: string;
  /** The bearer token's file, read again every minute (rotated tokens). */
  tokenFile?: string;
  /** The CA certificate of the API server (PEM). */
  caFile?: string;
  /** Whose pods: this node (default $K8S_NODE_NAME, which the DaemonSet sets, else the host name). */
  nodeName?: string;
}

export function defaultKubernetesConfig(): KubernetesConfig {
  return { enabled: 'auto' };
}

const KEYS = ['enabled', 'api_url', 'token_file', 'ca_file', 'node_name'];

export function applyKubernetesFile(c: KubernetesConfig, o: Record<string, unknown> | undefined, source: string, problems: Problems): void {
  if (!o) return;
  for (const k of Object.keys(o)) if (!KEYS.includes(k)) problems.add(source, `kubernetes.${k}`, `unknown setting (known: ${KEYS.join(', ')})`);
  if (o.enabled !== undefined) {
    if (o.enabled === 'auto' || typeof o.enabled === 'boolean') c.enabled = o.enabled;
    else problems.add(source, 'kubernetes.enabled', `expected auto, true or false, got ${describe(o.enabled)}`);
  }
  if (o.api_url !== undefined) {
    const url = asUrl(o.api_url);
    if (typeof url === 'string') c.apiUrl = url;
    else problems.add(source, 'kubernetes.api_url', url.error.replace('localhost:4317', 'kubernetes.default.svc:443'));
  }
  for (const [key, field] of [['token_file', 'tokenFile'], ['ca_file', 'caFile']] as const) {
    const v = o[key];
    if (v === undefined) continue;
    if (typeof v === 'string' && isAbsolute(v)) c[field] = v;
    else problems.add(source, `kubernetes.${key}`, `expected an absolute file path, got ${describe(v)}`);
  }
  if (o.node_name !== undefined) {
    // A node's name is a DNS subdomain (RFC 1123): what a field selector can match.
    if (typeof o.node_name === 'string' && /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(o.node_name)) c.nodeName = o.node_name;
    else problems.add(source, 'kubernetes.node_name', `expected a node name (lower-case letters, digits, "-" and "."), got ${describe(o.node_name)}`);
  }
}
