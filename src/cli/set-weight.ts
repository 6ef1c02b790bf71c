/** kanari set-weight: hold a canary at a weight by hand until resume, promote or abort. */
import { parseCommandArgs } from './args.js';
import { CLUSTER_HELP, CLUSTER_OPTIONS } from './cluster.js';
import { sendControl } from './control.js';
import { STATE_HELP, STATE_OPTION } from './connect.js';
import { EXIT, UsageError } from './exit.js';

export const summary = 'hold a rollout with its canary at a weight you choose (kanari set-weight shop 25)';

const HELP = `Usage: kanari set-weight ROLLOUT PERCENT [--reason TEXT] [--json] [--state DIR | -n NS ... [--timeout D]]

Sends PERCENT of users (0 to 100, in steps of 0.01) to the canary and holds the rollout
there: its steps stop advancing, its analyses go on judging, and a Failed one still rolls
it back. Setting another weight moves the hold.

  kanari resume ROLLOUT    gives the plan its weights back and goes on from the step it was at
  kanari promote ROLLOUT   goes on with the next step of the plan
  kanari abort ROLLOUT     rolls back to stable

  --reason TEXT   why, kept in the rollout's history
  --json          print the rollout's state as JSON
${STATE_HELP}

On Kubernetes the request goes through the Rollout's kanari.dev/command annotation; the
replicas router holds only weights that are a whole number of the Rollout's pods.

${CLUSTER_HELP}
  --timeout D           how long to wait for the operator's answer (default 30s)`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'set-weight',
    argv,
    {
      reason: { type: 'string' },
      json: { type: 'boolean' },
      ...STATE_OPTION,
      ...CLUSTER_OPTIONS,
      timeout: { type: 'string' },
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
  const reason = values.reason ? { reason: values.reason } : {};
  return sendControl(name, { command: 'set-weight', weight, ...reason }, 'weight', values);
}
