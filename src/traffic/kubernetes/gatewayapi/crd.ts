/**
 * Which HTTPRoute fields the installed CRD has: an API server prunes fields its CRD does
 * not declare, so a rule `name` written to an older CRD would silently vanish and kanari
 * could no longer tell its rules from the user's. Rule names came with Gateway API v1.2
 * (experimental channel) and v1.4 (standard); percent mirroring with v1.2 (experimental)
 * and v1.3 (standard).
 */
import type { KubeObject } from '../../../kube/api.js';
import { TrafficRefused } from '../../../rollout/seams/traffic.js';

export const HTTPROUTE_CRD = 'httproutes.gateway.networking.k8s.io';

export interface HttpRouteFeatures {
  ruleName: boolean;
  mirrorPercent: boolean;
  /** The bundle version and channel the CRD says it is from, for messages. */
  bundle: string;
}

/** What the CRD's `v1` schema declares; a CRD of any other shape declares nothing. */
export function httpRouteFeatures(crd: KubeObject): HttpRouteFeatures {
  const annotations = crd.metadata.annotations ?? {};
  const bundle = [
    annotations['gateway.networking.k8s.io/bundle-version'],
    annotations['gateway.networking.k8s.io/channel'],
  ]
    .filter((s) => typeof s === 'string')
    .join(' ');
  const versions = at(crd, ['spec', 'versions']);
  const v1 = Array.isArray(versions) ? versions.find((v) => at(v, ['name']) === 'v1') : undefined;
  const rule = at(v1, [
    'schema',
    'openAPIV3Schema',
    'properties',
    'spec',
    'properties',
    'rules',
    'items',
    'properties',
  ]);
  const mirror = at(rule, ['filters', 'items', 'properties', 'requestMirror', 'properties']);
  return {
    ruleName: at(rule, ['name']) !== undefined,
    mirrorPercent: at(mirror, ['percent']) !== undefined || at(mirror, ['fraction']) !== undefined,
    bundle: bundle || 'of unknown version',
  };
}

/** Refuses a state the installed CRD cannot hold. */
export function requireFeatures(features: HttpRouteFeatures, mirror: boolean): void {
  if (!features.ruleName)
    throw new TrafficRefused(
      `the installed HTTPRoute CRD (${features.bundle}) has no rule name, by which kanari owns the rules it adds: install Gateway API v1.4 or later (standard channel), or v1.2 or later (experimental)`,
    );
  if (mirror && !features.mirrorPercent)
    throw new TrafficRefused(
      `the installed HTTPRoute CRD (${features.bundle}) cannot mirror a percentage of requests: install Gateway API v1.3 or later (standard channel), or v1.2 or later (experimental)`,
    );
}

/** The value at `path` inside a value of any shape, or undefined. */
function at(value: unknown, path: string[]): unknown {
  let v = value;
  for (const key of path) {
    if (v === null || typeof v !== 'object' || Array.isArray(v) || !Object.hasOwn(v, key)) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}
