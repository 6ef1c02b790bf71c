/**
 * What `kanari apply` may do to a standalone controller: the Rollouts a file holds, with the
 * AnalysisTemplates beside them, and whether each may replace what runs now. Pure checks of
 * documents and statuses, apart from the controller that then opens the engines, so every
 * refusal of an apply is in one place and testable without a router.
 */
import { dirname, resolve } from 'node:path';
import { ConfigError } from '../config/errors.js';
import { loadDocuments } from '../config/kinds.js';
import { rolloutModeOf } from '../config/rollout-mode.js';
import type { AnalysisTemplateDocument, AnalysisTemplateSpec } from '../config/schemas/analysis.js';
import type { RolloutDocument, TargetSpec } from '../config/schemas/rollout.js';
import type { RolloutStatus } from '../rollout/types.js';
import { bundleReader, type Bundle } from './bundle.js';
import { ControllerError } from './controller-error.js';

/** Linux allows 107 bytes in a unix socket path. */
const MAX_SOCKET_PATH = 107;

/** A file's Rollouts, their process targets anchored to its directory, and the templates beside them. */
export interface RolloutFile {
  rollouts: RolloutDocument[];
  templates: Record<string, AnalysisTemplateSpec>;
}

/** A rollout the controller runs, as far as an apply looks at it. */
export interface Running {
  document: RolloutDocument;
  engine: { readonly status: RolloutStatus };
}

/**
 * Reads a file to apply: refused (400) when it is not valid, holds a Kubernetes Rollout, or
 * holds no Rollout. With a `bundle`, files the documents reference are read from it.
 */
export function readRolloutFile(file: string, text: string, bundle?: Bundle): RolloutFile {
  let docs;
  try {
    docs = loadDocuments(file, text, undefined, bundle && bundleReader(bundle));
  } catch (err) {
    if (err instanceof ConfigError) throw new ControllerError(400, `${file} is not valid`, err.issues);
    throw err;
  }
  const templates = Object.fromEntries(
    docs
      .filter((d) => d.kind === 'AnalysisTemplate')
      .map((d) => [(d.value as AnalysisTemplateDocument).metadata.name, (d.value as AnalysisTemplateDocument).spec]),
  );
  const kubernetes = docs.filter((d) => d.kind === 'Rollout' && rolloutModeOf(d.value) === 'kubernetes');
  if (kubernetes.length > 0)
    throw new ControllerError(
      400,
      `${file} holds a Kubernetes Rollout (it has spec.workloadRef), which the kanari operator runs in a cluster: apply it with kubectl apply -f`,
    );
  const rollouts = docs
    .filter((d) => d.kind === 'Rollout')
    .map((d) => anchorProcesses(d.value as RolloutDocument, dirname(file)));
  if (rollouts.length === 0)
    throw new ControllerError(400, `${file} holds no Rollout (kinds: ${docs.map((d) => d.kind).join(', ') || 'none'})`);
  return { rollouts, templates };
}

/**
 * Refuses a Rollout that cannot replace what runs now: a router socket path too long, a port
 * users cannot reach or another rollout has (`running` is every rollout, this one's old
 * self included); a rollout's file may change between rollouts, not during one; and stable
 * is only its first release.
 */
export function refuseChange(doc: RolloutDocument, socket: string, running: Iterable<Running>): void {
  const name = doc.metadata.name;
  const all = [...running];
  if (Buffer.byteLength(socket) > MAX_SOCKET_PATH)
    throw new ControllerError(
      400,
      `rollout ${name}: the router's admin socket ${socket} is longer than a unix socket path may be (${MAX_SOCKET_PATH} bytes); use a shorter --state directory`,
    );
  if (doc.spec.listen.port === 0)
    throw new ControllerError(400, `rollout ${name}: spec.listen needs a fixed port that users can reach (got 0)`);
  const taken = all.find(
    (o) => o.document.metadata.name !== name && o.document.spec.listen.port === doc.spec.listen.port,
  );
  if (taken)
    throw new ControllerError(
      409,
      `rollout ${name}: port ${doc.spec.listen.port} is already where rollout ${taken.document.metadata.name} listens`,
    );
  const m = all.find((o) => o.document.metadata.name === name);
  if (!m || JSON.stringify(m.document) === JSON.stringify(doc)) return;
  const s = m.engine.status;
  if (s.phase !== 'StableOnly' && s.phase !== 'Aborted')
    throw new ControllerError(
      409,
      `rollout ${name} is in phase ${s.phase} (${s.canary?.version}); its file can change once this rollout ends — promote or abort it first`,
    );
  if (JSON.stringify(m.document.spec.stable) !== JSON.stringify(doc.spec.stable)) {
    throw new ControllerError(
      409,
      `rollout ${name}: spec.stable only names the first release and ${s.stable.version} runs now; ship a new version with kanari deploy ${name} --version V`,
    );
  }
}

/** Process targets run in the rollout file's directory unless they say otherwise. */
function anchorProcesses(doc: RolloutDocument, dir: string): RolloutDocument {
  const anchor = (t: TargetSpec | undefined) =>
    t?.process ? { ...t, process: { ...t.process, cwd: resolve(dir, t.process.cwd ?? '.') } } : t;
  const spec = {
    ...doc.spec,
    stable: anchor(doc.spec.stable)!,
    canary: anchor(doc.spec.canary)!,
    ...(doc.spec.baseline ? { baseline: anchor(doc.spec.baseline) } : {}),
  };
  return { ...doc, spec };
}
