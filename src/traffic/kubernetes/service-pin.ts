/**
 * Narrowing the user's Service to the stable version's pods, as Argo Rollouts does with its
 * stable Service: kanari adds its two selector labels (ROLLOUT_LABEL, VERSION_LABEL), which
 * only its own versions' pods carry, so whatever reaches the Service without passing
 * through kanari's rules (the user's own rules, in-cluster callers) reaches stable alone,
 * not every version in proportion to its pods. The user's own keys stay as written.
 */
import { z } from 'zod';
import type { KubeClient, KubeObject, ObjectRef } from '../../kube/api.js';
import { updateObject } from '../../kube/update.js';
import { record, ROLLOUT_LABEL, VERSION_LABEL } from '../../kube/versions.js';
import { TrafficRefused } from '../../rollout/seams/traffic.js';
import { editIfThere } from './kube-router.js';
import { readShape } from './shape.js';

/** Well above any real selector, low enough that a huge one is refused before it is copied. */
const MAX_SELECTOR_KEYS = 64;

/** A label key (an optional DNS prefix, `/`, a name of 63) and a label value (63). */
const selector = z
  .record(z.string().min(1).max(317), z.string().max(63))
  .refine((s) => Object.keys(s).length <= MAX_SELECTOR_KEYS, `more than ${MAX_SELECTOR_KEYS} keys`);

const serviceShape = z.looseObject({
  spec: z.looseObject({ selector: selector.optional() }),
});

export function serviceRef(namespace: string, name: string): ObjectRef {
  return { apiVersion: 'v1', kind: 'Service', namespace, name };
}

/** The Service's selector, checked: a hand-edited one that is not a small map of strings is a refusal naming it. */
function selectorOf(service: KubeObject): Record<string, string> {
  const what = `Service ${service.metadata.name}`;
  return readShape(serviceShape, service, what).spec.selector ?? {};
}

/** The version the Service is narrowed to for `rollout`, or undefined while it is not. */
export function pinnedVersion(service: KubeObject | undefined, rollout: string): string | undefined {
  if (!service) return undefined;
  const s = selectorOf(service);
  return s[ROLLOUT_LABEL] === rollout ? s[VERSION_LABEL] : undefined;
}

/**
 * Adds (or moves) kanari's two labels in the Service's selector, by read-modify-write at
 * the version read. Refuses a Service with no selector of its own (hand-made Endpoints:
 * narrowing it would select kanari's pods alone, or nothing), and one another Rollout narrows.
 */
export async function pinService(client: KubeClient, ref: ObjectRef, rollout: string, stable: string): Promise<void> {
  await updateObject(client, ref, (service) => {
    const current = selectorOf(service);
    const own = Object.keys(current).filter((k) => k !== VERSION_LABEL && k !== ROLLOUT_LABEL);
    if (own.length === 0)
      throw new TrafficRefused(
        `Service ${ref.name} has no selector of its own: kanari can only narrow a Service that selects the app's pods`,
      );
    const holder = current[ROLLOUT_LABEL];
    if (holder !== undefined && holder !== rollout)
      throw new TrafficRefused(
        `Service ${ref.name} is narrowed to Rollout ${holder}'s stable version (its selector has ${ROLLOUT_LABEL}: ${holder}): two Rollouts cannot share one Service`,
      );
    if (current[VERSION_LABEL] === stable && holder === rollout) return undefined;
    const pinned = { ...current, [ROLLOUT_LABEL]: rollout, [VERSION_LABEL]: stable };
    return { ...service, spec: { ...record(service.spec), selector: pinned } };
  });
}

/**
 * Takes kanari's two labels out of the Service's selector again; a Service that is gone,
 * has none, or is narrowed by another Rollout, is left alone.
 */
export async function unpinService(client: KubeClient, ref: ObjectRef, rollout: string): Promise<void> {
  await editIfThere(client, ref, (service) => {
    // Read leniently: the labels go whatever else a user wrote beside them.
    const current = record(record(service.spec).selector);
    if (!(VERSION_LABEL in current) && !(ROLLOUT_LABEL in current)) return undefined;
    if (ROLLOUT_LABEL in current && current[ROLLOUT_LABEL] !== rollout) return undefined;
    const { [VERSION_LABEL]: _v, [ROLLOUT_LABEL]: _r, ...user } = current;
    return { ...service, spec: { ...record(service.spec), selector: user } };
  });
}
