/**
 * `kanari import`: Argo Rollouts and Flagger objects in, kanari documents out, with the
 * exact list of what could not be carried. Pure: texts in, values out. Files are read
 * with the bounded YAML loader, so no text (anchor bombs, deep nesting, huge documents)
 * can take the process down, and every error names its file, line and column.
 */
import { ConfigError, formatPath } from '../errors.js';
import { parseDocuments } from '../load.js';
import { analysisTemplateDocument } from '../schemas/analysis.js';
import { kubernetesRolloutDocument } from '../schemas/kubernetes.js';
import { ArgoTemplates } from './argo-analysis.js';
import { UniqueNames } from './convert.js';
import { importArgoRollout } from './argo.js';
import { importFlaggerCanary } from './flagger.js';
import { DEFAULT_OPTIONS, type ImportOptions } from './metadata.js';
import { SourceDocument, type Field, type NotCarried } from './source.js';

export type { NotCarried } from './source.js';
export { DEFAULT_OPTIONS, type ImportOptions } from './metadata.js';

type Json = Record<string, unknown>;

export interface ImportResult {
  /** kanari Rollouts, then AnalysisTemplates: what `kanari lint` reads. */
  documents: Json[];
  /** Deployments made from Argo Rollouts that held their pod template inline. */
  deployments: Json[];
  notCarried: NotCarried[];
}

const ARGO = /^argoproj\.io\//;
const FLAGGER = /^flagger\.app\//;

interface Source {
  doc: SourceDocument;
  root: Field;
  kind: string;
  family: 'argo' | 'flagger' | 'other';
}

export function importFiles(
  files: readonly { file: string; text: string }[],
  opts: ImportOptions = DEFAULT_OPTIONS,
): ImportResult {
  const sources = files.flatMap(({ file, text }) => readSources(file, text));
  const argoTemplates = new Map<string, Field>();
  const metricTemplates = new Map<string, Field>();
  for (const s of sources) {
    const name = String((s.root.value as { metadata?: { name?: unknown } }).metadata?.name ?? '');
    if (s.family === 'argo' && /^(Cluster)?AnalysisTemplate$/.test(s.kind))
      argoTemplates.set(`${s.kind}/${name}`, s.root);
    if (s.family === 'flagger' && s.kind === 'MetricTemplate') {
      const ns = (s.root.value as { metadata?: { namespace?: unknown } }).metadata?.namespace;
      metricTemplates.set(`${typeof ns === 'string' ? ns : '*'}/${name}`, s.root);
      metricTemplates.set(`*/${name}`, s.root);
    }
  }
  const names = new UniqueNames();
  const templates = new ArgoTemplates(argoTemplates, names);
  const rollouts: Json[] = [];
  const flaggerTemplates: Json[] = [];
  const deployments: Json[] = [];
  const converted: { source: Source; rollout: Json }[] = [];
  for (const s of sources) {
    if (s.family === 'argo' && s.kind === 'Rollout') {
      const made = importArgoRollout(s.root, templates, opts);
      converted.push({ source: s, rollout: made.rollout });
      if (made.deployment) deployments.push(made.deployment);
    } else if (s.family === 'flagger' && s.kind === 'Canary') {
      const made = importFlaggerCanary(s.root, metricTemplates, opts, names);
      converted.push({ source: s, rollout: made.rollout });
      flaggerTemplates.push(...made.templates);
    } else if (s.family === 'other' || !/^(Cluster)?AnalysisTemplate$|^MetricTemplate$/.test(s.kind)) {
      s.root.drop(
        `a ${s.kind} is not something kanari import converts (only Rollout, Canary and their templates); left out`,
      );
    }
    if (s.kind === 'Rollout' || s.kind === 'Canary') {
      s.root.get('apiVersion');
      s.root.get('kind');
      s.root.rest({ status: 'written by the cluster; dropped' });
    }
  }
  for (const s of sources)
    if (!s.doc.used && s.family !== 'other' && /^(Cluster)?AnalysisTemplate$|^MetricTemplate$/.test(s.kind))
      s.root.drop('no Rollout or Canary in the files given uses it; left out');
  if (converted.length === 0) {
    const file = files[0]?.file ?? '-';
    throw new ConfigError([
      { file, line: 1, col: 1, path: '', message: 'holds no Argo Rollouts Rollout or Flagger Canary to import' },
    ]);
  }
  for (const { source, rollout } of converted) {
    rollouts.push(checked(source, rollout, kubernetesRolloutDocument));
  }
  const out = [...templates.documents, ...flaggerTemplates];
  for (const t of out) checked(sources[0]!, t, analysisTemplateDocument);
  return {
    documents: [...rollouts, ...out],
    deployments,
    notCarried: sources.flatMap((s) => s.doc.notCarried),
  };
}

/** Every document of a file, classified by apiVersion and kind. */
function readSources(file: string, text: string): Source[] {
  return parseDocuments(text, file).map((parsed) => {
    const value = parsed.value;
    if (value === null || typeof value !== 'object' || Array.isArray(value))
      throw new ConfigError([{ ...parsed.located([]), message: 'must be a Kubernetes object (a map with kind)' }]);
    const { apiVersion, kind } = value as { apiVersion?: unknown; kind?: unknown };
    if (typeof kind !== 'string' || typeof apiVersion !== 'string')
      throw new ConfigError([
        { ...parsed.located([]), message: 'must be a Kubernetes object with apiVersion and kind strings' },
      ]);
    const name = (value as { metadata?: { name?: unknown } }).metadata?.name;
    const doc = new SourceDocument(parsed, `${kind}/${typeof name === 'string' ? name : '?'}`);
    const family = ARGO.test(apiVersion) ? 'argo' : FLAGGER.test(apiVersion) ? 'flagger' : 'other';
    return { doc, root: doc.root(), kind, family };
  });
}

/**
 * The imported document, validated as `kanari lint` will read it: a value kanari refuses
 * (a weight of 150, a name too long) is an error at the source document, never output
 * that fails later.
 */
function checked(
  source: Source,
  value: Json,
  schema: typeof kubernetesRolloutDocument | typeof analysisTemplateDocument,
): Json {
  const result = schema.safeParse(value);
  if (result.success) return value;
  const issues = result.error.issues.slice(0, 5).map((i) => ({
    ...source.doc.parsed.located([]),
    message: `the imported ${String(value.kind)} ${formatPath(i.path as PropertyKey[])}: ${i.message}`,
  }));
  throw new ConfigError(issues);
}
