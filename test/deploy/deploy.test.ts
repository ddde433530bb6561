// What deploy/ and otel-config/ ship, checked offline by the real tools: every Collector pipeline
// of otel-config/ by the Collector's own `validate` (the test distribution of test/e2e-tools/otelcol,
// v0.161.0, which has every component they use), the Helm chart by `helm lint` and `helm template`
// (Helm 4, test/e2e-tools/k8s) with default and non-default values, the plain manifests and every
// rendering of the chart by kubeconform against strict JSON schemas made from the Kubernetes OpenAPI
// document of the pinned release, and the agent configuration each of them carries by the agent's
// own configuration loader. No cluster is involved: nothing here runs the DaemonSet.
// Each check is also shown to fail on a broken input, so a pass means something.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { parseAllDocuments, stringify } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { repoRoot } from '../helpers/cli.js';
import { helmBinaryPath, kubeconformBinaryPath, kubernetesOpenapiPath, kubernetesVersion, writeKubeconformSchemas } from '../helpers/k8s-tools.js';
import { otelcolBinaryPath } from '../helpers/otelcol.js';
import { requireBinary } from '../helpers/tool-process.js';

const otelDir = join(repoRoot, 'otel-config');
const deployDir = join(repoRoot, 'deploy');
const chart = join(deployDir, 'helm', 'lantern');
const work = mkdtempSync(join(tmpdir(), 'lantern-deploy-test-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

interface Run {
  code: number | null;
  out: string;
}

function run(bin: string, args: string[], env: NodeJS.ProcessEnv = {}): Run {
  // A clean environment: no ${env:…} of the configs and no KUBECONFIG/HELM_* of the machine leak in.
  const r = spawnSync(bin, args, {
    encoding: 'utf8', timeout: 120_000, maxBuffer: 64 << 20,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: work, HELM_CACHE_HOME: join(work, 'helm-cache'), HELM_CONFIG_HOME: join(work, 'helm-config'), HELM_DATA_HOME: join(work, 'helm-data'), ...env },
  });
  if (r.error) throw r.error;
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

type Doc = { kind?: string; metadata?: { name?: string }; data?: Record<string, string>; spec?: any }; // eslint-disable-line @typescript-eslint/no-explicit-any

function docs(text: string): Doc[] {
  return parseAllDocuments(text).map((d) => {
    if (d.errors.length > 0) throw new Error(`not valid YAML: ${d.errors.map(String).join('; ')}`);
    return d.toJS() as Doc;
  }).filter((d) => d !== null);
}

/** The agent's own loader on a lantern.yaml (the chart's `kubernetes` and `selection` included). */
async function checkAgentConfig(t: Test, name: string, text: string): Promise<void> {
  const file = join(work, `${name}.lantern.yaml`);
  writeFileSync(file, text);
  try {
    loadConfig({ config: file }, {});
    t.pass(`${name}: the agent's configuration loader takes lantern.yaml as it is`);
  } catch (e) {
    t.fail(`${name}: the agent refuses lantern.yaml: ${(e as Error).message}`);
  }
}

t.test('otel-config: every Collector pipeline passes the Collector\'s own validation', async (t) => {
  const bin = otelcolBinaryPath();
  requireBinary('OpenTelemetry Collector', bin);
  const files = readdirSync(otelDir).filter((f) => f.endsWith('.yaml')).sort();
  t.ok(files.length >= 7, `one file per backend: ${files.join(', ')}`);
  const gate = '--feature-gates=service.profilesSupport';
  for (const f of files) {
    const text = readFileSync(join(otelDir, f), 'utf8');
    const profiles = /^\s+profiles\//m.test(text);
    const r = run(bin, ['validate', ...(profiles ? [gate] : []), '--config', `file:${join(otelDir, f)}`]);
    t.equal(r.code, 0, `${f}${profiles ? ` (with ${gate})` : ''}: otelcol validate`, { output: r.out });
    if (profiles) {
      const without = run(bin, ['validate', '--config', `file:${join(otelDir, f)}`]);
      t.not(without.code, 0, `${f}: refused without the feature gate, as the README says`);
      t.match(without.out, /service\.profilesSupport/, `${f}: the Collector names the gate`);
    }
  }
  // The files combine: pipelines and exporters have distinct names, receivers and processors are the same.
  const all = run(bin, ['validate', gate, ...files.flatMap((f) => ['--config', `file:${join(otelDir, f)}`])]);
  t.equal(all.code, 0, 'all files together', { output: all.out });
  // Environment variables the files read, set: they take the values given.
  const env = run(bin, ['validate', '--config', `file:${join(otelDir, 'traces-jaeger.yaml')}`], { JAEGER_OTLP_ENDPOINT: 'jaeger.example:4317' });
  t.equal(env.code, 0, 'with JAEGER_OTLP_ENDPOINT set', { output: env.out });
  // validate checks settings, not only YAML: a misspelt setting and a dangling exporter fail.
  const bad = join(work, 'bad.yaml');
  writeFileSync(bad, readFileSync(join(otelDir, 'traces-jaeger.yaml'), 'utf8').replace('check_interval', 'check_intervall'));
  const r1 = run(bin, ['validate', '--config', `file:${bad}`]);
  t.not(r1.code, 0, 'a misspelt processor setting is refused');
  t.match(r1.out, /check_intervall/);
  writeFileSync(bad, readFileSync(join(otelDir, 'metrics-prometheus.yaml'), 'utf8').replace('exporters: [prometheusremotewrite]', 'exporters: [prometheus]'));
  const r2 = run(bin, ['validate', '--config', `file:${bad}`]);
  t.not(r2.code, 0, 'an exporter that is not configured is refused');
});

// Non-default values: every switch of the chart turned.
const customValues = {
  image: { repository: 'registry.example/lantern', tag: '0.1.0-test', pullPolicy: 'Always' },
  imagePullSecrets: [{ name: 'regcred' }],
  otlp: {
    endpoint: 'http://otel-collector.observability:4317', protocol: 'grpc', headers: { 'x-scope-orgid': 'team-a' },
    headersSecret: { name: 'otlp-auth', key: 'headers' },
    metrics: { endpoint: 'http://otel-collector.observability:4318/v1/metrics' },
    logs: { protocol: 'http/protobuf', endpoint: 'http://otel-collector.observability:4318/v1/logs' },
  },
  collectors: ['sockets', 'process', 'profiler'],
  profiler: { frequency: 49, interval: 15, pyroscope: { url: 'http://pyroscope.observability:4040', tenantId: 'team-a' } },
  selection: { include: [{ k8s_namespace: 'shop' }], exclude: [{ exe: 'otelcol*' }, { k8s_pod_labels: { 'lantern.example/trace': 'disabled' } }], default_excludes: false, rescan_seconds: 30 },
  kubernetes: { enabled: true, apiUrl: 'https://kubernetes.default.svc', tokenFile: '/var/run/secrets/kubernetes.io/serviceaccount/token' },
  probes: { files: { 'tcp-retransmits.bt': 'tracepoint:tcp:tcp_retransmit_skb { printf("pid=%d comm=%s\\n", pid, comm); }\n' } },
  log: { level: 'debug', format: 'text' },
  extraConfig: { spans: { max_per_second: 5000 } },
  extraEnv: [{ name: 'OTEL_SERVICE_NAME', value: 'lantern-agent' }],
  resources: { requests: { cpu: '200m', memory: '300Mi' }, limits: { cpu: 2, memory: '2Gi' } },
  capabilities: ['BPF', 'PERFMON', 'SYS_PTRACE', 'DAC_READ_SEARCH', 'SYSLOG'],
  extraCapabilities: ['SYS_RESOURCE', 'SYSLOG'],
  tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'observability', effect: 'NoSchedule' }],
  nodeSelector: { 'kubernetes.io/os': 'linux', 'lantern.example/enabled': 'true' },
  affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/arch', operator: 'In', values: ['amd64'] }] }] } } },
  podAnnotations: { 'example.com/team': 'observability' },
  priorityClassName: '',
  serviceAccount: { create: true, name: 'lantern-agent', annotations: { 'example.com/owner': 'sre' } },
};
const privilegedValues = { privileged: true, probes: { enabled: false }, rbac: { create: false }, serviceAccount: { create: false, name: 'existing' }, kubernetes: { enabled: false } };

interface Rendering {
  name: string;
  file: string;
  docs: Doc[];
}
const renderings: Rendering[] = [];

t.test('helm: lint and template the chart with default and non-default values', async (t) => {
  const helm = helmBinaryPath();
  requireBinary('Helm', helm);
  t.match(run(helm, ['version']).out, /v4\.\d+\.\d+/, 'Helm 4');
  const valueFiles: Array<[string, object | null]> = [['default', null], ['custom', customValues], ['privileged', privilegedValues]];
  for (const [name, values] of valueFiles) {
    const args = values === null ? [] : ['--values', join(work, `${name}-values.yaml`)];
    if (values !== null) writeFileSync(args[1] as string, stringify(values));
    const lint = run(helm, ['lint', '--strict', chart, ...args]);
    t.equal(lint.code, 0, `helm lint --strict (${name} values)`, { output: lint.out });
    const r = run(helm, ['template', 'lantern', chart, '--namespace', 'lantern', ...args]);
    t.equal(r.code, 0, `helm template (${name} values)`, { output: r.out.slice(0, 4000) });
    const file = join(work, `rendered-${name}.yaml`);
    writeFileSync(file, r.out);
    renderings.push({ name, file, docs: docs(r.out) });
  }
  const kinds = (d: Doc[]): string[] => d.map((x) => x.kind ?? '?').sort();
  const [def, custom, priv] = renderings as [Rendering, Rendering, Rendering];
  t.same(kinds(def.docs), ['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'ConfigMap', 'DaemonSet', 'ServiceAccount'], 'default: every object');
  t.same(kinds(priv.docs), ['ConfigMap', 'DaemonSet'], 'no RBAC, no ServiceAccount, no probes ConfigMap when switched off');

  const ds = (r: Rendering): any => r.docs.find((d) => d.kind === 'DaemonSet')?.spec.template.spec; // eslint-disable-line @typescript-eslint/no-explicit-any
  const container = (r: Rendering): any => ds(r).containers[0]; // eslint-disable-line @typescript-eslint/no-explicit-any
  t.equal(ds(def).hostPID, true, 'hostPID');
  t.same(container(def).securityContext.capabilities, { drop: ['ALL'], add: ['BPF', 'PERFMON', 'SYS_PTRACE', 'SYS_RESOURCE', 'DAC_READ_SEARCH', 'SYSLOG', 'SYS_NICE', 'SYS_ADMIN'] }, 'default: precise capabilities');
  t.notOk(container(def).securityContext.privileged, 'default: not privileged');
  t.same(container(custom).securityContext.capabilities.add, ['BPF', 'PERFMON', 'SYS_PTRACE', 'DAC_READ_SEARCH', 'SYSLOG', 'SYS_RESOURCE'], 'capabilities replaced, extraCapabilities added once');
  t.equal(container(priv).securityContext.privileged, true, 'the privileged fallback');
  t.notOk(container(priv).securityContext.capabilities, 'privileged: no capability list');
  const mounts = (container(def).volumeMounts as Array<{ mountPath: string }>).map((m) => m.mountPath);
  for (const p of ['/sys/kernel/tracing', '/sys/kernel/debug', '/sys/fs/bpf', '/sys/kernel/btf', '/lib/modules', '/usr/lib/debug', '/etc/lantern', '/etc/lantern/probes.d']) t.ok(mounts.includes(p), `mounts ${p}`);
  t.equal(container(custom).image, 'registry.example/lantern:0.1.0-test', 'image');
  t.same(ds(custom).tolerations, customValues.tolerations, 'tolerations');
  t.same(ds(custom).nodeSelector, customValues.nodeSelector, 'nodeSelector');
  t.same(container(custom).resources, customValues.resources, 'resources');
  t.same(container(custom).env.find((e: { name: string }) => e.name === 'OTEL_EXPORTER_OTLP_HEADERS')?.valueFrom, { secretKeyRef: { name: 'otlp-auth', key: 'headers' } }, 'OTLP headers from a Secret');
  t.same(container(def).env.find((e: { name: string }) => e.name === 'K8S_NODE_NAME')?.valueFrom, { fieldRef: { fieldPath: 'spec.nodeName' } }, 'K8S_NODE_NAME from the downward API');
  const probes = custom.docs.find((d) => d.kind === 'ConfigMap' && d.metadata?.name === 'lantern-probes');
  t.same(Object.keys(probes?.data ?? {}), ['tcp-retransmits.bt'], 'probes ConfigMap from probes.files');

  const config = (r: Rendering): string => r.docs.find((d) => d.kind === 'ConfigMap' && d.metadata?.name === 'lantern')?.data?.['lantern.yaml'] ?? '';
  const customConfig = parseAllDocuments(config(custom))[0]?.toJS() as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  t.same(customConfig.selection, customValues.selection, 'selection passed into the agent configuration as it is');
  t.same(customConfig.otlp, {
    endpoint: customValues.otlp.endpoint, protocol: 'grpc', headers: { 'x-scope-orgid': 'team-a' },
    metrics: { endpoint: customValues.otlp.metrics.endpoint }, logs: { endpoint: customValues.otlp.logs.endpoint, protocol: 'http/protobuf' },
  }, 'otlp settings');
  t.same(customConfig.profiler, { frequency: 49, interval: 15, pyroscope: { url: 'http://pyroscope.observability:4040', tenant_id: 'team-a' } }, 'profiler and Pyroscope');
  t.same(customConfig.kubernetes, { enabled: true, api_url: customValues.kubernetes.apiUrl, token_file: customValues.kubernetes.tokenFile }, 'kubernetes settings');
  t.same(customConfig.spans, { max_per_second: 5000 }, 'extraConfig merged');
  for (const r of renderings) await t.test(`${r.name} values: lantern.yaml`, async (t) => checkAgentConfig(t, `chart-${r.name}`, config(r)));

  // The schema refuses what the agent would refuse, before anything is rendered.
  const badValues = join(work, 'bad-values.yaml');
  writeFileSync(badValues, stringify({ otlp: { protocol: 'http' }, collectors: ['sockets', 'gpu'], selection: { default_excludes: 'sometimes' } }));
  const bad = run(helm, ['lint', chart, '--values', badValues]);
  t.not(bad.code, 0, 'values.schema.json refuses an unknown protocol and collector, and default_excludes that is not a boolean');
  t.match(bad.out, /otlp\/protocol/);
  t.match(bad.out, /selection\/default_excludes/);
});

t.test('kubeconform: the plain manifests and every rendering of the chart against the Kubernetes schemas', async (t) => {
  const kubeconform = kubeconformBinaryPath();
  requireBinary('kubeconform', kubeconform);
  const openapi = kubernetesOpenapiPath();
  if (!existsSync(openapi)) throw new Error(`the Kubernetes OpenAPI document ${openapi} is missing: get it with \`bash scripts/build-test-tools.sh\``);
  const { location, kinds } = writeKubeconformSchemas(join(work, 'schemas'));
  t.ok(kinds > 100, `${kinds} kinds' schemas from the OpenAPI document of Kubernetes ${kubernetesVersion()}`);
  const validate = (files: string[]): { code: number | null; out: string; summary: { valid: number; invalid: number; errors: number; skipped: number } } => {
    const r = run(kubeconform, ['-strict', '-summary', '-output', 'json', '-schema-location', location, '-kubernetes-version', kubernetesVersion().replace(/^v/, ''), ...files]);
    let summary = { valid: 0, invalid: 0, errors: 0, skipped: 0 };
    try {
      summary = (JSON.parse(r.out) as { summary: typeof summary }).summary;
    } catch {
      // reported through the exit code and the output below
    }
    return { ...r, summary };
  };
  const plain = ['daemonset.yaml', 'probes-configmap.yaml'].map((f) => join(deployDir, f));
  const expected = [
    ['plain manifests', plain, 7],
    ...renderings.map((r) => [`chart, ${r.name} values`, [r.file], r.docs.length] as const),
  ] as const;
  t.ok(renderings.length === 3, 'the chart was rendered (helm test above) for every set of values');
  for (const [what, files, count] of expected) {
    const r = validate([...files]);
    t.equal(r.code, 0, `${what}: kubeconform -strict`, { output: r.out.slice(0, 4000) });
    t.same(r.summary, { valid: count, invalid: 0, errors: 0, skipped: 0 }, `${what}: all ${count} objects valid, none skipped`);
  }

  // Strict means strict: a misplaced field and a wrong type are caught.
  const bad = join(work, 'bad-daemonset.yaml');
  writeFileSync(bad, readFileSync(join(deployDir, 'daemonset.yaml'), 'utf8').replace('hostPID: true', 'hostPid: true'));
  const misspelt = validate([bad]);
  t.not(misspelt.code, 0, 'a misspelt field (hostPid) is refused');
  t.match(misspelt.out, /hostPid/);
  writeFileSync(bad, readFileSync(join(deployDir, 'daemonset.yaml'), 'utf8').replace('terminationGracePeriodSeconds: 30', 'terminationGracePeriodSeconds: "30s"'));
  t.not(validate([bad]).code, 0, 'a string where the API wants an integer is refused');
});

t.test('deploy/daemonset.yaml: its lantern.yaml is a configuration the agent takes', async (t) => {
  const cm = docs(readFileSync(join(deployDir, 'daemonset.yaml'), 'utf8')).find((d) => d.kind === 'ConfigMap' && d.metadata?.name === 'lantern');
  t.ok(cm?.data?.['lantern.yaml'], 'the ConfigMap has lantern.yaml');
  await checkAgentConfig(t, 'manifest', cm?.data?.['lantern.yaml'] ?? '');
});
