/** The phases the machine groups: in flight, waiting on the world. */
import type { Phase } from '../types.js';

/** Phases in which a canary is in flight (a person can pause or abort; a failed verdict rolls back). */
export const IN_FLIGHT: ReadonlySet<Phase> = new Set([
  'CanaryDeploy',
  'SmallTraffic',
  'Monitor',
  'IncreaseTraffic',
  'FullDeploy',
  'Paused',
]);

/** Phases that wait on the world and so count against the progress deadline. */
export const WAITING: ReadonlySet<Phase> = new Set(['CanaryDeploy', 'SmallTraffic', 'IncreaseTraffic', 'FullDeploy']);

/** Traffic failures in a row before a rollback is reported as Degraded. */
export const DEGRADED_AFTER = 3;
