import { resolve } from 'node:path';
import { makeBundle } from '../server/bundle.js';
import type { ApplyResult } from '../server/controller.js';
import { parseCommandArgs } from './args.js';
import { connect, STATE_HELP, STATE_OPTION } from './connect.js';
import { EXIT, UsageError } from './exit.js';

export const summary = 'hand a Rollout file (with its AnalysisTemplates) to the controller';

const HELP = `Usage: kanari apply -f FILE [--state DIR]

Checks FILE the way \`kanari lint\` does, then gives its Rollouts and AnalysisTemplates to the
running controller. A new rollout starts serving its stable version; a changed one takes the
new file between rollouts (a rollout in progress must end first). Process targets run in
FILE's directory unless they set cwd.

FILE is sent with the files its documents reference (a Kayenta canary config), so the
controller may run on another host: set KANARI_URL (https://host:port), KANARI_TOKEN and,
for a certificate no system CA signed, KANARI_CA (its PEM file). A process target there
runs on that host: give it a cwd that exists there.

${STATE_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('apply', argv, {
    file: { type: 'string', short: 'f' },
    ...STATE_OPTION,
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    console.log(HELP);
    return EXIT.ok;
  }
  if (!values.file) throw new UsageError('apply: name the Rollout file with -f FILE');
  const file = resolve(values.file);
  // Located errors come from here, before the controller is asked anything.
  const { text, bundle } = makeBundle(values.file);
  const client = connect(values.state);
  const { applied } = await client.post<{ applied: ApplyResult[] }>('/api/v1/apply', { file, text, bundle });
  for (const a of applied) console.log(`rollout ${a.name} ${a.change}`);
  return EXIT.ok;
}
