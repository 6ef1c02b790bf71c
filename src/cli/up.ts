import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { isIP, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createApiServer, urlOf } from '../server/api.js';
import {
  controllerFile,
  healthPid,
  readControllerFile,
  stateDir,
  tokenFile,
  type ControllerFile,
} from '../server/client.js';
import { Controller } from '../server/controller.js';
import type { OidcSignIn } from '../server/oidc.js';
import { dashboardLine, SignInCodes } from '../server/sessions.js';
import { localToken as keepLocalToken } from '../server/tokens.js';
import { describeSystemError, listenOrExplain, StartupError, survivePrintFailures } from '../shared/system.js';
import { checkWritable, privateDir, tightenTree, writePrivateFile } from '../shared/files.js';
import { parseCommandArgs } from './args.js';
import { bindingOf, type Binding } from './binding.js';
import { EXIT } from './exit.js';
import { singleSignOn } from './oidc-file.js';

export const summary = 'run the controller: the API, every applied rollout and its router (kanari up)';

const HELP = `Usage: kanari up [--state DIR] [--listen HOST:PORT] [--tls-cert FILE --tls-key FILE] [--insecure] [--oidc FILE]
                 [--secure-cookies]

Runs the controller in the foreground until SIGINT/SIGTERM (or \`kanari down\`). It resumes every
rollout kept in the state directory, starts or adopts each rollout's router, and serves the API
the other commands use. Routers and the versions kanari started keep running when it stops, so
users are never cut off; the next \`kanari up\` adopts them.

  --state DIR         where state is kept (default $KANARI_STATE or ./.kanari)
  --listen HOST:PORT  the API's address (default 127.0.0.1:7070; port 0 picks one); a host that
                      is not loopback needs TLS, or --insecure
  --tls-cert FILE     serve the API over HTTPS with this certificate (PEM) ...
  --tls-key FILE      ... and its private key (PEM); clients trust it with KANARI_CA
  --insecure          allow plain HTTP on an address that is not loopback: the token and every
                      answer cross the network readable by anyone on the path
  --oidc FILE         single sign-on for the dashboard: the provider, client and role mapping
                      (YAML; docs/sign-in.md). The client secret comes from the file the
                      settings name, or $KANARI_OIDC_CLIENT_SECRET, never from the command line
  --secure-cookies    browsers reach the API over HTTPS through a proxy that terminates TLS:
                      its cookies are Secure and __Host- as with --tls-cert (X-Forwarded-Proto
                      is never trusted for it)

It prints the dashboard's address and a sign-in link, good once within 60 s.`;

/** Where the API listens and how: over TLS, or plain (on loopback, or because the person said so). */

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('up', argv, {
    state: { type: 'string' },
    listen: { type: 'string', default: '127.0.0.1:7070' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    insecure: { type: 'boolean' },
    oidc: { type: 'string' },
    'secure-cookies': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    console.log(HELP);
    return EXIT.ok;
  }
  const binding = bindingOf(
    'up',
    '--listen',
    values.listen,
    values['tls-cert'],
    values['tls-key'],
    values.insecure === true,
  );
  const oidc = values.oidc === undefined ? undefined : singleSignOn(values.oidc);
  const dir = stateDir(values.state);
  survivePrintFailures();
  try {
    return await serve(dir, binding, values['secure-cookies'] === true, oidc);
  } catch (err) {
    if (!(err instanceof StartupError)) throw err;
    console.error(`kanari up: ${err.message}`);
    return EXIT.usage;
  }
}

async function serve(dir: string, listen: Binding, secureCookies: boolean, oidc?: OidcSignIn): Promise<number> {
  prepareStateDir(dir);
  const running = await runningController(dir);
  if (running) {
    console.error(
      `kanari up: a controller already runs for ${dir} (pid ${running.pid}, ${running.url}); \`kanari down\` stops it`,
    );
    return EXIT.failed;
  }
  const log = (line: string) => console.log(`${new Date().toISOString().slice(11, 19)} ${line}`);
  const controller = attempt(() => new Controller(dir, log), `cannot open the store ${join(dir, 'kanari.db')}`);
  let token: string;
  try {
    token = attempt(
      () => localToken(controller, tokenFile(dir), log),
      `cannot keep the API token in ${tokenFile(dir)}`,
    );
  } catch (err) {
    await controller.close();
    throw err;
  }
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
  let server: ReturnType<typeof createApiServer>;
  const codes = new SignInCodes();
  try {
    server = createApiServer(controller, token, (all, actor) => stop(all, `kanari down (by ${actor})`), {
      ...(listen.tls ? { tls: listen.tls } : {}),
      ...(oidc ? { oidc } : {}),
      secureCookies,
      codes,
    });
  } catch (err) {
    await controller.close();
    throw new StartupError(`cannot serve HTTPS with --tls-cert and --tls-key: ${(err as Error).message}`);
  }
  try {
    await listenOrExplain(server, listen.port, listen.host, '--listen');
    const url = urlOf(server.address() as AddressInfo, listen.tls !== undefined);
    const servername = listen.tls && certificateName(listen.tls.cert);
    const file: ControllerFile = {
      url,
      ...(servername ? { servername } : {}),
      pid: process.pid,
      startedAt: Date.now(),
    };
    attempt(
      () => writePrivateFile(controllerFile(dir), JSON.stringify(file) + '\n'),
      `cannot write ${controllerFile(dir)}`,
    );
    log(`kanari controller on ${url} (state in ${dir}; token in ${tokenFile(dir)})`);
    // The one secret printed: good once, for a minute, and only for the person at this terminal.
    log(dashboardLine(url, codes));
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
 * The admin token in `file` (0600): the one there when it still works (a file from before
 * tokens had roles becomes the first admin token), else a new one written there.
 */
function localToken(controller: Controller, file: string, log: (line: string) => void): string {
  const current = existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined;
  const token = keepLocalToken(controller.store.tokens, current);
  if (token !== current) {
    writePrivateFile(file, token + '\n');
    if (current !== undefined) log(`the token in ${file} was revoked, expired or not an admin's: it holds a new one`);
  }
  return token;
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

/**
 * The host name the certificate is for (its first DNS name, else its CN): the CLI checks the
 * certificate against it, since the loopback address it connects to is rarely in it.
 */
function certificateName(pem: Buffer): string | undefined {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch {
    return undefined; // the TLS server already accepted it; a name is only a convenience
  }
  const dns = /(?:^|, )DNS:([^,\s]+)/.exec(cert.subjectAltName ?? '')?.[1];
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1];
  // A wildcard name stands for any one label; SNI carries no IP address.
  const name = (dns ?? cn)?.replace(/^\*\./, 'kanari.');
  return name && !isIP(name) ? name : undefined;
}

/** The controller the state directory names, if it is alive and answers. */
async function runningController(dir: string): Promise<ControllerFile | undefined> {
  const file = readControllerFile(dir);
  if (!file) return undefined;
  try {
    process.kill(file.pid, 0);
    return (await healthPid(file.url)) === file.pid ? file : undefined;
  } catch {
    return undefined;
  }
}
