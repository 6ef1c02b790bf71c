import { readFileSync } from 'node:fs';
import { EXIT, UsageError, reportError } from './exit.js';

interface Command {
  summary: string;
  run(argv: string[]): Promise<number>;
}

/** One file per command; each is loaded only when it runs, so `kanari lint` stays fast. */
const control = (name: 'promote' | 'abort' | 'pause' | 'resume' | 'retry' | 'undo') => () =>
  import('./control.js').then((m) => m.command(name));

const COMMANDS: Record<string, () => Promise<Command>> = {
  demo: () => import('./demo.js'),
  up: () => import('./up.js'),
  down: () => import('./down.js'),
  apply: () => import('./apply.js'),
  deploy: () => import('./deploy.js'),
  status: () => import('./status.js'),
  promote: control('promote'),
  abort: control('abort'),
  pause: control('pause'),
  resume: control('resume'),
  retry: control('retry'),
  undo: control('undo'),
  'set-weight': () => import('./set-weight.js'),
  delete: () => import('./delete.js'),
  history: () => import('./history.js'),
  token: () => import('./token.js'),
  router: () => import('./router.js'),
  lint: () => import('./lint.js'),
  simulate: () => import('./simulate.js'),
  judge: () => import('./judge.js'),
  import: () => import('./import.js'),
  k8s: () => import('./k8s.js'),
  operator: () => import('./operator.js'),
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  try {
    if (name === undefined || name === 'help' || name === '--help' || name === '-h') return await help();
    if (name === 'version' || name === '--version') {
      const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
        version: string;
      };
      console.log(pkg.version);
      return EXIT.ok;
    }
    const load = COMMANDS[name];
    if (!load) throw new UsageError(`unknown command "${name}"`);
    return await (await load()).run(rest);
  } catch (err) {
    return reportError(err);
  }
}

async function help(): Promise<number> {
  const lines = ['kanari — progressive delivery for HTTP services', '', 'Commands:'];
  for (const [name, load] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(10)} ${(await load()).summary}`);
  lines.push(`  ${'version'.padEnd(10)} print the version`, '', "Run `kanari COMMAND --help` for a command's options.");
  console.log(lines.join('\n'));
  return EXIT.ok;
}
