/**
 * What the kubernetes target writes, as pure functions: a version's Deployment (the
 * release's pod template, with kanari's labels added to the user's) and its Service (the
 * user's Service's ports, selecting only that version's pods). Inputs come from a Rollout and
 * a Service a user may have written in any shape, so each is checked with a message that
 * says which field is wrong.
 */
import type { KubeObject, OwnerReference } from '../kube/api.js';
import { record, versionLabels, versionObjectName, versionSelector } from '../kube/versions.js';

export interface VersionObjectsInput {
  rollout: string;
  id: string;
  namespace: string;
  owner: OwnerReference;
}

function metadataFor(i: VersionObjectsInput) {
  return {
    name: versionObjectName(i.rollout, i.id),
    namespace: i.namespace,
    labels: versionLabels(i.rollout, i.id),
    ownerReferences: [{ ...i.owner, controller: true, blockOwnerDeletion: true }],
  };
}

/** The version's Deployment: `replicas` pods of `template`, its labels plus the version's selector. */
export function deploymentFor(i: VersionObjectsInput & { template: Record<string, unknown>; replicas: number }) {
  const template = i.template;
  const meta = template.metadata === undefined ? {} : template.metadata;
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta))
    throw new Error('the pod template\'s "metadata" must be an object');
  const labels = (meta as { labels?: unknown }).labels ?? {};
  if (
    typeof labels !== 'object' ||
    labels === null ||
    Array.isArray(labels) ||
    !Object.values(labels).every((v) => typeof v === 'string')
  )
    throw new Error('the pod template\'s "metadata.labels" must map names to strings');
  const containers = record(template.spec).containers;
  if (!Array.isArray(containers) || containers.length === 0)
    throw new Error('the pod template\'s "spec.containers" must list at least one container');
  const selector = versionSelector(i.rollout, i.id);
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: metadataFor(i),
    spec: {
      replicas: i.replicas,
      selector: { matchLabels: selector },
      template: { ...template, metadata: { ...meta, labels: { ...labels, ...selector } } },
    },
  } satisfies KubeObject;
}

export interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number | string;
  protocol?: string;
  appProtocol?: string;
}

/** The user's Service's ports, checked; node ports are left out (a version's Service is ClusterIP). */
export function portsOf(service: KubeObject): ServicePort[] {
  const where = `Service ${service.metadata.name}`;
  const ports = record(service.spec).ports;
  if (!Array.isArray(ports) || ports.length === 0) throw new Error(`${where} has no "spec.ports"`);
  return ports.map((raw, n) => {
    const p = record(raw);
    const at = `${where} spec.ports[${n}]`;
    if (typeof p.port !== 'number' || !Number.isInteger(p.port) || p.port < 1 || p.port > 65535)
      throw new Error(`${at}.port must be a port number (got ${JSON.stringify(p.port)})`);
    const out: ServicePort = { port: p.port };
    for (const key of ['name', 'protocol', 'appProtocol'] as const) {
      if (p[key] === undefined) continue;
      if (typeof p[key] !== 'string') throw new Error(`${at}.${key} must be a string`);
      out[key] = p[key];
    }
    if (p.targetPort !== undefined) {
      if (typeof p.targetPort !== 'number' && typeof p.targetPort !== 'string')
        throw new Error(`${at}.targetPort must be a number or a port name`);
      out.targetPort = p.targetPort;
    }
    return out;
  });
}

/** The version's Service: the user's ports, selecting only this version's pods. */
export function serviceFor(i: VersionObjectsInput & { ports: ServicePort[] }) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: metadataFor(i),
    spec: { type: 'ClusterIP', selector: versionSelector(i.rollout, i.id), ports: i.ports },
  } satisfies KubeObject;
}

/** How a version is reached inside the cluster: its Service's DNS name and first port. */
export function endpointOf(name: string, namespace: string, ports: ServicePort[]): string {
  return `${name}.${namespace}.svc:${ports[0]!.port}`;
}
