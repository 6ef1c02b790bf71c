/** kanari set-weight: hold a canary at a weight by hand until resume, promote or abort. */
import type { RolloutView } from '../server/view.js';
import { parseCommandArgs } from './args.js';
import { CLUSTER_OPTIONS, clusterTarget } from './cluster.js';
import { connect, rolloutPath, STATE_HELP, STATE_OPTION } from './connect.js';
import { EXIT, UsageError } from './exit.js';

export const summary = 'hold a rollout with its canary at a weight you choose (kanari set-weight shop 25)';

const HELP = `Usage: kanari set-weight ROLLOUT PERCENT [--reason TEXT] [--json] [--state DIR]

Sends PERCENT of users (0 to 100, in steps of 0.01) to the canary and holds the rollout
there: its steps stop advancing, its analyses go on judging, and a Failed one still rolls
it back. Setting another weight moves the hold.

  kanari resume ROLLOUT    gives the plan its weights back and goes on from the step it was at
  kanari promote ROLLOUT   goes on with the next step of the plan
  kanari abort ROLLOUT     rolls back to stable

  --reason TEXT   why, kept in the rollout's history
  --json          print the rollout's state as JSON
${STATE_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'set-weight',
    argv,
    {
      reason: { type: 'string' },
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
  const [name, text, ...extra] = positionals;
  if (!name || text === undefined || extra.length > 0)
    throw new UsageError('set-weight: name one rollout and a percent (kanari set-weight ROLLOUT PERCENT)');
  const weight = /^\d+(\.\d+)?%?$/.test(text) ? Number(text.replace('%', '')) : NaN;
  if (!Number.isFinite(weight))
    throw new UsageError(`set-weight: PERCENT must be a number from 0 to 100 (got ${JSON.stringify(text)})`);
  if (clusterTarget('set-weight', values))
    throw new UsageError('set-weight: not yet on a cluster; hold a Rollout there with kanari pause');
  const view = await connect(values.state).post<RolloutView>(rolloutPath(name, 'weight'), {
    weight,
    ...(values.reason ? { reason: values.reason } : {}),
  });
  console.log(values.json ? JSON.stringify(view, null, 2) : `${name}: ${view.phase} — ${view.message}`);
  return EXIT.ok;
}
