import type { RatioMixture, RatioMixtureState } from './ratio-mixture.js';
/** The sequential judge's settings and report: what callers and the explanation read. */

export type SequentialMetric =
  | { name: string; kind: 'errors'; weight?: number }
  | { name: string; kind: 'slow'; threshold: number; weight?: number }
  | { name: string; kind: 'latency'; quantiles: number[]; weight?: number };

/** What one observation is: a user (a stickiness key, once per kind of event) or a request. */
export type Unit = 'users' | 'requests';

export interface SequentialSettings {
  alpha: number;
  /** `auto` (the default): users where the windows carry keys, else requests; decided at the first window. */
  unit?: Unit | 'auto';
  metrics: SequentialMetric[];
  /** Sample-ratio guard: the relative deviation of the canary's request share tolerated, and the guard's own α. */
  srm: { tolerance: number; alpha: number } | false;
  promotion: { minRequests: number; minUsers?: number; noWorseThan?: number };
}

export type Verdict = 'Successful' | 'Failed' | 'Inconclusive' | 'Error' | 'Running';

export interface RatioEvidence {
  /** The event: "errors", "slower than 250 ms", "slower than control's p99". */
  event: string;
  canary: { requests: number; events: number; rate: number };
  control: { requests: number; events: number; rate: number };
  /** Canary rate / control rate: the grid's best fit and a (1 − α_m) confidence sequence. */
  ratio: { estimate: number; lower: number; upper: number };
  eValue: number;
  /** The latency threshold last used (seconds), for quantile tests. */
  threshold?: number;
}

export interface MetricEvidence {
  name: string;
  kind: SequentialMetric['kind'];
  alpha: number;
  /** The metric's e-value (the mean over its parts) and its always-valid p-value. */
  eValue: number;
  pValue: number;
  failed: boolean;
  /** Whether "no worse than `noWorseThan`" has been shown, when promotion asks for it. */
  noWorse?: { margin: number; eValue: number; shown: boolean };
  parts: RatioEvidence[];
}

export interface SequentialReport {
  verdict: Verdict;
  /** One sentence a person can act on, naming the evidence. */
  reason: string;
  /** What was counted; undefined until the first window decided it. */
  unit?: Unit;
  windows: number;
  metrics: MetricEvidence[];
  srm?: { unit: Unit; expectedShare: number; observedShare: number; eValue: number; failed: boolean };
}

/** One e-process of a metric: the whole metric, or one quantile of a latency metric. */
export interface Part {
  mixture: RatioMixture;
  quantile?: number;
  /** ln of the latency threshold, an average of control's quantile over earlier windows. */
  logThreshold?: number;
  /** Users: the requests the threshold has learned from; it is fixed once there are enough, and judging starts with the windows it learned from. */
  learned?: number;
  fixed?: boolean;
}

export interface SequentialJudgeState {
  settings: SequentialSettings;
  windows: number;
  /** Absent in runs saved before users were counted: they counted requests. */
  unit?: Unit | null;
  canaryRequests: number;
  canaryUsers?: number;
  usersSeen?: number;
  interrupted?: string;
  failure: string | null;
  expectedShare: number | null;
  srm: RatioMixtureState | null;
  metrics: {
    minP: number;
    parts: { mixture: RatioMixtureState; logThreshold: number | null; learned?: number; fixed?: boolean }[];
  }[];
}
