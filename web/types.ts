/**
 * The API's answers as the dashboard reads them: the members it uses of what
 * src/server/api-schemas.ts declares. The browser imports nothing from src/ (its own
 * tsconfig, the DOM's types); test/web/api-types.ts checks these against the
 * server's types, so a change there that breaks the dashboard fails to compile.
 */
export type Role = 'viewer' | 'operator' | 'admin';

/** Every phase, in the lifecycle's order and then the ones reached from any step. */
export const PHASES = [
  'StableOnly',
  'CanaryDeploy',
  'SmallTraffic',
  'Monitor',
  'IncreaseTraffic',
  'FullDeploy',
  'Paused',
  'Rollback',
  'Aborted',
  'Degraded',
] as const;
export type Phase = (typeof PHASES)[number];

export interface Weights {
  stable: number;
  canary: number;
  baseline: number;
}

export interface AnalysisSummary {
  id: string;
  template: string;
  scope: 'step' | 'background';
  step: number;
  verdict: string;
  reason?: string;
  score?: number;
  startedAt: number;
  endedAt?: number;
}

export interface Rollout {
  name: string;
  /** On a cluster (the operator's API): the Rollout resource's namespace; the rollout is `NAMESPACE/NAME` there. */
  namespace?: string;
  /** On a cluster: the resource's status conditions. */
  conditions?: { type: string; status: string; reason?: string; message?: string }[];
  phase: Phase;
  stable: string;
  canary?: string;
  weights: Weights;
  listen: string;
  step: number;
  steps: { index: number; text: string; state: 'done' | 'current' | 'next' }[];
  pauseLeft?: number;
  paused?: { reason: string; message: string; held?: number };
  gate?: { type: string; since: number; message: string };
  analyses: AnalysisSummary[];
  message: string;
  result?: { outcome: string; version: string; reason: string; at: number };
  updatedAt: number;
}

export interface EventRow {
  id: number;
  rollout: string;
  at: number;
  type: string;
  data: Record<string, unknown>;
}

export interface Report {
  template: string;
  judge: string;
  verdict: string;
  score: number;
  reason: string;
  metrics: { name: string; verdict: string; summary: string; details?: unknown }[];
  measurements: number;
}

type Points = (number | null)[];
export interface VersionSeries {
  requests: Points;
  errors: Points;
  maxErrorRate: Points;
  maxP99: Points;
  p50: Points;
  p99: Points;
}

export interface Series {
  from: number;
  to: number;
  width: number;
  t: number[];
  versions: { stable?: VersionSeries; canary?: VersionSeries; baseline?: VersionSeries };
  evidence: { run: string; template: string; metric: string; rollbackAt: number; points: [number, number, number][] }[];
  marks: { at: number; type: string; [key: string]: unknown }[];
}

/** Who the browser is: a session (`/auth/session`) or, with a bearer token, `/api/v1/whoami`. */
export interface Who {
  actor: string;
  role: Role;
  /** Sent as X-CSRF-Token on every request that changes something; absent for a bearer token. */
  csrf?: string;
}
