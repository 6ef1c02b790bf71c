/**
 * The speed limit of any test (Wald's bound E[N] ≥ ln(1/α)/KL, large-control limit):
 * expected time to detect ≈ ln(1/α) / (canary req/s × KL per canary request), and the extra
 * bad requests served meanwhile ≈ ln(1/α)·(p1 − p0)/K_P, which depends on neither canary
 * size nor traffic.
 */
export interface Limit {
  seconds: number;
  extraErrors: number;
}

export function detectionLimit(opts: {
  alpha: number;
  canaryRate: number;
  errorRates: [number, number];
  latency?: { medians: [number, number]; sigma: number };
}): Limit | undefined {
  const [p0, p1] = opts.errorRates;
  const kErrors = p1 > p0 && p0 > 0 ? p1 * Math.log(p1 / p0) - p1 + p0 : 0;
  const kLatency =
    opts.latency && opts.latency.medians[1] > opts.latency.medians[0]
      ? Math.log(opts.latency.medians[1] / opts.latency.medians[0]) ** 2 / (2 * opts.latency.sigma ** 2)
      : 0;
  const perRequest = kErrors + kLatency;
  if (perRequest === 0 || opts.canaryRate <= 0) return undefined;
  const seconds = Math.log(1 / opts.alpha) / (opts.canaryRate * perRequest);
  return { seconds, extraErrors: opts.canaryRate * (p1 - p0) * seconds };
}

/**
 * Where a regression rides on a few keys, the evidence is how many distinct keys fail: each
 * failing key is one observation, on the canary with probability π (its share of keys) when
 * the canary changes nothing. Wald's bound with keys as the observations, at its most
 * favourable (every failing key on the canary, KL = ln(1/π)): a test at level α needs at
 * least ln(1/α)/ln(1/π) failing keys on the canary, however many requests they send. With
 * fewer keys carrying the regression (`carriers`), no valid test can catch it from keys.
 */
export interface KeyLimit {
  /** Failing keys on the canary any test at level α needs. */
  keys: number;
  /** Keys that carry the regression. */
  carriers: number;
  /** Mean time until that many carriers have first failed on the canary; absent when too few are expected there. */
  seconds?: number;
}

export function keyLimit(opts: {
  alpha: number;
  keyShare: number;
  /** Each carrier's chance of being on the canary, and its failing requests per second there. */
  carriers: { onCanary: number; failures: number }[];
}): KeyLimit | undefined {
  const { alpha, keyShare, carriers } = opts;
  if (!(keyShare > 0 && keyShare < 1)) return undefined;
  const keys = Math.log(1 / alpha) / Math.log(1 / keyShare);
  const failedBy = (t: number) =>
    carriers.reduce((n, c) => n + (c.failures > 0 ? c.onCanary * -Math.expm1(-c.failures * t) : 0), 0);
  const out: KeyLimit = { keys, carriers: carriers.length };
  if (failedBy(Infinity) < keys) return out;
  let [lo, hi] = [0, 1];
  while (failedBy(hi) < keys && hi < 1e9) hi *= 2;
  for (let i = 0; i < 60; i++) [lo, hi] = failedBy((lo + hi) / 2) < keys ? [(lo + hi) / 2, hi] : [lo, (lo + hi) / 2];
  return { ...out, seconds: hi };
}
