/**
 * The analysis templates a Kubernetes Rollout names, found where Argo Rollouts users keep
 * theirs: AnalysisTemplate resources in the Rollout's namespace. A built-in template's name
 * (`sequential`, `threshold`, `kayenta`, `series`) always means the built-in; a resource
 * of that name is refused rather than read, since whoever may write templates in a
 * namespace would otherwise change the judge of every Rollout there that names the
 * default. What the Rollout names and cannot be used is one problem, said in its status.
 */
import { templateNamesOf } from '../config/checks.js';
import { formatPath } from '../config/errors.js';
import { analysisTemplateSpec, type AnalysisTemplateSpec } from '../config/schemas/analysis.js';
import type { KubernetesRolloutDocument } from '../config/schemas/kubernetes.js';
import { API_VERSION } from '../config/schemas/common.js';
import { BUILTIN_TEMPLATES } from '../config/templates.js';
import type { KubeObject } from '../kube/api.js';
import type { RolloutStatus } from '../rollout/types.js';
import { describeSystemError } from '../shared/system.js';
import { KubeStatusStore } from '../store/kubernetes.js';

/** The AnalysisTemplate resource `name` in `namespace`, or undefined when there is none. */
export type TemplateLookup = (namespace: string, name: string) => Promise<KubeObject | undefined>;

/**
 * Every template a Rollout names, by name, with the specs of those read from resources as
 * written (`sources`, what a release pins), or the first reason one cannot be used.
 */
/** The built-in templates as a Rollout has them, read from the cluster where they depend on it. */
export type BuiltinTemplates = Record<string, AnalysisTemplateSpec> | Promise<Record<string, AnalysisTemplateSpec>>;

export type TemplateResolution =
  { templates: Record<string, AnalysisTemplateSpec>; sources: Record<string, unknown> } | { problem: string };

/** A lookup over specs pinned for a release: the resources as they were when it started. */
export function pinnedLookup(pinned: Record<string, unknown>): TemplateLookup {
  return (namespace, name) =>
    Promise.resolve(
      Object.hasOwn(pinned, name)
        ? { apiVersion: API_VERSION, kind: 'AnalysisTemplate', metadata: { name, namespace }, spec: pinned[name] }
        : undefined,
    );
}

/**
 * Resolves the templates `rollout` names: each built-in from `builtins` (the Rollout's own
 * variants, such as `sequential` counting from its Prometheus) or kanari's, each other one
 * from its resource, validated as an AnalysisTemplate file's spec is.
 */
export async function resolveTemplates(
  rollout: KubernetesRolloutDocument,
  builtins: Record<string, AnalysisTemplateSpec>,
  lookup: TemplateLookup,
): Promise<TemplateResolution> {
  const namespace = rollout.metadata.namespace ?? 'default';
  const templates: Record<string, AnalysisTemplateSpec> = {};
  const sources: Record<string, unknown> = {};
  for (const name of templateNamesOf(rollout.spec)) {
    const where = `AnalysisTemplate ${namespace}/${name}`;
    const builtin = builtins[name] ?? BUILTIN_TEMPLATES[name];
    let resource: KubeObject | undefined;
    try {
      resource = await lookup(namespace, name);
    } catch (err) {
      // A built-in needs no resource: one that cannot be read (no CRD installed yet) shadows nothing.
      if (!builtin) return { problem: `cannot read ${where}: ${describeSystemError(err)}` };
    }
    if (builtin && resource)
      return {
        problem: `${where} has the name of a built-in template, which it would replace for every Rollout of the namespace that names it; rename it, and name it so in the Rollout`,
      };
    if (builtin) {
      templates[name] = builtin;
      continue;
    }
    if (!resource)
      return {
        problem: `no ${where}: create it (kubectl apply), or name a built-in template (${Object.keys(BUILTIN_TEMPLATES).join(', ')})`,
      };
    const parsed = analysisTemplateSpec.safeParse(resource.spec);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      return { problem: `${where} is not valid: ${formatPath(['spec', ...issue.path])}: ${issue.message}` };
    }
    if (typeof parsed.data.kayenta?.config === 'string')
      return {
        problem: `${where} names its Kayenta config by path (${parsed.data.kayenta.config}), and the operator reads no files: put the config inline`,
      };
    templates[name] = parsed.data;
    sources[name] = resource.spec;
  }
  return { templates, sources };
}

/**
 * No release runs and no analysis is open — the phases a new deploy is taken in (an aborted
 * release is over too: a person fixes a template and deploys again) — so what the next
 * release judges with may still change.
 */
export function isIdle(s: RolloutStatus): boolean {
  return (s.phase === 'StableOnly' || s.phase === 'Aborted') && s.analyses.every((a) => a.endedAt !== undefined);
}

/**
 * The templates a Rollout's release reads: those of its resources now, except for a
 * release under way that a new leader resumes (`opening`), which keeps the specs pinned in
 * the status when it started (the resources may have changed since).
 */
export async function releaseTemplates(
  resource: KubeObject,
  rollout: KubernetesRolloutDocument,
  world: {
    templates(rollout: KubernetesRolloutDocument): BuiltinTemplates;
    findTemplate: TemplateLookup;
  },
  opening: boolean,
  say: (line: string) => void,
): Promise<TemplateResolution> {
  let builtins: Record<string, AnalysisTemplateSpec>;
  try {
    builtins = await world.templates(rollout);
  } catch (err) {
    // The built-ins may read the cluster (where Envoy Gateway counts): what they cannot read refuses the Rollout.
    return { problem: err instanceof Error ? err.message : String(err) };
  }
  const saved = opening ? KubeStatusStore.savedState(resource) : undefined;
  const pinned = KubeStatusStore.savedTemplates(resource);
  if (saved && !isIdle(saved) && pinned) {
    const found = await resolveTemplates(rollout, builtins, pinnedLookup(pinned));
    if (!('problem' in found)) return found;
    say(`the templates pinned for the release under way cannot be used (${found.problem}); reading them again`);
  }
  return resolveTemplates(rollout, builtins, world.findTemplate);
}
