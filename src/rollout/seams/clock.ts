/**
 * Time as the engine sees it: what time it is, and a way to be called back later. Tests
 * give the engine a virtual clock and run its rounds by hand; the controller gives it this
 * one.
 */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
