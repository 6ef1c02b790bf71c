/**
 * One version's keys in one second of synthetic traffic, as the judge reads them. First
 * seen and first failing keys are counted when the second is generated; first-slow keys
 * for a threshold are drawn the first time the judge asks for it, for every second since
 * the key tracker started (as the router's counts answer any threshold of any second), so
 * the simulator never tracks a threshold nobody reads.
 */
import type { KeyWindow, LatencyWindow } from '../analysis/judges/sequential/window.js';

export class SecondKeys implements KeyWindow {
  constructor(
    readonly seen: number,
    readonly failed: number,
    /** First-slow keys per tracked threshold (filled in as thresholds are tracked). */
    private readonly slow: Map<number, number>,
    /** Asks the generator to track a threshold it does not yet; it fills `slow` for it. */
    private readonly track: (threshold: number, window: SecondKeys) => void,
    /** Requests that are each their own key (no population): their slow requests are slow keys. */
    private readonly ownKeys?: LatencyWindow,
  ) {}

  slowAbove(thresholds: readonly number[]): number[] {
    const own = this.ownKeys?.countAbove(thresholds);
    return thresholds.map((t, i) => {
      if (!this.slow.has(t)) this.track(t, this);
      return (own?.[i] ?? 0) + (this.slow.get(t) ?? 0);
    });
  }

  /** None slow above `threshold` unless counted: no tracked key was, or the tracker has started again since this second. */
  settle(threshold: number): void {
    if (!this.slow.has(threshold)) this.slow.set(threshold, 0);
  }
}
