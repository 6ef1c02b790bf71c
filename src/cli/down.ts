import { setTimeout as sleep } from 'node:timers/promises';
import { parseCommandArgs } from './args.js';
import { connect, STATE_HELP, STATE_OPTION } from './connect.js';
import { EXIT } from './exit.js';

export const summary = 'stop the controller (--all: its routers and the versions it started too)';

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('down', argv, {
    all: { type: 'boolean' },
    ...STATE_OPTION,
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    console.log(
      `Usage: kanari down [--all] [--state DIR]\n\nStops \`kanari up\`. Routers and the versions kanari started keep serving users, for the next\n\`kanari up\` to adopt; with --all they are stopped too and users are cut off.\n\n${STATE_HELP}`,
    );
    return EXIT.ok;
  }
  const client = connect(values.state);
  await client.post('/api/v1/shutdown', { all: values.all === true });
  // Stopping every instance can take their stopTimeout; wait until the API has gone (it
  // closes only after the controller has saved everything).
  for (const deadline = Date.now() + 60_000; Date.now() < deadline;) {
    if (await client.gone()) {
      console.log(
        `kanari stopped${values.all ? ', with its routers and instances' : '; routers and instances keep serving'}`,
      );
      return EXIT.ok;
    }
    await sleep(200);
  }
  console.error('kanari down: the controller was asked to stop but still answers after 60 s');
  return EXIT.failed;
}
