/**
 * Every target a rollout holds carries its `size` (config/schemas/rollout.ts sets it when
 * a file is loaded). Documents and statuses saved before sizes existed, and releases a
 * caller built by hand, are sized here as they come in, so the machine only reads `size`.
 */
import { withSize, type RolloutDocument, type TargetSpec } from '../config/schemas/rollout.js';
import type { Release, RolloutStatus } from './types.js';

export function sizedTarget(t: TargetSpec): TargetSpec {
  return t.size === undefined ? withSize(t) : t;
}

export function sizedDocument(doc: RolloutDocument): RolloutDocument {
  const { spec } = doc;
  return {
    ...doc,
    spec: {
      ...spec,
      stable: sizedTarget(spec.stable),
      canary: sizedTarget(spec.canary),
      ...(spec.baseline ? { baseline: sizedTarget(spec.baseline) } : {}),
    },
  };
}

export function sizedRelease<R extends Release | undefined>(r: R): R {
  return (r && { ...r, target: sizedTarget(r.target) }) as R;
}

export function sizedStatus(s: RolloutStatus): RolloutStatus {
  return {
    ...s,
    stable: sizedRelease(s.stable),
    ...(s.canary ? { canary: sizedRelease(s.canary) } : {}),
    ...(s.previous ? { previous: sizedRelease(s.previous) } : {}),
    ...(s.result ? { result: { ...s.result, release: sizedRelease(s.result.release) } } : {}),
    instances: s.instances.map((i) => ({ ...i, release: sizedRelease(i.release) })),
  };
}
