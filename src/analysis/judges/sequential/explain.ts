/** The sequential judge's verdict in one sentence a person can act on. */
import type {
  MetricEvidence,
  Part,
  RatioEvidence,
  SequentialMetric,
  SequentialReport,
  SequentialSettings,
  Unit,
  Verdict,
} from './types.js';

export function explain(
  verdict: Verdict,
  metrics: MetricEvidence[],
  srm: SequentialReport['srm'],
  settings: SequentialSettings,
  exposure: { unit: Unit; canaryRequests: number; canaryUsers: number },
): string {
  const noun = exposure.unit === 'users' ? 'users' : 'requests';
  if (verdict === 'Failed') {
    const m = metrics.find((x) => x.failed)!;
    const part = m.parts.reduce((a, b) => (b.eValue > a.eValue ? b : a));
    const did = part.event === 'errors' ? (noun === 'users' ? 'met an error' : 'failed') : `were ${part.event}`;
    return (
      `${m.name}: the canary is worse — ${pct(part.canary.rate)} of its ${noun} ${did} ` +
      `against ${pct(part.control.rate)} of control's (${fmtRatio(part.ratio.estimate)}, ${pct(1 - m.alpha, 1)} confidence ${fmtRatio(part.ratio.lower)}–${fmtRatio(part.ratio.upper)}); ` +
      // The e-value may have fallen since it crossed; the crossing (1/p) is what decided.
      `e-value reached ${fmtE(1 / m.pValue)} ≥ 1/α = ${fmtE(1 / m.alpha)}, p ≤ ${m.pValue.toPrecision(2)}`
    );
  }
  if (srm?.failed) {
    return `sample-ratio mismatch: the canary served ${pct(srm.observedShare)} of ${srm.unit} where ${pct(srm.expectedShare)} was configured (tolerance ±${pct((settings.srm as { tolerance: number }).tolerance, 0)}), so the comparison cannot be trusted`;
  }
  const worst = metrics.reduce((a, b) => (b.eValue / (1 / b.alpha) > a.eValue / (1 / a.alpha) ? b : a));
  const p = settings.promotion;
  const seen =
    exposure.unit === 'users'
      ? `${exposure.canaryUsers} canary users (${exposure.canaryRequests} requests)`
      : `${exposure.canaryRequests} canary requests`;
  if (verdict === 'Successful') {
    const shown = p.noWorseThan !== undefined ? `; shown no worse than ${p.noWorseThan}× on every metric` : '';
    return `no evidence the canary is worse after ${seen} (strongest: ${worst.name}, e-value ${fmtE(worst.eValue)} < ${fmtE(1 / worst.alpha)})${shown}`;
  }
  const missing: string[] = [];
  if (exposure.canaryRequests < p.minRequests)
    missing.push(`${exposure.canaryRequests} of ${p.minRequests} canary requests`);
  if (exposure.canaryUsers < (p.minUsers ?? 0)) missing.push(`${exposure.canaryUsers} of ${p.minUsers} canary users`);
  if (p.noWorseThan !== undefined) {
    const unshown = metrics.filter((m) => !m.noWorse?.shown).map((m) => m.name);
    if (unshown.length > 0) missing.push(`not yet shown no worse than ${p.noWorseThan}×: ${unshown.join(', ')}`);
  }
  const waiting = missing.length > 0 ? `; promotion needs ${missing.join('; ')}` : '';
  return `${verdict === 'Running' ? 'watching' : 'not enough evidence either way'}: strongest signal ${worst.name} at e-value ${fmtE(worst.eValue)} of ${fmtE(1 / worst.alpha)}${waiting}`;
}

export const round = (x: number) => Math.round(x * 10) / 10;
const pct = (x: number, digits = 2) => (Number.isFinite(x) ? `${(x * 100).toFixed(digits)}%` : 'n/a');
const fmtRatio = (x: number) => (Number.isFinite(x) ? `${x < 10 ? x.toFixed(2) : x.toFixed(0)}×` : 'n/a');
const fmtE = (x: number) => (x >= 1000 ? x.toExponential(1) : x.toPrecision(3));
export function formatSeconds(s: number): string {
  return s >= 1 ? `${round(s)} s` : `${round(s * 1000)} ms`;
}

/** One part's evidence as reported: counts, rates, the ratio with its confidence sequence, the e-value. */
export function ratioEvidence(metric: SequentialMetric, part: Part, alpha: number, unit?: Unit): RatioEvidence {
  const m = part.mixture;
  const [lower, upper] = m.confidenceInterval(alpha);
  const rate = (events: number, requests: number) => (requests > 0 ? events / requests : NaN);
  const event =
    metric.kind === 'errors'
      ? 'errors'
      : metric.kind === 'slow'
        ? `slower than ${formatSeconds(metric.threshold)}`
        : unit === 'users'
          ? `slower than p${round(part.quantile! * 100)} of the first requests`
          : `slower than control's p${round(part.quantile! * 100)}`;
  return {
    event,
    canary: { requests: m.canaryExposure, events: m.canaryEvents, rate: rate(m.canaryEvents, m.canaryExposure) },
    control: { requests: m.controlExposure, events: m.controlEvents, rate: rate(m.controlEvents, m.controlExposure) },
    ratio: { estimate: m.estimate(), lower, upper },
    eValue: Math.exp(m.logE(0, true)),
    ...(part.logThreshold !== undefined ? { threshold: Math.exp(part.logThreshold) } : {}),
  };
}
