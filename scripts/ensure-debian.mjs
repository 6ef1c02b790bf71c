// Installs Debian packages that integration tests and benchmarks need, when missing.
// Usage: node scripts/ensure-debian.mjs COMMAND=PACKAGE ...   (e.g. nginx=nginx-light wrk=wrk)
//
// Installs take turns on a lock file (flock), and each checks again under the lock what is
// still missing: the test runner starts one install of everything in the background while
// the first tests run (downloads are I/O, tests are CPU), and a test that needs a package
// meanwhile waits for that install instead of failing on apt's own lock.
import { spawnSync } from 'node:child_process';

const LOCK = '/tmp/kanari-apt.lock';
const NAME = /^[a-z0-9][a-z0-9.+-]*$/;

const present = (command) => spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;

export function ensureDebian(pairs) {
  for (const [command, pkg] of pairs) {
    if (!NAME.test(command) || !NAME.test(pkg)) throw new Error(`not a command and package name: ${command}=${pkg}`);
  }
  if (pairs.every(([command]) => present(command))) return;
  const wanted = pairs.map(([command, pkg]) => `${command}=${pkg}`).join(' ');
  const script = `missing=''
for pair in ${wanted}; do command -v "\${pair%%=*}" >/dev/null 2>&1 || missing="$missing \${pair#*=}"; done
[ -z "$missing" ] && exit 0
echo "installing Debian packages:$missing" >&2
apt-get update -qq && apt-get install -y -qq $missing`;
  const run = spawnSync('flock', [LOCK, 'sh', '-c', script], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  const still = pairs.filter(([command]) => !present(command)).map(([, pkg]) => pkg);
  if (run.status !== 0 || still.length > 0) {
    throw new Error(`could not install ${still.join(' ') || wanted} with apt-get (are you root?)`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  ensureDebian(process.argv.slice(2).map((arg) => arg.split('=')));
}
