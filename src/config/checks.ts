/**
 * What no schema of one document can check: how the documents of a file (or of files
 * given together) fit each other, and what whoever runs them (the controller, the
 * simulator, a router) would refuse. `kanari lint`, `kanari apply`, the controller's
 * apply and `kanari simulate` all get these through loadDocuments/loadFiles, so none of
 * them passes what another refuses.
 */
import type { ConfigIssue } from './errors.js';
import type { ParsedDocument } from './load.js';
import type { AnalysisTemplateDocument, AnalysisTemplateSpec } from './schemas/analysis.js';
import type { RolloutDocument } from './schemas/rollout.js';
import { routerNameOf } from './schemas/kubernetes.js';
import type { SimulationDocument } from './schemas/simulation.js';
import { BUILTIN_TEMPLATES, providersOf } from './templates.js';
import { didYouMean } from './suggest.js';
import { EMBEDDED, KUBERNETES, unsupportedSteps, type RouterCapabilities } from './capabilities.js';
import { whyTemplateCannotJudge } from './judge-fit.js';
import { isKubernetesRollout, type AnyRolloutDocument } from './rollout-mode.js';

/** One validated document of a file, with its source for locating issues. */
export interface Loaded {
  kind: string;
  value: unknown;
  doc: ParsedDocument;
}

type Check = (docs: readonly Loaded[]) => ConfigIssue[];

const rollouts = (docs: readonly Loaded[]) =>
  docs.filter((d) => d.kind === 'Rollout').map((d) => ({ ...d, value: d.value as AnyRolloutDocument }));

/** Standalone Rollouts only: those kanari's own router carries, on a port of their own. */
const standaloneRollouts = (docs: readonly Loaded[]) =>
  rollouts(docs).flatMap((d) => (isKubernetesRollout(d.value) ? [] : [{ ...d, value: d.value as RolloutDocument }]));

/** The router that carries a Rollout out: a Kubernetes one names its own; a standalone one gets `standalone`. */
function routerOf(rollout: AnyRolloutDocument, standalone: RouterCapabilities): RouterCapabilities {
  return isKubernetesRollout(rollout) ? KUBERNETES[routerNameOf(rollout.spec.trafficRouting)] : standalone;
}

/** The AnalysisTemplates among `docs`, by name. */
export function templatesIn(docs: readonly Loaded[]): Record<string, AnalysisTemplateSpec> {
  return Object.fromEntries(
    docs
      .filter((d) => d.kind === 'AnalysisTemplate')
      .map((d) => [(d.value as AnalysisTemplateDocument).metadata.name, (d.value as AnalysisTemplateDocument).spec]),
  );
}

/** Each Rollout's router listens where users reach it: on a port of its own, fixed (the controller refuses 0). */
export const checkListenPorts: Check = (docs) => {
  const issues: ConfigIssue[] = [];
  const taken = new Map<number, string>();
  for (const { value, doc } of standaloneRollouts(docs)) {
    const { port } = value.spec.listen;
    const at = doc.located(['spec', 'listen']);
    if (port === 0) issues.push({ ...at, message: 'needs a fixed port that users can reach (got 0)' });
    else if (taken.has(port))
      issues.push({ ...at, message: `port ${port} is also where rollout ${taken.get(port)} listens` });
    else taken.set(port, value.metadata.name);
  }
  return issues;
};

/**
 * Every step of every Rollout must be one the router that will carry it out can do:
 * `router` for a standalone Rollout, the one a Kubernetes Rollout names in trafficRouting.
 */
export const checkRouter =
  (router: RouterCapabilities): Check =>
  (docs) =>
    rollouts(docs).flatMap(({ value, doc }) =>
      unsupportedSteps(value.spec, routerOf(value, router)).map((u) => ({
        ...doc.located(u.path),
        message: u.message,
      })),
    );

/**
 * A rollout's analyses name built-in templates or AnalysisTemplate documents in the same
 * file (the controller gets one file), so a typo is caught here rather than when the step
 * is reached.
 */
export const checkRolloutTemplates: Check = (docs) => {
  const templates = { ...BUILTIN_TEMPLATES, ...templatesIn(docs) };
  return rollouts(docs).flatMap(({ value, doc }) =>
    templateProblems(value, templates).map((p) => ({ ...doc.located(p.path), message: p.message })),
  );
};

/** A problem of one Rollout, at its path in the document. */
export interface RolloutProblem {
  path: (string | number)[];
  message: string;
}

/**
 * What `kanari lint` says of one Rollout, without locations: for the operator, which reads
 * a resource rather than a file. `templates` are the AnalysisTemplates it may name besides
 * the built-in ones; a standalone Rollout is checked against kanari's own router.
 */
export function rolloutProblems(
  rollout: AnyRolloutDocument,
  templates: Record<string, AnalysisTemplateSpec> = {},
): RolloutProblem[] {
  return [
    ...unsupportedSteps(rollout.spec, routerOf(rollout, EMBEDDED)),
    ...templateProblems(rollout, { ...BUILTIN_TEMPLATES, ...templates }),
  ];
}

/** Templates a rollout names that do not exist, cannot judge it, or cannot judge where it names them. */
function templateProblems(
  rollout: AnyRolloutDocument,
  templates: Record<string, AnalysisTemplateSpec>,
): RolloutProblem[] {
  const known = Object.keys(templates);
  const refs = analysisRefs(rollout.spec);
  const problems: RolloutProblem[] = refs.flatMap((r) =>
    r.names.flatMap((name, j) => {
      if (known.includes(name)) return [];
      const guess = didYouMean(name, known);
      return [
        {
          path: [...r.path, j],
          message: `unknown analysis template "${name}" (${guess ? `did you mean "${guess}"?` : `known: ${known.join(', ')}`}; put an AnalysisTemplate in the same file to add one${isKubernetesRollout(rollout) ? ", as on the cluster it is a resource in the Rollout's namespace" : ''})`,
        },
      ];
    }),
  );
  refs.forEach((r) =>
    r.names.forEach((name, j) => {
      const why = whyTemplateCannotJudge(rollout, name, templates[name]);
      if (why) problems.push({ path: [...r.path, j], message: why });
    }),
  );
  // After the blue-green switch the old version gets no users, so a comparing judge would have nothing to compare with.
  const post = refs.find((r) => r.path.includes('postPromotionAnalysis'));
  post?.names.forEach((name, j) => {
    const spec = templates[name];
    if (spec && !spec.threshold)
      problems.push({
        path: [...post.path, j],
        message: `"${name}" compares the new version with the old one, but after the switch the old one gets no users; use a threshold template here`,
      });
  });
  return problems;
}

/**
 * A Simulation's templates must be ones the simulator can run: named ones built in or
 * given (in the same file or, for `kanari simulate -t` and `kanari lint`, in the files
 * given with it), reading only the router's own statistics, with a Kayenta config inline.
 */
export const checkSimulations =
  (given: Record<string, AnalysisTemplateSpec>): Check =>
  (docs) => {
    const templates = { ...BUILTIN_TEMPLATES, ...given };
    return docs
      .filter((d) => d.kind === 'Simulation')
      .flatMap(({ value, doc }) => {
        const sim = value as SimulationDocument;
        return (sim.spec.templates ?? []).flatMap((t, j): ConfigIssue[] => {
          const at = doc.located(['spec', 'templates', j]);
          const [name, spec] = typeof t === 'string' ? [t, templates[t]] : [t.name, t.spec];
          if (!spec)
            return [
              {
                ...at,
                message: `names template "${name}", which is neither built in nor in the files given (known: ${Object.keys(templates).join(', ')})`,
              },
            ];
          const others = providersOf(spec).filter((p) => p !== 'builtin');
          if (others.length > 0)
            return [
              {
                ...at,
                message: `template "${name}" reads ${others.join(' and ')}; the simulator answers builtin queries only (it has no ${others[0]} to ask)`,
              },
            ];
          if (typeof spec.kayenta?.config === 'string')
            return [
              {
                ...at,
                message: `template "${name}" names its Kayenta config by path; write the template in its own file and give it beside this one, or put the config inline`,
              },
            ];
          return [];
        });
      });
  };

/** Every template a rollout names, each once. */
export function templateNamesOf(spec: Pick<RolloutDocument['spec'], 'strategy'>): string[] {
  return [...new Set(analysisRefs(spec).flatMap((r) => r.names))];
}

/** Every place a rollout names analysis templates, with its path in the document. */
function analysisRefs(
  spec: Pick<RolloutDocument['spec'], 'strategy'>,
): { path: (string | number)[]; names: string[] }[] {
  const at = (path: (string | number)[], ref: { templates: string[] } | undefined) =>
    ref ? [{ path: ['spec', 'strategy', ...path, 'templates'], names: ref.templates }] : [];
  const { canary, blueGreen, rolling } = spec.strategy;
  return [
    ...at(['canary', 'analysis'], canary?.analysis),
    ...(canary?.steps ?? []).flatMap((s, n) => at(['canary', 'steps', n, 'analysis'], s.analysis)),
    ...at(['blueGreen', 'prePromotionAnalysis'], blueGreen?.prePromotionAnalysis),
    ...at(['blueGreen', 'postPromotionAnalysis'], blueGreen?.postPromotionAnalysis),
    ...at(['rolling', 'analysis'], rolling?.analysis),
  ];
}
