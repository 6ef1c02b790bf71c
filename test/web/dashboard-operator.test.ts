/**
 * The dashboard in real headless Chromium against the operator's API (`kanari operator
 * --api`), on the test API server with a real operator leading: a person signs in with a
 * kanari token through the sign-in page, sees the rollouts named NAMESPACE/NAME and kept
 * fresh by polling (a cluster has no event log), opens one, promotes it through the
 * confirmation dialog; a viewer sees no enabled action. What the operator's API does not
 * serve is never asked for, so the console stays clean, and is said calmly where it would be.
 */
import assert from 'node:assert/strict';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { ClusterRollouts } from '../../src/cli/operator-api.js';
import type { Operator } from '../../src/operator/operator.js';
import { createClusterApiServer } from '../../src/server/cluster-api.js';
import { ClusterLogs } from '../../src/server/cluster-log.js';
import { Sessions } from '../../src/server/sessions.js';
import { Tokens } from '../../src/server/tokens.js';
import { KubernetesSessionRows } from '../../src/store/kubernetes-sessions.js';
import { KubernetesTokenRows } from '../../src/store/kubernetes-tokens.js';
import {
  ensureDashboardBuilt,
  launchBrowser,
  openPage,
  pageErrors,
  screenshot,
  seriousViolations,
} from '../helpers/browser.js';
import {
  createApp,
  replicasRollout,
  ROLLOUT_CRD,
  setImage,
  startCluster,
  startOperator,
  type TestCluster,
} from '../helpers/kube/cluster.js';

let cluster: TestCluster;
let operator: Operator;
let server: http.Server;
let browser: Browser;
let base: string;
const log: string[] = [];
const token: Record<string, string> = {};

const state = () => cluster.api.get('kanari.dev/v1alpha1', 'Rollout', 'default', 'web')?.status?.state;

before(async () => {
  ensureDashboardBuilt();
  const [, started] = await Promise.all([
    (async () => {
      cluster = await startCluster({ deploymentReadyDelayMs: 100 });
      await cluster.client.create(ROLLOUT_CRD);
      await createApp(cluster.client, 'web', 2, 'web:1');
      await cluster.client.create(replicasRollout('web', [{ setWeight: 50 }, { pause: {} }, { setWeight: 100 }]));
      operator = startOperator(cluster.client, log);
      const o = { client: cluster.client, namespace: 'default', log: (l: string) => log.push(l) };
      const tokenRows = new KubernetesTokenRows(o);
      const tokens = new Tokens(tokenRows);
      const rollouts = new ClusterRollouts({ client: cluster.client, home: 'default', origin: 'the test API server' });
      server = createClusterApiServer({
        rollouts,
        tokens,
        browser: { sessions: new Sessions(new KubernetesSessionRows(o), tokenRows) },
        logs: new ClusterLogs({ client: cluster.client, locate: (ref) => rollouts.locate(ref), log: o.log }),
        log: (l) => log.push(l),
      }) as http.Server;
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      for (const role of ['viewer', 'operator'] as const)
        token[role] = (await tokens.create({ name: `${role}-bot`, role })).token;
    })(),
    launchBrowser(),
  ]);
  browser = started;
});

after(async () => {
  await browser?.close();
  server?.close();
  await operator?.stop();
  await cluster?.close();
});

async function until(page: Page, what: string, check: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(`the page never showed ${what}:\n${await page.locator('main').innerText()}\n${log.join('\n')}`);
    await page.waitForTimeout(200);
  }
}

/** Waits for the operator to bring the Rollout to `phase`. */
async function phase(want: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (state()?.phase !== want) {
    if (Date.now() > deadline) assert.fail(`${want} within ${ms} ms; now ${state()?.phase}\n${log.join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('the dashboard on the operator, in Chromium', () => {
  it('signs in with a kanari token and keeps the list, named NAMESPACE/NAME, fresh by polling', async () => {
    await phase('StableOnly');
    const page = await openPage(browser);
    await page.goto(base);
    await page.fill('#token', token.operator!);
    await page.click('button[type="submit"]');
    const row = page.locator('tr[data-rollout="default/web"]');
    await row.waitFor();
    // Before the sign-in, asking who is here answered 401 twice (as under kanari up); from here on, nothing.
    assert.equal(pageErrors.filter((e) => !/status of 401/.test(e)).length, 0, pageErrors.join('\n'));
    pageErrors.length = 0;
    assert.match(await row.innerText(), /^default\/web\s+StableOnly/);
    assert.equal(await page.locator('.live').getAttribute('data-state'), 'polling');
    assert.match(await page.locator('.live').innerText(), /every 5 s/);
    // A new image: the page learns of the release by itself, without an event stream or a reload.
    await page.evaluate(() => ((globalThis as unknown as { stayed: boolean }).stayed = true));
    await setImage(cluster.client, 'web', 'web:2');
    await until(page, 'the release paused', async () => /default\/web\s+Paused\s+50%/.test(await row.innerText()));
    assert.equal(await page.evaluate(() => (globalThis as unknown as { stayed?: boolean }).stayed), true);
    assert.deepEqual(await seriousViolations(page), []);
    await screenshot(page, 'operator-rollouts');
    assert.deepEqual(pageErrors, [], 'nothing in the console');
    await page.context().close();
  });

  it('opens the rollout with its history and conditions, nothing said to be not kept, and promotes it through the confirmation', async () => {
    await phase('Paused');
    pageErrors.length = 0;
    const page = await openPage(browser, { token: token.operator!, base });
    await page.goto(base);
    await page.locator('tr[data-rollout="default/web"] a').click();
    assert.equal(new URL(page.url()).pathname, '/rollouts/default/web');
    await page.locator('.lifecycle li.lit', { hasText: 'Paused' }).waitFor();
    assert.match(await page.locator('h1').innerText(), /^default\/web/);
    // The log the leader keeps beside the Rollout: its history and its event stream, read by this replica.
    const doc = (await (await fetch(`${base}/api/openapi.json`)).json()) as { paths: Record<string, unknown> };
    for (const what of ['history', 'series', 'events']) assert.ok(`/api/v1/rollouts/{name}/${what}` in doc.paths, what);
    await until(page, 'the release in the history', async () =>
      /\bdeploy [0-9a-f]+/.test(await page.locator('table.history tbody').innerText()),
    );
    assert.equal(await page.locator('[data-not-kept]').count(), 0, 'nothing said to be not kept');
    assert.equal(await page.locator('main [role="alert"]').count(), 0);
    // The Rollout resource's conditions, as the API gives them (the page may be a poll behind the resource).
    const conditions = () =>
      (cluster.api.get('kanari.dev/v1alpha1', 'Rollout', 'default', 'web')?.status?.conditions ?? []) as {
        type: string;
        status: string;
      }[];
    assert.ok(conditions().length > 0, 'the operator writes conditions');
    await until(page, 'the conditions', async () => {
      const shown = await page.locator('.conditions li').allInnerTexts();
      return conditions().every((c) => shown.some((line) => line.startsWith(`${c.type}: ${c.status}`)));
    });
    // The controls the operator's API serves, and no other.
    const commands = await page
      .locator('[data-command]')
      .evaluateAll((bs) => bs.map((b) => b.getAttribute('data-command')));
    assert.deepEqual(commands, ['promote', 'pause', 'resume', 'abort', 'retry', 'undo', 'weight']);
    for (const c of commands) assert.ok(`/api/v1/rollouts/{name}/${c}` in doc.paths, c!);
    await page.click('[data-command="promote"]');
    const dialog = page.locator('dialog[open]');
    await dialog.waitFor();
    assert.match(await dialog.innerText(), /Move web to its next step now\?/);
    await dialog.locator('button[type="submit"]').click();
    await dialog.waitFor({ state: 'detached' });
    assert.ok(state()!.step >= 2, `step ${state()!.step}`);
    assert.ok(
      log.some((l) => /default\/web: promote from operator-bot: done/.test(l)),
      log.join('\n'),
    );
    await until(page, 'the promotion', async () => (await page.locator('.lifecycle li.lit').innerText()) !== 'Paused');
    // The promotion reaches the history, with who asked, through the Rollout's event stream.
    await until(page, 'the promotion in the history', async () =>
      /operator-bot/.test(await page.locator('table.history tbody').innerText()),
    );
    assert.deepEqual(await seriousViolations(page), []);
    await screenshot(page, 'operator-rollout');
    assert.deepEqual(pageErrors, [], 'nothing in the console');
    await page.context().close();
  });

  it('shows a viewer every action disabled, and says why', async () => {
    const page = await openPage(browser, { token: token.viewer!, base });
    await page.goto(`${base}/rollouts/default/web`);
    await page.locator('[data-command="promote"]').waitFor();
    for (const b of await page.locator('[data-command]').all())
      assert.equal(await b.isDisabled(), true, await b.innerText());
    assert.match(
      await page.locator('#actions-why').innerText(),
      /viewer-bot is a viewer: these need the operator role/,
    );
    await page.context().close();
  });
});
