// Installs Debian packages that integration tests and benchmarks need, when missing.
// Usage: node scripts/ensure-debian.mjs COMMAND=PACKAGE ...   (e.g. nginx=nginx-light wrk=wrk)
import { spawnSync } from 'node:child_process';

export function ensureDebian(pairs) {
  const missing = pairs
    .filter(([command]) => spawnSync('sh', ['-c', `command -v ${command}`]).status !== 0)
    .map(([, pkg]) => pkg);
  if (missing.length === 0) return;
  console.error(`installing Debian packages: ${missing.join(' ')}`);
  const run = (args) =>
    spawnSync('apt-get', args, {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  if (run(['update', '-qq']).status !== 0 || run(['install', '-y', '-qq', ...missing]).status !== 0) {
    throw new Error(`could not install ${missing.join(' ')} with apt-get (are you root?)`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  ensureDebian(process.argv.slice(2).map((arg) => arg.split('=')));
}
