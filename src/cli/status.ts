import { setTimeout as sleep } from 'node:timers/promises';
import type { RolloutView } from '../server/view.js';
import { parseCommandArgs } from './args.js';
import { connect, getView, STATE_HELP, STATE_OPTION } from './connect.js';
import { EXIT, UsageError } from './exit.js';
import { renderRollout } from './render.js';

export const summary = 'where rollouts are: weight, steps, verdicts, time left (--watch for a live view)';

const HELP = `Usage: kanari status [ROLLOUT] [--watch] [--json] [--state DIR]

Shows one rollout, or every rollout: the canary's weight, the plan with the current step
marked, the analyses' verdicts and how long a pause has left.

  --watch   redraw every second until interrupted
  --json    print the state as JSON (every rollout: {"rollouts": [...]})
${STATE_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'status',
    argv,
    {
      watch: { type: 'boolean', short: 'w' },
      json: { type: 'boolean' },
      ...STATE_OPTION,
      help: { type: 'boolean', short: 'h' },
    },
    true,
  );
  if (values.help) {
    console.log(HELP);
    return EXIT.ok;
  }
  if (positionals.length > 1) throw new UsageError('status: name at most one rollout');
  if (values.watch && values.json)
    throw new UsageError('status: --watch draws for a person; for scripts poll with --json');
  const [name] = positionals;
  const client = connect(values.state);
  const read = async (): Promise<RolloutView[]> =>
    name ? [await getView(client, name)] : (await client.get<{ rollouts: RolloutView[] }>('/api/v1/rollouts')).rollouts;
  const draw = (views: RolloutView[]) =>
    views.length ? views.map((v) => renderRollout(v)).join('\n\n') : 'no rollouts yet: kanari apply -f rollout.yaml';
  if (values.json) {
    const views = await read();
    console.log(JSON.stringify(name ? views[0] : { rollouts: views }, null, 2));
    return EXIT.ok;
  }
  if (!values.watch) {
    console.log(draw(await read()));
    return EXIT.ok;
  }
  // On a terminal the view is redrawn in place; into a pipe, it is printed again only when it changes.
  let last = '';
  for (;;) {
    const text = draw(await read());
    if (process.stdout.isTTY) process.stdout.write(`\x1b[H\x1b[2J${text}\n\n(every second; Ctrl-C to stop)\n`);
    else if (text !== last) console.log(`${text}\n`);
    last = text;
    await sleep(1000);
  }
}
