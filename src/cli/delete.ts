/** kanari delete: a rollout that has ended, gone from the controller (--force: aborted first). */
import { parseCommandArgs } from './args.js';
import { CLUSTER_OPTIONS, clusterTarget } from './cluster.js';
import { connect, rolloutPath, STATE_HELP, STATE_OPTION } from './connect.js';
import { EXIT, UsageError } from './exit.js';

export const summary = 'delete a rollout: its instances stop and its listener closes (--force: abort it first)';

const HELP = `Usage: kanari delete ROLLOUT [--force] [--json] [--state DIR]

Deletes a rollout that is not in flight: its instances (stable too) stop, its listener
leaves the router, and the controller forgets it; its events stay in the controller's
event log (the event stream still serves them; kanari history no longer finds it).
A rollout in flight is refused: abort it first, or

  --force       abort it, wait until users are back on stable and the canary has
                stopped (up to 60 s), then delete it
  --json        print the controller's answer as JSON
${STATE_HELP}

On Kubernetes, delete the Rollout resource (kubectl delete rollout NAME): the operator
gives the workload and the routing back first.`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'delete',
    argv,
    {
      force: { type: 'boolean' },
      json: { type: 'boolean' },
      ...STATE_OPTION,
      ...CLUSTER_OPTIONS,
      help: { type: 'boolean', short: 'h' },
    },
    true,
  );
  if (values.help) {
    console.log(HELP);
    return EXIT.ok;
  }
  const [name, ...extra] = positionals;
  if (!name || extra.length > 0) throw new UsageError('delete: name one rollout (kanari delete ROLLOUT [--force])');
  if (clusterTarget('delete', values))
    throw new UsageError(
      'delete: on a cluster, delete the Rollout resource (kubectl delete rollout NAME): the operator gives the workload and routing back first',
    );
  const answer = await connect(values.state).delete<{ name: string; deleted: true }>(
    `${rolloutPath(name)}${values.force ? '?force=true' : ''}`,
  );
  console.log(values.json ? JSON.stringify(answer, null, 2) : `${name}: deleted`);
  return EXIT.ok;
}
