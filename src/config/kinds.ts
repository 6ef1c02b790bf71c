import { z } from 'zod';
import { dirname, resolve } from 'node:path';
import { ConfigError, type ConfigIssue } from './errors.js';
import {
  checkListenPorts,
  checkRolloutTemplates,
  checkRouter,
  checkSimulations,
  templatesIn,
  type Loaded,
} from './checks.js';
import { loadFileText, parseDocuments, parseText, type ParsedDocument } from './load.js';
import {
  analysisTemplateDocument,
  missingKayentaSources,
  type AnalysisTemplateDocument,
  type AnalysisTemplateSpec,
} from './schemas/analysis.js';
import { kayentaCanaryConfig } from './schemas/kayenta.js';
import { routerDocument, sharedRouterDocument } from './schemas/router.js';
import { simulationDocument, type SimulationDocument, type SimulationSpec } from './schemas/simulation.js';
import { rolloutDocument } from './schemas/rollout.js';
import { didYouMean } from './suggest.js';
import { EMBEDDED, type RouterCapabilities } from './capabilities.js';
import { isKubernetesRollout, otherModeFields, rolloutSchemaFor, type AnyRolloutDocument } from './rollout-mode.js';

/**
 * Every kind of kanari file, by its `kind:`; add a kind here and `kanari lint` knows it.
 * A Rollout with `spec.workloadRef` is a Kubernetes one, validated by its own schema
 * (schemaFor).
 */
export const KINDS = {
  Router: routerDocument,
  SharedRouter: sharedRouterDocument,
  AnalysisTemplate: analysisTemplateDocument,
  Simulation: simulationDocument,
  Rollout: rolloutDocument,
} as const satisfies Record<string, z.ZodType>;

export type KindName = keyof typeof KINDS;
export type KindDocument<K extends KindName> = z.output<(typeof KINDS)[K]>;

const envelope = z.looseObject({ kind: z.string() });

/** The schema a document of `kind` is validated with: a Rollout's depends on its mode (rollout-mode.ts). */
export function schemaFor(kind: KindName, value: unknown): z.ZodType {
  return kind === 'Rollout' ? rolloutSchemaFor(value) : KINDS[kind];
}

/**
 * Validates every document in a file against the schema its `kind:` names, then checks
 * the documents against each other and against what will run them (checks.ts). `text`
 * is the file's content when it came some other way (the controller API); relative
 * paths in it are still resolved against the file's directory. Rollouts are checked
 * against the router that will carry them out (standalone: kanari's own). `read` reads
 * the files documents reference (a Kayenta config): a bundle sent to a controller on
 * another host is read from the bundle, never from that host's disk.
 */
export function loadDocuments(
  file: string,
  text = loadFileText(file),
  router: RouterCapabilities = EMBEDDED,
  read: ReadReferenced = loadFileText,
): { kind: KindName; value: unknown }[] {
  const docs = readDocuments(file, text, router, read);
  throwIssues(checkSimulations(templatesIn(docs))(docs));
  return docs.map(({ kind, value }) => ({ kind: kind as KindName, value }));
}

/** Reads a file a document references, by its absolute path; throws ConfigError when it cannot. */
export type ReadReferenced = (path: string) => string;

export type FileResult =
  { file: string; documents: { kind: KindName; value: unknown }[] } | { file: string; error: ConfigError };

/**
 * Files given together (`kanari lint A B`, `kanari simulate -f S -t T`), each loaded as
 * loadDocuments loads it, except that a Simulation may name an AnalysisTemplate from any
 * of them.
 */
export function loadFiles(files: readonly string[]): FileResult[] {
  const read = files.map((file) => attempt(file, () => readDocuments(file, loadFileText(file), EMBEDDED)));
  const given = Object.assign({}, ...read.map((r) => ('docs' in r ? templatesIn(r.docs) : {}))) as Record<
    string,
    AnalysisTemplateSpec
  >;
  return read.map((r) => {
    if (!('docs' in r)) return r;
    const checked = attempt(r.file, () => throwIssues(checkSimulations(given)(r.docs)));
    return 'error' in checked
      ? checked
      : { file: r.file, documents: r.docs.map(({ kind, value }) => ({ kind: kind as KindName, value })) };
  });
}

function attempt<T>(file: string, load: () => T): { file: string; docs: T } | { file: string; error: ConfigError } {
  try {
    return { file, docs: load() };
  } catch (err) {
    if (err instanceof ConfigError) return { file, error: err };
    throw err;
  }
}

/** One file's documents, each valid, and the checks that need only that file. */
function readDocuments(
  file: string,
  text: string,
  router: RouterCapabilities,
  read: ReadReferenced = loadFileText,
): Loaded[] {
  const docs: Loaded[] = [];
  for (const doc of parseDocuments(text, file)) {
    const { kind } = doc.validate(envelope);
    if (!(kind in KINDS)) {
      const guess = didYouMean(kind, Object.keys(KINDS));
      const hint = guess ? `did you mean "${guess}"?` : `known kinds: ${Object.keys(KINDS).join(', ')}`;
      throw new ConfigError([
        { ...doc.located(['kind']), message: `unknown kind (got ${JSON.stringify(kind)}; ${hint})` },
      ]);
    }
    if (kind === 'Rollout')
      throwIssues(
        otherModeFields(doc.value).map((f) => ({ ...doc.located(f.path, { key: true }), message: f.message })),
      );
    const value = doc.validate(schemaFor(kind as KindName, doc.value));
    if (kind === 'AnalysisTemplate') resolveKayentaConfig(value as AnalysisTemplateDocument, doc, file, read);
    if (kind === 'Simulation') resolveSimulatedRollout(value as SimulationDocument, doc, file, read);
    docs.push({ kind, value, doc });
  }
  // An empty file passing lint would be refused by everything that reads it.
  if (docs.length === 0) throw new ConfigError([{ file, line: 1, col: 1, path: '', message: 'holds no document' }]);
  for (const check of [checkRolloutTemplates, checkRouter(router), checkListenPorts]) throwIssues(check(docs));
  return docs;
}

function throwIssues(issues: readonly ConfigIssue[]): void {
  if (issues.length > 0) throw new ConfigError(issues);
}

/** Loads a file that must hold exactly one document of kind `kind`. */
export function loadKind<K extends KindName>(file: string, kind: K): KindDocument<K> {
  const docs = loadDocuments(file);
  const first = docs[0];
  if (docs.length !== 1 || !first || first.kind !== kind) {
    const got = docs.map((d) => d.kind).join(', ') || 'nothing';
    throw new ConfigError([
      { file, line: 1, col: 1, path: '', message: `must hold one ${kind} document (got ${got})` },
    ]);
  }
  return first.value as KindDocument<K>;
}

/**
 * Reads the Kayenta canary config a template names by path (relative to the template),
 * so a loaded template always holds the config itself. Errors in that file carry its
 * own line and column; a metric without a source points at the template.
 */
function resolveKayentaConfig(
  doc: AnalysisTemplateDocument,
  parsed: ParsedDocument,
  file: string,
  read: ReadReferenced,
): void {
  const k = doc.spec.kayenta;
  if (!k || typeof k.config !== 'string') return;
  const path = resolve(dirname(file), k.config);
  let text: string;
  try {
    text = read(path);
  } catch (err) {
    throw new ConfigError([
      {
        ...parsed.located(['spec', 'kayenta', 'config']),
        message: `cannot read the canary config ${path}: ${err instanceof ConfigError ? err.issues[0]?.message : (err as Error).message}`,
      },
    ]);
  }
  k.config = parseText(text, path, kayentaCanaryConfig);
  const missing = missingKayentaSources(k.config, k.metrics);
  if (missing.length > 0)
    throw new ConfigError(missing.map((message) => ({ ...parsed.located(['spec', 'kayenta', 'metrics']), message })));
}

/**
 * Loads the Rollout a Simulation names by path (relative to the Simulation), with the
 * AnalysisTemplates of its file, so a loaded Simulation holds the plan it runs. Errors
 * in that file carry its own line and column; a missing or ambiguous rollout points at
 * the Simulation.
 */
function resolveSimulatedRollout(
  sim: SimulationDocument,
  parsed: ParsedDocument,
  file: string,
  read: ReadReferenced,
): void {
  const ref = sim.spec.rollout;
  if (!ref) return;
  const at = parsed.located(['spec', 'rollout', 'file']);
  const path = resolve(dirname(file), ref.file);
  const docs = readDocuments(path, readReferenced(path, at, read), EMBEDDED, read);
  const rollouts = docs.filter((d) => d.kind === 'Rollout').map((d) => d.value as AnyRolloutDocument);
  const chosen = ref.name ? rollouts.filter((r) => r.metadata.name === ref.name) : rollouts;
  if (chosen.length !== 1) {
    const names = rollouts.map((r) => r.metadata.name).join(', ') || 'none';
    const what = ref.name ? `no Rollout named ${ref.name}` : `${rollouts.length} Rollouts; name one with rollout.name`;
    throw new ConfigError([{ ...at, message: `${path} holds ${what} (it has: ${names})` }]);
  }
  const document = chosen[0]!;
  if (isKubernetesRollout(document))
    throw new ConfigError([
      {
        ...at,
        message: `${path}: Rollout ${document.metadata.name} is a Kubernetes Rollout (it has spec.workloadRef); the simulator runs standalone ones: copy its strategy into a standalone Rollout to simulate the plan`,
      },
    ]);
  (ref as NonNullable<SimulationSpec['rollout']>).loaded = { document, templates: templatesIn(docs) };
}

function readReferenced(path: string, at: Omit<ConfigIssue, 'message'>, read: ReadReferenced): string {
  try {
    return read(path);
  } catch (err) {
    const reason = err instanceof ConfigError ? err.issues[0]?.message : (err as Error).message;
    throw new ConfigError([{ ...at, message: `cannot read ${path}: ${reason}` }]);
  }
}
