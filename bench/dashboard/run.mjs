// The dashboard with N rollouts (default 500) in one `kanari up`, each paused with its canary
// at 50%. Prints the list API's latency (p50, p99 over --requests GETs, one at a time) against
// GET /healthz on the same controller (the dispatcher's floor), and Chromium's first render
// of the list (navigation start to every row drawn) against its navigation to /healthz (the
// browser's floor), the median of --renders loads.
//   npm run bench:dashboard [-- --rollouts 500 --requests 200 --renders 5]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { ensureDebian } from '../../scripts/ensure-debian.mjs';
import { children, demoApp, kanariUp, listenPorts } from '../kanari-up.mjs';

const { values } = parseArgs({
  options: {
    rollouts: { type: 'string', default: '500' },
    requests: { type: 'string', default: '200' },
    renders: { type: 'string', default: '5' },
  },
});
const N = Number(values.rollouts);
const dir = mkdtempSync(join(tmpdir(), 'kanari-bench-dashboard-'));
const quantile = (xs, q) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
const ms = (x) => `${x.toFixed(1)} ms`;

let browser;
let controller;
try {
  ensureDebian([['chromium', 'chromium']]);
  const apps = [await demoApp('v1'), await demoApp('v2')];
  controller = await kanariUp(join(dir, 'state'));
  const { api, token, call } = controller;
  const ports = await listenPorts(N);
  const docs = ports.map(
    (port, i) => `apiVersion: kanari.dev/v1alpha1
kind: Rollout
metadata: { name: svc-${String(i).padStart(3, '0')} }
spec:
  listen: 127.0.0.1:${port}
  stable: { version: v1, upstreams: [http://127.0.0.1:${apps[0]}] }
  canary: { upstreams: [http://127.0.0.1:${apps[1]}] }
  strategy:
    canary:
      steps: [{ setWeight: 50 }, { pause: {} }]
`,
  );
  let t = performance.now();
  // A file holds at most 100 documents (src/config/bounds.ts).
  for (let i = 0; i < N; i += 100)
    await call('POST', '/api/v1/apply', { file: join(dir, `r-${i}.yaml`), text: docs.slice(i, i + 100).join('---\n') });
  const names = docs.map((_, i) => `svc-${String(i).padStart(3, '0')}`);
  for (;;) {
    const { rollouts } = await call('GET', '/api/v1/rollouts');
    if (rollouts.length === N && rollouts.every((r) => r.router?.serving)) break;
    await sleep(500);
  }
  for (const name of names) await call('POST', `/api/v1/rollouts/${name}/deploy`, { version: 'v2' });
  for (;;) {
    const { rollouts } = await call('GET', '/api/v1/rollouts');
    if (rollouts.every((r) => r.phase === 'Paused' && r.weights.canary === 50)) break;
    await sleep(500);
  }
  console.log(`${N} rollouts applied and paused at 50% after ${((performance.now() - t) / 1000).toFixed(1)} s`);

  const timed = async (path) => {
    const times = [];
    let bytes = 0;
    for (let i = 0; i < Number(values.requests); i++) {
      t = performance.now();
      const res = await fetch(`${api}${path}`, { headers: { authorization: `Bearer ${token}` } });
      bytes = (await res.arrayBuffer()).byteLength;
      times.push(performance.now() - t);
    }
    return { times, bytes };
  };
  const list = await timed('/api/v1/rollouts');
  const health = await timed('/healthz');
  const [l50, l99, h50, h99] = [
    quantile(list.times, 0.5),
    quantile(list.times, 0.99),
    quantile(health.times, 0.5),
    quantile(health.times, 0.99),
  ];
  console.log(
    `GET /api/v1/rollouts (${N} rollouts, ${(list.bytes / 1024).toFixed(0)} KiB): p50 ${ms(l50)}, p99 ${ms(l99)}; ` +
      `GET /healthz: p50 ${ms(h50)}, p99 ${ms(h99)}; the list's p99 is ${(l99 / h99).toFixed(0)}× the floor's`,
  );

  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  const context = await browser.newContext({
    viewport: { width: 1280, height: 800 },
    extraHTTPHeaders: { authorization: `Bearer ${token}` },
  });
  const render = async (url, drawn) => {
    const runs = [];
    for (let i = 0; i < Number(values.renders); i++) {
      const page = await context.newPage();
      await page.goto(url, { waitUntil: 'commit' });
      await page.waitForFunction(drawn, N, { timeout: 60_000, polling: 'raf' });
      // Milliseconds since this navigation started, by the page's own clock.
      runs.push(await page.evaluate(() => performance.now()));
      await page.close();
    }
    return quantile(runs, 0.5);
  };
  // These run in the page (whose CSP refuses a string to evaluate).
  const first = await render(api, (n) => globalThis.document.querySelectorAll('tr[data-rollout]').length === n);
  const floor = await render(`${api}/healthz`, () => globalThis.document.body?.textContent?.includes('"ok"'));
  console.log(
    `Chromium, navigation to the list with all ${N} rows drawn: ${ms(first)} (median of ${values.renders}); ` +
      `to GET /healthz's JSON: ${ms(floor)}; ${(first / floor).toFixed(1)}× the browser's floor`,
  );
} finally {
  await browser?.close();
  await controller?.call('POST', '/api/v1/shutdown', { all: true }).catch(() => {});
  await new Promise((resolve) =>
    !controller || controller.child.exitCode !== null ? resolve() : controller.child.once('exit', resolve),
  );
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
