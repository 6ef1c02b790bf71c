import { setTimeout as sleep } from 'node:timers/promises';
import type { RolloutView } from '../server/view.js';
import { parseCommandArgs } from './args.js';
import { connect, getView, rolloutPath, STATE_HELP, STATE_OPTION } from './connect.js';
import { EXIT, UsageError } from './exit.js';

export const summary = 'start a rollout of a new version (kanari deploy checkout --version v2)';

const HELP = `Usage: kanari deploy ROLLOUT --version V [--set KEY=VALUE]... [--wait] [--json] [--state DIR]

Starts rolling version V out through the rollout's plan. The canary runs as the file's
spec.canary says, with each --set laid over it (values are YAML, so numbers stay numbers):

  kanari deploy checkout --version v2 --set canary.process.command="node server.js --v2"
  kanari deploy api --version v2 --set 'canary.upstreams=[http://10.0.0.7:8080]'   (a canary given as upstreams)

  --wait        follow the rollout to its end; exit 0 if promoted, 1 if rolled back or aborted
  --json        print the rollout's state as JSON
${STATE_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'deploy',
    argv,
    {
      version: { type: 'string' },
      set: { type: 'string', multiple: true },
      wait: { type: 'boolean' },
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
  const [name, ...extra] = positionals;
  if (!name || extra.length > 0) throw new UsageError('deploy: name one rollout (kanari deploy ROLLOUT --version V)');
  if (!values.version) throw new UsageError('deploy: say which version with --version V');
  const set: Record<string, string> = {};
  for (const pair of values.set ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`deploy: --set takes KEY=VALUE (got ${JSON.stringify(pair)})`);
    set[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const client = connect(values.state);
  let view = await client.post<RolloutView>(rolloutPath(name, 'deploy'), { version: values.version, set });
  if (!values.json) console.log(`${name}: rolling out ${values.version} (revision ${view.revision}) — ${view.message}`);
  if (!values.wait) {
    if (values.json) console.log(JSON.stringify(view, null, 2));
    return EXIT.ok;
  }
  const revision = view.revision;
  let said = view.message;
  while (!(view.revision === revision && view.result)) {
    await sleep(1000);
    view = await getView(client, name);
    if (view.revision !== revision) break;
    if (!values.json && view.message !== said) console.log(`${name}: ${view.message}`);
    said = view.message;
  }
  if (values.json) console.log(JSON.stringify(view, null, 2));
  return view.revision === revision && view.result?.outcome === 'Promoted' ? EXIT.ok : EXIT.failed;
}
