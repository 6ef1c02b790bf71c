/**
 * The composition root of Kubernetes mode, as src/server/compose.ts is of standalone: for
 * each Rollout resource, the traffic router its `trafficRouting` names, the kubernetes
 * deployment target, and the built-in `sequential` template counting from the Prometheus
 * its `metrics` names. The engine is the same.
 */
import { analysisTemplateSpec, type AnalysisTemplateSpec } from '../config/schemas/analysis.js';
import { countPresetOf, routerNameOf, type KubernetesRolloutDocument } from '../config/schemas/kubernetes.js';
import { presetCounts } from '../config/presets/counts.js';
import { describeRef, type KubeClient, type OwnerReference } from '../kube/api.js';
import type { Version } from '../config/schemas/table.js';
import { countedClusters } from '../traffic/kubernetes/gatewayapi/counted.js';
import type { TargetsFactory } from '../rollout/seams/targets.js';
import { KubernetesTarget } from '../targets/kubernetes.js';
import { kubernetesTrafficRouter } from '../traffic/kubernetes/index.js';
import type { KubernetesTrafficRouter } from '../traffic/kubernetes/kube-router.js';
import type { RunnerAdapters } from './runner.js';

/** How often the target and the replicas router look at their Deployments. */
export interface KubernetesWorldOptions {
  pollMs?: number;
  /** How long the mesh routers hold everyone on stable's own Service after a release (default 30 s). */
  holdMs?: number;
}

export function kubernetesWorld(client: KubeClient, options: KubernetesWorldOptions = {}): RunnerAdapters {
  return {
    traffic: (rollout, at): KubernetesTrafficRouter =>
      kubernetesTrafficRouter(rollout, {
        client,
        ...at,
        ...(options.holdMs === undefined ? {} : { holdMs: options.holdMs }),
      }),
    targets:
      (rollout: KubernetesRolloutDocument, owner: OwnerReference): TargetsFactory =>
      (events) => [
        new KubernetesTarget({
          client,
          namespace: rollout.metadata.namespace ?? 'default',
          owner,
          rollout: rollout.metadata.name,
          events,
          // Behind replicas, a pod is a share of traffic: the router sizes versions, not the target.
          ...(routerNameOf(rollout.spec.trafficRouting) === 'replicas' ? { sizedBy: 'traffic' as const } : {}),
          ...(options.pollMs ? { pollMs: options.pollMs } : {}),
        }),
      ],
    templates: async (rollout) => countingTemplates(rollout, await envoyGatewayClusters(client, rollout)),
  };
}

/**
 * Where Envoy Gateway counts each version of a Rollout that judges from it: the clusters of
 * kanari's weighted copies in its HTTPRoute, placed by the user's rules as they are when the
 * release starts (counted.ts). Undefined for any other preset.
 */
async function envoyGatewayClusters(
  client: KubeClient,
  rollout: KubernetesRolloutDocument,
): Promise<Partial<Record<Version, string[]>> | undefined> {
  const routing = rollout.spec.trafficRouting.gatewayAPI;
  if (!rollout.spec.metrics || countPresetOf(rollout.spec) !== 'envoy-gateway' || !routing) return undefined;
  const namespace = rollout.metadata.namespace ?? 'default';
  const ref = {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    namespace: routing.namespace ?? namespace,
    name: routing.httpRoute,
  };
  const route = await client.get(ref);
  if (!route)
    throw new Error(`${describeRef(ref)} does not exist, so where Envoy Gateway counts the versions is not known`);
  return countedClusters(route, { rollout: rollout.metadata.name, namespace, service: rollout.spec.service });
}

/**
 * The built-in `sequential` template of a Rollout with `metrics`: its counts from the
 * preset's Prometheus series, each version named by the Deployment it runs in
 * (`<rollout>-<instance>`), or for Envoy Gateway by the `clusters` of its backendRefs.
 * Without `metrics` the built-ins are as standalone, and a template that needs kanari's own
 * router is refused when the Rollout is loaded.
 */
export function countingTemplates(
  rollout: KubernetesRolloutDocument,
  clusters?: Partial<Record<Version, string[]>>,
): Record<string, AnalysisTemplateSpec> {
  const prometheus = rollout.spec.metrics?.prometheus;
  const preset = countPresetOf(rollout.spec);
  if (!prometheus || !preset || preset === 'kube-state-metrics') return {};
  if (preset === 'envoy-gateway' && !clusters)
    throw new Error('the envoy-gateway preset needs the clusters its HTTPRoute gives each version');
  const source = presetCounts(preset, {
    address: prometheus.address,
    namespace: rollout.metadata.namespace ?? 'default',
    versions: clusters ?? {
      // ingress-nginx labels a request by the Service its Ingress sends to: stable is served
      // through the user's own Ingress and Service (which the nginx router narrows to stable).
      stable: preset === 'ingress-nginx' ? rollout.spec.service.name : '{{service}}-{{stable}}',
      canary: '{{service}}-{{canary}}',
      baseline: '{{service}}-{{baseline}}',
    },
    timeout: prometheus.timeout,
  });
  const spec = analysisTemplateSpec.parse({ sequential: {} });
  return { sequential: { ...spec, sequential: { ...spec.sequential!, source: { prometheus: source } } } };
}
