/**
 * Istio names a Service by host, short (`web`, resolved in the VirtualService's namespace)
 * or qualified (`web.shop`, `web.shop.svc`, `web.shop.svc.cluster.local`); any of them is
 * the rollout's Service. Versions are DestinationRule subsets `kanari-<id>` selecting the
 * version label the deployment target puts on each version's pods.
 */
export function isServiceHost(host: string, service: string, namespace: string): boolean {
  return [
    service,
    `${service}.${namespace}`,
    `${service}.${namespace}.svc`,
    `${service}.${namespace}.svc.cluster.local`,
  ].includes(host);
}

export function subsetName(id: string): string {
  return `kanari-${id}`;
}

export function idOfSubset(name: string | undefined): string | undefined {
  return name?.startsWith('kanari-') && name.length > 'kanari-'.length ? name.slice('kanari-'.length) : undefined;
}

/** The labels a version's pods carry (see the deployment target), so a subset selects one version of one rollout. */
export function subsetLabels(rollout: string, id: string): Record<string, string> {
  return { 'kanari.dev/rollout': rollout, 'kanari.dev/version': id };
}
