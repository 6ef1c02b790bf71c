import { z } from 'zod';
import { ConfigError } from './errors.js';
import { loadFileText, parseDocuments } from './load.js';
import { analysisTemplateDocument } from './schemas/analysis.js';
import { routerDocument } from './schemas/router.js';
import { simulationDocument } from './schemas/simulation.js';
import { didYouMean } from './suggest.js';

/** Every kind of kanari file, by its `kind:`; add a kind here and `kanari lint` knows it. */
export const KINDS = {
  Router: routerDocument,
  AnalysisTemplate: analysisTemplateDocument,
  Simulation: simulationDocument,
} as const satisfies Record<string, z.ZodType>;

export type KindName = keyof typeof KINDS;
export type KindDocument<K extends KindName> = z.output<(typeof KINDS)[K]>;

const envelope = z.looseObject({ kind: z.string() });

/** Validates every document in a file against the schema its `kind:` names. */
export function loadDocuments(file: string): { kind: KindName; value: unknown }[] {
  const out: { kind: KindName; value: unknown }[] = [];
  for (const doc of parseDocuments(loadFileText(file), file)) {
    const { kind } = doc.validate(envelope);
    if (!(kind in KINDS)) {
      const guess = didYouMean(kind, Object.keys(KINDS));
      const hint = guess ? `did you mean "${guess}"?` : `known kinds: ${Object.keys(KINDS).join(', ')}`;
      throw new ConfigError([{ ...doc.located(['kind']), message: `unknown kind (got ${JSON.stringify(kind)}; ${hint})` }]);
    }
    out.push({ kind: kind as KindName, value: doc.validate(KINDS[kind as KindName]) });
  }
  return out;
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
