import type { EventRow } from '../store/sqlite.js';
import { parseCommandArgs } from './args.js';
import { CLUSTER_OPTIONS, clusterTarget } from './cluster.js';
import { connect, rolloutPath, STATE_HELP, STATE_OPTION } from './connect.js';
import { CommandError, EXIT, UsageError } from './exit.js';

export const summary = 'what happened to a rollout: deploys, steps, verdicts, commands, outcomes';

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'history',
    argv,
    {
      limit: { type: 'string', default: '200' },
      json: { type: 'boolean' },
      ...STATE_OPTION,
      ...CLUSTER_OPTIONS,
      help: { type: 'boolean', short: 'h' },
    },
    true,
  );
  if (values.help) {
    console.log(
      `Usage: kanari history ROLLOUT [--limit N] [--json] [--state DIR]\n\nPrints the rollout's event log, oldest first (the last N events; default 200).\n\n${STATE_HELP}`,
    );
    return EXIT.ok;
  }
  const [name, ...extra] = positionals;
  if (!name || extra.length > 0) throw new UsageError('history: name one rollout (kanari history ROLLOUT)');
  if (clusterTarget('history', values))
    throw new CommandError(
      `history: on a cluster the operator keeps no event log yet; \`kubectl describe rollouts.kanari.dev ${name}\` shows its conditions, and the operator's log every transition`,
    );
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1)
    throw new UsageError(`history: --limit must be a positive integer (got ${JSON.stringify(values.limit)})`);
  const { events } = await connect(values.state).get<{ events: EventRow[] }>(
    `${rolloutPath(name, 'history')}?limit=${limit}`,
  );
  if (values.json) {
    console.log(JSON.stringify(events, null, 2));
    return EXIT.ok;
  }
  for (const e of events)
    console.log(`${new Date(e.at).toISOString().replace('T', ' ').slice(0, 19)}  r${e.revision}  ${describeEvent(e)}`);
  return EXIT.ok;
}

/** One event log row in a line. */
export function describeEvent(e: EventRow): string {
  const d = e.data;
  switch (e.type) {
    case 'deploy':
      return `deploy ${(d.release as { version: string }).version}`;
    case 'status':
      return `${String(d.phase).padEnd(15)} step ${Number(d.step) + 1}  canary ${(d.weights as { canary: number }).canary}%  ${String(d.message)}`;
    case 'result':
      return `${String(d.outcome)} ${String(d.version)} after ${Math.round(Number(d.seconds))} s: ${String(d.reason)}`;
    case 'instanceFailed':
      return `${String(d.id)} failed: ${String(d.reason)}`;
    case 'notificationFailed':
      return `notification to ${String(d.url)} failed: ${String(d.reason)}`;
    case 'promote':
      return d.full ? 'promote --full' : 'promote';
    case 'abort':
      return d.reason ? `abort: ${String(d.reason)}` : 'abort';
    case 'analysisVerdict':
      return `analysis ${String(d.id)} ${String(d.verdict)}: ${String(d.reason)}`;
    case 'analysisStopped':
      return `analysis ${String(d.id)} Stopped: ${String(d.reason)}`;
    default:
      return e.type;
  }
}
