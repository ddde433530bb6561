// Which name a process's service.name is, from everything that may name it. Pure.
//
// Most specific first: what the process says of itself, then what its pod's authors said, then
// what Kubernetes derived, then the program:
// 1. OTEL_SERVICE_NAME (or service.name in OTEL_RESOURCE_ATTRIBUTES) in the process's environment:
//    the SDKs' own rule, so an instrumented process and Lantern agree;
// 2. the pod label app.kubernetes.io/name (the recommended labels' "name of the application");
// 3. the workload: its Deployment, StatefulSet, DaemonSet, CronJob or Job (k8s/workload.ts);
// 4. the container's name in the pod spec;
// 5. the program it runs (program-name.ts), what a process outside Kubernetes is named by.

export interface ServiceNameSources {
  env: string | null;
  appLabel?: string | null;
  workload?: string | null;
  container?: string | null;
  program: string;
}

const given = (s: string | null | undefined): s is string => s != null && s.trim() !== '';

export function serviceName(s: ServiceNameSources): string {
  for (const name of [s.env, s.appLabel, s.workload, s.container]) if (given(name)) return name;
  return s.program;
}
