// Where the Kubernetes API is and how to authenticate to it. In a pod, from what the kubelet puts
// there for every container (https://kubernetes.io/docs/tasks/run-application/access-api-from-pod/):
// the API's address in KUBERNETES_SERVICE_HOST / KUBERNETES_SERVICE_PORT, the service account's
// token and the cluster CA in /var/run/secrets/kubernetes.io/serviceaccount/. Or configured
// (kubernetes.api_url, token_file, ca_file): a test's server, an agent outside the cluster.
import { readFileSync } from 'node:fs';
import type { KubernetesConfig } from '../../config/schema.js';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface KubeConnection {
  /** http(s)://host:port, no trailing slash. */
  apiUrl: string;
  /** The bearer token's file; null: no Authorization header. */
  tokenFile: string | null;
  /** PEM of the CA that signed the API server's certificate; null: the system's trust store. */
  ca: string | null;
  /** Whose pods to watch (spec.nodeName). */
  nodeName: string;
  /** Where each setting came from, for the log. */
  source: 'in-cluster' | 'configured';
}

export type ConnectionResult = { connection: KubeConnection } | { off: string };

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** An IPv6 address in a URL's authority is bracketed (RFC 3986 §3.2.2). */
const hostForUrl = (host: string): string => (host.includes(':') && !host.startsWith('[') ? `[${host}]` : host);

/**
 * The connection the configuration asks for, or why there is none. `enabled: auto` means: in a pod
 * (KUBERNETES_SERVICE_HOST set and a service account token mounted) or with api_url configured.
 */
export function resolveConnection(c: KubernetesConfig, env: NodeJS.ProcessEnv, hostName: string, saDir = SERVICE_ACCOUNT_DIR): ConnectionResult {
  if (c.enabled === false) return { off: 'kubernetes.enabled is false' };
  const nodeName = c.nodeName ?? (env.K8S_NODE_NAME !== undefined && env.K8S_NODE_NAME !== '' ? env.K8S_NODE_NAME : hostName);
  if (c.apiUrl !== undefined) {
    const ca = c.caFile !== undefined ? readOrNull(c.caFile) : null;
    if (c.caFile !== undefined && ca === null) return { off: `kubernetes.ca_file ${c.caFile} cannot be read` };
    return { connection: { apiUrl: c.apiUrl.replace(/\/+$/, ''), tokenFile: c.tokenFile ?? null, ca, nodeName, source: 'configured' } };
  }
  const host = env.KUBERNETES_SERVICE_HOST;
  if (host === undefined || host === '') return { off: 'not in a Kubernetes pod (no KUBERNETES_SERVICE_HOST) and no kubernetes.api_url' };
  const tokenFile = c.tokenFile ?? `${saDir}/token`;
  if (readOrNull(tokenFile) === null) return { off: `no service account token at ${tokenFile} (automountServiceAccountToken: false?)` };
  const port = env.KUBERNETES_SERVICE_PORT !== undefined && env.KUBERNETES_SERVICE_PORT !== '' ? env.KUBERNETES_SERVICE_PORT : '443';
  const ca = readOrNull(c.caFile ?? `${saDir}/ca.crt`);
  return { connection: { apiUrl: `https://${hostForUrl(host)}:${port}`, tokenFile, ca, nodeName, source: 'in-cluster' } };
}

/**
 * The bearer token, read again every `maxAgeMs`: a projected service account token is rotated by
 * the kubelet (hourly by default, valid a while longer), so a token read once at start expires.
 * client-go reads it again every minute; so does this.
 */
export class TokenSource {
  #token: string | null = null;
  #readAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly file: string, private readonly maxAgeMs = 60_000, private readonly now: () => number = Date.now) {}

  get(): string | null {
    if (this.now() - this.#readAt >= this.maxAgeMs) {
      const text = readOrNull(this.file);
      // A failed read keeps the last token: the file is replaced by a symlink swap, never emptied.
      if (text !== null && text.trim() !== '') this.#token = text.trim();
      this.#readAt = this.now();
    }
    return this.#token;
  }

  /** The API refused the token (401): read the file again before the next request. */
  expire(): void {
    this.#readAt = Number.NEGATIVE_INFINITY;
  }
}
