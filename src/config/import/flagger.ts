/**
 * A Flagger `Canary` as a kanari Kubernetes Rollout. Flagger advances by `stepWeight`
 * (or through `stepWeights`) every `interval` until `maxWeight`, then promotes; kanari
 * writes that out as setWeight and pause steps with a background analysis. `iterations`
 * with `match` is an A/B test (a header route held for the iterations); `iterations`
 * alone is blue/green (the checks before the switch).
 */
import { formatDuration, parseDuration } from '../duration.js';
import { API_VERSION } from '../schemas/common.js';
import { durationOf, type UniqueNames } from './convert.js';
import { flaggerMetrics, flaggerWebhooks } from './flagger-analysis.js';
import { importedMetadata, type ImportOptions } from './metadata.js';
import type { Field } from './source.js';

type Json = Record<string, unknown>;

const GENERATED =
  'Flagger generates the routing object from it; kanari edits the one you own instead: write it there; dropped';

const SERVICE_REASONS: Record<string, string> = Object.fromEntries(
  [
    'gateways',
    'hosts',
    'gatewayRefs',
    'trafficPolicy',
    'retries',
    'headers',
    'corsPolicy',
    'rewrite',
    'timeout',
    'match',
    'delegation',
    'backends',
    'apex',
    'primary',
    'canary',
    'appProtocol',
    'mirror',
  ].map((k) => [k, GENERATED]),
);
const PORTS = 'kanari copies the ports of the Service users reach; dropped';
Object.assign(SERVICE_REASONS, { targetPort: PORTS, portName: PORTS, portDiscovery: PORTS });

const SPEC_REASONS: Record<string, string> = {
  autoscalerRef: 'kanari sizes versions itself (spec.replicas); an autoscaler is not carried; dropped',
  skipAnalysis: 'kanari always runs the analysis it is given; remove the templates to skip it; dropped',
  revertOnDeletion: 'kanari never rewrites what you wrote, so there is nothing to revert; dropped',
  suspend: 'pause a kanari rollout with `kanari pause`; dropped',
  routeRef: 'kanari has no router for it; dropped',
  upstreamRef: 'kanari has no router for it; dropped',
  ingressRef: 'only the nginx router reads it; dropped',
};

const ANALYSIS_REASONS: Record<string, string> = {
  alerts: "kanari notifies through spec.notifications (a URL); Flagger's AlertProviders are not read; dropped",
  primaryReadyThreshold: 'kanari waits for every pod of a version to be ready; dropped',
  canaryReadyThreshold: 'kanari waits for every pod of a version to be ready; dropped',
  stepWeightPromotion: 'kanari switches all traffic at promotion at once; dropped',
};

export function importFlaggerCanary(
  root: Field,
  metricTemplates: ReadonlyMap<string, Field>,
  opts: ImportOptions,
  names: UniqueNames,
): { rollout: Json; templates: Json[] } {
  const metadata = importedMetadata(root);
  const spec = root.get('spec').map();
  const target = spec.get('targetRef').map();
  const kind = target.get('kind').str();
  if (kind && kind !== 'Deployment')
    target.get('kind').drop(`kanari releases Deployments; move the ${kind}'s pod template into one`);
  target.get('apiVersion');
  const workload = target.get('name').str();
  if (!workload) throw root.doc.error(['spec', 'targetRef'], 'names no Deployment to release');
  target.rest();

  const svc = spec.get('service').map();
  const service: Json = { name: svc.get('name').str() ?? workload };
  const port = svc.get('port').int(1);
  if (port !== undefined) service.port = port;

  const provider = spec.get('provider').str() ?? opts.meshProvider;
  const routing = flaggerRouting(provider, spec, String(service.name));
  svc.rest(SERVICE_REASONS);

  const out: Json = { workloadRef: { name: workload }, service, trafficRouting: routing.routing };
  const deadline = spec.get('progressDeadlineSeconds').int();
  if (deadline !== undefined) out.progressDeadline = `${deadline}s`;

  const analysisField = spec.has('analysis') ? spec.get('analysis') : spec.get('canaryAnalysis');
  const analysis = analysisField.map();
  // Flagger's own floor: an interval under 10 s is run every 10 s.
  const intervalMs = Math.max(10_000, parseDuration(durationOf(analysis.get('interval'), false) ?? '1m')!);
  const interval = formatDuration(intervalMs);
  const threshold = Math.max(1, analysis.get('threshold').int() ?? 1);
  const iterations = analysis.get('iterations').int() ?? 0;
  const matches = analysis.get('match').list();
  const blueGreen = iterations > 0 && matches.length === 0;

  const metrics = flaggerMetrics(analysis.get('metrics'), {
    router: routing.name,
    prometheus: spec.get('metricsServer').str() ?? opts.prometheus,
    namespace: metadata.namespace ?? 'default',
    name: metadata.name,
    ...(routing.ingress ? { ingress: routing.ingress } : {}),
    templates: metricTemplates,
    interval,
    threshold,
    ...(blueGreen ? { count: iterations } : {}),
  });
  const templateName = metrics.length > 0 ? names.take(metadata.name) : '';
  const templates: Json[] =
    metrics.length === 0
      ? []
      : [
          {
            apiVersion: API_VERSION,
            kind: 'AnalysisTemplate',
            metadata: { name: templateName },
            spec: { threshold: { metrics } },
          },
        ];
  const judged = templates.length > 0 ? { templates: [templateName] } : undefined;

  const mirror = analysis.get('mirror').bool() ?? false;
  const mirrorWeight = analysis.get('mirrorWeight').int();
  const mirrorSteps = (): Json[] => {
    if (!mirror) return [];
    if (!routing.matches) {
      analysis.get('mirror').drop('the replicas router (no mesh) cannot mirror; dropped');
      return [];
    }
    return [{ setMirror: { percent: mirrorWeight ?? 100 } }];
  };

  if (blueGreen) {
    const steps = mirrorSteps();
    out.strategy = {
      ...(steps.length > 0 ? { canary: { steps } } : {}),
      blueGreen: judged ? { prePromotionAnalysis: judged } : {},
    };
  } else {
    const steps: Json[] = [];
    if (iterations > 0) {
      const [first, ...more] = matches;
      for (const m of more) m.drop('kanari routes by one header or cookie; dropped');
      const match = first ? headerMatch(first.map()) : undefined;
      if (match && routing.matches) steps.push({ setHeaderRoute: { match } });
      else first?.drop('the replicas router (no mesh) cannot route by header; dropped');
      steps.push({ pause: { duration: formatDuration(intervalMs * iterations) } });
    } else {
      const mirrored = mirrorSteps();
      if (mirrored.length > 0) steps.push(...mirrored, { pause: { duration: interval } }, { setMirror: {} });
      const weights = flaggerWeights(analysis);
      if (weights.length === 0)
        throw analysis.doc.error(analysis.path, 'has no stepWeight, stepWeights or iterations, so it never advances');
      for (const w of weights) steps.push({ setWeight: w }, { pause: { duration: interval } });
    }
    out.strategy = { canary: { steps, ...(judged ? { analysis: { ...judged, startingStep: 0 } } : {}) } };
  }

  const affinity = analysis.get('sessionAffinity').map();
  const cookie = affinity.get('cookieName').str();
  if (cookie) out.sticky = { cookie };
  affinity.rest({ maxAge: "kanari's sticky cookie lasts as long as the rollout; dropped" });

  const { webhooks, notifications } = flaggerWebhooks(analysis.get('webhooks'));
  if (webhooks.length > 0) out.webhooks = webhooks;
  if (notifications.length > 0) out.notifications = notifications;
  analysis.get('maxWeight');
  analysis.get('stepWeight');
  analysis.get('stepWeights');
  analysis.rest(ANALYSIS_REASONS);
  spec.rest(SPEC_REASONS);
  return { rollout: { apiVersion: API_VERSION, kind: 'Rollout', metadata, spec: out }, templates };
}

/** The weights Flagger's scheduler walks through (nextStepWeight): each held for one interval. */
export function flaggerWeights(analysis: Field): number[] {
  const list = analysis
    .get('stepWeights')
    .list()
    .map((w) => w.int() ?? 0);
  const step = analysis.get('stepWeight').int() ?? 0;
  if (step <= 0 && list.length > 0) {
    const max = Math.min(100, list[list.length - 1]!);
    const out: number[] = [];
    for (const w of list) {
      out.push(Math.min(w, max));
      if (w >= max) break;
    }
    return out;
  }
  if (step <= 0) return [];
  const max = analysis.get('maxWeight').int() ?? 100;
  const out: number[] = [];
  for (let w = step; ; w += step) {
    out.push(Math.min(w, 100));
    if (w >= max || w >= 100) break;
  }
  return out;
}

/** `headers: {x-canary: {exact: insider}}`, or a cookie by Flagger's usual regex `^(.*?;)?(name=value)(;.*)?$`. */
function headerMatch(m: Field): Json | undefined {
  const headers = m.get('headers').map();
  const [name, ...more] = headers.keys();
  m.rest({ sourceLabels: 'kanari matches requests, not their source workload; dropped' });
  if (!name) {
    m.drop('kanari routes by a header or cookie; this match has none; dropped');
    return undefined;
  }
  for (const k of more) headers.get(k).drop('kanari routes by one header or cookie; dropped');
  const cond = headers.get(name).map();
  const exact = cond.get('exact').str();
  const prefix = cond.get('prefix').str();
  const regex = cond.get('regex').str();
  cond.rest({ suffix: 'kanari matches a value, a prefix or a regex; dropped' });
  const cookie =
    regex && name.toLowerCase() === 'cookie'
      ? /^\^\(\.\*\?;\)\?\(([^=()]+)=([^()]*)\)\(;\.\*\)\?\$$/.exec(regex)
      : null;
  if (cookie) return { cookie: cookie[1], value: cookie[2] };
  if (name.toLowerCase() === 'cookie' && exact !== undefined) return { cookie: exact, value: 'always' };
  if (exact !== undefined) return { header: name, value: exact };
  if (prefix !== undefined) return { header: name, prefix };
  if (regex !== undefined) return { header: name, regex };
  return { header: name, value: '' };
}

interface FlaggerRouting {
  name: string;
  routing: Json;
  matches: boolean;
  ingress?: string;
}

function flaggerRouting(provider: string, spec: Field, service: string): FlaggerRouting {
  const mesh = provider.split(':')[0]!;
  const at = spec.has('provider') ? spec.get('provider') : spec.get('service');
  if (mesh === 'istio') {
    at.drop(
      `Flagger generates the VirtualService ${service} and DestinationRules ${service}-canary and ${service}-primary; kanari edits a VirtualService and one DestinationRule you own: assumed both are named ${service}`,
    );
    return {
      name: 'istio',
      routing: { istio: { virtualService: { name: service }, destinationRule: { name: service } } },
      matches: true,
    };
  }
  if (mesh === 'gatewayapi') {
    at.drop(
      `Flagger generates the HTTPRoute ${service}; kanari edits an HTTPRoute you own: assumed it is named ${service}`,
    );
    return { name: 'gatewayapi', routing: { gatewayAPI: { httpRoute: service } }, matches: true };
  }
  if (mesh === 'nginx') {
    const ingress = spec.get('ingressRef').map().get('name').str() ?? service;
    return { name: 'nginx', routing: { nginx: { ingress } }, matches: true, ingress };
  }
  if (mesh !== 'kubernetes')
    at.drop(
      `kanari has no router for ${provider} (it routes with the Gateway API, Istio, NGINX canary annotations or replica ratios); the rollout uses replica ratios instead`,
    );
  return { name: 'replicas', routing: { replicas: {} }, matches: false };
}
