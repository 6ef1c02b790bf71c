import { z } from 'zod';
import { ConfigError } from './errors.js';
import { parseDocuments } from './load.js';
import { dirname, resolve } from 'node:path';
import { analysisTemplateDocument, missingKayentaSources, type AnalysisTemplateDocument } from './schemas/analysis.js';
import { kayentaCanaryConfig } from '../analysis/judges/kayenta/config.js';
import { loadFileText, parseText, type ParsedDocument } from './load.js';
import { routerDocument } from './schemas/router.js';
import { simulationDocument } from './schemas/simulation.js';
import { rolloutDocument, type RolloutDocument } from './schemas/rollout.js';
import { BUILTIN_TEMPLATES } from '../analysis/templates.js';
import { didYouMean } from './suggest.js';

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
 * are still resolved against the file's directory.
 */
export function loadDocuments(file: string, text = loadFileText(file)): { kind: KindName; value: unknown }[] {
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
  return out;
}

/**
 * A rollout's analyses name built-in templates or AnalysisTemplate documents in the same
 * file, so a typo is caught here rather than when the step is reached.
 */
function checkTemplateNames(docs: { kind: KindName; value: unknown }[], parsed: ParsedDocument[]): void {
  const known = [...Object.keys(BUILTIN_TEMPLATES), ...docs.filter((d) => d.kind === 'AnalysisTemplate').map((d) => (d.value as AnalysisTemplateDocument).metadata.name)];
  docs.forEach((d, i) => {
    if (d.kind !== 'Rollout') return;
    const plan = (d.value as RolloutDocument).spec.strategy.canary;
    const refs: { path: (string | number)[]; names: string[] }[] = [
      ...(plan.analysis ? [{ path: ['spec', 'strategy', 'canary', 'analysis', 'templates'], names: plan.analysis.templates }] : []),
      ...plan.steps.flatMap((s, n) => (s.analysis ? [{ path: ['spec', 'strategy', 'canary', 'steps', n, 'analysis', 'templates'], names: s.analysis.templates }] : [])),
    ];
    const issues = refs.flatMap((r) => r.names.flatMap((name, j) => {
      if (known.includes(name)) return [];
      const guess = didYouMean(name, known);
      return [{ ...parsed[i]!.located([...r.path, j]), message: `unknown analysis template "${name}" (${guess ? `did you mean "${guess}"?` : `known: ${known.join(', ')}`}; put an AnalysisTemplate in the same file to add one)` }];
    }));
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
