import type { EventRow } from '../store/sqlite.js';
import { describeEvent } from '../rollout/event-text.js';
import { parseCommandArgs } from './args.js';
import { CLUSTER_HELP, CLUSTER_OPTIONS, clusterTarget, openCluster, rolloutName } from './cluster.js';
import { clusterHistory, drawHistory } from './cluster-history.js';
import { connect, rolloutPath, STATE_HELP, STATE_OPTION } from './connect.js';
import { EXIT, UsageError } from './exit.js';

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
      `Usage: kanari history ROLLOUT [--limit N] [--json] [--state DIR]\n\nPrints the rollout's event log, oldest first (the last N events; default 200). On a cluster, the\nEvents the operator wrote on the Rollout (Kubernetes keeps them an hour by default).\n\n${STATE_HELP}\n\n${CLUSTER_HELP}`,
    );
    return EXIT.ok;
  }
  const [name, ...extra] = positionals;
  if (!name || extra.length > 0) throw new UsageError('history: name one rollout (kanari history ROLLOUT)');
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1)
    throw new UsageError(`history: --limit must be a positive integer (got ${JSON.stringify(values.limit)})`);
  const target = clusterTarget('history', values);
  if (target) {
    const lines = await clusterHistory(openCluster(target), rolloutName('history', name), limit);
    if (values.json) console.log(JSON.stringify(lines, null, 2));
    else if (lines.length > 0) console.log(drawHistory(lines));
    else console.log(`no Events on Rollout ${name} (Kubernetes keeps them for an hour by default)`);
    return EXIT.ok;
  }
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
