/**
 * A Kayenta canary config (the JSON Kayenta stores and Spinnaker edits), so its users can
 * bring theirs unchanged. Bookkeeping fields are accepted and ignored; the keys the judge
 * reads are validated. Where Kayenta silently falls back to a default on an unknown enum
 * value, kanari reports the value and where it is instead.
 */
import { z } from 'zod';

export type Direction = 'increase' | 'decrease' | 'either';
export type NanStrategy = 'remove' | 'replace';

export interface KayentaMetricSettings {
  direction: Direction;
  nanStrategy: NanStrategy;
  critical: boolean;
  mustHaveData: boolean;
  muted: boolean;
  effectSize: {
    measure: 'meanRatio' | 'cles';
    allowedIncrease: number;
    allowedDecrease: number;
    criticalIncrease: number;
    criticalDecrease: number;
  };
  outliers: { strategy: 'keep' | 'remove'; outlierFactor: number };
}

/** Fills in Kayenta's defaults; the effect-size defaults depend on the measure (1.0 for meanRatio, 0.5 for CLES). */
export function metricSettings(
  partial: {
    direction?: Direction;
    nanStrategy?: NanStrategy;
    critical?: boolean;
    mustHaveData?: boolean;
    muted?: boolean;
    effectSize?: Partial<KayentaMetricSettings['effectSize']>;
    outliers?: Partial<KayentaMetricSettings['outliers']>;
  } = {},
): KayentaMetricSettings {
  const measure = partial.effectSize?.measure ?? 'meanRatio';
  const neutral = measure === 'cles' ? 0.5 : 1;
  return {
    direction: partial.direction ?? 'either',
    nanStrategy: partial.nanStrategy ?? 'remove',
    critical: partial.critical ?? false,
    mustHaveData: partial.mustHaveData ?? false,
    muted: partial.muted ?? false,
    effectSize: {
      measure,
      allowedIncrease: partial.effectSize?.allowedIncrease ?? neutral,
      allowedDecrease: partial.effectSize?.allowedDecrease ?? neutral,
      criticalIncrease: partial.effectSize?.criticalIncrease ?? neutral,
      criticalDecrease: partial.effectSize?.criticalDecrease ?? neutral,
    },
    outliers: { strategy: partial.outliers?.strategy ?? 'keep', outlierFactor: partial.outliers?.outlierFactor ?? 3 },
  };
}

const canarySettings = z.looseObject({
  direction: z.enum(['increase', 'decrease', 'either']).optional(),
  nanStrategy: z.enum(['remove', 'replace']).optional(),
  critical: z.boolean().optional(),
  mustHaveData: z.boolean().optional(),
  muted: z.boolean().optional(),
  effectSize: z
    .looseObject({
      measure: z.enum(['meanRatio', 'cles']).optional(),
      allowedIncrease: z.number().optional(),
      allowedDecrease: z.number().optional(),
      criticalIncrease: z.number().optional(),
      criticalDecrease: z.number().optional(),
    })
    .optional(),
  outliers: z
    .looseObject({ strategy: z.enum(['keep', 'remove']).optional(), outlierFactor: z.number().positive().optional() })
    .optional(),
});

export const kayentaCanaryConfig = z
  .looseObject({
    name: z.string().optional(),
    judge: z.looseObject({ name: z.string() }).optional(),
    metrics: z
      .array(
        z.looseObject({
          name: z.string().min(1),
          query: z.looseObject({ type: z.string() }).optional(),
          groups: z.array(z.string()).default([]),
          analysisConfigurations: z.looseObject({ canary: canarySettings.optional() }).default({}),
          scopeName: z.string().default('default'),
        }),
      )
      .min(1, 'a canary config needs at least one metric'),
    classifier: z
      .looseObject({
        groupWeights: z.record(z.string(), z.number()).default({}),
        /** Kayenta ignores these (the request's thresholds decide); kanari uses them when no others are given. */
        scoreThresholds: z.looseObject({ pass: z.number(), marginal: z.number() }).optional(),
      })
      .default({ groupWeights: {} }),
  })
  .superRefine((config, ctx) => {
    const name = config.judge?.name;
    if (name !== undefined && name !== 'NetflixACAJudge-v1.0') {
      ctx.addIssue({
        code: 'custom',
        path: ['judge', 'name'],
        message: `kanari implements NetflixACAJudge-v1.0 only`,
        input: name,
      });
    }
  });
export type KayentaCanaryConfig = z.output<typeof kayentaCanaryConfig>;

export interface KayentaMetric {
  name: string;
  groups: string[];
  settings: KayentaMetricSettings;
}

export function metricsOf(config: KayentaCanaryConfig): KayentaMetric[] {
  return config.metrics.map((m) => ({
    name: m.name,
    groups: m.groups,
    settings: metricSettings(m.analysisConfigurations.canary ?? {}),
  }));
}
