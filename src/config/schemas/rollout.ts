/**
 * The Rollout file: where each version runs, how users reach them, and the plan that
 * moves traffic from stable to canary. One schema is the type and the validation.
 */
import { z } from 'zod';
import { duration } from '../duration.js';
import { API_VERSION, exactlyOne, listenAddress, metadata, name, port } from './common.js';
import { endpoint, linearRegex, percent } from './table.js';
import { routerSpec } from './router.js';

/** A version name as users write it: `v2`, `2024-06-01.3`, a git sha. */
export const versionLabel = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'must be letters, digits, dots, dashes or underscores (at most 63), starting with a letter or digit');

/** kanari starts the version from a command and stops it when it is no longer needed. */
export const processTarget = z.strictObject({
  command: z.string().min(1, 'must name a command'),
  /** The port the command listens on; 0 picks a free one. Either way the command gets it as $PORT. */
  port: port.default(0),
  /** Instances of the command, each on its own port (the first on `port` when it is set). */
  instances: z.number().int().min(1).max(64).default(1),
  cwd: z.string().optional(),
  env: z.record(z.string(), z.string()).default({}),
  /** A path answering 2xx once the instance can take traffic. */
  readiness: z.string().startsWith('/', 'must be a path such as /healthz').default('/healthz'),
  /** How long an instance may take to become ready. */
  startTimeout: duration.default(30_000),
  /** SIGTERM first; SIGKILL after this long. */
  stopTimeout: duration.default(10_000),
});
export type ProcessTarget = z.output<typeof processTarget>;

/** Where one version runs: endpoints that already exist, or a command kanari runs. */
export const target = z
  .strictObject({
    version: versionLabel.optional(),
    upstreams: z.array(endpoint).min(1, 'must list at least one endpoint').max(256).optional(),
    process: processTarget.optional(),
  })
  .superRefine(exactlyOne(['upstreams', 'process']));
export type TargetSpec = z.output<typeof target>;

/** `setHeaderRoute: { match: { header: x-canary, value: always } }`; `{}` removes the route. */
const headerRoute = z.strictObject({
  match: z
    .strictObject({
      header: z.string().min(1).optional(),
      cookie: z.string().min(1).optional(),
      value: z.string().optional(),
      prefix: z.string().optional(),
      regex: linearRegex.optional(),
    })
    .superRefine(exactlyOne(['header', 'cookie']))
    .superRefine(exactlyOne(['value', 'prefix', 'regex']))
    .optional(),
});

export const analysisRef = z.strictObject({
  /** Built-in templates (sequential, threshold, kayenta) or AnalysisTemplate documents applied with the rollout. */
  templates: z.array(name).min(1, 'must name at least one template'),
});

export const rolloutStep = z
  .strictObject({
    setWeight: percent.optional(),
    /** `pause: {}` waits for `kanari promote`; `pause: { duration: 2m }` waits that long. */
    pause: z.strictObject({ duration: duration.optional() }).optional(),
    analysis: analysisRef.optional(),
    setHeaderRoute: headerRoute.optional(),
    /** `setMirror: { percent: 10 }` copies a share of stable's requests to the canary; `{}` stops. */
    setMirror: z.strictObject({ percent: percent.optional() }).optional(),
    /** Start a copy of stable beside the canary, given the same weight, and judge the canary against it. */
    baseline: z.strictObject({}).optional(),
  })
  .superRefine(exactlyOne(['setWeight', 'pause', 'analysis', 'setHeaderRoute', 'setMirror', 'baseline']));
export type RolloutStep = z.output<typeof rolloutStep>;

export const canaryStrategy = z.strictObject({
  /** Background analysis: runs from `startingStep` until promotion; it can only stop the rollout. */
  analysis: analysisRef.extend({ startingStep: z.number().int().min(0).default(0) }).optional(),
  steps: z.array(rolloutStep).min(1, 'must list at least one step'),
});
export type CanaryStrategy = z.output<typeof canaryStrategy>;

/** The moments a rollout announces; a notification can ask for any of them. */
export const ANNOUNCEMENTS = ['pre-rollout', 'rollout', 'post-rollout', 'rollback', 'event'] as const;

/** A webhook told what happens: it cannot hold a rollout back (gates are another thing). */
export const notification = z.strictObject({
  url: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }),
  /** Which moments to send; all of them by default. */
  on: z.array(z.enum(ANNOUNCEMENTS)).min(1).default([...ANNOUNCEMENTS]),
  /** `json` (kanari's payload) or `slack` (an incoming-webhook message). */
  format: z.enum(['json', 'slack']).default('json'),
  /** An environment variable of the controller holding the HMAC-SHA256 signing key. */
  secretEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name').optional(),
  /** Per attempt. */
  timeout: duration.default(5000),
  /** Further attempts after a failure (a non-2xx answer or none), 1 s, 2 s, 4 s… apart. */
  retries: z.number().int().min(0).max(10).default(3),
});
export type NotificationSpec = z.output<typeof notification>;

export const rolloutSpec = z
  .strictObject({
    /** Where users connect; the embedded router listens here. */
    listen: listenAddress,
    stable: target,
    canary: target,
    /** Endpoints for a `baseline` step when stable is static (a process stable is copied). */
    baseline: target.optional(),
    sticky: routerSpec.shape.sticky,
    /** Longer than this waiting for a version to start or for traffic to move aborts the rollout. */
    progressDeadline: duration.default(600_000),
    /** How often running analyses are ticked. */
    analysisInterval: duration.default(1000),
    strategy: z.strictObject({ canary: canaryStrategy }),
    notifications: z.array(notification).max(16).default([]),
  })
  .superRefine((spec, ctx) => {
    const steps = spec.strategy.canary.steps;
    const baselineAt = steps.findIndex((s) => s.baseline);
    if (baselineAt >= 0 && spec.stable.upstreams && !spec.baseline) {
      ctx.addIssue({ code: 'custom', path: ['strategy', 'canary', 'steps', baselineAt, 'baseline'], message: 'stable is a fixed list of upstreams, so kanari cannot start a copy of it; set spec.baseline.upstreams or run stable as a process', input: {} });
    }
    const start = spec.strategy.canary.analysis?.startingStep;
    if (start !== undefined && start >= steps.length) {
      ctx.addIssue({ code: 'custom', path: ['strategy', 'canary', 'analysis', 'startingStep'], message: `must be a step index below ${steps.length}`, input: start });
    }
  });
export type RolloutSpec = z.output<typeof rolloutSpec>;

export const rolloutDocument = z.strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('Rollout'),
  metadata,
  spec: rolloutSpec,
});
export type RolloutDocument = z.output<typeof rolloutDocument>;
export type RolloutDocumentInput = z.input<typeof rolloutDocument>;
