// The resource attributes a pod gives the processes of one of its containers. Pure.
// Names: the semantic conventions' k8s.* resource attributes
// (https://opentelemetry.io/docs/specs/semconv/resource/k8s/).
import type { Attributes } from '../../model/span.js';
import type { PodRecord } from './objects.js';
import type { Workload } from './workload.js';

/** What a pod says about a process in it: attributes, and the names service.name may take. */
export interface PodMetadata {
  attributes: Attributes;
  appLabel: string | null;
  workload: string | null;
  container: string | null;
}

/** `container`: the container's name in the pod spec, null when its id is not (yet) in the pod's status. */
export function podMetadata(pod: PodRecord, container: string | null, workload: Workload): PodMetadata {
  const attributes: Attributes = {
    'k8s.pod.name': pod.name,
    'k8s.pod.uid': pod.uid,
    'k8s.namespace.name': pod.namespace,
    ...workload.attributes,
    // The namespace is what groups a team's services; the conventions' service.namespace is that.
    'service.namespace': pod.namespace,
  };
  if (pod.nodeName !== '') attributes['k8s.node.name'] = pod.nodeName;
  if (container !== null) attributes['k8s.container.name'] = container;
  return { attributes, appLabel: pod.appName, workload: workload.name, container };
}
