/**
 * The dashboard's own types of the API's answers (web/types.ts; the browser imports
 * nothing of src/) must be what the server answers with: each line fails to compile
 * (`npm run typecheck`; there is nothing to run) when an answer loses or changes a member the dashboard reads.
 */
import type { z } from 'zod';
import type * as answers from '../../src/server/api-schemas.js';
import type { Phase } from '../../src/rollout/types.js';
import type { EventRow, Phase as DashboardPhase, Report, Rollout, Series, Who } from '../../web/types.js';

type Fits<Server extends Dashboard, Dashboard> = Server;
export type Checked = [
  Fits<z.output<typeof answers.rolloutView>, Rollout>,
  // The operator's API answers with its namespace and conditions besides.
  Fits<z.output<typeof answers.clusterRolloutView>, Rollout>,
  Fits<z.output<typeof answers.eventRow>, EventRow>,
  Fits<z.output<typeof answers.analysisReport>, Report>,
  Fits<z.output<typeof answers.series>, Series>,
  Fits<z.output<typeof answers.principal>['role'], Who['role']>,
  // Both ways: a phase the dashboard does not list would be missing from its filter.
  Fits<Phase, DashboardPhase>,
  Fits<DashboardPhase, Phase>,
];
