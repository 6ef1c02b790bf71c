import { dirname } from 'node:path';
import { loadKind } from '../config/kinds.js';
import { startRouter } from '../router/run.js';
import { StartupError, survivePrintFailures } from '../shared/system.js';
import { parseCommandArgs } from './args.js';
import { EXIT, UsageError } from './exit.js';

export const summary = 'run the traffic router for one service (kanari router -f router.yaml)';

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('router', argv, {
    file: { type: 'string', short: 'f' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    console.log(
      'Usage: kanari router -f router.yaml\n\nServes the Router document in the file until SIGINT/SIGTERM. See docs/router.md.',
    );
    return EXIT.ok;
  }
  if (!values.file) throw new UsageError('router: name the Router file with -f FILE');
  const doc = loadKind(values.file, 'Router');
  const log = (line: string) => console.log(`kanari router: ${line}`);
  survivePrintFailures();
  let router;
  try {
    router = await startRouter(doc, { baseDir: dirname(values.file), log });
  } catch (err) {
    if (!(err instanceof StartupError)) throw err;
    console.error(`kanari router: ${err.message}`);
    return EXIT.usage;
  }
  const a = router.address;
  log(
    `${doc.metadata.name} serving on http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port} with ${doc.spec.workers} worker(s)`,
  );
  log(
    `admin on ${router.adminUrl}; token: ${doc.spec.admin.token || doc.spec.admin.tokenFile || process.env.KANARI_ADMIN_TOKEN ? 'as configured' : `in ${dirname(router.statePath)}/admin-token`}`,
  );
  log(`routing table kept in ${router.statePath}`);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log(`${signal}: finishing in-flight requests and stopping`);
      void router.close().then(resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  return EXIT.ok;
}
