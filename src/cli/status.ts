import { setTimeout as sleep } from 'node:timers/promises';
import type { RolloutView } from '../server/view.js';
import { parseCommandArgs } from './args.js';
import { CLUSTER_HELP, CLUSTER_OPTIONS, clusterTarget, openCluster, rolloutName } from './cluster.js';
import { drawStatus, isUnreadable, readStatus, type StatusEntry } from './cluster-status.js';
import { connect, getView, STATE_HELP, STATE_OPTION } from './connect.js';
import { EXIT, UsageError } from './exit.js';
import { renderRollout } from './render.js';

export const summary = 'where rollouts are: weight, steps, verdicts, time left (--watch for a live view)';

const HELP = `Usage: kanari status [ROLLOUT] [--watch] [--json] [--state DIR | -n NS ...]

Shows one rollout, or every rollout: the canary's weight, the plan with the current step
marked, the analyses' verdicts and how long a pause has left. On a cluster, also the
Rollout's conditions and the answer to its last command.

  --watch   redraw every second until interrupted
  --json    print the state as JSON (every rollout: {"rollouts": [...]})
${STATE_HELP}

${CLUSTER_HELP}`;

/** How one round of the command reads and draws, against a controller or a cluster. */
interface Source<V> {
  read(): Promise<V[]>;
  draw(views: V[]): string;
  /** Whether what was read holds a problem (a Rollout whose status cannot be read): exit 1. */
  failed(views: V[]): boolean;
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'status',
    argv,
    {
      watch: { type: 'boolean', short: 'w' },
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
  if (positionals.length > 1) throw new UsageError('status: name at most one rollout');
  if (values.watch && values.json)
    throw new UsageError('status: --watch draws for a person; for scripts poll with --json');
  const [name] = positionals;
  const target = clusterTarget('status', values);
  if (target && name !== undefined) rolloutName('status', name);
  const cluster = target && openCluster(target);
  if (!cluster) return show(standalone(values.state, name), name !== undefined, values);
  try {
    const source: Source<StatusEntry> = {
      read: () => readStatus(cluster, name),
      draw: (views) => drawStatus(views, cluster.namespace),
      failed: (views) => views.some(isUnreadable),
    };
    return await show(source, name !== undefined, values);
  } finally {
    cluster?.client.close();
  }
}

function standalone(state: string | undefined, name: string | undefined): Source<RolloutView> {
  const client = connect(state);
  return {
    read: async () =>
      name
        ? [await getView(client, name)]
        : (await client.get<{ rollouts: RolloutView[] }>('/api/v1/rollouts')).rollouts,
    draw: (views) =>
      views.length ? views.map((v) => renderRollout(v)).join('\n\n') : 'no rollouts yet: kanari apply -f rollout.yaml',
    failed: () => false,
  };
}

async function show<V>(source: Source<V>, one: boolean, flags: { json?: boolean; watch?: boolean }): Promise<number> {
  if (flags.json) {
    const views = await source.read();
    console.log(JSON.stringify(one ? views[0] : { rollouts: views }, null, 2));
    return source.failed(views) ? EXIT.failed : EXIT.ok;
  }
  if (!flags.watch) {
    const views = await source.read();
    console.log(source.draw(views));
    return source.failed(views) ? EXIT.failed : EXIT.ok;
  }
  // On a terminal the view is redrawn in place; into a pipe, it is printed again only when it changes.
  let last = '';
  for (;;) {
    const text = source.draw(await source.read());
    if (process.stdout.isTTY) process.stdout.write(`\x1b[H\x1b[2J${text}\n\n(every second; Ctrl-C to stop)\n`);
    else if (text !== last) console.log(`${text}\n`);
    last = text;
    await sleep(1000);
  }
}
