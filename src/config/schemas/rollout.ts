/**
 * The Rollout file: where each version runs, how users reach them, and the plan that
 * moves traffic from stable to canary. One schema is the type and the validation.
 */
import { z } from 'zod';
import { duration, timerDuration } from '../duration.js';
import { API_VERSION, exactlyOne, httpUrl, listenAddress, metadata, name, port } from './common.js';
import { endpoint, linearRegex, percent } from './table.js';
import { routerSpec } from './router.js';
import { kubernetesTarget } from './kubernetes-target.js';

/** A version name as users write it: `v2`, `2024-06-01.3`, a git sha. */
export const versionLabel = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/,
    'must be letters, digits, dots, dashes or underscores (at most 63), starting with a letter or digit',
  );

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
    /** A Deployment kanari owns, made from a pod template (Kubernetes mode writes these; a file does not). */
    kubernetes: kubernetesTarget.optional(),
  })
  .superRefine(exactlyOne(['upstreams', 'process', 'kubernetes']))
  .transform(withSize);
export type TargetSpec = z.output<typeof target>;

/**
 * A target with `size`, how many copies of it run at full strength, read here once from
 * its own fields (a process target's `instances`; a list of upstreams is one), so that the
 * rollout machine never reads what one kind of target means. Documents saved before sizes
 * existed are sized with this when they are loaded.
 */
export function withSize<
  T extends { process?: { instances: number }; kubernetes?: { replicas: number }; size?: number },
>(t: T): T & { size: number } {
  return { ...t, size: t.size ?? t.process?.instances ?? t.kubernetes?.replicas ?? 1 };
}

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
  /** Built-in templates (sequential, threshold, kayenta, series) or AnalysisTemplate documents applied with the rollout. */
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

/**
 * Bring the whole new version up beside the old one, let testers reach it on a preview
 * route, then switch every user at once; the old version keeps running for
 * `scaleDownDelay` so a post-promotion failure can switch straight back.
 */
export const blueGreenStrategy = z.strictObject({
  /** Requests matching this header or cookie reach the new version before the switch. */
  previewRoute: headerRoute.shape.match.unwrap().optional(),
  /** Switch by itself once the pre-promotion analysis passes; false waits for `kanari promote`. */
  autoPromotion: z.boolean().default(true),
  /** With autoPromotion, wait this long before switching. */
  autoPromotionDelay: duration.optional(),
  /** Judged before the switch (with the preview route and any canary steps as its traffic). */
  prePromotionAnalysis: analysisRef.optional(),
  /** Judged after the switch while the old version still runs; a failure switches back. */
  postPromotionAnalysis: analysisRef.optional(),
  /** How long the old version keeps running after the switch. */
  scaleDownDelay: duration.default(30_000),
});
export type BlueGreenStrategy = z.output<typeof blueGreenStrategy>;

/** A whole number of instances, or a percentage of the new version's instances ("25%"). */
const instanceCount = z.union([
  z.number().int().min(0),
  z.string().regex(/^\d{1,3}%$/, 'must be a whole number or a percentage such as 25%'),
]);

/** Replace a pool of process instances a few at a time, traffic following the instances. */
export const rollingStrategy = z.strictObject({
  /** How many new instances may run above the pool's size (a percentage rounds up). */
  maxSurge: instanceCount.default('25%'),
  /** How many of the pool's instances may be missing while it is replaced (a percentage rounds down). */
  maxUnavailable: instanceCount.default(0),
  /** Each wave's new instances serve this long before the next wave starts. */
  minReady: duration.default(0),
  /** Background analysis over the whole replacement; a failure rolls back. */
  analysis: analysisRef.optional(),
});
export type RollingStrategy = z.output<typeof rollingStrategy>;

export const strategy = z
  .strictObject({
    canary: canaryStrategy.optional(),
    blueGreen: blueGreenStrategy.optional(),
    rolling: rollingStrategy.optional(),
  })
  .superRefine((s, ctx) => {
    const set = (['canary', 'blueGreen', 'rolling'] as const).filter((k) => s[k] !== undefined);
    const combined = set.length === 2 && s.canary && s.blueGreen;
    if (set.length === 0 || (set.length > 1 && !combined)) {
      ctx.addIssue({
        code: 'custom',
        message: `set one of canary, blueGreen, rolling, or canary with blueGreen (canary steps, then the blue-green switch)${set.length > 1 ? ` (got ${set.join(' and ')})` : ''}`,
        input: s,
      });
    }
  });
export type Strategy = z.output<typeof strategy>;

/** The moments a rollout announces; a notification can ask for any of them. */
export const ANNOUNCEMENTS = ['pre-rollout', 'rollout', 'post-rollout', 'rollback', 'event'] as const;

/** A webhook told what happens: it cannot hold a rollout back (gates are another thing). */
export const notification = z.strictObject({
  url: httpUrl,
  /** Which moments to send; all of them by default. */
  on: z
    .array(z.enum(ANNOUNCEMENTS))
    .min(1)
    .default([...ANNOUNCEMENTS]),
  /** `json` (kanari's payload) or `slack` (an incoming-webhook message). */
  format: z.enum(['json', 'slack']).default('json'),
  /** An environment variable of the controller holding the HMAC-SHA256 signing key. */
  secretEnv: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name')
    .optional(),
  /** Per attempt. */
  timeout: timerDuration.default(5000),
  /** Further attempts after a failure (a non-2xx answer or none), 1 s, 2 s, 4 s… apart. */
  retries: z.number().int().min(0).max(10).default(3),
});
export type NotificationSpec = z.output<typeof notification>;

/**
 * Webhooks a rollout waits on or checks with. `confirm-*` hold the rollout until they
 * answer 2xx (asked again each interval); `pre-rollout` and `rollout` are checks whose
 * failure rolls back; `rollback` is asked each interval and a 2xx rolls back.
 */
export const GATES = [
  'confirm-rollout',
  'pre-rollout',
  'rollout',
  'confirm-traffic-increase',
  'confirm-promotion',
  'rollback',
] as const;

export const webhook = z.strictObject({
  name,
  type: z.enum(GATES),
  url: httpUrl,
  /** Per attempt. */
  timeout: timerDuration.default(10_000),
  /** For the checks: further attempts before the check counts as failed, 1 s, 2 s, 4 s… apart. */
  retries: z.number().int().min(0).max(10).default(2),
  /** An environment variable of the controller holding the HMAC-SHA256 signing key. */
  secretEnv: notification.shape.secretEnv,
  /** Passed through in the payload (what to test, who to ask). */
  metadata: z.record(z.string(), z.string()).default({}),
});
export type WebhookSpec = z.output<typeof webhook>;

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
    analysisInterval: timerDuration.default(1000),
    strategy,
    notifications: z.array(notification).max(16).default([]),
    webhooks: z.array(webhook).max(32).default([]),
  })
  .superRefine((spec, ctx) => {
    const issue = (path: (string | number)[], message: string) =>
      ctx.addIssue({ code: 'custom', path, message, input: undefined });
    const canary = spec.strategy.canary;
    if (canary) {
      const baselineAt = canary.steps.findIndex((s) => s.baseline);
      if (baselineAt >= 0 && spec.stable.upstreams && !spec.baseline) {
        issue(
          ['strategy', 'canary', 'steps', baselineAt, 'baseline'],
          'stable is a fixed list of upstreams, so kanari cannot start a copy of it; set spec.baseline.upstreams or run stable as a process',
        );
      }
      const start = canary.analysis?.startingStep;
      if (start !== undefined && start >= canary.steps.length)
        issue(['strategy', 'canary', 'analysis', 'startingStep'], `must be a step index below ${canary.steps.length}`);
    }
    const bg = spec.strategy.blueGreen;
    if (bg?.autoPromotionDelay !== undefined && !bg.autoPromotion)
      issue(
        ['strategy', 'blueGreen', 'autoPromotionDelay'],
        'only applies with autoPromotion: true (false waits for `kanari promote`)',
      );
    const rolling = spec.strategy.rolling;
    if (rolling) {
      for (const side of ['stable', 'canary'] as const) {
        if (!spec[side].process)
          issue(
            [side],
            `a rolling update replaces process instances a few at a time, so ${side} must be a process target`,
          );
      }
      const size = spec.canary.process?.instances ?? 1;
      if (
        resolveCount(rolling.maxSurge, size, 'up') === 0 &&
        resolveCount(rolling.maxUnavailable, size, 'down') === 0
      ) {
        issue(
          ['strategy', 'rolling', 'maxSurge'],
          `maxSurge and maxUnavailable cannot both be 0 for ${size} instance${size === 1 ? '' : 's'}: nothing could ever be replaced`,
        );
      }
    }
    const names = new Set<string>();
    spec.webhooks.forEach((w, i) => {
      if (names.has(w.name)) issue(['webhooks', i, 'name'], `another webhook is already named ${w.name}`);
      names.add(w.name);
    });
  });

/** `maxSurge`/`maxUnavailable` as a number of instances out of `size`: surge rounds up, unavailability down. */
export function resolveCount(value: number | string, size: number, round: 'up' | 'down'): number {
  if (typeof value === 'number') return value;
  const share = (Number(value.slice(0, -1)) / 100) * size;
  return round === 'up' ? Math.ceil(share) : Math.floor(share);
}
export type RolloutSpec = z.output<typeof rolloutSpec>;

export const rolloutDocument = z.strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('Rollout'),
  metadata,
  spec: rolloutSpec,
});
export type RolloutDocument = z.output<typeof rolloutDocument>;
export type RolloutDocumentInput = z.input<typeof rolloutDocument>;
