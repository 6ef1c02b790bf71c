/**
 * The router's cumulative statistics as every reader sees them: the router writes them, the
 * controller samples them, the builtin provider and the store keep their deltas. A contract,
 * so it lives below all of them.
 */
import type { SketchSnapshot } from './sketch.js';
import type { KeyStats, KeyTracking } from './key-stats.js';

export const VERSIONS = ['stable', 'canary', 'baseline'] as const;
export type Version = (typeof VERSIONS)[number];

export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;
export type StatusClass = (typeof STATUS_CLASSES)[number];

/** Why a request to an upstream failed; each is counted, none is a status code. */
export const UPSTREAM_ERRORS = [
  'connect',
  'connectTimeout',
  'headersTimeout',
  'idleTimeout',
  'reset',
  'protocol',
  'noEndpoint',
  'overflow',
] as const;
export type UpstreamError = (typeof UPSTREAM_ERRORS)[number];

export interface VersionStats {
  /** Responses sent to clients for requests served by this version, by status class. */
  requests: Record<StatusClass, number>;
  /** Failed attempts to reach this version's upstreams (a retried attempt counts here too). */
  upstreamErrors: Record<UpstreamError, number>;
  inFlight: number;
  /** Requests routed to this version that went to stable because none of its endpoints were available. */
  fallbacks: number;
  /** Time from receiving the request to the last byte of the response, in seconds. */
  latency: SketchSnapshot;
  /**
   * Distinct stickiness keys, each counted once per event (see key-stats.ts); requests sent
   * by a header or cookie route and mirrored copies are not counted. Absent from routers
   * that do not track keys.
   */
  keys?: KeyStats;
}

/** Cumulative counters since the router started; the controller takes deltas. */
export interface StatsSnapshot {
  service: string;
  startedAt: number;
  time: number;
  revision: number;
  workers: number;
  versions: Record<Version, VersionStats>;
  /**
   * Refused before routing: malformed or ambiguous requests (400, 501, 505), oversized heads
   * (431), and connections turned away at limits.maxConnections.
   */
  rejected: { badRequest: number; headersTooLarge: number; tooManyConnections: number };
  retries: number;
  mirror: { sent: number; skipped: number; failed: number };
  /** Whether each version has an available endpoint (across workers: in every worker). */
  available: Record<Version, boolean>;
  /** Whether the table in force is saved, and how many tables could not be (the admin endpoint adds it). */
  tableStore?: { persisted: boolean; failures: number };
  /** The key tracker behind `versions.*.keys`. */
  keyTracking?: KeyTracking;
}
