import { readFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { formatPath } from '../../../src/config/errors.js';
import { loadDocuments } from '../../../src/config/kinds.js';
import { DEFAULT_OPTIONS, importFiles, type ImportOptions } from '../../../src/config/import/index.js';
import { analysisTemplateDocument } from '../../../src/config/schemas/analysis.js';
import { kubernetesRolloutDocument } from '../../../src/config/schemas/kubernetes.js';

/** A Rollout as the importer writes it (durations as text, no defaults). */
export interface Written {
  metadata: { name: string; namespace?: string };
  spec: {
    strategy: { canary?: { steps: unknown[]; analysis?: unknown }; blueGreen?: unknown };
    trafficRouting: unknown;
    service: unknown;
    [key: string]: unknown;
  };
}

export const FIXTURES = new URL('../../fixtures/import/', import.meta.url).pathname;

/** Imports fixtures, validates every output as kanari does, and lists what was not carried as `Document path`. */
export function imported(files: string[], opts: Partial<ImportOptions> = {}) {
  const result = importFiles(
    files.map((f) => ({ file: `${FIXTURES}${f}`, text: readFileSync(`${FIXTURES}${f}`, 'utf8') })),
    { ...DEFAULT_OPTIONS, ...opts },
  );
  const rollouts = result.documents.filter((d) => d.kind === 'Rollout') as unknown as Written[];
  for (const r of rollouts) kubernetesRolloutDocument.parse(r);
  // The templates as `kanari lint` reads a file of them (the Kubernetes Rollout's lint is another slice's).
  const onlyTemplates = result.documents.filter((d) => d.kind === 'AnalysisTemplate');
  if (onlyTemplates.length > 0) loadDocuments('imported.yaml', onlyTemplates.map((d) => stringify(d)).join('---\n'));
  const templates = result.documents
    .filter((d) => d.kind === 'AnalysisTemplate')
    .map((d) => analysisTemplateDocument.parse(d));
  const dropped = result.notCarried.map((n) => `${n.document} ${formatPath(n.path)}`);
  const reasons = Object.fromEntries(result.notCarried.map((n) => [`${n.document} ${formatPath(n.path)}`, n.reason]));
  return { result, rollout: rollouts[0]!, rollouts, templates, dropped, reasons };
}

/** A step list as the input wrote it, without the defaults the schema adds. */
export function steps(rollout: Written): unknown[] {
  return rollout.spec.strategy.canary?.steps ?? [];
}
