/**
 * What a report's table shows of each metric, read from its judge's own details: the
 * effect (canary against control), its interval and the evidence. Pure, so the tests
 * run it in Node (test/web/report-figures.test.ts).
 */
export interface Figures {
  effect?: string;
  interval?: string;
  evidence?: string;
}

const num = (x: unknown): number | undefined => (typeof x === 'number' && Number.isFinite(x) ? x : undefined);
const fmt = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(0) : String(Number(x.toPrecision(3))));

/** What the report's table shows of a metric's details; blank where its judge has no such figure. */
export function figures(details: unknown): Figures {
  if (typeof details !== 'object' || details === null) return {};
  const d = details as Record<string, unknown>;
  const out: Figures = {};
  // Sequential: the first part's ratio of event rates (canary / control), and E against 1/α.
  const part = Array.isArray(d.parts) ? (d.parts[0] as Record<string, unknown> | undefined) : undefined;
  const ratio = part?.ratio as Record<string, unknown> | undefined;
  const estimate = num(ratio?.estimate);
  const [lower, upper] = [num(ratio?.lower), num(ratio?.upper)];
  if (estimate !== undefined) out.effect = `×${fmt(estimate)} (${String(part?.event)})`;
  if (lower !== undefined && upper !== undefined) out.interval = `[${fmt(lower)}, ${fmt(upper)}]`;
  const e = num(d.eValue);
  const alpha = num(d.alpha);
  if (e !== undefined && alpha !== undefined) out.evidence = `E = ${fmt(e)} of ${fmt(1 / alpha)}`;
  // Kayenta: the shift's confidence interval and effect size (mean ratio).
  const interval = d.interval as Record<string, unknown> | undefined;
  const [kl, ku] = [num(interval?.lower), num(interval?.upper)];
  if (kl !== undefined && ku !== undefined) out.interval = `[${fmt(kl)}, ${fmt(ku)}]`;
  const effect = num(d.effectSize) ?? num(d.deviation);
  if (estimate === undefined && effect !== undefined) out.effect = `×${fmt(effect)}`;
  return out;
}
