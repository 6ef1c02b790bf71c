import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { ConfigError } from '../config/errors.js';
import { loadDocuments } from '../config/kinds.js';
import type { RouterDocument, SharedRouterDocument } from '../config/schemas/router.js';
import { startRouter, startSharedRouter } from '../router/run.js';
import { StartupError, survivePrintFailures } from '../shared/system.js';
import { parseCommandArgs } from './args.js';
import { EXIT, UsageError } from './exit.js';

export const summary = 'run the traffic router for one service, or several (kanari router -f router.yaml)';

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('router', argv, {
    file: { type: 'string', short: 'f' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    console.log(
      'Usage: kanari router -f router.yaml\n\nServes the Router (one service) or SharedRouter (several) document in the file until SIGINT/SIGTERM. See docs/router.md.',
    );
    return EXIT.ok;
  }
  if (!values.file) throw new UsageError('router: name the Router file with -f FILE');
  const doc = loadRouterFile(values.file);
  const log = (line: string) => console.log(`kanari router: ${line}`);
  survivePrintFailures();
  let router;
  try {
    router =
      doc.kind === 'Router'
        ? started(doc, await startRouter(doc, { baseDir: dirname(values.file), log }), log)
        : await startSharedRouter(doc, { baseDir: dirname(values.file), log });
  } catch (err) {
    if (!(err instanceof StartupError)) throw err;
    console.error(`kanari router: ${err.message}`);
    return EXIT.usage;
  }
  const { admin } = doc.spec;
  if (!('statePath' in router))
    log(`${router.services().length} service(s); their tables kept in ${router.stateDir}/services`);
  log(
    `admin on ${router.adminUrl}; token: ${admin.token || admin.tokenFile || process.env.KANARI_ADMIN_TOKEN ? 'as configured' : `in ${'statePath' in router ? dirname(router.statePath) : router.stateDir}/admin-token`}`,
  );
  if ('statePath' in router) log(`routing table kept in ${router.statePath}`);
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

/** The one Router or SharedRouter document in `file`. */
function loadRouterFile(file: string): RouterDocument | SharedRouterDocument {
  const docs = loadDocuments(file);
  const first = docs[0];
  if (docs.length !== 1 || !first || (first.kind !== 'Router' && first.kind !== 'SharedRouter')) {
    const got = docs.map((d) => d.kind).join(', ') || 'nothing';
    throw new ConfigError([
      { file, line: 1, col: 1, path: '', message: `must hold one Router or SharedRouter document (got ${got})` },
    ]);
  }
  return first.value as RouterDocument | SharedRouterDocument;
}

function started<T extends { address: AddressInfo }>(doc: RouterDocument, router: T, log: (line: string) => void): T {
  const a = router.address;
  log(
    `${doc.metadata.name} serving on http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port} with ${doc.spec.workers} worker(s)`,
  );
  return router;
}
