import { rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parseHostPort } from '../config/schemas/common.js';
import { createApiServer } from '../server/api.js';
import { tokenFromFile } from '../shared/http.js';
import { controllerFile, readControllerFile, stateDir, tokenFile, type ControllerFile } from '../server/client.js';
import { Controller } from '../server/controller.js';
import { describeSystemError, listenOrExplain, StartupError, survivePrintFailures } from '../shared/system.js';
import { checkWritable, privateDir, tightenTree, writePrivateFile } from '../shared/files.js';
import { parseCommandArgs } from './args.js';
import { EXIT, UsageError } from './exit.js';

export const summary = 'run the controller: the API, every applied rollout and its router (kanari up)';

const HELP = `Usage: kanari up [--state DIR] [--listen HOST:PORT]

Runs the controller in the foreground until SIGINT/SIGTERM (or \`kanari down\`). It resumes every
rollout kept in the state directory, starts or adopts each rollout's router, and serves the API
the other commands use. Routers and the versions kanari started keep running when it stops, so
users are never cut off; the next \`kanari up\` adopts them.

  --state DIR         where state is kept (default $KANARI_STATE or ./.kanari)
  --listen HOST:PORT  the API's address, loopback only (default 127.0.0.1:7070; port 0 picks one)`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('up', argv, {
    state: { type: 'string' },
    listen: { type: 'string', default: '127.0.0.1:7070' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    console.log(HELP);
    return EXIT.ok;
  }
  const listen = parseHostPort(values.listen);
  if (!listen || !/^(127\.\d+\.\d+\.\d+|::1|localhost)$/.test(listen.host))
    throw new UsageError(
      `up: --listen must be a loopback host:port such as 127.0.0.1:7070 (got ${JSON.stringify(values.listen)})`,
    );
  const dir = stateDir(values.state);
  survivePrintFailures();
  try {
    return await serve(dir, listen);
  } catch (err) {
    if (!(err instanceof StartupError)) throw err;
    console.error(`kanari up: ${err.message}`);
    return EXIT.usage;
  }
}

async function serve(dir: string, listen: { host: string; port: number }): Promise<number> {
  prepareStateDir(dir);
  const running = await runningController(dir);
  if (running) {
    console.error(
      `kanari up: a controller already runs for ${dir} (pid ${running.pid}, ${running.url}); \`kanari down\` stops it`,
    );
    return EXIT.failed;
  }
  const token = attempt(() => tokenFromFile(tokenFile(dir)), `cannot keep the API token in ${tokenFile(dir)}`);

  const log = (line: string) => console.log(`${new Date().toISOString().slice(11, 19)} ${line}`);
  const controller = attempt(() => new Controller(dir, log), `cannot open the store ${join(dir, 'kanari.db')}`);
  let stopping: Promise<void> | undefined;
  let stopped!: () => void;
  const done = new Promise<void>((resolve) => (stopped = resolve));
  const stop = (all: boolean, why: string) => {
    stopping ??= (async () => {
      log(
        `${why}: stopping the controller${all ? ', every router and every instance' : '; routers and instances keep running'}`,
      );
      // The API answers until the end, so `kanari down` can wait for it to go away.
      await controller.close({ everything: all });
      server.close();
      server.closeAllConnections();
      try {
        rmSync(controllerFile(dir), { force: true });
      } catch (err) {
        log(`could not remove ${controllerFile(dir)}: ${describeSystemError(err)}`);
      }
      stopped();
    })();
  };
  const server = createApiServer(controller, token, (all) => stop(all, 'kanari down'));
  try {
    await listenOrExplain(server, listen.port, listen.host, '--listen');
    const a = server.address() as AddressInfo;
    const url = `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
    const file: ControllerFile = { url, pid: process.pid, startedAt: Date.now() };
    attempt(
      () => writePrivateFile(controllerFile(dir), JSON.stringify(file) + '\n'),
      `cannot write ${controllerFile(dir)}`,
    );
    log(`kanari controller on ${url} (state in ${dir}; token in ${tokenFile(dir)})`);
    controller.start();
  } catch (err) {
    // Nothing may keep the process (or its port) alive after a failed start.
    server.close();
    server.closeAllConnections();
    await controller.close();
    throw err;
  }
  if (controller.names().length === 0) log('no rollouts yet: kanari apply -f rollout.yaml');

  process.once('SIGINT', () => stop(false, 'SIGINT'));
  process.once('SIGTERM', () => stop(false, 'SIGTERM'));
  await done;
  log('stopped');
  return EXIT.ok;
}

/**
 * The state directory exists, can be written, and holds nothing others can read: what an
 * older kanari left with looser modes is tightened (and what cannot be is said).
 */
function prepareStateDir(dir: string): void {
  attempt(() => {
    privateDir(dir);
    checkWritable(dir);
  }, `cannot write the state directory ${dir}`);
  for (const failure of tightenTree(dir))
    console.error(`kanari up: cannot make ${failure.replace(/: /, ' private: ')}; it may be readable by others`);
}

/** Runs `work`; a failure of the system (not a bug) becomes a StartupError saying `what` failed and why. */
function attempt<T>(work: () => T, what: string): T {
  try {
    return work();
  } catch (err) {
    if (err instanceof StartupError || typeof (err as { code?: unknown }).code !== 'string') throw err;
    throw new StartupError(`${what}: ${describeSystemError(err)}`);
  }
}

/** The controller the state directory names, if it is alive and answers. */
async function runningController(dir: string): Promise<ControllerFile | undefined> {
  const file = readControllerFile(dir);
  if (!file) return undefined;
  try {
    process.kill(file.pid, 0);
    const res = await fetch(`${file.url}/healthz`, { signal: AbortSignal.timeout(2000) });
    const body = (await res.json()) as { pid?: number };
    return body.pid === file.pid ? file : undefined;
  } catch {
    return undefined;
  }
}
