// A pod's workload: the controller that made it, and that one's controller. Pure.
//
// Deployments do not own pods: a Deployment owns ReplicaSets (named <deployment>-<pod-template-hash>),
// which own the pods; a CronJob owns Jobs, which own the pods. So a pod's ReplicaSet or Job is looked
// up for its own owner (owner-cache.ts); StatefulSets and DaemonSets own their pods directly.
// Attribute names: the semantic conventions' k8s.* resource attributes.
import type { Attributes } from '../../model/span.js';
import type { OwnerRef } from './objects.js';

export interface Workload {
  /** k8s.deployment.name, k8s.replicaset.name, k8s.statefulset.name, … as known. */
  attributes: Attributes;
  /** What names the workload for service.name: its Deployment, StatefulSet, DaemonSet, CronJob or Job. */
  name: string | null;
}

/** Kinds whose own controller names the workload: the pod's owner → its owner's kind. */
export const PARENT_KINDS: Readonly<Record<string, string>> = { ReplicaSet: 'Deployment', Job: 'CronJob' };

const ATTRIBUTE: Readonly<Record<string, string>> = {
  ReplicaSet: 'k8s.replicaset.name',
  Deployment: 'k8s.deployment.name',
  StatefulSet: 'k8s.statefulset.name',
  DaemonSet: 'k8s.daemonset.name',
  Job: 'k8s.job.name',
  CronJob: 'k8s.cronjob.name',
};

/**
 * The workload of a pod whose controller is `owner`; `parent`: the controller's own controller
 * (ReplicaSet → Deployment, Job → CronJob), null when it has none, undefined when not known (yet).
 * A bare ReplicaSet names no workload (it is a Deployment's part, or a leftover); a bare Job does.
 */
export function workloadOf(owner: OwnerRef | null, parent?: OwnerRef | null): Workload {
  const attributes: Attributes = {};
  if (owner === null) return { attributes, name: null };
  const own = ATTRIBUTE[owner.kind];
  if (own !== undefined) attributes[own] = owner.name;
  const expected = PARENT_KINDS[owner.kind];
  const up = parent != null && parent.kind === expected ? parent : null;
  if (up !== null) attributes[ATTRIBUTE[up.kind]!] = up.name;
  const name = up !== null ? up.name : owner.kind === 'StatefulSet' || owner.kind === 'DaemonSet' || owner.kind === 'Job' ? owner.name : null;
  return { attributes, name };
}
