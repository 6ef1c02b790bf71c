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
