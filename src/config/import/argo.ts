/**
 * An Argo Rollouts `Rollout` as a kanari Kubernetes Rollout: the workload, the Service,
 * the router, and the canary steps or blue-green switch, with every field it cannot
 * carry reported at its path.
 */
import { API_VERSION } from '../schemas/common.js';
import { argValue, type ArgoTemplates, type ArgValue } from './argo-analysis.js';
import { argoRouting } from './argo-routing.js';
import { durationOf } from './convert.js';
import { importedMetadata, type ImportOptions } from './metadata.js';
import type { Field } from './source.js';

type Json = Record<string, unknown>;

export interface ArgoImport {
  rollout: Json;
  /** The Deployment to create when the Rollout held its pod template inline. */
  deployment?: Json;
}

const SIZING = 'kanari sizes each version itself (spec.replicas); dropped';

const CANARY_REASONS: Record<string, string> = {
  canaryService: 'kanari makes a Service per version (<rollout>-<version>) and routes to those; dropped',
  maxSurge: SIZING,
  maxUnavailable: SIZING,
  scaleDownDelaySeconds: 'kanari scales the old version down once traffic has left it; dropped',
  scaleDownDelayRevisionLimit: SIZING,
  abortScaleDownDelaySeconds: SIZING,
  dynamicStableScale: SIZING,
  minPodsPerReplicaSet: SIZING,
  replicaProgressThreshold: SIZING,
  antiAffinity: 'kanari copies the pod template as it is; put affinity rules in it; dropped',
  canaryMetadata: 'kanari labels each version kanari.dev/version itself; dropped',
  stableMetadata: 'kanari labels each version kanari.dev/version itself; dropped',
  pingPong: 'kanari makes a Service per version, so no ping-pong Services are needed; dropped',
};

const BLUE_GREEN_REASONS: Record<string, string> = {
  previewService:
    'kanari reaches the new version before the switch through a previewRoute (a header or cookie) on the router, or its own Service <rollout>-<version>; dropped',
  previewReplicaCount: SIZING,
  scaleDownDelayRevisionLimit: SIZING,
  abortScaleDownDelaySeconds: SIZING,
  antiAffinity: CANARY_REASONS.antiAffinity!,
  activeMetadata: CANARY_REASONS.stableMetadata!,
  previewMetadata: CANARY_REASONS.canaryMetadata!,
};

const SPEC_REASONS: Record<string, string> = {
  revisionHistoryLimit: 'kanari keeps no old ReplicaSets; dropped',
  minReadySeconds: 'set it on the Deployment; kanari copies its pod template only; dropped',
  paused: 'pause a kanari rollout with `kanari pause`; dropped',
  restartAt: 'kanari does not restart pods on a schedule; dropped',
  rollbackWindow: 'kanari rolls back to the stable version only; dropped',
  progressDeadlineAbort: 'kanari always aborts a rollout that passes its progressDeadline; dropped',
  analysis: 'kanari keeps every analysis run of a rollout; dropped',
  selector: 'kanari selects pods by its own labels (kanari.dev/rollout, kanari.dev/version); dropped',
};

export function importArgoRollout(root: Field, templates: ArgoTemplates, opts: ImportOptions): ArgoImport {
  const metadata = importedMetadata(root);
  const spec = root.get('spec').map();
  const out: Json = {};
  const result: ArgoImport = { rollout: { apiVersion: API_VERSION, kind: 'Rollout', metadata, spec: out } };

  const ref = spec.get('workloadRef').map();
  if (ref.present) {
    const kind = ref.get('kind').str();
    if (kind && kind !== 'Deployment')
      ref.get('kind').drop(`kanari releases Deployments; move the ${kind}'s pod template into one`);
    ref.get('apiVersion');
    ref.get('scaleDown').drop('kanari keeps the referenced Deployment at 0 replicas itself; dropped');
    out.workloadRef = { name: ref.get('name').str() ?? metadata.name };
    ref.rest();
  } else if (spec.has('template')) {
    result.deployment = deploymentFor(metadata, spec);
    spec
      .get('template')
      .drop(
        `kanari releases the pod template of a Deployment: it is written as Deployment ${String(metadata.name)} (kanari import --deployment FILE), which workloadRef names; apply it`,
      );
    out.workloadRef = { name: metadata.name };
  } else throw root.doc.error(['spec'], 'has neither workloadRef nor template, so there is nothing to release');

  const replicas = spec.get('replicas').int();
  if (replicas !== undefined) out.replicas = replicas;
  const deadline = spec.get('progressDeadlineSeconds').int();
  if (deadline !== undefined) out.progressDeadline = `${deadline}s`;
  const args = (f: Field) => rolloutArgs(f, root);
  const analysis = (f: Field) => analysisRef(f.map(), templates, args);

  const strategy = spec.get('strategy').map();
  if (strategy.has('blueGreen')) {
    const bg = strategy.get('blueGreen').map();
    out.service = { name: bg.get('activeService').str() ?? serviceFallback(bg, opts, metadata) };
    out.trafficRouting = { replicas: {} };
    const blueGreen: Json = {};
    const auto = bg.get('autoPromotionEnabled').bool();
    if (auto !== undefined) blueGreen.autoPromotion = auto;
    const delay = bg.get('autoPromotionSeconds').int();
    if (delay !== undefined && auto === false)
      bg.get('autoPromotionSeconds').drop('kanari waits for `kanari promote` when autoPromotion is false; dropped');
    else if (delay !== undefined) blueGreen.autoPromotionDelay = `${delay}s`;
    const scaleDown = bg.get('scaleDownDelaySeconds').int();
    if (scaleDown !== undefined) blueGreen.scaleDownDelay = `${scaleDown}s`;
    for (const key of ['prePromotionAnalysis', 'postPromotionAnalysis'] as const) {
      const ref = bg.has(key) ? analysis(bg.get(key)) : undefined;
      if (ref) blueGreen[key] = ref;
    }
    bg.rest(BLUE_GREEN_REASONS);
    out.strategy = { blueGreen };
  } else if (strategy.has('canary')) {
    const canary = strategy.get('canary').map();
    const service = canary.get('stableService').str() ?? serviceFallback(canary, opts, metadata);
    out.service = { name: service };
    const { routing, matches } = argoRouting(canary.get('trafficRouting'), service);
    out.trafficRouting = routing;
    const { steps, indexOf } = argoSteps(canary.get('steps'), matches, analysis);
    const plan: Json = { steps: steps.length > 0 ? steps : [{ setWeight: 100 }] };
    if (canary.has('analysis')) {
      const bg = canary.get('analysis').map();
      const start = bg.get('startingStep').int() ?? 0;
      const ref = analysis(bg);
      if (ref) plan.analysis = { ...ref, startingStep: Math.min(indexOf(start), Math.max(steps.length - 1, 0)) };
    }
    canary.rest(CANARY_REASONS);
    out.strategy = { canary: plan };
  } else throw strategy.doc.error(strategy.path, 'has neither canary nor blueGreen');
  strategy.rest();
  spec.rest(SPEC_REASONS);
  return result;
}

function serviceFallback(strategy: Field, opts: ImportOptions, metadata: Json): string {
  if (opts.service) return opts.service;
  const name = String(metadata.name);
  strategy.doc.drop(
    strategy.path,
    `names no Service; kanari needs the Service users reach: assumed ${name} (change it, or pass --service)`,
  );
  return name;
}

/** The args a Rollout passes to its templates. */
function rolloutArgs(list: Field, rollout: Field): Map<string, ArgValue> {
  const out = new Map<string, ArgValue>();
  for (const arg of list.list()) {
    const name = arg.map().get('name').str();
    const value = argValue(arg, 'the Rollout', rollout);
    if (name && value) out.set(name, value);
    arg.rest();
  }
  return out;
}

/** `{templates, args}` as kanari's `{templates}`; undefined when no template could be carried. */
function analysisRef(
  f: Field,
  templates: ArgoTemplates,
  args: (f: Field) => Map<string, ArgValue>,
): { templates: string[] } | undefined {
  const given = args(f.get('args'));
  const names = f
    .get('templates')
    .list()
    .flatMap((t) => templates.use(t.map(), given) ?? []);
  f.rest({
    dryRun: 'set dryRun on the template metrics; dropped',
    measurementRetention: 'kanari keeps every measurement of a run; dropped',
    startingStep: 'read above',
  });
  return names.length > 0 ? { templates: [...new Set(names)] } : undefined;
}

type StepList = { steps: Json[]; indexOf: (argoIndex: number) => number };

function argoSteps(list: Field, matches: boolean, analysis: (f: Field) => Json | undefined): StepList {
  const steps: Json[] = [];
  const firstAt: number[] = [];
  for (const step of list.list()) {
    step.map();
    firstAt.push(steps.length);
    const made = argoStep(step, matches, analysis);
    if (made) steps.push(made);
  }
  return { steps, indexOf: (i) => firstAt[i] ?? steps.length };
}

const NO_MATCH = 'the replicas router (no mesh) cannot route by header or mirror; dropped';

function argoStep(step: Field, matches: boolean, analysis: (f: Field) => Json | undefined): Json | undefined {
  const reasons: Record<string, string> = {
    experiment: 'kanari runs no Experiments; a baseline step and an analysis compare canary with a copy of stable',
    setCanaryScale: 'kanari sizes versions itself; dropped',
    plugin: 'kanari loads no step plugins; dropped',
  };
  let made: Json | undefined;
  if (step.has('setWeight')) made = { setWeight: step.get('setWeight').num() };
  else if (step.has('pause')) {
    const p = step.get('pause').map();
    const duration = durationOf(p.get('duration'));
    // A pause whose length is unreadable must not become one that waits for a person.
    if (p.has('duration') && duration === undefined)
      throw p.doc.error(p.get('duration').path, `is not a duration (got ${JSON.stringify(p.get('duration').value)})`);
    p.rest();
    made = { pause: duration === undefined ? {} : { duration } };
  } else if (step.has('analysis')) {
    const ref = analysis(step.get('analysis'));
    if (ref) made = { analysis: ref };
    else step.get('analysis').drop('no template of this step could be carried; the step is dropped');
  } else if (step.has('setHeaderRoute') && !matches) step.get('setHeaderRoute').drop(NO_MATCH);
  else if (step.has('setHeaderRoute')) made = { setHeaderRoute: headerRoute(step.get('setHeaderRoute').map()) };
  else if (step.has('setMirrorRoute') && !matches) step.get('setMirrorRoute').drop(NO_MATCH);
  else if (step.has('setMirrorRoute')) made = { setMirror: mirror(step.get('setMirrorRoute').map()) };
  step.rest(reasons);
  return made;
}

function headerRoute(f: Field): Json {
  f.get('name').drop('kanari names the routes it adds itself; dropped');
  const [first, ...more] = f.get('match').list();
  for (const m of more) m.drop('kanari routes by one header or cookie; dropped');
  if (!first) {
    f.rest();
    return {};
  }
  const header = first.map().get('headerName').str() ?? '';
  const value = first.get('headerValue').map();
  const match: Json = { header };
  for (const kind of ['exact', 'prefix', 'regex'] as const) {
    const text = value.get(kind).str();
    if (text !== undefined && Object.keys(match).length === 1) match[kind === 'exact' ? 'value' : kind] = text;
  }
  value.rest();
  first.rest();
  f.rest();
  return { match };
}

function mirror(f: Field): Json {
  f.get('name').drop('kanari names the routes it adds itself; dropped');
  const percent = f.get('percentage').num();
  const match = f.get('match');
  match.drop("kanari mirrors a share of all stable's requests, not only matching ones; dropped");
  f.rest();
  return percent === undefined && !match.present ? {} : { percent: percent ?? 100 };
}

function deploymentFor(metadata: Json, spec: Field): Json {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: metadata.name, ...(metadata.namespace ? { namespace: metadata.namespace } : {}) },
    spec: {
      replicas: spec.get('replicas').int() ?? 1,
      selector: spec.get('selector').map().value ?? {},
      template: spec.get('template').map().value,
    },
  };
}
