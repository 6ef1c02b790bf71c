// Runs every test file under test/ with Node's own runner, TypeScript loaded through tsx.
// Node 20's --test does not expand globs, so the file list is built here.
//
// The runner takes one file at a time on a 2-core machine, and one file at a time is what
// the integration tests need: they start real processes, put users' load on them and
// assert that nothing failed, or time what a router does. They run in the first runner,
// and two more run beside it, each one file at a time:
// - the second runs the files that open no socket and time nothing (judges, config, the
//   machine, the simulator: pure CPU; OFFLINE), then the few that start kanari's CLI many
//   times over and time nothing (UNTIMED);
// - the third runs the files that spend most of their time waiting (on pauses, controller
//   restarts, leases, Prometheus's scrapes; little load, no timing asserted; WAITING).
// Two runners took 12 minutes here (CI: 14.7 of its 15), the first runner the longest;
// three, balanced by moving integration files that time nothing beside it, take 10.9
// (633, 515 and 650 s; the cores ~80% busy). When one runner's report grows much longer
// than the others', move files between the lists. Named files run in one runner, as given.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const OFFLINE = [
  /^test\/analysis\/judges\//,
  /^test\/analysis\/not-enough-data\.test\.ts$/,
  /^test\/analysis\/grid-windows\.test\.ts$/,
  /^test\/analysis\/providers\/prometheus-rounds\.test\.ts$/,
  /^test\/config\//,
  /^test\/simulate\//,
  /^test\/shared\//,
  /^test\/store\//,
  /^test\/server\/tokens\.test\.ts$/,
  /^test\/server\/apply-file\.test\.ts$/,
  /^test\/server\/sessions\.test\.ts$/,
  /^test\/rollout\/(machine|machine-property|strategies|sizes|engine-unit|stopped|traffic-splits|durable|hold)\.test\.ts$/,
  /^test\/router\/(match|split|response-parser|request-head|strict-http|keys)\.test\.ts$/,
  /^test\/layers\.test\.ts$/,
  /^test\/web\/report-figures\.test\.ts$/,
  /^test\/server\/series-answer\.test\.ts$/,
  /^test\/server\/openapi\.test\.ts$/,
  /^test\/kube\/(crd|crd-templates|manifests|alerts|kubeconfig|weight-exporter-routers|events)\.test\.ts$/,
  /^test\/operator\/(templates|counting-templates|commands)\.test\.ts$/,
  /^test\/traffic\/kubernetes\/nginx\/(canary-ingress|router)\.test\.ts$/,
  /^test\/targets\/kubernetes-objects\.test\.ts$/,
  /^test\/cli\/cluster-(options|view)\.test\.ts$/,
  /^test\/traffic\/kubernetes\/declared-capabilities\.test\.ts$/,
  /^test\/traffic\/kubernetes\/(gatewayapi-route|gatewayapi-service-pin|gatewayapi-counted|istio-routes|mesh-routers|mesh-hostile)\.test\.ts$/,
];
const UNTIMED = [
  /^test\/cli\/(lint|judge-input|k8s|k8s-apply|remote)\.test\.ts$/, // kanari lint / judge / k8s / remote commands, one after another
  /^test\/analysis\/judge-cli\.test\.ts$/,
  /^test\/router\/(proxy|admin)\.test\.ts$/, // a router's answers and its admin API; no timeout tested
  /^test\/server\/(ports|api-input)\.test\.ts$/, // controllers' starts on taken ports; bodies refused
  /^test\/targets\/process\.test\.ts$/, // processes started, adopted and stopped
];
const WAITING = [
  /^test\/docs\.test\.ts$/, // the kanari up walkthrough: two 20 s pauses of an idle rollout
  /^test\/server\/events-resume\.test\.ts$/, // two controllers' starts, six measurements, 200 users at 2 at a time
  /^test\/server\/series\.test\.ts$/, // two controllers' starts and four demo app processes for 40 requests (~20 s, 6 s of CPU)
  /^test\/kube\/weight-exporter-prometheus\.test\.ts$/, // Prometheus holding new targets back ~5 s, then counts accruing at 900 requests/s
  /^test\/operator\/operator-judged\.test\.ts$/, // two releases per router, four router cases at once, judged from a Prometheus scraping every second
  /^test\/operator\/(operator-process|operator-replicas|operator-delete|operator-counted-by|operator-api|operator-sessions|operator-log|operator-lease-lapse|lease)\.test\.ts$/, // leases expiring, pauses, pods readied after a delay
  /^test\/operator\/operator-templates-judged\.test\.ts$/, // two releases judged every 2 s from a Prometheus scraping every second
  /^test\/cli\/cluster-commands\.test\.ts$/, // three releases through an operator, pods readied after a delay (~17 s, 3 s of CPU)
  /^test\/analysis\/counts-agree\.test\.ts$/, // a real Prometheus scraping bursts of traffic 3 s apart (~29 s)
  /^test\/kube\/kubectl-kubeconfig\.test\.ts$/, // kubectl processes one after another (~11 s)
  /^test\/cli\/token\.test\.ts$/, // three controllers' starts and stops, a rollout paused (~18 s, 6 s of CPU)
  /^test\/server\/events\.test\.ts$/, // streams held open, a client that never reads (~12 s, 3 s of CPU)
  /^test\/server\/(permissions|weight-delete)\.test\.ts$/, // controllers' starts and stops, files' modes (~8 s, 3 s of CPU)
  /^test\/operator\/status-store\.test\.ts$/, // writes that wait on a test API server (~9 s, 3 s of CPU)
  /^test\/web\/dashboard-operator\.test\.ts$/, // Chromium polling an operator's API every 5 s
  /^test\/server\/oidc-chromium\.test\.ts$/, // Chromium through a sign-on provider's redirects
  /^test\/server\/(store-failure|down-all)\.test\.ts$/, // controllers stopped, a full disk waited out
  /^test\/kube\/(watch|apiserver-watch)\.test\.ts$/, // watches held open, bookmarks every second
  /^test\/operator\/operator-templates\.test\.ts$/, // templates' releases through an operator
];

function findFiles(dir, suffix) {
  const out = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...findFiles(path, suffix));
    else if (entry.endsWith(suffix)) out.push(path);
  }
  return out.sort();
}

// kanari's own processes (the CLI, controllers, demo apps: hundreds in a run) start from dist/
// when it is built from the current source, in a quarter of the CPU tsx takes to load the
// source (test/helpers/own-module.ts); never from an older build.
const built = findFiles('src', '.ts').every((src) => {
  const js = join('dist', relative('src', src).replace(/\.ts$/, '.js'));
  return src.endsWith('.d.ts') || (existsSync(js) && statSync(js).mtimeMs >= statSync(src).mtimeMs);
});
if (built) process.env.KANARI_TEST_BUILT = '1';
else console.log('dist/ is older than src/: kanari processes start from source, slower (`npm run build` first)');

// A test file that hangs fails after 5 minutes (Node's --test-timeout bounds each file's
// process as a whole: the config fuzz takes 40 s alone, 110–150 s beside the other runners,
// and went past 3 minutes on a machine at load 13, as did operator-judged); a whole run that
// hangs (say, a server that will not close) is killed at 14, inside CI's 15-minute budget.
// `output` 'inherit' prints as the tests run (and keeps the text too); 'pipe' only keeps it.
function run(files, output) {
  // Node's runner given no file looks for test files itself, scripts/test.mjs among them.
  if (files.length === 0) return Promise.resolve({ code: 0, text: '' });
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-timeout=300000', ...files],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return collect(child, output);
}

/** What a child prints, kept (and with 'inherit' also printed) until it exits, and its exit code; killed at 14 minutes. */
function collect(child, output) {
  let text = '';
  // Decoded as text as it comes, so a character split between two chunks is not lost.
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  const keep = (stream) => (c) => {
    text += c;
    if (output === 'inherit') stream.write(c);
  };
  child.stdout.on('data', keep(process.stdout));
  child.stderr.on('data', keep(process.stderr));
  const killer = setTimeout(() => child.kill('SIGKILL'), 14 * 60 * 1000);
  const closed = new Promise((resolve) => child.once('close', resolve));
  return new Promise((resolve) =>
    child.once('exit', async (code, signal) => {
      clearTimeout(killer);
      // What it printed last may still be in the pipe: read it (but never wait on a process it left behind).
      await Promise.race([closed, new Promise((r) => setTimeout(r, 5000))]);
      if (signal) text += `\ntest run stopped: ${signal} after 14 minutes\n`;
      resolve({ code: code ?? 1, text });
    }),
  );
}

const only = process.argv.slice(2);
if (only.length > 0) process.exit((await run(only, 'inherit')).code);

// What the integration tests install when missing (each through scripts/ensure-debian.mjs),
// started here in the background: the downloads overlap the first tests, and a test that
// needs a package before it is in waits for this install on its lock.
const DEBIAN = ['prometheus=prometheus', 'kubectl=kubernetes-client', 'chromium=chromium'];
spawn(process.execPath, ['scripts/ensure-debian.mjs', ...DEBIAN], { stdio: ['ignore', 'ignore', 'inherit'] }).on(
  'exit',
  (code) => code !== 0 && console.error('installing Debian packages failed: the tests that need them will say which'),
);

const all = findFiles('test', '.test.ts');
const matches = (list) => (f) => list.some((re) => re.test(f.split('\\').join('/')));
const offline = all.filter(matches(OFFLINE));
const untimed = all.filter(matches(UNTIMED));
const waiting = all.filter(matches(WAITING));
const rest = all.filter((f) => ![offline, untimed, waiting].some((l) => l.includes(f)));
// The checks (type-check, lint, format, layer rules; `npm run check`) go first in the second
// runner's lane: about a minute the integration tests need not wait for. A failed check fails
// the run, and the tests still run, so one push tells about both.
const CHECKS = ['typecheck', 'lint', 'format:check', 'layers'];
async function script(name) {
  const child = spawn(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['run', '-s', name], {
    stdio: ['ignore', 'pipe', 'pipe'],
    shell: process.platform === 'win32',
  });
  const { code, text } = await collect(child, 'pipe');
  return { code, text: `npm run ${name}: ${code === 0 ? 'ok' : 'failed'}\n${text}` };
}
async function checksThenTests(files) {
  const checks = [];
  for (const name of CHECKS) checks.push(await script(name));
  const tests = await run(files, 'pipe');
  const failedChecks = checks.filter((c) => c.code !== 0);
  return {
    code: failedChecks.length > 0 ? 1 : tests.code,
    text: `${checks.map((c) => c.text).join('')}${tests.text}`,
    checks: failedChecks,
  };
}
const runs = await Promise.all([run(rest, 'inherit'), checksThenTests([...offline, ...untimed]), run(waiting, 'pipe')]);
const [, pure, idle] = runs;
process.stdout.write(
  `\n── the checks, then offline tests and untimed CLI ones (${offline.length} + ${untimed.length} files, run beside the others) ──\n${pure.text}`,
);
process.stdout.write(`\n── waiting tests (${waiting.length} files, run beside the others) ──\n${idle.text}`);
const failed = runs.filter((r) => r.code !== 0).length;
// CI shows only the end of what this prints: each failure's details come last, whichever
// runner had them (the spec reporter lists them after its run, under "failing tests").
for (const r of runs) {
  const at = r.text.lastIndexOf('✖ failing tests:');
  if (r.code !== 0 && at >= 0) process.stdout.write(`\n${r.text.slice(at).split(/\nℹ tests /)[0]}\n`);
  else if (r.code !== 0) process.stdout.write(`\n── the end of a failed run ──\n${r.text.slice(-4000)}\n`);
}
for (const c of pure.checks) process.stdout.write(`\n── a check failed ──\n${c.text.slice(-4000)}\n`);
console.log(`\n${failed === 0 ? 'all test runs passed' : `${failed} of ${runs.length} test runs failed`}`);
process.exit(failed === 0 ? 0 : 1);
