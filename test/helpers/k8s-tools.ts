// Real Kubernetes tooling for test/deploy: Helm and kubeconform, built by scripts/build-test-tools.sh
// from test/e2e-tools/k8s/go.mod into the tools cache as helm-<hash> and kubeconform-<hash> (hash of
// that go.mod and go.sum), and kubeconform's JSON schemas made here from the Kubernetes OpenAPI
// document (swagger.json of the k8s.io/kubernetes module, version in
// test/e2e-tools/k8s/kubernetes-version), which the same script puts in the cache.
//
// The schemas follow what kubeconform's own schema repository (openapi2jsonschema, "standalone
// strict") holds: one file per kind named <kind>-<group>-<version>.json, every definition it
// refers to included, objects refusing properties their schema does not name (so a misspelt or
// misplaced field fails), IntOrString and Quantity accepting a number or a string as the API server
// does.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './cli.js';
import { toolsCache } from './tool-process.js';

const k8sDir = join(repoRoot, 'test', 'e2e-tools', 'k8s');

function k8sHash(): string {
  const hash = createHash('sha256');
  for (const f of ['go.mod', 'go.sum']) hash.update(readFileSync(join(k8sDir, f)));
  return hash.digest('hex').slice(0, 16);
}

export function helmBinaryPath(): string {
  return process.env.LANTERN_HELM_BIN || join(toolsCache(), `helm-${k8sHash()}`);
}

export function kubeconformBinaryPath(): string {
  return process.env.LANTERN_KUBECONFORM_BIN || join(toolsCache(), `kubeconform-${k8sHash()}`);
}

export function kubernetesVersion(): string {
  return readFileSync(join(k8sDir, 'kubernetes-version'), 'utf8').trim();
}

export function kubernetesOpenapiPath(): string {
  return join(toolsCache(), `kubernetes-openapi-${kubernetesVersion()}.json`);
}

type Schema = { [key: string]: unknown };

const REF = '#/definitions/';

/** The definition names `schema` refers to, directly or through others. */
function reachable(root: Schema, definitions: Record<string, Schema>): Set<string> {
  const seen = new Set<string>();
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const n of node) walk(n);
      return;
    }
    if (node === null || typeof node !== 'object') return;
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string' && v.startsWith(REF)) {
        const name = v.slice(REF.length);
        if (!seen.has(name)) {
          seen.add(name);
          walk(definitions[name]);
        }
      } else walk(v);
    }
  };
  walk(root);
  return seen;
}

/** A copy of `node` with every object schema that names its properties closed to others. */
function strict(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(strict);
  if (node === null || typeof node !== 'object') return node;
  const out: Schema = {};
  for (const [k, v] of Object.entries(node)) out[k] = k === 'properties' ? Object.fromEntries(Object.entries(v as Schema).map(([p, s]) => [p, strict(s)])) : strict(v);
  if (out.properties !== undefined && out.additionalProperties === undefined) out.additionalProperties = false;
  return out;
}

interface Gvk {
  group: string;
  version: string;
  kind: string;
}

/**
 * Writes one kubeconform schema per kind of the OpenAPI document into `dir` and returns the
 * -schema-location template that finds them.
 */
export function writeKubeconformSchemas(dir: string): { location: string; kinds: number } {
  const doc = JSON.parse(readFileSync(kubernetesOpenapiPath(), 'utf8')) as { definitions: Record<string, Schema> };
  const defs: Record<string, Schema> = {};
  for (const [name, def] of Object.entries(doc.definitions)) defs[name] = strict(def) as Schema;
  // Numbers are as good as strings for these two, in the API server and in kubectl.
  defs['io.k8s.apimachinery.pkg.util.intstr.IntOrString'] = { oneOf: [{ type: 'string' }, { type: 'integer' }] };
  defs['io.k8s.apimachinery.pkg.api.resource.Quantity'] = { oneOf: [{ type: 'string' }, { type: 'number' }] };
  mkdirSync(dir, { recursive: true });
  let kinds = 0;
  for (const [name, def] of Object.entries(defs)) {
    const gvks = def['x-kubernetes-group-version-kind'] as Gvk[] | undefined;
    if (gvks === undefined) continue;
    const refs = reachable(def, defs);
    const definitions = Object.fromEntries([...refs].sort().map((r) => [r, defs[r]]));
    for (const gvk of gvks) {
      // kubeconform's name for it: <kind>-<first label of the group>-<version>, <kind>-<version> for the core group.
      const suffix = gvk.group === '' ? `-${gvk.version}` : `-${gvk.group.split('.')[0]}-${gvk.version}`.toLowerCase();
      const apiVersion = gvk.group === '' ? gvk.version : `${gvk.group}/${gvk.version}`;
      const props = { ...(def.properties as Schema) };
      // The document's own kind and apiVersion only, as kubeconform's schemas have them.
      props.kind = { type: 'string', enum: [gvk.kind] };
      props.apiVersion = { type: 'string', enum: [apiVersion] };
      const schema = { $schema: 'http://json-schema.org/draft-07/schema#', ...def, properties: props, definitions, 'x-lantern-source': name };
      writeFileSync(join(dir, `${gvk.kind.toLowerCase()}${suffix}.json`), JSON.stringify(schema));
      kinds++;
    }
  }
  return { location: join(dir, '{{ .ResourceKind }}{{ .KindSuffix }}.json'), kinds };
}
