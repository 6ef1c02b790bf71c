/**
 * The Rollout on Kubernetes: the standalone spec's plan (strategy, analysis, gates,
 * notifications) with, in place of a listener and targets, the Deployment being released
 * (`workloadRef`), the Service users reach, the traffic router that splits them, and where
 * the default judge reads its counts. The CRD's schema is generated from this one
 * (src/kube/crd.ts), so what `kubectl apply` accepts and what the operator validates are
 * the same rules.
 */
import { z } from 'zod';
import { duration, timerDuration } from '../duration.js';
import { API_VERSION, exactlyOne, httpUrl } from './common.js';
import { rolloutSpec } from './rollout.js';
import { COUNT_PRESETS, KUBE_STATE_METRICS_REASON, type CountPreset } from '../presets/counts.js';

/** A Kubernetes object name (RFC 1123 subdomain, as most kinds require). */
export const k8sName = z
  .string()
  .max(253, 'must be at most 253 characters')
  .regex(
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
    'must be lowercase letters, digits, dashes and dots, starting and ending with a letter or digit',
  );

/** A namespace or a Service name (RFC 1123 label). */
export const k8sLabel = z
  .string()
  .regex(
    /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/,
    'must be lowercase letters, digits and dashes (at most 63), starting and ending with a letter or digit',
  );

/** The Deployment being released: its pod template is the new version; kanari keeps it at 0 replicas. */
export const workloadRef = z.strictObject({
  apiVersion: z.literal('apps/v1').default('apps/v1'),
  kind: z.literal('Deployment').default('Deployment'),
  name: k8sName,
});

/** The Service users reach the workload by; kanari adds one Service per version beside it, with its ports. */
export const serviceRef = z.strictObject({
  name: k8sLabel,
  /** The Service port traffic routers send to (its number); default the Service's first port. */
  port: z.number().int().min(1).max(65535).optional(),
});

/** Gateway API: the HTTPRoute whose rules send to `service`; kanari adds its own named rules before them. */
export const gatewayApiRouting = z.strictObject({
  httpRoute: k8sName,
  /** The HTTPRoute's namespace, when not the Rollout's. */
  namespace: k8sLabel.optional(),
});

/** Istio: the VirtualService routes that send to `service`, and the DestinationRule whose subsets name the versions. */
export const istioRouting = z.strictObject({
  virtualService: z.strictObject({
    name: k8sName,
    /** The `http` routes (by `name`) kanari splits; default every route whose destinations are `service`. */
    routes: z.array(z.string().min(1)).optional(),
  }),
  destinationRule: z.strictObject({ name: k8sName }),
});

/** ingress-nginx (and controllers reading its canary annotations): the Ingress users reach `service` by. */
export const nginxRouting = z.strictObject({
  ingress: k8sName,
  /** The annotation prefix, for controllers that read the same annotations under another one. */
  annotationPrefix: z.string().min(1).default('nginx.ingress.kubernetes.io'),
});

/** No mesh: the canary's share is its share of ready pods behind `service`. */
export const replicasRouting = z.strictObject({});

export const trafficRouting = z
  .strictObject({
    gatewayAPI: gatewayApiRouting.optional(),
    istio: istioRouting.optional(),
    nginx: nginxRouting.optional(),
    replicas: replicasRouting.optional(),
  })
  .superRefine(exactlyOne(['gatewayAPI', 'istio', 'nginx', 'replicas']));
export type TrafficRouting = z.output<typeof trafficRouting>;

/** The routers' names as the traffic factory knows them. */
export const KUBERNETES_ROUTERS = ['gatewayapi', 'istio', 'nginx', 'replicas'] as const;
export type KubernetesRouterName = (typeof KUBERNETES_ROUTERS)[number];

export function routerNameOf(t: TrafficRouting): KubernetesRouterName {
  if (t.gatewayAPI) return 'gatewayapi';
  if (t.istio) return 'istio';
  if (t.nginx) return 'nginx';
  return 'replicas';
}

/** Where the default judge reads per-version counts: a Prometheus and the preset for the mesh or ingress that counts. */
export const kubernetesMetrics = z.strictObject({
  prometheus: z.strictObject({
    address: httpUrl,
    /** Which proxy counts requests per version: `istio` or `ingress-nginx`; default from the router (istio, nginx). */
    preset: z.enum(COUNT_PRESETS).optional(),
    timeout: timerDuration.default(5000),
  }),
});

/**
 * The proxy that counts each router's requests per version. The Gateway API has several
 * implementations (Envoy Gateway, or Istio's sidecars), so a Rollout names its own;
 * replicas has no proxy at all.
 */
export const DEFAULT_COUNT_PRESET: Record<KubernetesRouterName, CountPreset | undefined> = {
  gatewayapi: undefined,
  istio: 'istio',
  nginx: 'ingress-nginx',
  replicas: undefined,
};

export const ENVOY_GATEWAY_REASON =
  'Envoy Gateway counts per HTTPRoute backendRef only behind the gatewayapi router, which writes a filter on each ' +
  "version's backendRef so that Envoy Gateway gives it a cluster of its own";

/** The count preset a Rollout's judge reads: the one it names, else its router's. */
export function countPresetOf(spec: {
  trafficRouting: TrafficRouting;
  metrics?: { prometheus: { preset?: CountPreset | undefined } } | undefined;
}): CountPreset | undefined {
  return spec.metrics?.prometheus.preset ?? DEFAULT_COUNT_PRESET[routerNameOf(spec.trafficRouting)];
}

const plan = rolloutSpec.shape;

export const kubernetesRolloutSpec = z
  .strictObject({
    workloadRef,
    service: serviceRef,
    trafficRouting,
    /** Pods of each version at full strength; default the Deployment's replicas when kanari took it over. */
    replicas: z.number().int().min(0).max(10_000).optional(),
    metrics: kubernetesMetrics.optional(),
    sticky: plan.sticky,
    progressDeadline: duration.default(600_000),
    analysisInterval: timerDuration.default(1000),
    strategy: plan.strategy,
    notifications: plan.notifications,
    webhooks: plan.webhooks,
  })
  .superRefine((spec, ctx) => {
    if (!spec.metrics) return;
    const path = ['metrics', 'prometheus', 'preset'];
    const preset = countPresetOf(spec);
    const router = routerNameOf(spec.trafficRouting);
    const refuse = (message: string) => ctx.addIssue({ code: 'custom', path, message, input: spec.metrics });
    if (preset === undefined)
      refuse(
        router === 'gatewayapi'
          ? 'name the proxy that counts requests per version: envoy-gateway, or istio when Istio implements your Gateway API (its sidecars count per workload)'
          : `the ${router} router has no proxy that counts requests per version; name the one that does: istio or ingress-nginx`,
      );
    else if (preset === 'kube-state-metrics') refuse(`${KUBE_STATE_METRICS_REASON}; name istio or ingress-nginx`);
    else if (preset === 'envoy-gateway' && router !== 'gatewayapi')
      refuse(`${ENVOY_GATEWAY_REASON}; the ${router} router writes none, name istio or ingress-nginx`);
  });
export type KubernetesRolloutSpec = z.output<typeof kubernetesRolloutSpec>;

export const kubernetesMetadata = z.looseObject({
  name: k8sName,
  namespace: k8sLabel.optional(),
});

/** A Rollout with a `workloadRef` is a Kubernetes one (kinds.ts picks this schema by that field). */
export const kubernetesRolloutDocument = z.strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('Rollout'),
  metadata: kubernetesMetadata,
  spec: kubernetesRolloutSpec,
  /** Written by the operator; ignored when a file is loaded. */
  status: z.unknown().optional(),
});
export type KubernetesRolloutDocument = z.output<typeof kubernetesRolloutDocument>;
