import { z } from 'zod';
import { ConfigError } from './errors.js';
import { parseDocuments } from './load.js';
import { dirname, resolve } from 'node:path';
import { analysisTemplateDocument, missingKayentaSources, type AnalysisTemplateDocument, type AnalysisTemplateSpec } from './schemas/analysis.js';
import { kayentaCanaryConfig } from '../analysis/judges/kayenta/config.js';
import { loadFileText, parseText, type ParsedDocument } from './load.js';
import { routerDocument } from './schemas/router.js';
import { simulationDocument } from './schemas/simulation.js';
import { rolloutDocument, type RolloutDocument } from './schemas/rollout.js';
import { BUILTIN_TEMPLATES } from '../analysis/templates.js';
import { didYouMean } from './suggest.js';
import { EMBEDDED, unsupportedSteps, type RouterCapabilities } from '../traffic/capabilities.js';

/** Every kind of kanari file, by its `kind:`; add a kind here and `kanari lint` knows it. */
export const KINDS = {
  Router: routerDocument,
  AnalysisTemplate: analysisTemplateDocument,
  Simulation: simulationDocument,
  Rollout: rolloutDocument,
} as const satisfies Record<string, z.ZodType>;

export type KindName = keyof typeof KINDS;
export type KindDocument<K extends KindName> = z.output<(typeof KINDS)[K]>;

const envelope = z.looseObject({ kind: z.string() });

/**
 * Validates every document in a file against the schema its `kind:` names. `text` is the
 * file's content when it came some other way (the controller API); relative paths in it
 * are still resolved against the file's directory. Rollouts are checked against the
 * router that will carry them out (standalone: kanari's own).
 */
export function loadDocuments(file: string, text = loadFileText(file), router: RouterCapabilities = EMBEDDED): { kind: KindName; value: unknown }[] {
  const out: { kind: KindName; value: unknown }[] = [];
  const parsed: ParsedDocument[] = [];
  for (const doc of parseDocuments(text, file)) {
    const { kind } = doc.validate(envelope);
    if (!(kind in KINDS)) {
      const guess = didYouMean(kind, Object.keys(KINDS));
      const hint = guess ? `did you mean "${guess}"?` : `known kinds: ${Object.keys(KINDS).join(', ')}`;
      throw new ConfigError([{ ...doc.located(['kind']), message: `unknown kind (got ${JSON.stringify(kind)}; ${hint})` }]);
    }
    const value = doc.validate(KINDS[kind as KindName]);
    if (kind === 'AnalysisTemplate') resolveKayentaConfig(value as AnalysisTemplateDocument, doc, file);
    out.push({ kind: kind as KindName, value });
    parsed.push(doc);
  }
  checkTemplateNames(out, parsed);
  checkRouter(out, parsed, router);
  return out;
}

/** Every step of every Rollout must be one the router that will carry it out can do. */
function checkRouter(docs: { kind: KindName; value: unknown }[], parsed: ParsedDocument[], router: RouterCapabilities): void {
  const issues = docs.flatMap((d, i) => (d.kind === 'Rollout' ? unsupportedSteps((d.value as RolloutDocument).spec, router).map((u) => ({ ...parsed[i]!.located(u.path), message: u.message })) : []));
  if (issues.length > 0) throw new ConfigError(issues);
}

/**
 * A rollout's analyses name built-in templates or AnalysisTemplate documents in the same
 * file, so a typo is caught here rather than when the step is reached.
 */
function checkTemplateNames(docs: { kind: KindName; value: unknown }[], parsed: ParsedDocument[]): void {
  const templates: Record<string, AnalysisTemplateSpec> = { ...BUILTIN_TEMPLATES };
  for (const d of docs) if (d.kind === 'AnalysisTemplate') templates[(d.value as AnalysisTemplateDocument).metadata.name] = (d.value as AnalysisTemplateDocument).spec;
  const known = Object.keys(templates);
  docs.forEach((d, i) => {
    if (d.kind !== 'Rollout') return;
    const refs = analysisRefs((d.value as RolloutDocument).spec);
    const issues = refs.flatMap((r) => r.names.flatMap((name, j) => {
      if (known.includes(name)) return [];
      const guess = didYouMean(name, known);
      return [{ ...parsed[i]!.located([...r.path, j]), message: `unknown analysis template "${name}" (${guess ? `did you mean "${guess}"?` : `known: ${known.join(', ')}`}; put an AnalysisTemplate in the same file to add one)` }];
    }));
    // After the blue-green switch the old version gets no users, so a comparing judge would have nothing to compare with.
    const post = refs.find((r) => r.path.includes('postPromotionAnalysis'));
    post?.names.forEach((name, j) => {
      const spec = templates[name];
      if (spec && !spec.threshold) issues.push({ ...parsed[i]!.located([...post.path, j]), message: `"${name}" compares the new version with the old one, but after the switch the old one gets no users; use a threshold template here` });
    });
    if (issues.length > 0) throw new ConfigError(issues);
  });
}

/** Loads a file that must hold exactly one document of kind `kind`. */
export function loadKind<K extends KindName>(file: string, kind: K): KindDocument<K> {
  const docs = loadDocuments(file);
  const first = docs[0];
  if (docs.length !== 1 || !first || first.kind !== kind) {
    const got = docs.map((d) => d.kind).join(', ') || 'nothing';
    throw new ConfigError([{ file, line: 1, col: 1, path: '', message: `must hold one ${kind} document (got ${got})` }]);
  }
  return first.value as KindDocument<K>;
}

/**
 * Reads the Kayenta canary config a template names by path (relative to the template),
 * so a loaded template always holds the config itself. Errors in that file carry its
 * own line and column; a metric without a source points at the template.
 */
function resolveKayentaConfig(doc: AnalysisTemplateDocument, parsed: ParsedDocument, file: string): void {
  const k = doc.spec.kayenta;
  if (!k || typeof k.config !== 'string') return;
  const path = resolve(dirname(file), k.config);
  let text: string;
  try {
    text = loadFileText(path);
  } catch (err) {
    throw new ConfigError([{ ...parsed.located(['spec', 'kayenta', 'config']), message: `cannot read the canary config ${path}: ${err instanceof ConfigError ? err.issues[0]?.message : (err as Error).message}` }]);
  }
  k.config = parseText(text, path, kayentaCanaryConfig);
  const missing = missingKayentaSources(k.config, k.metrics);
  if (missing.length > 0) throw new ConfigError(missing.map((message) => ({ ...parsed.located(['spec', 'kayenta', 'metrics']), message })));
}

/** Every place a rollout names analysis templates, with its path in the document. */
function analysisRefs(spec: RolloutDocument['spec']): { path: (string | number)[]; names: string[] }[] {
  const at = (path: (string | number)[], ref: { templates: string[] } | undefined) => (ref ? [{ path: ['spec', 'strategy', ...path, 'templates'], names: ref.templates }] : []);
  const { canary, blueGreen, rolling } = spec.strategy;
  return [
    ...at(['canary', 'analysis'], canary?.analysis),
    ...(canary?.steps ?? []).flatMap((s, n) => at(['canary', 'steps', n, 'analysis'], s.analysis)),
    ...at(['blueGreen', 'prePromotionAnalysis'], blueGreen?.prePromotionAnalysis),
    ...at(['blueGreen', 'postPromotionAnalysis'], blueGreen?.postPromotionAnalysis),
    ...at(['rolling', 'analysis'], rolling?.analysis),
  ];
}
