/**
 * The rollout's state and the words the state machine speaks: events in, actions out.
 * Everything here is plain JSON, because it is what the store keeps and what a restarted
 * controller resumes from.
 */
import type { ANNOUNCEMENTS, GATES, TargetSpec } from '../config/schemas/rollout.js';
import type { RunVerdict } from '../analysis/judging/judge.js';

/** Every phase, in lifecycle order (the metrics list them in this order). */
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

/** One version of the service and where it runs. */
export interface Release {
  version: string;
  target: TargetSpec;
}

/** A running copy of a release; the id is what targets and the router know it by. */
export interface Instance {
  id: string;
  release: Release;
  /** How many of the target's processes run (a rolling update); all of them when unset. */
  count?: number;
}

export interface HeaderRoute {
  header?: string;
  cookie?: string;
  value?: string;
  prefix?: string;
  regex?: string;
}

/** What the data plane should do, by instance id. */
export interface TrafficState {
  stable: string;
  canary?: string;
  baseline?: string;
  weights: { canary: number; baseline: number };
  /** Requests matching one of these go to the canary whatever the weights say. */
  routes: HeaderRoute[];
  /** Percent of requests copied to the canary; 0 is off. */
  mirror: number;
  /** Route to only the first N processes of an instance (a rolling update drains the rest before stopping them). */
  sizes?: Record<string, number>;
}

/** A webhook the rollout asks before going on. */
export type GateType = (typeof GATES)[number];

export interface GateState {
  type: Exclude<GateType, 'rollback'>;
  /** The step it guards (for confirm-promotion, the plan's `promotionAt`). */
  step: number;
  since: number;
  message: string;
}

export interface AnalysisEntry {
  id: string;
  template: string;
  scope: 'step' | 'background';
  /** The step that started it. */
  step: number;
  verdict: RunVerdict;
  reason?: string;
  startedAt: number;
  endedAt?: number;
  /** A person accepted this Inconclusive verdict (`kanari promote`). */
  accepted?: boolean;
}

export type Outcome = 'Promoted' | 'RolledBack' | 'Aborted';

export interface PauseState {
  reason: 'manual' | 'step' | 'inconclusive' | 'stopped';
  at: number;
  /** What is left of a timed pause step when a person paused on top of it. */
  remaining?: number;
  /** The phase to return to on `resume` after a manual pause. */
  resumePhase?: Phase;
  /** Which analysis came back Inconclusive (or was Stopped). */
  analysis?: 'step' | 'background';
  /** A person holds the canary at `weight` (set-weight); resume and promote give the plan its weights back. */
  hold?: { weight: number; planWeights: { canary: number; baseline: number } };
  message: string;
}

export interface RolloutStatus {
  phase: Phase;
  /** Counts deploys; every event and history row carries it. */
  revision: number;
  stable: Release;
  canary?: Release;
  /** The stable before the last promotion, for `undo`. */
  previous?: Release;
  /** When the current (or last) rollout was deployed. */
  deployedAt?: number;
  /** The step being carried out; `steps.length` once all are done. */
  step: number;
  stepStartedAt?: number;
  /** When a timed pause step ends. */
  pauseUntil?: number;
  paused?: PauseState;
  /** Waiting on the data plane or a target since; a progress deadline counts from here. */
  waitingSince?: number;
  /** Where a promotion is: weight 100 applied, then stable switched, then the old one stopped. */
  promotion?: 'weight' | 'switch' | 'cleanup';
  fullPromotion?: boolean;
  /** The webhook the rollout waits on now. */
  gate?: GateState;
  /** Gates passed in this rollout, as `type@step`. */
  passedGates?: string[];
  /** A rolling update: the old pool's size when it was deployed, and the new one's. */
  pools?: { from: number; to: number };
  /** After a switch: when the old version is stopped (scaleDownDelay). */
  scaleDownAt?: number;
  /** Why the current rollback happens and how it ends. */
  rollback?: { outcome: 'RolledBack' | 'Aborted'; reason: string; failures: number };
  /** The instances that should run, and which of them have said they are ready. */
  instances: Instance[];
  ready: string[];
  /** Instances told to stop that have not confirmed it yet. */
  stopping: string[];
  traffic: TrafficState;
  /** Bumped whenever `traffic` changes; the engine acknowledges with the same number. */
  trafficSeq: number;
  appliedSeq: number;
  analyses: AnalysisEntry[];
  result?: { outcome: Outcome; release: Release; reason: string; at: number };
  message: string;
  updatedAt: number;
}

export type RolloutEvent =
  | ({ type: 'deploy'; at: number; release: Release } & Asked)
  | { type: 'tick'; at: number }
  | { type: 'trafficApplied'; at: number; seq: number }
  | { type: 'trafficFailed'; at: number; seq: number; reason: string }
  | { type: 'instanceReady'; at: number; id: string }
  | { type: 'instanceFailed'; at: number; id: string; reason: string }
  | { type: 'instanceStopped'; at: number; id: string }
  | { type: 'analysisVerdict'; at: number; id: string; verdict: RunVerdict; reason: string }
  /** Ends every running analysis as Stopped (`kanari down --all` stops the instances it judges). */
  | { type: 'stopAnalyses'; at: number; reason: string }
  /** What the webhooks of a gate answered: all 2xx is `passed` (for `rollback`, a 2xx asks for a rollback). */
  | { type: 'webhook'; at: number; gate: GateType; step: number; passed: boolean; reason: string }
  | ({ type: 'promote'; at: number; full?: boolean } & Asked)
  | ({ type: 'abort'; at: number; reason?: string } & Asked)
  | ({ type: 'pause'; at: number } & Asked)
  | ({ type: 'resume'; at: number } & Asked)
  | ({ type: 'retry'; at: number } & Asked)
  | ({ type: 'undo'; at: number } & Asked)
  /** A person holds the canary at `weight` percent until resume, promote or abort. */
  | ({ type: 'setWeight'; at: number; weight: number; reason?: string } & Asked);

/** A person's command carries who asked (a token's name): the event log keeps it; the machine ignores it. */
interface Asked {
  actor?: string;
}

/** The moments a rollout announces to notifications (gates are `GateType`). */
export type Announcement = (typeof ANNOUNCEMENTS)[number];

export type RolloutAction = { type: 'announce'; moment: Announcement; message: string };

export interface Transition {
  status: RolloutStatus;
  actions: RolloutAction[];
  /** Set when the event was refused (a command that makes no sense now); the status is unchanged. */
  rejected?: string;
}

/** An event before the engine stamps it with the time. */
export type UntimedEvent = RolloutEvent extends infer E ? (E extends RolloutEvent ? Omit<E, 'at'> : never) : never;
